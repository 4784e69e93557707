"""Sentence and document vectors from word vectors.

Three ways, as the source lecture lists them:

- ``"mean"``: the average of the vectors of the known words.
- ``"sif"``: smooth inverse frequency (Arora, Liang & Ma 2017): the weighted mean
  ``v_s = (1/|s|) Σ_{w∈s} a / (a + p(w)) · v_w`` with word frequency ``p(w)``, then the
  projection on the first principal direction ``u`` of all sentence vectors (the first right
  singular vector of the matrix of ``v_s``, not centred) is removed: ``v_s − u uᵀ v_s``.
- ``"pcs"``: the concatenation of the top ``n_pcs`` principal directions of a sentence's own
  word-vector matrix ``W_s`` (one row per word; no centring): ``[σ₁ v₁, …, σ_k v_k] / √|s|``,
  each direction signed to point along the sentence mean. A one-word sentence gives its
  word vector followed by zeros; fewer words than ``n_pcs`` leave zero blocks.

Words missing from the vocabulary are skipped; a sentence without any known word gets a zero
vector, and a warning says how many there were.

>>> import numpy as np
>>> from diffembed.embed import KeyedVectors, sentence_vectors
>>> wv = KeyedVectors(["a", "b"], np.eye(2))
>>> sentence_vectors(wv, ["a b", "b"], how="mean").tolist()
[[0.5, 0.5], [0.0, 1.0]]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import numpy as np

from .._validation import check_int, check_real
from ..exceptions import InputError
from .cooccurrence import default_tokenizer
from .keyed import KeyedVectors

__all__ = ["sentence_vectors"]

How = Literal["mean", "sif", "pcs"]


def _tokens(sentences: Iterable[str | Sequence[str]], tokenizer) -> list[list[str]]:
    if isinstance(sentences, str):
        msg = "sentences must be a list of texts (or token lists), not one string: [text]."
        raise InputError(msg)
    out = []
    for s in sentences:
        out.append(tokenizer(s) if isinstance(s, str) else [str(t) for t in s])
    if not out:
        msg = "sentences is empty; give at least one sentence."
        raise InputError(msg)
    return out


def sentence_vectors(
    word_vectors: KeyedVectors,
    sentences: Iterable[str | Sequence[str]],
    *,
    how: How = "sif",
    a: float = 1e-3,
    word_frequencies: Mapping[str, float] | None = None,
    remove_components: int = 1,
    n_pcs: int = 2,
    tokenizer: Callable[[str], list[str]] | None = None,
) -> np.ndarray:
    """Embed sentences (or documents) from the vectors of their words.

    Parameters
    ----------
    word_vectors
        Word vectors, e.g. from :func:`~diffembed.embed.word_vectors` (which carry corpus
        counts, so SIF needs nothing else).
    sentences
        Texts (tokenised with ``tokenizer``) or token lists.
    how
        ``"mean"``, ``"sif"`` or ``"pcs"`` (see the module description).
    a
        SIF smoothing: weights ``a / (a + p(w))``; 1e-3 as in Arora et al.
    word_frequencies
        ``p(w)`` for SIF (relative frequencies); default: from ``word_vectors.counts``.
    remove_components
        Principal directions removed by SIF (1 in the paper; 0 keeps the weighted mean).
    n_pcs
        Directions concatenated by ``"pcs"``; the result has ``n_pcs × dim`` columns.
    tokenizer
        Text → tokens (default: the same lower-casing tokenizer as ``word_vectors``).

    Returns
    -------
    ndarray of shape (n_sentences, dim) (``n_pcs × dim`` for ``"pcs"``), float64
    """
    if how not in ("mean", "sif", "pcs"):
        msg = f"how={how!r} is not supported; choose 'mean', 'sif' or 'pcs'."
        raise InputError(msg)
    tokens = _tokens(sentences, tokenizer or default_tokenizer)
    index = word_vectors.key_to_index
    rows = [[index[w] for w in sent if w in index] for sent in tokens]
    V = np.asarray(word_vectors.vectors, dtype=np.float64)
    dim = V.shape[1]
    empty = sum(1 for r in rows if not r)
    if empty == len(rows):
        msg = (
            f"None of the {len(rows)} sentence(s) has a word in the vocabulary of "
            f"{len(word_vectors)} words (e.g. {tokens[0][:5]}). Check the tokenizer (words are "
            "lower-cased by default) and that the vectors cover this language."
        )
        raise InputError(msg)
    if empty:
        warnings.warn(
            f"{empty} of {len(rows)} sentence(s) have no word in the vocabulary; their vectors "
            "are zero.",
            stacklevel=2,
        )
    if how == "pcs":
        n_pcs = check_int(n_pcs, "n_pcs", low=1)
        return np.vstack([_top_directions(V[r], n_pcs, dim) for r in rows])
    weights = np.ones(V.shape[0])
    if how == "sif":
        a = check_real(a, "a", low=0.0, low_inclusive=False)
        p = _frequencies(word_vectors, word_frequencies)
        weights = a / (a + p)
    out = np.zeros((len(rows), dim))
    for i, r in enumerate(rows):
        if r:
            out[i] = weights[r] @ V[r] / len(r)
    if how == "sif":
        remove_components = check_int(remove_components, "remove_components", low=0)
        out = remove_principal_components(out, remove_components)
    return out


def _frequencies(wv: KeyedVectors, given: Mapping[str, float] | None) -> np.ndarray:
    if given is None:
        if wv.counts is None:
            msg = (
                "SIF weights need word frequencies: these vectors carry no corpus counts. Pass "
                "word_frequencies={word: p(word)} or use how='mean'."
            )
            raise InputError(msg)
        counts = np.asarray(wv.counts, dtype=np.float64)
        return counts / counts.sum()
    p = np.array([float(given.get(str(k), 0.0)) for k in wv.keys])
    if (p < 0).any():
        msg = "word_frequencies must be non-negative."
        raise InputError(msg)
    return p


def remove_principal_components(X: np.ndarray, k: int = 1) -> np.ndarray:
    """``X − X U Uᵀ`` for the top ``k`` right singular vectors ``U`` of ``X`` (not centred)."""
    if k <= 0:
        return X
    k = min(k, min(X.shape) - 1) if min(X.shape) > 1 else 0
    if k <= 0:
        return X
    _, _, Vt = np.linalg.svd(X, full_matrices=False)
    U = Vt[:k].T
    return X - (X @ U) @ U.T


def _top_directions(W: np.ndarray, k: int, dim: int) -> np.ndarray:
    out = np.zeros(k * dim)
    if W.shape[0] == 0:
        return out
    _, s, Vt = np.linalg.svd(W, full_matrices=False)
    mean = W.mean(axis=0)
    for j in range(min(k, s.size)):
        v = Vt[j]
        ref = v @ mean
        if ref < 0 or (ref == 0 and v[np.abs(v).argmax()] < 0):
            v = -v
        out[j * dim : (j + 1) * dim] = s[j] * v / np.sqrt(W.shape[0])
    return out
