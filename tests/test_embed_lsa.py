"""LSA: document and term vectors are the SVD factors of the TF-IDF matrix; queries; errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from diffembed.embed import lsa
from diffembed.exceptions import InputError

DOCS = [
    "cats chase mice in the barn",
    "dogs chase cats around the barn",
    "mice fear cats and dogs",
    "stocks fell as markets slid",
    "markets rallied and stocks rose",
    "bond markets and stocks moved together",
]


def test_factors_match_a_dense_svd_of_tfidf():
    res = lsa(DOCS, 3, stop_words=None, eig=0.5)
    X = TfidfVectorizer(sublinear_tf=True).fit_transform(DOCS).toarray()
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    np.testing.assert_allclose(res.singular_values, s[:3], rtol=1e-6)
    for j in range(3):
        sign = np.sign(res.document_vectors[:, j] @ U[:, j])
        np.testing.assert_allclose(res.document_vectors[:, j], sign * U[:, j] * s[j], atol=1e-6)
        np.testing.assert_allclose(res.words.vectors[:, j], sign * Vt[j] * np.sqrt(s[j]), atol=1e-6)
    np.testing.assert_allclose(res.transform(DOCS), res.document_vectors, atol=1e-10)


def test_similar_words_and_documents():
    res = lsa(DOCS, 2)
    assert res.most_similar_documents(0, topn=2)[0][0] in (1, 2)
    assert res.most_similar_documents("stocks and markets", topn=1)[0][0] in (3, 4, 5)
    near = [w for w, _ in res.most_similar_terms("stocks", topn=3)]
    assert "markets" in near
    assert res.words.counts[res.words.index("markets")] == 3  # document frequency
    assert "the" not in res.words  # English stop words removed by default


def test_errors():
    with pytest.raises(InputError, match="empty"):
        lsa([], 2)
    with pytest.raises(InputError, match="No vocabulary could be built"):
        lsa(["the and of", "a an the"], 1)
    with pytest.raises(InputError, match=r"n_components=10 is out of range.*at most 5"):
        lsa(DOCS, 10)
    with pytest.raises(InputError, match="not one string"):
        lsa("one text", 1)
    with pytest.raises(InputError, match="weighting="):
        lsa(DOCS, 2, weighting="bm25")  # type: ignore[arg-type]
    counts = lsa(DOCS, 2, weighting="count")
    assert counts.document_vectors.shape == (6, 2)
