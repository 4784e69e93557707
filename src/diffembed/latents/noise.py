"""Noise of the association tests' statistics, estimated from split halves of the seeds.

Numbers only (numpy): the random halvings of the samples by unit (seed), the attribute
directions read from each half, and three standard deviations (in units of Cohen's d) that
:func:`.associations.score_associations` adds to every permuted d:

* :func:`direction_sd` — the noise of the attribute direction, never below the sampling floor;
* :func:`seed_sd` — the variance of the concept effect over seeds beyond the permutation null;
* :func:`seed_floor` — the least such variance when the phrasings of a seed repeat its image.
"""

from __future__ import annotations

import numpy as np

from .permutation import _group_d, cohens_d, within_prompt_scores

__all__ = ["direction_sd", "seed_floor", "seed_sd", "split_directions", "split_masks"]


def split_masks(units: np.ndarray, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_splits, n)`` bool: random halvings of the samples by unit (True: first half).

    Empty (``(0, n)``) when there are fewer than two units.
    """
    keys, inverse = np.unique(units, return_inverse=True)
    if keys.size < 2:
        return np.zeros((0, inverse.size), dtype=bool)
    halves = [rng.permutation(keys.size)[: keys.size // 2] for _ in range(n_splits)]
    return np.array([np.isin(inverse, half) for half in halves])


def split_directions(
    H: np.ndarray, Z: np.ndarray, groups: np.ndarray, masks: np.ndarray, *, method: str,
    alpha: float,
) -> np.ndarray:
    """``(n_splits, 2, n_words, D)``: unit directions read from each half of every split.

    NaN where a word has no contrast in a half.
    """
    from .directions import _mean_difference, _ridge

    out = np.full((masks.shape[0], 2, Z.shape[1], H.shape[1]), np.nan)
    for k, first in enumerate(masks):
        for side, part in enumerate((first, ~first)):
            Zp = Z[part]
            ok = (Zp.sum(axis=0) >= 1) & (Zp.sum(axis=0) <= part.sum() - 1)
            if not ok.any():
                continue
            fit = _ridge if method == "ridge" else _mean_difference
            args = (alpha,) if method == "ridge" else ()
            raw = fit(H[part], Zp[:, ok], groups[part], *args)
            norm = np.linalg.norm(raw, axis=1, keepdims=True)
            out[k, side, ok] = raw / np.where(norm > 0, norm, np.nan)
    return out


def _mean_gap(L: np.ndarray, n: np.ndarray, s1: np.ndarray) -> np.ndarray:
    """Concept-minus-rest mean for every label row of ``L`` (NaN where a side is empty)."""
    Lf = L.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (Lf @ s1) / (Lf @ n) - ((1 - Lf) @ s1) / ((1 - Lf) @ n)


def seed_sd(
    values: np.ndarray, concept: np.ndarray, groups: np.ndarray, masks: np.ndarray,
    perms: np.ndarray,
) -> float:
    """sd (in units of d) of the concept effect across units (seeds), beyond the permutation null.

    Every prompt is generated from the same seeds, so the permutation of prompts holds the
    seeds fixed: an effect that exists for these seeds only (a seed × concept interaction,
    large with few seeds) is not in its null. For every split of the units into halves, the
    concept-minus-baseline mean of each half, in units of the full data's pooled sd, gives
    ``(g_A − g_B)² / 4``, an estimate of the variance of d over units; its excess over the same
    quantity for permuted prompt sets (whose share the null already holds) is returned.
    """
    if masks.shape[0] == 0:
        return 0.0
    keys, inverse = np.unique(groups, return_inverse=True)
    lab = np.zeros(keys.size, dtype=bool)
    lab[inverse[concept]] = True
    L = np.vstack([lab[None, :], lab[perms]])
    v = np.asarray(values, dtype=np.float64)

    def sums(part: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = inverse[part]
        return (np.bincount(g, minlength=keys.size).astype(np.float64),
                np.bincount(g, weights=v[part], minlength=keys.size),
                np.bincount(g, weights=v[part] ** 2, minlength=keys.size))  # fmt: skip

    n, s1, s2 = sums(np.ones(v.size, dtype=bool))
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = _mean_gap(L, n, s1) / _group_d(L, n, s1, s2)  # the pooled sd of every row
    out = []
    for first in masks:
        gap_a = _mean_gap(L, *sums(first)[:2])
        gap_b = _mean_gap(L, *sums(~first)[:2])
        out.append(((gap_a - gap_b) / sd) ** 2 / 4)
    V = np.array(out)
    ok = np.isfinite(V)
    counts = ok.sum(axis=0)
    if counts[0] == 0 or not counts[1:].any():
        return 0.0
    mean = np.where(ok, V, 0).sum(axis=0) / np.maximum(counts, 1)
    excess = mean[0] - float(np.median(mean[1:][counts[1:] > 0]))
    return float(np.sqrt(max(excess, 0.0)))


def seed_floor(values: np.ndarray, concept: np.ndarray, cells: np.ndarray,
                units: np.ndarray) -> float:
    """Least sd (in units of d) of the concept effect over seeds, from how alike the phrasings
    of one seed are.

    When the phrasings of a prompt family barely change the image a seed gives (a small
    model, or prompts that differ in wording only), a concept has as many independent draws
    as seeds, not seeds × phrasings, and the split-half estimate of :func:`seed_sd` cannot
    see a variance that the few seeds happen not to show (every red sample large at 8 seeds,
    red samples large at 62 % of 8 other seeds). With ``ρ`` the intra-class correlation of
    ``values`` within ``cells`` (same concept word, same seed; one-way ANOVA, clipped to
    [0, 1]), the gap between the concept's mean and the baseline's has a seed variance of at
    least ``ρ (1 / S_c + 1 / S_r)`` pooled variances, ``S_c`` the concept's seeds and ``S_r``
    the baseline's cells: its square root is returned (0 when no cell holds two samples).
    """
    v = np.asarray(values, dtype=np.float64)
    keys, inverse = np.unique(cells, return_inverse=True)
    m = np.bincount(inverse).astype(np.float64)
    k, n = keys.size, v.size
    if k < 2 or n - k < 1 or m.max() < 2:
        return 0.0
    means = np.bincount(inverse, weights=v) / m
    msb = float((m * (means - v.mean()) ** 2).sum() / (k - 1))
    msw = float(((v - means[inverse]) ** 2).sum() / (n - k))
    m0 = (n - (m**2).sum() / n) / (k - 1)  # the mean cell size of an unbalanced design
    if msb + (m0 - 1) * msw <= 0:
        return 0.0
    rho = min(max((msb - msw) / (msb + (m0 - 1) * msw), 0.0), 1.0)
    s_c = np.unique(units[concept]).size
    s_r = np.unique(cells[~concept]).size
    if s_c == 0 or s_r == 0:
        return 0.0
    return float(np.sqrt(rho * (1 / s_c + 1 / s_r)))


def direction_sd(
    H: np.ndarray, has: np.ndarray, groups: np.ndarray, pool: np.ndarray, in_c: np.ndarray,
    halves: np.ndarray, floor: float,
) -> float:
    """sd (in units of d) of ``effect_hspace`` from the noise of the direction (split halves).

    ``halves``: ``(n_splits, 2, D)`` directions from the two halves; ``(d_A − d_B)² / 4``
    averaged over the splits estimates the variance of d with the full data's direction
    (each half has twice its noise). Never below ``floor``.
    """
    ok = np.all(np.isfinite(halves), axis=(1, 2))
    if not ok.any():
        return floor
    U = halves[ok].reshape(-1, H.shape[1])  # (2 k, D)
    X = within_prompt_scores(H @ U.T, has, groups)[pool]
    c = in_c[pool]
    d = np.array([cohens_d(X[c, j], X[~c, j]) for j in range(U.shape[0])]).reshape(-1, 2)
    diff = d[:, 0] - d[:, 1]
    diff = diff[np.isfinite(diff)]
    est = float(np.sqrt(np.mean(diff**2) / 4)) if diff.size else 0.0
    return max(est, floor)
