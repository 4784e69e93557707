"""Word directions against references and planted answers (associations: elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

from diffembed.exceptions import InputError
from diffembed.latents.directions import (
    concept_directions,
    flatten_h,
    tokenize,
    word_indicator,
)


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
