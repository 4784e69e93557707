"""Column encoding of the explorer's data block: categories, numbers, ids, 16-bit coordinates.

Text, booleans and integers with few values become a dictionary (sorted display texts) and
codes in the smallest integer typed array that holds them, with a legend of at most
``MAX_CATEGORIES`` categories (the rarest merged into ``"(other)"``); other numbers travel as
``float32`` (or ``int32`` when they are exact integers) with their range. Part of
:mod:`diffembed.plotting.explorer`, which re-exports the public names.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .encoding import typed_array
from .interactive import CATEGORY_COLORS, MAX_CATEGORIES, OTHER_COLOR, value_texts

__all__ = ["encode_column", "encode_ids", "log_scale", "quantized"]


def _code_dtype(n_codes: int) -> str:
    """Smallest signed typed-array type for codes ``-1 .. n_codes - 1``."""
    return "i1" if n_codes < 2**7 else "i2" if n_codes < 2**15 else "i4"


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _factorize(values: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Sorted display texts of the distinct values, int32 codes (-1 missing), counts."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        vals = values.astype(np.float64)
        present = ~np.isnan(vals)
        uniq, inverse = np.unique(vals[present], return_inverse=True)
        codes = np.full(vals.size, -1, dtype=np.int32)
        codes[present] = inverse
        keys: list[Any] = uniq.tolist()
        texts = value_texts(uniq.astype(values.dtype) if values.dtype.kind == "b" else uniq)
    else:
        lookup: dict[str, int] = {}
        raw = value_texts(values)
        codes = np.empty(values.size, dtype=np.int32)
        for i, (v, text) in enumerate(zip(values.tolist(), raw, strict=True)):
            codes[i] = -1 if _is_missing(v) else lookup.setdefault(text, len(lookup))
        texts = list(lookup)
        order = sorted(range(len(texts)), key=lambda j: texts[j])
        rank = np.empty(len(texts), dtype=np.int32)
        rank[order] = np.arange(len(texts), dtype=np.int32)
        texts = [texts[j] for j in order]
        codes = np.where(codes >= 0, rank[np.maximum(codes, 0)] if texts else codes, -1)
        keys = texts
    counts = np.bincount(codes[codes >= 0], minlength=len(keys))
    return texts, codes.astype(np.int32), counts


def log_scale(values: np.ndarray) -> bool:
    """Whether numbers are coloured on a log scale: positive, heavy-tailed ones.

    True when every value is positive, the largest is at least 20 times the smallest and the
    median lies in the lowest tenth of the range, so that a linear scale would give most points
    one colour (word counts, frequencies, node degrees).
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2 or v.min() <= 0:
        return False
    lo, hi = float(v.min()), float(v.max())
    return hi >= 20 * lo and (float(np.median(v)) - lo) < 0.1 * (hi - lo)


def encode_column(
    name: str, values: np.ndarray, *, n_drawn: int, force_categorical: bool = False
) -> dict[str, Any]:
    """One metadata column for the explorer: categories (a legend) or numbers (a colour bar).

    Parameters
    ----------
    name
        Column name (raw text: the page writes it with ``textContent``).
    values
        The column at the page's rows (drawn rows first).
    n_drawn
        How many leading rows are drawn; category counts are over those.
    force_categorical
        Categories however many integer values there are (``cluster``).

    Returns
    -------
    dict
        ``{"name", "kind": "text", "dict", "codes", "cats", "catOf", "colors"}`` for text,
        booleans and integers with at most ``MAX_CATEGORIES`` values (the rarest merged into
        ``"(other)"``, a ``"(missing)"`` category when values are missing); else
        ``{"name", "kind": "number", "values", "min", "max", "log"}``, where ``log`` says
        the page colours on a log scale (:func:`log_scale`: counts, frequencies, degrees).
    """
    values = np.asarray(values)
    if values.dtype.kind in "iuf" and not force_categorical:
        vals = values.astype(np.float64)
        finite = vals[np.isfinite(vals)]
        uniq = np.unique(finite)
        few = uniq.size <= MAX_CATEGORIES and bool(np.all(uniq == np.round(uniq)))
        if not few:
            exact_int = finite.size == 0 or (
                bool(np.all(finite == np.round(finite))) and np.abs(finite).max() < 2**31
            )
            dtype = "i4" if values.dtype.kind in "iu" and exact_int else "f4"
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            return {
                "name": name,
                "kind": "number",
                "values": typed_array(vals, dtype),
                "min": lo,
                "max": hi,
                "log": log_scale(finite),
            }
    texts, codes, _ = _factorize(values)
    drawn = codes[:n_drawn]
    counts = np.bincount(drawn[drawn >= 0], minlength=len(texts))
    cat_of = np.arange(len(texts), dtype=np.int32)
    cats = list(texts)
    if len(texts) > MAX_CATEGORIES:
        top = np.sort(np.argsort(-counts, kind="stable")[: MAX_CATEGORIES - 1])
        cat_of = np.full(len(texts), top.size, dtype=np.int32)
        cat_of[top] = np.arange(top.size, dtype=np.int32)
        cats = [texts[j] for j in top] + ["(other)"]
    colors = [CATEGORY_COLORS[i % len(CATEGORY_COLORS)] for i in range(len(cats))]
    if len(texts) > MAX_CATEGORIES:
        colors[-1] = OTHER_COLOR
    missing = bool(np.any(codes < 0))
    if missing:
        cats.append("(missing)")
        colors.append(OTHER_COLOR)
    return {
        "name": name,
        "kind": "text",
        "dict": texts,
        "codes": typed_array(codes, _code_dtype(len(texts))),
        "cats": cats,
        "catOf": typed_array(cat_of, _code_dtype(len(cats))),
        "colors": colors,
        "missing": missing,
    }


def quantized(values: np.ndarray) -> dict[str, Any]:
    """Finite values as 16-bit fractions of their range: ``lo + step * code``.

    Parameters
    ----------
    values
        1-D finite numbers.

    Returns
    -------
    dict
        ``{"dtype": "u2", "bdata", "lo", "step"}``; the error is at most ``step / 2``.
    """
    values = np.asarray(values, dtype=np.float64)
    lo = float(values.min()) if values.size else 0.0
    hi = float(values.max()) if values.size else 0.0
    step = (hi - lo) / 65535 if hi > lo else 1.0
    codes = np.rint((values - lo) / step).astype(np.uint16)
    return {**typed_array(codes, "u2"), "lo": lo, "step": step}



def encode_ids(ids: np.ndarray) -> dict[str, str] | list[str]:
    """Ids as ``int32`` / ``float64`` typed arrays when they are integers, else texts."""
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu" and ids.size and ids.min() >= -(2**31) and ids.max() < 2**31:
        return typed_array(ids, "i4")
    if ids.dtype.kind in "iu" and ids.size and np.abs(ids).max() < 2**53:
        return typed_array(ids, "f8")
    return value_texts(ids)
