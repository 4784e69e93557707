"""Bottom-up hierarchical diffusion: a tree from single points to a few clusters.

Modules: :mod:`.embedding` (per-component diffusion coordinates), :mod:`.condensation`
(diffusion condensation with masses), :mod:`.tree` (linkage, levels, Ward, forests, dendrogram
purity), :mod:`.aggregation` (upward aggregation, Haar-like coefficients, coarse operators) and
:mod:`.estimator` (:class:`DiffusionHierarchy`).
"""

from __future__ import annotations

from .aggregation import coarse_operator, haar_coefficients, node_means, reconstruct
from .condensation import Condensation, condensation_step, diffusion_condensation
from .embedding import component_coordinates
from .estimator import CoarseLevel, DiffusionHierarchy
from .tree import cut_linkage, dendrogram_purity, join_forest, levels_from_linkage, ward_linkage

__all__ = [
    "CoarseLevel",
    "Condensation",
    "DiffusionHierarchy",
    "coarse_operator",
    "component_coordinates",
    "condensation_step",
    "cut_linkage",
    "dendrogram_purity",
    "diffusion_condensation",
    "haar_coefficients",
    "join_forest",
    "levels_from_linkage",
    "node_means",
    "reconstruct",
    "ward_linkage",
]
