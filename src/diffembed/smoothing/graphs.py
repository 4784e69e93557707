"""Graphs to smooth over: own kNN, a lexicon, a reference run, a consensus of runs, or given.

Every builder returns a symmetric, non-negative :class:`scipy.sparse.csr_matrix` over the rows
of the matrix being smoothed (no diagonal), plus a dict of facts (edges, rows with an edge,
words skipped). Only a graph that does **not** depend on the run being smoothed (a lexicon, a
reference run, a consensus, a user graph) makes independent runs closer: for a fixed graph and
a filter with gains in [0, 1], ``‖S X_a − S X_b‖ ≤ ‖X_a − X_b‖`` (research note A.4). A run's
own kNN graph carries that run's noise, and smoothing over it did not raise neighbour overlap
across runs in any setting measured (A-1).
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..exceptions import InputError
from ..neighbors import knn_graph

__all__ = [
    "align_rows",
    "check_adjacency",
    "consensus_adjacency",
    "knn_adjacency",
    "lexicon_adjacency",
    "read_pairs",
    "reference_adjacency",
    "wordnet_synonyms",
]


def _symmetric(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n: int) -> sp.csr_matrix:
    A = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    A = A.maximum(A.T).tocsr()
    A.setdiag(0.0)
    A.eliminate_zeros()
    A.sort_indices()
    return A


def knn_adjacency(
    X: np.ndarray,
    n_neighbors: int = 10,
    *,
    metric: str = "cosine",
    symmetrize: str = "union",
    weights: str = "connectivity",
    knn: str = "auto",
) -> sp.csr_matrix:
    """The kNN graph of ``X`` as a symmetric adjacency (the engine's :func:`knn_graph`).

    Parameters
    ----------
    X
        Vectors, shape (n, d).
    n_neighbors
        Neighbours per row, self excluded.
    metric
        Distance for the search (``"cosine"`` by default, as for word vectors).
    symmetrize
        ``"union"`` (an edge if either end lists the other) or ``"mutual"`` (both).
    weights
        ``"connectivity"`` (1 per edge) or ``"cosine"`` (cosine similarity clipped at 1e-6).
    knn
        Search backend: ``"auto"``, ``"exact"`` or ``"approximate"``.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if not 1 <= n_neighbors < n:
        msg = f"n_neighbors={n_neighbors} is out of range: it must be between 1 and {n - 1}."
        raise InputError(msg)
    if symmetrize not in ("union", "mutual"):
        msg = f"symmetrize={symmetrize!r} is not supported; choose 'union' or 'mutual'."
        raise InputError(msg)
    if weights not in ("connectivity", "cosine"):
        msg = f"weights={weights!r} is not supported; choose 'connectivity' or 'cosine'."
        raise InputError(msg)
    G, _ = knn_graph(X, n_neighbors, method=knn, metric=metric)
    G = G.tocoo()
    if weights == "cosine":
        norms = np.linalg.norm(X, axis=1)
        norms[norms == 0] = 1.0
        cos = np.einsum("ij,ij->i", X[G.row], X[G.col]) / (norms[G.row] * norms[G.col])
        vals = np.maximum(cos, 1e-6)
    else:
        vals = np.ones(G.nnz)
    A = sp.csr_matrix((vals, (G.row, G.col)), shape=(n, n))
    A = A.maximum(A.T) if symmetrize == "union" else A.minimum(A.T)
    A = sp.csr_matrix(A)
    A.setdiag(0.0)
    A.eliminate_zeros()
    A.sort_indices()
    return A


_SENSE = re.compile(r"\(.*\)$")


def wordnet_synonyms(
    *, pos: str = "nvar", data_dir: str | os.PathLike[str] | None = None
) -> list[tuple[str, str]]:
    """Synonym pairs from WordNet 3.0 synsets (Debian ``wordnet-base``, offline).

    Two lemmas are synonyms when they share a synset. Lemmas are lower-cased, adjective
    markers such as ``(a)`` are removed, multi-word lemmas keep their underscores.

    Parameters
    ----------
    pos
        Parts of speech among ``n``, ``v``, ``a``, ``r``.
    data_dir
        Extra folder to look in (see :func:`diffembed.embed.data.find_data_file`).

    Returns
    -------
    list of (str, str)
        Unordered pairs, each once, ``a < b``.
    """
    from ..embed.data import find_data_file

    files = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
    if not pos or any(p not in files for p in pos):
        msg = f"pos={pos!r} is not valid; use letters among n, v, a, r (e.g. 'nvar')."
        raise InputError(msg)
    noun = find_data_file("usr/share/wordnet/data.noun", data_dir=data_dir)
    assert noun is not None
    pairs: set[tuple[str, str]] = set()
    for p in pos:
        with open(noun.parent / f"data.{files[p]}", encoding="latin-1") as handle:
            for line in handle:
                if line.startswith("  "):
                    continue
                fields = line.split()
                count = int(fields[3], 16)
                lemmas = sorted({_SENSE.sub("", fields[4 + 2 * j]).lower() for j in range(count)})
                for i, a in enumerate(lemmas):
                    for b in lemmas[i + 1 :]:
                        pairs.add((a, b))
    return sorted(pairs)


def read_pairs(path: str | os.PathLike[str]) -> list[tuple[str, ...]]:
    """Read a lexicon file: one word per field, whitespace separated, first word linked to the rest.

    This is the format of Faruqui et al.'s lexicons (``word syn1 syn2 ...``); a two-column
    file is a plain pair list. A third column that parses as a number is read as an edge weight.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"Lexicon file {path} does not exist; give a file with 'word neighbour ...' lines."
        raise InputError(msg)
    out: list[tuple[str, ...]] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            words = line.split()
            if len(words) == 3:
                try:
                    float(words[2])
                    out.append((words[0], words[1], words[2]))
                    continue
                except ValueError:
                    pass
            out.extend((words[0], w) for w in words[1:])
    return out


def lexicon_adjacency(
    index: Sequence[Hashable],
    lexicon: Mapping[Hashable, Iterable[Hashable]] | Iterable[Sequence[Any]],
    *,
    lowercase: bool = True,
) -> tuple[sp.csr_matrix, dict[str, int]]:
    """Adjacency over ``index`` from synonym pairs or a mapping word → related words.

    Words not in ``index`` are skipped and counted. Pairs may carry a third entry, a positive
    weight (default 1); the graph is symmetrised by the maximum.

    Returns
    -------
    A : csr_matrix, shape (len(index), len(index))
    info : dict
        ``n_pairs`` given, ``n_edges`` kept (undirected), ``n_pairs_skipped`` (a word not in the
        vocabulary), ``n_words_oov`` (distinct lexicon words not in the vocabulary),
        ``n_rows_with_edges``.
    """
    key = (lambda w: str(w).lower()) if lowercase else (lambda w: w)
    pos: dict[Hashable, int] = {}
    for i, w in enumerate(index):
        pos.setdefault(key(w), i)
    if isinstance(lexicon, Mapping):
        items: Iterable[Sequence[Any]] = ((a, b) for a, bs in lexicon.items() for b in bs)
    else:
        items = lexicon
    rows, cols, vals = [], [], []
    oov: set[Hashable] = set()
    n_pairs = skipped = 0
    for item in items:
        if isinstance(item, str) or len(item) < 2:
            msg = f"Lexicon entries must be pairs (word, word[, weight]); got {item!r}."
            raise InputError(msg)
        n_pairs += 1
        a, b = key(item[0]), key(item[1])
        w = 1.0 if len(item) < 3 else float(item[2])
        if not np.isfinite(w) or w <= 0:
            msg = (
                f"Lexicon weight {item[2]!r} of ({item[0]!r}, {item[1]!r}) must be finite and > 0."
            )
            raise InputError(msg)
        ia, ib = pos.get(a), pos.get(b)
        if ia is None or ib is None:
            skipped += 1
            oov.update(x for x, i in ((a, ia), (b, ib)) if i is None)
            continue
        if ia != ib:
            rows.append(ia)
            cols.append(ib)
            vals.append(w)
    n = len(index)
    A = _symmetric(
        np.array(rows, dtype=np.int64),
        np.array(cols, dtype=np.int64),
        np.array(vals, dtype=np.float64),
        n,
    )
    info = {
        "n_pairs": n_pairs,
        "n_edges": int(A.nnz // 2),
        "n_pairs_skipped": skipped,
        "n_words_oov": len(oov),
        "n_rows_with_edges": int(np.sum(np.diff(A.indptr) > 0)),
    }
    return A, info


def align_rows(
    index: Sequence[Hashable], other: Sequence[Hashable]
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the labels shared by ``index`` and ``other``: ``(in_index, in_other)``.

    Returned in the order of ``index``. Duplicate labels in ``other``: the first one is used.
    """
    where: dict[Hashable, int] = {}
    for j, w in enumerate(other):
        where.setdefault(w, j)
    mine, theirs = [], []
    for i, w in enumerate(index):
        j = where.get(w)
        if j is not None:
            mine.append(i)
            theirs.append(j)
    return np.array(mine, dtype=np.int64), np.array(theirs, dtype=np.int64)


def reference_adjacency(
    index: Sequence[Hashable],
    reference: np.ndarray,
    reference_index: Sequence[Hashable] | None = None,
    *,
    n_neighbors: int = 10,
    **knn_options: Any,
) -> tuple[sp.csr_matrix, dict[str, int]]:
    """The kNN graph of another run, carried over to the rows of ``index`` by label.

    Rows whose label is not in the reference run get no edge (they keep their vectors).
    Without ``reference_index`` the reference rows must be in the same order as ``index``.
    """
    reference = np.asarray(reference, dtype=np.float64)
    if reference_index is None:
        if reference.shape[0] != len(index):
            msg = (
                f"The reference run has {reference.shape[0]} rows but the data {len(index)}; "
                "give reference_index (its row labels) to match rows by label."
            )
            raise InputError(msg)
        reference_index = list(index)
    if len(reference_index) != reference.shape[0]:
        msg = (
            f"reference_index has {len(reference_index)} labels but the reference run "
            f"{reference.shape[0]} rows; give one label per row."
        )
        raise InputError(msg)
    mine, theirs = align_rows(index, reference_index)
    if mine.size < n_neighbors + 1:
        msg = (
            f"Only {mine.size} row labels are shared with the reference run; at least "
            f"{n_neighbors + 1} are needed for a {n_neighbors}-NN graph."
        )
        raise InputError(msg)
    G = knn_adjacency(reference[theirs], n_neighbors, **knn_options).tocoo()
    A = _symmetric(mine[G.row], mine[G.col], G.data, len(index))
    return A, {
        "n_shared": int(mine.size),
        "n_missing": int(len(index) - mine.size),
        "n_edges": int(A.nnz // 2),
    }


def consensus_adjacency(
    index: Sequence[Hashable],
    runs: Sequence[np.ndarray],
    run_indexes: Sequence[Sequence[Hashable]] | None = None,
    *,
    n_neighbors: int = 10,
    min_runs: int | None = None,
    **knn_options: Any,
) -> tuple[sp.csr_matrix, dict[str, int]]:
    """Edges present in at least ``min_runs`` (default ⌈R/2⌉) of the runs' kNN graphs.

    Each run's graph is built on its own rows and carried over to ``index`` by label.
    """
    if len(runs) < 2:
        msg = f"graph='consensus' needs at least 2 runs, got {len(runs)}."
        raise InputError(msg)
    R = len(runs)
    need = (R + 1) // 2 if min_runs is None else int(min_runs)
    if not 1 <= need <= R:
        msg = f"min_runs={min_runs} is out of range: it must be between 1 and {R} (the runs)."
        raise InputError(msg)
    n = len(index)
    total = sp.csr_matrix((n, n))
    for r, X in enumerate(runs):
        labels = None if run_indexes is None else run_indexes[r]
        A, _ = reference_adjacency(index, X, labels, n_neighbors=n_neighbors, **knn_options)
        A.data[:] = 1.0
        total = total + A
    total = sp.csr_matrix(total)
    total.data = (total.data >= need).astype(np.float64)
    total.eliminate_zeros()
    return total, {"n_runs": R, "min_runs": need, "n_edges": int(total.nnz // 2)}


def check_adjacency(A: Any, n: int) -> sp.csr_matrix:
    """Validate a user graph: square ``n × n``, finite, non-negative and symmetric."""
    if isinstance(A, tuple) and len(A) == 2:  # (edges, weights)
        edges, w = np.asarray(A[0]), np.asarray(A[1], dtype=np.float64)
        if edges.ndim != 2 or edges.shape[1] != 2 or w.shape != (edges.shape[0],):
            msg = (
                f"graph=(edges, weights) needs edges of shape (m, 2) and m weights, got "
                f"{edges.shape} and {w.shape}."
            )
            raise InputError(msg)
        A = sp.csr_matrix((w, (edges[:, 0], edges[:, 1])), shape=(n, n))
        A = A.maximum(A.T)
    if not sp.issparse(A) and not isinstance(A, np.ndarray):
        msg = (
            f"graph must be 'knn', 'lexicon', 'reference', 'consensus', a sparse (n, n) "
            f"adjacency, (edges, weights) or a networkx graph; got {type(A).__name__}."
        )
        raise InputError(msg)
    A = sp.csr_matrix(A, dtype=np.float64)
    if A.shape != (n, n):
        msg = (
            f"The graph has shape {A.shape} but the data has {n} rows; give an ({n}, {n}) "
            "adjacency."
        )
        raise InputError(msg)
    if not np.all(np.isfinite(A.data)) or np.any(A.data < 0):
        msg = (
            "The graph has negative, NaN or infinite weights; edge weights must be finite and >= 0."
        )
        raise InputError(msg)
    if abs(A - A.T).max() > 1e-12 * max(1.0, float(abs(A).max())):
        msg = "The graph is not symmetric; pass A.maximum(A.T) (or (A + A.T) / 2) to symmetrise it."
        raise InputError(msg)
    A = A.copy()
    A.setdiag(0.0)
    A.eliminate_zeros()
    return A
