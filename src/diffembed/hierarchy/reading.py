"""Reading a fitted :class:`~diffembed.DiffusionHierarchy`: levels, cuts, nodes, signals
aggregated up the tree and the coarse Markov operators of its levels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from .._validation import check_in, check_int
from ..exceptions import InputError
from ..operators import alpha_normalize, markov_matrix, stationary_distribution
from .aggregation import coarse_operator, haar_coefficients, node_means, reconstruct
from .embedding import fine_kernel
from .tree import cut_linkage, levels_from_linkage

__all__ = ["CoarseLevel", "TreeReadingMixin"]

@dataclass(frozen=True)
class CoarseLevel:
    """The nodes of one level.

    Attributes
    ----------
    labels : ndarray of shape (n_samples,)
        Node of every point.
    sizes : ndarray of shape (n_nodes,)
        Points per node.
    positions : ndarray of shape (n_nodes, n_dims)
        Mass-weighted mean of the coordinates the engine worked in (``embedding_``).
    input_positions : ndarray of shape (n_nodes, n_features) or None
        Mean of the input points (None for graph or distance input).
    scale : float
        Height (ε for condensation, Ward height for ward) at which the level formed.
    """

    labels: np.ndarray
    sizes: np.ndarray
    positions: np.ndarray
    input_positions: np.ndarray | None
    scale: float


class TreeReadingMixin:
    """The methods of :class:`~diffembed.DiffusionHierarchy` that read a fitted tree."""

    # ----------------------------------------------------------------- reading the tree
    def level(self, index: int) -> np.ndarray:
        """Labels of level ``index`` (0: singletons, -1: one cluster), built from the linkage."""
        check_is_fitted(self, "linkage_")
        L = self.level_merges_.size
        if not -L <= index < L:
            msg = f"level index {index} is out of range: this tree has {L} levels (0..{L - 1})."
            raise InputError(msg)
        return levels_from_linkage(self.linkage_, [self.level_merges_[index]])[:, 0]

    def closest_level(self, n_clusters: int) -> int:
        """Index of the level whose cluster count is closest to ``n_clusters`` (ties: finer)."""
        check_is_fitted(self, "linkage_")
        gap = np.abs(self.n_clusters_per_level_ - n_clusters)
        best = np.flatnonzero(gap == gap.min())
        return int(best[np.argmax(self.n_clusters_per_level_[best])])

    def cut(self, n_clusters: int | None = None, *, level: int | None = None) -> np.ndarray:
        """Flat labels: exactly ``n_clusters`` clusters (the first n - k merges), or a level.

        Parameters
        ----------
        n_clusters
            Number of clusters, 1..n_samples. Inside a multi-way condensation merge the
            binarised order (heaviest member first) decides which members join first.
        level
            Alternatively, a level index (same as :meth:`level`).
        """
        check_is_fitted(self, "linkage_")
        if (n_clusters is None) == (level is None):
            msg = "Pass exactly one of n_clusters=... or level=... to cut()."
            raise InputError(msg)
        if level is not None:
            return self.level(level)
        n = self.linkage_.shape[0] + 1
        check_int(n_clusters, "n_clusters", low=1, high=n)
        return cut_linkage(self.linkage_, int(n_clusters))

    def coarse_level(self, index: int) -> CoarseLevel:
        """Nodes of a level: labels, sizes, positions (mean embedding and mean input point)."""
        labels = self.level(index)
        sizes = np.bincount(labels)
        positions = node_means(labels, self.embedding_)
        inputs = None
        if self._points is not None:
            pts = self._points
            inputs = node_means(labels, pts.toarray() if sp.issparse(pts) else np.asarray(pts))
        return CoarseLevel(labels, sizes, positions, inputs, float(self.scale_per_level_[index]))

    # -------------------------------------------------------------------- aggregation
    def aggregate(
        self,
        values: Any,
        how: Literal["mean", "sum", "vote"] = "mean",
        *,
        level: int | None = None,
        weights: Any = None,
    ) -> np.ndarray | list[np.ndarray]:
        """Aggregate a per-point signal up the tree.

        Parameters
        ----------
        values
            Shape (n_samples,) or (n_samples, p); for ``how="vote"`` one label per point.
        how
            ``"mean"`` (weighted mean per node), ``"sum"``, or ``"vote"`` (weighted majority).
        level
            One level index; default every stored level of ``levels_``.
        weights
            Per-point weights (default 1).

        Returns
        -------
        ndarray of shape (n_nodes, ...) for one level, else a list of them, fine → coarse.
        """
        check_is_fitted(self, "linkage_")
        check_in(how, "how", ("mean", "sum", "vote"))
        vals, w = self._check_signal(values, weights, numeric=how != "vote")
        if level is not None:
            return node_means(self.level(level), vals, w, how)
        return [node_means(self.levels_[:, j], vals, w, how) for j in range(self.levels_.shape[1])]

    def haar(self, values: Any, *, weights: Any = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Haar-like coefficients over ``levels_``: root mean and per-level differences.

        :meth:`reconstruct` inverts it exactly (Gavish, Nadler & Coifman 2010).
        """
        check_is_fitted(self, "linkage_")
        vals, w = self._check_signal(values, weights, numeric=True)
        return haar_coefficients(list(self.levels_.T[1:]), vals, w)

    def reconstruct(self, root: np.ndarray, details: list[np.ndarray]) -> np.ndarray:
        """Per-point signal from :meth:`haar` output."""
        check_is_fitted(self, "linkage_")
        return reconstruct(list(self.levels_.T[1:]), root, details)

    def _check_signal(
        self, values: Any, weights: Any, numeric: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        n = self.linkage_.shape[0] + 1
        vals = np.asarray(values)
        if vals.shape[:1] != (n,):
            msg = f"values must have one row per fitted point ({n}), got shape {vals.shape}."
            raise InputError(msg)
        if numeric:
            vals = vals.astype(np.float64)
            if not np.isfinite(vals).all():
                msg = "values contain NaN or infinite entries; impute them before aggregating."
                raise InputError(msg)
        w = None
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (n,) or not np.isfinite(w).all() or np.any(w < 0) or w.sum() <= 0:
                msg = f"weights must be {n} finite non-negative numbers with a positive sum."
                raise InputError(msg)
        return vals, w

    # ---------------------------------------------------------------- coarse operators
    def markov_operator(self) -> tuple[sp.csr_matrix, np.ndarray]:
        """The fine Markov matrix P of the fitted graph and its stationary distribution π.

        The α-normalised kernel the diffusion coordinates were built from (per component; for
        an affinity graph, the affinities themselves).
        """
        check_is_fitted(self, "linkage_")
        if getattr(self, "_P", None) is None:
            if self._graph is None:
                msg = (
                    "This hierarchy was built on pre-partitioned data (n > max_nodes); the "
                    "fine operator over all points is not kept. Coarse operators are available "
                    "through diffembed.hierarchy.coarse_operator on a graph you build."
                )
                raise InputError(msg)
            K = fine_kernel(
                self._graph,
                self.component_labels_,
                self._is_affinity,
                self.bandwidth,
                self.n_neighbors,
                self.random_state,
            )
            K_alpha, _ = alpha_normalize(K, self._resolved_alpha(self._is_affinity))
            self._P = sp.csr_matrix(markov_matrix(K_alpha))
            self._pi = stationary_distribution(K_alpha)
        return self._P, self._pi

    def coarse_operator(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Lafon–Lee coarse Markov matrix of level ``index`` and its stationary distribution.

        ``P_ℓ = (QᵀΠQ)⁻¹ QᵀΠPQ``: row-stochastic, and ``π_ℓ = Qᵀπ`` is stationary for it.
        """
        P, pi = self.markov_operator()
        return coarse_operator(P, pi, self.level(index))

    @property
    def stationary_distribution_(self) -> np.ndarray:
        """π of the fine Markov operator (see :meth:`markov_operator`)."""
        return self.markov_operator()[1]

    def _resolved_alpha(self, is_affinity: bool) -> float:
        """``alpha="auto"``: 0.5 with the self-tuning kernel, else 1 (see the class docs)."""
        if self.alpha != "auto":
            return float(self.alpha)
        return 0.5 if self.bandwidth == "adaptive" and not is_affinity else 1.0
