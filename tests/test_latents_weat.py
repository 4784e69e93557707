"""WEAT against a brute-force reference, planted bias, null calibration and input errors."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest

from diffembed.exceptions import InputError
from diffembed.latents.weat import WEATResult, association, weat, weat_words


def _cos(u, v):
    return float(np.dot(u, v) / (math.sqrt(np.dot(u, u)) * math.sqrt(np.dot(v, v))))


def _reference(X, Y, A, B, ddof):
    """Textbook WEAT: loops, statistics.stdev, every partition enumerated."""

    def s(w):
        return statistics.fmean(_cos(w, a) for a in A) - statistics.fmean(_cos(w, b) for b in B)

    W = list(X) + list(Y)
    sw = [s(w) for w in W]
    sx, sy = sw[: len(X)], sw[len(X) :]
    stat = sum(sx) - sum(sy)
    std = statistics.stdev(sw) if ddof == 1 else statistics.pstdev(sw)
    d = (statistics.fmean(sx) - statistics.fmean(sy)) / std
    n = len(W)
    hits = total = 0
    for part in itertools.combinations(range(n), len(X)):
        rest = [i for i in range(n) if i not in part]
        stat_i = sum(sw[i] for i in part) - sum(sw[i] for i in rest)
        hits += stat_i >= stat - 1e-12
        total += 1
    return d, stat, hits / total, total


def _planted(rng, n=8, dim=16, strength=1.0):
    a, b = rng.normal(size=(2, dim))
    X = strength * a + rng.normal(size=(n, dim))
    Y = strength * b + rng.normal(size=(n, dim))
    A = a + rng.normal(size=(n, dim))
    B = b + rng.normal(size=(n, dim))
    return X, Y, A, B


@pytest.mark.parametrize(("nx", "ny", "seed"), [(3, 3, 0), (4, 4, 1), (5, 3, 2), (2, 6, 3)])
@pytest.mark.parametrize("ddof", [0, 1])
def test_matches_brute_force_reference(nx, ny, seed, ddof):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(nx, 5)), rng.normal(size=(ny, 5))
    A, B = rng.normal(size=(4, 5)), rng.normal(size=(3, 5))
    X[:, 0] += 1.0  # a little signal so that p is not trivially 1/2
    A[:, 0] += 1.0
    d, stat, p, total = _reference(X, Y, A, B, ddof)
    result = weat(X, Y, A, B, ddof=ddof)
    assert isinstance(result, WEATResult)
    assert result.exact
    assert result.n_permutations == total == math.comb(nx + ny, nx)
    assert result.effect_size == pytest.approx(d, abs=1e-12)
    assert result.statistic == pytest.approx(stat, abs=1e-12)
    assert result.p_value == pytest.approx(p, abs=1e-15)
    assert result.alternative == "greater"


def test_ddof_factor_and_association_function():
    rng = np.random.default_rng(4)
    X, Y, A, B = _planted(rng, n=5)
    r0 = weat(X, Y, A, B, ddof=0)
    r1 = weat(X, Y, A, B, ddof=1)
    assert r1.effect_size == pytest.approx(r0.effect_size * math.sqrt(9 / 10), rel=1e-12)
    s = association(np.vstack([X, Y]), A, B)
    assert s[0] == pytest.approx(
        np.mean([_cos(X[0], a) for a in A]) - np.mean([_cos(X[0], b) for b in B]), abs=1e-12
    )
    # cosine: scaling any vector changes nothing
    r2 = weat(3 * X, Y, 0.1 * A, B, ddof=0)
    assert r2.effect_size == pytest.approx(r0.effect_size, abs=1e-12)


def test_planted_bias_large_effect_small_p_and_alternatives():
    rng = np.random.default_rng(0)
    X, Y, A, B = _planted(rng, n=8, dim=16, strength=1.5)
    result = weat(X, Y, A, B, n_permutations=20_000)
    assert result.exact  # C(16, 8) = 12870 partitions
    assert result.effect_size > 1.5
    assert result.p_value < 1e-3
    flipped = weat(Y, X, A, B, n_permutations=20_000)
    assert flipped.effect_size == pytest.approx(-result.effect_size)
    assert flipped.p_value > 0.99
    less = weat(Y, X, A, B, alternative="less", n_permutations=20_000)
    assert less.p_value == pytest.approx(result.p_value)
    two = weat(X, Y, A, B, alternative="two-sided", n_permutations=20_000)
    assert two.p_value == pytest.approx(2 * result.p_value)
    # negative control: the same X, Y against unrelated attributes
    null = weat(X, Y, rng.normal(size=(8, 16)), rng.normal(size=(8, 16)))
    assert abs(null.effect_size) < result.effect_size / 2


def test_random_partitions_when_too_many_and_determinism():
    rng = np.random.default_rng(1)
    X, Y, A, B = _planted(rng, n=10, dim=12, strength=0.3)  # C(20, 10) = 184756
    a = weat(X, Y, A, B, n_permutations=2000, random_state=3)
    b = weat(X, Y, A, B, n_permutations=2000, random_state=3)
    assert not a.exact
    assert a.n_permutations == 2000
    assert a == b
    assert a.p_value >= 1 / 2001  # never zero
    exact = weat(X, Y, A, B, n_permutations=200_000)
    assert exact.exact
    assert exact.n_permutations == 184756
    # the Monte Carlo p-value is within 4 binomial standard errors of the exact one
    se = math.sqrt(exact.p_value * (1 - exact.p_value) / 2000) + 1 / 2000
    assert abs(a.p_value - exact.p_value) < 4 * se
    assert a.effect_size == exact.effect_size


def test_null_p_values_are_calibrated():
    from scipy import stats

    rng = np.random.default_rng(7)
    ps = []
    for i in range(300):
        X, Y, A, B = (rng.normal(size=(6, 10)) for _ in range(4))  # 924 partitions, exact
        ps.append(weat(X, Y, A, B, random_state=i).p_value)
    ps = np.array(ps)
    assert stats.kstest(ps, "uniform").pvalue > 0.01
    assert 0.02 < np.mean(ps < 0.05) < 0.09
    assert 0.4 < np.mean(ps < 0.5) < 0.6
    # random-partition p-values too
    ps = []
    for i in range(150):
        X, Y, A, B = (rng.normal(size=(9, 10)) for _ in range(4))
        ps.append(weat(X, Y, A, B, n_permutations=300, random_state=i).p_value)
    assert stats.kstest(ps, "uniform").pvalue > 0.01


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda s: {**s, "X": np.zeros((0, 4))}, "X is empty"),
        (
            lambda s: {**s, "B": np.ones((3, 5))},
            "B has vectors of dimension 5 but X has dimension 4",
        ),
        (
            lambda s: {**s, "A": np.full((3, 4), np.nan)},
            r"A contains NaN or infinite values \(rows 0",
        ),
        (lambda s: {**s, "Y": np.zeros((3, 4))}, "Y contains zero vectors"),
        (lambda s: {**s, "X": np.ones(4)}, r"2-D array of vectors.*shape \(4,\)"),
        (lambda s: {**s, "alternative": "bigger"}, "alternative='bigger' is not supported"),
        (lambda s: {**s, "ddof": 2}, "ddof=2 is not supported"),
        (lambda s: {**s, "n_permutations": 0}, "n_permutations=0 is out of range"),
    ],
)
def test_input_errors(change, match):
    rng = np.random.default_rng(0)
    sets = {k: rng.normal(size=(3, 4)) for k in "XYAB"}
    kw = change(sets)
    with pytest.raises(InputError, match=match):
        weat(kw.pop("X"), kw.pop("Y"), kw.pop("A"), kw.pop("B"), **kw)


def test_constant_associations_give_nan_with_warning():
    X = np.array([[1.0, 0.0], [1.0, 0.0]])
    with pytest.warns(RuntimeWarning, match="effect size is NaN"):
        result = weat(X, X.copy(), np.array([[1.0, 1.0]]), np.array([[0.0, 1.0]]))
    assert math.isnan(result.effect_size)


def test_weat_words_with_mapping_and_callable():
    rng = np.random.default_rng(2)
    X, Y, A, B = _planted(rng, n=4, dim=8)
    words = {
        f"{k}{i}": v for k, arr in zip("xyab", (X, Y, A, B), strict=True) for i, v in enumerate(arr)
    }
    sets = [[f"{k}{i}" for i in range(4)] for k in "xyab"]
    direct = weat(X, Y, A, B)
    assert weat_words(words, *sets) == direct

    from diffembed.embed.keyed import KeyedVectors

    kv = KeyedVectors(list(words), np.vstack(list(words.values())))
    assert weat_words(kv, *sets) == direct

    def encoder(batch):
        return np.vstack([words[w] for w in batch])

    assert weat_words(encoder, *sets) == direct
    with pytest.raises(InputError, match=r"1 words are not in the vocabulary: 'zzz'"):
        weat_words(words, sets[0] + ["zzz"], *sets[1:])
    with pytest.warns(UserWarning, match="Dropped 1 words"):
        dropped = weat_words(words, sets[0] + ["zzz"], *sets[1:], on_missing="drop")
    assert dropped == direct
    with pytest.raises(InputError, match="targets_y is empty"):
        weat_words(words, sets[0], [], *sets[2:])
    with pytest.raises(InputError, match="not one string"):
        weat_words(words, "x0", *sets[1:])
    with pytest.raises(InputError, match="one vector per word"):
        weat_words(lambda batch: np.zeros((1, 3)), *sets)
    with pytest.raises(InputError, match=r"callable .* or a word -> vector mapping"):
        weat_words(42, *sets)
