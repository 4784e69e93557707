"""Concept × attribute associations: the h-space and caption tests, calibration, the gate.

Synthetic h-spaces with known answers: planted associations must be found, prompt-level
offsets and caption noise must not create any, and under nulls the share of pairs called
significant stays at or below the nominal q. The plant set here (square → blue, circle →
large, triangle → left) is not one the benchmark draws (benchmarks/latents_associations.py
excludes it).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from diffembed.exceptions import InputError
from diffembed.latents.adherence import adherence, adherence_warnings, reliable_pairs
from diffembed.latents.analysis import analyse
from diffembed.latents.associations import (
    COLUMNS,
    EXTRA_COLUMNS,
    benjamini_hochberg,
    cohens_d,
    family_map,
    permutation_test,
    score_associations,
    within_prompt_scores,
)

SHAPES = ["circle", "square", "triangle", "cross"]
COLOURS = ["red", "green", "blue", "yellow"]
SIZES = ["small", "large"]
POSITIONS = ["left", "centre", "right"]
FAMILIES = {"shape": SHAPES, "colour": COLOURS, "size": SIZES, "position": POSITIONS}
VALUES = {"colour": COLOURS, "size": SIZES, "position": POSITIONS}
TEMPLATES = ["a {}", "a {} shape", "one {}", "the {}", "a drawing of a {}", "a {} again"]
#: One association into each attribute family: conservation effects stay small (see the docs).
PLANTED = {("square", "blue"): 0.9, ("circle", "large"): 0.9, ("triangle", "left"): 0.9}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k / n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def synthetic(planted, *, seed=0, A=1.0, signal=2.0, n_seeds=16, d=32, noise=0.7, spread=0.15,
              offsets=None, caption_noise=0.0):  # fmt: skip
    """h = shape + template + colour + size + position components + noise.

    ``planted``: {(shape, value): p}: samples of that shape get that colour/size/position
    with probability p, the other values of its family uniformly otherwise; everything else
    is independent and uniform. Captions name every generated value; with ``caption_noise``
    each family's word is replaced by a uniform draw with that probability (a captioner that
    reads noise). ``offsets``: {(shape, value): size}: the shape's own component of h gets
    ``size`` times the value's direction (a prompt-level difference, no association).
    """
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    shape_dir = dict(zip(SHAPES, Q[:4], strict=True))
    value_dir = dict(zip(COLOURS + SIZES + POSITIONS, Q[4:13], strict=True))
    for (s, v), size in (offsets or {}).items():
        shape_dir[s] = shape_dir[s] + size * value_dir[v]
    template_dir = spread * rng.normal(size=(len(TEMPLATES), d))
    H, prompts, captions = [], [], []
    for s in SHAPES:
        for ti, template in enumerate(TEMPLATES):
            for _ in range(n_seeds):
                drawn = {}
                for fam, values in VALUES.items():
                    probs = np.full(len(values), 1 / len(values))
                    for (cs, value), p in planted.items():
                        if cs == s and value in values:
                            probs = np.full(len(values), (1 - p) / (len(values) - 1))
                            probs[values.index(value)] = p
                    drawn[fam] = values[rng.choice(len(values), p=probs)]
                h = A * shape_dir[s] + template_dir[ti]
                h = h + signal * sum(value_dir[v] for v in drawn.values())
                H.append(h + noise * rng.normal(size=d))
                prompts.append(template.format(s))
                seen = {f: (str(rng.choice(VALUES[f])) if rng.random() < caption_noise else v)
                        for f, v in drawn.items()}  # fmt: skip
                captions.append(f"a {seen['size']} {seen['colour']} {s} on the {seen['position']}")
    return np.array(H), prompts, captions


def by_pair(table):
    return {(r["concept"], r["attribute"]): r for r in table.to_pylist()}
# ------------------------------------------------------------------------ statistics
def test_cohens_d_and_bh_match_references():
    rng = np.random.default_rng(4)
    x, y = rng.normal(1, 2, 30), rng.normal(0, 1, 50)
    ss = (x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)
    sp = np.sqrt(ss / (x.size + y.size - 2))
    np.testing.assert_allclose(cohens_d(x, y), (x.mean() - y.mean()) / sp)
    p = rng.random(40) ** 2
    # textbook BH: q_(i) = min_{j >= i} p_(j) m / j, capped at 1
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    q_ref = np.empty_like(p)
    q_ref[order] = np.minimum(1, np.minimum.accumulate(ranked[::-1])[::-1])
    np.testing.assert_allclose(benjamini_hochberg(p), q_ref)
    q = benjamini_hochberg(np.array([0.01, np.nan, 0.04]))
    np.testing.assert_allclose(q, [0.02, np.nan, 0.04])
    assert family_map({"shape": ["Square"]}) == {"square": "shape"}
    assert family_map({"square": "shape"}) == {"square": "shape"}


def test_permutation_is_at_prompt_level():
    """Clustered data: 8 prompts whose samples share a prompt offset, no concept effect.

    A sample-level permutation treats the 25 seeds of a prompt as independent and calls the
    chance difference between two sets of prompt offsets highly significant; the prompt-level
    test does not.
    """
    rng = np.random.default_rng(5)
    n_prompts, per = 8, 25
    groups = np.repeat(np.arange(n_prompts), per)
    concept = np.isin(groups, [0, 1, 2, 3])
    # the concept prompts are high by chance
    offsets = np.array([1.0, 0.8, 0.9, 1.1, -1.0, -0.9, -1.1, -0.8])
    values = offsets[groups] + 0.3 * rng.normal(size=groups.size)
    d, p = permutation_test(values, concept, groups, n_permutations=2000, random_state=0)
    assert d > 3
    assert p >= 1 / 70 - 1e-9  # exactly 1 of the C(8,4) = 70 prompt splits is this extreme
    # the same statistic with samples permuted one by one (the wrong unit): p at its minimum
    perm = np.array([rng.permutation(groups.size) for _ in range(2000)])
    d_perm = np.array([cohens_d(values[concept[i]], values[~concept[i]]) for i in perm])
    p_sample = (1 + (d_perm >= d).sum()) / 2001
    assert p_sample < 0.001
    with pytest.raises(InputError, match="same for every sample of a group"):
        permutation_test(values, rng.random(groups.size) < 0.5, groups)


# ----------------------------------------------------------------------- associations
@pytest.mark.parametrize("method", ["mean_difference", "ridge"])
def test_planted_associations_recovered(method):
    H, prompts, captions = synthetic(PLANTED, seed=0)
    table = score_associations(H, prompts, captions, families=FAMILIES, method=method,
                               n_permutations=2000, random_state=0)  # fmt: skip
    assert table.column_names == [*COLUMNS, *EXTRA_COLUMNS]
    rows = table.to_pylist()
    found = {(r["concept"], r["attribute"]) for r in rows if r["significant"]}
    assert found == set(PLANTED), found  # recall 1, no false association
    by = by_pair(table)
    for pair in PLANTED:
        r = by[pair]
        assert r["agreement"] == "both"
        assert r["effect_hspace"] > 0.55
        assert r["effect_captions"] > 0.75
        # evidence "both": the weaker effect, the larger p and q
        assert r["effect"] == min(r["effect_hspace"], r["effect_captions"])
        assert r["p_value"] == max(r["p_hspace"], r["p_captions"])
        assert r["q_value"] == max(r["q_hspace"], r["q_captions"]) < 0.05
        assert r["caption_rate_concept"] > 0.8
        assert r["caption_rate_concept"] - r["caption_rate_rest"] > 0.3
        assert r["caption_p_value"] == r["p_captions"] < 0.01
        assert 0.05 < r["direction_sd"] < 0.2
    # secondary associations by conservation (circles are rarely small, so the other shapes
    # look relatively small): real in the captions, small in effect, not significant
    small = by[("triangle", "small")]
    assert small["caption_rate_concept"] > small["caption_rate_rest"]
    assert 0 < small["effect_hspace"] < 0.5
    assert not small["significant"]
    secondary = [r["effect_hspace"] for r in rows if (r["concept"], r["attribute"]) not in PLANTED]
    assert max(secondary) < 0.5
    # same-family and same-word pairs are never tested; 4 shapes x 6 values
    assert all(r["attribute"] not in SHAPES for r in rows)
    assert len(rows) == 4 * 9
    # the baseline of 'square' is the other shapes' prompts
    assert by[("square", "blue")]["n_concept"] == 96
    assert by[("square", "blue")]["n_rest"] == 288
    assert by[("square", "blue")]["n_prompts_concept"] == 6
    assert by[("square", "blue")]["n_attribute"] == sum("blue" in c.split() for c in captions)


def old_between_prompt_d(H, prompts, captions, concept, attribute):
    """The earlier statistic: Cohen's d of raw projections on the within-prompt direction."""
    from diffembed.latents.directions import concept_directions

    _, groups = np.unique(prompts, return_inverse=True)
    has = np.array([[attribute in c.split()] for c in captions], dtype=float)
    u = concept_directions(H, has, words=[attribute], groups=groups).vectors[0]
    s = H @ u
    in_c = np.array([concept in p.split() for p in prompts])
    return cohens_d(s[in_c], s[~in_c])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prompt_offsets_alone_create_no_h_space_effect(seed):
    """Squares' own component of h lies along blue's direction; no association is planted.

    The earlier between-prompt statistic reads a large d from that offset alone (and called
    square → blue significant whenever the captions leaned blue by chance); the within-prompt
    effect measures every sample from its own prompt's anchor and sees nothing.
    """
    H, prompts, captions = synthetic({}, seed=seed, offsets={("square", "blue"): 3.0})
    assert old_between_prompt_d(H, prompts, captions, "square", "blue") > 1.5
    table = score_associations(H, prompts, captions, families=FAMILIES, n_permutations=2000,
                               evidence="hspace", caption_agreement=False)  # fmt: skip
    r = by_pair(table)[("square", "blue")]
    assert abs(r["effect_hspace"]) < 0.3
    assert r["effect"] == r["effect_hspace"]
    assert r["p_hspace"] > 0.05
    assert not r["significant"]
    assert not any(table.column("significant").to_pylist())


def test_within_prompt_scores_are_blind_to_prompt_constants():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(5), 8)
    has = rng.random(40) < 0.4
    has[groups == 4] = True  # one prompt whose samples all show the attribute
    has[0], has[1] = True, False
    S = rng.normal(size=(40, 3)) + 2.0 * has[:, None]
    x = within_prompt_scores(S, has, groups)
    shifted = within_prompt_scores(S + rng.normal(size=(5, 3))[groups] * 10, has, groups)
    np.testing.assert_allclose(shifted, x, atol=1e-9)
    # explicit reference: minus the mean of the prompt's samples without the attribute
    for g in range(4):
        m = groups == g
        np.testing.assert_allclose(x[m], S[m] - S[m & ~has].mean(axis=0))
    # the all-attribute prompt is anchored at its mean minus the pooled within-prompt gap
    both = [g for g in range(4) if has[groups == g].any()]
    w = np.array([has[groups == g].sum() * (~has[groups == g]).sum() / 8 for g in both])
    gaps = np.array([S[(groups == g) & has].mean(0) - S[(groups == g) & ~has].mean(0)
                     for g in both])  # fmt: skip
    delta = (w[:, None] * gaps).sum(0) / w.sum()
    m = groups == 4
    np.testing.assert_allclose(x[m], S[m] - (S[m].mean(0) - delta))
    np.testing.assert_allclose(within_prompt_scores(S[:, 0], has, groups), x[:, 0])


def test_direction_noise_has_a_floor_for_rare_attributes():
    H, prompts, captions = synthetic(PLANTED, seed=4, n_seeds=8)
    # 'violet' in 3 captions only: its direction is noise; the floor is sqrt(1/3 + 1/189)
    captions = [c + (" violet" if i in (5, 77, 140) else "") for i, c in enumerate(captions)]
    table = score_associations(H, prompts, captions, families={**FAMILIES, "colour":
                               [*COLOURS, "violet"]}, n_permutations=300)  # fmt: skip
    r = by_pair(table)[("square", "violet")]
    assert r["n_attribute"] == 3
    assert r["direction_sd"] >= np.sqrt(1 / 3 + 1 / 189) - 1e-12
    assert not r["significant"]
    common = by_pair(table)[("square", "blue")]
    assert common["direction_sd"] < r["direction_sd"]


def test_captions_that_read_noise_are_caught_by_the_h_space_test():
    """Caption rates differ (square → blue is in the captions) but h does not carry blue:
    the captioner reads noise. Captions-only evidence finds it; h-space and both do not."""
    H, prompts, captions = synthetic({}, seed=5)
    rng = np.random.default_rng(0)
    captions = [c.replace(c.split()[2], "blue") if "square" in p and rng.random() < 0.7 else c
                for p, c in zip(prompts, captions, strict=True)]  # fmt: skip
    kw = {"families": FAMILIES, "n_permutations": 2000}
    by_c = by_pair(score_associations(H, prompts, captions, evidence="captions", **kw))
    by_b = by_pair(score_associations(H, prompts, captions, **kw))
    r = by_c[("square", "blue")]
    assert r["significant"]
    assert r["effect"] == r["effect_captions"] > 1.0
    assert r["agreement"] == "captions only"
    assert abs(r["effect_hspace"]) < 0.35
    assert not by_b[("square", "blue")]["significant"]


# ------------------------------------------------------------------------- calibration
def null_dataset(seed: int):
    """No association; h encodes every attribute, prompts have offsets along them."""
    rng = np.random.default_rng(1000 + seed)
    offsets = {(str(rng.choice(SHAPES)), str(rng.choice(COLOURS + SIZES + POSITIONS))):
               float(rng.normal(0, 1.5)) for _ in range(3)}  # fmt: skip
    return synthetic({}, seed=1000 + seed, n_seeds=8, offsets=offsets, caption_noise=0.2)


def test_calibration_on_synthetic_nulls():
    """40 null datasets × 36 pairs: the share of pairs called significant, for every kind of
    evidence, is at most the nominal q = 0.05 (Wilson 95 % interval), and each test's
    p-values are not below uniform (share under 0.05 within its interval of 0.05)."""
    n_sets = 40
    sig = {e: 0 for e in ("hspace", "captions", "both")}
    small = {"p_hspace": [], "p_captions": []}
    n_pairs = 0
    for seed in range(n_sets):
        H, prompts, captions = null_dataset(seed)
        t = score_associations(H, prompts, captions, families=FAMILIES, n_permutations=200,
                               random_state=seed)  # fmt: skip
        rows = t.to_pylist()
        assert [r["significant"] for r in rows] == [r["agreement"] == "both" for r in rows]
        # what evidence="hspace" / "captions" would call significant (see test below)
        sig["hspace"] += sum(r["agreement"] in ("both", "hspace only")
                             and r["caption_rate_concept"] > r["caption_rate_rest"]
                             for r in rows)  # fmt: skip
        sig["captions"] += sum(r["agreement"] in ("both", "captions only") for r in rows)
        sig["both"] += sum(r["significant"] for r in rows)
        n_pairs += t.num_rows
        for k in small:  # per dataset, the share of p below 0.05
            small[k].append(float(np.mean(np.array(t.column(k).to_pylist()) < 0.05)))
    assert n_pairs == n_sets * 36
    for evidence, k in sig.items():
        _, high = wilson(k, n_pairs)
        assert k / n_pairs <= 0.05, (evidence, k, n_pairs)
        assert high <= 0.05, (evidence, k, n_pairs, high)
    print(sig, n_pairs, {k: (np.mean(v), np.std(v, ddof=1) / np.sqrt(n_sets))
                         for k, v in small.items()})  # fmt: skip
    for k, shares in small.items():  # pairs of one dataset are correlated: CI over datasets
        mean, se = np.mean(shares), np.std(shares, ddof=1) / np.sqrt(n_sets)
        assert mean - 1.96 * se <= 0.05, (k, mean, se)
        assert mean <= 0.08, (k, mean)


def seed_null(seed: int, n_seeds: int = 6, d: int = 24, probs=None):
    """No association in the population, but each (shape, seed) draws its attributes once and
    every phrasing of the shape repeats them: what a model does when the seed, not the
    phrasing, decides the image. With few seeds, the shapes differ by chance *for these seeds*.
    ``probs``: {family: probabilities of its values} (default uniform)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    value_dir = dict(zip(COLOURS + SIZES + POSITIONS, Q[4:13], strict=True))
    shape_dir = dict(zip(SHAPES, Q[:4], strict=True))
    probs = probs or {}
    H, prompts, captions, units = [], [], [], []
    for s in SHAPES:
        drawn = [{f: str(rng.choice(v, p=probs.get(f))) for f, v in VALUES.items()}
                 for _ in range(n_seeds)]  # fmt: skip
        for template in TEMPLATES:
            for k, dr in enumerate(drawn):
                h = shape_dir[s] + 2.0 * sum(value_dir[w] for w in dr.values())
                H.append(h + 0.5 * rng.normal(size=d))
                prompts.append(template.format(s))
                captions.append(f"a {dr['size']} {dr['colour']} {s} on the {dr['position']}")
                units.append(k)
    return np.array(H), prompts, captions, np.array(units)


def test_seed_by_concept_effects_are_in_the_null():
    """20 seed-driven nulls × 36 pairs. Holding the seeds fixed (each sample its own unit, the
    earlier test) calls 29 % of the caption tests p < 0.05 and 21 pairs significant; with the
    seeds as units the split-half seed noise brings both tests back to the nominal rate."""
    shares: dict[str, dict[str, list[float]]] = {"seeds": {}, "samples": {}}
    found = {"seeds": 0, "samples": 0}
    for seed in range(20):
        H, prompts, captions, units = seed_null(seed)
        for name, u in (("seeds", units), ("samples", None)):
            t = score_associations(H, prompts, captions, families=FAMILIES, units=u,
                                   n_permutations=200, random_state=seed)  # fmt: skip
            found[name] += sum(t.column("significant").to_pylist())
            for k in ("p_hspace", "p_captions"):
                p = np.array(t.column(k).to_pylist())
                shares[name].setdefault(k, []).append(float(np.mean(p < 0.05)))
            if name == "seeds":
                assert max(t.column("seed_sd_captions").to_pylist()) > 0.3
            else:
                assert set(t.column("seed_sd_captions").to_pylist()) == {0.0}
    mean = {n: {k: float(np.mean(v)) for k, v in d.items()} for n, d in shares.items()}
    assert mean["samples"]["p_captions"] > 0.2, mean
    assert found["samples"] >= 10, found
    assert mean["seeds"]["p_captions"] <= 0.08, mean
    assert mean["seeds"]["p_hspace"] <= 0.06, mean
    assert found["seeds"] == 0, found


def test_a_common_attribute_that_a_few_seeds_all_show_is_not_an_association():
    """Seed-driven nulls with common attributes (large 75 %, centre 60 %) and 8 seeds: a shape
    whose 8 seeds all come out large (10 % of shapes) looked associated with "large" — the
    split halves of 8 seeds cannot see a variance the seeds happen not to show. On a trained
    DDPM, red → large was called at seeds 8–15 (red 1.00 vs 0.71) and not at seeds 0–7 (red
    0.62). The seed-noise floor from the intra-seed correlation of the phrasings brings the
    caption test back to its nominal rate; it was liberal (share of p < 0.01: 0.017)."""
    probs = {"size": [0.25, 0.75], "position": [0.2, 0.6, 0.2]}
    p = []
    for seed in range(30):
        H, prompts, captions, units = seed_null(seed, n_seeds=8, probs=probs)
        t = score_associations(H, prompts, captions, families=FAMILIES, units=units,
                               n_permutations=200, random_state=seed)  # fmt: skip
        p += t.column("p_captions").to_pylist()
        assert min(t.column("seed_sd_captions").to_pylist()) >= np.sqrt(1 / 8 + 1 / 24) - 0.02
    p = np.array(p)
    assert p.size == 30 * 36
    assert (p < 0.01).mean() <= 0.01
    assert (p < 0.05).mean() <= 0.05


def test_null_p_values_are_roughly_uniform():
    pvals, found = {"p_hspace": [], "p_captions": []}, 0
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        H = rng.normal(size=(192, 16))
        prompts = [TEMPLATES[k % 6].format(SHAPES[k // 48]) for k in range(192)]
        captions = [f"a {rng.choice(SIZES)} {rng.choice(COLOURS)} {rng.choice(POSITIONS)}"
                    for _ in range(192)]
        table = score_associations(H, prompts, captions, families=FAMILIES, n_permutations=400,
                                   random_state=seed)  # fmt: skip
        for k in pvals:
            pvals[k] += table.column(k).to_pylist()
        found += sum(table.column("significant").to_pylist())
    assert found == 0
    from scipy.stats import kstest

    p = np.array(pvals["p_captions"])  # no added noise: uniform
    assert p.size == 6 * 36
    assert kstest(p, "uniform").pvalue > 0.01
    assert 0.01 <= (p < 0.1).mean() <= 0.2
    # the h-space null carries the direction noise (N(0, direction_sd²) on every permuted d),
    # which only makes it conservative: fewer small p-values than uniform, never more
    p = np.array(pvals["p_hspace"])
    print({t: float((p < t).mean()) for t in (0.05, 0.1, 0.25, 0.5)})
    assert (p < 0.05).mean() <= 0.05
    assert (p < 0.1).mean() <= 0.1
    assert kstest(p, "uniform", alternative="greater").pvalue > 0.01  # not above uniform CDF
    # two-sided runs and is no more significant than one-sided on the null
    two = score_associations(H, prompts, captions, families=FAMILIES, alternative="two-sided",
                             n_permutations=200)  # fmt: skip
    assert sum(two.column("significant").to_pylist()) == 0


def test_evidence_switches_significant_and_the_chosen_columns():
    H, prompts, captions = synthetic(PLANTED, seed=6, n_seeds=8)
    kw = {"families": FAMILIES, "n_permutations": 500, "random_state": 1}
    tables = {e: by_pair(score_associations(H, prompts, captions, evidence=e, **kw))
              for e in ("hspace", "captions", "both")}  # fmt: skip
    for pair, r in tables["both"].items():
        h, c = tables["hspace"][pair], tables["captions"][pair]
        # a concept with one sample off the attribute has no contrast: no h-space test
        np.testing.assert_equal(h["effect"], r["effect_hspace"])
        np.testing.assert_equal(h["q_value"], r["q_hspace"])
        assert c["effect"] == r["effect_captions"]
        assert c["p_value"] == r["p_captions"]
        untested = np.isnan(r["p_hspace"])
        assert r["significant"] == (r["agreement"] in ("both", "captions (no h-space test)"))
        assert c["significant"] == (
            r["agreement"] in ("both", "captions only", "captions (no h-space test)")
        )
        gap = r["caption_rate_concept"] > r["caption_rate_rest"]
        assert h["significant"] == (r["agreement"] in ("both", "hspace only") and gap)
        assert not (untested and h["significant"])
    assert sum(r["significant"] for r in tables["both"].values()) >= 2
    assert any(np.isnan(r["p_hspace"]) for r in tables["both"].values())


def test_score_associations_inputs():
    H, prompts, captions = synthetic({}, seed=1, n_seeds=4)
    t = score_associations(H, prompts, captions, concepts=["square"], attributes=["blue", "red"],
                           n_permutations=50)  # fmt: skip
    assert set(t.column("concept").to_pylist()) == {"square"}
    assert t.num_rows == 2
    # without families the baseline is every other prompt and only same-word pairs are skipped
    t = score_associations(H, prompts, captions, concepts=["square"], n_permutations=20)
    assert "square" not in t.column("attribute").to_pylist()
    assert "circle" in t.column("attribute").to_pylist()

    result = SimpleNamespace(  # anything with h and table, like an HSpaceResult
        h=H[:, None, :],
        table={
            "prompt": np.array(prompts, dtype=object),
            "caption": np.array(captions, dtype=object),
        },
        captions=None,
    )
    assert score_associations(result, families=FAMILIES, n_permutations=20).num_rows == 36
    with pytest.raises(InputError, match="No captions given"):
        score_associations(H, prompts)
    with pytest.raises(InputError, match="h has 96 samples, prompts 95 and captions 96"):
        score_associations(H, prompts[:-1], captions)
    with pytest.raises(InputError, match=r"The concept \['hexagon'\] never occur"):
        score_associations(H, prompts, captions, concepts=["hexagon"])
    with pytest.raises(InputError, match="n_permutations=0"):
        score_associations(H, prompts, captions, n_permutations=0)
    with pytest.raises(InputError, match="same prompt"):
        score_associations(H, ["a square"] * 96, captions)
    with pytest.raises(InputError, match="alternative='less'"):
        score_associations(H, prompts, captions, alternative="less")
    with pytest.raises(InputError, match="evidence='h' is not valid: choose 'hspace', 'captions'"):
        score_associations(H, prompts, captions, evidence="h")


# ----------------------------------------------------------------------- adherence gate
def random_result(seed=0, *, shape_ok=0.0, n_seeds=6):
    """A decode result of an 'untrained model': prompts name a colour and a shape; the
    captioner's words are uniform draws, except that a share ``shape_ok`` shows the
    prompted shape."""
    rng = np.random.default_rng(seed)
    prompts, table = [], {f: [] for f in ("shape", "colour", "size", "position")}
    for s in SHAPES:
        for c in COLOURS:
            for phrasing in ("a {} {}", "one {} {}"):
                for _ in range(n_seeds):
                    prompts.append(phrasing.format(c, s))
                    table["shape"].append(s if rng.random() < shape_ok else rng.choice(SHAPES))
                    table["colour"].append(str(rng.choice(COLOURS)))
                    table["size"].append(str(rng.choice(SIZES)))
                    table["position"].append(str(rng.choice(POSITIONS)))
    n = len(prompts)
    captions = [f"a {table['size'][i]} {table['colour'][i]} {table['shape'][i]} on the "
                f"{table['position'][i]}" for i in range(n)]  # fmt: skip
    return SimpleNamespace(
        h=rng.normal(size=(n, 2, 8)),
        table={"prompt": np.array(prompts, dtype=object), "seed": np.tile(np.arange(n_seeds),
               n // n_seeds), "caption": np.array(captions, dtype=object),
               **{k: np.array(v, dtype=object) for k, v in table.items()}},
    )  # fmt: skip


def test_adherence_rates_against_a_count():
    prompts = ["a red square", "a red square", "a blue circle", "a circle", "a small thing"]
    predicted = {"colour": ["red", "blue", "blue", "red", "red"],
                 "shape": ["square", "square", "square", "circle", "cross"]}  # fmt: skip
    t = adherence(prompts, predicted, FAMILIES, threshold=0.8)
    rows = {r["family"]: r for r in t.to_pylist()}
    assert t.column_names == ["family", "rate", "n_samples", "threshold", "reliable"]
    assert list(rows) == ["shape", "colour"]  # size is asked once but not predicted
    assert rows["colour"]["n_samples"] == 3  # prompts naming a colour
    assert rows["colour"]["rate"] == pytest.approx(2 / 3)
    assert rows["shape"]["n_samples"] == 4
    assert rows["shape"]["rate"] == pytest.approx(3 / 4)
    assert not rows["colour"]["reliable"]
    assert adherence(prompts, predicted, FAMILIES, threshold=0.6).to_pylist()[0]["reliable"]
    warnings = adherence_warnings(t)
    assert warnings[0].startswith("the model looks undertrained for shape: 75 % of 4 samples "
                                  "show the prompted shape (threshold 80 %)")  # fmt: skip
    assert reliable_pairs(["square", "red", "small"], ["left", "left", "right"], t, FAMILIES) == [
        False, False, True
    ]  # fmt: skip
    with pytest.raises(InputError, match=r"adherence_threshold=1.5 must lie in \[0, 1\]"):
        adherence(prompts, predicted, FAMILIES, threshold=1.5)
    with pytest.raises(InputError, match="'colour' have 2 entries for 5 prompts"):
        adherence(prompts, {"colour": ["red", "red"]}, FAMILIES)


def test_analyse_gates_an_untrained_model():
    result = random_result(0)
    out = analyse(result, families=FAMILIES, n_permutations=99, random_state=0)
    assert {"associations", "adherence"} <= set(out.tables)
    assert set(out.tables) - {"associations", "adherence"} <= {"words", "defaults", "concepts"}
    gate = {r["family"]: r for r in out.tables["adherence"].to_pylist()}
    assert set(gate) == {"shape", "colour"}  # size and position are never prompted
    assert 0.15 < gate["shape"]["rate"] < 0.35  # chance is 1/4
    assert gate["shape"]["n_samples"] == 192
    assert not gate["shape"]["reliable"]
    assert not gate["colour"]["reliable"]
    assert len(out.warnings) == 2
    rate = round(100 * gate["shape"]["rate"])
    assert out.warnings[0].startswith(
        f"the model looks undertrained for shape: {rate} % of 192 samples show the prompted shape"
    )
    table = out.tables["associations"]
    assert table.column_names[-1] == "reliable"
    rows = table.to_pylist()
    # every tested pair involves shape or colour: none is reliable
    assert rows
    assert not any(r["reliable"] for r in rows)
    assert out.summary["n_unreliable"] == len(rows)
    assert out.summary["adherence"]["shape"]["rate"] == gate["shape"]["rate"]
    assert out.summary["evidence"] == "both"
    assert out.summary["n_significant"] == sum(r["significant"] for r in rows)


def test_analyse_marks_only_the_families_below_the_threshold():
    result = random_result(1, shape_ok=0.95)
    out = analyse(result, families=FAMILIES, n_permutations=99, evidence="captions")
    gate = {r["family"]: r for r in out.tables["adherence"].to_pylist()}
    assert gate["shape"]["reliable"]
    assert gate["shape"]["rate"] > 0.9
    assert not gate["colour"]["reliable"]
    assert len(out.warnings) == 1
    assert "undertrained for colour" in out.warnings[0]
    rows = out.tables["associations"].to_pylist()
    for r in rows:
        involves_colour = r["concept"] in COLOURS or r["attribute"] in COLOURS
        assert r["reliable"] == (not involves_colour), r
    assert any(r["reliable"] for r in rows)
    assert out.summary["evidence"] == "captions"
    # a threshold of 0 turns the gate off; a bad one is refused with the fix
    off = analyse(result, families=FAMILIES, n_permutations=20, adherence_threshold=0.0)
    assert off.warnings == []
    assert all(off.tables["associations"].column("reliable").to_pylist())
    with pytest.raises(InputError, match="adherence_threshold=-1 must lie in"):
        analyse(result, families=FAMILIES, adherence_threshold=-1)
    with pytest.raises(InputError, match="evidence='all' is not valid"):
        analyse(result, families=FAMILIES, evidence="all")


def test_analyse_says_why_when_an_untrained_model_draws_one_thing():
    result = random_result(2)
    for f, word in (("shape", "circle"), ("colour", "red"), ("size", "small"),
                    ("position", "left")):  # fmt: skip
        result.table[f] = np.full(len(result.table["prompt"]), word, dtype=object)
    result.table["caption"] = np.full(len(result.table["prompt"]), "a small red circle on the left",
                                      dtype=object)  # fmt: skip
    with pytest.raises(InputError, match="The captions do not vary") as info:
        analyse(result, families=FAMILIES, n_permutations=20)
    assert "Prompt adherence: The model looks undertrained for shape: 25 % of 192" in str(
        info.value
    )


# ------------------------------------------------------------------ perfect associations
def test_a_perfect_plant_is_found_not_nan():
    """Every circle red and nothing else red (what a well-trained planted model draws): the
    caption test is a perfect separation and the attribute never varies within a prompt, so
    no within-prompt h-space direction exists. It was NaN everywhere and never significant;
    now the caption test carries it (finite d, smallest p) and says there was no h-space test."""
    H, prompts, captions = synthetic({("circle", "red"): 1.0, ("square", "blue"): 0.9}, seed=3)
    # nothing but circles is red: recolour the other shapes' red samples yellow
    captions = [c.replace(" red ", " yellow ") if " circle " not in c else c for c in captions]
    table = score_associations(H, prompts, captions, families=FAMILIES, n_permutations=999,
                               random_state=0)  # fmt: skip
    r = by_pair(table)[("circle", "red")]
    assert r["caption_rate_concept"] == 1.0
    assert r["caption_rate_rest"] == 0.0
    assert np.isnan(r["p_hspace"])  # no within-prompt contrast: no h-space test
    assert np.isfinite(r["effect_captions"])
    assert r["effect_captions"] > 5
    assert r["p_captions"] == pytest.approx(1 / 1000)
    assert r["significant"]
    assert r["agreement"] == "captions (no h-space test)"
    assert r["effect"] == r["effect_captions"]
    # the imperfect plant still needs both tests, and nothing unplanted is called
    found = {(x["concept"], x["attribute"]) for x in table.to_pylist() if x["significant"]}
    assert found == {("circle", "red"), ("square", "blue")}
    assert by_pair(table)[("square", "blue")]["agreement"] == "both"


def test_perfect_separation_d_is_finite_and_largest():
    values = np.r_[np.ones(12), np.zeros(36)]
    concept = np.r_[np.ones(12, bool), np.zeros(36, bool)]
    groups = np.repeat(np.arange(24), 2)  # 6 concept prompts of 24: C(24, 6) label sets
    d, p = permutation_test(values, concept, groups, n_permutations=999, random_state=0)
    # gap 1 over the smaller sd that one sample moved to the other side would give
    nc, nr = 12, 36
    sd = np.sqrt(min((nc - 1) / nc, (nr - 1) / nr) / (nc + nr - 2))
    assert d == pytest.approx(1.0 / sd)
    for moved in (0, 47):  # one concept sample without it / one other sample with it
        almost = values.copy()
        almost[moved] = 1.0 - almost[moved]
        d2, _ = permutation_test(almost, concept, groups, n_permutations=999, random_state=0)
        assert np.isfinite(d2)
        assert d > d2
    assert p == pytest.approx(1 / 1000)  # no permutation of the prompts reproduces it


def test_a_concept_whose_every_sample_shows_the_attribute_rests_on_the_captions():
    """Every square blue, other shapes blue now and then (what trained DDPMs draw for most
    plants: caption rate 1.00 against a few per cent). No square prompt has a sample without
    blue, so the square side of the within-prompt h-space effect would be the gap δ pooled
    from *other* prompts' few blue samples: it says nothing about squares, and its noise hid
    such plants (cross → blue: h-space d 2.1, p 0.02 from the direction noise, q 0.34, on a
    trained model). Like a perfect plant, the pair gets no h-space test and the captions
    carry it; a concept with the contrast keeps both tests."""
    H, prompts, captions = synthetic({("square", "blue"): 1.0, ("circle", "large"): 0.9},
                                     seed=6, noise=1.4, signal=1.0)  # fmt: skip
    rng = np.random.default_rng(0)
    # blue is rare outside squares: most other shapes' blue samples are captioned yellow
    captions = [c.replace(" blue ", " yellow ") if " square " not in c and rng.random() < 0.85
                else c for c in captions]  # fmt: skip
    table = score_associations(H, prompts, captions, families=FAMILIES, n_permutations=999,
                               random_state=0)  # fmt: skip
    by = by_pair(table)
    r = by[("square", "blue")]
    assert r["caption_rate_concept"] == 1.0
    assert 0 < r["caption_rate_rest"] < 0.1
    assert np.isnan(r["effect_hspace"])
    assert np.isnan(r["p_hspace"])
    assert r["agreement"] == "captions (no h-space test)"
    assert r["significant"]
    assert r["effect"] == r["effect_captions"]
    # circles are large 90 % of the time: their prompts have the contrast, both tests run
    assert by[("circle", "large")]["agreement"] == "both"
    found = {k for k, x in by.items() if x["significant"]}
    assert found == {("square", "blue"), ("circle", "large")}


def test_exceptions_from_one_seed_are_no_contrast_for_the_h_space_test():
    """Squares blue in every seed but one, whose phrasings all give a boundary case (the
    captioner says green, h sits where blue squares sit): what trained DDPMs do for plants at
    92–97 % (blue → right: the 3 samples without it were one seed's phrasings). The anchor of
    every square prompt is then that one draw, the within-prompt effect ≈ 0, and the h-space
    test, run, sank the plant. One draw is not a contrast (the split halves that measure the
    direction noise would hold it on one side only): the pair has no h-space test and the
    captions decide (the contrast needs `min_count`, 2, seeds on each side). A concept whose
    exceptions come from several seeds keeps both tests."""
    n_seeds = 16
    H, prompts, captions = synthetic({("square", "blue"): 1.0, ("circle", "large"): 0.9},
                                     seed=6, noise=1.4, signal=1.0, n_seeds=n_seeds)  # fmt: skip
    seeds = np.tile(np.arange(n_seeds), len(prompts) // n_seeds)
    rng = np.random.default_rng(0)
    captions = [
        c.replace(" blue ", " green ") if " square " in c and seeds[i] == 3
        else c.replace(" blue ", " yellow ") if " square " not in c and rng.random() < 0.85
        else c
        for i, c in enumerate(captions)
    ]  # fmt: skip
    table = score_associations(H, prompts, captions, families=FAMILIES, n_permutations=999,
                               units=seeds, random_state=0)  # fmt: skip
    by = by_pair(table)
    r = by[("square", "blue")]
    assert 0.9 < r["caption_rate_concept"] < 1.0
    assert np.isnan(r["p_hspace"])
    assert r["agreement"] == "captions (no h-space test)"
    assert r["significant"]
    large = by[("circle", "large")]
    assert large["agreement"] == "both"
    assert large["significant"]
