"""diffembed: diffusion embeddings for points, documents, words, graph nodes and latents.

The public API is re-exported here; importing it loads only numpy, scipy and scikit-learn.
"""

from __future__ import annotations

from .clustering import diffusion_clusters
from .diffusion_map import DiffusionMap, diffusion_coordinates, timescales
from .exceptions import DiffembedError, DisconnectedGraphError, InputError, NumericalError
from .hierarchy import DiffusionHierarchy, dendrogram_purity

__version__ = "0.1.0"

__all__ = [
    "DiffembedError",
    "DiffusionHierarchy",
    "DiffusionMap",
    "DisconnectedGraphError",
    "InputError",
    "NumericalError",
    "__version__",
    "diffusion_clusters",
    "dendrogram_purity",
    "diffusion_coordinates",
    "timescales",
]
