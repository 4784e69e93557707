"""The embedding explorer of every diffembed report: its data, markup, script and style.

Using it in a report
--------------------
One call gives the whole explorer (search, hover, neighbours, box/lasso selection to a table
and a CSV, colour by any column, legend toggles) as a piece of HTML plus the scripts the page
must carry::

    from diffembed.plotting.explorer import explorer_section, static_text
    from diffembed.plotting.page import scripts_and_csp

    sec = explorer_section(
        coords,                      # (n, K) floats: the first two are drawn, K >= 1
        labels,                      # n texts: searched and shown first (or None)
        colour_by="kind",            # a metadata column, the label name or a coordinate
        metadata={"kind": kinds},    # more columns to colour, search, list and download
        neighbours=10,               # k computed here (exact or faiss), or an (n, k) array
        neighbour_space=X,           # where to look for them (default: coords)
        metric="cosine", space="input",
    )
    tags, csp = scripts_and_csp([*my_scripts, *sec.scripts])   # duplicates dropped
    page = f'''<!DOCTYPE html><html><head><meta charset="utf-8">
    <meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">
    <style>{static_text("report.css")}{sec.css}</style></head>
    <body><main class="wrap">{sec.html}</main>{tags}</body></html>'''

``sec.html`` holds the section and its JSON data block (and its notices: sample drawn, rows
not drawn...), ``sec.scripts`` plotly.js and ``explorer.js`` (to run after the section: put
the tags at the end of the body, once per page however many explorers), ``sec.css`` the
explorer's style (on top of ``report.css``). Several explorers on one page need distinct
``prefix`` values (``"ex-"``, ``"ex2-"``...); in the browser the first one answers
``window.diffembedExplorer`` and each ``window.diffembedExplorers[prefix]``. User strings are
never markup: titles are escaped, data go into the page as JSON and into the DOM by
``textContent``.

The data block
--------------

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

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from ..exceptions import InputError
from .encoding import safe_json, typed_array
from .interactive import (
    CATEGORY_COLORS,
    MAX_CATEGORIES,
    OTHER_COLOR,
    make_coloring,
    sample_indices,
    value_texts,
)

__all__ = [
    "DEFAULT_NEIGHBOURS",
    "MAX_DISTANCE_ENTRIES",
    "MAX_EXACT_WORK",
    "MAX_EXPLORER_POINTS",
    "MAX_FLOAT32_POINTS",
    "MAX_HOVER_FIELDS",
    "ExplorerSection",
    "check_neighbors",
    "encode_column",
    "explorer_data",
    "explorer_rows",
    "explorer_section",
    "nearest_neighbours",
    "quantized",
    "section_html",
    "static_text",
]

#: Neighbour distances go into the page while ``n_drawn * k`` is at most this.
MAX_DISTANCE_ENTRIES = 2_000_000
#: Above this many drawn points the coordinates are stored at 16-bit precision.
MAX_FLOAT32_POINTS = 200_000
#: Metadata fields in a hover label, besides the id.
MAX_HOVER_FIELDS = 2
#: Exact neighbour search while rows² × dimensions stays below this (about 3 s on one core).
MAX_EXACT_WORK = 3e10
#: Neighbours per point that :func:`explorer_section` computes by default.
DEFAULT_NEIGHBOURS = 10
#: Above this many points :func:`explorer_section` draws a stated, seeded, stratified sample.
MAX_EXPLORER_POINTS = 1_000_000
_MISSING = "—"
_PREFIX = re.compile(r"^[a-z][a-z0-9]*-$")
_INTRO = (
    "Hover for details, click a point for its nearest neighbours, search the labels, select "
    "with the box or lasso to list and download rows."
)


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
    time_control: bool = True,
    no_neighbors: str | None = None,
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
    time_control
        Show the diffusion-time slider (disabled without ``eigenvalues`` and ``t``); ``False``
        hides it, for embeddings that have no diffusion time.
    no_neighbors
        Sentence shown on a clicked point when there are no neighbours (default: how
        ``diffembed map`` saves them).

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
        "timeControl": bool(time_control),
    }
    if no_neighbors:
        data["noNeighbors"] = str(no_neighbors)
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


# ------------------------------------------------------------------------------ neighbours
def check_neighbors(
    neighbors: np.ndarray | None, distances: np.ndarray | None, n_total: int, notices: list[str]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Neighbour arrays that fit ``n_total`` rows, or ``(None, None)`` with a notice.

    Parameters
    ----------
    neighbors
        ``(n_total, k)`` integer row numbers (-1: none), or ``None``.
    distances
        Same shape, or ``None`` (dropped silently when the shape differs).
    n_total
        Rows of the table the neighbours refer to.
    notices
        Receives the sentence saying why the neighbours are not shown.

    Returns
    -------
    neighbors, distances : numpy.ndarray or None
    """
    if neighbors is None:
        return None, None
    nb = np.asarray(neighbors)
    if nb.ndim != 2 or nb.shape[0] != n_total or nb.dtype.kind not in "iu" or nb.shape[1] < 1:
        notices.append(
            f"The saved neighbours (shape {nb.shape}) do not match the {n_total:,} rows of the "
            "embedding and are not shown; rerun `diffembed map` to save them again."
        )
        return None, None
    if nb.size and (nb.max() >= n_total or nb.min() < -1):
        notices.append("The saved neighbours name rows that do not exist and are not shown.")
        return None, None
    if distances is not None and np.shape(distances) != nb.shape:
        distances = None
    return nb, distances


def nearest_neighbours(
    X: np.ndarray,
    k: int,
    *,
    metric: str = "euclidean",
    rows: np.ndarray | None = None,
    queries: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """The ``k`` nearest other rows of rows of ``X`` (``rows``: only among these).

    Exact search while it is cheap (searched rows² × dimensions at most
    :data:`MAX_EXACT_WORK`, a few seconds; or ≤ 10 dimensions, where a k-d tree is fast),
    otherwise a faiss HNSW index when faiss is installed (Euclidean or cosine); self excluded,
    nearest first.

    Parameters
    ----------
    X
        ``(n, d)`` finite vectors.
    k
        Neighbours per row (capped at the searched rows - 1).
    metric
        ``"euclidean"``, ``"cosine"`` or any scikit-learn metric (searched exactly).
    rows
        Row numbers searched (and answered); the others get ``-1``. Default: every row.
    queries
        Row numbers (among ``rows``) answered, when fewer than ``rows``: a drawn sample.

    Returns
    -------
    indices : numpy.ndarray
        ``(n, k)`` int32 row numbers of ``X`` (-1: none).
    distances : numpy.ndarray
        ``(n, k)`` float32 distances (NaN: none).
    method : str
        ``"exact"`` or ``"approximate"``.
    """
    from ..neighbors import AUTO_EXACT_MAX_DIMENSIONS, build_index, resolve_knn_method

    X = np.asarray(X, dtype=np.float32 if metric in ("euclidean", "cosine") else np.float64)
    n = X.shape[0]
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    k = int(min(k, rows.size - 1))
    ind = np.full((n, max(k, 0)), -1, dtype=np.int32)
    dist = np.full((n, max(k, 0)), np.nan, dtype=np.float32)
    if k < 1:
        return ind, dist, "exact"
    sub = X[rows]
    cheap = sub.shape[1] <= AUTO_EXACT_MAX_DIMENSIONS
    cheap = cheap or float(sub.shape[0]) ** 2 * sub.shape[1] <= MAX_EXACT_WORK
    wanted = "exact" if cheap or metric not in ("euclidean", "cosine") else "auto"
    method = resolve_knn_method(wanted, 1 << 30, sub.shape[1], metric, False)
    index = build_index(sub, method=method, metric=metric)
    if queries is None:
        d, i = index.self_neighbors(k)
        answered = rows
    else:  # only these rows: search k + 1 and drop each query itself
        answered = np.asarray(queries, dtype=np.int64)
        where = np.full(n, -1, dtype=np.int64)
        where[rows] = np.arange(rows.size)
        d, i = index.query(X[answered], k + 1)
        d, i = np.asarray(d), np.asarray(i)
        own = i == where[answered][:, None]
        drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
        keep = np.ones(i.shape, dtype=bool)
        keep[np.arange(i.shape[0]), drop] = False
        d, i = d[keep].reshape(-1, k), i[keep].reshape(-1, k)
    i = np.asarray(i)
    ind[answered] = np.where(i >= 0, rows[np.maximum(i, 0)], -1)
    dist[answered] = np.where(i >= 0, d, np.nan)
    return ind, dist, method


# ------------------------------------------------------------------------------ the section
@dataclass(frozen=True)
class ExplorerSection:
    """An explorer ready to put into a page (see the module docstring).

    Parameters
    ----------
    html
        The ``<section>`` (notices, controls, plot, panels) and its JSON data block.
    scripts
        plotly.js and ``explorer.js``: include each once per page, after the section.
    css
        The explorer's style (needs ``report.css``'s variables and ``.card``).
    notices
        The sentences also shown in the section (sample drawn, rows not drawn...).
    rows
        Input row of each drawn point, in drawing order.
    data
        The data block as a dict (for tests).
    """

    html: str
    scripts: tuple[str, ...]
    css: str
    notices: tuple[str, ...] = ()
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    data: Mapping[str, Any] = field(default_factory=dict, repr=False)


def section_html(
    data_json: str | None,
    *,
    prefix: str = "ex-",
    title: str = "Embedding explorer",
    intro: str | None = None,
    notices: Sequence[str] = (),
) -> str:
    """The explorer's markup and data block.

    Parameters
    ----------
    data_json
        The data block as JSON made safe by :func:`~.encoding.safe_json`; ``None``: a card
        saying there is nothing to draw.
    prefix
        Prefix of the element ids, ``[a-z][a-z0-9]*-``; distinct per explorer of a page. The
        first (``"ex-"``) has the ids ``explorer`` and ``de-explorer``.
    title, intro
        Heading and the sentence under it (raw text: escaped here).
    notices
        Sentences shown at the top of the section (raw text: escaped here).

    Returns
    -------
    str
    """
    if not _PREFIX.match(prefix):
        msg = f"prefix={prefix!r} is not valid: use lowercase letters and digits then '-' (ex-)."
        raise InputError(msg)
    notes = "".join(f'<div class="notice" role="note">{html.escape(str(t))}</div>' for t in notices)
    if data_json is None:
        return (
            f'<section class="card explorer"><h2>{html.escape(title)}</h2>{notes}'
            '<p class="empty">No embedded points to draw.</p></section>'
        )
    root = "explorer" if prefix == "ex-" else f"{prefix}root"
    block = "de-explorer" if prefix == "ex-" else f"de-explorer-{prefix[:-1]}"
    markup = static_text("explorer.html").format(
        root=root,
        p=prefix,
        block=block,
        title=html.escape(title),
        intro=html.escape(intro or _INTRO),
    )
    if notes:
        markup = markup.replace('<div class="ex-controls">', notes + '<div class="ex-controls">', 1)
    data = f'<script type="application/json" id="{block}">{data_json}</script>'
    return f"{markup}\n{data}"


def _column(name: str, values: Any, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        msg = f"The column {name!r} has shape {arr.shape}, not ({n},): one value per point."
        raise InputError(msg)
    if arr.dtype.kind not in "biufU":
        arr = np.asarray(value_texts(arr), dtype=object)
    return arr


def explorer_section(
    coords: np.ndarray,
    labels: Sequence[Any] | np.ndarray | None = None,
    *,
    colour_by: str | None = None,
    neighbours: int | np.ndarray | None = DEFAULT_NEIGHBOURS,
    neighbour_space: np.ndarray | None = None,
    neighbour_distances: np.ndarray | None = None,
    metric: str = "euclidean",
    space: str | None = None,
    ids: Sequence[Any] | np.ndarray | None = None,
    label_name: str = "label",
    metadata: Mapping[str, Any] | None = None,
    categorical: Sequence[str] = (),
    coord_names: Sequence[str] | None = None,
    eigenvalues: Sequence[float] | None = None,
    t: float | None = None,
    max_points: int = MAX_EXPLORER_POINTS,
    random_state: int = 0,
    title: str = "Embedding explorer",
    intro: str | None = None,
    notices: Sequence[str] = (),
    prefix: str = "ex-",
) -> ExplorerSection:
    """An embedding explorer for any point cloud, as a piece of a report page.

    Parameters
    ----------
    coords
        ``(n, K)`` coordinates (K >= 1; a 1-D array is one coordinate). The explorer draws two
        of them (the first two at first; menus switch) and lists all in its tables. Rows with
        a NaN are not drawn (the section says how many).
    labels
        One label per point (any values; shown as text), searched and shown first, or
        ``None``.
    colour_by
        Initial colouring: ``label_name``, a ``metadata`` column or a coordinate name.
        Default: the labels, else the first metadata column, else a coordinate.
    neighbours
        ``int``: compute that many nearest neighbours of every drawn point in
        ``neighbour_space`` (:func:`nearest_neighbours`); an ``(n, k)`` integer array: row
        numbers already computed (-1: none); ``None`` or 0: no neighbours.
    neighbour_space
        ``(n, d)`` vectors to search (the original space); default ``coords``.
    neighbour_distances
        ``(n, k)`` distances that go with an array of ``neighbours``.
    metric
        Distance of the search, shown in the panel.
    space
        Name of the searched space shown in the panel; default ``"input"`` with a
        ``neighbour_space``, else ``"layout"``.
    ids
        Point ids shown, searched and written to the CSV (default ``0 .. n-1``).
    label_name
        Name of the label column.
    metadata
        More columns (name → n values): colour, hover, search, table and CSV.
    categorical
        Numeric columns always coloured as categories (e.g. cluster numbers).
    coord_names
        Names of the K coordinates (default ``dim1``...).
    eigenvalues, t
        Eigenvalue of each coordinate and the diffusion time of ``coords``: with both, a
        slider rescales the coordinates to other times (``λ^(t' - t)``); else no slider.
    max_points
        Above this many drawable points a seeded sample is drawn (stratified by the initial
        colouring when it has categories), and the section says so.
    random_state
        Seed of that sample.
    title, intro
        Heading and sentence of the section.
    notices
        More sentences to show at the top of the section (what is missing and why).
    prefix
        Element-id prefix, distinct per explorer of a page (``"ex-"``, ``"ex2-"``...).

    Returns
    -------
    ExplorerSection
        ``.html``, ``.scripts``, ``.css`` to put into the page.

    Raises
    ------
    InputError
        A column or neighbour array that does not have one row per point, an unknown
        ``colour_by``, ``max_points < 1``.
    """
    from plotly.offline import get_plotlyjs

    X = np.asarray(coords, dtype=np.float64)
    X = X[:, None] if X.ndim == 1 else X
    if X.ndim != 2 or X.shape[1] < 1:
        msg = f"coords must have shape (n_points, K >= 1), not {np.shape(coords)}."
        raise InputError(msg)
    if max_points < 1:
        msg = f"max_points={max_points} must be at least 1."
        raise InputError(msg)
    n, k_dims = X.shape
    names = list(coord_names) if coord_names is not None else [f"dim{j + 1}" for j in range(k_dims)]
    if len(names) != k_dims:
        msg = f"coord_names has {len(names)} names for {k_dims} coordinates; give one each."
        raise InputError(msg)
    cols: dict[str, np.ndarray] = {"id": np.arange(n) if ids is None else _column("id", ids, n)}
    if labels is not None:
        cols[label_name] = _column(label_name, labels, n)
    for name, values in (metadata or {}).items():
        cols[str(name)] = _column(str(name), values, n)
    meta = [c for c in cols if c != "id"]
    if colour_by is not None and colour_by not in meta + names:
        msg = f"colour_by={colour_by!r} is not a column of the explorer; use one of {meta + names}."
        raise InputError(msg)
    notices = [str(t) for t in notices]
    valid = np.flatnonzero(np.all(np.isfinite(X), axis=1))
    if valid.size < n:
        notices.append(f"{n - valid.size:,} of {n:,} points have no coordinates and are not drawn.")
    group = colour_by if colour_by in meta else None  # the sample is stratified by it
    if colour_by is None and meta:
        group = meta[0]
    codes = None
    if group is not None and valid.size:
        coloring = make_coloring(group, cols[group][valid], force_categorical=group in categorical)
        codes = coloring.values if coloring.is_categorical else None
    shown = np.arange(valid.size)
    if valid.size > max_points:
        shown = sample_indices(valid.size, max_points, codes, random_state)
        how = f"stratified by {group}" if codes is not None else "uniform"
        notices.append(
            f"The explorer shows a random sample of {shown.size:,} of the {valid.size:,} points "
            f"({how}, seed {random_state})."
        )
    rows = valid[shown]
    nb, dist = None, None
    if isinstance(neighbours, int | np.integer) and not isinstance(neighbours, bool):
        if neighbours > 0 and rows.size > 1:
            S = X if neighbour_space is None else np.asarray(neighbour_space)
            if S.ndim != 2 or S.shape[0] != n:
                msg = f"neighbour_space has shape {S.shape}; it needs one row per point ({n})."
                raise InputError(msg)
            ok = np.flatnonzero(np.all(np.isfinite(S), axis=1))
            ask = None if rows.size == ok.size else np.intersect1d(rows, ok)
            nb, dist, how = nearest_neighbours(
                S, int(neighbours), metric=metric, rows=ok, queries=ask
            )
            metric = metric if how == "exact" else f"{metric}, approximate (HNSW)"
    elif neighbours is not None:
        nb, dist = check_neighbors(np.asarray(neighbours), neighbour_distances, n, notices)
    data_json, data = None, {}
    if rows.size:
        page_rows, local = explorer_rows(rows, nb)
        where = space or ("input" if neighbour_space is not None else "layout")
        data = explorer_data(
            cols, page_rows, rows.size, X[rows], names, metadata=meta,
            label=label_name if labels is not None else None,
            color_by=colour_by or group, eigenvalues=eigenvalues, t=t, neighbors=local,
            distances=None if dist is None else dist[rows],
            neighbor_info={"metric": metric, "space": where}, categorical=categorical,
            time_control=eigenvalues is not None and t is not None,
            no_neighbors="No neighbours were computed for these points.",
        )  # fmt: skip
        if data["compact"]:
            notices.append(
                f"To keep the page small, the coordinates of the {rows.size:,} drawn points are "
                "stored to 1/65,535 of their range."
            )
        data_json = safe_json(data)
    markup = section_html(data_json, prefix=prefix, title=title, intro=intro, notices=notices)
    return ExplorerSection(
        html=markup,
        scripts=(get_plotlyjs(), static_text("explorer.js")),
        css=static_text("explorer.css"),
        notices=tuple(notices),
        rows=rows,
        data=data,
    )
