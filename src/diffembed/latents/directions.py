"""Latent directions of words: one unit vector per concept word of the prompts or captions.

Every generated sample has an h-vector (:mod:`.hspace`) and texts: the prompt it was generated
from and the caption of the generated image. A word's direction is read from all samples at
once, without training one probe per concept (Zeng, Chen & Wong 2024):

``mean_difference``
    mean h of the samples whose text contains the word minus mean h of those whose text does
    not (the difference of class means; Kwon et al. 2023 edit h-space along such directions).
``ridge``
    multi-output ridge regression of h on the indicators of all words jointly,
    ``min_B ||(H - H̄) - (Z - Z̄) B||² + alpha ||B||²``
    (scikit-learn :class:`~sklearn.linear_model.Ridge`);
    a word's direction is its row of ``B``. Correlated words (``square`` always with ``blue``)
    are separated: each gets the part of h that the others do not explain.

``groups`` (e.g. the prompt of each sample) centres h and the indicators within each group
first, so a direction is read from the variation *within* a prompt (across seeds): with caption
words this keeps the prompt's own component of h out of an attribute's direction (see
:mod:`.associations`).

Only numpy and scikit-learn are used here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..exceptions import InputError

__all__ = [
    "METHODS",
    "STOP_WORDS",
    "Directions",
    "concept_directions",
    "flatten_h",
    "tokenize",
    "word_indicator",
]

METHODS = ("mean_difference", "ridge")

#: Words that name no concept: articles, prepositions, pronouns, copulas and image nouns.
STOP_WORDS = frozenset(
    """a an the of in on at to for by from with without and or but not no nor as is are was were be
    been being this that these those it its there here some any one very image picture photo
    photograph drawing rendering showing shows shown""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")


def tokenize(
    text: str,
    *,
    vocabulary: Iterable[str] | None = None,
    stop_words: Iterable[str] | None = STOP_WORDS,
) -> list[str]:
    """The distinct concept words of a text, in order of first appearance.

    Parameters
    ----------
    text
        Any text (a prompt or a caption).
    vocabulary
        If given, only these words are kept (compared in lowercase); stop words are then not
        removed.
    stop_words
        Words dropped when no vocabulary is given (default :data:`STOP_WORDS`; ``None``: none).

    Returns
    -------
    list of str
        Lowercase words (letters, with inner ``'`` or ``-``), each once.

    Examples
    --------
    >>> tokenize("A photo of a Blue square, and a blue-green circle!")
    ['blue', 'square', 'blue-green', 'circle']
    """
    if not isinstance(text, str):
        msg = f"Texts must be strings, not {type(text).__name__} ({text!r})."
        raise InputError(msg)
    words = dict.fromkeys(m.group(0) for m in _WORD.finditer(text.lower()))
    if vocabulary is not None:
        keep = {str(v).lower() for v in vocabulary}
        return [w for w in words if w in keep]
    drop = frozenset(stop_words or ())
    return [w for w in words if w not in drop]


def word_indicator(
    documents: Sequence[str],
    *,
    vocabulary: Iterable[str] | None = None,
    min_count: int = 1,
    stop_words: Iterable[str] | None = STOP_WORDS,
) -> tuple[list[str], np.ndarray]:
    """Which document contains which word.

    Parameters
    ----------
    documents
        One text per sample.
    vocabulary, stop_words
        See :func:`tokenize`.
    min_count
        Words in fewer documents are dropped.

    Returns
    -------
    words : list of str
        Sorted alphabetically.
    Z : ndarray of bool, shape (n_documents, n_words)
    """
    if isinstance(documents, str):
        msg = "documents must be a sequence of texts (one per sample), not one string."
        raise InputError(msg)
    vocab = None if vocabulary is None else [str(v).lower() for v in vocabulary]
    tokens = [tokenize(d, vocabulary=vocab, stop_words=stop_words) for d in documents]
    counts: dict[str, int] = {}
    for doc in tokens:
        for w in doc:
            counts[w] = counts.get(w, 0) + 1
    words = sorted(w for w, c in counts.items() if c >= min_count)
    index = {w: j for j, w in enumerate(words)}
    Z = np.zeros((len(tokens), len(words)), dtype=bool)
    for i, doc in enumerate(tokens):
        for w in doc:
            if w in index:
                Z[i, index[w]] = True
    return words, Z


def flatten_h(h: np.ndarray, *, timestep: int | None = None) -> np.ndarray:
    """``(n, d)`` float64 from h-vectors ``(n, d)`` or ``(n, n_timesteps, d)``.

    With several timesteps (and ``timestep=None``) each timestep's block is divided by its
    root-mean-square norm and the blocks are concatenated, so every timestep weighs the same;
    ``timestep=j`` keeps block ``j`` only.
    """
    H = np.asarray(h, dtype=np.float64)
    if H.ndim == 2:
        if timestep not in (None, 0):
            msg = f"timestep={timestep} given, but h has shape {H.shape} (one timestep)."
            raise InputError(msg)
    elif H.ndim == 3:
        if timestep is not None:
            if not -H.shape[1] <= timestep < H.shape[1]:
                msg = f"timestep={timestep} is not a column of h: it has {H.shape[1]} timesteps."
                raise InputError(msg)
            H = H[:, timestep, :]
        else:
            rms = np.sqrt(np.mean(np.sum((H - H.mean(axis=0)) ** 2, axis=2), axis=0))
            H = (H / np.where(rms > 0, rms, 1.0)[None, :, None]).reshape(H.shape[0], -1)
    else:
        msg = f"h must have shape (n_samples, d) or (n_samples, n_timesteps, d), not {H.shape}."
        raise InputError(msg)
    if not np.all(np.isfinite(H)):
        msg = "h contains NaN or infinite values; extract the h-vectors again."
        raise InputError(msg)
    return H


@dataclass(frozen=True)
class Directions:
    """One latent direction per word.

    Attributes
    ----------
    words : list of str
    vectors : ndarray, shape (n_words, d)
        Unit vectors (a zero row where the raw direction is zero).
    norms : ndarray, shape (n_words,)
        Lengths of the raw directions (mean difference or ridge coefficients).
    counts : ndarray, shape (n_words,)
        Samples whose text contains the word.
    method : str
    alpha : float or None
        The ridge penalty.
    noise : ndarray, shape (n_words,), or None
        Sampling-noise factor ``c_j`` of each raw direction: with i.i.d. residuals of
        covariance ``Σ``, the raw direction's estimation noise has covariance ``c_j Σ``
        (``1/n_with + 1/n_without`` for a mean difference; the diagonal of
        ``M⁻¹ Z̃ᵀZ̃ M⁻¹``, ``M = Z̃ᵀZ̃ + αI``, for ridge).
    """

    words: list[str]
    vectors: np.ndarray
    norms: np.ndarray
    counts: np.ndarray
    method: str
    alpha: float | None = None
    noise: np.ndarray | None = field(default=None, repr=False)
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {w: j for j, w in enumerate(self.words)})

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def vector(self, word: str) -> np.ndarray:
        """The unit direction of ``word``."""
        if word not in self.index:
            msg = f"No direction for {word!r}; words with a direction: {self.words[:20]}."
            raise InputError(msg)
        return self.vectors[self.index[word]]

    def project(self, h: np.ndarray) -> np.ndarray:
        """``(n, n_words)``: every h-vector projected on every unit direction."""
        H = flatten_h(h)
        if H.shape[1] != self.vectors.shape[1]:
            msg = f"h has {H.shape[1]} features but the directions {self.vectors.shape[1]}."
            raise InputError(msg)
        return H @ self.vectors.T


def _centre(X: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if groups is None:
        return X - X.mean(axis=0)
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    sums = np.zeros((counts.size, X.shape[1]))
    np.add.at(sums, inverse, X)
    return X - (sums / counts[:, None])[inverse]


def concept_directions(
    h: np.ndarray,
    documents_or_indicator: Sequence[str] | np.ndarray,
    *,
    words: Sequence[str] | None = None,
    method: Literal["mean_difference", "ridge"] = "mean_difference",
    alpha: float = 1.0,
    min_count: int = 2,
    vocabulary: Iterable[str] | None = None,
    groups: Sequence[object] | np.ndarray | None = None,
) -> Directions:
    """A latent direction per word, from all samples at once.

    Parameters
    ----------
    h
        ``(n, d)`` or ``(n, n_timesteps, d)`` h-vectors (see :func:`flatten_h`).
    documents_or_indicator
        One text per sample (tokenised by :func:`word_indicator`), or an ``(n, n_words)``
        0/1 indicator matrix with its ``words``.
    words
        Column names of an indicator matrix.
    method
        ``"mean_difference"`` (default) or ``"ridge"`` (see the module docstring).
    alpha
        Ridge penalty (``method="ridge"``), > 0.
    min_count
        Words in fewer samples, or in all but fewer than ``min_count``, get no direction.
    vocabulary
        Only these words (texts only).
    groups
        Optional group of each sample (e.g. its prompt): h and the indicators are centred
        within groups first, so only within-group variation counts.

    Returns
    -------
    Directions

    Raises
    ------
    InputError
        Mismatched lengths, an unknown method, ``alpha <= 0``, no word frequent enough.
    """
    H = flatten_h(h)
    n = H.shape[0]
    if method not in METHODS:
        msg = f"method={method!r} is not valid: choose 'mean_difference' or 'ridge'."
        raise InputError(msg)
    if method == "ridge" and not (np.isfinite(alpha) and alpha > 0):
        msg = f"alpha={alpha} must be a positive number (the ridge penalty)."
        raise InputError(msg)
    if min_count < 1:
        msg = f"min_count={min_count} must be at least 1."
        raise InputError(msg)
    if isinstance(documents_or_indicator, np.ndarray) and documents_or_indicator.ndim == 2:
        Z = np.asarray(documents_or_indicator)
        if not np.isin(Z, (0, 1)).all():
            msg = "The indicator matrix must hold 0/1 (or booleans): one column per word."
            raise InputError(msg)
        Z = Z.astype(bool)
        names = [str(w) for w in (words if words is not None else range(Z.shape[1]))]
        if len(names) != Z.shape[1]:
            msg = f"words has {len(names)} names for an indicator with {Z.shape[1]} columns."
            raise InputError(msg)
    else:
        if words is not None:
            msg = "words= names the columns of an indicator matrix; texts bring their own words."
            raise InputError(msg)
        names, Z = word_indicator(list(documents_or_indicator), vocabulary=vocabulary)
    if Z.shape[0] != n:
        msg = f"h has {n} samples but there are {Z.shape[0]} texts / indicator rows."
        raise InputError(msg)
    g = None if groups is None else np.asarray(groups)
    if g is not None and g.shape != (n,):
        msg = f"groups has shape {g.shape}; give one group per sample ({n})."
        raise InputError(msg)
    counts = Z.sum(axis=0)
    keep = (counts >= min_count) & (n - counts >= min_count)
    if not keep.any():
        msg = (
            f"No word is in at least min_count={min_count} samples and missing from as many "
            f"({len(names)} words in {n} samples); lower min_count or give more samples."
        )
        raise InputError(msg)
    names = [w for w, k in zip(names, keep, strict=True) if k]
    Z, counts = Z[:, keep], counts[keep]
    ridge = method == "ridge"
    raw = _ridge(H, Z, g, alpha) if ridge else _mean_difference(H, Z, g)
    if ridge:
        Zc = _centre(Z.astype(np.float64), g)
        M_inv = np.linalg.inv(Zc.T @ Zc + alpha * np.eye(Z.shape[1]))
        noise = np.einsum("ij,jk,ki->i", M_inv, Zc.T @ Zc, M_inv)
    else:
        noise = 1.0 / counts + 1.0 / (n - counts)
    norms = np.linalg.norm(raw, axis=1)
    vectors = raw / np.where(norms > 0, norms, 1.0)[:, None]
    return Directions(
        words=names,
        vectors=vectors,
        norms=norms,
        counts=counts.astype(np.int64),
        method=method,
        alpha=float(alpha) if method == "ridge" else None,
        noise=np.asarray(noise, dtype=np.float64),
    )


def _mean_difference(H: np.ndarray, Z: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    if groups is not None:
        H = _centre(H, groups)
    Zf = Z.astype(np.float64)
    k = Zf.sum(axis=0)
    inside = (Zf.T @ H) / np.maximum(k, 1)[:, None]
    outside = ((1 - Zf).T @ H) / np.maximum(H.shape[0] - k, 1)[:, None]
    return inside - outside


def _ridge(H: np.ndarray, Z: np.ndarray, groups: np.ndarray | None, alpha: float) -> np.ndarray:
    from sklearn.linear_model import Ridge

    Hc, Zc = _centre(H, groups), _centre(Z.astype(np.float64), groups)
    model = Ridge(alpha=alpha, fit_intercept=False, solver="auto").fit(Zc, Hc)
    return np.asarray(model.coef_, dtype=np.float64).reshape(H.shape[1], Z.shape[1]).T
