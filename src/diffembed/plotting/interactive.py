"""Interactive plotly figures of a diffusion embedding and its spectrum, and their JSON.

plotly is imported inside the functions, never by ``import diffembed``. Text that plotly renders
is its small HTML dialect, so every user string goes through :func:`plotly_text`:
``</script><img src=x>`` is displayed, never parsed. :func:`figure_json` writes a figure as
JSON that is safe inside an HTML ``<script>`` element.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .encoding import figure_json, safe_json

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "CATEGORY_COLORS",
    "MAX_CATEGORIES",
    "Coloring",
    "embedding_figure",
    "embedding_spec",
    "figure_json",
    "make_coloring",
    "plotly_text",
    "safe_json",
    "sample_indices",
    "spectrum_figure",
    "value_texts",
]

#: Qualitative palette of the categories (Tableau 10, then its light partners).
CATEGORY_COLORS: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#17becf",
    "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d",
    "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#bab0ac",
)  # fmt: skip
#: Most categories with their own legend entry; the rarest others are merged into "(other)".
MAX_CATEGORIES = 20
OTHER_COLOR = "#a3a8b0"
COLORSCALE = "Viridis"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
_BASE = {"template": "plotly_white", "font": {"family": FONT, "size": 13, "color": "#1f2933"},
         "hoverlabel": {"font": {"family": FONT}}}  # fmt: skip
_MENU = {"direction": "down", "showactive": True, "x": 0.0, "xanchor": "left", "y": 1.02,
         "yanchor": "bottom", "pad": {"l": 72, "b": 4}, "bgcolor": "#ffffff",
         "bordercolor": "#c9ced6", "font": {"size": 12}}  # fmt: skip
_MENU_LABEL = {"text": "Colour by", "showarrow": False, "xref": "paper", "yref": "paper",
               "x": 0.0, "xanchor": "left", "y": 1.035, "yanchor": "bottom",
               "font": {"size": 12, "color": "#52606d"}}  # fmt: skip
_LEGEND = {"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.12, "yanchor": "top",
           "itemsizing": "constant"}  # fmt: skip
_AXIS = {"zeroline": False, "showline": True, "linecolor": "#c9ced6", "mirror": True}
_MAX_COLOR_OPTIONS = 10  # coordinates offered in the colour menu


def plotly_text(value: Any) -> str:
    """Escape ``str(value)`` for any text that plotly renders (its mini-HTML dialect).

    ``<``, ``>`` and ``&`` become entities (plotly decodes them for display, so they show as
    typed) and ``%`` becomes ``&#37;`` so that a name cannot inject a ``%{...}`` template field.

    Returns
    -------
    str
        Text safe in a plotly label, legend name, title or hover template.
    """
    return html.escape(str(value), quote=False).replace("%", "&#37;")


@dataclass(frozen=True)
class Coloring:
    """How to colour the points of an embedding scatter.

    Parameters
    ----------
    name
        Name of the column the colours come from (raw, unescaped).
    values
        Per point: the category code (``-1`` when missing) if ``categories`` is given, else a
        float on a continuous colour scale.
    categories
        Names of the categories (raw), or ``None`` for a continuous colouring.
    """

    name: str
    values: np.ndarray
    categories: Sequence[str] | None = None

    @property
    def is_categorical(self) -> bool:
        """Whether the colouring has a legend (categories) rather than a colour bar."""
        return self.categories is not None


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float | np.floating) and math.isnan(v))


def value_texts(values: np.ndarray) -> list[str]:
    """Display texts (raw, to escape where written) of a column: None, NaN give ``"—"``.

    Parameters
    ----------
    values
        1-D array; integral floats lose their ``.0``.

    Returns
    -------
    list of str
    """
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return values.astype(str).tolist()
    seen: dict[Any, str] = {}
    out = []
    for v in values.tolist():
        try:
            out.append(seen[v] if v in seen else seen.setdefault(v, _value_text(v)))
        except TypeError:  # unhashable
            out.append(_value_text(v))
    return out


def _value_text(v: Any) -> str:
    """Display text of a value: None and NaN give ``"—"``, integral floats lose their ``.0``."""
    if _is_missing(v):
        return "—"
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, float | np.floating):
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{float(v):.6g}"
    return str(v.item()) if isinstance(v, np.generic) else str(v)


def make_coloring(name: str, values: np.ndarray, *, force_categorical: bool = False) -> Coloring:
    """Colouring from a column: categories for text, booleans and few integer values.

    Parameters
    ----------
    name, values
        Column name (raw) and its values at the points drawn.
    force_categorical
        Treat numbers as categories however many there are (used for ``cluster``).

    Returns
    -------
    Coloring
        Categorical with at most ``MAX_CATEGORIES`` entries (the rarest merged into
        ``"(other)"``; missing values get code -1), or continuous for other numbers.
    """
    values = np.asarray(values)
    if values.dtype.kind in "iuf":
        vals = values.astype(np.float64)
        uniq, n_each = np.unique(vals[np.isfinite(vals)], return_counts=True)
        few = bool(np.all(uniq == np.round(uniq))) and uniq.size <= MAX_CATEGORIES
        if not (force_categorical or few):
            return Coloring(name, vals)
        counts: dict[Any, int] = dict(zip(uniq.tolist(), n_each.tolist(), strict=True))
        items = vals.tolist()
    else:
        items, counts = values.tolist(), {}
        for v in items:
            if not _is_missing(v):
                counts[v] = counts.get(v, 0) + 1
    keys = list(counts)
    if len(keys) > MAX_CATEGORIES:
        keys = sorted(keys, key=lambda key: -counts[key])[: MAX_CATEGORIES - 1]
    try:
        keys.sort()
    except TypeError:
        keys.sort(key=str)
    other = len(keys) if len(counts) > len(keys) else -1
    lookup = {key: i for i, key in enumerate(keys)}
    codes = np.array(
        [-1 if _is_missing(v) else lookup.get(v, other) for v in items], dtype=np.int64
    )
    names = [_value_text(key) for key in keys] + (["(other)"] if other >= 0 else [])
    return Coloring(name, codes, names)


def sample_indices(n: int, max_points: int, codes: np.ndarray | None, seed: int) -> np.ndarray:
    """Increasing indices of a seeded random sample of ``max_points`` of ``n`` points.

    Parameters
    ----------
    n, max_points, seed
        Population size, sample size and seed of :func:`numpy.random.default_rng`.
    codes
        Category of each point for a stratified sample (proportional allocation, every
        category keeps a point, so it may exceed ``max_points`` by a few) or ``None``: uniform.

    Returns
    -------
    numpy.ndarray
    """
    rng = np.random.default_rng(seed)
    if codes is None:
        return np.sort(rng.choice(n, size=max_points, replace=False))
    keys, counts = np.unique(codes, return_counts=True)
    quota = counts * max_points / n
    take = np.maximum(np.floor(quota).astype(np.int64), 1)
    spare = max_points - int(take.sum())
    if spare > 0:
        take[np.argsort(-(quota - np.floor(quota)))[:spare]] += 1
    take = np.minimum(take, counts)
    parts = [
        rng.choice(np.flatnonzero(codes == key), size=int(m), replace=False)
        for key, m in zip(keys, take, strict=True)
    ]
    return np.sort(np.concatenate(parts))


def _marker_size(n: int, dims: int) -> float:
    """Marker diameter that keeps dense clouds readable: 7 px for 100 points, 2 px for 1M."""
    return round(max(9.0 - 1.15 * math.log10(max(n, 10)) - (0.8 if dims == 3 else 0.0), 1.5), 2)


def _range(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def embedding_spec(
    coords: np.ndarray,
    *,
    ids: Sequence[str],
    coloring: Coloring | None = None,
    hover: dict[str, Sequence[str]] | None = None,
    dims: int = 2,
    coord_names: Sequence[str] | None = None,
    active: str | None = None,
    height: int = 560,
) -> dict[str, Any]:
    """Scatter of the first two (``Scattergl``) or three (``Scatter3d``) diffusion coordinates.

    A dropdown (``updatemenus``) switches the colouring between ``coloring`` and each diffusion
    coordinate; categories get one trace each, so clicking the legend hides them.

    Parameters
    ----------
    coords
        Array of shape (n_points, K) of finite diffusion coordinates.
    ids
        Point identifiers shown in the hover label (raw strings, escaped here).
    coloring
        First colour option; ``None`` offers the coordinates only.
    hover
        Extra hover lines: column name to per-point strings (raw, escaped here).
    dims
        2 for a WebGL ``Scattergl`` of dc1-dc2, 3 for a ``Scatter3d`` of dc1-dc3.
    coord_names
        Names of the K coordinates; ``dc1``..``dcK`` by default.
    active
        Coordinate coloured by at first (e.g. ``"dc3"``). Default: ``coloring``, or ``dc3``
        (``dc1`` when K < 3) without one.
    height
        Figure height in pixels.

    Returns
    -------
    dict
        ``{"data": [trace dicts], "layout": dict}`` holding numpy arrays (float32 numbers: half
        the page size, ample for a plot); :func:`embedding_figure` validates it with plotly.
    """
    coords = np.asarray(coords, dtype=np.float64)
    need = 3 if dims == 3 else 1
    if coords.ndim != 2 or coords.shape[1] < need:
        msg = f"coords must have shape (n_points, K >= {need}), not {coords.shape}."
        raise ValueError(msg)
    n, k = coords.shape
    names = list(coord_names) if coord_names is not None else [f"dc{i + 1}" for i in range(k)]
    f32 = coords.astype(np.float32)
    if k >= dims:
        axes, axis_names = [f32[:, i] for i in range(dims)], names[:dims]
    else:  # a single coordinate: plot it against the point's rank
        axes, axis_names = [f32[:, 0], np.arange(n, dtype=np.float32)], [names[0], "point index"]

    hover = hover or {}
    heads = ["id", *hover]
    columns = np.empty((n, len(heads)), dtype=object)
    for j, col in enumerate([ids, *hover.values()]):
        seen: dict[str, str] = {}
        columns[:, j] = [seen.get(v) or seen.setdefault(v, plotly_text(v)) for v in col]
    coord_lines = [
        f"{plotly_text(a)} %{{{c}:.4g}}" for a, c in zip(axis_names, "xyz", strict=False)
    ]

    def hover_of(idx: np.ndarray) -> tuple[np.ndarray, str]:
        """Customdata and template of a trace: a column constant over it goes in the template."""
        sub = columns[idx]
        same = [
            j > 0 and idx.size > 0 and bool(np.all(sub[:, j] == sub[0, j]))
            for j in range(len(heads))
        ]
        varying = [j for j in range(len(heads)) if not same[j]]
        lines = [
            f"<b>{plotly_text(h)}</b> "
            + (sub[0, j] if same[j] else f"%{{customdata[{varying.index(j)}]}}")
            for j, h in enumerate(heads)
        ]
        return sub[:, varying], "<br>".join(lines + coord_lines) + "<extra></extra>"

    options: list[tuple[str, np.ndarray | None]] = []
    if coloring is not None:
        continuous = None if coloring.is_categorical else coloring.values.astype(np.float32)
        options.append((coloring.name or "label", continuous))
    first_dc = len(options)
    options += [(names[i], f32[:, i]) for i in range(min(k, _MAX_COLOR_OPTIONS))]
    option_names = [name for name, _ in options]
    if active in option_names[first_dc:]:
        first = option_names.index(active, first_dc)
    else:
        first = 0 if coloring is not None else (2 if k >= 3 else 0)

    if coloring is not None and coloring.is_categorical:
        codes = np.asarray(coloring.values, dtype=np.int64)
        groups = [
            (str(c), np.flatnonzero(codes == i)) for i, c in enumerate(coloring.categories or [])
        ]
        groups = [*groups, ("(missing)", np.flatnonzero(codes < 0))]
        groups = [(g, idx) for g, idx in groups if idx.size]
        palette = [
            OTHER_COLOR
            if g in ("(missing)", "(other)")
            else CATEGORY_COLORS[i % len(CATEGORY_COLORS)]
            for i, (g, _) in enumerate(groups)
        ]
    else:
        groups, palette = [("", np.arange(n))], [CATEGORY_COLORS[0]]

    def color_args(option: int) -> dict[str, Any]:
        name, values = options[option]
        if values is None:
            return {"marker.color": palette, "marker.showscale": [False] * len(groups)}
        lo, hi = _range(values)
        return {
            "marker.color": [values[idx] for _, idx in groups],
            "marker.colorscale": COLORSCALE,
            "marker.cmin": lo,
            "marker.cmax": hi,
            "marker.showscale": [t == 0 for t in range(len(groups))],
            "marker.colorbar.title.text": plotly_text(name),
        }

    start = color_args(first)
    traces = []
    for t, (group, idx) in enumerate(groups):
        marker: dict[str, Any] = {
            "size": _marker_size(n, dims),
            "opacity": 0.85 if dims == 2 else 0.8,
            "line": {"width": 0},
            "color": start["marker.color"][t],
            "showscale": start["marker.showscale"][t],
            "colorbar": {"thickness": 14, "len": 0.9, "title": {"side": "right"}},
        }
        if "marker.colorscale" in start:
            marker.update(
                colorscale=COLORSCALE, cmin=start["marker.cmin"], cmax=start["marker.cmax"]
            )
            marker["colorbar"]["title"]["text"] = start["marker.colorbar.title.text"]
        trace = {"type": "scatter3d" if dims == 3 else "scattergl", "mode": "markers"}
        trace.update({a: axis[idx] for a, axis in zip("xyz", axes, strict=False)})
        trace.update(name=plotly_text(group) if group else "points", showlegend=bool(group))
        custom, template = hover_of(idx)
        traces.append({**trace, "marker": marker, "customdata": custom, "hovertemplate": template})

    buttons = [
        {"label": plotly_text(name), "method": "restyle", "args": [color_args(i)]}
        for i, (name, _) in enumerate(options)
    ]
    legend_title = plotly_text(coloring.name) + "  " if coloring is not None else ""
    layout: dict[str, Any] = {
        **_BASE,
        "height": height,
        "updatemenus": [{**_MENU, "buttons": buttons, "active": first}],
        "annotations": [_MENU_LABEL],
        "legend": {**_LEGEND, "title": {"text": legend_title}},
    }
    if dims == 3:
        titles = [{"title": {"text": plotly_text(a)}} for a in axis_names]
        layout["scene"] = dict(
            zip(("xaxis", "yaxis", "zaxis"), titles, strict=True), aspectmode="cube"
        )
        layout["margin"] = {"l": 0, "r": 10, "t": 56, "b": 10}
        layout["legend"]["y"] = 0.0
    else:
        layout["xaxis"] = {"title": {"text": plotly_text(axis_names[0])}, **_AXIS}
        layout["yaxis"] = {"title": {"text": plotly_text(axis_names[1])}, **_AXIS}
        layout["margin"] = {"l": 64, "r": 20, "t": 56, "b": 40}
    if len(groups) > 1:
        layout["legend"]["y"] = -0.16 if dims == 2 else 0.0
        layout["margin"]["b"] = 40 + 22 * math.ceil(len(groups) / 5)
    return {"data": traces, "layout": layout}


def embedding_figure(coords: np.ndarray, **kwargs: Any) -> go.Figure:
    """:func:`embedding_spec` (same arguments) as a validated plotly ``Figure``.

    Returns
    -------
    plotly.graph_objects.Figure
        A ``Scattergl`` (``dims=2``) or ``Scatter3d`` (``dims=3``) figure with a colour menu.
    """
    import plotly.graph_objects as go

    return go.Figure(embedding_spec(coords, **kwargs))


def _num(value: float) -> str:
    if math.isnan(value):
        return "—"
    return "∞" if math.isinf(value) else f"{value:.4g}"


def spectrum_figure(
    components: Sequence[int],
    eigenvalues: Sequence[float],
    timescales: Sequence[float] | None = None,
    *,
    height: int = 540,
    degenerate: Sequence[int] = (),
    degenerate_tol: float = 1e-9,
) -> go.Figure:
    """The eigenvalues (markers) with the relaxation timescales on a secondary axis.

    Diffusion-map eigenvalues usually crowd just below 1, so the eigenvalue axis is fitted to
    their range rather than starting at zero (bars from zero would all look equal).

    Parameters
    ----------
    components
        Component numbers (1..K).
    eigenvalues
        Eigenvalue of each component.
    timescales
        ``-1 / log(lambda)`` of each component; ``inf`` and NaN are not drawn but shown in the
        hover label. ``None`` draws the eigenvalues only.
    height
        Figure height in pixels.
    degenerate
        Positions (into ``eigenvalues``) of non-trivial eigenvalues equal to 1 within
        ``degenerate_tol``: ringed in red as their own legend entry.
    degenerate_tol
        The tolerance named in that legend entry.

    Returns
    -------
    plotly.graph_objects.Figure
        The figure; a dotted line marks the largest gap between consecutive eigenvalues.
    """
    import plotly.graph_objects as go

    lam = np.asarray(eigenvalues, dtype=np.float64)
    tau = np.full(lam.shape, np.nan) if timescales is None else np.asarray(timescales, dtype=float)
    x = [f"dc{int(c)}" for c in components]
    hover = {
        "customdata": [[_num(v), _num(t)] for v, t in zip(lam, tau, strict=True)],
        "hovertemplate": "<b>%{x}</b><br>eigenvalue λ = %{customdata[0]}<br>"
        "timescale = %{customdata[1]}<extra></extra>",
    }
    fig = go.Figure(
        go.Scatter(
            x=x, y=lam, name="eigenvalue λ", mode="lines+markers",
            marker={"color": "#4e79a7", "size": 9}, line={"color": "#4e79a7", "width": 1.5},
            **hover,
        )
    )  # fmt: skip
    finite = lam[np.isfinite(lam)]
    span = float(finite.max() - finite.min()) if finite.size else 0.0
    pad = span * 0.08 if span > 0 else 0.01
    y_range = [float(finite.min()) - pad, float(finite.max()) + pad] if finite.size else None
    fig.update_layout(
        _BASE, height=height, margin={"l": 72, "r": 64, "t": 36, "b": 48},
        legend={"orientation": "h", "x": 0.0, "y": 1.02, "yanchor": "bottom"},
        xaxis={"title": {"text": "component"}, "type": "category"},
        yaxis={"title": {"text": "eigenvalue λ"}, "range": y_range, "tickformat": ".6~f"},
    )  # fmt: skip
    tau = np.where(np.isfinite(tau) & (tau > 0), tau, np.nan)
    shown = tau[np.isfinite(tau)]
    if shown.size:
        line = {"color": "#f28e2b", "width": 2}
        name = "timescale −1/log λ"
        fig.add_scatter(x=x, y=tau, name=name, mode="lines+markers", yaxis="y2", line=line, **hover)
        log = shown.size > 1 and shown.max() / shown.min() > 20
        fig.update_layout(
            yaxis2={"title": {"text": "timescale"}, "overlaying": "y", "side": "right",
                    "showgrid": False, "type": "log" if log else "linear",
                    **({"dtick": 1, "tickformat": "~s"} if log else {"rangemode": "tozero"})}
        )  # fmt: skip
    marked = [int(i) for i in degenerate if 0 <= int(i) < lam.size]
    if marked:
        fig.add_scatter(
            x=[x[i] for i in marked], y=lam[marked], mode="markers",
            name=f"λ = 1 within {degenerate_tol:g} (degenerate)",
            marker={"color": "#e15759", "size": 15, "symbol": "circle-open",
                    "line": {"width": 2.5, "color": "#e15759"}},
            customdata=[hover["customdata"][i] for i in marked],
            hovertemplate="<b>%{x}</b>: λ = 1 within precision (the kernel splits the data)"
            "<extra></extra>",
        )  # fmt: skip
    gaps = lam[:-1] - lam[1:]
    if lam.size >= 3 and np.all(np.isfinite(lam)) and gaps.max() > 0:
        fig.add_vline(
            x=int(np.argmax(gaps)) + 0.5, line={"color": "#9aa5b1", "dash": "dot", "width": 1.5},
            annotation={"text": "largest gap", "font": {"size": 11, "color": "#7b8794"}},
            annotation_position="top right",
        )  # fmt: skip
    return fig
