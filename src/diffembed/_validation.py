"""Input and parameter checks shared by the estimators.

Each check raises :class:`~diffembed.exceptions.InputError` with a message that names the
parameter, the value received, the allowed range and what to do about it.
"""

from __future__ import annotations

import reprlib
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp

from .exceptions import InputError

__all__ = [
    "check_data_matrix",
    "check_in",
    "check_int",
    "check_real",
    "check_strings",
]


def check_data_matrix(X: Any, *, name: str = "X", min_samples: int = 2) -> np.ndarray:
    """Return ``X`` as a finite 2-D float64 array, or raise a clear :class:`InputError`.

    Parameters
    ----------
    X
        Array-like of shape (n_samples, n_features).
    name
        How the data is called in error messages.
    min_samples
        Fewest rows accepted.
    """
    if sp.issparse(X):
        X = X.toarray()
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        msg = f"{name} could not be read as a numeric array: {exc}"
        raise InputError(msg) from exc
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except TypeError as exc:
            msg = f"{name} must be numeric: {exc}"
            raise TypeError(msg) from exc
        except ValueError as exc:
            msg = (
                f"{name} must be numeric, but it holds values that are not numbers ({exc}). "
                "Convert text or categorical columns to numbers (or drop them) before fitting."
            )
            raise InputError(msg) from exc
    if not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        msg = (
            f"{name} must be numeric, got dtype {arr.dtype}. Convert text or categorical "
            "columns to numbers (or drop them) before fitting."
        )
        raise InputError(msg)
    if np.issubdtype(arr.dtype, np.complexfloating):
        msg = f"Complex data not supported: {name} must be real-valued, got dtype {arr.dtype}."
        raise InputError(msg)
    if arr.ndim == 1:
        msg = (
            f"{name} must be 2-D (n_samples, n_features), got a 1-D array of shape {arr.shape}. "
            "Reshape your data: X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for "
            "a single sample."
        )
        raise InputError(msg)
    if arr.ndim != 2:
        msg = f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}."
        raise InputError(msg)
    n, d = arr.shape
    if n < min_samples:
        msg = (
            f"{name} has {n} sample(s); at least {min_samples} are needed "
            f"(a diffusion map relates samples to each other)."
        )
        raise InputError(msg)
    if d == 0:
        msg = (
            f"{name} has 0 feature(s) (shape=({n}, 0)) while a minimum of 1 is required: it "
            "needs at least one numeric column."
        )
        raise InputError(msg)
    arr = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad_rows = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        shown = ", ".join(str(i) for i in bad_rows[:5])
        more = f" and {bad_rows.size - 5} more" if bad_rows.size > 5 else ""
        msg = (
            f"{name} contains NaN or infinite values in {bad_rows.size} row(s) "
            f"(rows {shown}{more}). Drop or impute those rows first."
        )
        raise InputError(msg)
    return arr


def check_int(value: Any, name: str, *, low: int, high: int | None = None, fix: str = "") -> int:
    """Check that ``value`` is an integer in ``[low, high]`` and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        msg = f"{name} must be an integer, got {value!r} of type {type(value).__name__}."
        raise InputError(msg)
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"between {low} and {high}"
        msg = f"{name}={value} is out of range: it must be {allowed}.{' ' + fix if fix else ''}"
        raise InputError(msg)
    return int(value)


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
) -> float:
    """Check that ``value`` is a finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        msg = f"{name} must be a finite real number, got {value!r}."
        raise InputError(msg)
    value = float(value)
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and value > high
    if too_low or too_high:
        lo = "" if low is None else f"{'>=' if low_inclusive else '>'} {low}"
        hi = "" if high is None else f"<= {high}"
        allowed = " and ".join(part for part in (lo, hi) if part)
        msg = f"{name}={value} is out of range: it must be {allowed}."
        raise InputError(msg)
    return value


def check_in(value: Any, name: str, allowed: tuple[Any, ...]) -> Any:
    """Check that ``value`` is one of ``allowed``."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        msg = f"{name}={value!r} is not supported; choose one of {options}."
        raise InputError(msg)
    return value


def check_strings(values: Any, name: str, *, item: str, empty_hint: str) -> list[str]:
    """A non-empty list of str, or an :class:`InputError` that says what is wrong.

    Parameters
    ----------
    values
        The argument to check (a sequence of strings, not one string).
    name
        Its parameter name, e.g. ``"prompts"``.
    item
        What one entry is called in the messages, e.g. ``"prompt"``.
    empty_hint
        The end of the message for an empty sequence, e.g. ``"give at least one prompt"``.

    Returns
    -------
    list of str
    """
    if isinstance(values, str):
        msg = (
            f"{name} must be a list of strings, not one string: wrap it, "
            f"[{reprlib.repr(values)}]."
        )
        raise InputError(msg)
    items = list(values)
    if not items:
        msg = f"{name} is empty; {empty_hint}."
        raise InputError(msg)
    for i, value in enumerate(items):
        if not isinstance(value, str):
            msg = (
                f"Every {item} of {name} must be a str; {item} {i} is a "
                f"{type(value).__name__} ({reprlib.repr(value)})."
            )
            raise InputError(msg)
    return items
