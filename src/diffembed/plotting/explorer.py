"""Data of the report's embedding explorer, and the explorer's script and style.

The explorer is one ``<script type="application/json" id="de-explorer">`` block read by
``_static/explorer.js``. Everything in it is data: numbers travel as base64 typed arrays
(``{"dtype", "bdata"}``, decoded into ``Float32Array``/``Int32Array``...), text as JSON strings
that the page puts into the DOM with ``textContent`` only, and the whole block goes through
:func:`~diffembed.plotting.encoding.safe_json`, so no ``</script>`` can end it early.

The page's table of rows holds the drawn points first (``n`` of them, with coordinates) and then
the rows that only appear as someone's neighbour (not drawn: a sample, or not embedded), so that
a neighbour list can always name every neighbour.

Size policy: coordinates are ``float32``, neighbour indices ``int32``, category codes the
smallest integer type that holds them; neighbour distances are shipped while the drawn points
times ``k`` stay at most :data:`MAX_DISTANCE_ENTRIES` (about 200,000 points at k = 10). Above
:data:`MAX_FLOAT32_POINTS` drawn points the coordinates are stored as 16-bit fractions of their
range (``{"dtype": "u2", "bdata", "lo", "step"}``: 1/65,535 of the range, far below a pixel),
which halves their share of a million-point page; the page says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from .encoding import typed_array
from .interactive import CATEGORY_COLORS, MAX_CATEGORIES, OTHER_COLOR, value_texts

__all__ = [
    "MAX_DISTANCE_ENTRIES",
    "MAX_FLOAT32_POINTS",
    "MAX_HOVER_FIELDS",
    "encode_column",
    "explorer_data",
    "explorer_rows",
    "quantized",
    "static_text",
]

#: Neighbour distances go into the page while ``n_drawn * k`` is at most this.
MAX_DISTANCE_ENTRIES = 2_000_000
#: Above this many drawn points the coordinates are stored at 16-bit precision.
MAX_FLOAT32_POINTS = 200_000
#: Metadata fields in a hover label, besides the id.
MAX_HOVER_FIELDS = 2
_MISSING = "—"


@cache
def static_text(name: str) -> str:
    """Text of a file in ``diffembed/plotting/_static`` (the explorer's JS and CSS).

    Parameters
    ----------
    name
        File name, e.g. ``"explorer.js"``.

    Returns
    -------
    str
    """
    return (resources.files(__package__) / "_static" / name).read_text(encoding="utf-8")


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
        ``{"name", "kind": "number", "values", "min", "max"}``.
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


def _encode_ids(ids: np.ndarray) -> dict[str, str] | list[str]:
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu" and ids.size and ids.min() >= -(2**31) and ids.max() < 2**31:
        return typed_array(ids, "i4")
    if ids.dtype.kind in "iu" and ids.size and np.abs(ids).max() < 2**53:
        return typed_array(ids, "f8")
    return value_texts(ids)


def explorer_rows(
    drawn: np.ndarray, neighbors: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The page's rows (drawn ones, then neighbours not drawn) and neighbours as page rows.

    Parameters
    ----------
    drawn
        Row numbers (into the saved table) of the drawn points, in drawing order.
    neighbors
        ``(n_total, k)`` neighbour row numbers of every saved row (-1: none), or ``None``.

    Returns
    -------
    rows : numpy.ndarray
        Saved-table row of each page row: ``drawn`` followed by the extra rows, increasing.
    local : numpy.ndarray or None
        ``(len(drawn), k)`` int32 neighbours of the drawn points as page rows (-1: none).
    """
    drawn = np.asarray(drawn, dtype=np.int64)
    if neighbors is None:
        return drawn, None
    nb = np.asarray(neighbors, dtype=np.int64)[drawn]
    size = int(max(drawn.max(initial=-1), nb.max(initial=-1))) + 1
    extra = np.zeros(size, dtype=bool)
    extra[nb[nb >= 0]] = True
    extra[drawn] = False
    rows = np.concatenate([drawn, np.flatnonzero(extra)])
    where = np.full(size, -1, dtype=np.int64)
    where[rows] = np.arange(rows.size)
    local = np.where(nb >= 0, where[np.maximum(nb, 0)], -1).astype(np.int32)
    return rows, local


def explorer_data(
    cols: Mapping[str, np.ndarray],
    rows: np.ndarray,
    n_drawn: int,
    coords: np.ndarray,
    coord_names: Sequence[str],
    *,
    metadata: Sequence[str],
    label: str | None = None,
    color_by: str | None = None,
    eigenvalues: Sequence[float] | None = None,
    t: float | None = None,
    neighbors: np.ndarray | None = None,
    distances: np.ndarray | None = None,
    neighbor_info: Mapping[str, Any] | None = None,
    categorical: Sequence[str] = ("cluster",),
) -> dict[str, Any]:
    """The explorer's data block (a JSON-ready dict).

    Parameters
    ----------
    cols
        Every column of the saved embedding (``id``, metadata...), full length.
    rows
        Saved-table row of each page row (:func:`explorer_rows`); the first ``n_drawn`` are
        drawn.
    n_drawn
        Number of drawn points.
    coords
        ``(n_drawn, K)`` diffusion coordinates of the drawn points at time ``t``.
    coord_names
        Names of the K coordinates (``dc1``..``dcK``).
    metadata
        Metadata columns offered for colour, hover, search and the tables, in this order.
    label
        Column searched and shown first by default (``None``: the id).
    color_by
        Initial colouring: a metadata column or a coordinate name.
    eigenvalues
        Eigenvalue of each coordinate, for switching the diffusion time; ``None`` disables it.
    t
        Diffusion time of ``coords``; ``None`` disables switching.
    neighbors, distances
        ``(n_drawn, K)`` neighbours as page rows (-1: none) and their distances, or ``None``.
    neighbor_info
        How the neighbours were found (``k``, ``metric``, ``space``...), shown in the panel.
    categorical
        Numeric columns always treated as categories.

    Returns
    -------
    dict
    """
    rows = np.asarray(rows, dtype=np.int64)
    coords = np.asarray(coords, dtype=np.float64)
    ids = cols["id"][rows] if "id" in cols else rows
    columns = [
        encode_column(
            name, cols[name][rows], n_drawn=n_drawn, force_categorical=name in categorical
        )
        for name in metadata
    ]
    lam = None
    if eigenvalues is not None and t is not None and len(eigenvalues) == coords.shape[1]:
        lam = [float(v) if math.isfinite(v) else None for v in eigenvalues]
    hover = [name for name in ([label] if label else []) if name in metadata]
    hover += [name for name in metadata if name not in hover]
    compact = n_drawn > MAX_FLOAT32_POINTS
    encode = quantized if compact else (lambda v: typed_array(v, "f4"))
    data: dict[str, Any] = {
        "n": int(n_drawn),
        "rows": int(rows.size),
        "ids": _encode_ids(ids),
        "coords": [encode(coords[:, j]) for j in range(coords.shape[1])],
        "compact": compact,
        "coordNames": list(coord_names),
        "lambdas": lam,
        "t0": float(t) if t is not None and lam is not None else None,
        "columns": columns,
        "label": label if label in metadata else None,
        "colorBy": color_by,
        "hover": hover[:MAX_HOVER_FIELDS],
        "neighbors": None,
    }
    if neighbors is not None:
        nb = np.asarray(neighbors, dtype=np.int32)
        k = int(nb.shape[1]) if nb.ndim == 2 else 0
        info = dict(neighbor_info) if isinstance(neighbor_info, Mapping) else {}
        data["neighbors"] = {
            "k": k,
            "idx": typed_array(nb, "i4"),
            "dist": (
                typed_array(distances, "f4")
                if distances is not None and n_drawn * k <= MAX_DISTANCE_ENTRIES
                else None
            ),
            "metric": str(info.get("metric") or "euclidean"),
            "space": str(info.get("space") or "input"),
        }
    return data
