"""The figure of the tree report: an icicle of the hierarchy beside the points, linked.

One plotly figure holds two traces, so a single dropdown recolours both: trace 0 is an
``icicle`` of a few coarse levels (root at the top, one row per level, each node as wide as
its number of points), trace 1 a WebGL scatter of the points (the first two diffusion
coordinates). Choosing "8 clusters · level 41" colours every point by its cluster at that
level and every icicle node at that level or below by the colour of its ancestor there
(coarser nodes turn grey), so the icicle is the legend of the scatter. Colours go to the
clusters in order of size (the largest gets the first colour of the palette). A label column
adds an option that colours the points by the label and the icicle nodes by their majority
label (categories) or mean label (numbers).

Everything here is pure: arrays in, a ``{"data", "layout"}`` dict out. Every user string goes
through :func:`~diffembed.plotting.interactive.plotly_text`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .interactive import CATEGORY_COLORS, FONT, OTHER_COLOR, make_coloring, plotly_text

__all__ = [
    "ICICLE_TARGETS",
    "MENU_TARGETS",
    "TreeLevels",
    "closest_levels",
    "size_ranks",
    "tree_figure_spec",
]

#: Cluster counts the dropdown offers (the closest level to each), besides the salient levels.
MENU_TARGETS = (2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64)
#: Cluster counts of the icicle's rows (the closest level to each).
ICICLE_TARGETS = (1, 2, 4, 8, 16, 32, 64)
GREY = "#dfe3e8"
#: Most entries in the scatter's legend (its colour bar); more clusters show colours only.
MAX_LEGEND = 24
#: The icicle's share of the figure's width, after a gutter that names its rows.
ICICLE_X = (0.1, 0.45)
_BASE = {"template": "plotly_white", "font": {"family": FONT, "size": 13, "color": "#1f2933"},
         "hoverlabel": {"font": {"family": FONT}}}  # fmt: skip
_AXIS = {"zeroline": False, "showline": True, "linecolor": "#c9ced6", "mirror": True}


@dataclass(frozen=True)
class TreeLevels:
    """The nested levels of a saved tree.

    Parameters
    ----------
    labels
        Level index → cluster of every point (0..k-1), for the written levels.
    salient
        Salient level indices, most persistent first.
    """

    labels: Mapping[int, np.ndarray]
    salient: Sequence[int] = ()

    @property
    def counts(self) -> dict[int, int]:
        """Level index → number of clusters."""
        return {j: int(lab.max()) + 1 if lab.size else 0 for j, lab in self.labels.items()}


def closest_levels(
    counts: Mapping[int, int], targets: Sequence[int], *, low: int = 1, high: int | None = None
) -> list[int]:
    """For every target cluster count, the level whose count is closest (ties: the coarser).

    Parameters
    ----------
    counts
        Level index → cluster count.
    targets
        Wanted cluster counts.
    low, high
        Only levels with ``low <= count <= high`` are considered.

    Returns
    -------
    list of int
        Distinct level indices, in order of increasing cluster count.
    """
    pool = [(k, j) for j, k in counts.items() if k >= low and (high is None or k <= high)]
    if not pool:
        return []
    picked = {min(pool, key=lambda kj: (abs(kj[0] - t), kj[0]))[1] for t in targets}
    return sorted(picked, key=lambda j: counts[j])


def size_ranks(labels: np.ndarray, k: int) -> np.ndarray:
    """Rank of every cluster 0..k-1 by size, largest first (ties: smaller label first)."""
    sizes = np.bincount(np.asarray(labels, dtype=np.int64), minlength=k)
    ranks = np.empty(k, dtype=np.int64)
    ranks[np.argsort(-sizes, kind="stable")] = np.arange(k)
    return ranks


def _palette(i: int) -> str:
    return CATEGORY_COLORS[i % len(CATEGORY_COLORS)]


def _discrete_scale(colors: Sequence[str]) -> list[list[Any]]:
    """A colour scale on which the value ``i`` (with cmin -0.5, cmax k - 0.5) is ``colors[i]``."""
    k = len(colors)
    scale: list[list[Any]] = []
    for i, color in enumerate(colors):
        scale += [[i / k, color], [(i + 1) / k, color]]
    return scale


def _first_members(labels: np.ndarray, k: int) -> np.ndarray:
    """One member (the first point) of every cluster 0..k-1."""
    first = np.full(k, labels.size, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(labels.size))
    return first


@dataclass(frozen=True)
class _Icicle:
    levels: list[int]
    members: list[np.ndarray]  # per icicle level: one point of each node
    trace: dict[str, Any]


def _icicle(tree: TreeLevels, levels: list[int], n: int) -> _Icicle:
    counts = tree.counts
    ids: list[str] = []
    parents: list[str] = []
    names: list[str] = []
    values: list[int] = []
    custom: list[list[Any]] = []
    members: list[np.ndarray] = []
    previous: int | None = None
    for j in levels:
        lab, k = np.asarray(tree.labels[j]), counts[j]
        first = _first_members(lab, k)
        members.append(first)
        sizes = np.bincount(lab, minlength=k)
        clusters = f"{k} cluster{'s' if k != 1 else ''}"
        for c in np.argsort(-sizes, kind="stable"):
            ids.append(f"{j}:{c}")
            parents.append(
                "" if previous is None else f"{previous}:{tree.labels[previous][first[c]]}"
            )
            names.append(str(int(c)))
            values.append(int(sizes[c]))
            custom.append([int(j), clusters, round(100.0 * sizes[c] / max(n, 1), 1)])
        previous = j
    trace = {
        "type": "icicle",
        "ids": ids,
        "parents": parents,
        "labels": names,
        "values": values,
        "branchvalues": "total",
        "customdata": custom,
        "tiling": {"orientation": "v", "pad": 1},
        "pathbar": {"visible": True, "side": "top", "thickness": 18},
        "texttemplate": "%{value}",
        "textfont": {"size": 11},
        "hovertemplate": "<b>cluster %{label}</b> of level %{customdata[0]} "
        "(%{customdata[1]})<br>%{value} points · %{customdata[2]}%<extra></extra>",
        "marker": {"line": {"color": "#ffffff", "width": 1}},
        "domain": {"x": list(ICICLE_X), "y": [0.0, 1.0]},
        "sort": False,
        "leaf": {"opacity": 1},
        "name": "tree",
    }
    return _Icicle(levels, members, trace)


def _node_values(ice: _Icicle, tree: TreeLevels, point_values: np.ndarray) -> list[np.ndarray]:
    """Per icicle level, the value of ``point_values`` at one member of every node (in order)."""
    out = []
    for j, first in zip(ice.levels, ice.members, strict=True):
        sizes = np.bincount(np.asarray(tree.labels[j]), minlength=first.size)
        out.append(point_values[first[np.argsort(-sizes, kind="stable")]])
    return out


def _level_option(
    tree: TreeLevels, ice: _Icicle, j: int, rows: np.ndarray, label_line: str
) -> dict[str, Any]:
    """Restyle arguments that colour by level ``j``."""
    lab = np.asarray(tree.labels[j])
    k = tree.counts[j]
    colors = [_palette(int(r)) for r in size_ranks(lab, k)]
    icicle_colors: list[str] = []
    for lj, values in zip(ice.levels, _node_values(ice, tree, lab), strict=True):
        finer = tree.counts[lj] >= k
        icicle_colors += [colors[int(v)] if finer else GREY for v in values]
    template = (
        f"<b>id</b> %{{customdata}}<br>{label_line}<b>cluster</b> %{{marker.color}} of {k} "
        f"(level {j})<extra></extra>"
    )
    sizes = np.bincount(lab, minlength=k)
    ticks = list(range(k)) if k <= MAX_LEGEND else []
    return {
        "marker.colors": [icicle_colors, None],
        "marker.color": [None, lab[rows].astype(np.int32)],
        "marker.colorscale": [None, _discrete_scale(colors)],
        "marker.cmin": [None, -0.5],
        "marker.cmax": [None, k - 0.5],
        "marker.showscale": [False, True],
        "marker.colorbar.tickvals": [None, ticks],
        "marker.colorbar.ticktext": [None, [f"{c} · {sizes[c]:,}" for c in ticks]],
        "marker.colorbar.title.text": [None, f"cluster · points<br>(level {j})"],
        "hovertemplate": [ice.trace["hovertemplate"], template],
    }


def _label_option(
    tree: TreeLevels, ice: _Icicle, name: str, values: np.ndarray, rows: np.ndarray
) -> dict[str, Any]:
    """Restyle arguments that colour by the label column (categories or numbers)."""
    coloring = make_coloring(name, values)
    template = f"<b>id</b> %{{customdata}}<br><b>{plotly_text(name)}</b> %{{text}}<extra></extra>"
    icicle_colors: list[str] = []
    if coloring.categories is not None:
        m = len(coloring.categories)
        colors = [
            OTHER_COLOR if c == "(other)" else _palette(i)
            for i, c in enumerate(coloring.categories)
        ] + [OTHER_COLOR]
        codes = np.where(coloring.values < 0, m, coloring.values)
        for lj in ice.levels:
            lab, k = np.asarray(tree.labels[lj]), tree.counts[lj]
            tally = np.zeros((k, m + 1))
            np.add.at(tally, (lab, codes), 1.0)
            tally[:, m] *= 1e-9  # missing values win only where nothing else is known
            order = np.argsort(-np.bincount(lab, minlength=k), kind="stable")
            icicle_colors += [colors[int(c)] for c in np.argmax(tally, axis=1)[order]]
        scale = _discrete_scale(colors)
        point, lo, hi, bar = codes[rows].astype(np.int32), -0.5, m + 0.5, True
        names = [*coloring.categories, "(missing)"]
        shown = [i for i in range(m + 1) if np.any(codes == i)][:MAX_LEGEND]
        ticks = {"marker.colorbar.tickvals": [None, shown],
                 "marker.colorbar.ticktext": [None, [plotly_text(names[i]) for i in shown]]}
    else:
        from plotly.colors import sample_colorscale

        vals = coloring.values.astype(np.float64)
        finite = vals[np.isfinite(vals)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1.0
        for lj in ice.levels:
            lab, k = np.asarray(tree.labels[lj]), tree.counts[lj]
            ok = np.isfinite(vals)
            sums = np.bincount(lab[ok], weights=vals[ok], minlength=k)
            num = np.bincount(lab[ok], minlength=k)
            means = np.where(num > 0, sums / np.maximum(num, 1), np.nan)
            order = np.argsort(-np.bincount(lab, minlength=k), kind="stable")
            for v in means[order]:
                icicle_colors.append(
                    GREY
                    if not math.isfinite(v)
                    else sample_colorscale("Viridis", (v - lo) / (hi - lo))[0]
                )
        scale, point, bar = "Viridis", vals[rows].astype(np.float32), True
        ticks = {"marker.colorbar.tickvals": [None, None], "marker.colorbar.ticktext": [None, None]}
    return {
        "marker.colors": [icicle_colors, None],
        "marker.color": [None, point],
        "marker.colorscale": [None, scale],
        "marker.cmin": [None, lo],
        "marker.cmax": [None, hi],
        "marker.showscale": [False, bar],
        "marker.colorbar.title.text": [None, plotly_text(name)],
        **ticks,
        "hovertemplate": [ice.trace["hovertemplate"], template],
    }


def _apply(trace: dict[str, Any], args: dict[str, Any], index: int) -> None:
    """Set the restyle ``args`` (per-trace lists) of trace ``index`` on a trace dict."""
    for path, per_trace in args.items():
        value = per_trace[index]
        if value is None:
            continue
        *parents, leaf = path.split(".")
        node = trace
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value


def _robust_view(xy: np.ndarray, layout: dict[str, Any]) -> int:
    """Zoom the scatter onto the bulk of its points when a few far ones would crush it.

    An axis whose central 99% of the points spans less than a quarter of the full range gets
    that span (padded by 8%) as its initial range; double-click shows everything. Returns how
    many points lie outside the view.
    """
    finite = xy[np.all(np.isfinite(xy), axis=1)]
    if finite.shape[0] < 20:
        return 0
    inside = np.ones(finite.shape[0], dtype=bool)
    for j, axis in enumerate(("xaxis", "yaxis")):
        lo, hi = np.quantile(finite[:, j], [0.005, 0.995])
        full = float(finite[:, j].max() - finite[:, j].min())
        if full > 0 and hi - lo < 0.25 * full:
            pad = 0.08 * float(hi - lo) or 0.5
            view = [float(lo) - pad, float(hi) + pad]
            layout[axis]["range"] = view
            inside &= (finite[:, j] >= view[0]) & (finite[:, j] <= view[1])
    return int((~inside).sum())


def _note(text: str) -> dict[str, Any]:
    """A grey sentence under the scatter."""
    return {"text": text, "showarrow": False, "xref": "paper", "yref": "paper", "x": 1.0,
            "xanchor": "right", "y": 0.0, "yanchor": "top", "yshift": -30,
            "font": {"size": 11, "color": "#52606d"}}  # fmt: skip


def _row_labels(tree: TreeLevels, levels: Sequence[int]) -> list[dict[str, Any]]:
    """Names of the icicle's rows ("level 38 · 4 clusters"), in the gutter on their left.

    The icicle gives its rows equal heights; when a click zooms into a node the rows change,
    so the page hides these names until it zooms back to the root (``name="icicle-row"``).
    """
    counts, salient, n_rows = tree.counts, set(tree.salient), len(levels)
    out = []
    for d, j in enumerate(levels):
        k = counts[j]
        star, plural = (" ★" if j in salient else ""), ("s" if k != 1 else "")
        out.append({
            "name": "icicle-row", "text": f"<b>level {j}</b>{star}<br>{k:,} cluster{plural}",
            "showarrow": False, "xref": "paper", "yref": "paper", "x": ICICLE_X[0],
            "xanchor": "right", "xshift": -6, "y": 1.0 - (d + 0.5) / n_rows, "yanchor": "middle",
            "align": "right", "font": {"size": 11, "color": "#52606d"},
        })  # fmt: skip
    return out


def tree_figure_spec(
    tree: TreeLevels,
    xy: np.ndarray | None,
    rows: np.ndarray,
    *,
    ids: np.ndarray | Sequence[str],
    axis_names: tuple[str, str] = ("dc1", "dc2"),
    label: tuple[str, np.ndarray] | None = None,
    menu: Sequence[int] = (),
    icicle: Sequence[int] = (),
    active: int | str | None = None,
    ticks: bool = True,
    height: int = 640,
) -> dict[str, Any]:
    """The linked icicle + scatter figure with its colour dropdown.

    Parameters
    ----------
    tree
        The written levels (full length: every point).
    xy
        Scatter positions of the drawn points, shape (len(rows), 2); ``None``: no scatter.
    rows
        Which points are drawn (indices into the level labels).
    ids
        Identifier of every drawn point: integers (stored compactly) or raw strings.
    axis_names
        Titles of the scatter's axes.
    label
        ``(column name, values of every point)`` to offer as a colouring, or ``None``.
    menu
        Level indices offered in the dropdown (ordered as given).
    icicle
        Level indices drawn as the icicle's rows, coarse → fine.
    active
        Initial colouring: a level index of ``menu``, or ``"label"``.
    ticks
        Show the scatter's tick labels (off when tiles of different components share it).
    height
        Figure height in pixels.

    Returns
    -------
    dict
        ``{"data": [icicle, scattergl], "layout": ...}``, with numpy arrays for the per-point
        data (see :func:`~diffembed.plotting.encoding.figure_json`).
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = next(iter(tree.labels.values())).size if tree.labels else 0
    ice = _icicle(tree, list(icicle), n)
    id_arr = np.asarray(ids)
    if id_arr.dtype.kind in "iu" and (id_arr.size == 0 or abs(int(id_arr.max())) < 2**31):
        custom: Any = id_arr.astype(np.int32)
    else:
        custom = [plotly_text(v) for v in id_arr.tolist()]
    label_line = ""
    text: Any = None
    if label is not None:
        from .interactive import value_texts

        label_line = f"<b>{plotly_text(label[0])}</b> %{{text}}<br>"
        seen: dict[str, str] = {}
        text = [
            seen.get(v) or seen.setdefault(v, plotly_text(v)) for v in value_texts(label[1][rows])
        ]
    options: list[tuple[str, dict[str, Any]]] = []
    keys: list[int | str] = []
    if label is not None:
        options.append((f"{label[0]} (label)", _label_option(tree, ice, label[0], label[1], rows)))
        keys.append("label")
    salient = set(tree.salient)
    for j in menu:
        mark = " ★" if j in salient else ""
        options.append(
            (
                f"{tree.counts[j]} clusters · level {j}{mark}",
                _level_option(tree, ice, j, rows, label_line),
            )
        )
        keys.append(j)
    first = keys.index(active) if active in keys else 0
    size = round(max(9.0 - 1.15 * math.log10(max(rows.size, 10)), 2.0), 2)
    xy = np.zeros((0, 2), dtype=np.float32) if xy is None else np.asarray(xy, dtype=np.float32)
    scatter: dict[str, Any] = {
        "type": "scattergl",
        "mode": "markers",
        "x": xy[:, 0],
        "y": xy[:, 1],
        "customdata": custom,
        "marker": {
            "size": size,
            "opacity": 0.85,
            "line": {"width": 0},
            "colorbar": {"thickness": 14, "len": 0.8, "x": 1.01, "title": {"side": "right"}},
        },
        "name": "points",
        "showlegend": False,
        "hovertemplate": f"<b>id</b> %{{customdata}}<br>{label_line}<extra></extra>",
    }
    if text is not None:
        scatter["text"] = text
    if options:
        _apply(ice.trace, options[first][1], 0)
        _apply(scatter, options[first][1], 1)
    buttons = [
        {"label": plotly_text(name), "method": "restyle", "args": [args, [0, 1]]}
        for name, args in options
    ]
    layout: dict[str, Any] = {
        **_BASE,
        "height": height,
        "margin": {"l": 8, "r": 72, "t": 64, "b": 48},
        "xaxis": {
            "domain": [0.5, 1.0],
            "title": {"text": plotly_text(axis_names[0])},
            "showticklabels": ticks,
            "showgrid": ticks,
            **_AXIS,
        },
        "yaxis": {
            "title": {"text": plotly_text(axis_names[1])},
            "automargin": True,
            "showticklabels": ticks,
            "showgrid": ticks,
            **_AXIS,
        },
        "showlegend": False,
        "annotations": [
            {
                "text": "Colour by",
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.0,
                "xanchor": "left",
                "y": 1.0,
                "yanchor": "bottom",
                "yshift": 22,
                "font": {"size": 12, "color": "#52606d"},
            },
        ],
    }
    if not ticks:  # tiles: keep every tile round
        layout["yaxis"].update(scaleanchor="x", scaleratio=1)
    else:
        outside = _robust_view(xy, layout)
        if outside:
            layout["annotations"].append(_note(
                f"{outside:,} far point{'s' if outside != 1 else ''} outside this view: "
                "double-click the plot to show all"))  # fmt: skip
    layout["annotations"] += _row_labels(tree, ice.levels)
    layout["meta"] = {"icicleRoot": ice.trace["ids"][0] if ice.trace["ids"] else None}
    if buttons:
        layout["updatemenus"] = [
            {"buttons": buttons, "active": first, "direction": "down", "showactive": True,
             "x": 0.0, "xanchor": "left", "y": 1.0, "yanchor": "bottom",
             "pad": {"l": 72, "b": 12}, "bgcolor": "#ffffff", "bordercolor": "#c9ced6",
             "font": {"size": 12}},
        ]  # fmt: skip
    return {"data": [ice.trace, scatter], "layout": layout}
