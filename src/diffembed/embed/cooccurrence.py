"""Corpus → vocabulary → windowed word–context co-occurrence counts in ``scipy.sparse``.

The corpus is read segment by segment (a line of a file, a document of a list); segments are
tokenised, words below ``min_count`` are dropped (as word2vec does, so windows reach across
them), and the remaining ids are packed into chunks of about ``chunk_tokens`` ids with
``window`` padding ids (−1) between segments, so no window crosses a segment. Each chunk is
counted without any Python loop over token pairs: for every offset ``d = 1..window`` the
arrays ``ids[:-d]`` and ``ids[d:]`` are the word and context of all pairs at distance ``d``;
they go into one COO matrix per chunk, which scipy sums into CSR. Memory is bounded by the
vocabulary, the CSR counts and one chunk (about ``2 × window × chunk_tokens`` pairs).

By default the corpus is read once: every token is kept as a provisional int32 id in one flat
buffer (4 bytes per token, less than the text itself), word counts come from those ids, and
the ids are mapped to the vocabulary afterwards, one chunk at a time. Corpus files larger
than ``TWO_PASS_BYTES`` (1 GiB) are instead streamed twice — once to count words, once to
count pairs — so memory does not grow with the corpus (``two_pass=True`` forces this for any
re-readable corpus; it is about 1.8× slower, since every token is tokenised twice).
"""

from __future__ import annotations

import gzip
import os
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from .. import _progress
from ..exceptions import InputError

__all__ = [
    "Corpus",
    "Vocabulary",
    "build_vocabulary",
    "cooccurrence_counts",
    "count_id_chunks",
    "default_tokenizer",
    "window_weights",
]

Weighting = Literal["dynamic", "harmonic", "uniform"]
Tokenizer = Callable[[str], list[str]]
CorpusLike = str | os.PathLike[str] | Iterable[str] | Iterable[Sequence[str]]

#: Above this many bytes of corpus files, counting streams the files twice by default.
TWO_PASS_BYTES = 1 << 30

_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def default_tokenizer(text: str) -> list[str]:
    """Lower-cased runs of letters, apostrophes inside words kept (``"don't"``); no digits."""
    return _TOKEN.findall(text.lower())


def window_weights(window: int, weighting: Weighting) -> np.ndarray:
    """Weight of a pair at distance ``d = 1..window``.

    ``"dynamic"``: ``(window − d + 1) / window``, the expected weight of word2vec's randomly
    shrunk window; ``"harmonic"``: ``1 / d`` (GloVe); ``"uniform"``: 1.
    """
    d = np.arange(1, window + 1, dtype=np.float64)
    if weighting == "dynamic":
        return (window - d + 1) / window
    if weighting == "harmonic":
        return 1.0 / d
    if weighting == "uniform":
        return np.ones(window)
    msg = f"weighting={weighting!r} is not supported; choose 'dynamic', 'harmonic' or 'uniform'."
    raise InputError(msg)


# ------------------------------------------------------------------------------ corpus
@dataclass
class Corpus:
    """A corpus given as a path, paths, texts or token lists, read segment by segment.

    Parameters
    ----------
    source
        A text file (``str`` or ``pathlib.Path``; ``.gz`` allowed; one segment per line), a
        list of ``pathlib.Path`` files, an iterable of strings (one segment each: a list of
        ``str`` is text, not file names) or an iterable of token lists (already tokenised).
    tokenizer
        Function from a string to its tokens (default :func:`default_tokenizer`).
    encoding_errors
        How undecodable bytes in files are treated: ``"strict"`` (default) raises an
        :class:`InputError` naming the file and line; ``"replace"`` and ``"ignore"`` go on.
    """

    source: Any
    tokenizer: Tokenizer | None = None
    encoding_errors: str = "strict"
    _paths: list[Path] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        src = self.source
        if isinstance(src, str | os.PathLike):
            self._paths = [Path(src)]
        elif isinstance(src, list | tuple) and src and all(isinstance(p, os.PathLike) for p in src):
            self._paths = [Path(p) for p in src]
        if self._paths is not None:
            for path in self._paths:
                if not path.is_file():
                    kind = "a directory" if path.is_dir() else "not a file"
                    msg = (
                        f"The corpus {path} is {kind}. Give a text file with one segment per "
                        "line (or a list of files); to pass text itself, give a list of strings."
                    )
                    raise InputError(msg)
        elif isinstance(src, bytes | bytearray):
            msg = "The corpus is bytes; decode it to str first (e.g. data.decode('utf-8'))."
            raise InputError(msg)
        elif not isinstance(src, Iterable):
            msg = (
                f"The corpus must be a path, a list of paths, or an iterable of texts or token "
                f"lists; got {type(src).__name__}."
            )
            raise InputError(msg)

    @property
    def reiterable(self) -> bool:
        """Whether the corpus can be read twice (not a one-shot iterator)."""
        return self._paths is not None or iter(self.source) is not self.source

    def size_bytes(self) -> int | None:
        """Total size of the corpus files, or None for an in-memory corpus."""
        return None if self._paths is None else sum(p.stat().st_size for p in self._paths)

    def segments(self) -> Iterator[list[str]]:
        """Tokens of every segment, in order."""
        tokenize = self.tokenizer or default_tokenizer
        if self._paths is not None:
            for path in self._paths:
                for line in _read_lines(path, self.encoding_errors):
                    yield tokenize(line)
            return
        for item in self.source:
            if isinstance(item, str):
                yield tokenize(item)
            elif isinstance(item, bytes | bytearray):
                msg = "The corpus holds bytes; decode every segment to str first."
                raise InputError(msg)
            elif isinstance(item, Iterable):
                tokens = list(item)
                if tokens and not isinstance(tokens[0], str):
                    msg = (
                        "A corpus segment must be a string or a list of string tokens; got a "
                        f"list of {type(tokens[0]).__name__}."
                    )
                    raise InputError(msg)
                yield tokens
            else:
                msg = (
                    "A corpus segment must be a string or a list of string tokens; got "
                    f"{type(item).__name__}."
                )
                raise InputError(msg)


def _read_lines(path: Path, errors: str) -> Iterator[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    number = 0
    try:
        with opener(path, "rt", encoding="utf-8", errors=errors) as handle:
            for number, line in enumerate(handle, 1):  # noqa: B007
                yield line
    except UnicodeDecodeError as exc:
        msg = (
            f"{path} is not valid UTF-8 near line {number + 1} ({exc.reason} at byte "
            f"{exc.start} of a read block). Convert it to UTF-8 (iconv -f latin1 -t utf-8), "
            "or pass encoding_errors='replace' to read it anyway."
        )
        raise InputError(msg) from exc
    except (OSError, EOFError) as exc:
        msg = f"Cannot read the corpus file {path}: {exc}. Check the file."
        raise InputError(msg) from exc


# -------------------------------------------------------------------------- vocabulary
@dataclass(frozen=True)
class Vocabulary:
    """Words kept for embedding, most frequent first, with their counts."""

    words: list[str]
    counts: np.ndarray
    n_tokens: int
    n_segments: int
    n_types: int

    def index(self) -> dict[str, int]:
        """Word → row number."""
        return {w: i for i, w in enumerate(self.words)}


def build_vocabulary(
    counter: Counter[str],
    *,
    min_count: int,
    max_vocab: int | None,
    n_tokens: int,
    n_segments: int,
) -> Vocabulary:
    """Keep words seen at least ``min_count`` times, the ``max_vocab`` most frequent.

    Ties in frequency keep the word seen first. Raises :class:`InputError` for an empty
    corpus or when no word reaches ``min_count``.
    """
    if n_tokens == 0:
        msg = (
            f"The corpus is empty: {n_segments} segment(s) but no token. Give text with words "
            "(the default tokenizer keeps runs of letters; pass tokenizer=... for other text)."
        )
        raise InputError(msg)
    kept = [(w, c) for w, c in counter.most_common(max_vocab) if c >= min_count]
    if not kept:
        top = counter.most_common(1)[0]
        msg = (
            f"No word occurs at least min_count={min_count} times (the most frequent, "
            f"{top[0]!r}, occurs {top[1]} times in {n_tokens} tokens), so the vocabulary is "
            f"empty. Lower min_count (e.g. min_count={max(1, top[1])}) or give a larger corpus."
        )
        raise InputError(msg)
    words = [w for w, _ in kept]
    counts = np.array([c for _, c in kept], dtype=np.int64)
    return Vocabulary(words, counts, n_tokens, n_segments, len(counter))


def _pack(segments: Iterable[np.ndarray], window: int, chunk_tokens: int) -> Iterator[np.ndarray]:
    """Concatenate id arrays into chunks, ``window`` ids −1 after every segment."""
    pad = np.full(window, -1, dtype=np.int32)
    parts: list[np.ndarray] = []
    size = 0
    for ids in segments:
        if ids.size < 2:
            continue
        parts += [ids, pad]
        size += ids.size + window
        if size >= chunk_tokens:
            yield np.concatenate(parts)
            parts, size = [], 0
    if parts:
        yield np.concatenate(parts)


def count_id_chunks(
    chunks: Iterable[np.ndarray],
    n_words: int,
    weights: np.ndarray,
    *,
    dtype: type = np.float64,
) -> sp.csr_matrix:
    """Symmetric weighted co-occurrence counts of id chunks (−1 = no word).

    ``C[w, c]`` sums ``weights[d − 1]`` over all positions where ``c`` stands ``d`` places
    before or after ``w``; pairs are counted in both directions, so ``C`` is symmetric.
    Each chunk is summed in float64; the running total is kept in ``dtype`` (float32 halves
    the memory of the counts, with a relative rounding error below 1e-6 per chunk).
    """
    window = weights.size
    total: sp.csr_matrix | None = None
    running = _progress.current()  # a "count" task, counted in tokens
    for ids in chunks:
        offsets = range(1, min(window, ids.size - 1) + 1)
        valid = ids >= 0
        if running is not None:
            running.advance(int(np.count_nonzero(valid)))
        keeps = [valid[:-d] & valid[d:] for d in offsets]
        sizes = [int(k.sum()) for k in keeps]
        n_pairs = sum(sizes)
        if n_pairs == 0:
            continue
        # one pre-allocated COO triplet per chunk (both directions), filled offset by offset
        rows = np.empty(2 * n_pairs, dtype=np.int32)
        cols = np.empty(2 * n_pairs, dtype=np.int32)
        vals = np.empty(2 * n_pairs, dtype=np.float64)
        pos = 0
        for d, keep, size in zip(offsets, keeps, sizes, strict=True):
            a, b = ids[:-d][keep], ids[d:][keep]
            rows[pos : pos + size], cols[pos : pos + size] = a, b
            rows[pos + size : pos + 2 * size], cols[pos + size : pos + 2 * size] = b, a
            vals[pos : pos + 2 * size] = weights[d - 1]
            pos += 2 * size
        del keeps, valid
        part = sp.coo_matrix((vals, (rows, cols)), shape=(n_words, n_words)).tocsr()
        del rows, cols, vals
        part.sum_duplicates()
        part = part.astype(dtype, copy=False)
        total = part if total is None else total + part
        del part
    if total is None:
        return sp.csr_matrix((n_words, n_words), dtype=dtype)
    total.sum_duplicates()
    return total


def _padded_chunks(
    ids: np.ndarray,
    lengths: np.ndarray,
    lookup: np.ndarray,
    window: int,
    chunk_tokens: int,
) -> Iterator[np.ndarray]:
    """Chunks of vocabulary ids from a flat token-id array, ``window`` −1s after each segment.

    ``ids`` holds the provisional ids of all tokens, segment after segment (``lengths``);
    ``lookup`` maps a provisional id to its vocabulary row (−1: not kept). Chunks end at
    segment boundaries and hold about ``chunk_tokens`` tokens.
    """
    ends = np.cumsum(lengths, dtype=np.int64)
    starts = ends - lengths
    n_segments = lengths.size
    s0 = 0
    while s0 < n_segments:
        s1 = int(np.searchsorted(ends, starts[s0] + chunk_tokens, side="left")) + 1
        s1 = min(max(s1, s0 + 1), n_segments)
        new = lookup[ids[starts[s0] : ends[s1 - 1]]]
        segment = np.repeat(np.arange(s1 - s0, dtype=np.int64), lengths[s0:s1])
        keep = new >= 0
        new, segment = new[keep], segment[keep]
        out = np.full(new.size + window * (s1 - s0), -1, dtype=np.int32)
        out[np.arange(new.size) + window * segment] = new
        del new, segment, keep
        yield out
        s0 = s1


def cooccurrence_counts(
    corpus: CorpusLike | Corpus,
    *,
    window: int = 5,
    min_count: int = 5,
    max_vocab: int | None = None,
    weighting: Weighting = "dynamic",
    tokenizer: Tokenizer | None = None,
    encoding_errors: str = "strict",
    chunk_tokens: int = 500_000,
    two_pass: bool | None = None,
    dtype: type = np.float64,
) -> tuple[sp.csr_matrix, Vocabulary]:
    """Count windowed word–context co-occurrences of a corpus into a sparse matrix.

    Parameters
    ----------
    corpus
        A path, a list of paths, an iterable of texts or of token lists (see :class:`Corpus`).
    window
        Largest distance between a word and a context word, in kept tokens.
    min_count, max_vocab
        Vocabulary: words seen at least ``min_count`` times, at most the ``max_vocab`` most
        frequent. Other words are removed before windowing.
    weighting
        Weight of a pair at distance d: ``"dynamic"``, ``"harmonic"`` or ``"uniform"`` (see
        :func:`window_weights`).
    tokenizer, encoding_errors
        See :class:`Corpus`.
    chunk_tokens
        Tokens counted at once; bounds the memory of one counting step.
    two_pass
        Stream the corpus twice instead of keeping 4 bytes per token (default: only for
        corpus files above ``TWO_PASS_BYTES``); needs a re-readable corpus (not a generator).
    dtype
        Float type of the counts (``np.float32`` halves their memory; every chunk is still
        summed in float64).

    Returns
    -------
    counts : scipy.sparse.csr_matrix of shape (n_words, n_words), ``dtype``
        Symmetric weighted counts.
    vocabulary : Vocabulary
        The kept words (row order of ``counts``) and their corpus counts.
    """
    if not isinstance(corpus, Corpus):
        corpus = Corpus(corpus, tokenizer=tokenizer, encoding_errors=encoding_errors)
    weights = window_weights(window, weighting)
    n_tokens = n_segments = 0
    if two_pass is None:
        size = corpus.size_bytes()
        two_pass = size is not None and size > TWO_PASS_BYTES
    if two_pass and not corpus.reiterable:
        msg = (
            "two_pass=True needs a corpus that can be read twice (a path, a list); a generator "
            "can be read only once. Pass a list or a file, or two_pass=False."
        )
        raise InputError(msg)
    if two_pass:
        counter: Counter[str] = Counter()
        for tokens in corpus.segments():
            counter.update(tokens)
            n_tokens += len(tokens)
            n_segments += 1
        vocab = build_vocabulary(
            counter,
            min_count=min_count,
            max_vocab=max_vocab,
            n_tokens=n_tokens,
            n_segments=n_segments,
        )
        index = vocab.index()

        def ids_of_segments() -> Iterator[np.ndarray]:
            for tokens in corpus.segments():
                ids = [index[w] for w in tokens if w in index]
                yield np.fromiter(ids, dtype=np.int32, count=len(ids))

        chunks = _pack(ids_of_segments(), window, chunk_tokens)
        return count_id_chunks(chunks, len(vocab.words), weights, dtype=dtype), vocab
    # One pass: keep every token as a provisional int32 id in one flat buffer (no object per
    # segment), map the ids to the vocabulary later, chunk by chunk.
    provisional: dict[str, int] = {}
    setdefault = provisional.setdefault
    flat = array("i")
    lengths = array("i")
    for tokens in corpus.segments():
        flat.extend([setdefault(w, len(provisional)) for w in tokens])
        lengths.append(len(tokens))
    n_tokens, n_segments = len(flat), len(lengths)
    ids = np.frombuffer(flat, dtype=np.intc).astype(np.int32, copy=False) if flat else None
    frequency = np.bincount(ids, minlength=len(provisional)) if ids is not None else []
    counter = Counter(dict(zip(provisional, np.asarray(frequency).tolist(), strict=True)))
    del frequency
    vocab = build_vocabulary(
        counter,
        min_count=min_count,
        max_vocab=max_vocab,
        n_tokens=n_tokens,
        n_segments=n_segments,
    )
    del counter
    lookup = np.full(len(provisional), -1, dtype=np.int32)
    rows = vocab.index()
    for word, pid in provisional.items():
        lookup[pid] = rows.get(word, -1)
    del provisional, rows
    seg_lengths = np.frombuffer(lengths, dtype=np.intc).astype(np.int64)
    chunks = _padded_chunks(ids, seg_lengths, lookup, window, chunk_tokens)
    return count_id_chunks(chunks, len(vocab.words), weights, dtype=dtype), vocab
