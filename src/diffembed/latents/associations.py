"""Concept × attribute associations read out of h-space, with permutation tests and FDR control.

For a *concept* word ``c`` of the prompts (``square``) and an *attribute* word ``a`` of the
captions of the generated images (``blue``):

1. **Attribute direction.** ``u_a`` is the latent direction of ``a`` (:func:`.concept_directions`
   on the captions, ``mean_difference`` or ``ridge``), read from the variation *within* each
   prompt (h and caption indicators centred per prompt), so that the prompts' own components of
   h (which dominate it) cannot leak into ``u_a`` through a chance imbalance of captions.
2. **Projection.** ``s_i = h_i · u_a`` for every sample.
3. **Effect.** Cohen's d of ``s`` between the samples whose prompt contains ``c`` and the
   *baseline*: the samples whose prompt does not contain ``c`` but is of the same kind, i.e.
   mentions a word of the same family as ``c`` (``"a circle"`` is the baseline of
   ``"a square"``; ``"a red shape"`` is not). Without ``families`` the baseline is every sample
   whose prompt does not contain ``c``. ``d = (mean_c - mean_rest) / s_pooled``, with
   ``s_pooled² = ((n_c - 1) s_c² + (n_rest - 1) s_rest²) / (n_c + n_rest - 2)``.
4. **p-value.** The concept labels are permuted *at the prompt level*: all samples of one prompt
   move together, so seeds of one prompt (which share that prompt's component of h) never count
   as independent evidence. One-sided (``alternative="greater"``, positive associations: the
   default) or two-sided (``|d|``). ``p = (1 + #{d_perm >= d_obs}) / (1 + n_permutations)``.
   **Direction noise.** All prompts of a concept share the concept's own component of h, and
   the estimation noise of ``u_a`` (large for a rare attribute) projects onto it as one shift
   of the whole concept, which permuting prompts cannot reproduce. Its size is estimated by
   split halves: the samples are halved at random by seed (``units``; samples of one seed
   share their starting noise across prompts), ``u_a`` is read from each half, and
   ``(w · (u_A - u_B))² / 4`` (``w`` the concept-minus-baseline mean of h), averaged over
   ``n_splits`` halvings, estimates the variance of the shift; its excess over the same
   quantity for permuted prompt sets (already in the permutation null) gives ``direction_sd``
   (in units of d). Every permuted d gets an independent ``N(0, direction_sd²)`` draw added
   before the comparison.
5. **q-value.** Benjamini–Hochberg over all tested pairs
   (:func:`scipy.stats.false_discovery_control`).
6. **Significant** = ``q < q_threshold`` **and** ``effect >= min_effect`` (default 0.5, a
   "medium" Cohen's d). Why both: one planted association induces weaker ones by conservation
   (if squares are blue 90 % of the time they are rarely red, so the other shapes look
   relatively more red than their baseline). With enough samples those secondary effects are
   statistically real (small q) but small (d ≈ 0.1–0.3 against ≈ 1.5 for a planted 90 %
   association on shapes); the effect-size floor separates the two. With
   ``caption_agreement=True`` (default) a pair also needs the captions to point the same way
   (``caption_rate_concept > caption_rate_rest``; ``≠`` two-sided): an h-space effect that
   the generated images contradict is an artefact of the direction, not an association of
   the model's outputs.

Pairs whose concept and attribute are the same word, or of the same family, are not tested.
As an independent check that does not use h at all, the caption rates
``P(a in caption | prompt has c)`` and ``P(a in caption | baseline)`` are reported, with their
own prompt-level permutation p-value (``caption_p_value``).

Only numpy, scipy and scikit-learn are used for the numbers; the table is a
:class:`pyarrow.Table` (``.to_pandas()``, ``.to_pylist()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..exceptions import InputError
from .directions import STOP_WORDS, concept_directions, flatten_h, word_indicator

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "COLUMNS",
    "benjamini_hochberg",
    "cohens_d",
    "family_map",
    "permutation_test",
    "score_associations",
]

#: The first columns of the table, in this order.
COLUMNS = ("concept", "attribute", "effect", "p_value", "q_value")
#: Further columns, after :data:`COLUMNS`.
EXTRA_COLUMNS = (
    "n_concept",
    "n_rest",
    "n_prompts_concept",
    "n_prompts_rest",
    "caption_rate_concept",
    "caption_rate_rest",
    "caption_p_value",
    "direction_sd",
    "significant",
)


def family_map(families: Mapping[str, Any] | None) -> dict[str, str]:
    """``word → family`` from ``{family: [words]}`` or ``{word: family}``."""
    if families is None:
        return {}
    out: dict[str, str] = {}
    for key, value in families.items():
        if isinstance(value, str):
            out[str(key).lower()] = value
        else:
            for word in value:
                out[str(word).lower()] = str(key)
    return out


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
        d = (mc - mr) / sd
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


def _mean_differences(
    H: np.ndarray, concept: np.ndarray, groups: np.ndarray, perms: np.ndarray, n_reference: int
) -> np.ndarray:
    """``(1 + n_reference, D)``: concept-minus-baseline mean of h, then for permuted prompt sets."""
    keys, inverse = np.unique(groups, return_inverse=True)
    counts = np.bincount(inverse, minlength=keys.size).astype(np.float64)
    sums = np.zeros((keys.size, H.shape[1]))
    np.add.at(sums, inverse, H)
    lab = np.zeros(keys.size, dtype=bool)
    lab[inverse[concept]] = True
    L = np.vstack([lab[None, :], lab[perms[:n_reference]]]).astype(np.float64)
    return (L @ sums) / (L @ counts)[:, None] - ((1 - L) @ sums) / ((1 - L) @ counts)[:, None]


def _split_differences(
    H: np.ndarray, Z: np.ndarray, groups: np.ndarray, units: np.ndarray, *, method: str,
    alpha: float, n_splits: int, rng: np.random.Generator,
) -> np.ndarray:
    """``(n_splits, n_words, D)``: unit direction from one half of the units minus the other's.

    The units (seeds, when known) are split at random into halves; NaN where a word has no
    contrast in a half.
    """
    from .directions import _mean_difference, _ridge

    keys, inverse = np.unique(units, return_inverse=True)
    out = np.full((n_splits, Z.shape[1], H.shape[1]), np.nan)
    if keys.size < 2:
        return out
    for k in range(n_splits):
        half = rng.permutation(keys.size)[: keys.size // 2]
        first = np.isin(inverse, half)
        units_dirs = []
        for part in (first, ~first):
            Zp = Z[part]
            ok = (Zp.sum(axis=0) >= 1) & (Zp.sum(axis=0) <= part.sum() - 1)
            raw = np.full((Z.shape[1], H.shape[1]), np.nan)
            if ok.any():
                fit = _ridge if method == "ridge" else _mean_difference
                args = (alpha,) if method == "ridge" else ()
                raw[ok] = fit(H[part], Zp[:, ok], groups[part], *args)
            norm = np.linalg.norm(raw, axis=1, keepdims=True)
            units_dirs.append(raw / np.where(norm > 0, norm, np.nan))
        out[k] = units_dirs[0] - units_dirs[1]
    return out


def _direction_sd(W: np.ndarray, diffs: np.ndarray, sd: float) -> float:
    """sd (in units of d) of the concept's shift along a noisy direction, from split halves.

    ``(w · (u_A - u_B))² / 4`` estimates the variance of ``w · u`` (each half has twice the
    full data's noise); its excess over the median for permuted prompt sets (whose share the
    permutation null already holds) is the concept's own.
    """
    ok = np.all(np.isfinite(diffs), axis=1)
    if not ok.any() or not sd > 0:
        return 0.0
    v = np.mean((W @ diffs[ok].T) ** 2, axis=1) / 4
    excess = v[0] - float(np.median(v[1:])) if v.size > 1 else v[0]
    return float(np.sqrt(max(excess, 0.0)) / sd)


def _default_units(result: Any, n: int) -> np.ndarray:
    """The seed of every sample when ``result`` records it (samples of one seed share their
    starting noise across prompts, so they are not independent), else every sample alone."""
    table = getattr(result, "table", None)
    if isinstance(table, Mapping) and "seed" in table and len(table["seed"]) == n:
        seeds = np.asarray(table["seed"])
        if np.unique(seeds).size >= 2:
            return seeds
    return np.arange(n)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (NaN p-values stay NaN and are not counted)."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = false_discovery_control(p[ok], method="bh")
    return q


def _texts(result: Any, prompts: Any, captions: Any) -> tuple[np.ndarray, list[str], list[str]]:
    """h, prompts and captions from an HSpaceResult-like object and/or the arguments."""
    if hasattr(result, "h"):
        h = np.asarray(result.h)
        table = getattr(result, "table", None)
        table = {} if table is None else table
        if prompts is None and "prompt" in table:
            prompts = list(table["prompt"])
        if captions is None:
            captions = getattr(result, "captions", None)
            if captions is None and "caption" in table:
                captions = list(table["caption"])
    else:
        h = np.asarray(result)
    if prompts is None or captions is None:
        which = "prompts" if prompts is None else "captions"
        msg = (
            f"No {which} given: pass {which}= (one text per sample), or an HSpaceResult that "
            f"holds them (captions come from a classifier of the generated images)."
        )
        raise InputError(msg)
    prompts, captions = [str(p) for p in prompts], [str(c) for c in captions]
    if not len(prompts) == len(captions) == h.shape[0]:
        msg = (
            f"h has {h.shape[0]} samples, prompts {len(prompts)} and captions {len(captions)}: "
            "give one prompt and one caption per sample."
        )
        raise InputError(msg)
    return h, prompts, captions


def _select(
    words: list[str], Z: np.ndarray, wanted: Iterable[str] | None, role: str
) -> tuple[list[str], np.ndarray]:
    if wanted is None:
        return words, Z
    wanted = [str(w).lower() for w in wanted]
    missing = [w for w in wanted if w not in words]
    if missing:
        msg = (
            f"The {role} {missing[:5]} never occur (at least twice) in the {role}s' texts; "
            f"words found: {words[:30]}."
        )
        raise InputError(msg)
    idx = [words.index(w) for w in wanted]
    return wanted, Z[:, idx]


def score_associations(
    h_or_result: Any,
    prompts: Sequence[str] | None = None,
    captions: Sequence[str] | None = None,
    *,
    concepts: Iterable[str] | None = None,
    attributes: Iterable[str] | None = None,
    families: Mapping[str, Any] | None = None,
    method: Literal["mean_difference", "ridge"] = "mean_difference",
    alpha: float = 1.0,
    timestep: int | None = None,
    n_permutations: int = 2000,
    alternative: Literal["greater", "two-sided"] = "greater",
    q_threshold: float = 0.05,
    min_effect: float = 0.5,
    caption_agreement: bool = True,
    min_count: int = 2,
    stop_words: Iterable[str] | None = STOP_WORDS,
    units: Sequence[Any] | np.ndarray | None = None,
    n_splits: int = 16,
    random_state: int | None = 0,
) -> pa.Table:
    """Score every concept × attribute pair: effect, permutation p-value, BH q-value.

    Parameters
    ----------
    h_or_result
        ``(n, d)`` or ``(n, n_timesteps, d)`` h-vectors, or an :class:`~.hspace.HSpaceResult`
        (its ``h``, its prompts and, when it has them, the captions of its images).
    prompts, captions
        One prompt and one caption (of the generated image) per sample.
    concepts, attributes
        Words to test (default: every word of the prompts / captions in at least ``min_count``
        samples, :data:`~.directions.STOP_WORDS` removed; with ``families``, only the words
        that belong to a family).
    families
        ``{family: [words]}`` (e.g. ``shapes.ATTRIBUTES``) or ``{word: family}``. Defines the
        baseline of a concept (prompts of the same family) and the pairs not tested (same
        family). Default: no families (baseline: all other prompts).
    method, alpha
        How attribute directions are read (:func:`.concept_directions`).
    timestep
        Use the h-vectors of one recorded timestep (index); default: all, concatenated.
    n_permutations
        Prompt-level label permutations per pair (the smallest p is ``1/(1+n_permutations)``).
    alternative
        ``"greater"`` (positive associations, default) or ``"two-sided"``.
    q_threshold, min_effect
        ``significant = q < q_threshold and effect >= min_effect`` (``|effect|`` two-sided).
    caption_agreement
        Also require the caption rates to differ in the effect's direction.
    min_count
        Least samples with (and without) a word for it to be tested.
    stop_words
        Words never treated as concepts or attributes.
    units, n_splits
        The direction noise is estimated from ``n_splits`` random halvings of the samples
        by unit: the seed of each sample (default when the result records seeds: samples
        of one seed share their starting noise across prompts), else each sample.
    random_state
        Seed of the permutations and the splits.

    Returns
    -------
    pyarrow.Table
        One row per tested pair, sorted by q then p: :data:`COLUMNS` (``concept``,
        ``attribute``, ``effect``, ``p_value``, ``q_value``) then ``n_concept``, ``n_rest``
        (samples), ``n_prompts_concept``, ``n_prompts_rest``, ``caption_rate_concept``,
        ``caption_rate_rest``, ``caption_p_value``, ``direction_sd`` and ``significant``.

    Raises
    ------
    InputError
        Mismatched lengths, unknown words, a bad parameter, no pair to test.
    """
    import pyarrow as pa

    if n_permutations < 1:
        msg = f"n_permutations={n_permutations} must be at least 1 (2000 is a good default)."
        raise InputError(msg)
    if alternative not in ("greater", "two-sided"):
        msg = f"alternative={alternative!r} is not valid: choose 'greater' or 'two-sided'."
        raise InputError(msg)
    if not 0 < q_threshold < 1:
        msg = f"q_threshold={q_threshold} must lie in (0, 1) (0.05 is usual)."
        raise InputError(msg)
    h, prompts, captions = _texts(h_or_result, prompts, captions)
    H = flatten_h(h, timestep=timestep)
    fam = family_map(families)
    c_words, Zc = word_indicator(prompts, min_count=min_count, stop_words=stop_words)
    a_words, Za = word_indicator(captions, min_count=min_count, stop_words=stop_words)
    if fam:  # with families, the default words are the family words
        concepts = [w for w in c_words if w in fam] if concepts is None else concepts
        attributes = [w for w in a_words if w in fam] if attributes is None else attributes
    c_words, Zc = _select(c_words, Zc, concepts, "concept")
    a_words, Za = _select(a_words, Za, attributes, "attribute")
    groups, inverse = np.unique(np.asarray(prompts, dtype=object).astype(str), return_inverse=True)
    G = groups.size
    if G < 2:
        msg = f"All {len(prompts)} samples have the same prompt; give several different prompts."
        raise InputError(msg)
    all_a, all_Za = word_indicator(captions, min_count=min_count, stop_words=stop_words)
    keep = [j for j, w in enumerate(all_a) if all_Za[:, j].sum() <= len(captions) - min_count]
    if not keep or not a_words:
        msg = (
            f"The captions do not vary: no caption word is in at least min_count={min_count} "
            f"samples and missing from as many (e.g. every caption is {captions[0]!r}). The model "
            "generates (or the classifier sees) the same thing for every prompt; train it longer "
            "or give more samples."
        )
        raise InputError(msg)
    dirs = concept_directions(
        H, all_Za[:, keep], words=[all_a[j] for j in keep], method=method, alpha=alpha,
        min_count=min_count, groups=inverse,
    )  # fmt: skip
    rng = np.random.default_rng(random_state)
    if units is None:
        units = _default_units(h_or_result, len(prompts))
    units = np.asarray(units)
    if units.shape != (len(prompts),):
        msg = f"units has shape {units.shape}; give one unit (e.g. the seed) per sample."
        raise InputError(msg)
    split = _split_differences(
        H, all_Za[:, keep], inverse, units, method=method, alpha=alpha, n_splits=n_splits,
        rng=np.random.default_rng(None if random_state is None else (random_state, 2)),
    )  # fmt: skip
    prompt_words = [set(w) for w in (word_indicator([p], stop_words=stop_words)[0] for p in groups)]
    rows: list[dict[str, Any]] = []
    for ci, c in enumerate(c_words):
        in_c = Zc[:, ci]
        family = fam.get(c)
        if family is not None:
            same_kind = np.array([any(fam.get(w) == family for w in ws) for ws in prompt_words])
            pool = same_kind[inverse]
        else:
            pool = np.ones(len(prompts), dtype=bool)
        rest = pool & ~in_c
        pool_groups = np.unique(inverse[pool])
        if not in_c.any() or not rest.any() or pool_groups.size < 2:
            continue
        perms = np.argsort(rng.random((n_permutations, pool_groups.size)), axis=1)
        W = _mean_differences(H[pool], in_c[pool], inverse[pool], perms, 200)
        for ai, a in enumerate(a_words):
            if a == c or (family is not None and fam.get(a) == family) or a not in dirs:
                continue
            j = dirs.index[a]
            s = H[pool] @ dirs.vectors[j]
            sd = np.sqrt(
                (((s[in_c[pool]] - s[in_c[pool]].mean()) ** 2).sum()
                 + ((s[~in_c[pool]] - s[~in_c[pool]].mean()) ** 2).sum()) / max(s.size - 2, 1)
            )  # fmt: skip
            extra = _direction_sd(W, split[:, keep.index(all_a.index(a))], sd)
            effect, p = permutation_test(
                s, in_c[pool], inverse[pool], alternative=alternative, permutations=perms,
                extra_sd=float(extra) if np.isfinite(extra) else 0.0, random_state=random_state,
            )  # fmt: skip
            ind = Za[pool, ai].astype(np.float64)
            _, p_cap = permutation_test(
                ind, in_c[pool], inverse[pool], alternative=alternative, permutations=perms
            )
            rows.append({
                "concept": c,
                "attribute": a,
                "effect": effect,
                "p_value": p,
                "n_concept": int(in_c.sum()),
                "n_rest": int(rest.sum()),
                "n_prompts_concept": int(np.unique(inverse[in_c]).size),
                "n_prompts_rest": int(np.unique(inverse[rest]).size),
                "caption_rate_concept": float(Za[in_c, ai].mean()),
                "caption_rate_rest": float(Za[rest, ai].mean()),
                "caption_p_value": p_cap,
                "direction_sd": float(extra) if np.isfinite(extra) else float("nan"),
            })  # fmt: skip
    if not rows:
        msg = (
            f"No concept × attribute pair could be tested (concepts {c_words[:10]}, attributes "
            f"{a_words[:10]}): each concept needs samples with and without it among prompts of "
            "its kind, and pairs of one family are skipped."
        )
        raise InputError(msg)
    q = benjamini_hochberg(np.array([r["p_value"] for r in rows]))
    for r, qv in zip(rows, q, strict=True):
        r["q_value"] = float(qv)
        e = abs(r["effect"]) if alternative == "two-sided" else r["effect"]
        gap = r["caption_rate_concept"] - r["caption_rate_rest"]
        if alternative == "two-sided":
            agrees = gap != 0 and np.sign(gap) == np.sign(r["effect"])
        else:
            agrees = gap > 0
        r["significant"] = bool(
            np.isfinite(qv) and qv < q_threshold and e >= min_effect
            and (agrees or not caption_agreement)
        )  # fmt: skip
    order = sorted(
        range(len(rows)),
        key=lambda i: (
            np.nan_to_num(rows[i]["q_value"], nan=2.0),
            np.nan_to_num(rows[i]["p_value"], nan=2.0),
            i,
        ),
    )
    names = [*COLUMNS, *EXTRA_COLUMNS]
    return pa.table({k: [rows[i][k] for i in order] for k in names})
