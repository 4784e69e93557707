"""Diffusion condensation with masses (after Brugnone et al. 2019 and Kuchroo et al. 2022).

Nodes carry a mass ``m_i`` (number of points, or a partition's size) and a position ``y_i``.
One step on the current nodes:

1. **operator** on the ``k_s = min(k, ceil(k_fraction * n_s), n_s - 1)`` nearest nodes:
   ``w_ij = exp(-c_ij ||y_i - y_j||^2 / eps^2)`` on kNN edges and self-loops, symmetrised by
   max, and ``P_ij = w_ij m_j / Σ_l w_il m_l``. The cost factor ``c_ij`` is 1 for
   ``kernel="euclidean"`` and the Ward factor ``2 m_i m_j / (m_i + m_j)`` for ``kernel="ward"``
   (1 between single points). ``kernel="adaptive"`` (default) gives every node its own width:
   row i uses ``c_ij = 1 / σ_i²``, σ_i the distance to its k-th nearest node over the
   mass-weighted median of those distances, and is not symmetrised (a symmetric σ_iσ_j kernel
   lets a far, heavy node pull stragglers out of their blob). With one global ε, nodes far out
   (small groups on localised diffusion coordinates) are reached only after the dense cores
   have merged into one blob: the reference's collapse on 20 digits coordinates (ARI 0.03);
   the per-node width gives 0.80 there;
2. **lazy diffusion** ``Y ← (1 - β) P Y + β Y``;
3. **merge** the connected components of ``{(i, j) kernel edge: ||y_i - y_j|| < ζ}`` (nodes
   that meet were neighbours, so no separate radius search); a merged node has the summed mass
   and the mass-weighted mean position. Neighbour lists are reused for up to ``refresh`` steps
   while nothing merges, with exact distances along them;
4. **schedule**: if nothing merged, ``eps ← growth * eps``.

``eps₀ = eps_scale * s`` and ``ζ = merge_scale * s`` with ``s`` the median distance to the k-th
neighbour at the start. Mass weighting makes a merged node pull like its members, so merging
coincident nodes leaves the next step unchanged (tested).

Differences from the published code (``KrishnaswamyLab/Multiscale_PHATE``, ``condense.py``):
masses (it uses unweighted means), a lazy step (it uses β = 0), a support that shrinks with the
number of nodes (it keeps k = 5), and ε₀/ζ tied to the kNN scale (it uses
``0.1 · 0.1 · std(X) · n^{1/5}``, growth 1.025 and a percentile of pairwise distances).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from .. import _progress
from .tree import ward_linkage

__all__ = ["Condensation", "condensation_step", "diffusion_condensation", "knn_indices"]

#: Below this many nodes the neighbour search is a dense distance matrix (no index overhead).
SMALL_BRUTE = 256

CondensationKernel = Literal["euclidean", "ward", "adaptive"]


@dataclass(frozen=True)
class Condensation:
    """Result of :func:`diffusion_condensation` on ``n`` points.

    Attributes
    ----------
    linkage
        Binarised merges, shape (n - 1, 4); height = ε at the merge (non-decreasing).
    boundaries
        Number of linkage rows applied after each recorded level (each step that merged).
    scales
        ε at each recorded level.
    n_steps
        Diffusion steps taken.
    converged
        False when ``max_steps`` stopped the run; the remaining nodes were then joined by
        weighted Ward on their condensed positions, above the last ε.
    """

    linkage: np.ndarray
    boundaries: np.ndarray
    scales: np.ndarray
    n_steps: int
    converged: bool


def _support(n_nodes: int, n_neighbors: int, k_fraction: float) -> int:
    return int(max(1, min(n_neighbors, int(np.ceil(k_fraction * n_nodes)), n_nodes - 1)))


def condensation_step(
    Y: np.ndarray,
    masses: np.ndarray,
    epsilon: float,
    *,
    n_neighbors: int = 10,
    k_fraction: float = 0.25,
    lazy: float = 0.5,
    kernel: CondensationKernel = "adaptive",
    neighbors: np.ndarray | None = None,
) -> np.ndarray:
    """One mass-weighted, lazy diffusion step of the node positions ``Y`` (no merging).

    ``neighbors`` (shape (n_nodes, k + 1), each row starting with the node itself) reuses a
    neighbour list from an earlier step; the kernel is then evaluated on the current
    distances along those edges.
    """
    n_nodes = Y.shape[0]
    if neighbors is None:
        neighbors = knn_indices(Y, _support(n_nodes, n_neighbors, k_fraction))
    ind = neighbors
    dist = np.sqrt(np.einsum("ijk,ijk->ij", Y[ind] - Y[:, None, :], Y[ind] - Y[:, None, :]))
    sq = dist**2
    if kernel == "ward":
        mi, mj = masses[:, None], masses[ind]
        sq = sq * (2.0 * mi * mj / (mi + mj))
    elif kernel == "adaptive":
        sigma = dist.max(axis=1)
        ref = _weighted_median(sigma, masses)
        if ref > 0:
            sigma = np.maximum(sigma, 1e-12 * ref) / ref
            sq = sq / sigma[:, None] ** 2
    kk = ind.shape[1] - 1
    rows = np.repeat(np.arange(n_nodes), kk + 1)
    W = sp.csr_matrix((np.exp(-sq / epsilon**2).ravel(), (rows, ind.ravel())), shape=(n_nodes,) * 2)
    if kernel != "adaptive":
        W = W.maximum(W.T).tocsr()
    W.data *= masses[W.indices]  # w_ij m_j
    P = sp.diags(1.0 / np.asarray(W.sum(axis=1)).ravel()) @ W
    return (1.0 - lazy) * (P @ Y) + lazy * Y


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of ``values`` with each counted ``weights`` times (splitting a node keeps it)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def knn_indices(Y: np.ndarray, k: int) -> np.ndarray:
    """Each node and its ``k`` nearest nodes, shape (n_nodes, k + 1), the node itself first."""
    n_nodes = Y.shape[0]
    if n_nodes <= SMALL_BRUTE:
        sq = np.einsum("ij,ij->i", Y, Y)
        D = sq[:, None] + sq[None, :] - 2.0 * (Y @ Y.T)
        np.fill_diagonal(D, -np.inf)
        part = np.argpartition(D, k, axis=1)[:, : k + 1]
        order = np.take_along_axis(D, part, axis=1).argsort(axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1)
    ind = NearestNeighbors(n_neighbors=k + 1).fit(Y).kneighbors(Y, return_distance=False)
    # coincident nodes may list another node first: put the node itself first
    own = ind == np.arange(n_nodes)[:, None]
    missing = ~own.any(axis=1)
    ind[missing, -1] = np.flatnonzero(missing)
    own[missing, -1] = True
    first = own.argmax(axis=1)
    swap = ind[np.arange(n_nodes), 0].copy()
    ind[np.arange(n_nodes), first] = swap
    ind[:, 0] = np.arange(n_nodes)
    return ind


def diffusion_condensation(
    Y: np.ndarray,
    masses: np.ndarray | None = None,
    *,
    n_neighbors: int = 10,
    k_fraction: float = 0.25,
    lazy: float = 0.5,
    eps_scale: float = 0.5,
    merge_scale: float = 0.05,
    growth: float = 1.05,
    max_steps: int = 3000,
    scale: float | None = None,
    kernel: CondensationKernel = "adaptive",
    refresh: int = 4,
) -> Condensation:
    """Condense points (or weighted nodes) ``Y`` into one node, recording every merge.

    Parameters
    ----------
    Y
        Positions, shape (n, d); n >= 2.
    masses
        Mass of every row (default 1).
    n_neighbors, k_fraction
        Kernel support ``min(n_neighbors, ceil(k_fraction * n_s), n_s - 1)`` on n_s nodes.
    lazy
        β of the lazy step, in [0, 1).
    eps_scale, merge_scale
        ε₀ and ζ as multiples of the reference scale.
    growth
        Factor applied to ε after a step without merges (> 1).
    max_steps
        Hard cap on diffusion steps.
    scale
        Reference scale; default the median distance to the ``n_neighbors``-th neighbour.
    kernel
        ``"adaptive"``, ``"euclidean"`` or ``"ward"`` (see the module docstring).
    refresh
        Steps a neighbour list is reused while nothing merges (1: search every step).

    Returns
    -------
    Condensation

    Notes
    -----
    The loop runs hundreds of small neighbour searches; OpenMP threads there cost more in
    start-up and contention than they save (a 3 s fit took 55 s with two threads on a loaded
    two-core machine), so they are limited to one for its duration.
    """
    with threadpool_limits(limits=1, user_api="openmp"):
        return _condense(
            Y,
            masses,
            n_neighbors=n_neighbors,
            k_fraction=k_fraction,
            lazy=lazy,
            eps_scale=eps_scale,
            merge_scale=merge_scale,
            growth=growth,
            max_steps=max_steps,
            scale=scale,
            kernel=kernel,
            refresh=refresh,
        )


def _condense(
    Y: np.ndarray,
    masses: np.ndarray | None,
    *,
    n_neighbors: int,
    k_fraction: float,
    lazy: float,
    eps_scale: float,
    merge_scale: float,
    growth: float,
    max_steps: int,
    scale: float | None,
    kernel: CondensationKernel,
    refresh: int,
) -> Condensation:
    Y = np.array(Y, dtype=np.float64, copy=True)
    n = Y.shape[0]
    m = np.ones(n) if masses is None else np.asarray(masses, dtype=np.float64).copy()
    if scale is None:
        kk = min(n_neighbors, n - 1)
        d0, _ = NearestNeighbors(n_neighbors=kk + 1).fit(Y).kneighbors(Y)
        scale = float(np.median(d0[:, -1]))
        if scale <= 0:
            positive = d0[:, 1:][d0[:, 1:] > 0]
            scale = float(np.median(positive)) if positive.size else 1.0
    eps = eps_scale * scale
    zeta = merge_scale * scale
    node_id = np.arange(n, dtype=np.int64)  # scipy cluster id of every current node
    leaves = np.ones(n, dtype=np.int64)  # points under every current node
    Z = np.empty((n - 1, 4))
    n_rows = 0
    boundaries: list[int] = []
    scales: list[float] = []
    steps = 0
    ind: np.ndarray | None = None
    age = 0
    running = _progress.current()  # the engine's task: merges written, levels formed
    base = running.completed if running is not None else 0.0
    while Y.shape[0] > 1 and steps < max_steps:
        steps += 1
        if ind is None or age >= refresh:
            ind = knn_indices(Y, _support(Y.shape[0], n_neighbors, k_fraction))
            age = 0
        age += 1
        Y = condensation_step(
            Y,
            m,
            eps,
            n_neighbors=n_neighbors,
            k_fraction=k_fraction,
            lazy=lazy,
            kernel=kernel,
            neighbors=ind,
        )
        # merge candidates are the kernel's edges: nodes that meet were neighbours
        gap = Y[ind[:, 1:]] - Y[:, None, :]
        near = np.einsum("ijk,ijk->ij", gap, gap) < zeta**2
        if not near.any():
            eps *= growth
            continue
        src = np.repeat(np.arange(Y.shape[0]), ind.shape[1] - 1)[near.ravel()]
        close = sp.csr_matrix((np.ones(src.size), (src, ind[:, 1:][near])), shape=(Y.shape[0],) * 2)
        n_comp, comp = connected_components(close, directed=False)
        ind = None  # the nodes changed: search again
        n_rows, last_ids = _write_merges(Z, n_rows, n, comp, n_comp, m, node_id, leaves, eps)
        S = sp.csr_matrix((m, (comp, np.arange(comp.size))), shape=(n_comp, comp.size))
        new_m = np.asarray(S.sum(axis=1)).ravel()
        Y = (S @ Y) / new_m[:, None]
        new_ids = np.empty(n_comp, dtype=np.int64)
        new_leaves = np.zeros(n_comp, dtype=np.int64)
        np.add.at(new_leaves, comp, leaves)
        # the id of each component is the id written last for it (or its single member's id)
        new_ids[comp] = node_id  # single-member components keep their id
        for c, last in last_ids.items():
            new_ids[c] = last
        m, node_id, leaves = new_m, new_ids, new_leaves
        boundaries.append(n_rows)
        scales.append(eps)
        if running is not None:
            running.update(completed=base + n_rows, levels=len(boundaries))
    converged = Y.shape[0] == 1
    if not converged:
        Zr = ward_linkage(Y, m)
        top = eps
        base = np.empty(2 * Y.shape[0] - 1, dtype=np.int64)
        base[: Y.shape[0]] = node_id
        sizes = np.concatenate([leaves, np.zeros(Y.shape[0] - 1, dtype=np.int64)])
        for i in range(Zr.shape[0]):
            a, b = base[int(Zr[i, 0])], base[int(Zr[i, 1])]
            sizes[Y.shape[0] + i] = sizes[int(Zr[i, 0])] + sizes[int(Zr[i, 1])]
            Z[n_rows] = (min(a, b), max(a, b), top * (1.0 + Zr[i, 2]), sizes[Y.shape[0] + i])
            base[Y.shape[0] + i] = n + n_rows
            n_rows += 1
            boundaries.append(n_rows)
            scales.append(top * (1.0 + Zr[i, 2]))
    return Condensation(
        linkage=Z,
        boundaries=np.asarray(boundaries, dtype=np.int64),
        scales=np.asarray(scales),
        n_steps=steps,
        converged=converged,
    )


def _write_merges(
    Z: np.ndarray,
    n_rows: int,
    n: int,
    comp: np.ndarray,
    n_comp: int,
    masses: np.ndarray,
    node_id: np.ndarray,
    leaves: np.ndarray,
    eps: float,
) -> tuple[int, dict[int, int]]:
    """Binarise this step's multi-way merges: heaviest member first, then by node id.

    Returns the new row count and, for every component with a merge, the id of its last row.
    """
    last_ids: dict[int, int] = {}
    counts = np.bincount(comp, minlength=n_comp)
    order = np.lexsort((node_id, -masses, comp))  # grouped by component, heaviest first
    start = 0
    for c in range(n_comp):
        size = counts[c]
        members = order[start : start + size]
        start += size
        if size == 1:
            continue
        current = node_id[members[0]]
        total = leaves[members[0]]
        for j in members[1:]:
            total += leaves[j]
            other = node_id[j]
            Z[n_rows] = (min(current, other), max(current, other), eps, total)
            current = n + n_rows
            n_rows += 1
        last_ids[c] = current
    return n_rows, last_ids
