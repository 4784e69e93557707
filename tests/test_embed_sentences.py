"""Sentence vectors: mean, SIF and top-PC concatenation against their formulas."""

from __future__ import annotations

import numpy as np
import pytest

from diffembed.embed import KeyedVectors, WordVectors, sentence_vectors
from diffembed.exceptions import InputError


@pytest.fixture
def vectors() -> WordVectors:
    rng = np.random.default_rng(7)
    words = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far"]
    return WordVectors(
        words, rng.standard_normal((8, 5)), counts=np.array([50, 5, 4, 30, 3, 6, 2, 1])
    )


SENTENCES = ["the cat sat on the mat", "the dog ran far", "cat dog", "on the mat", "far far away"]


def test_mean_is_the_average_of_known_words(vectors):
    X = sentence_vectors(vectors, SENTENCES, how="mean")
    V = vectors.vectors
    np.testing.assert_allclose(X[1], V[[0, 5, 6, 7]].mean(axis=0))
    np.testing.assert_allclose(X[4], V[7])  # "away" is unknown and skipped
    np.testing.assert_allclose(X[0], V[[0, 1, 2, 3, 0, 4]].mean(axis=0))


def test_sif_equals_its_formula(vectors):
    """v_s = mean of a/(a+p(w)) v_w, minus its projection on the first principal direction.

    The direction is taken here from an eigen-decomposition of VᵀV (the implementation uses
    an SVD of V), so the two routes are independent.
    """
    a = 1e-2
    X = sentence_vectors(vectors, SENTENCES, how="sif", a=a)
    p = vectors.counts / vectors.counts.sum()
    index = vectors.key_to_index
    raw = []
    for s in SENTENCES:
        ids = [index[w] for w in s.split() if w in index]
        raw.append(np.mean([a / (a + p[i]) * vectors.vectors[i] for i in ids], axis=0))
    raw = np.array(raw)
    _, eigvecs = np.linalg.eigh(raw.T @ raw)
    u = eigvecs[:, -1]
    expected = raw - np.outer(raw @ u, u)
    np.testing.assert_allclose(X, expected, atol=1e-10)
    no_removal = sentence_vectors(vectors, SENTENCES, how="sif", a=a, remove_components=0)
    np.testing.assert_allclose(no_removal, raw, atol=1e-12)
    freqs = dict(zip(vectors.words, p, strict=True))
    plain = KeyedVectors(vectors.keys, vectors.vectors)
    given = sentence_vectors(plain, SENTENCES, how="sif", a=a, word_frequencies=freqs)
    np.testing.assert_allclose(given, X, atol=1e-12)


def test_top_principal_directions_are_concatenated(vectors):
    X = sentence_vectors(vectors, ["cat", "cat dog", "the cat sat on the mat"], how="pcs", n_pcs=2)
    d = vectors.dim
    assert X.shape == (3, 2 * d)
    np.testing.assert_allclose(X[0, :d], vectors["cat"])  # one word: its own vector
    np.testing.assert_allclose(X[0, d:], 0.0)
    W = vectors[["cat", "dog"]]
    _, s, Vt = np.linalg.svd(W, full_matrices=False)
    for j in range(2):
        block = X[1, j * d : (j + 1) * d]
        assert np.linalg.norm(block) == pytest.approx(s[j] / np.sqrt(2))
        assert abs(block @ Vt[j]) == pytest.approx(np.linalg.norm(block))
    assert X[1, :d] @ W.mean(axis=0) > 0  # signed along the sentence mean


def test_unknown_words_and_errors(vectors):
    with pytest.warns(UserWarning, match="1 of 2 sentence"):
        X = sentence_vectors(vectors, ["the cat", "zebra xylophone"], how="mean")
    np.testing.assert_array_equal(X[1], 0.0)
    with pytest.raises(InputError, match="None of the 1 sentence"):
        sentence_vectors(vectors, ["zebra"], how="mean")
    with pytest.raises(InputError, match="how="):
        sentence_vectors(vectors, ["cat"], how="max")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no corpus counts"):
        sentence_vectors(KeyedVectors(vectors.keys, vectors.vectors), ["cat dog"], how="sif")
    with pytest.raises(InputError, match="not one string"):
        sentence_vectors(vectors, "the cat")
    tokens = sentence_vectors(vectors, [["cat", "dog"]], how="mean")
    np.testing.assert_allclose(tokens[0], vectors[["cat", "dog"]].mean(axis=0))
