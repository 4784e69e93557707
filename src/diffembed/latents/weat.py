"""Word Embedding Association Test (WEAT; Caliskan, Bryson & Narayanan 2017).

Target sets :math:`X, Y` and attribute sets :math:`A, B` of vectors. The association of a
vector with the attributes is

.. math:: s(w, A, B) = \\operatorname{mean}_{a \\in A} \\cos(w, a)
          - \\operatorname{mean}_{b \\in B} \\cos(w, b),

the test statistic :math:`S = \\sum_{x \\in X} s(x) - \\sum_{y \\in Y} s(y)` and the effect size

.. math:: d = \\frac{\\operatorname{mean}_{x \\in X} s(x) - \\operatorname{mean}_{y \\in Y} s(y)}
          {\\operatorname{std}_{w \\in X \\cup Y} s(w)}.

The standard deviation is the sample one (``ddof=1``) by default; WEFE's ``WEAT`` metric
divides by the population standard deviation (``numpy.std``, ``ddof=0``), so
``weat(..., ddof=0).effect_size`` equals WEFE's ``effect_size`` (they differ by the factor
:math:`\\sqrt{(n-1)/n}`, :math:`n = |X| + |Y|`).

The one-sided p-value is the permutation test of the paper: the fraction of re-partitions
:math:`(X_i, Y_i)` of :math:`X \\cup Y` into sets of sizes :math:`|X|, |Y|` whose statistic is
at least the observed one. All :math:`\\binom{|X|+|Y|}{|X|}` partitions are enumerated when
there are at most ``n_permutations`` of them (the observed one included, so the smallest
p-value is one over their number); otherwise ``n_permutations`` random partitions are drawn
and :math:`p = (1 + \\#\\{S_i \\ge S\\}) / (1 + n_{\\text{permutations}})` (Phipson & Smyth
2010), which is never zero. WEFE instead draws random orderings of the pool *with
replacement*, so its p-values agree with ours only roughly.

numpy only.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._validation import check_int, check_strings
from ..exceptions import InputError

__all__ = ["WEATResult", "association", "weat", "weat_words"]

Alternative = Literal["greater", "less", "two-sided"]
_CHUNK = 50_000


@dataclass(frozen=True)
class WEATResult:
    """Result of :func:`weat`.

    Attributes
    ----------
    effect_size : float
        :math:`d`, the standardised difference of the mean associations of X and Y
        (NaN when every association is equal).
    statistic : float
        :math:`S = \\sum_X s - \\sum_Y s`.
    p_value : float
        Permutation p-value of the chosen alternative.
    n_permutations : int
        Partitions the p-value is based on (all of them when ``exact``).
    exact : bool
        Whether every partition was enumerated.
    alternative : str
        ``"greater"`` (X more associated with A than Y is; the paper's test), ``"less"`` or
        ``"two-sided"``.
    """

    effect_size: float
    statistic: float
    p_value: float
    n_permutations: int
    exact: bool
    alternative: str = "greater"


def _check_set(values: Any, name: str, dim: int | None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"{name} must be an array of vectors of shape (n, d); it could not be read ({exc})."
        raise InputError(msg) from exc
    if arr.ndim != 2:
        msg = f"{name} must be a 2-D array of vectors, shape (n, d); got shape {arr.shape}."
        raise InputError(msg)
    if arr.shape[0] == 0:
        msg = f"{name} is empty; every WEAT set needs at least one vector."
        raise InputError(msg)
    if arr.shape[1] == 0:
        msg = f"{name} has vectors of dimension 0."
        raise InputError(msg)
    if dim is not None and arr.shape[1] != dim:
        msg = (
            f"{name} has vectors of dimension {arr.shape[1]} but X has dimension {dim}; all "
            "four sets must come from the same embedding."
        )
        raise InputError(msg)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = ", ".join(map(str, np.flatnonzero(bad)[:5]))
        msg = f"{name} contains NaN or infinite values (rows {rows}); drop or fix those vectors."
        raise InputError(msg)
    norms = np.linalg.norm(arr, axis=1)
    zero = norms == 0
    if zero.any():
        rows = ", ".join(map(str, np.flatnonzero(zero)[:5]))
        msg = f"{name} contains zero vectors (rows {rows}); their cosine is undefined."
        raise InputError(msg)
    return arr / norms[:, None]


def association(W: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """:math:`s(w, A, B)` of every row of ``W``: mean cosine to A minus mean cosine to B."""
    W = _check_set(W, "W", None)
    A = _check_set(A, "A", W.shape[1])
    B = _check_set(B, "B", W.shape[1])
    return _association(W, A, B)


def _association(W: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    # rows are unit vectors: mean_a cos(w, a) = w . mean(A); computed as the mean of the
    # cosines so that rounding matches a direct evaluation
    return (W @ A.T).mean(axis=1) - (W @ B.T).mean(axis=1)


def _partition_sums(s: np.ndarray, nx: int, n_permutations: int, rng: np.random.Generator):
    """Sums of s over the X-part of every (or of random) re-partitions, chunked."""
    n = len(s)
    total = math.comb(n, nx)
    if total <= n_permutations:
        combos = itertools.combinations(range(n), nx)
        while True:
            block = np.fromiter(
                itertools.chain.from_iterable(itertools.islice(combos, _CHUNK)), dtype=np.int64
            )
            if block.size == 0:
                break
            yield s[block.reshape(-1, nx)].sum(axis=1)
        return
    done = 0
    while done < n_permutations:
        m = min(_CHUNK, n_permutations - done)
        idx = np.argsort(rng.random((m, n)), axis=1)[:, :nx]
        yield s[idx].sum(axis=1)
        done += m


def weat(
    X: Any,
    Y: Any,
    A: Any,
    B: Any,
    *,
    n_permutations: int = 10_000,
    alternative: Alternative = "greater",
    ddof: int = 1,
    random_state: int | None = 0,
) -> WEATResult:
    """WEAT effect size, test statistic and permutation p-value.

    Parameters
    ----------
    X, Y : array-like of shape (n_x, d) and (n_y, d)
        Target vectors (e.g. flowers, insects).
    A, B : array-like of shape (n_a, d) and (n_b, d)
        Attribute vectors (e.g. pleasant, unpleasant).
    n_permutations : int
        Largest number of partitions enumerated exactly; above it, the number of random
        partitions drawn.
    alternative : {"greater", "less", "two-sided"}
        ``"greater"`` (the paper's one-sided test): small p when X is more associated with A
        (and Y with B) than chance; ``"less"`` the opposite; ``"two-sided"`` compares
        ``|mean_X s - mean_Y s|``.
    ddof : int
        Delta degrees of freedom of the standard deviation in the effect size: 1 (sample
        standard deviation) or 0 (population; what WEFE uses).
    random_state : int or None
        Seed of the random partitions (unused when exact).

    Returns
    -------
    WEATResult

    Raises
    ------
    InputError
        An empty set, sets of different dimensions, NaN, infinite or zero vectors, a bad
        ``alternative``, ``ddof`` or ``n_permutations``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2, 8))
    >>> X = a + 0.5 * rng.normal(size=(6, 8))
    >>> Y = b + 0.5 * rng.normal(size=(6, 8))
    >>> A = a + 0.5 * rng.normal(size=(5, 8))
    >>> B = b + 0.5 * rng.normal(size=(5, 8))
    >>> result = weat(X, Y, A, B)
    >>> result.exact, result.n_permutations, result.effect_size > 1.5, result.p_value < 0.01
    (True, 924, True, True)
    """
    if alternative not in ("greater", "less", "two-sided"):
        msg = (
            f"alternative={alternative!r} is not supported; choose 'greater', 'less' or "
            "'two-sided'."
        )
        raise InputError(msg)
    if ddof not in (0, 1) or isinstance(ddof, bool):
        msg = f"ddof={ddof!r} is not supported; use 1 (sample std, the default) or 0 (WEFE)."
        raise InputError(msg)
    n_permutations = check_int(n_permutations, "n_permutations", low=1)
    Xn = _check_set(X, "X", None)
    d = Xn.shape[1]
    Yn, An, Bn = (_check_set(v, name, d) for v, name in ((Y, "Y"), (A, "A"), (B, "B")))
    nx, ny = len(Xn), len(Yn)
    if nx + ny < 3 and ddof == 1:
        msg = "X and Y hold 2 vectors in all; the sample standard deviation needs at least 3."
        raise InputError(msg)
    s = _association(np.vstack([Xn, Yn]), An, Bn)
    sx, sy = s[:nx], s[nx:]
    statistic = float(sx.sum() - sy.sum())
    std = float(np.std(s, ddof=ddof))
    diff = float(sx.mean() - sy.mean())
    scale = max(float(np.abs(s).max()), 1e-300)
    if std <= 1e-12 * scale:
        warnings.warn(
            "Every target has the same association with A and B; the effect size is NaN.",
            RuntimeWarning,
            stacklevel=2,
        )
        effect = math.nan
    else:
        effect = diff / std
    # mean_X - mean_Y of a partition is a monotone function of the X-part sum t:
    # t / nx - (total - t) / ny; compare differences of means, with a tolerance for ties.
    total_sum = float(s.sum())
    tol = 1e-10 * max(1.0, float(np.abs(s).sum()))
    observed = diff
    count = 0
    seen = 0
    rng = np.random.default_rng(random_state)
    n_total = math.comb(nx + ny, nx)
    exact = n_total <= n_permutations
    for sums in _partition_sums(s, nx, n_permutations, rng):
        diffs = sums / nx - (total_sum - sums) / ny
        if alternative == "greater":
            count += int(np.count_nonzero(diffs >= observed - tol))
        elif alternative == "less":
            count += int(np.count_nonzero(diffs <= observed + tol))
        else:
            count += int(np.count_nonzero(np.abs(diffs) >= abs(observed) - tol))
        seen += len(sums)
    p_value = count / seen if exact else (1 + count) / (1 + seen)
    return WEATResult(
        effect_size=float(effect),
        statistic=statistic,
        p_value=float(p_value),
        n_permutations=int(seen),
        exact=exact,
        alternative=alternative,
    )


def _lookup(
    source: Callable[[list[str]], Any] | Mapping[str, Any] | Any,
    words: list[str],
    on_missing: str,
) -> tuple[np.ndarray | None, list[str]]:
    """Vectors of ``words`` from a callable or a KeyedVectors-like mapping, and the missing."""
    if callable(source) and not hasattr(source, "__getitem__"):
        vectors = np.asarray(source(words), dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            msg = (
                f"The encoder returned an array of shape {vectors.shape} for {len(words)} words; "
                "it must return one vector per word, shape (n_words, d)."
            )
            raise InputError(msg)
        return vectors, []
    if not hasattr(source, "__getitem__"):
        msg = (
            "encoder_or_vectors must be a callable (words -> array (n, d), e.g. "
            "diffembed.embed.encode) or a word -> vector mapping (dict, gensim KeyedVectors); "
            f"got {type(source).__name__}."
        )
        raise InputError(msg)
    found, missing = [], []
    for word in words:
        try:
            present = word in source
        except TypeError:
            present = True
        if not present:
            missing.append(word)
            continue
        try:
            found.append(np.asarray(source[word], dtype=np.float64))
        except KeyError:
            missing.append(word)
    if missing and on_missing == "raise":
        shown = ", ".join(repr(w) for w in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        msg = (
            f"{len(missing)} words are not in the vocabulary: {shown}{more}. Remove them or "
            "pass on_missing='drop'."
        )
        raise InputError(msg)
    return (np.vstack(found) if found else None), missing


def weat_words(
    encoder_or_vectors: Callable[[list[str]], Any] | Mapping[str, Any] | Any,
    targets_x: Sequence[str],
    targets_y: Sequence[str],
    attributes_a: Sequence[str],
    attributes_b: Sequence[str],
    *,
    on_missing: Literal["raise", "drop"] = "raise",
    **kwargs: Any,
) -> WEATResult:
    """WEAT on words, through an encoder or a word → vector mapping.

    Parameters
    ----------
    encoder_or_vectors
        A callable taking a list of words and returning an array of shape (n_words, d)
        (e.g. :func:`diffembed.embed.encode`; it is called once with every word), or a
        mapping from word to vector (a dict, gensim ``KeyedVectors``, diffembed
        ``KeyedVectors``).
    targets_x, targets_y, attributes_a, attributes_b
        The four word sets.
    on_missing
        For a mapping: ``"raise"`` (default) on words without a vector, or ``"drop"`` them
        with a warning.
    **kwargs
        Passed to :func:`weat` (``n_permutations``, ``alternative``, ``ddof``,
        ``random_state``).

    Returns
    -------
    WEATResult
    """
    if on_missing not in ("raise", "drop"):
        msg = f"on_missing={on_missing!r} is not supported; choose 'raise' or 'drop'."
        raise InputError(msg)
    sets = {}
    for name, words in (
        ("targets_x", targets_x),
        ("targets_y", targets_y),
        ("attributes_a", attributes_a),
        ("attributes_b", attributes_b),
    ):
        sets[name] = check_strings(
            words, name, item="word", empty_hint="every WEAT set needs at least one word"
        )
    vocabulary = list(dict.fromkeys(w for items in sets.values() for w in items))
    vectors, missing = _lookup(encoder_or_vectors, vocabulary, on_missing)
    if missing:
        warnings.warn(
            f"Dropped {len(missing)} words without a vector: {', '.join(missing[:10])}.",
            UserWarning,
            stacklevel=2,
        )
    dropped = set(missing)
    row = {w: i for i, w in enumerate(w for w in vocabulary if w not in dropped)}
    arrays = []
    for name, items in sets.items():
        rows = [row[w] for w in items if w in row]
        if vectors is None or not rows:
            msg = f"{name} has no word with a vector; nothing is left to test."
            raise InputError(msg)
        arrays.append(vectors[rows])
    return weat(*arrays, **kwargs)
