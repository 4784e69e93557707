"""The explorer's data block: the page's rows and the JSON-ready dict ``explorer.js`` reads.

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
from typing import Any

import numpy as np

from .encoding import typed_array
from .explorer_columns import encode_column, encode_ids, quantized

__all__ = [
    "MAX_DISTANCE_ENTRIES",
    "MAX_FLOAT32_POINTS",
    "MAX_HOVER_FIELDS",
    "explorer_data",
    "explorer_rows",
]

#: Neighbour distances go into the page while ``n_drawn * k`` is at most this.
MAX_DISTANCE_ENTRIES = 2_000_000
#: Above this many drawn points the coordinates are stored at 16-bit precision.
MAX_FLOAT32_POINTS = 200_000
#: Metadata fields in a hover label, besides the id.
MAX_HOVER_FIELDS = 2


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
    axis_titles: Sequence[str] | None = None,
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
    axis_titles
        What each coordinate is, written as its axis title (default: its name).

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
        "ids": encode_ids(ids),
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
    if axis_titles is not None:
        data["axisTitles"] = [str(v) for v in axis_titles]
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
