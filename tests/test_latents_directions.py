"""Word directions and concept × attribute associations against references and planted answers."""

from __future__ import annotations

import numpy as np
import pytest

from diffembed.exceptions import InputError
from diffembed.latents.associations import (
    COLUMNS,
    benjamini_hochberg,
    cohens_d,
    family_map,
    permutation_test,
    score_associations,
)
from diffembed.latents.directions import (
    concept_directions,
    flatten_h,
    tokenize,
    word_indicator,
)

SHAPES = ["circle", "square", "triangle", "cross"]
COLOURS = ["red", "green", "blue", "yellow"]
SIZES = ["small", "large"]
POSITIONS = ["left", "centre", "right"]
FAMILIES = {"shape": SHAPES, "colour": COLOURS, "size": SIZES, "position": POSITIONS}
VALUES = {"colour": COLOURS, "size": SIZES, "position": POSITIONS}
TEMPLATES = ["a {}", "a {} shape", "one {}", "the {}", "a drawing of a {}", "a {} again"]


# ----------------------------------------------------------------------------- tokens
def test_tokenize_and_indicator():
    assert tokenize("A photo of a Blue square, and a blue-green circle!") == [
        "blue", "square", "blue-green", "circle"
    ]  # fmt: skip
    assert tokenize("a red square", vocabulary=["Square", "a"]) == ["a", "square"]
    assert tokenize("the red", stop_words=None) == ["the", "red"]
    words, Z = word_indicator(["a red square", "a blue square", "red"], min_count=2)
    assert words == ["red", "square"]
    np.testing.assert_array_equal(Z, [[1, 1], [0, 1], [1, 0]])
    with pytest.raises(InputError, match="not one string"):
        word_indicator("a red square")
    with pytest.raises(InputError, match="must be strings"):
        tokenize(3)


def test_flatten_h_weights_timesteps_equally():
    rng = np.random.default_rng(0)
    h = np.concatenate([rng.normal(size=(10, 1, 3)), 100 * rng.normal(size=(10, 1, 3))], axis=1)
    H = flatten_h(h)
    assert H.shape == (10, 6)
    a, b = H[:, :3] - H[:, :3].mean(0), H[:, 3:] - H[:, 3:].mean(0)
    np.testing.assert_allclose((a**2).sum(1).mean(), 1.0)
    np.testing.assert_allclose((b**2).sum(1).mean(), 1.0)
    np.testing.assert_array_equal(flatten_h(h, timestep=1), h[:, 1])
    with pytest.raises(InputError, match="timestep=5 is not a column of h: it has 2"):
        flatten_h(h, timestep=5)
    with pytest.raises(InputError, match="NaN"):
        flatten_h(np.full((2, 2), np.nan))


# ------------------------------------------------------------------------- directions
def test_mean_difference_matches_explicit_means():
    rng = np.random.default_rng(1)
    H = rng.normal(size=(30, 5))
    texts = ["a red square", "a blue square", "a red circle", "a circle"]
    docs = [rng.choice(texts) for _ in range(30)]
    d = concept_directions(H, docs, method="mean_difference", min_count=1)
    for w in d.words:
        has = np.array([w in doc.split() for doc in docs])
        raw = H[has].mean(0) - H[~has].mean(0)
        np.testing.assert_allclose(d.vector(w), raw / np.linalg.norm(raw))
        np.testing.assert_allclose(d.norms[d.index[w]], np.linalg.norm(raw))
        assert d.counts[d.index[w]] == has.sum()
    np.testing.assert_allclose(d.project(H), H @ d.vectors.T)


def test_ridge_matches_lstsq_reference_with_and_without_groups():
    rng = np.random.default_rng(2)
    n, d, m, alpha = 40, 6, 4, 0.7
    Z = rng.random((n, m)) < 0.4
    H = rng.normal(size=(n, d)) + Z @ rng.normal(size=(m, d))
    groups = np.repeat(np.arange(10), 4)
    for g in (None, groups):
        dirs = concept_directions(H, Z.astype(int), words=list("abcd"), method="ridge",
                                  alpha=alpha, min_count=1, groups=g)  # fmt: skip
        if g is None:
            Hc, Zc = H - H.mean(0), Z - Z.mean(0)
        else:
            Hc = H - np.array([H[groups == k].mean(0) for k in groups])
            Zc = Z - np.array([Z[groups == k].mean(0) for k in groups])
        A = np.vstack([Zc, np.sqrt(alpha) * np.eye(m)])
        B = np.vstack([Hc, np.zeros((m, d))])
        ref = np.linalg.lstsq(A, B, rcond=None)[0]  # (m, d)
        np.testing.assert_allclose(dirs.vectors * dirs.norms[:, None], ref, rtol=1e-8, atol=1e-10)


def test_planted_directions_recovered_and_ridge_separates_correlated_words():
    rng = np.random.default_rng(3)
    n, d = 600, 20
    U, _ = np.linalg.qr(rng.normal(size=(d, 3)))
    U = U.T  # three orthonormal planted directions
    z = rng.random((n, 3)) < 0.5
    z[:, 1] = np.where(rng.random(n) < 0.8, z[:, 0], z[:, 1])  # word 1 mostly with word 0
    H = z @ (2 * U) + 0.5 * rng.normal(size=(n, d))
    words = ["square", "blue", "large"]
    ridge = concept_directions(H, z, words=words, method="ridge", alpha=1.0)
    mean = concept_directions(H, z, words=words, method="mean_difference")
    for j, w in enumerate(words):
        assert ridge.vector(w) @ U[j] > 0.95
    assert mean.vector("large") @ U[2] > 0.9
    # mean difference mixes the correlated pair; ridge does not (negative control)
    assert mean.vector("blue") @ U[0] > 0.4
    assert abs(ridge.vector("blue") @ U[0]) < 0.15


def test_directions_errors():
    H = np.zeros((4, 2))
    with pytest.raises(InputError, match="method='pca' is not valid"):
        concept_directions(H, ["a b"] * 4, method="pca")
    with pytest.raises(InputError, match="alpha=0 must be a positive"):
        concept_directions(H, ["a b"] * 4, method="ridge", alpha=0)
    with pytest.raises(InputError, match="h has 4 samples but there are 3"):
        concept_directions(H, ["red", "blue", "red"])
    with pytest.raises(InputError, match="No word is in at least min_count=2"):
        concept_directions(H, ["red", "red", "red", "blue"])
    with pytest.raises(InputError, match="words has 1 names for an indicator with 2 columns"):
        concept_directions(H, np.ones((4, 2)), words=["a"])
    with pytest.raises(InputError, match="0/1"):
        concept_directions(H, np.full((4, 2), 2.0))


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
def synthetic(planted, *, seed=0, A=1.0, signal=2.0, n_seeds=16, d=32, noise=0.7, spread=0.15):
    """h = shape + template + colour + size + position components + noise.

    ``planted``: {(shape, value): p}: samples of that shape get that colour/size/position
    with probability p, the other values of its family uniformly otherwise; everything else
    is independent and uniform. Captions name every generated value.
    """
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    shape_dir = dict(zip(SHAPES, Q[:4], strict=True))
    value_dir = dict(zip(COLOURS + SIZES + POSITIONS, Q[4:13], strict=True))
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
                size, colour, where = drawn["size"], drawn["colour"], drawn["position"]
                captions.append(f"a {size} {colour} {s} on the {where}")
    return np.array(H), prompts, captions


#: One association into each attribute family: conservation effects stay small (see the docs).
PLANTED = {("square", "blue"): 0.9, ("circle", "large"): 0.9, ("triangle", "left"): 0.9}


@pytest.mark.parametrize("method", ["mean_difference", "ridge"])
def test_planted_associations_recovered(method):
    H, prompts, captions = synthetic(PLANTED, seed=0)
    table = score_associations(H, prompts, captions, families=FAMILIES, method=method,
                               n_permutations=2000, random_state=0)  # fmt: skip
    assert table.column_names[:5] == list(COLUMNS)
    rows = table.to_pylist()
    found = {(r["concept"], r["attribute"]) for r in rows if r["significant"]}
    assert found == set(PLANTED), found  # recall 1, no false association
    by = {(r["concept"], r["attribute"]): r for r in rows}
    for pair in PLANTED:
        assert by[pair]["effect"] > 0.55
        assert by[pair]["q_value"] < 0.05
        assert by[pair]["caption_rate_concept"] > 0.8
        assert by[pair]["caption_rate_concept"] - by[pair]["caption_rate_rest"] > 0.3
        assert by[pair]["caption_p_value"] < 0.01
    # secondary associations by conservation (circles are rarely small, so the other shapes
    # look relatively small): real in the captions, small in effect, not significant
    small = by[("triangle", "small")]
    assert small["caption_rate_concept"] > small["caption_rate_rest"]
    assert 0 < small["effect"] < 0.5
    assert not small["significant"]
    secondary = [r["effect"] for r in rows if (r["concept"], r["attribute"]) not in PLANTED]
    assert max(secondary) < 0.5
    # same-family and same-word pairs are never tested; 4 shapes x 6 values
    assert all(r["attribute"] not in SHAPES for r in rows)
    assert len(rows) == 4 * 9
    # the baseline of 'square' is the other shapes' prompts
    assert by[("square", "blue")]["n_concept"] == 96
    assert by[("square", "blue")]["n_rest"] == 288
    assert by[("square", "blue")]["n_prompts_concept"] == 6


def test_null_finds_nothing_and_p_values_are_calibrated():
    pvals, found = [], 0
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        H = rng.normal(size=(192, 16))
        prompts = [TEMPLATES[k % 6].format(SHAPES[k // 48]) for k in range(192)]
        captions = [f"a {rng.choice(SIZES)} {rng.choice(COLOURS)} {rng.choice(POSITIONS)}"
                    for _ in range(192)]
        table = score_associations(H, prompts, captions, families=FAMILIES, n_permutations=400,
                                   random_state=seed)  # fmt: skip
        pvals += table.column("p_value").to_pylist()
        found += sum(table.column("significant").to_pylist())
    pvals = np.array(pvals)
    # under the complete null BH gives a run any finding with probability <= 5 %
    assert found <= 1
    assert pvals.size == 6 * 36
    # roughly uniform (216 p-values)
    from scipy.stats import kstest

    assert kstest(pvals, "uniform").pvalue > 0.01
    assert 0.01 <= (pvals < 0.1).mean() <= 0.2
    # two-sided runs and is no more significant than one-sided on the null
    two = score_associations(H, prompts, captions, families=FAMILIES, alternative="two-sided",
                             n_permutations=200)  # fmt: skip
    assert sum(two.column("significant").to_pylist()) == 0


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

    from types import SimpleNamespace

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
