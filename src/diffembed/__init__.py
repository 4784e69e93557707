"""diffembed: diffusion embeddings for points, documents, words, graph nodes and latents.

The public API is re-exported here and loaded on first use: ``import diffembed`` imports
nothing but the exceptions, so ``diffembed --help`` and ``--version`` start at once, and
``de.DiffusionMap`` loads numpy, scipy and scikit-learn when it is first touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .exceptions import DiffembedError, DisconnectedGraphError, InputError, NumericalError

if TYPE_CHECKING:  # for type checkers and the API reference; at run time: __getattr__ below
    from ._load import load
    from .clustering import diffusion_clusters
    from .diffusion_map import DiffusionMap, diffusion_coordinates, timescales
    from .hierarchy import DiffusionHierarchy, dendrogram_purity
    from .landmarks import LandmarkDiffusionMap
    from .plotting.api import report as report
    from .smoothing import DiffusionSmoother as DiffusionSmoother

__version__ = "0.1.0"

#: Public names loaded on first use: name -> the module that defines it.
_LAZY_NAMES = {
    "load": "._load",
    "diffusion_clusters": ".clustering",
    "DiffusionMap": ".diffusion_map",
    "diffusion_coordinates": ".diffusion_map",
    "timescales": ".diffusion_map",
    "DiffusionHierarchy": ".hierarchy",
    "dendrogram_purity": ".hierarchy",
    "LandmarkDiffusionMap": ".landmarks",
    "DiffusionSmoother": ".smoothing",
    "report": ".plotting.api",  # de.report(obj, "report.html"): the CLI's explorer page
}
#: Subpackages loaded on first use (``de.embed.pca``...), so that importing diffembed stays light.
_LAZY_MODULES = ("embed", "metrics", "smoothing", "distributed", "evaluate", "datasets", "latents",
                 "plot", "tl", "pseudotime")


def __getattr__(name: str):
    """Load a public name or a subpackage (``de.DiffusionMap``, ``de.embed.pca``) on first use."""
    import importlib

    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if not name.startswith("_"):
        from importlib.util import find_spec

        if find_spec(f"{__name__}.{name}") is not None:  # any submodule: de.neighbors ...
            return importlib.import_module(f".{name}", __name__)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    """Every public name, the lazily loaded ones included (for ``dir(de)`` and completion)."""
    return sorted({*globals(), *_LAZY_MODULES, *_LAZY_NAMES} - {"annotations"})


__all__ = [
    "DiffembedError",
    "DiffusionHierarchy",
    "DiffusionMap",
    "DisconnectedGraphError",
    "InputError",
    "LandmarkDiffusionMap",
    "NumericalError",
    "__version__",
    "dendrogram_purity",
    "diffusion_clusters",
    "diffusion_coordinates",
    "load",
    "timescales",
]
