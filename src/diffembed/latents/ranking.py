"""Ranking the vocabulary read out of h-space: by concept or by any h-vector, by cosine.

:func:`word_cosines` gives the cosines between queries (concepts, i.e. prompt words, or raw
h-vectors) and every word direction of a :class:`~.words.WordDirections`; :func:`rank_words`
sorts them into a :class:`Ranking` (a concept's own family left out by default: its other
words are alternatives to it, not descriptors). See :mod:`.words` for how the directions are
read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import InputError

if TYPE_CHECKING:
    from .words import WordDirections

__all__ = ["Ranking", "rank_words", "word_cosines"]


@dataclass(frozen=True)
class Ranking:
    """Ranked vocabulary words for one or more queries (concepts or h-vectors).

    Attributes
    ----------
    queries : list of str
        The concept, or ``"h[i]"`` for the i-th h-vector.
    words, families, sources : list of list
        Per query, the ranked words (best first), their families and sources.
    cosines : list of ndarray
        Per query, the cosines in the same order (decreasing).
    """

    queries: list[str]
    words: list[list[str]]
    families: list[list[str | None]]
    sources: list[list[str]]
    cosines: list[np.ndarray]

    def rows(self, key: str = "concept") -> list[dict[str, Any]]:
        """One dict per ranked word: ``{key: query, rank, word, family, cosine, source}``."""
        out: list[dict[str, Any]] = []
        for q, ws, fs, ss, cs in zip(
            self.queries, self.words, self.families, self.sources, self.cosines, strict=True
        ):
            for r, (w, f, s, c) in enumerate(zip(ws, fs, ss, cs, strict=True), start=1):
                out.append({key: q, "rank": r, "word": w, "family": f, "cosine": float(c),
                            "source": s})  # fmt: skip
        return out

def word_cosines(
    directions: WordDirections,
    h: Any = None,
    *,
    concept: str | Sequence[str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Cosines between queries and every word direction (in ``directions.words`` order).

    Parameters
    ----------
    directions
        From :func:`word_directions`.
    h
        Raw h-vectors (see :meth:`WordDirections.transform`); each is centred by the mean h of
        the directions' samples before its cosine is taken.
    concept
        A concept or a list of concepts (prompt words); with neither ``h`` nor ``concept``,
        every concept.

    Returns
    -------
    queries : list of str
        The concepts, then ``"h[i]"`` for each h-vector.
    cosines : ndarray, shape (n_queries, n_words)
        NaN for an h-vector equal to the mean.
    """
    from .words import WordDirections

    if not isinstance(directions, WordDirections):
        kind = type(directions).__name__
        msg = f"directions must be a WordDirections (from word_directions), not {kind}."
        raise InputError(msg)
    if concept is None and h is None:
        concept = list(directions.concepts)
    queries: list[str] = []
    blocks: list[np.ndarray] = []
    if concept is not None:
        names = [concept] if isinstance(concept, str) else list(concept)
        idx = [directions._concept(c) for c in names]
        queries += [directions.concepts[i] for i in idx]
        blocks.append(directions.concept_vectors[idx] @ directions.vectors.T)
    if h is not None:
        X = directions.transform(h) - directions.center
        norms = np.linalg.norm(X, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = (X @ directions.vectors.T) / norms[:, None]
        cos[norms <= 1e-12 * max(float(np.abs(directions.center).max(initial=0)), 1.0)] = np.nan
        queries += [f"h[{i}]" for i in range(X.shape[0])]
        blocks.append(cos)
    return queries, np.vstack(blocks) if blocks else np.zeros((0, len(directions)))


def rank_words(
    directions: WordDirections,
    h: Any = None,
    *,
    concept: str | Sequence[str] | None = None,
    top: int | None = 10,
    same_family: bool = False,
) -> Ranking:
    """Rank the vocabulary for concepts (prompt words) and/or h-vectors, by cosine.

    Parameters
    ----------
    directions
        From :func:`word_directions`.
    h, concept
        What to rank for (see :func:`word_cosines`); with neither, every concept.
    top
        Words kept per query (None: all).
    same_family
        For a concept, also rank the other words of its family (left out by default); the
        concept itself is always left out.

    Returns
    -------
    Ranking
        Words by decreasing cosine (ties alphabetical); NaN cosines last.
    """
    if top is not None and (isinstance(top, bool) or not isinstance(top, int | np.integer)
                            or top < 1):  # fmt: skip
        msg = f"top={top!r} must be a positive integer (or None: every word)."
        raise InputError(msg)
    queries, cos = word_cosines(directions, h, concept=concept)
    n_concepts = 0 if concept is None and h is not None else (
        len(directions.concepts) if concept is None
        else 1 if isinstance(concept, str) else len(list(concept))
    )  # fmt: skip
    names = np.asarray(directions.words, dtype=object)
    out_words, out_fam, out_src, out_cos = [], [], [], []
    for qi, q in enumerate(queries):
        keep = np.ones(len(names), dtype=bool)
        if qi < n_concepts:
            keep &= names != q
            family = directions.concept_families[directions.concept_index[q]]
            if not same_family and family is not None:
                keep &= np.array([f != family for f in directions.families], dtype=bool)
        idx = np.flatnonzero(keep)
        c = cos[qi, idx]
        order = idx[np.lexsort((names[idx], np.where(np.isnan(c), np.inf, -c)))]
        if top is not None:
            order = order[:top]
        out_words.append([directions.words[j] for j in order])
        out_fam.append([directions.families[j] for j in order])
        out_src.append([directions.sources[j] for j in order])
        out_cos.append(cos[qi, order])
    return Ranking(queries, out_words, out_fam, out_src, out_cos)
