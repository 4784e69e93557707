"""Which cuts of the linkage are levels, how long each persists, and partition bags."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "condensation_levels",
    "expand_partitions",
    "ladder_boundaries",
    "ladder_counts",
    "max_statistic_threshold",
    "persistence",
    "salience",
    "smoothing_weights",
]

#: Family-wise false-positive rate of ``salient_levels_`` on data without structure.
NULL_LEVEL = 0.05
#: Half-width, in log cluster count, of the moving average of the null persistence.
SMOOTH_WIDTH = float(np.log(1.25))


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


def _at_counts(counts: np.ndarray, pers: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Persistence of the level of a tree (cluster counts ``counts``) whose count is closest
    to every ``query`` count in log scale (ties: the finer level)."""
    gap = np.abs(np.log(counts)[None, :] - np.log(query)[:, None])
    gap = gap - 1e-9 * counts[None, :]  # ties: the larger count
    return pers[np.argmin(gap, axis=1)]


def salience(
    counts: np.ndarray,
    pers: np.ndarray,
    null_curves: list[tuple[np.ndarray, np.ndarray]],
    n_points: int,
    level: float = NULL_LEVEL,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Level salience against a permutation null, with a max-ratio threshold over levels.

    For every level with ``2 <= k < n_points`` clusters, the reference is the mean null
    persistence at the same cluster count over the draws (floored at the median positive null
    persistence, so levels where every null merges at once do not divide by zero); salience is
    persistence / reference. Each null draw's statistic is the largest salience it reaches at
    any of those levels (measured against the mean of the *other* draws); the threshold is the
    ``1 - level`` quantile of that max statistic (:func:`max_statistic_threshold`), so a level
    is salient only if it beats what noise reaches at *any* level once the trend of persistence
    with k (coarse levels persist longer, even in noise) is divided out: a max-statistic
    permutation test over levels with family-wise false-positive rate ``level``.

    Returns
    -------
    reference : ndarray, per level (nan outside the tested range)
    ratio : ndarray, per level (nan outside the tested range)
    threshold : float (nan without null draws)
    """
    tested = (counts >= 2) & (counts < n_points)
    reference = np.full(counts.size, np.nan)
    ratio = np.full(counts.size, np.nan)
    if not null_curves or not tested.any():
        return reference, ratio, float("nan")
    draws = np.vstack([_at_counts(k, p, counts[tested]) for k, p in null_curves])
    draws = np.where(np.isfinite(draws), draws, np.nan)
    positive = draws[draws > 0]
    floor = float(np.median(positive)) if positive.size else 1.0
    smooth = smoothing_weights(counts[tested])
    ref = np.maximum(smooth @ np.nan_to_num(np.nanmean(draws, axis=0), nan=floor), floor)
    reference[tested] = ref
    ratio[tested] = pers[tested] / ref
    # each draw against the mean of the *other* draws, as the data are against all of them
    n_draws = draws.shape[0]
    if n_draws > 1:
        others = (np.nansum(draws, axis=0) - np.nan_to_num(draws)) / (n_draws - 1)
        others = np.maximum(np.nan_to_num(others, nan=floor) @ smooth.T, floor)
        draw_max = np.nanmax(draws / others, axis=1)
    else:
        draw_max = np.nanmax(draws / ref, axis=1)
    return reference, ratio, max_statistic_threshold(draw_max, level)


def smoothing_weights(counts: np.ndarray, width: float = SMOOTH_WIDTH) -> np.ndarray:
    """Row-stochastic moving average over levels whose cluster counts are within a factor
    ``exp(width)`` of each other (in log scale).

    Null persistence at one cluster count varies a lot between draws (a level of noise often
    merges at once, sometimes survives long); its trend with k is smooth. Averaging the null
    over neighbouring counts estimates that trend from many levels instead of ``n_null``
    values: with 5 draws and no smoothing the reference at one level was noisy enough to make
    k = 5 of a uniform cube look salient.
    """
    logc = np.log(np.asarray(counts, dtype=np.float64))
    W = (np.abs(logc[:, None] - logc[None, :]) <= width + 1e-12).astype(np.float64)
    return W / W.sum(axis=1, keepdims=True)


def max_statistic_threshold(draw_max: np.ndarray, level: float = NULL_LEVEL) -> float:
    """Upper ``1 - level`` prediction bound for the null's max statistic, from a few draws.

    With ``B`` draws, "beat every draw" is a permutation test whose family-wise false-positive
    rate is ``1 / (B + 1)`` (1 in 6 for 5 draws): on pure noise a level passes every sixth
    dataset. The maximum of a statistic over many levels is close to Gumbel-distributed
    (extreme-value theory), so the log maxima are treated as a Gumbel sample and the bound is
    ``mean + c · sd`` of them, with ``c`` the exact prediction factor for ``B`` Gumbel draws
    (a pivot of the location-scale family, computed once by simulation): a fresh null draw
    exceeds it with probability ``level``, the estimation error of mean and sd included. The
    threshold is never below the largest draw; with fewer than 3 draws it is the largest draw.
    """
    kept = draw_max[np.isfinite(draw_max) & (draw_max > 0)]
    if kept.size == 0:
        return float("nan")
    finite = np.log(kept)
    top = float(kept.max())
    if finite.size < 3:
        return top
    factor = _gumbel_prediction_factor(int(finite.size), float(level))
    bound = float(np.mean(finite)) + factor * float(np.std(finite, ddof=1))
    return max(top, float(np.exp(bound)))


@lru_cache(maxsize=64)
def _gumbel_prediction_factor(n_draws: int, level: float, n_sim: int = 40_000) -> float:
    """``c`` with P(G₀ > mean(G₁..Gₙ) + c · sd(G₁..Gₙ)) = level for i.i.d. Gumbel G."""
    rng = np.random.default_rng(20_061)
    G = rng.gumbel(size=(n_sim, n_draws))
    fresh = rng.gumbel(size=n_sim)
    z = (fresh - G.mean(axis=1)) / G.std(axis=1, ddof=1)
    return float(np.quantile(z, 1.0 - level))
