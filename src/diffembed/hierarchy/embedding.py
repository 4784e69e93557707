"""Per-component diffusion coordinates: the space both engines work in by default.

Diffusion distance between two connected components of a graph is infinite, and the diffusion
coordinates of a disconnected graph are component indicators: comparing coordinates across
components is meaningless. Every component therefore gets its own diffusion map (kernel with
automatic bandwidth, α-normalised operator, top eigenpairs) from the foundation's pure
functions, and its own tree; the trees are joined last (see :func:`~.tree.join_forest`).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import NearestNeighbors

from .. import _progress
from ..dimension import mle_dimension
from ..exceptions import NumericalError
from ..kernels import (
    adaptive_gaussian_kernel,
    estimate_bandwidth,
    gaussian_kernel,
    kth_neighbor_distances,
)
from ..operators import diffusion_operator
from ..spectral import top_eigenpairs

__all__ = [
    "ComponentCoordinates",
    "attach_small_components",
    "component_coordinates",
    "component_kernel",
    "fine_kernel",
    "graph_components",
    "group_means",
    "shared_scale",
]

#: Components up to this size are diagonalised densely.
DENSE_MAX = 500
#: ``t="auto"``: the last kept coordinate is damped to this fraction of its value.
AUTO_DECAY = 0.1


@dataclass(frozen=True)
class ComponentCoordinates:
    """Diffusion coordinates of every component, side by side.

    Attributes
    ----------
    coordinates
        Shape (n, n_components); component c fills rows ``labels == c`` and its first
        ``dims[c]`` columns (the rest are 0).
    labels
        Component of every point, 0 the largest.
    dims
        Coordinates computed per component (``min(n_components, size - 2)``, 0 for size <= 2).
    eigenvalues
        Per component, its non-trivial eigenvalues.
    bandwidths
        Per component, ε of the Gaussian kernel (NaN for affinity input).
    stationary
        Stationary distribution of every point within its component (sums to 1 per component).
    times
        Per component, the diffusion time used.
    """

    coordinates: np.ndarray
    labels: np.ndarray
    dims: np.ndarray
    eigenvalues: list[np.ndarray]
    bandwidths: np.ndarray
    stationary: np.ndarray
    times: np.ndarray


def graph_components(graph: sp.spmatrix) -> tuple[int, np.ndarray]:
    """Weakly connected components of a sparse graph (stored zeros are edges), 0 the largest."""
    structure = sp.csr_matrix(graph, copy=True)
    structure.data = np.ones_like(structure.data)
    n_comp, labels = connected_components(structure, directed=True, connection="weak")
    sizes = np.bincount(labels)
    rank = np.empty(n_comp, dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(n_comp)
    return n_comp, rank[labels]


def _connected_kernel(
    distances: sp.csr_matrix, random_state: int | None
) -> tuple[sp.csr_matrix, float]:
    """Gaussian kernel with the automatic ε, widened (×4 at a time) until it is connected.

    On a connected kNN graph the automatic ε can still be so small that weights underflow to 0
    and split it (tight, well-separated sub-groups); widening is the documented remedy.
    """
    eps = estimate_bandwidth(distances, random_state=random_state).epsilon
    top = float(np.max(distances.data) ** 2) if distances.nnz else 1.0
    for _ in range(64):
        K = gaussian_kernel(distances, eps)
        K.data[K.data < 1e-300] = 0.0
        K.eliminate_zeros()
        if connected_components(K, directed=False)[0] == 1 or eps > 1e6 * max(top, 1e-300):
            return K, eps
        eps *= 4.0
    return K, eps  # pragma: no cover - the loop always returns


def _eigenpairs(S, k: int, n: int, dimension: float | None, random_state: int | None):
    """Top eigenpairs: dense when small, else the foundation's automatic choice, with fallbacks.

    Crowded top eigenvalues (well-separated clusters) can stall plain Lanczos; shift-invert
    separates them, and a dense solve is the last resort for moderate sizes.
    """
    if n <= DENSE_MAX:
        return top_eigenpairs(S, k, solver="dense")
    attempts = ["auto", "shift_invert"] + (["dense"] if n <= 5_000 else ["lobpcg"])
    for solver in attempts[:-1]:
        try:
            return top_eigenpairs(
                S, k, solver=solver, random_state=random_state, intrinsic_dimension=dimension
            )
        except NumericalError:
            continue
    return top_eigenpairs(S, k, solver=attempts[-1], random_state=random_state)


def _auto_time(lam: np.ndarray) -> float:
    """Diffusion time at which the last kept coordinate has decayed to :data:`AUTO_DECAY`.

    Long enough to damp the fine, often localised modes at the end of the kept spectrum, short
    enough to keep the slow ones; on a sparse graph whose spectrum falls fast it is t = 1.
    """
    last = float(np.clip(np.abs(lam[-1]), 1e-12, 1 - 1e-12)) if lam.size else 0.5
    return float(max(1.0, np.log(AUTO_DECAY) / np.log(last)))


def component_kernel(
    sub: sp.csr_matrix, affinity: bool, bandwidth: str, n_neighbors: int, random_state: int | None
) -> tuple[sp.csr_matrix, float]:
    """Kernel of one connected component and its bandwidth (NaN for affinity input).

    ``bandwidth="adaptive"``: ``exp(-d²/(σ_i σ_j))`` with σ_i the distance to the
    ``n_neighbors``-th neighbour (reported bandwidth: median σ²); ``"auto"``: the global
    automatic ε, widened until the kernel is connected. Affinity input is used as it is.
    """
    if sub.shape[0] == 1:
        return sp.csr_matrix(np.ones((1, 1))), float("nan")
    if affinity:
        return sub.maximum(sub.T).tocsr(), float("nan")
    if bandwidth == "adaptive":
        scales = kth_neighbor_distances(sub, n_neighbors)
        return adaptive_gaussian_kernel(sub, scales), float(np.median(scales) ** 2)
    return _connected_kernel(sub, random_state)


def fine_kernel(
    graph: sp.csr_matrix,
    labels: np.ndarray,
    affinity: bool,
    bandwidth: str,
    n_neighbors: int,
    random_state: int | None,
) -> sp.csr_matrix:
    """Block-diagonal kernel over all components (the one the coordinates were built from)."""
    rows, cols, vals = [], [], []
    for c in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == c)
        K, _ = component_kernel(graph[idx][:, idx], affinity, bandwidth, n_neighbors, random_state)
        coo = K.tocoo()
        rows.append(idx[coo.row])
        cols.append(idx[coo.col])
        vals.append(coo.data)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=graph.shape
    )


def component_coordinates(
    graph: sp.csr_matrix,
    n_components: int,
    t: float | None,
    alpha: float,
    *,
    affinity: bool = False,
    bandwidth: str = "auto",
    n_neighbors: int = 10,
    random_state: int | None = None,
) -> ComponentCoordinates:
    """Diffusion coordinates ``ψ_k λ_k^t`` (k = 1..n_components) of every component.

    Parameters
    ----------
    graph
        Square sparse kNN *distance* graph (``affinity=False``) or a symmetric non-negative
        affinity / adjacency matrix (``affinity=True``, used as the kernel itself).
    n_components
        Non-trivial coordinates per component (fewer for components of < n_components + 2).
    t
        Diffusion time; None picks it per component (see :func:`_auto_time`).
    alpha
        Density normalisation of the operator.
    affinity
        How to read ``graph``.
    random_state
        Seed of the bandwidth sweep and iterative eigensolvers.
    """
    graph = sp.csr_matrix(graph, dtype=np.float64)
    n = graph.shape[0]
    n_comp, labels = graph_components(graph)
    coords = np.zeros((n, n_components))
    dims = np.zeros(n_comp, dtype=np.int64)
    eigenvalues: list[np.ndarray] = []
    bandwidths = np.full(n_comp, np.nan)
    stationary = np.zeros(n)
    times = np.full(n_comp, np.nan)
    # the progress task counts rows per component; one component: the solver's own products
    running = _progress.current() if n_comp > 1 else None
    for c in range(n_comp):
        idx = np.flatnonzero(labels == c)
        size = idx.size
        if size <= 2:
            eigenvalues.append(np.empty(0))
            stationary[idx] = 1.0 / size
            if running is not None:
                running.advance(size)
            continue
        sub = graph[idx][:, idx]
        K, bandwidths[c] = component_kernel(sub, affinity, bandwidth, n_neighbors, random_state)
        dimension = None if affinity or size <= DENSE_MAX else mle_dimension(sub)
        op = diffusion_operator(K, alpha)
        dim = min(n_components, size - 2)
        with _progress.detached() if running is not None else nullcontext():
            vals, vecs = _eigenpairs(op.S, dim + 1, size, dimension, random_state)
        psi = vecs[:, 1:] / np.sqrt(op.stationary)[:, None]
        lam = vals[1:]
        t_c = _auto_time(lam) if t is None else t
        times[c] = t_c
        power = np.sign(lam) * np.abs(lam) ** t_c
        coords[np.ix_(idx, np.arange(dim))] = psi * power[None, :]
        dims[c] = dim
        eigenvalues.append(lam)
        stationary[idx] = op.stationary
        if running is not None:
            running.advance(size)
    return ComponentCoordinates(
        coordinates=coords,
        labels=labels,
        dims=dims,
        eigenvalues=eigenvalues,
        bandwidths=bandwidths,
        stationary=stationary,
        times=times,
    )


def shared_scale(Y: np.ndarray, groups: list[np.ndarray], dims: list[int], k: int) -> float | None:
    """Median distance to the k-th neighbour within each component's coordinates."""
    dists = []
    for g, dim in zip(groups, dims, strict=True):
        if g.size < 3 or dim == 0:
            continue
        Yg = Y[np.ix_(g, np.arange(dim))]
        kk = min(k, g.size - 1)
        d, _ = NearestNeighbors(n_neighbors=kk + 1).fit(Yg).kneighbors(Yg)
        dists.append(d[:, -1])
    if not dists:
        return None
    scale = float(np.median(np.concatenate(dists)))
    return scale if scale > 0 else None


def attach_small_components(
    points: Any,
    Y: np.ndarray,
    comp_labels: np.ndarray,
    w: np.ndarray,
    dims: np.ndarray,
    fraction: float,
    n_neighbors: int,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, int]]]:
    """Give every small component's points the coordinates of the nearest large component.

    Returns the coordinates, the group of every point (a large component's label) and, per
    attached component, ``{"component", "size", "attached_to"}``.
    """
    mass = np.bincount(comp_labels, weights=w)
    large = mass >= fraction * mass.sum()
    large[int(np.argmax(mass))] = True
    groups = comp_labels.copy()
    if points is None or large.all():
        return Y, groups, []
    dense = points.toarray() if sp.issparse(points) else np.asarray(points)
    in_large = np.flatnonzero(large[comp_labels])
    index = NearestNeighbors(n_neighbors=1).fit(dense[in_large])
    Y = Y.copy()
    attached = []
    for c in np.flatnonzero(~large):
        members = np.flatnonzero(comp_labels == c)
        d, j = index.kneighbors(dense[members])
        target = int(comp_labels[in_large[j[int(np.argmin(d[:, 0])), 0]]])
        host = np.flatnonzero(comp_labels == target)
        k = min(n_neighbors, host.size)
        _, nb = NearestNeighbors(n_neighbors=k).fit(dense[host]).kneighbors(dense[members])
        Y[members] = 0.0
        Y[members, : dims[target]] = Y[host[nb], : dims[target]].mean(axis=1)
        groups[members] = target
        attached.append({"component": int(c), "size": int(members.size), "attached_to": target})
    return Y, groups, attached


def group_means(points: Any, labels: np.ndarray, k: int) -> np.ndarray:
    Q = sp.csr_matrix(
        (np.ones(labels.size), (labels, np.arange(labels.size))), shape=(k, labels.size)
    )
    sums = Q @ points
    sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
    return sums / np.bincount(labels, minlength=k)[:, None]
