"""Latent semantic analysis: documents → term–document matrix → truncated SVD.

scikit-learn builds the matrix (``CountVectorizer`` or ``TfidfVectorizer``, stop words,
document-frequency cuts) and factorises it (``TruncatedSVD``). For the document–term matrix
``X ≈ U Σ Vᵀ``, documents get ``U Σ`` (what ``TruncatedSVD.transform`` returns, so new
documents fold in) and terms get ``V Σ^p`` (``p = ½`` by default, as for PPMI-SVD words).

>>> from diffembed.embed import lsa
>>> docs = ["cats chase mice", "dogs chase cats", "stocks fell sharply", "markets fell"]
>>> result = lsa(docs, n_components=2, stop_words=None)
>>> result.document_vectors.shape
(4, 2)
>>> result.most_similar_documents(0, topn=1)[0][0]
1
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .. import _progress
from .._api import LSAOutputMixin
from .._validation import check_int, check_real, check_strings
from ..exceptions import InputError
from ._factorize import weighted_factors
from .keyed import KeyedVectors, WordVectors

__all__ = ["LSAResult", "lsa"]


@dataclass
class LSAResult(LSAOutputMixin):
    """The output of :func:`lsa`.

    Attributes
    ----------
    document_vectors : ndarray of shape (n_documents, n_components)
        ``U Σ``.
    words : WordVectors
        Term vectors ``V Σ^p`` keyed by term (``words["cat"]``, ``words.most_similar``), with
        document frequencies as counts.
    singular_values, explained_variance_ratio : ndarray of shape (n_components,)
    vectorizer, svd
        The fitted scikit-learn objects (for :meth:`transform`).
    """

    document_vectors: np.ndarray
    words: WordVectors
    singular_values: np.ndarray
    explained_variance_ratio: np.ndarray
    vectorizer: Any
    svd: Any
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def documents(self) -> KeyedVectors:
        """Document vectors keyed by document number."""
        return KeyedVectors(range(self.document_vectors.shape[0]), self.document_vectors)

    def transform(self, documents: Iterable[str]) -> np.ndarray:
        """Fold new documents into the latent space (``x V``, as for the fitted ones)."""
        return self.svd.transform(self.vectorizer.transform(list(documents)))

    def most_similar_terms(self, term: str, topn: int = 10) -> list[tuple[Any, float]]:
        """Terms closest to ``term`` in cosine."""
        return self.words.most_similar(term, topn=topn)

    def most_similar_documents(self, query: int | str, topn: int = 10) -> list[tuple[Any, float]]:
        """Documents closest to document number ``query``, or to a new text ``query``."""
        docs = self.documents
        if isinstance(query, str):
            return docs.most_similar(self.transform([query])[0], topn=topn)
        return docs.most_similar(int(query), topn=topn)


@_progress.verbose_function
def lsa(
    documents: Sequence[str] | Iterable[str],
    n_components: int = 100,
    *,
    weighting: Literal["tfidf", "count"] = "tfidf",
    stop_words: Literal["english"] | list[str] | None = "english",
    min_df: int | float = 1,
    max_df: int | float = 1.0,
    max_features: int | None = None,
    sublinear_tf: bool = True,
    eig: float = 0.5,
    n_iter: int = 5,
    random_state: int | None = 0,
    verbose: int = 0,
) -> LSAResult:
    """Latent semantic analysis of a collection of documents.

    Parameters
    ----------
    documents
        The texts, one per document.
    n_components
        Latent dimensions; fewer than both the number of documents and of terms.
    weighting
        ``"tfidf"`` (``TfidfVectorizer``, with ``sublinear_tf`` = 1 + log tf) or ``"count"``.
    stop_words
        ``"english"`` (scikit-learn's list), a list of words, or None.
    min_df, max_df, max_features
        Vocabulary cuts, as in scikit-learn's vectorizers.
    eig
        Eigenvalue weighting ``p`` of the term vectors ``V Σ^p``.
    n_iter, random_state
        Power iterations and seed of the randomized SVD.
    verbose
        0 (default): silent. 1: a line per step on stderr (vectorize, svd) with its time and
        rate (documents per second).

    Returns
    -------
    LSAResult

    Raises
    ------
    InputError
        No documents, an empty vocabulary (every word a stop word or cut), ``n_components``
        too large.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    docs = check_strings(
        documents, "documents", item="document", empty_hint="LSA needs at least 2 documents"
    )
    if weighting not in ("tfidf", "count"):
        msg = f"weighting={weighting!r} is not supported; choose 'tfidf' or 'count'."
        raise InputError(msg)
    eig = check_real(eig, "eig", low=0.0, high=1.0)
    options: dict[str, Any] = {
        "stop_words": stop_words,
        "min_df": min_df,
        "max_df": max_df,
        "max_features": max_features,
        "dtype": np.float64,
    }
    if weighting == "tfidf":
        vectorizer = TfidfVectorizer(sublinear_tf=sublinear_tf, **options)
    else:
        vectorizer = CountVectorizer(**options)
    try:
        with _progress.task("vectorize", len(docs), unit="documents") as running:
            X = vectorizer.fit_transform(docs)
            running.advance(len(docs))
    except ValueError as exc:  # "empty vocabulary", "max_df corresponds to < documents than min_df"
        msg = (
            f"No vocabulary could be built from {len(docs)} document(s): {exc}. Give documents "
            "with words, lower min_df / raise max_df, or pass stop_words=None."
        )
        raise InputError(msg) from exc
    n_docs, n_terms = X.shape
    bound = min(n_docs, n_terms)
    if bound < 2:
        msg = (
            f"LSA needs at least 2 documents and 2 terms; got {n_docs} document(s) and "
            f"{n_terms} term(s)."
        )
        raise InputError(msg)
    fix = f"There are {n_docs} documents and {n_terms} terms; use at most {bound - 1}."
    n_components = check_int(n_components, "n_components", low=1, high=bound - 1, fix=fix)
    svd = TruncatedSVD(
        n_components, algorithm="randomized", n_iter=n_iter, random_state=random_state
    )
    with _progress.task("svd"):
        doc_vectors = svd.fit_transform(X)
    s = svd.singular_values_
    terms = vectorizer.get_feature_names_out().tolist()
    Vt = svd.components_
    signs = np.sign(Vt[np.arange(Vt.shape[0]), np.abs(Vt).argmax(axis=1)])
    signs[signs == 0] = 1
    svd.components_ = Vt * signs[:, None]  # transform() stays consistent with the new signs
    doc_vectors = doc_vectors * signs
    _, term_vectors = weighted_factors(np.zeros((1, s.size)), s, svd.components_, eig)
    df = np.bincount(X.indices, minlength=n_terms)
    info = {
        "method": "lsa",
        "n_documents": n_docs,
        "n_terms": n_terms,
        "weighting": weighting,
        "nnz": int(X.nnz),
        "parameters": {
            "n_components": n_components,
            "stop_words": stop_words if isinstance(stop_words, str | None) else "custom",
            "min_df": min_df,
            "max_df": max_df,
            "max_features": max_features,
            "sublinear_tf": sublinear_tf,
            "eig": eig,
            "random_state": random_state,
        },
    }
    words = WordVectors(terms, term_vectors, counts=df, info=info, singular_values=s)
    return LSAResult(
        document_vectors=doc_vectors,
        words=words,
        singular_values=s,
        explained_variance_ratio=svd.explained_variance_ratio_,
        vectorizer=vectorizer,
        svd=svd,
        info=info,
    )
