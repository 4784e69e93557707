"""diffembed: diffusion embeddings for points, documents, words, graph nodes and latents.

The public API is re-exported here; importing it loads only numpy, scipy and scikit-learn.
"""

from __future__ import annotations

from ._load import load
from .clustering import diffusion_clusters
from .diffusion_map import DiffusionMap, diffusion_coordinates, timescales
from .exceptions import DiffembedError, DisconnectedGraphError, InputError, NumericalError
from .hierarchy import DiffusionHierarchy, dendrogram_purity
from .landmarks import LandmarkDiffusionMap

__version__ = "0.1.0"

#: Subpackages loaded on first use (``de.embed.pca``...), so that importing diffembed stays light.
_LAZY_MODULES = ("embed", "metrics", "smoothing", "distributed", "evaluate", "datasets", "latents",
                 "plot", "tl", "pseudotime")
#: Public names loaded on first use, besides the modules.
_LAZY_NAMES = ("DiffusionSmoother", "report")


def __getattr__(name: str):
    """Load the optional subpackage ``diffembed.embed`` on first use (``de.embed.pca``...)."""
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name == "report":  # de.report(obj, "report.html"): the CLI's explorer page
        from .plotting.api import report

        return report
    if name == "DiffusionSmoother":
        from .smoothing import DiffusionSmoother

        return DiffusionSmoother
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
