"""Tree bookkeeping shared by both engines.

A hierarchy is stored as one binarised scipy linkage ``Z`` (shape (n - 1, 4): the two merged
cluster ids, the height, the size of the new cluster) plus *level boundaries*: level ℓ is the
partition reached after the first ``boundaries[ℓ]`` rows of ``Z``. A multi-way merge (the
condensation engine merges several nodes in one step) is written as consecutive binary rows of
equal height, so every level is a cut of the same dendrogram and levels are nested by
construction.

Functions here are pure: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.cluster.hierarchy import linkage as scipy_linkage

__all__ = [
    "cut_linkage",
    "dendrogram_purity",
    "join_forest",
    "levels_from_linkage",
    "ward_linkage",
]

#: Unweighted Ward uses scipy's O(n^2)-memory linkage up to this many points; beyond, and for
#: weighted points, the O(n d)-memory nearest-neighbour-chain implementation below.
SCIPY_WARD_MAX = 6_000


# ------------------------------------------------------------------------------ levels
def levels_from_linkage(Z: np.ndarray, boundaries: Sequence[int]) -> np.ndarray:
    """Labels of every leaf after the first ``boundaries[ℓ]`` merges of ``Z``, for every ℓ.

    Parameters
    ----------
    Z
        Linkage matrix, shape (n - 1, 4), rows in merge order.
    boundaries
        Non-decreasing merge counts in ``[0, n - 1]``.

    Returns
    -------
    ndarray of int32, shape (n, len(boundaries))
        Column ℓ labels the clusters 0..k-1 in order of their smallest leaf.
    """
    n = Z.shape[0] + 1
    bounds = np.asarray(boundaries, dtype=np.int64)
    out = np.empty((n, bounds.size), dtype=np.int32)
    parent = np.arange(2 * n - 1, dtype=np.int64)
    node = np.arange(n, dtype=np.int64)  # current top node of every leaf
    applied = 0
    children = Z[:, :2].astype(np.int64)
    for col, c in enumerate(bounds):
        if c > applied:
            rows = np.arange(applied, c)
            parent[children[rows, 0]] = n + rows
            parent[children[rows, 1]] = n + rows
            applied = int(c)
            # climb from the distinct current nodes only (each internal node is passed once)
            uniq, inv = np.unique(node, return_inverse=True)
            top = uniq.copy()
            while True:
                up = parent[top]
                moving = up != top
                if not moving.any():
                    break
                top = np.where(moving, up, top)
            parent[uniq] = top  # path compression
            node = top[inv]
        out[:, col] = _compact(node)
    return out


def _compact(node: np.ndarray) -> np.ndarray:
    """Relabel cluster ids 0..k-1 in order of each cluster's first leaf."""
    _, first, inv = np.unique(node, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int32)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size, dtype=np.int32)
    return rank[inv]


def cut_linkage(Z: np.ndarray, n_clusters: int) -> np.ndarray:
    """Labels with exactly ``n_clusters`` clusters: the first ``n - n_clusters`` merges of ``Z``.

    Unlike :func:`scipy.cluster.hierarchy.fcluster` this follows the row order, so ties in
    height (binarised multi-way merges) still give exactly ``n_clusters`` clusters.
    """
    n = Z.shape[0] + 1
    return levels_from_linkage(Z, [n - n_clusters])[:, 0]


# -------------------------------------------------------------------------------- Ward
def ward_linkage(Y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Ward linkage of points ``Y`` with optional masses (a point of mass w counts w times).

    Heights follow scipy's convention, ``sqrt(2 w_a w_b / (w_a + w_b)) * ||c_a - c_b||`` for
    clusters of masses ``w`` and centroids ``c``, so unit weights give exactly
    ``scipy.cluster.hierarchy.linkage(Y, "ward")`` (up to the order of equal-height merges).
    The size column counts points (leaves), not mass.

    Unweighted inputs up to :data:`SCIPY_WARD_MAX` points use scipy; otherwise a
    nearest-neighbour chain (Ward is reducible, so merges sorted by height form a valid
    dendrogram) in O(n d) memory and O(n^2 d) time.
    """
    Y = np.asarray(Y, dtype=np.float64)
    n = Y.shape[0]
    if n == 1:
        return np.empty((0, 4))
    if weights is None and n <= SCIPY_WARD_MAX:
        return scipy_linkage(Y, method="ward")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    return _nn_chain_ward(Y.copy(), w)


def _nn_chain_ward(C: np.ndarray, w: np.ndarray) -> np.ndarray:
    n = C.shape[0]
    sq_norm = np.einsum("ij,ij->i", C, C)
    alive = np.ones(n, dtype=bool)
    idx = np.arange(n)  # alive slots (compacted lazily)
    merges_a = np.empty(n - 1, dtype=np.int64)
    merges_b = np.empty(n - 1, dtype=np.int64)
    heights = np.empty(n - 1)
    chain: list[int] = []
    n_alive = n
    for step in range(n - 1):
        if idx.size > 2 * n_alive:
            idx = np.flatnonzero(alive)
        if not chain:
            chain.append(int(idx[alive[idx]][0]))
        while True:
            a = chain[-1]
            sub = idx[alive[idx]]
            d2 = np.maximum(sq_norm[sub] + sq_norm[a] - 2.0 * (C[sub] @ C[a]), 0.0)
            cost = (w[sub] * w[a] / (w[sub] + w[a])) * d2
            cost[sub == a] = np.inf
            j = int(np.argmin(cost))
            b = int(sub[j])
            if len(chain) > 1:
                prev = chain[-2]
                cost_prev = cost[np.searchsorted(sub, prev)]
                if cost_prev <= cost[j]:
                    b = prev
                    break
            chain.append(b)
        chain.pop()
        chain.pop()
        best = cost[np.searchsorted(sub, b)]
        lo, hi = min(a, b), max(a, b)
        merges_a[step], merges_b[step], heights[step] = lo, hi, np.sqrt(2.0 * best)
        total = w[lo] + w[hi]
        C[lo] = (w[lo] * C[lo] + w[hi] * C[hi]) / total
        sq_norm[lo] = C[lo] @ C[lo]
        w[lo] = total
        alive[hi] = False
        n_alive -= 1
    order = np.argsort(heights, kind="stable")
    return _label_merges(merges_a[order], merges_b[order], heights[order], n)


def _label_merges(a: np.ndarray, b: np.ndarray, h: np.ndarray, n: int) -> np.ndarray:
    """Turn merges given by leaf representatives into scipy cluster ids (union-find)."""
    root = np.arange(n)
    cluster = np.arange(n)  # scipy id of the cluster whose representative is the root
    size = np.ones(n, dtype=np.int64)
    Z = np.empty((n - 1, 4))

    def find(x: int) -> int:
        r = x
        while root[r] != r:
            r = root[r]
        while root[x] != r:
            root[x], x = r, root[x]
        return r

    for i in range(n - 1):
        ra, rb = find(int(a[i])), find(int(b[i]))
        ca, cb = cluster[ra], cluster[rb]
        Z[i] = (min(ca, cb), max(ca, cb), h[i], size[ra] + size[rb])
        root[rb] = ra
        size[ra] += size[rb]
        cluster[ra] = n + i
    return Z


# --------------------------------------------------------------------------- forests
def join_forest(
    n: int,
    parts: Sequence[tuple[np.ndarray, np.ndarray]],
    root_positions: np.ndarray,
    root_masses: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Merge per-component trees into one linkage; component roots are joined last.

    Parameters
    ----------
    n
        Total number of leaves.
    parts
        For every component, ``(members, Z_local)``: the global leaf ids (in local order) and
        the component's own linkage (empty for a single point).
    root_positions, root_masses
        One row per component: where its root sits (the mass-weighted mean of its members
        in input space) and its mass; the roots are joined by weighted Ward on these.

    Returns
    -------
    Z : ndarray, shape (n - 1, 4)
        All within-component merges (sorted by height, each component's order kept), then
        the root joins at heights ``max within-component height + Ward height of the join``.
    order : ndarray, shape (n - 1,)
        Component index of each row, ``-1`` for the root joins.
    n_within : int
        Number of within-component rows (the root joins come after them).
    """
    rows, heights, comp_of_row = [], [], []
    for c, (_, Zc) in enumerate(parts):
        for i in range(Zc.shape[0]):
            rows.append((c, i))
            heights.append(Zc[i, 2])
            comp_of_row.append(c)
    heights_arr = np.asarray(heights, dtype=np.float64)
    order = np.argsort(heights_arr, kind="stable")
    Z = np.empty((n - 1, 4))
    node_ids: list[np.ndarray] = []
    for members, _ in parts:
        ids = np.empty(2 * members.size - 1, dtype=np.int64)
        ids[: members.size] = members
        node_ids.append(ids)
    for out_row, r in enumerate(order):
        c, i = rows[r]
        members, Zc = parts[c]
        ids = node_ids[c]
        a, b = ids[int(Zc[i, 0])], ids[int(Zc[i, 1])]
        Z[out_row] = (min(a, b), max(a, b), Zc[i, 2], Zc[i, 3])
        ids[members.size + i] = n + out_row
    n_within = order.size
    comp_rows = np.asarray(comp_of_row, dtype=np.int64)[order] if order.size else np.empty(0, int)
    k = len(parts)
    if k > 1:
        top = heights_arr.max() if heights_arr.size else 0.0
        Zr = ward_linkage(np.asarray(root_positions, dtype=np.float64), root_masses)
        root_ids = np.empty(2 * k - 1, dtype=np.int64)
        for c, (members, _) in enumerate(parts):
            root_ids[c] = node_ids[c][-1] if members.size > 1 else members[0]
        sizes = np.array([m.size for m, _ in parts] + [0] * (k - 1), dtype=np.int64)
        for i in range(k - 1):
            a, b = root_ids[int(Zr[i, 0])], root_ids[int(Zr[i, 1])]
            sizes[k + i] = sizes[int(Zr[i, 0])] + sizes[int(Zr[i, 1])]
            Z[n_within + i] = (min(a, b), max(a, b), top + Zr[i, 2], sizes[k + i])
            root_ids[k + i] = n + n_within + i
        comp_rows = np.concatenate([comp_rows, -np.ones(k - 1, dtype=np.int64)])
    return Z, comp_rows, n_within


# ------------------------------------------------------------------ dendrogram purity
def dendrogram_purity(tree: np.ndarray, y: np.ndarray) -> float:
    """Dendrogram purity (Heller & Ghahramani 2005) of a tree against class labels ``y``.

    Over all pairs of points of the same class, the average purity ``n_c(v) / |v|`` of the
    node ``v`` where the pair is first joined.

    Parameters
    ----------
    tree
        Either a scipy linkage, shape (n - 1, 4) (binary form), or nested levels, shape
        (n, L), fine → coarse (multi-way form: the pairs first joined in a cluster ``C`` of a
        level are ``(n_c(C)^2 - Σ_children n_c(child)^2) / 2``; pairs never joined are joined
        at an implicit root holding everything).
    y
        Class of every point.
    """
    y = np.asarray(y)
    _, yi = np.unique(y, return_inverse=True)
    n, n_classes = y.size, int(yi.max()) + 1
    counts_all = np.bincount(yi, minlength=n_classes).astype(np.float64)
    total_pairs = float(np.sum(counts_all * (counts_all - 1) / 2))
    if total_pairs == 0:
        return 1.0
    tree = np.asarray(tree)
    if tree.ndim == 2 and tree.shape == (n - 1, 4) and not np.issubdtype(tree.dtype, np.integer):
        cnt = np.zeros((2 * n - 1, n_classes))
        cnt[np.arange(n), yi] = 1.0
        acc = 0.0
        for i in range(n - 1):
            a, b = int(tree[i, 0]), int(tree[i, 1])
            cnt[n + i] = cnt[a] + cnt[b]
            acc += float(np.sum(cnt[a] * cnt[b] * cnt[n + i]) / cnt[n + i].sum())
        return acc / total_pairs
    levels = np.column_stack([tree, np.zeros(n, dtype=np.int64)])
    prev = np.arange(n)
    prev_counts = np.zeros((n, n_classes))
    prev_counts[np.arange(n), yi] = 1.0
    acc = 0.0
    for col in range(levels.shape[1]):
        _, lab = np.unique(levels[:, col], return_inverse=True)
        counts = np.zeros((lab.max() + 1, n_classes))
        np.add.at(counts, (lab, yi), 1.0)
        parent = np.zeros(prev_counts.shape[0], dtype=np.int64)
        parent[prev] = lab
        child_sq = np.zeros_like(counts)
        np.add.at(child_sq, parent, prev_counts**2)
        new_pairs = (counts**2 - child_sq) / 2.0
        sizes = counts.sum(axis=1, keepdims=True)
        acc += float(np.sum(new_pairs * counts / sizes))
        prev, prev_counts = lab, counts
    return acc / total_pairs
