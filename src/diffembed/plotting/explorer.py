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

Modules
-------
The explorer is split by concept; every public name is importable from here:
:mod:`~.explorer_columns` (column encoding: categories, numbers, ids, 16-bit coordinates),
:mod:`~.explorer_block` (the page's rows and the data block, its size policy),
:mod:`~.explorer_neighbours` (saved neighbours checked, nearest neighbours searched) and
this module (the markup, the assets and :func:`explorer_section`, which assembles them).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from ..exceptions import InputError
from .encoding import safe_json
from .explorer_block import (
    MAX_DISTANCE_ENTRIES,
    MAX_FLOAT32_POINTS,
    MAX_HOVER_FIELDS,
    explorer_data,
    explorer_rows,
)
from .explorer_columns import encode_column, quantized
from .explorer_neighbours import MAX_EXACT_WORK, check_neighbors, nearest_neighbours
from .interactive import make_coloring, sample_indices, value_texts

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


#: Neighbours per point that :func:`explorer_section` computes by default.
DEFAULT_NEIGHBOURS = 10

#: Above this many points :func:`explorer_section` draws a stated, seeded, stratified sample.
MAX_EXPLORER_POINTS = 1_000_000

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
    axis_titles: Sequence[str] | None = None,
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
    axis_titles
        What each coordinate is, for the axis titles (e.g. ``"PC1 of the word vectors (12% of
        variance)"``); default the names.
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
    from .page import plotly_js

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
    if axis_titles is not None and len(axis_titles) != k_dims:
        msg = f"axis_titles has {len(axis_titles)} titles for {k_dims} coordinates; give one each."
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
            axis_titles=axis_titles,
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
        scripts=(plotly_js(), static_text("explorer.js")),
        css=static_text("explorer.css"),
        notices=tuple(notices),
        rows=rows,
        data=data,
    )
