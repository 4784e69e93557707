"""Permutation tests, effect sizes and FDR control for :mod:`.associations`.

Numbers only (numpy, scipy): Cohen's d, a prompt-level permutation test that moves all
samples of one prompt together, Benjamini–Hochberg q-values, and the within-prompt scores
of the h-space test.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..exceptions import InputError

__all__ = ["benjamini_hochberg", "cohens_d", "permutation_test", "within_prompt_scores"]


def cohens_d(x: np.ndarray, y: np.ndarray) -> float:
    """Standardised mean difference ``(mean x - mean y) / s_pooled`` (NaN if undefined)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    nx, ny = x.size, y.size
    if nx < 1 or ny < 1 or nx + ny < 3:
        return float("nan")
    ss = ((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum()
    sd = np.sqrt(ss / (nx + ny - 2))
    return float((x.mean() - y.mean()) / sd) if sd > 0 else float("nan")


def _group_d(labels: np.ndarray, n: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Cohen's d for every row of ``labels`` (…, G) over groups with counts/sums/sums of squares."""
    lab = labels.astype(np.float64)
    nc, nr = lab @ n, (1 - lab) @ n
    m1, m2 = lab @ s1, (1 - lab) @ s1
    q1, q2 = lab @ s2, (1 - lab) @ s2
    with np.errstate(invalid="ignore", divide="ignore"):
        mc, mr = m1 / nc, m2 / nr
        ss = (q1 - nc * mc**2) + (q2 - nr * mr**2)
        sd = np.sqrt(np.maximum(ss, 0) / (nc + nr - 2))
        gap = mc - mr
        # a perfect separation (no spread on either side, e.g. every concept sample captioned
        # with the attribute and no other): a continuity convention keeps d finite, with the
        # gap over the sd that one sample moved to the other side's value would give (the
        # smaller of the two sides' such sds), which puts it above every imperfect separation
        # of the same groups (one sample moved gives sqrt((m-1)/m)·sqrt(N-2) at most)
        flat = (sd <= 1e-12 * np.maximum(np.abs(gap), 1e-300)) & (gap != 0)
        flat &= (nc >= 1) & (nr >= 1) & (nc + nr > 2)
        one_moved = np.minimum((nc - 1) / np.maximum(nc, 1), (nr - 1) / np.maximum(nr, 1))
        cont = np.abs(gap) * np.sqrt(one_moved / (nc + nr - 2))
        sd = np.where(flat & (cont > 0), cont, sd)
        d = gap / sd
    return np.where(np.isfinite(d), d, np.nan)


def permutation_test(
    values: np.ndarray,
    concept: np.ndarray,
    groups: np.ndarray,
    *,
    n_permutations: int = 2000,
    alternative: Literal["greater", "two-sided"] = "greater",
    random_state: int | np.random.Generator | None = 0,
    permutations: np.ndarray | None = None,
    extra_sd: float = 0.0,
) -> tuple[float, float]:
    """Cohen's d of ``values`` (concept vs rest) and its prompt-level permutation p-value.

    Parameters
    ----------
    values
        ``(n,)`` one number per sample (a projection, or a 0/1 caption indicator).
    concept
        ``(n,)`` bool: whether the sample's prompt contains the concept. Must be constant
        within each group.
    groups
        ``(n,)`` group (prompt) of each sample: the unit that is permuted.
    n_permutations, alternative, random_state
        Number of label permutations; ``"greater"`` (one-sided) or ``"two-sided"``; the seed.
    permutations
        Optional ``(P, G)`` precomputed permutations of the group indices ``0..G-1`` (groups
        numbered in sorted order): reused across tests for speed.
    extra_sd
        Standard deviation (in units of d) of a further, independent noise in the observed
        statistic that permuting cannot reproduce; every permuted d gets a seeded
        ``N(0, extra_sd²)`` draw added (see :func:`score_associations`: the estimation
        noise of the attribute direction, seen through the concept's own component of h).

    Returns
    -------
    effect, p_value : float
    """
    values = np.asarray(values, dtype=np.float64)
    concept = np.asarray(concept, dtype=bool)
    keys, inverse = np.unique(np.asarray(groups), return_inverse=True)
    G = keys.size
    n = np.bincount(inverse, minlength=G).astype(np.float64)
    s1 = np.bincount(inverse, weights=values, minlength=G)
    s2 = np.bincount(inverse, weights=values**2, minlength=G)
    lab = np.zeros(G, dtype=bool)
    lab[inverse[concept]] = True
    if np.any(lab[inverse] != concept):
        msg = "The concept label must be the same for every sample of a group (prompt)."
        raise InputError(msg)
    d_obs = float(_group_d(lab[None, :], n, s1, s2)[0])
    if not np.isfinite(d_obs):
        return float("nan"), float("nan")
    if permutations is None:
        rng = np.random.default_rng(random_state)
        permutations = np.argsort(rng.random((n_permutations, G)), axis=1)
    d_perm = _group_d(lab[permutations], n, s1, s2)
    if extra_sd > 0:
        rng = np.random.default_rng(None if random_state is None else (random_state, 1))
        d_perm = d_perm + extra_sd * rng.standard_normal(d_perm.shape)
    if alternative == "two-sided":
        exceed = np.abs(d_perm) >= abs(d_obs) - 1e-12
    else:
        exceed = d_perm >= d_obs - 1e-12
    exceed &= np.isfinite(d_perm)
    return d_obs, float((1 + exceed.sum()) / (1 + permutations.shape[0]))


def within_prompt_scores(S: np.ndarray, has: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Projections measured from their prompt's anchor: ``x_i = s_i − m0_p`` (see the module).

    Parameters
    ----------
    S
        ``(n,)`` or ``(n, k)`` projections on one or ``k`` attribute directions.
    has
        ``(n,)`` bool: the sample's caption names the attribute.
    groups
        ``(n,)`` prompt of every sample.

    Returns
    -------
    numpy.ndarray
        Same shape as ``S``. ``m0_p`` is the mean of the prompt's samples without the
        attribute; for a prompt whose samples all have it, ``mean_p − δ`` with ``δ`` the pooled
        within-prompt difference (with minus without, weights ``n1 n0 / n``; 0 when no prompt
        has both kinds). Invariant to adding a constant per prompt.
    """
    S = np.asarray(S, dtype=np.float64)
    one = S.ndim == 1
    S2 = S[:, None] if one else S
    has = np.asarray(has, dtype=bool)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    G = int(inverse.max()) + 1
    n = np.bincount(inverse, minlength=G).astype(np.float64)
    n1 = np.bincount(inverse, weights=has.astype(np.float64), minlength=G)
    n0 = n - n1
    total = np.zeros((G, S2.shape[1]))
    np.add.at(total, inverse, S2)
    sum1 = np.zeros_like(total)
    np.add.at(sum1, inverse[has], S2[has])
    with np.errstate(invalid="ignore", divide="ignore"):
        m1 = sum1 / n1[:, None]
        m0 = (total - sum1) / n0[:, None]
        mean = total / n[:, None]
    both = (n1 > 0) & (n0 > 0)
    if both.any():
        w = (n1 * n0 / n)[both]
        delta = (w[:, None] * (m1[both] - m0[both])).sum(axis=0) / w.sum()
    else:
        delta = np.zeros(S2.shape[1])
    anchor = np.where((n0 > 0)[:, None], m0, mean - delta[None, :])
    x = S2 - anchor[inverse]
    return x[:, 0] if one else x


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (NaN p-values stay NaN and are not counted)."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = false_discovery_control(p[ok], method="bh")
    return q
