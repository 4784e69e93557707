"""From distances to affinities: the Gaussian kernel and the choice of its bandwidth.

The kernel is

.. math:: k(x, y) = \\exp(-\\lVert x - y \\rVert^2 / \\varepsilon)

with a global bandwidth :math:`\\varepsilon` (a squared length, in the squared units of the
data), or the self-tuning form of Zelnik-Manor & Perona (2004)

.. math:: k(x_i, x_j) = \\exp(-\\lVert x_i - x_j \\rVert^2 / (\\sigma_i \\sigma_j))

where :math:`\\sigma_i` is the distance from :math:`x_i` to its k-th nearest neighbour.

Kernels are evaluated on a kNN distance graph only; the result is symmetrised by union (an
edge is kept if either end lists the other, and the symmetric weight is used), and every
point has self-affinity 1.

The automatic bandwidth follows Berry, Giannakis & Harlim (2015) and Berry & Harlim (2016):
on a log-log grid of :math:`\\varepsilon`, the kernel sum
:math:`S(\\varepsilon) = \\sum_{ij} k_\\varepsilon(x_i, x_j)` grows like
:math:`\\varepsilon^{d/2}` where the kernel resolves a d-dimensional manifold. The
:math:`\\varepsilon` of steepest slope is chosen, and twice that slope estimates the intrinsic
dimension d.

The alternative rule ``knn_bandwidth`` sets ε to the squared median distance to the k-th
neighbour, so that the kernel keeps weight ≈ e^{-1} at the edge of a typical neighbourhood.
On noisy high-dimensional data the sweep above is pinned by the *onset* of the nearest-neighbour
distances (all of them exceed a noise floor c, and log S then has its steepest slope near
ε ≈ c / 2.4 whatever the manifold), which can leave points in sparser spots with
vanishing weights: a nearly disconnected graph. ``docs/scale.md`` has the measurements.
The sweep therefore never returns an ε below :func:`connectivity_epsilon`, the smallest ε at
which every edge of the kNN graph's minimum spanning tree keeps a weight of at least
``exp(-CONNECTIVITY_LOG_WEIGHT)``: the kernel cannot split the graph numerically.

The self-tuning kernel is computed as ``exp(-(d_ij/σ_i)(d_ij/σ_j))``: scale-free, so data
multiplied by 1e-300 or 1e150 gives the same affinities as the original.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import minimum_spanning_tree

from .exceptions import InputError

__all__ = [
    "CONNECTIVITY_LOG_WEIGHT",
    "BandwidthEstimate",
    "DistanceScaleError",
    "adaptive_gaussian_kernel",
    "connectivity_epsilon",
    "estimate_bandwidth",
    "gaussian_kernel",
    "knn_bandwidth",
    "kth_neighbor_distances",
    "rule_kernel",
]


#: The sweep's ε keeps every minimum-spanning-tree edge of the kNN graph at a kernel weight of
#: at least ``exp(-CONNECTIVITY_LOG_WEIGHT)`` (≈ 6e-6): a bridge of weight w leaves the parts
#: it joins a spectral gap of order w, and much weaker bridges make eigenvalues equal to 1
#: within the eigensolver's precision.
CONNECTIVITY_LOG_WEIGHT = 12.0


@dataclass(frozen=True)
class BandwidthEstimate:
    """Result of the Berry–Giannakis–Harlim bandwidth sweep.

    Attributes
    ----------
    epsilon
        The chosen bandwidth (the :math:`\\varepsilon` of ``exp(-d^2/epsilon)``).
    dimension
        Intrinsic-dimension estimate, twice the largest slope of log S against log ε.
    epsilons, slopes
        The grid and d log S / d log ε on it, for plotting.
    sweep_epsilon
        The ε of steepest slope, before the connectivity floor.
    floor
        :func:`connectivity_epsilon` of the graph (0 when not applied).
    """

    epsilon: float
    dimension: float
    epsilons: np.ndarray
    slopes: np.ndarray
    sweep_epsilon: float = float("nan")
    floor: float = 0.0


def _symmetrize_with_identity(K: sp.csr_matrix) -> sp.csr_matrix:
    """Union-symmetrise a directed affinity graph and put 1 on the diagonal."""
    K = K.tocsr()
    K = (K.maximum(K.T) + sp.identity(K.shape[0], format="csr")).tocsr()
    K.sort_indices()
    return K


def gaussian_kernel(distances: sp.csr_matrix, epsilon: float) -> sp.csr_matrix:
    """Gaussian affinities ``exp(-d^2 / epsilon)`` on a kNN distance graph.

    Parameters
    ----------
    distances
        Square CSR distance graph, self excluded (see :mod:`diffembed.neighbors`).
    epsilon
        Bandwidth, > 0, in squared distance units.

    Returns
    -------
    scipy.sparse.csr_matrix
        Symmetric affinity matrix with unit diagonal.
    """
    if not (np.isfinite(epsilon) and epsilon > 0):
        msg = (
            f"bandwidth={epsilon!r} must be a positive finite number (it is epsilon in "
            "exp(-d^2/epsilon))."
        )
        raise InputError(msg)
    K = distances.copy().astype(np.float64)
    with np.errstate(over="ignore"):
        K.data = np.exp(-((K.data / np.sqrt(epsilon)) ** 2))
    return _symmetrize_with_identity(K)


def kth_neighbor_distances(distances: sp.csr_matrix, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest stored neighbour (the last if fewer).

    Zero scales (k or more duplicates of a point) are replaced by the smallest positive scale
    so that the adaptive kernel stays defined.
    """
    n = distances.shape[0]
    scales = np.empty(n)
    indptr, data = distances.indptr, distances.data
    lengths = np.diff(indptr)
    if lengths.size and np.all(lengths == lengths[0]) and lengths[0] > 0:
        rows = np.sort(data.reshape(n, lengths[0]), axis=1)
        scales = rows[:, min(k, lengths[0]) - 1].copy()
    else:
        for i in range(n):
            row = np.sort(data[indptr[i] : indptr[i + 1]])
            scales[i] = row[min(k, row.size) - 1] if row.size else 0.0
    positive = scales[scales > 0]
    floor = positive.min() if positive.size else 1.0
    return np.where(scales > 0, scales, floor)


def adaptive_gaussian_kernel(distances: sp.csr_matrix, scales: np.ndarray) -> sp.csr_matrix:
    """Self-tuning affinities ``exp(-d_ij^2 / (sigma_i sigma_j))`` on a kNN distance graph.

    Computed as ``exp(-(d_ij / sigma_i) (d_ij / sigma_j))``, which neither underflows nor
    overflows for data of any finite scale.
    """
    K = distances.tocoo(copy=True).astype(np.float64)
    K.data = np.exp(-(K.data / scales[K.row]) * (K.data / scales[K.col]))
    return _symmetrize_with_identity(K.tocsr())


def connectivity_epsilon(
    distances: sp.csr_matrix, log_weight: float = CONNECTIVITY_LOG_WEIGHT
) -> float:
    """Smallest ε at which every minimum-spanning-tree edge keeps weight ``exp(-log_weight)``.

    The longest edge b of the kNN graph's minimum spanning tree (forest, for a split graph) is
    the bottleneck of its connectivity: with ``ε = b² / log_weight`` no part of the graph is
    joined to the rest only by weights below ``exp(-log_weight)``.

    Parameters
    ----------
    distances
        Square kNN distance graph, self excluded.
    log_weight
        ``-log`` of the smallest weight allowed on the bottleneck edge.

    Returns
    -------
    float
        The ε floor (0 when every distance is zero).
    """
    graph = sp.csr_matrix(distances, dtype=np.float64)
    graph = graph.maximum(graph.T).tocsr()
    graph.eliminate_zeros()  # duplicates: zero distance, connected whatever ε
    if graph.nnz == 0:
        return 0.0
    tree = minimum_spanning_tree(graph)
    bottleneck = float(tree.data.max()) if tree.nnz else 0.0
    return bottleneck**2 / log_weight


def estimate_bandwidth(
    distances: sp.csr_matrix,
    *,
    n_grid: int = 64,
    max_rows: int = 5_000,
    random_state: int | np.random.Generator | None = 0,
    connectivity_floor: bool = True,
) -> BandwidthEstimate:
    """Choose ε by the Berry–Giannakis–Harlim sweep on the kNN distances.

    Parameters
    ----------
    distances
        Square kNN distance graph, self excluded.
    n_grid
        Number of log-spaced ε values tried.
    max_rows
        Rows sampled (without replacement) for the sweep when the graph is larger; the slope
        is a per-row average, so a sample estimates it well.
    random_state
        Seed for the row sample.
    connectivity_floor
        Never return an ε below :func:`connectivity_epsilon` (the kernel would split the graph
        numerically). On noisy data the steepest slope sits at the noise floor of the
        distances, where sparse spots lose all their weights.

    Returns
    -------
    BandwidthEstimate
        The chosen ε, the intrinsic-dimension estimate and the sweep itself.

    Notes
    -----
    The sum includes each point's self-affinity (the diagonal), as the full kernel sum of
    Berry & Harlim does; this keeps the slope finite as ε → 0.
    """
    n = distances.shape[0]
    rng = np.random.default_rng(random_state)
    if n > max_rows:
        rows = np.sort(rng.choice(n, size=max_rows, replace=False))
        sub = distances[rows]
    else:
        rows = np.arange(n)
        sub = distances
    _check_distance_scale(np.asarray(sub.data, dtype=np.float64))
    sq = np.asarray(sub.data, dtype=np.float64) ** 2
    positive = sq[sq > 0]
    lo = np.log(np.quantile(positive, 0.001)) - 2.0
    hi = np.log(positive.max()) + 2.0
    log_eps = np.linspace(lo, hi, n_grid)
    # S(eps) = n_rows (diagonal) + sum over stored entries; chunk over the grid to bound memory.
    sums = np.empty(n_grid)
    chunk = max(1, int(2e7 // max(sq.size, 1)))
    for start in range(0, n_grid, chunk):
        eps = np.exp(log_eps[start : start + chunk])
        sums[start : start + chunk] = rows.size + np.exp(-sq[:, None] / eps[None, :]).sum(axis=0)
    slopes = np.gradient(np.log(sums), log_eps)
    best = int(np.argmax(slopes))
    sweep_epsilon = float(np.exp(log_eps[best]))
    floor = connectivity_epsilon(distances) if connectivity_floor else 0.0
    return BandwidthEstimate(
        epsilon=max(sweep_epsilon, floor),
        dimension=float(2.0 * slopes[best]),
        epsilons=np.exp(log_eps),
        slopes=slopes,
        sweep_epsilon=sweep_epsilon,
        floor=floor,
    )


class DistanceScaleError(InputError):
    """Squared neighbour distances outside float64's range: no global ε can be computed."""


def _check_distance_scale(data: np.ndarray) -> None:
    """Refuse all-zero distances, and distances whose squares under- or overflow float64."""
    positive = data[data > 0]
    if positive.size == 0:
        msg = (
            "Every neighbour distance is zero (all points are duplicates of each other), so no "
            "bandwidth can be chosen. Remove duplicate rows."
        )
        raise InputError(msg)
    typical = float(np.median(positive))
    if typical**2 == 0 or not np.isfinite(typical**2):
        msg = (
            f"The typical neighbour distance is {typical:.3g}: its square is outside the range "
            "of float64, so a global bandwidth cannot be computed. Multiply the data by a "
            "constant that brings its values near 1 (the diffusion map does not depend on the "
            "scale), or use bandwidth='adaptive', which is scale-free."
        )
        raise DistanceScaleError(msg)


def knn_bandwidth(distances: sp.csr_matrix, k: int) -> float:
    """ε = the square of the median over points of the distance to the k-th nearest neighbour.

    A global bandwidth (so generator eigenvalues ``-log(λ)/ε`` stay defined) at the scale of the
    kNN graph itself: a point's k-th neighbour gets weight ≈ e^{-1} for a typical point. Unlike
    the Berry–Giannakis–Harlim sweep it cannot fall below the neighbourhood scale, which keeps
    the graph connected in sparse spots of noisy high-dimensional data; it is the ε that
    ``bandwidth="adaptive"`` reports as ``bandwidth_``.

    Parameters
    ----------
    distances
        Square kNN distance graph, self excluded.
    k
        The neighbour rank (usually ``n_neighbors``).

    Returns
    -------
    float
    """
    _check_distance_scale(np.asarray(distances.data, dtype=np.float64))
    return float(np.median(kth_neighbor_distances(distances, k)) ** 2)


def rule_kernel(
    distances: sp.csr_matrix, bandwidth: str | float, n_neighbors: int
) -> tuple[sp.csr_matrix, float, np.ndarray | None]:
    """Affinities by a named rule or a fixed ε; returns ``(K, epsilon, local_scales)``.

    ``bandwidth`` is ``"adaptive"`` (self-tuning; ε reported as the median σ², scales
    returned), ``"knn"`` (:func:`knn_bandwidth`) or a positive float ε (the sweep's ε is passed
    this way).
    """
    if bandwidth == "adaptive":
        scales = kth_neighbor_distances(distances, n_neighbors)
        return adaptive_gaussian_kernel(distances, scales), float(np.median(scales) ** 2), scales
    epsilon = knn_bandwidth(distances, n_neighbors) if bandwidth == "knn" else float(bandwidth)
    return gaussian_kernel(distances, epsilon), epsilon, None
