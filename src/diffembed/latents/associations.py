"""Concept × attribute associations: an h-space test and a caption test, with FDR control.

For a *concept* word ``c`` of the prompts (``square``) and an *attribute* word ``a`` of the
captions of the generated images (``blue``), two tests are run, each on the samples of the
concept's prompts against the *baseline*: the samples whose prompt does not contain ``c`` but
is of the same kind, i.e. mentions a word of the same family as ``c`` (``"a circle"`` is the
baseline of ``"a square"``; ``"a red shape"`` is not). Without ``families`` the baseline is
every sample whose prompt does not contain ``c``.

**Caption test** (no h involved). ``y_i = 1`` when the caption of sample ``i`` names ``a``.
``effect_captions`` is Cohen's d of ``y`` (concept vs baseline); ``caption_rate_concept`` and
``caption_rate_rest`` are the two means.

**h-space test, within prompt.**

1. ``u_a``, the latent direction of ``a`` (:func:`.concept_directions`, ``mean_difference`` or
   ``ridge``), is read from the variation *within* each prompt (h and caption indicators
   centred per prompt).
2. ``s_i = h_i · u_a`` for every sample.
3. Every sample is measured from its own prompt's *anchor*: ``x_i = s_i − m0_p``, where
   ``m0_p`` is the mean ``s`` of the samples of the same prompt ``p`` whose caption lacks
   ``a`` (when every sample of ``p`` shows ``a``: ``m0_p = mean_p(s) − δ``, with ``δ`` the
   pooled within-prompt difference between samples with and without ``a``). Adding any
   constant to all samples of a prompt leaves ``x`` unchanged, so differences *between
   prompts* (a concept's own component of h that happens to lie along ``u_a``, which
   dominated the earlier between-prompt statistic) cannot create an effect: only how many
   samples of a prompt sit on the attribute's side, and how far, count.
4. ``effect_hspace`` is Cohen's d of ``x`` between the concept's samples and the baseline.
   It is ≈ the caption effect when h separates the attribute well, and ≈ 0 when the
   captions name the attribute for samples that h does not distinguish (a captioner that
   reads noise).
5. The test needs a *contrast* in the concept's prompts: samples with and samples without
   the attribute in one prompt, each side from at least ``min_count`` units (seeds). When
   every sample of the concept shows it (what trained models draw for most strong
   associations) or none does, the concept's ``x`` would rest on ``δ`` from *other* prompts
   alone; when the exceptions are the phrasings of one seed, it would rest on one draw (a
   model at 95 % draws its few exceptions as boundary cases, which h barely tells from the
   rest). Either way it says nothing about the concept: there is no h-space test
   (``effect_hspace`` and ``p_hspace`` NaN) and, with ``evidence="both"``, the captions
   decide (``agreement`` ``"captions (no h-space test)"``).

**p-values.** Both tests permute the concept labels *at the prompt level*: all samples of one
prompt move together, so the seeds of a prompt are never counted as independent evidence.
One-sided (``alternative="greater"``, the default) or two-sided (``|d|``);
``p = (1 + #{d_perm >= d_obs}) / (1 + n_permutations)``. **Direction noise.** ``u_a`` is an
estimate; its noise is measured by split halves (the samples halved at random by *unit*, the
seed when known, ``u_a`` read from each half, ``effect_hspace`` recomputed with each, the
variance of the difference over ``n_splits`` halvings divided by 4) and never taken below the
sampling floor ``sqrt(1 / n_a + 1 / (n − n_a))`` (the standard error of a standardised
difference between the ``n_a`` samples with the attribute and the others: a rare attribute
always has a noisy direction, even when a split cannot see it). Every permuted h-space d gets
an independent ``N(0, direction_sd²)`` draw added, which can only make the test more
conservative. **Seed noise.** Every prompt is generated from the same seeds, so permuting
prompts holds the seeds fixed, and an effect that exists for these seeds only is not in that
null. For both tests, the concept-minus-baseline gap of each half of every split (in units of
the pooled sd) gives ``(g_A − g_B)² / 4``; its excess over permuted prompt sets estimates the
variance of d over seeds (``seed_sd_hspace``, ``seed_sd_captions``), added the same way (0
when no unit is shared by two prompts). It is never taken below ``sqrt(ρ (1/S_c + 1/S_r))``
(``ρ`` the intra-class correlation within cells of one concept word and one seed, ``S_c`` the
concept's seeds, ``S_r`` the baseline's cells): when the phrasings of a seed give nearly the
same image, a concept has as many independent draws as seeds, and the split halves of a few
seeds cannot see a variance they happen not to show.

**q-values.** Benjamini–Hochberg, separately over the h-space p-values (``q_hspace``) and the
caption p-values (``q_captions``) of all tested pairs.

**Significance and evidence.** Each test *holds* when its ``q < q_threshold`` and its effect
``>= min_effect`` (default 0.5, a "medium" d: one planted association induces weaker ones by
conservation — if squares are blue 90 % of the time, the other shapes look relatively less
blue — which are statistically real but small). ``evidence`` chooses what ``significant``
means: ``"hspace"`` (the h-space test holds; with ``caption_agreement`` the caption rates must
also point the same way), ``"captions"`` (the caption test holds) or ``"both"`` (both hold:
the default). The columns ``effect``, ``p_value`` and ``q_value`` follow the chosen evidence:
the h-space or caption values, or for ``both`` the weaker of the two (the smaller effect, the
larger p and q: an intersection–union test, valid whenever each test is). ``agreement`` says
which tests hold: ``both``, ``hspace only``, ``captions only`` or ``neither``.

Pairs whose concept and attribute are the same word, or of the same family, are not tested.
Only numpy, scipy and scikit-learn are used for the numbers; the table is a
:class:`pyarrow.Table` (``.to_pandas()``, ``.to_pylist()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..exceptions import InputError
from .directions import STOP_WORDS, concept_directions, flatten_h, word_indicator
from .noise import direction_sd, seed_floor, seed_sd, split_directions, split_masks
from .permutation import (
    benjamini_hochberg,
    cohens_d,
    permutation_test,
    within_prompt_scores,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "COLUMNS",
    "EVIDENCE",
    "EXTRA_COLUMNS",
    "benjamini_hochberg",
    "cohens_d",
    "family_map",
    "permutation_test",
    "reverses",
    "score_associations",
    "within_prompt_scores",
]

#: The first columns of the table, in this order (``effect``, ``p_value``, ``q_value``: the
#: evidence chosen, see the module docstring).
COLUMNS = ("concept", "attribute", "effect", "p_value", "q_value")
#: Further columns, after :data:`COLUMNS`.
EXTRA_COLUMNS = (
    "effect_hspace",
    "p_hspace",
    "q_hspace",
    "effect_captions",
    "p_captions",
    "q_captions",
    "agreement",
    "n_concept",
    "n_rest",
    "n_prompts_concept",
    "n_prompts_rest",
    "n_attribute",
    "caption_rate_concept",
    "caption_rate_rest",
    "caption_p_value",
    "direction_sd",
    "seed_sd_hspace",
    "seed_sd_captions",
    "significant",
)
#: What ``significant`` can mean (``evidence=``).
EVIDENCE = ("hspace", "captions", "both")


def reverses(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str] | None]:
    """For each ``(concept, attribute)`` pair, in order, the earlier pair of ``pairs`` it is
    the reverse of, or None.

    An association is symmetric: when crosses are mostly blue, blue shapes are mostly crosses,
    so ``blue → cross`` beside ``cross → blue`` is one finding read both ways, not a second
    one; which way a bias was put into the data is not something the samples can tell.

    Examples
    --------
    >>> reverses([("cross", "blue"), ("circle", "small"), ("blue", "cross")])
    [None, None, ('cross', 'blue')]
    """
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str] | None] = []
    for concept, attribute in pairs:
        out.append((attribute, concept) if (attribute, concept) in seen else None)
        seen.add((concept, attribute))
    return out


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


def _default_units(result: Any, n: int) -> np.ndarray:
    """The seed of every sample when ``result`` records it (samples of one seed share their
    starting noise across prompts, so they are not independent), else every sample alone."""
    table = getattr(result, "table", None)
    if isinstance(table, Mapping) and "seed" in table and len(table["seed"]) == n:
        seeds = np.asarray(table["seed"])
        if np.unique(seeds).size >= 2:
            return seeds
    return np.arange(n)


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
    evidence: Literal["hspace", "captions", "both"] = "both",
    caption_agreement: bool = True,
    min_count: int = 2,
    stop_words: Iterable[str] | None = STOP_WORDS,
    units: Sequence[Any] | np.ndarray | None = None,
    n_splits: int = 16,
    random_state: int | None = 0,
) -> pa.Table:
    """Score every concept × attribute pair: an h-space test and a caption test, BH q-values.

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
        A test holds when its ``q < q_threshold`` and its effect ``>= min_effect``
        (``|effect|`` two-sided).
    evidence
        ``"hspace"``, ``"captions"`` or ``"both"`` (default): which tests must hold for a
        pair to be ``significant``; ``effect``, ``p_value``, ``q_value`` follow it.
    caption_agreement
        With ``evidence="hspace"``: also require the caption rates to differ in the
        effect's direction.
    min_count
        Least samples with (and without) a word for it to be tested, and least units (seeds)
        on each side of a concept's within-prompt contrast for its h-space test.
    stop_words
        Words never treated as concepts or attributes.
    units, n_splits
        The direction and seed noise are estimated from ``n_splits`` random halvings of the
        samples by unit: the seed of each sample (default when the result records seeds:
        samples of one seed share their starting noise across prompts), else each sample
        (then there is no seed noise).
    random_state
        Seed of the permutations and the splits.

    Returns
    -------
    pyarrow.Table
        One row per tested pair, sorted by q then p: :data:`COLUMNS` then
        :data:`EXTRA_COLUMNS`: ``effect_hspace``, ``p_hspace``, ``q_hspace``,
        ``effect_captions``, ``p_captions``, ``q_captions``, ``agreement``, ``n_concept``,
        ``n_rest`` (samples), ``n_prompts_concept``, ``n_prompts_rest``, ``n_attribute``
        (samples whose caption names the attribute), ``caption_rate_concept``,
        ``caption_rate_rest``, ``caption_p_value`` (= ``p_captions``, kept for old readers),
        ``direction_sd``, ``seed_sd_hspace``, ``seed_sd_captions`` and ``significant``.

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
    if evidence not in EVIDENCE:
        msg = (
            f"evidence={evidence!r} is not valid: choose 'hspace', 'captions' or 'both' "
            "(both: the h-space and the caption tests must hold; the default)."
        )
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
    masks = split_masks(
        units, n_splits, np.random.default_rng(None if random_state is None else (random_state, 2))
    )
    halves = split_directions(H, all_Za[:, keep], inverse, masks, method=method, alpha=alpha)
    # units shared by several prompts (seeds) can interact with the concept; else no seed noise
    _, unit_index = np.unique(units, return_inverse=True)
    shared = np.unique(np.stack([unit_index, inverse]), axis=1).shape[1] > unit_index.max() + 1
    seed_masks = masks if shared else masks[:0]
    prompt_words = [set(w) for w in (word_indicator([p], stop_words=stop_words)[0] for p in groups)]
    n = len(prompts)
    rows: list[dict[str, Any]] = []
    for ci, c in enumerate(c_words):
        in_c = Zc[:, ci]
        family = fam.get(c)
        if family is not None:
            same_kind = np.array([any(fam.get(w) == family for w in ws) for ws in prompt_words])
            pool = same_kind[inverse]
        else:
            pool = np.ones(n, dtype=bool)
        rest = pool & ~in_c
        pool_groups = np.unique(inverse[pool])
        if not in_c.any() or not rest.any() or pool_groups.size < 2:
            continue
        if shared:  # cells whose samples differ by phrasing only: concept word(s) × seed
            if family is None:  # every prompt its own concept
                kind_index = np.arange(G)
            else:
                words = [" ".join(sorted(w for w in ws if fam.get(w) == family))
                         for ws in prompt_words]  # fmt: skip
                _, kind_index = np.unique(words, return_inverse=True)
            cells = kind_index[inverse] * (unit_index.max() + 1) + unit_index
        perms = np.argsort(rng.random((n_permutations, pool_groups.size)), axis=1)
        for ai, a in enumerate(a_words):
            if a == c or (family is not None and fam.get(a) == family) or a not in dirs:
                continue
            has = Za[:, ai].astype(bool)
            n_a = int(has.sum())
            x = within_prompt_scores(H @ dirs.vectors[dirs.index[a]], has, inverse)
            floor = float(np.sqrt(1 / max(n_a, 1) + 1 / max(n - n_a, 1)))
            extra = direction_sd(
                H, has, inverse, pool, in_c, halves[:, :, keep.index(all_a.index(a))], floor
            )
            y = has[pool].astype(np.float64)
            ref = perms[:200]
            seed_h = seed_sd(x[pool], in_c[pool], inverse[pool], seed_masks[:, pool], ref)
            seed_c = seed_sd(y, in_c[pool], inverse[pool], seed_masks[:, pool], ref)
            if shared:  # never below what the seeds alone can tell (see noise.seed_floor)
                at = (in_c[pool], cells[pool], unit_index[pool])
                seed_h = max(seed_h, seed_floor(x[pool], *at))
                seed_c = max(seed_c, seed_floor(y, *at))
            # the concept's side of the within-prompt effect needs a contrast in the concept's
            # prompts: samples with and without the attribute, each side from min_count units
            # at least; else it would rest on the gap pooled from other prompts, or on one draw
            if _contrast_units(has[in_c], inverse[in_c], unit_index[in_c]) >= min_count:
                e_h, p_h = permutation_test(
                    x[pool], in_c[pool], inverse[pool], alternative=alternative,
                    permutations=perms, extra_sd=float(np.hypot(extra, seed_h)),
                    random_state=random_state,
                )  # fmt: skip
            else:  # no concept sample differs from its prompt's others in it: no test
                e_h, p_h = float("nan"), float("nan")
            e_c, p_c = permutation_test(
                y, in_c[pool], inverse[pool], alternative=alternative, permutations=perms,
                extra_sd=seed_c, random_state=random_state,
            )  # fmt: skip
            rows.append({
                "concept": c,
                "attribute": a,
                "effect_hspace": e_h,
                "p_hspace": p_h,
                "effect_captions": e_c,
                "p_captions": p_c,
                "n_concept": int(in_c.sum()),
                "n_rest": int(rest.sum()),
                "n_prompts_concept": int(np.unique(inverse[in_c]).size),
                "n_prompts_rest": int(np.unique(inverse[rest]).size),
                "n_attribute": n_a,
                "caption_rate_concept": float(has[in_c].mean()),
                "caption_rate_rest": float(has[rest].mean()),
                "caption_p_value": p_c,
                "direction_sd": extra,
                "seed_sd_hspace": seed_h,
                "seed_sd_captions": seed_c,
            })  # fmt: skip
    if not rows:
        msg = (
            f"No concept × attribute pair could be tested (concepts {c_words[:10]}, attributes "
            f"{a_words[:10]}): each concept needs samples with and without it among prompts of "
            "its kind, and pairs of one family are skipped."
        )
        raise InputError(msg)
    _decide(rows, evidence=evidence, alternative=alternative, q_threshold=q_threshold,
            min_effect=min_effect, caption_agreement=caption_agreement)  # fmt: skip
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


def _contrast_units(has: np.ndarray, groups: np.ndarray, units: np.ndarray) -> int:
    """How many units (seeds) carry the within-prompt contrast: in the prompts that have
    samples with and without the attribute, the distinct units on the smaller side (0 when no
    prompt has both). One unit is one draw, whatever the number of its phrasings: a split
    into halves by unit would hold that side in one half only."""
    _, inverse = np.unique(groups, return_inverse=True)
    n1 = np.bincount(inverse, weights=has.astype(np.float64))
    n = np.bincount(inverse)
    varies = ((n1 > 0) & (n1 < n))[inverse]
    if not varies.any():
        return 0
    return int(min(np.unique(units[varies & has]).size, np.unique(units[varies & ~has]).size))


def _holds(effect: float, q: float, *, two_sided: bool, q_threshold: float, floor: float) -> bool:
    e = abs(effect) if two_sided else effect
    return bool(np.isfinite(q) and q < q_threshold and np.isfinite(e) and e >= floor)


def _decide(
    rows: list[dict[str, Any]], *, evidence: str, alternative: str, q_threshold: float,
    min_effect: float, caption_agreement: bool,
) -> None:
    """q-values of both tests, ``agreement``, ``significant`` and the chosen-evidence columns."""
    two = alternative == "two-sided"
    q_h = benjamini_hochberg(np.array([r["p_hspace"] for r in rows]))
    q_c = benjamini_hochberg(np.array([r["p_captions"] for r in rows]))
    for r, qh, qc in zip(rows, q_h, q_c, strict=True):
        r["q_hspace"], r["q_captions"] = float(qh), float(qc)
        kw = {"two_sided": two, "q_threshold": q_threshold, "floor": min_effect}
        h_ok = _holds(r["effect_hspace"], qh, **kw)
        c_ok = _holds(r["effect_captions"], qc, **kw)
        r["agreement"] = {(True, True): "both", (True, False): "hspace only",
                          (False, True): "captions only", (False, False): "neither"}[(h_ok, c_ok)]
        if evidence == "hspace":
            gap = r["caption_rate_concept"] - r["caption_rate_rest"]
            agrees = (gap != 0 and np.sign(gap) == np.sign(r["effect_hspace"])) if two else gap > 0
            r["significant"] = h_ok and (bool(agrees) or not caption_agreement)
            r["effect"], r["p_value"], r["q_value"] = r["effect_hspace"], r["p_hspace"], qh
        elif evidence == "captions":
            r["significant"] = c_ok
            r["effect"], r["p_value"], r["q_value"] = r["effect_captions"], r["p_captions"], qc
        elif not np.isfinite(r["p_hspace"]) and np.isfinite(r["p_captions"]):
            # no h-space test is possible: the attribute does not vary within the concept's
            # prompts (every sample shows it, as trained models draw most plants, or none
            # does), or only in fewer than min_count seeds, so the concept's side of the
            # within-prompt effect does not exist; the captions are the only evidence
            r["significant"] = c_ok
            r["agreement"] = "captions (no h-space test)" if c_ok else "neither (no h-space test)"
            r["effect"], r["p_value"], r["q_value"] = r["effect_captions"], r["p_captions"], qc
        else:
            r["significant"] = h_ok and c_ok
            eh, ec = r["effect_hspace"], r["effect_captions"]
            if two:  # the effect of smaller size (NaN when either is)
                weaker = eh if abs(eh) <= abs(ec) else ec
                weaker = weaker if np.isfinite(eh) and np.isfinite(ec) else float("nan")
            else:
                weaker = float(np.minimum(eh, ec))
            r["effect"] = float(weaker)
            r["p_value"] = float(np.maximum(r["p_hspace"], r["p_captions"]))
            r["q_value"] = float(np.maximum(qh, qc))
