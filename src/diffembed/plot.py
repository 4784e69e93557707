"""Plots from Python: plotly figures of embeddings and spectra that display inline in Jupyter.

>>> import diffembed as de                                            # doctest: +SKIP
>>> dm = de.DiffusionMap(n_components=4).fit(X)                      # doctest: +SKIP
>>> de.plot.embedding(dm, color=labels, hover={"name": names})       # doctest: +SKIP
>>> de.plot.spectrum(dm)                                              # doctest: +SKIP

:func:`embedding` takes whatever holds one row of coordinates per item: a fitted
:class:`~diffembed.DiffusionMap` / ``LandmarkDiffusionMap`` / :class:`~diffembed.DiffusionHierarchy`
/ ``DiffusionSmoother`` (its ``embedding_``), a :class:`~diffembed.embed.KeyedVectors` (keys
in the hover), an array, or an AnnData (``obsm[basis]``, ``obs`` columns by name). Every user
string (names, labels, hover values) is escaped before plotly renders it. plotly is imported
on first use (it is a core dependency; ``diffembed report`` uses it too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .exceptions import InputError

__all__ = ["embedding", "spectrum"]

_BASES = ("X_diffembed", "X_diffmap", "X_umap", "X_pca")
_CATEGORY_COLORS = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip


# ------------------------------------------------------------------------- reading objects
def _is_anndata(obj: Any) -> bool:
    return hasattr(obj, "obsm") and hasattr(obj, "obs") and hasattr(obj, "obs_names")


def view_of(obj: Any, basis: str | None = None) -> dict[str, Any]:
    """Coordinates, row ids and (when known) the spectrum of anything :func:`embedding` takes.

    Returns
    -------
    dict
        ``coords`` (n, k) float64, ``ids`` (list or None), ``eigenvalues`` and ``timescales``
        (arrays or None), ``columns`` (name → values usable by name in ``color``/``hover``),
        ``name`` (what the object is), ``model`` (the estimator or None).
    """
    from .embed.keyed import KeyedVectors

    view: dict[str, Any] = {"ids": None, "eigenvalues": None, "timescales": None,
                            "columns": {}, "model": None}  # fmt: skip
    if isinstance(obj, KeyedVectors):
        view.update(coords=obj.vectors, ids=list(obj.keys), name=type(obj).__name__)
    elif _is_anndata(obj):
        keys = list(obj.obsm.keys())
        key = basis or next((b for b in _BASES if b in keys), None)
        if key is None or key not in keys:
            msg = (
                f"The AnnData has no obsm[{(basis or _BASES[0])!r}]; it has {keys}. Run a "
                "diffusion map first or pass basis= one of those keys."
            )
            raise InputError(msg)
        view.update(coords=np.asarray(obj.obsm[key]), ids=[str(x) for x in obj.obs_names],
                    name=f"AnnData obsm[{key!r}]")  # fmt: skip
        view["columns"] = {str(c): np.asarray(obj.obs[c]) for c in obj.obs.columns}
    elif hasattr(obj, "get_params"):
        if getattr(obj, "embedding_", None) is None:
            msg = (
                f"This {type(obj).__name__} has no embedding_ to plot: fit it first "
                "(DiffusionSmoother: fit_transform)."
            )
            raise InputError(msg)
        ids = getattr(obj, "node_names_", None) or getattr(obj, "index_", None)
        view.update(coords=np.asarray(obj.embedding_), ids=None if ids is None else list(ids),
                    name=type(obj).__name__, model=obj)  # fmt: skip
        if getattr(obj, "eigenvalues_", None) is not None:
            view["eigenvalues"] = np.asarray(obj.eigenvalues_, dtype=np.float64)
            view["timescales"] = getattr(obj, "timescales_", None)
    else:
        try:
            coords = np.asarray(obj, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            msg = (
                f"Cannot plot a {type(obj).__name__}: give a fitted estimator, KeyedVectors, "
                "AnnData or a 2-D numeric array."
            )
            raise InputError(msg) from exc
        view.update(coords=coords, name="array")
    coords = np.asarray(view["coords"], dtype=np.float64)
    if coords.ndim != 2 or coords.shape[0] == 0:
        msg = f"Expected coordinates of shape (n_points, n_dims), got {coords.shape}."
        raise InputError(msg)
    view["coords"] = coords
    return view


def _values(view: Mapping[str, Any], value: Any, what: str) -> tuple[str, np.ndarray]:
    """(name, one value per row) of a ``color``/``hover`` argument: a column name or values."""
    n = view["coords"].shape[0]
    if isinstance(value, str):
        if value in view["columns"]:
            return value, np.asarray(view["columns"][value])
        if value.startswith("dc") and value[2:].isdigit():
            j = int(value[2:]) - 1
            if 0 <= j < view["coords"].shape[1]:
                return value, view["coords"][:, j]
        known = [*view["columns"], *(f"dc{j + 1}" for j in range(view["coords"].shape[1]))]
        msg = f"{what}={value!r} names no column; use one of {known[:12]}, or pass the values."
        raise InputError(msg)
    name = str(getattr(value, "name", None) or what)
    values = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=object)
    if values.ndim != 1 or values.shape[0] != n:
        got = values.shape[0] if values.ndim else 0
        msg = f"{what} has {got} values for {n} points; give one per point."
        raise InputError(msg)
    numeric = all(isinstance(v, int | float | np.integer | np.floating) for v in values)
    return name, values.astype(np.float64) if numeric and values.size else values


def _check_dims(dims: Sequence[int], k: int) -> list[int]:
    dims = [int(d) for d in dims]
    if len(dims) not in (2, 3) or len(set(dims)) != len(dims) or min(dims) < 0 or max(dims) >= k:
        msg = (
            f"dims={tuple(dims)} must be 2 or 3 distinct column numbers in 0..{k - 1} "
            f"(the embedding has {k} coordinates)."
        )
        raise InputError(msg)
    return dims


# ------------------------------------------------------------------------------- figures
def embedding(
    obj: Any,
    color: Any = None,
    hover: Any = None,
    dims: Sequence[int] = (0, 1),
    *,
    basis: str | None = None,
    title: str | None = None,
    size: float | None = None,
) -> Any:
    """A scatter of an embedding, one point per row, as a plotly ``Figure``.

    Parameters
    ----------
    obj
        A fitted DiffusionMap / LandmarkDiffusionMap / DiffusionHierarchy / DiffusionSmoother,
        a KeyedVectors (word or node vectors), an AnnData or a 2-D array.
    color
        Per-point values (numbers: a colour bar; anything else: one legend entry per
        category) or a column name (an AnnData ``obs`` column, or ``"dc3"``). For a
        DiffusionHierarchy without ``color``: the labels of its most salient level, if any.
    hover
        Extra hover fields: per-point values, a column name, or a mapping name → values.
        The row id (keys, node names, ``obs_names``) is always shown when known.
    dims
        Which coordinates to draw (0-based): two for 2-D, three for a 3-D scatter.
    basis
        AnnData ``obsm`` key (default: the first of X_diffembed, X_diffmap, X_umap, X_pca).
    title
        Figure title (escaped).
    size
        Marker size in pixels (default: smaller for more points).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    from .plotting.interactive import make_coloring, plotly_text, value_texts

    view = view_of(obj, basis)
    coords = view["coords"]
    n, k = coords.shape
    axes = _check_dims(dims, k)
    model = view["model"]
    if color is None and model is not None and hasattr(model, "salient_levels_"):
        salient = list(getattr(model, "salient_levels_", []))
        if salient:
            color = model.levels_[:, salient[0]].astype(str)
            color = np.asarray(color, dtype=object)
    fields: list[tuple[str, list[str]]] = []
    if view["ids"] is not None:
        fields.append(("id", value_texts(np.asarray(view["ids"], dtype=object))))
    coloring = None
    if color is not None:
        cname, cvalues = _values(view, color, "color")
        coloring = make_coloring(cname, cvalues)
        fields.append((cname, value_texts(cvalues)))
    extra: Any = [] if hover is None else [(None, hover)]
    if isinstance(hover, Mapping):
        extra = hover.items()
    for hname, hvalues in extra:
        if hname is None:
            name, vals = _values(view, hvalues, "hover")
        else:
            name, vals = str(hname), _values(view, hvalues, str(hname))[1]
        fields.append((name, value_texts(vals)))
    custom = np.array([[plotly_text(t) for t in texts] for _, texts in fields], dtype=object).T
    lines = [f"{plotly_text(name)}: %{{customdata[{i}]}}" for i, (name, _) in enumerate(fields)]
    axis_names = [f"dc{j + 1}" if view["model"] is not None or view["name"].startswith("AnnData")
                  else f"dim {j + 1}" for j in axes]  # fmt: skip
    pos = "<br>".join(f"{a} = %{{{'xyz'[i]}:.4g}}" for i, a in enumerate(axis_names))
    template = "<br>".join([*lines, pos]) + "<extra></extra>"
    size = size if size is not None else (7 if n <= 2000 else 4 if n <= 50_000 else 2)
    three = len(axes) == 3
    trace_type = go.Scatter3d if three else go.Scattergl

    def trace(rows: np.ndarray, name: str | None, marker: dict[str, Any]) -> Any:
        xyz = {c: coords[rows, j] for c, j in zip("xyz", axes, strict=False)}
        return trace_type(
            **xyz, mode="markers", name=name, marker={"size": size, **marker},
            customdata=custom[rows] if custom.size else None, hovertemplate=template,
            showlegend=name is not None,
        )  # fmt: skip

    traces = []
    if coloring is not None and coloring.is_categorical:
        cats = list(coloring.categories or [])
        for code in [*range(len(cats)), -1]:
            rows = np.flatnonzero(coloring.values == code)
            if rows.size:
                label = plotly_text(cats[code]) if code >= 0 else "missing"
                colour = _CATEGORY_COLORS[code % len(_CATEGORY_COLORS)] if code >= 0 else "#c0c4ca"
                traces.append(trace(rows, label, {"color": colour}))
    elif coloring is not None:
        marker = {"color": coloring.values, "colorscale": "Viridis", "showscale": True,
                  "colorbar": {"title": {"text": plotly_text(coloring.name)}}}  # fmt: skip
        traces.append(trace(np.arange(n), None, marker))
    else:
        traces.append(trace(np.arange(n), None, {"color": "#4e79a7"}))
    fig = go.Figure(traces)
    fig.update_layout(
        template="plotly_white", height=560,
        title={"text": plotly_text(title or f"{view['name']} · {n:,} points")},
        legend={"itemsizing": "constant"}, margin={"l": 56, "r": 24, "t": 56, "b": 48},
    )  # fmt: skip
    if three:
        fig.update_layout(scene={f"{c}axis": {"title": {"text": a}}
                                 for c, a in zip("xyz", axis_names, strict=True)})  # fmt: skip
    else:
        fig.update_layout(xaxis={"title": {"text": axis_names[0]}},
                          yaxis={"title": {"text": axis_names[1]}})  # fmt: skip
    return fig


def spectrum(dm: Any, *, title: str | None = None) -> Any:
    """The eigenvalues of a fitted diffusion map, the trivial one marked, timescales in hover.

    Parameters
    ----------
    dm
        A fitted DiffusionMap / LandmarkDiffusionMap, or the non-trivial eigenvalues (1-D).
    title
        Figure title (escaped).

    Returns
    -------
    plotly.graph_objects.Figure
        Component 0 is the trivial eigenvalue λ₀ = 1 (the stationary distribution, dropped
        from the coordinates; infinite timescale), drawn as a grey star; components 1..K are
        the kept eigenvalues with ``−1/log λ`` in the hover; a dotted line marks the largest
        gap between consecutive kept eigenvalues.
    """
    import plotly.graph_objects as go

    from .diffusion_map import timescales
    from .plotting.interactive import plotly_text

    if hasattr(dm, "get_params"):
        lam = getattr(dm, "eigenvalues_", None)
        if lam is None:
            msg = f"This {type(dm).__name__} has no eigenvalues_: fit it first."
            raise InputError(msg)
        n_comp = getattr(getattr(dm, "landmark_model_", dm), "n_connected_components_", 1)
    else:
        lam, n_comp = dm, 1
    lam = np.asarray(lam, dtype=np.float64).ravel()
    if lam.size == 0 or not np.isfinite(lam).all():
        msg = f"Expected a non-empty 1-D array of finite eigenvalues, got {lam.size} values."
        raise InputError(msg)
    tau = np.asarray(timescales(np.clip(lam, 0.0, None)), dtype=np.float64)
    comps = np.arange(1, lam.size + 1)
    texts = ["∞" if np.isinf(t) else ("—" if np.isnan(t) else f"{t:.4g}") for t in tau]
    trivial = "trivial λ₀ = 1 (dropped)" + (f" ×{n_comp} components" if n_comp > 1 else "")
    fig = go.Figure([
        go.Scatter(
            x=[0], y=[1.0], mode="markers", name=trivial,
            marker={"symbol": "star", "size": 14, "color": "#9aa5b1"},
            hovertemplate="<b>λ₀ = 1</b> (trivial: stationary distribution)<br>"
            "timescale = ∞<extra></extra>",
        ),
        go.Scatter(
            x=comps, y=lam, mode="lines+markers", name="eigenvalue λ",
            marker={"size": 9, "color": "#4e79a7"}, customdata=texts,
            hovertemplate="<b>dc%{x}</b><br>λ = %{y:.6f}<br>timescale −1/log λ = "
            "%{customdata}<extra></extra>",
        ),
    ])  # fmt: skip
    if lam.size >= 2:
        gap = int(np.argmax(lam[:-1] - lam[1:]))
        fig.add_vline(x=gap + 1.5, line={"color": "#9aa5b1", "dash": "dot", "width": 1.5},
                      annotation={"text": "largest gap"}, annotation_position="top right")
    fig.update_layout(
        template="plotly_white", height=420,
        title={"text": plotly_text(title) if title else "Diffusion spectrum"},
        xaxis={"title": {"text": "component"}, "dtick": 1},
        yaxis={"title": {"text": "eigenvalue λ"}},
        margin={"l": 64, "r": 24, "t": 56, "b": 48},
    )  # fmt: skip
    return fig

