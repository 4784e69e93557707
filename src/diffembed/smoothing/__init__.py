"""Diffusion smoothing of embeddings over a graph, and the stability protocol that measures it.

- :class:`DiffusionSmoother` (:mod:`.smoother`): fit/transform an embedding over a graph.
- :mod:`.filters`: PPR, heat, lazy walk and retrofitting on a sparse graph; gain floors.
- :mod:`.graphs`: own kNN, lexicon (WordNet synonyms), reference run, consensus, user graphs.
- :mod:`.protocol`: perturbed corpora → word vectors → every metric raw vs smoothed.

Measured: a graph the runs **share** (a lexicon, a reference run) makes perturbed runs agree
more; each run's **own** kNN graph does not (see ``docs/smoothing.md``).
"""

from __future__ import annotations

from .filters import alpha_for_gain, gain_floor, t_for_gain
from .graphs import knn_adjacency, lexicon_adjacency, reference_adjacency, wordnet_synonyms
from .smoother import DiffusionSmoother, OverSmoothingWarning, collapse_diagnostics, smooth

__all__ = [
    "DiffusionSmoother",
    "OverSmoothingWarning",
    "alpha_for_gain",
    "collapse_diagnostics",
    "gain_floor",
    "knn_adjacency",
    "lexicon_adjacency",
    "reference_adjacency",
    "smooth",
    "t_for_gain",
    "wordnet_synonyms",
]
