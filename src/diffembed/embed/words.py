"""Word vectors from a corpus: co-occurrence counts → (P)PMI → truncated SVD.

The count-based recipe of Levy, Goldberg & Dagan (2015), "Improving distributional similarity
with lessons learned from word embeddings": windowed co-occurrence counts (dynamic window
weights), PPMI with context-distribution smoothing α = 0.75, truncated SVD ``M ≈ U Σ Vᵀ``,
word vectors ``U Σ^p`` with eigenvalue weighting ``p = ½`` (``p = 1`` is the classic
``U Σ``, which loses several points on similarity tasks), optionally plus the context vectors
``V Σ^p`` (``w + c``).

>>> from diffembed.embed import word_vectors
>>> corpus = ["the cat sat on the mat", "the dog sat on the log"] * 50
>>> wv = word_vectors(corpus, dim=2, window=2, min_count=1)
>>> wv["cat"].shape
(2,)
>>> wv.most_similar("cat", topn=1)[0][0]
'dog'
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np

from .. import _progress
from .._validation import check_int, check_real
from ..exceptions import InputError
from ._factorize import check_dim, truncated_svd, weighted_factors
from .cooccurrence import CorpusLike, Tokenizer, Weighting, cooccurrence_counts
from .keyed import WordVectors
from .pmi import PMIKind, pmi_matrix

__all__ = ["word_vectors"]


@_progress.verbose_function
def word_vectors(
    corpus: CorpusLike,
    *,
    dim: int = 300,
    window: int = 5,
    min_count: int = 5,
    max_vocab: int | None = None,
    weighting: Weighting = "dynamic",
    kind: PMIKind = "ppmi",
    cds: float = 0.75,
    shift: float | None = None,
    eig: float = 0.5,
    context: Literal["none", "add"] = "none",
    tokenizer: Tokenizer | None = None,
    encoding_errors: str = "strict",
    n_iter: int = 5,
    random_state: int | None = 0,
    threads: int | None = None,
    chunk_tokens: int = 500_000,
    two_pass: bool | None = None,
    verbose: int = 0,
) -> WordVectors:
    """Build word vectors from a corpus by PPMI-SVD.

    Parameters
    ----------
    corpus
        A text file path (``str`` or ``pathlib.Path``; one segment per line; ``.gz`` allowed),
        a list of ``pathlib.Path`` files, an iterable of texts, or an iterable of token lists
        (a list of ``str`` is read as texts, not as file names). The corpus is read once,
        keeping 4 bytes per token, unless ``two_pass``.
    dim
        Dimensions of the vectors; must be smaller than the vocabulary.
    window
        Context window: words up to ``window`` kept tokens away on either side.
    min_count, max_vocab
        Keep words seen at least ``min_count`` times, at most the ``max_vocab`` most frequent
        (ties: the word seen first). Other words are removed before windowing.
    weighting
        ``"dynamic"`` (word2vec's expected weight ``(window − d + 1) / window``),
        ``"harmonic"`` (``1/d``) or ``"uniform"``.
    kind, cds, shift
        Association measure (see :func:`diffembed.embed.pmi.pmi_matrix`): ``"ppmi"``
        (default), ``"shifted_ppmi"`` (``max(PMI − log k, 0)``, k = ``shift`` or 5) or ``"pmi"``;
        context-distribution smoothing exponent ``cds`` (1 = none).
    eig
        Eigenvalue weighting ``p`` in ``U Σ^p``: 0, 0.5 (default) or 1 (any value in [0, 1]).
    context
        ``"add"`` returns ``U Σ^p + V Σ^p`` (word + context vectors); ``"none"`` only ``U Σ^p``.
        Context vectors are kept in ``context_vectors`` either way.
    tokenizer
        Function from a text to its tokens (default: lower-cased runs of letters).
    encoding_errors
        ``"strict"`` (default: non-UTF-8 bytes raise an error naming file and line),
        ``"replace"`` or ``"ignore"``.
    n_iter, random_state
        Power iterations and seed of the randomized SVD.
    threads
        Cap on BLAS threads during the SVD (default: leave as is). On a machine shared with
        other jobs, ``threads=1`` avoids oversubscription, which can slow the SVD 10×.
    chunk_tokens
        Tokens counted at once (memory bound of the counting step).
    two_pass
        Read the corpus twice (words, then pairs) instead of keeping 4 bytes per token in
        memory; default: only for corpus files above 1 GiB.
    verbose
        0 (default): silent. 1: a line per step on stderr with its time and rate, and
        progress lines with rate and ETA while a long step runs. 2: nested steps too.

    Returns
    -------
    WordVectors
        Keyed by word, most frequent first, with ``counts``, ``context_vectors``,
        ``singular_values`` and ``info`` (corpus sizes, matrix sizes, timings, parameters).

    Raises
    ------
    InputError
        Empty corpus, no word reaching ``min_count``, ``dim`` not smaller than the vocabulary,
        unreadable or non-UTF-8 files, bad parameters.
    """
    window = check_int(window, "window", low=1)
    min_count = check_int(min_count, "min_count", low=1)
    if max_vocab is not None:
        max_vocab = check_int(max_vocab, "max_vocab", low=2)
    dim = check_int(dim, "dim", low=1)
    eig = check_real(eig, "eig", low=0.0, high=1.0)
    chunk_tokens = check_int(chunk_tokens, "chunk_tokens", low=1)
    if context not in ("none", "add"):
        msg = f"context={context!r} is not supported; choose 'none' or 'add' (word + context)."
        raise InputError(msg)
    if encoding_errors not in ("strict", "replace", "ignore"):
        msg = f"encoding_errors={encoding_errors!r}: choose 'strict', 'replace' or 'ignore'."
        raise InputError(msg)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with _progress.task("count", unit="tokens", timings=timings):
        counts, vocab = cooccurrence_counts(
            corpus,
            window=window,
            min_count=min_count,
            max_vocab=max_vocab,
            weighting=weighting,
            tokenizer=tokenizer,
            encoding_errors=encoding_errors,
            chunk_tokens=chunk_tokens,
            two_pass=two_pass,
            dtype=np.float32,
        )
    n_words = len(vocab.words)
    dim = check_dim(dim, n_words, what="vocabulary words")
    with _progress.stage("pmi", timings):
        nnz_counts = counts.nnz
        # PPMI overwrites the float32 counts in place: one matrix of this size at a time
        M = pmi_matrix(counts, kind=kind, cds=cds, shift=shift, copy=False)
        del counts
    if M.nnz == 0:
        msg = (
            f"Every {kind.upper()} value is zero ({nnz_counts} co-occurring pairs, none above "
            "chance), so there is nothing to factorise. Use a larger corpus, a larger window, "
            "or kind='pmi'."
        )
        raise InputError(msg)
    with _progress.task("svd", timings=timings):
        U, s, Vt = truncated_svd(M, dim, n_iter=n_iter, random_state=random_state, threads=threads)
        pmi_nnz = int(M.nnz)
        del M
        W, C = weighted_factors(U, s, Vt, eig, copy=False)
        del U, Vt
    W = W.astype(np.float32, copy=False)
    C = np.ascontiguousarray(C, dtype=np.float32)
    vectors = W + C if context == "add" else W
    timings["total"] = time.perf_counter() - start
    info: dict[str, Any] = {
        "method": "ppmi-svd",
        "parameters": {
            "dim": dim,
            "window": window,
            "min_count": min_count,
            "max_vocab": max_vocab,
            "weighting": weighting,
            "kind": kind,
            "cds": cds,
            "shift": shift,
            "eig": eig,
            "context": context,
            "n_iter": n_iter,
            "random_state": random_state,
            "threads": threads,
        },
        "n_tokens": vocab.n_tokens,
        "n_segments": vocab.n_segments,
        "n_types": vocab.n_types,
        "n_words": n_words,
        "tokens_in_vocabulary": float(vocab.counts.sum() / vocab.n_tokens),
        "cooccurrence_nnz": int(nnz_counts),
        "pmi_nnz": pmi_nnz,
        "timings": timings,
    }
    return WordVectors(
        vocab.words,
        vectors,
        counts=vocab.counts,
        info=info,
        context_vectors=C,
        singular_values=s,
    )
