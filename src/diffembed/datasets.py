"""Built-in example data, generated or bundled with scikit-learn: nothing is downloaded.

>>> from diffembed.datasets import load_dataset
>>> X, labels, label_name, description = load_dataset("swiss-roll", n_samples=500)
>>> X.shape, label_name
((500, 3), 't')
"""

from __future__ import annotations

import numpy as np

from ._validation import check_int
from .exceptions import InputError

__all__ = ["DATASETS", "debian_corpus", "load_dataset", "wordnet_graph"]

#: Name → one-line description of every built-in dataset.
DATASETS: dict[str, str] = {
    "swiss-roll": (
        "3-D Swiss roll (scikit-learn make_swiss_roll), 5000 points by default; "
        "label t = position along the roll"
    ),
    "s-curve": (
        "3-D S-shaped surface (scikit-learn make_s_curve), 5000 points by default; "
        "label t = position along the curve"
    ),
    "digits": (
        "8x8 images of handwritten digits, 64 features (scikit-learn load_digits, bundled, "
        "1797 images); label digit = 0-9"
    ),
}

_DEFAULT_SIZE = {"swiss-roll": 5000, "s-curve": 5000}
_DIGITS_SIZE = 1797


def load_dataset(
    name: str,
    *,
    n_samples: int | None = None,
    random_state: int | None = 0,
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Load a built-in dataset.

    Parameters
    ----------
    name
        One of :data:`DATASETS`: ``"swiss-roll"``, ``"s-curve"`` or ``"digits"``.
    n_samples
        Number of points. Default: 5000 for the generated surfaces, all 1797 digits. For
        ``"digits"`` a smaller value draws a seeded random subset (kept in file order).
    random_state
        Seed of the generator or of the subset.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    labels : ndarray of shape (n_samples,)
        Ground truth to colour by: the manifold parameter ``t`` (float) or the digit (int).
    label_name : str
        ``"t"`` or ``"digit"``.
    description : str
        One line describing the data.

    Examples
    --------
    >>> X, digit, name, _ = load_dataset("digits", n_samples=100)
    >>> X.shape, name, digit.dtype.kind
    ((100, 64), 'digit', 'i')
    """
    if name not in DATASETS:
        msg = f"Unknown dataset {name!r}. Choose one of: {', '.join(DATASETS)}."
        raise InputError(msg)
    if n_samples is not None:
        high = _DIGITS_SIZE if name == "digits" else None
        fix = f"The digits dataset has {_DIGITS_SIZE} images." if name == "digits" else ""
        n_samples = check_int(n_samples, "n_samples", low=2, high=high, fix=fix)
    if name == "swiss-roll":
        from sklearn.datasets import make_swiss_roll

        X, t = make_swiss_roll(n_samples or _DEFAULT_SIZE[name], random_state=random_state)
        return np.asarray(X, dtype=np.float64), np.asarray(t), "t", DATASETS[name]
    if name == "s-curve":
        from sklearn.datasets import make_s_curve

        X, t = make_s_curve(n_samples or _DEFAULT_SIZE[name], random_state=random_state)
        return np.asarray(X, dtype=np.float64), np.asarray(t), "t", DATASETS[name]
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X, digit = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)
    if n_samples is not None and n_samples < X.shape[0]:
        rng = np.random.default_rng(random_state)
        keep = np.sort(rng.choice(X.shape[0], size=n_samples, replace=False))
        X, digit = X[keep], digit[keep]
    return X, digit, "digit", DATASETS[name]


def feature_names(name: str, n_features: int) -> list[str]:
    """Column names of a built-in dataset's features (``x, y, z`` or ``pixel_r_c``)."""
    if name == "digits":
        return [f"pixel_{j // 8}_{j % 8}" for j in range(n_features)]
    return ["x", "y", "z"][:n_features]


def debian_corpus(**kwargs):  # type: ignore[no-untyped-def]
    """The offline English corpus (Debian dict-gcide, wordnet-base, …), streamed by segment.

    Fetched once by ``make data`` (``scripts/fetch_data.sh``); the error says how when it is
    missing. See :func:`diffembed.embed.data.debian_corpus` for the parameters.
    """
    from .embed.data import debian_corpus as _debian_corpus

    return _debian_corpus(**kwargs)


def wordnet_graph(pos: str = "n", **kwargs):  # type: ignore[no-untyped-def]
    """The WordNet 3.0 synset graph: (adjacency, lexicographer-file labels, synset names).

    See :func:`diffembed.embed.data.wordnet_graph`.
    """
    from .embed.data import wordnet_graph as _wordnet_graph

    return _wordnet_graph(pos, **kwargs)
