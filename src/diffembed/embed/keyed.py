"""Vectors looked up by key (a word, a node, a document), in the spirit of gensim's KeyedVectors.

:class:`KeyedVectors` holds an ``(n, d)`` matrix and one key per row, and answers the usual
questions on cosine similarity: ``vectors["cat"]``, :meth:`~KeyedVectors.most_similar`,
:meth:`~KeyedVectors.similarity`, :meth:`~KeyedVectors.analogy`. It writes and reads the word2vec
text and binary formats exactly as gensim does, so gensim users can load the vectors with
``gensim.models.KeyedVectors.load_word2vec_format(path, binary=...)``;
:meth:`~KeyedVectors.to_gensim` and :meth:`~KeyedVectors.from_gensim` convert in memory.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np

from ..exceptions import InputError

__all__ = ["KeyedVectors", "NodeVectors", "WordVectors"]

Query = Hashable | np.ndarray


class KeyedVectors:
    """A matrix of vectors, one row per key, with cosine-similarity queries.

    Parameters
    ----------
    keys
        One hashable key per row, all distinct (words, node ids, document ids).
    vectors
        Array of shape (n_keys, dim).
    counts
        Optional frequency of every key (e.g. corpus counts of words), shape (n_keys,).
    info
        Free-form description of how the vectors were made (parameters, sizes, timings).

    Examples
    --------
    >>> kv = KeyedVectors(["a", "b", "c"], np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]))
    >>> kv.most_similar("a", topn=1)[0][0]
    'b'
    >>> round(kv.similarity("a", "c"), 3)
    0.0
    """

    def __init__(
        self,
        keys: Sequence[Hashable],
        vectors: np.ndarray,
        *,
        counts: np.ndarray | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            msg = f"vectors must be 2-D (n_keys, dim), got shape {vectors.shape}."
            raise InputError(msg)
        keys = list(keys)
        if len(keys) != vectors.shape[0]:
            msg = (
                f"{len(keys)} keys were given for {vectors.shape[0]} vectors; give exactly "
                "one key per row."
            )
            raise InputError(msg)
        self.key_to_index: dict[Hashable, int] = {k: i for i, k in enumerate(keys)}
        if len(self.key_to_index) != len(keys):
            seen: set[Hashable] = set()
            dup = next(k for k in keys if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            msg = f"Keys must be distinct; {dup!r} appears more than once."
            raise InputError(msg)
        self.keys: list[Hashable] = keys
        self.vectors = vectors
        self.counts = None if counts is None else np.asarray(counts)
        self.info: dict[str, Any] = dict(info or {})
        self._unit: np.ndarray | None = None

    # ------------------------------------------------------------------ container protocol
    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        try:
            return key in self.key_to_index
        except TypeError:  # unhashable
            return False

    def __iter__(self):
        return iter(self.keys)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} keys × {self.dim} dims)"

    def __getitem__(self, key: Hashable | Sequence[Hashable]) -> np.ndarray:
        """The vector of ``key``, or the stacked vectors of a list of keys."""
        if isinstance(key, list | tuple) and not (isinstance(key, tuple) and key in self):
            return self.vectors[[self.index(k) for k in key]]
        return self.vectors[self.index(key)]

    @property
    def dim(self) -> int:
        """Number of dimensions of every vector."""
        return int(self.vectors.shape[1])

    @property
    def unit_vectors(self) -> np.ndarray:
        """Rows scaled to unit length (zero rows stay zero), float32, computed once."""
        if self._unit is None:
            v = np.asarray(self.vectors, dtype=np.float32)
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            self._unit = v / np.where(norms > 0, norms, 1.0)
        return self._unit

    def index(self, key: Hashable) -> int:
        """Row number of ``key``; a missing key raises :class:`KeyError` naming close keys."""
        try:
            return self.key_to_index[key]
        except (KeyError, TypeError):
            pass
        hint = ""
        if isinstance(key, str):
            lower = key.lower()
            if lower in self.key_to_index:
                hint = f" (did you mean {lower!r}? keys are case-sensitive)"
        msg = f"{key!r} is not in the vocabulary of {len(self)} keys{hint}."
        raise KeyError(msg)

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The vector of ``key``, or ``default`` when it is missing."""
        return self.vectors[self.key_to_index[key]] if key in self else default

    # --------------------------------------------------------------------------- queries
    def _unit_of(self, item: Query) -> np.ndarray:
        if isinstance(item, np.ndarray):
            v = np.asarray(item, dtype=np.float32).ravel()
            if v.size != self.dim:
                msg = f"A query vector must have {self.dim} entries, got {v.size}."
                raise InputError(msg)
            n = np.linalg.norm(v)
            return v / n if n > 0 else v
        return self.unit_vectors[self.index(item)]

    def similarity(self, a: Query, b: Query) -> float:
        """Cosine similarity of two keys (or vectors)."""
        return float(self._unit_of(a) @ self._unit_of(b))

    def most_similar(
        self,
        positive: Query | Iterable[Query] = (),
        negative: Query | Iterable[Query] = (),
        *,
        topn: int = 10,
        restrict: int | None = None,
    ) -> list[tuple[Hashable, float]]:
        """Keys closest in cosine to the mean of ``positive`` minus ``negative`` unit vectors.

        Parameters
        ----------
        positive, negative
            A key, a vector, or a list of them. Query keys are never returned.
        topn
            Number of results.
        restrict
            Search only the first ``restrict`` keys (the most frequent words, for vectors
            built by :func:`~diffembed.embed.word_vectors`).

        Returns
        -------
        list of (key, cosine similarity), best first.
        """
        pos = _as_list(positive)
        neg = _as_list(negative)
        if not pos and not neg:
            msg = "most_similar needs at least one positive or negative key."
            raise InputError(msg)
        query = np.zeros(self.dim, dtype=np.float32)
        for item in pos:
            query += self._unit_of(item)
        for item in neg:
            query -= self._unit_of(item)
        exclude = {self.key_to_index[k] for k in pos + neg if not isinstance(k, np.ndarray)}
        return self._top(query, exclude, topn, restrict)

    def _top(
        self, query: np.ndarray, exclude: set[int], topn: int, restrict: int | None
    ) -> list[tuple[Hashable, float]]:
        norm = np.linalg.norm(query)
        query = query / norm if norm > 0 else query
        unit = self.unit_vectors if restrict is None else self.unit_vectors[:restrict]
        scores = unit @ query
        return self._best(scores, exclude, topn)

    def _best(
        self, scores: np.ndarray, exclude: set[int], topn: int
    ) -> list[tuple[Hashable, float]]:
        scores = np.array(scores, dtype=np.float64)
        for i in exclude:
            if i < scores.size:
                scores[i] = -np.inf
        k = min(int(topn), int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.keys[i], float(scores[i])) for i in best]

    def analogy(
        self,
        a: Hashable,
        b: Hashable,
        c: Hashable,
        *,
        topn: int = 1,
        method: Literal["add", "mul"] = "add",
        restrict: int | None = None,
    ) -> list[tuple[Hashable, float]]:
        """Answer "``a`` is to ``b`` as ``c`` is to ?" (``man : king :: woman : queen``).

        Parameters
        ----------
        a, b, c
            Keys of the question.
        topn
            Number of answers, best first; the three question keys are excluded.
        method
            ``"add"``: 3CosAdd, ``cos(x, b) − cos(x, a) + cos(x, c)`` (Mikolov et al. 2013);
            ``"mul"``: 3CosMul, ``cos'(x, b) cos'(x, c) / (cos'(x, a) + 1e-3)`` with cosines
            shifted to [0, 1] (Levy & Goldberg 2014).
        restrict
            Search only the first ``restrict`` keys.
        """
        unit = self.unit_vectors if restrict is None else self.unit_vectors[:restrict]
        ia, ib, ic = (self.index(k) for k in (a, b, c))
        sa, sb, sc = (unit @ self.unit_vectors[i] for i in (ia, ib, ic))
        if method == "add":
            scores = sb - sa + sc
        elif method == "mul":
            scores = ((sb + 1) / 2) * ((sc + 1) / 2) / ((sa + 1) / 2 + 1e-3)
        else:
            msg = f"method={method!r} is not supported; choose 'add' (3CosAdd) or 'mul' (3CosMul)."
            raise InputError(msg)
        return self._best(scores, {ia, ib, ic}, topn)

    # ------------------------------------------------------------------ word2vec and gensim
    def save_word2vec_format(
        self, path: str | os.PathLike[str], *, binary: bool = False
    ) -> Path:
        """Write the vectors in the word2vec text or binary format, atomically.

        The bytes are those gensim's ``KeyedVectors.save_word2vec_format`` writes: a header
        ``n_keys dim``, then per key either ``key v1 … vdim`` (text; float32 values in their
        shortest exact decimal form) or the UTF-8 key, a space and ``dim`` little-endian
        float32 (``binary=True``). Keys are written with :func:`str` and may hold any Unicode
        except a space or a line break. gensim reads the file with
        ``gensim.models.KeyedVectors.load_word2vec_format(path, binary=binary)``.

        Parameters
        ----------
        path
            Destination file; its directory must exist.
        binary
            Binary format (smaller and faster) instead of text.

        Returns
        -------
        Path
            ``path``.
        """
        from ._word2vec import write_word2vec

        return write_word2vec(self.keys, self.vectors, path, binary=binary)

    @classmethod
    def load_word2vec_format(
        cls,
        path: str | os.PathLike[str],
        binary: bool = False,
        *,
        encoding: str = "utf-8",
        unicode_errors: str = "strict",
        limit: int | None = None,
    ) -> Self:
        """Read a word2vec text or binary file (as written by gensim or the C word2vec tool).

        Parameters
        ----------
        path
            The file.
        binary
            The file is in the binary format.
        encoding, unicode_errors
            How keys are decoded (``unicode_errors="replace"`` for files whose keys were cut
            mid-character, as the C tool does).
        limit
            Read only the first ``limit`` vectors.

        Returns
        -------
        KeyedVectors
            Keys as strings, float32 vectors. A repeated key keeps its first vector (with a
            warning), as gensim does.
        """
        from ._word2vec import read_word2vec

        keys, rows = read_word2vec(
            path, binary=binary, encoding=encoding, unicode_errors=unicode_errors, limit=limit
        )
        return cls(keys, rows)

    def to_gensim(self) -> Any:
        """The same vectors as a ``gensim.models.KeyedVectors`` (needs gensim installed).

        Keys keep their type and order; ``counts``, when known, become gensim's ``"count"``
        attribute (so gensim's ``save_word2vec_format`` sorts by them as it does for its own
        models).
        """
        try:
            from gensim.models import KeyedVectors as GensimKeyedVectors
        except ImportError as exc:
            msg = "to_gensim() needs gensim: pip install gensim"
            raise ImportError(msg) from exc
        vectors = np.asarray(self.vectors, dtype=np.float32)
        kv = GensimKeyedVectors(self.dim, count=0, dtype=np.float32)
        kv.add_vectors(list(self.keys), vectors)
        if self.counts is not None:
            for key, count in zip(self.keys, np.asarray(self.counts).tolist(), strict=True):
                kv.set_vecattr(key, "count", count)
        return kv

    @classmethod
    def from_gensim(cls, kv: Any) -> Self:
        """Wrap a gensim ``KeyedVectors`` (or a model's ``.wv``): same keys, order and vectors.

        gensim's ``"count"`` attribute, when every key has one, becomes ``counts``.
        """
        kv = getattr(kv, "wv", kv)
        if not hasattr(kv, "index_to_key") or not hasattr(kv, "vectors"):
            msg = (
                f"from_gensim needs a gensim KeyedVectors (or a model with .wv), got "
                f"{type(kv).__name__}."
            )
            raise InputError(msg)
        keys = list(kv.index_to_key)
        counts = None
        expandos = getattr(kv, "expandos", {})
        if "count" in expandos:
            raw = np.asarray(expandos["count"])
            if raw.shape[0] >= len(keys) and raw.dtype.kind in "iuf":
                counts = raw[: len(keys)].copy()
        return cls(keys, np.array(kv.vectors[: len(keys)]), counts=counts)


class WordVectors(KeyedVectors):
    """Word vectors (keys are words, most frequent first) with their corpus counts.

    Built by :func:`diffembed.embed.word_vectors` or :func:`diffembed.embed.lsa`. Besides the
    :class:`KeyedVectors` queries it keeps, when known:

    Attributes
    ----------
    counts : ndarray of shape (n_words,)
        Corpus frequency of every word (used by SIF sentence vectors).
    context_vectors : ndarray of shape (n_words, dim) or None
        The context-side factor ``V Σ^p`` of the SVD.
    singular_values : ndarray or None
        Singular values of the factorised matrix, decreasing.
    """

    def __init__(
        self,
        keys: Sequence[Hashable],
        vectors: np.ndarray,
        *,
        counts: np.ndarray | None = None,
        info: dict[str, Any] | None = None,
        context_vectors: np.ndarray | None = None,
        singular_values: np.ndarray | None = None,
    ) -> None:
        super().__init__(keys, vectors, counts=counts, info=info)
        self.context_vectors = context_vectors
        self.singular_values = singular_values

    def with_context(self) -> WordVectors:
        """New word vectors ``w + c``: these vectors plus the context vectors (Levy et al.)."""
        if self.context_vectors is None:
            msg = "These word vectors carry no context vectors to add."
            raise InputError(msg)
        return WordVectors(
            self.keys,
            self.vectors + self.context_vectors,
            counts=self.counts,
            info={**self.info, "context": "add"},
            context_vectors=self.context_vectors,
            singular_values=self.singular_values,
        )

    @property
    def words(self) -> list[str]:
        """The vocabulary, in row order."""
        return [str(k) for k in self.keys]

    def frequencies(self) -> dict[str, float]:
        """Relative frequency p(w) of every word (needs ``counts``)."""
        if self.counts is None:
            msg = (
                "These word vectors carry no corpus counts, so word frequencies are unknown. "
                "Pass word_frequencies=... explicitly."
            )
            raise InputError(msg)
        p = np.asarray(self.counts, dtype=np.float64)
        p = p / p.sum()
        return dict(zip(self.words, p.tolist(), strict=True))


class NodeVectors(KeyedVectors):
    """Node vectors of a graph (keys are the node ids), built by NetMF or the DeepWalk matrix.

    ``info`` records the graph facts (nodes, edges, self-loops and duplicates dropped,
    connected components) and the method used.
    """

    @property
    def nodes(self) -> list[Hashable]:
        """Node ids, in row order."""
        return list(self.keys)


def _as_list(items: Query | Iterable[Query]) -> list[Any]:
    if isinstance(items, str | np.ndarray) or not isinstance(items, Iterable):
        return [items]
    return list(items)
