"""Which cuts of the linkage are levels, how long each persists, and partition bags."""

from __future__ import annotations

import numpy as np

__all__ = [
    "condensation_levels",
    "expand_partitions",
    "ladder_boundaries",
    "ladder_counts",
    "persistence",
]


def ladder_counts(n: int) -> np.ndarray:
    """Cluster counts recorded by the ward engine: 1..32, then ×1.25 up to n."""
    counts = set(range(1, min(n, 32) + 1))
    k = 32.0
    while k < n:
        counts.add(round(k))
        k *= 1.25
    counts.add(n)
    return np.array(sorted(counts, reverse=True), dtype=np.int64)


def ladder_boundaries(n: int) -> np.ndarray:
    return n - ladder_counts(n)


def persistence(Z: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """log(height of the next merge) - log(height at which the level formed), per level."""
    n = Z.shape[0] + 1
    h = Z[:, 2]
    floor = max(float(h[h > 0].min()) if np.any(h > 0) else 1.0, 1e-12) * 1e-3
    formed = np.where(bounds > 0, h[np.maximum(bounds - 1, 0)], 0.0)
    nxt = np.where(bounds < n - 1, h[np.minimum(bounds, n - 2)], np.inf)
    with np.errstate(divide="ignore"):
        return np.log(np.maximum(nxt, floor)) - np.log(np.maximum(formed, floor))


def condensation_levels(
    comp_rows: np.ndarray, n_within: int, local_bounds: list[np.ndarray], parts: list, n: int
) -> np.ndarray:
    """Global level boundaries: one level per (component, condensation step)."""
    level_of_row = np.empty(n_within, dtype=np.int64)
    offsets = np.cumsum([0] + [len(b) for b in local_bounds])
    for c, (_, Zc) in enumerate(parts):
        if Zc.shape[0] == 0:
            continue
        rows = np.flatnonzero(comp_rows[:n_within] == c)
        local_level = np.searchsorted(local_bounds[c], np.arange(Zc.shape[0]), side="right")
        level_of_row[rows] = offsets[c] + local_level
    change = np.flatnonzero(np.diff(level_of_row) != 0) + 1 if n_within else np.empty(0, int)
    bounds = np.concatenate(
        [[0], change, [n_within] if n_within else [], np.arange(n_within + 1, n)]
    )
    return np.unique(bounds.astype(np.int64))


def expand_partitions(
    Zp: np.ndarray, bounds_p: np.ndarray, part: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Linkage over points from a linkage over partitions: each partition is a flat bag.

    The points of every partition are merged first, at height 0 (a chain, in point order); the
    partition tree follows with its own heights. Level ℓ of the partition tree becomes the
    level after all bag merges plus its own merges.
    """
    k = Zp.shape[0] + 1
    order = np.argsort(part, kind="stable")
    sizes = np.bincount(part, minlength=k)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    Z = np.empty((n - 1, 4))
    row = 0
    top = np.empty(k, dtype=np.int64)
    for c in range(k):
        members = order[starts[c] : starts[c] + sizes[c]]
        current = int(members[0])
        for j, other in enumerate(members[1:], start=2):
            Z[row] = (min(current, other), max(current, other), 0.0, j)
            current = n + row
            row += 1
        top[c] = current
    n_bags = row
    ids = np.concatenate([top, np.zeros(k - 1, dtype=np.int64)])
    leaves = np.concatenate([sizes, np.zeros(k - 1, dtype=np.int64)])
    for i in range(k - 1):
        a, b = int(Zp[i, 0]), int(Zp[i, 1])
        leaves[k + i] = leaves[a] + leaves[b]
        Z[row] = (min(ids[a], ids[b]), max(ids[a], ids[b]), Zp[i, 2], leaves[k + i])
        ids[k + i] = n + row
        row += 1
    bounds = np.concatenate([[0], n_bags + np.asarray(bounds_p, dtype=np.int64)])
    return Z, np.unique(bounds)
