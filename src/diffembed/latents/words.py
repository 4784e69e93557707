"""Words read back out of h-space: a direction for every vocabulary word, and rankings.

Zeng, Chen & Wong (2024) map latent directions with the prompts and the captions of generated
images, without training one vector per concept. This module reads a unit direction in h-space
for every word of the vocabulary, from two sources, and ranks the vocabulary against a concept
or against any h-vector by cosine.

Directions from prompts (this project's design: a *matched* contrast)
    Per distinct prompt, the mean h over its seeds. For a word ``w`` (family ``F``) and each
    prompt ``p`` containing it, the *matched* prompts are those that say the same thing except
    that ``w``'s slot holds another word of ``F``: ``"a red square"`` is matched with
    ``"a blue square"`` and ``"a green square"`` for ``red``. Without families the slot may hold
    any one other word. The contribution of ``p`` is its mean h minus the mean of its matched
    prompts' means. A prompt without a matched prompt falls back to every prompt of the same
    family that does not contain ``w`` (the baseline of :mod:`.associations`), and, when the
    family has no other prompt (or the word has no family), to every prompt without ``w``.
    The raw direction is the mean contribution over the prompts containing ``w``; ``matched``
    reports the share of them that had a matched contrast. Matching keeps the other words of
    the prompt (and what they bring into h) out of ``w``'s direction, which an unmatched
    difference of means would absorb whenever the prompts are not a full factorial design.
Directions from captions (as in :mod:`.associations`)
    The ``mean_difference`` direction of :func:`.concept_directions` with ``groups`` = the
    prompts: mean h of the samples whose caption has the word minus mean h of the others,
    with h centred within each prompt, so a prompt's own component of h does not leak into
    an attribute's direction. A word whose captions never vary within a prompt has no caption
    direction. It is computed from sums (``Zᵀ H`` and the prompt means), without a centred
    copy of h.
``source="both"``
    A word with a direction from both sources gets the normalised sum of the two unit vectors
    (its ``source`` is ``"both"``); a word with one keeps it. Without captions, "both" uses the
    prompts only.

A *concept* is a vocabulary word of the prompts; its direction is always its prompt direction.
:func:`rank_words` ranks the word directions by their cosine with a concept's direction (the
concept itself and, by default, the other words of its family left out: they are alternatives
to it, not descriptors), or with the centred h-vector of any sample (``h - mean h`` of the
samples the directions were read from).

Several timesteps are weighted equally as in :func:`.flatten_h` (each timestep's block divided
by its root-mean-square norm over the samples); the scales are kept, so a new h-vector is
scaled the same way. h is read one timestep block at a time (a float64 copy of one block, not
of all of h, is the largest temporary). Only numpy and scipy are used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..exceptions import InputError
from .directions import STOP_WORDS, tokenize, word_indicator
from .ranking import Ranking, rank_words, word_cosines  # re-exported

__all__ = [
    "SOURCES",
    "Ranking",
    "WordDirections",
    "rank_words",
    "word_cosines",
    "word_directions",
]

SOURCES = ("prompts", "captions", "both")
Source = Literal["prompts", "captions", "both"]


@dataclass(frozen=True)
class WordDirections:
    """Unit directions in h-space for vocabulary words (targets) and prompt concepts.

    Attributes
    ----------
    words : list of str
        Words with a direction, alphabetical.
    vectors : ndarray, shape (n_words, D)
        Their unit directions.
    sources : list of str
        Where each word's direction comes from: ``"prompts"``, ``"captions"`` or ``"both"``.
    families : list of str or None
        Family of each word (None without families).
    counts : ndarray of int, shape (n_words,)
        Samples whose prompt or caption contains the word (the larger of the two for "both").
    concepts : list of str
        Vocabulary words of the prompts with a prompt direction, alphabetical.
    concept_vectors : ndarray, shape (n_concepts, D)
        Their unit prompt directions.
    concept_families : list of str or None
    concept_counts : ndarray of int
        Samples whose prompt contains the concept.
    matched : ndarray, shape (n_concepts,)
        Share of the concept's prompts contrasted with matched prompts (1: all of them).
    center : ndarray, shape (D,)
        Mean of the (scaled, flattened) h-vectors the directions were read from.
    scale : ndarray, shape (n_timesteps,)
        Root-mean-square norm of each timestep's block (1 with ``timestep`` set).
    h_shape : tuple of int
        ``(n_timesteps, d)`` of one sample's h.
    timestep : int or None
        The one timestep used, or None: all, concatenated.
    source : str
        The ``source`` asked for.
    """

    words: list[str]
    vectors: np.ndarray
    sources: list[str]
    families: list[str | None]
    counts: np.ndarray
    concepts: list[str]
    concept_vectors: np.ndarray
    concept_families: list[str | None]
    concept_counts: np.ndarray
    matched: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    h_shape: tuple[int, int]
    timestep: int | None = None
    source: str = "both"
    index: dict[str, int] = field(init=False, repr=False)
    concept_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {w: j for j, w in enumerate(self.words)})
        object.__setattr__(self, "concept_index", {w: j for j, w in enumerate(self.concepts)})

    def __len__(self) -> int:
        return len(self.words)

    def vector(self, word: str) -> np.ndarray:
        """The unit direction of vocabulary word ``word``."""
        if word not in self.index:
            msg = f"No direction for {word!r}; words with a direction: {self.words[:30]}."
            raise InputError(msg)
        return self.vectors[self.index[word]]

    def concept_vector(self, concept: str) -> np.ndarray:
        """The unit prompt direction of ``concept``."""
        return self.concept_vectors[self._concept(concept)]

    def _concept(self, concept: str) -> int:
        key = str(concept).lower()
        if key not in self.concept_index:
            known = ", ".join(self.concepts) or "none"
            if key in self.index:
                msg = (
                    f"{concept!r} has a direction from the captions only: no prompt is contrasted "
                    "with it (it needs prompts with it and prompts without it), so it is not a "
                    f"concept; rank the words of a sample instead. Known concepts: {known}."
                )
            else:
                msg = f"Unknown concept {concept!r}: no prompt direction. Known concepts: {known}."
            raise InputError(msg)
        return self.concept_index[key]

    def transform(self, h: Any) -> np.ndarray:
        """``(n, D)``: raw h-vectors scaled and flattened as the directions' own samples.

        ``h`` is one sample, ``(n_timesteps, d)`` (or ``(d,)`` / ``(n_timesteps * d,)``), or
        several, ``(n, n_timesteps, d)`` (or ``(n, d)`` with one timestep).
        """
        T, d = self.h_shape
        a = np.asarray(h, dtype=np.float64)
        if a.ndim == 1 and a.size == T * d:
            a = a.reshape(1, T, d)
        elif a.ndim == 2 and a.shape == (T, d):
            a = a[None]
        elif a.ndim == 2 and T == 1 and a.shape[1] == d:
            a = a[:, None, :]
        if a.ndim != 3 or a.shape[1:] != (T, d):
            msg = (
                f"h has shape {np.shape(h)}, but the directions were read from h-vectors of "
                f"shape (n_timesteps, d) = ({T}, {d}): give one sample ({T}, {d}) or several "
                f"(n, {T}, {d})."
            )
            raise InputError(msg)
        if not np.all(np.isfinite(a)):
            msg = "h contains NaN or infinite values."
            raise InputError(msg)
        if self.timestep is not None:
            return a[:, self.timestep, :]
        return (a / self.scale[None, :, None]).reshape(a.shape[0], -1)


# ------------------------------------------------------------------------------- inputs
def _vocabulary(
    vocabulary: Mapping[str, Any] | Iterable[str] | None,
) -> tuple[set[str] | None, dict[str, str]]:
    """(allowed words or None: any, word → family)."""
    if vocabulary is None:
        return None, {}
    if isinstance(vocabulary, str):
        msg = "vocabulary must be {family: [words]} or a list of words, not one string."
        raise InputError(msg)
    if isinstance(vocabulary, Mapping):
        fam: dict[str, str] = {}
        for family, words in vocabulary.items():
            if isinstance(words, str):  # {word: family}
                fam[str(family).lower()] = words
                continue
            for w in words:
                fam[str(w).lower()] = str(family)
        if not fam:
            msg = "vocabulary has no word: give {family: [words, ...]}."
            raise InputError(msg)
        return set(fam), fam
    words = {str(w).lower() for w in vocabulary}
    if not words:
        msg = "vocabulary is empty: give at least one word."
        raise InputError(msg)
    return words, {}


def _inputs(
    result_or_h: Any, prompts: Sequence[str] | None, captions: Sequence[str] | None
) -> tuple[np.ndarray, list[str], list[str] | None]:
    if hasattr(result_or_h, "h"):
        h = np.asarray(result_or_h.h)
        table = getattr(result_or_h, "table", None) or {}
        if prompts is None and "prompt" in table:
            prompts = [str(p) for p in table["prompt"]]
        if captions is None and "caption" in table:
            captions = [str(c) for c in table["caption"]]
    else:
        h = np.asarray(result_or_h)
    if prompts is None:
        msg = "No prompts given: pass prompts= (one per sample) or an HSpaceResult."
        raise InputError(msg)
    if isinstance(prompts, str) or isinstance(captions, str):
        msg = "prompts and captions must be sequences of texts (one per sample), not one string."
        raise InputError(msg)
    prompts = [str(p) for p in prompts]
    captions = None if captions is None else [str(c) for c in captions]
    if h.ndim == 2:
        h = h[:, None, :]
    if h.ndim != 3:
        msg = f"h must have shape (n_samples, d) or (n_samples, n_timesteps, d), not {h.shape}."
        raise InputError(msg)
    if len(prompts) != h.shape[0] or (captions is not None and len(captions) != h.shape[0]):
        n_cap = "no" if captions is None else len(captions)
        msg = (
            f"h has {h.shape[0]} samples, but there are {len(prompts)} prompts and {n_cap} "
            "captions: give one prompt (and caption) per sample."
        )
        raise InputError(msg)
    if not np.all(np.isfinite(h)):
        msg = "h contains NaN or infinite values; extract the h-vectors again."
        raise InputError(msg)
    return h, prompts, captions


def _statistics(
    h: np.ndarray, groups: np.ndarray, G: int, Z: np.ndarray, timestep: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sums of the scaled, flattened h, one timestep block at a time.

    With ``H`` the ``(n, D)`` matrix of :func:`.flatten_h` (never built whole): returns the
    per-timestep ``scale``, ``center`` (mean row of H), ``means`` (``(G, D)``, mean row per
    prompt) and ``ZH = Zᵀ H`` (``(V, D)``, for the caption directions).
    """
    import scipy.sparse as sp

    n, T, d = h.shape
    if timestep is not None:
        if isinstance(timestep, bool) or not -T <= int(timestep) < T:
            msg = f"timestep={timestep} is not a column of h: it has {T} timesteps."
            raise InputError(msg)
        blocks = [int(timestep) % T]
    else:
        blocks = list(range(T))
    sizes = np.bincount(groups, minlength=G).astype(np.float64)
    E = sp.csr_matrix((1.0 / sizes[groups], (groups, np.arange(n))), shape=(G, n))
    Zt = np.asarray(Z, dtype=np.float64).T
    scale = np.ones(T)
    D = len(blocks) * d
    center, means, ZH = np.empty(D), np.empty((G, D)), np.empty((Zt.shape[0], D))
    for b, t in enumerate(blocks):
        X = np.array(h[:, t, :], dtype=np.float64)  # a copy: scaled in place below
        m = X.mean(axis=0)
        if timestep is None:
            rms = float(np.sqrt(np.mean(np.sum((X - m) ** 2, axis=1))))
            scale[t] = rms if rms > 0 else 1.0
            X /= scale[t]
            m /= scale[t]
        cols = slice(b * d, (b + 1) * d)
        center[cols], means[:, cols], ZH[:, cols] = m, E @ X, Zt @ X
    return scale, center, means, ZH


# ---------------------------------------------------------------------- prompt directions
def _prompt_directions(
    means: np.ndarray,
    sizes: np.ndarray,
    keys: np.ndarray,
    allowed: set[str] | None,
    fam: dict[str, str],
    min_count: int,
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(concepts, unit directions, sample counts, matched share) from the prompt means."""
    content = [frozenset(tokenize(p)) for p in keys]  # every non-stop word
    candidates = sorted({w for ws in content for w in ws if allowed is None or w in allowed})
    # one-word substitutions: the prompts j whose words minus x are a given set, with x
    substitutions: dict[frozenset[str], list[tuple[int, str]]] = {}
    for j, ws in enumerate(content):
        for x in ws:
            substitutions.setdefault(ws - {x}, []).append((j, x))
    family_of_prompt = [{fam[x] for x in ws if x in fam} for ws in content]
    names, raws, counts, matched = [], [], [], []
    for w in candidates:
        has = np.array([w in ws for ws in content])
        n_with = int(sizes[has].sum())
        if n_with < min_count or not (~has).any():
            continue
        family = fam.get(w)
        same_kind = np.array([family in fs for fs in family_of_prompt]) & ~has
        contributions, n_matched = [], 0
        for g in np.flatnonzero(has):
            match = [
                j for j, x in substitutions.get(content[g] - {w}, ())
                if x != w and (family is None or fam.get(x) == family)
            ]  # fmt: skip
            if match:
                n_matched += 1
                base = means[match].mean(axis=0)
            elif same_kind.any():
                base = means[same_kind].mean(axis=0)
            else:
                base = means[~has].mean(axis=0)
            contributions.append(means[g] - base)
        names.append(w)
        raws.append(np.mean(contributions, axis=0))
        counts.append(n_with)
        matched.append(n_matched / int(has.sum()))
    raw = np.asarray(raws, dtype=np.float64).reshape(len(names), means.shape[1])
    norms = np.linalg.norm(raw, axis=1)
    ok = norms > 1e-9 * max(float(np.linalg.norm(means, axis=1).max(initial=0.0)), 1e-300)
    return (
        [w for w, k in zip(names, ok, strict=True) if k],
        raw[ok] / norms[ok, None],
        np.asarray(counts, dtype=np.int64)[ok],
        np.asarray(matched, dtype=np.float64)[ok],
    )


def word_directions(
    result_or_h: Any,
    prompts: Sequence[str] | None = None,
    captions: Sequence[str] | None = None,
    *,
    vocabulary: Mapping[str, Any] | Iterable[str] | None = None,
    source: Source = "both",
    timestep: int | None = None,
    min_count: int = 2,
) -> WordDirections:
    """A unit direction in h-space for every vocabulary word, from prompts and/or captions.

    Parameters
    ----------
    result_or_h
        An :class:`~.hspace.HSpaceResult` (its h, prompts and captions), or h-vectors
        ``(n, d)`` / ``(n, n_timesteps, d)``.
    prompts, captions
        One text per sample (default: those of the result). Captions are optional.
    vocabulary
        ``{family: [words]}`` (e.g. the decode manifest's ``families``; families define the
        matched prompts), a list of words, or None: every word of the texts but
        :data:`~.directions.STOP_WORDS`.
    source
        ``"prompts"``, ``"captions"`` or ``"both"`` (default; the prompts alone when there are
        no captions). See the module docstring.
    timestep
        Use one recorded timestep (index into h's second axis); default all, each weighted
        equally.
    min_count
        Least samples whose text contains a word (and, for captions, that lack it).

    Returns
    -------
    WordDirections

    Raises
    ------
    InputError
        Mismatched lengths, an unknown source, ``source="captions"`` without captions, or no
        word with a direction.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> prompts = [p for p in ["a red square", "a blue square", "a red circle"] for _ in range(4)]
    >>> h = rng.normal(size=(12, 8))
    >>> dirs = word_directions(h, prompts, vocabulary={"colour": ["red", "blue"],
    ...                                                 "shape": ["square", "circle"]})
    >>> dirs.concepts
    ['blue', 'circle', 'red', 'square']
    >>> dirs.matched.tolist()  # no "a blue circle": "a red circle" and "a blue square" fall back
    [1.0, 1.0, 0.5, 0.5]
    """
    if source not in SOURCES:
        msg = f"source={source!r} is not valid: choose 'prompts', 'captions' or 'both'."
        raise InputError(msg)
    if isinstance(min_count, bool) or not isinstance(min_count, int | np.integer) or min_count < 1:
        msg = f"min_count={min_count!r} must be a positive integer (2 is the default)."
        raise InputError(msg)
    h, prompts, captions = _inputs(result_or_h, prompts, captions)
    if source == "captions" and captions is None:
        msg = (
            "source='captions' needs captions of the generated images, and there are none "
            "(the run was not captioned): use source='prompts', or caption the images."
        )
        raise InputError(msg)
    allowed, fam = _vocabulary(vocabulary)
    keys, groups = np.unique(np.asarray(prompts, dtype=object).astype(str), return_inverse=True)
    use_captions = source in ("captions", "both") and captions is not None
    cap_words, Z = [], np.zeros((len(prompts), 0), dtype=bool)
    if use_captions:
        vocab = None if allowed is None else sorted(allowed)
        cap_words, Z = word_indicator(captions, vocabulary=vocab, stop_words=STOP_WORDS)
    scale, center, means, ZH = _statistics(h, groups, keys.size, Z, timestep)
    sizes = np.bincount(groups, minlength=keys.size)
    concepts, unit_c, counts_c, matched = _prompt_directions(
        means, sizes, keys, allowed, fam, min_count
    )
    table: dict[str, dict[str, Any]] = {}
    if source in ("prompts", "both"):
        for j, w in enumerate(concepts):
            table[w] = {"prompts": (unit_c[j], int(counts_c[j]))}
    if use_captions:
        for w, v, c in _caption_directions(cap_words, Z, groups, means, ZH, min_count):
            table.setdefault(w, {})["captions"] = (v, c)
    if not table:
        msg = (
            f"No vocabulary word has a direction (source={source!r}): each word needs at least "
            f"min_count={min_count} samples with it and some without, and prompts with and "
            "without it. Give more varied prompts or a vocabulary that matches them."
        )
        raise InputError(msg)
    words = sorted(table)
    D = center.size
    vectors, sources, counts = np.zeros((len(words), D)), [], []
    for i, w in enumerate(words):
        entry = table[w]
        if len(entry) == 2:
            v = entry["prompts"][0] + entry["captions"][0]
            vectors[i] = v / max(np.linalg.norm(v), 1e-300)
            sources.append("both")
            counts.append(max(entry["prompts"][1], entry["captions"][1]))
        else:
            ((name, (v, c)),) = entry.items()
            vectors[i] = v
            sources.append(name)
            counts.append(c)
    return WordDirections(
        words=words,
        vectors=vectors,
        sources=sources,
        families=[fam.get(w) for w in words],
        counts=np.asarray(counts, dtype=np.int64),
        concepts=concepts,
        concept_vectors=unit_c.reshape(len(concepts), D),
        concept_families=[fam.get(w) for w in concepts],
        concept_counts=counts_c,
        matched=matched,
        center=center,
        scale=scale,
        h_shape=(int(h.shape[1]), int(h.shape[2])),
        timestep=None if timestep is None else int(timestep) % int(h.shape[1]),
        source=source,
    )


def _caption_directions(
    words: list[str],
    Z: np.ndarray,
    groups: np.ndarray,
    means: np.ndarray,
    ZH: np.ndarray,
    min_count: int,
) -> list[tuple[str, np.ndarray, int]]:
    """Within-prompt mean differences of the caption words, from sums (no n × D copy).

    With ``Hc`` = h centred per prompt (``H - E M``), the mean of ``Hc`` over the samples with
    the word minus the mean over those without is ``Zᵀ Hc (1/k + 1/(n - k))``, since ``Hc``
    sums to zero; ``Zᵀ Hc = Zᵀ H - C M`` with ``C`` the word's count per prompt.
    """
    n = Z.shape[0]
    k = Z.sum(axis=0)
    C = np.zeros((Z.shape[1], means.shape[0]))
    np.add.at(C.T, groups, Z.astype(np.float64))
    raw = ZH - C @ means
    norms = np.linalg.norm(raw, axis=1)
    scale = np.linalg.norm(ZH, axis=1)
    ok = (k >= min_count) & (n - k >= min_count) & (norms > 1e-9 * np.maximum(scale, 1e-300))
    return [(w, raw[j] / norms[j], int(k[j])) for j, w in enumerate(words) if ok[j]]

