"""Self-contained, offline HTML report of a saved tree (``diffembed tree``, ``diffembed report``).

Reads ``levels.parquet`` (required), ``coordinates.npy`` and ``manifest.json`` from an output
directory of ``diffembed tree`` and writes one page with plotly.js inline: the hierarchy as an
icicle beside the points (first two diffusion coordinates, or a 2-D PCA when the coordinates
are not diffusion coordinates), linked by one colour dropdown (:mod:`.tree_figures`); a table
of the offered levels (clusters, height, persistence, salience, agreement with the label);
the run summary, timings, parameters and input. Every user string is escaped in markup and
in plotly text; data travel as JSON made safe by :func:`~.encoding.safe_json`; a hash-based
Content-Security-Policy lets only the page's own scripts run and load nothing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError
from .encoding import figure_json, safe_json
from .explorer import ExplorerSection, explorer_section, nearest_neighbours, static_text
from .interactive import make_coloring, sample_indices, value_texts
from .page import (
    _e,
    _fmt,
    _kpi,
    _table,
    _timings,
    page_document,
    report_assets,
    write_page,
)
from .tree_figures import (
    ICICLE_TARGETS,
    MENU_TARGETS,
    TreeLevels,
    closest_levels,
    tree_figure_spec,
)

__all__ = ["MAX_POINTS", "build_tree_report_html", "read_tree_outputs", "write_tree_report"]

#: Above this many points the scatter draws a stated, seeded random sample.
MAX_POINTS = 200_000
#: Neighbours per point listed by the explorer (searched in the tree's coordinates).
EXPLORER_NEIGHBOURS = 10
#: Diffusion coordinates offered as explorer axes.
MAX_EXPLORER_AXES = 10
_LEVEL = re.compile(r"^level_(\d+)$")
_FIX = "run `diffembed tree INPUT -o {out}` first, or pass the directory it wrote"


def read_tree_outputs(out_dir: str | Path) -> tuple[Any, np.ndarray | None, dict[str, Any]]:
    """``levels.parquet``, ``coordinates.npy`` (or None) and ``manifest.json`` (or {}).

    Raises
    ------
    InputError
        A missing or unreadable ``levels.parquet``, an unreadable coordinates file or
        manifest, each with the fix.
    """
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    fix = _FIX.format(out=out_dir)
    levels = out_dir / "levels.parquet"
    if not levels.is_file():
        what = "" if out_dir.is_dir() else f" ({out_dir} does not exist)"
        msg = f"{levels} is missing{what}, so there is no tree to report: {fix}."
        raise InputError(msg)
    try:
        table = pq.read_table(levels)
    except (OSError, ValueError) as exc:
        msg = f"Cannot read {levels} ({exc}): {fix}."
        raise InputError(msg) from exc
    coords = None
    path = out_dir / "coordinates.npy"
    if path.is_file():
        try:
            coords = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            msg = f"Cannot read {path} ({exc}): {fix}, or delete the file."
            raise InputError(msg) from exc
    manifest: Any = {}
    path = out_dir / "manifest.json"
    if path.is_file():
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"{path} is not valid JSON ({exc}): {fix}."
            raise InputError(msg) from exc
        if not isinstance(manifest, dict):
            msg = f"{path} is not a JSON object: {fix}."
            raise InputError(msg)
    return table, coords, manifest


# ------------------------------------------------------------------------------ helpers
def _section(manifest: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return value if isinstance(value := manifest.get(key), Mapping) else {}


def _columns(table: Any) -> dict[str, np.ndarray]:
    if hasattr(table, "column_names") and hasattr(table, "column"):
        return {str(c): np.asarray(table.column(c).to_numpy()) for c in table.column_names}
    if isinstance(table, Mapping):
        return {str(c): np.asarray(v) for c, v in table.items()}
    msg = f"levels must be a pyarrow Table or a dict of columns, not {type(table)}."
    raise InputError(msg)


def _projection(
    coords: np.ndarray | None, space: Any, groups: np.ndarray | None
) -> tuple[np.ndarray | None, tuple[str, str], bool]:
    """Scatter positions, axis names and whether the components are drawn as tiles.

    Diffusion coordinates: the first two columns. When the points fall in several groups
    (``component``: graph components, each with its own coordinates), every group is centred,
    scaled to radius ≈ 1 (its 98th-percentile distance to the centre) times √(its share of
    the largest group, at least 0.35) and drawn in its own tile of a grid, largest first: the
    coordinates of different components are not comparable. Other coordinates (``space=
    "input"``): a 2-D PCA with fixed signs.
    """
    if coords is None or coords.ndim != 2 or coords.shape[1] == 0:
        return None, ("dc1", "dc2"), False
    coords = np.asarray(coords, dtype=np.float64)
    n = coords.shape[0]
    if space == "input" or coords.shape[1] < 2:
        centred = coords - coords.mean(axis=0)
        if coords.shape[1] == 1:
            return np.column_stack([centred[:, 0], np.zeros(n)]), ("PC1", "—"), False
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        pcs = centred @ vt[:2].T
        pcs *= np.where(pcs[np.argmax(np.abs(pcs), axis=0), [0, 1]] < 0, -1.0, 1.0)
        return pcs, ("PC1", "PC2"), False
    xy = coords[:, :2].copy()
    if groups is None or np.unique(groups).size < 2:
        return xy, ("dc1", "dc2"), False
    keys, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.argsort(-sizes, kind="stable")
    cols = math.ceil(math.sqrt(keys.size))
    for tile, g in enumerate(order):
        members = inverse == g
        block = xy[members] - np.median(xy[members], axis=0)
        radius = float(np.percentile(np.hypot(block[:, 0], block[:, 1]), 98)) or 1.0
        scale = max(math.sqrt(sizes[g] / sizes[order[0]]), 0.35) / radius
        xy[members] = block * scale + [2.6 * (tile % cols), -2.6 * (tile // cols)]
    return xy, ("dc1 (per component)", "dc2 (per component)"), True


def _level_rows(
    menu: Sequence[int],
    tree: TreeLevels,
    meta: Mapping[int, Mapping[str, Any]],
    label: tuple[str, np.ndarray] | None,
) -> str:
    """The table of the offered levels, with the ARI against a categorical label."""
    ari_of = None
    if label is not None:
        coloring = make_coloring(label[0], label[1])
        if coloring.categories is not None and len(coloring.categories) >= 2:
            from sklearn.metrics import adjusted_rand_score

            known = coloring.values >= 0

            def ari_of(j: int) -> float:
                return float(adjusted_rand_score(coloring.values[known], tree.labels[j][known]))

    head = "<tr><th>level</th><th>clusters</th><th>height</th><th>persistence</th><th>salient</th>"
    head += f"<th>ARI vs {_e(label[0])}</th></tr>" if ari_of else "</tr>"
    body = []
    for j in sorted(menu, key=lambda j: tree.counts[j]):
        m = meta.get(j, {})
        star = "★ yes" if j in tree.salient else ""
        cells = [
            str(j),
            f"{tree.counts[j]:,}",
            _fmt(m.get("scale"), 3),
            _fmt(m.get("persistence"), 3),
            star,
        ]
        if ari_of:
            cells.append(f"{ari_of(j):.3f}")
        cls = ' class="salient"' if j in tree.salient else ""
        body.append(
            f"<tr{cls}>" + "".join(f'<td class="num">{_e(c)}</td>' for c in cells) + "</tr>"
        )
    return f'<div class="scroll"><table class="levels">{head}{"".join(body)}</table></div>'


def _neighbours_within(
    coordinates: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, str]:
    """:data:`EXPLORER_NEIGHBOURS` nearest points of each point within its graph component.

    The diffusion coordinates of different components are not comparable, so neighbours are
    searched inside each one (-1 where a component has too few points).
    """
    n, k = coordinates.shape[0], EXPLORER_NEIGHBOURS
    ind = np.full((n, k), -1, dtype=np.int32)
    dist = np.full((n, k), np.nan, dtype=np.float32)
    how = "exact"
    finite = np.all(np.isfinite(coordinates), axis=1)
    for g in np.unique(groups):
        members = np.flatnonzero((groups == g) & finite)
        if members.size < 2:
            continue
        i, d, method = nearest_neighbours(coordinates, k, rows=members)
        ind[members, : i.shape[1]] = i[members]
        dist[members, : d.shape[1]] = d[members]
        how = method if method != "exact" else how
    metric = "euclidean, within each graph component"
    return ind, dist, metric if how == "exact" else f"{metric}, approximate (HNSW)"


def _tree_explorer(
    cols: Mapping[str, np.ndarray],
    coordinates: np.ndarray,
    xy: np.ndarray,
    axes: tuple[str, str],
    flat: bool,
    tree: TreeLevels,
    menu: Sequence[int],
    active: int | str | None,
    label: tuple[str, np.ndarray] | None,
    space: Any,
    max_points: int,
    seed: int,
) -> ExplorerSection:
    """The explorer of the tree's points: colour by any offered level, search, neighbours.

    Axes: the diffusion coordinates (up to :data:`MAX_EXPLORER_AXES`) when ``flat`` (not tiled,
    not PCA), else the drawn 2-D layout. Neighbours: the nearest points in the coordinates
    the tree was built on.
    """
    counts = tree.counts
    names = {
        j: f"level_{j} · {counts[j]:,} clusters" + (" ★" if j in tree.salient else "") for j in menu
    }
    skip = {"id", *(label[0:1] if label else ())}
    metadata: dict[str, np.ndarray] = {names[j]: tree.labels[j] for j in menu}
    metadata.update({c: v for c, v in cols.items() if c not in skip and not _LEVEL.match(c)})
    colour = names.get(active) if isinstance(active, int) else (label[0] if label else None)
    if flat:
        k = min(coordinates.shape[1], MAX_EXPLORER_AXES)
        coords, coord_names = coordinates[:, :k], [f"dc{j + 1}" for j in range(k)]
        titles = [f"dc{j + 1} · diffusion coordinate {j + 1}" for j in range(k)]
    else:
        coords, coord_names = xy, list(axes)
        titles = [f"{a} of the coordinates" if a.startswith("PC") else a for a in axes]
    where = "input" if space == "input" else "diffusion"
    neighbours: Any = EXPLORER_NEIGHBOURS
    distances, metric = None, "euclidean"
    groups = cols.get("component")
    if where == "diffusion" and groups is not None and np.unique(groups).size > 1:
        neighbours, distances, metric = _neighbours_within(coordinates, groups)
    return explorer_section(
        coords, None if label is None else label[1], label_name=label[0] if label else "label",
        ids=cols.get("id"), metadata=metadata, colour_by=colour,
        categorical=[*names.values(), "component"], coord_names=coord_names,
        axis_titles=titles,
        neighbours=neighbours, neighbour_distances=distances, neighbour_space=coordinates,
        metric=metric, space=where,
        max_points=max_points, random_state=seed, title="Points explorer",
        intro=f"Colour by any offered level (★ salient), search the labels, click a point for "
        f"its {EXPLORER_NEIGHBOURS} nearest neighbours in the {where} coordinates the tree was "
        "built on, select with the box or lasso to list and download rows.",
    )  # fmt: skip


# ------------------------------------------------------------------------------ building
def build_tree_report_html(
    levels: Any,
    coordinates: np.ndarray | None,
    manifest: Mapping[str, Any] | None,
    *,
    color_by: str | None = None,
    max_points: int = MAX_POINTS,
    source: str | None = None,
) -> str:
    """The tree report as one HTML string (pure: reads and writes no file).

    Parameters
    ----------
    levels
        ``pyarrow.Table`` or mapping of column name to 1-D array: ``id``, the label column
        named by ``manifest["label_column"]`` and ``level_<j>`` columns (nested labels).
    coordinates
        ``(n, K)`` coordinates of the points, or ``None`` (no scatter; the page says so).
    manifest
        The run's ``manifest.json`` as a dict; any key may be missing.
    color_by
        Initial colouring: a ``level_<j>`` column or the label column. Default: the most
        persistent salient level; without one, the level closest to the number of label
        categories (2-20 of them), else to 8 clusters.
    max_points
        Above this many points the scatter draws a seeded random sample (the page says so).
    source
        The output directory named in the page.

    Returns
    -------
    str
        A complete HTML document with plotly.js inline.
    """
    manifest = dict(manifest or {})
    cols = _columns(levels)
    level_cols = {int(m.group(1)): c for c in cols if (m := _LEVEL.match(c))}
    if not level_cols:
        msg = f"levels.parquet has no level columns (level_0, level_1, ...), only {sorted(cols)}: "
        raise InputError(msg + _FIX.format(out=source or "OUT") + ".")
    n = len(next(iter(cols.values())))
    labels = {j: np.asarray(cols[c], dtype=np.int64) for j, c in sorted(level_cols.items())}
    res = _section(manifest, "results")
    salient = [j for j in res.get("salient_levels") or [] if type(j) is int and j in labels]
    tree = TreeLevels(labels, salient)
    counts = tree.counts
    meta = {
        m["level"]: m
        for m in manifest.get("levels") or []
        if isinstance(m, Mapping) and type(m.get("level")) is int
    }
    label_name = manifest.get("label_column")
    notices: list[str] = []
    if label_name is not None and str(label_name) not in cols:
        notices.append(
            f"The label column '{label_name}' named in manifest.json is not in levels.parquet."
        )
    label = (
        (str(label_name), cols[str(label_name)])
        if label_name is not None and str(label_name) in cols
        else None
    )
    choices = [f"level_{j}" for j in labels] + ([label[0]] if label else [])
    if color_by is not None and color_by not in choices:
        either = f"the label column {label[0]!r} or " if label else ""
        msg = (
            f"color_by={color_by!r} is not a column that colours this tree; use {either}a level "
            f"column of levels.parquet (level_{min(labels)} ... level_{max(labels)})."
        )
        raise InputError(msg)

    menu = closest_levels(counts, MENU_TARGETS, low=2, high=max(n - 1, 2))
    menu += [j for j in salient[:6] if counts[j] < n]
    active: int | str | None = None
    if color_by is not None:
        active = "label" if label and color_by == label[0] else int(color_by[6:])
        menu += [active] if isinstance(active, int) else []
    elif salient:
        active = salient[0]
    else:
        coloring = make_coloring(label[0], label[1]) if label else None
        m = len(coloring.categories) if coloring and coloring.categories else 0
        want = m if 2 <= m <= 20 else 8
        near = closest_levels(counts, [want], low=2, high=max(n - 1, 2))
        active = near[0] if near else None
        menu += near
    menu = sorted(set(menu), key=lambda j: counts[j])
    icicle = closest_levels(counts, ICICLE_TARGETS, high=max(64, min(counts.values())))

    params = _section(manifest, "parameters")
    groups = cols.get("component")
    xy, axes, tiled = _projection(coordinates, params.get("space"), groups)
    if xy is not None and xy.shape[0] != n:
        notices.append(
            f"coordinates.npy has {xy.shape[0]:,} rows but levels.parquet {n:,}: the points "
            "are not drawn; rerun `diffembed tree`."
        )
        xy = None
    seed = params.get("random_state")
    seed = seed if type(seed) is int and seed >= 0 else 0
    rows = np.arange(n)
    if xy is not None and n > max_points:
        rows = sample_indices(n, max_points, None, seed)
        notices.append(
            f"The scatter shows a random sample of {rows.size:,} of the {n:,} points (seed "
            f"{seed}); the tree and the tables describe all of them."
        )
    if xy is None:
        rows = np.zeros(0, dtype=np.int64)
        if coordinates is None:
            notices.append("No coordinates.npy was saved with this tree: the points are not drawn.")
    n_comp = res.get("n_connected_components")
    if tiled:
        notices.append(
            f"The neighbour graph falls into {np.unique(groups).size} parts with their own "
            "diffusion coordinates, which are not comparable across parts: the scatter draws "
            "each part in its own tile (centred and scaled), largest first."
        )
    ids = cols["id"][rows] if "id" in cols else rows
    ids = ids if np.asarray(ids).dtype.kind in "iu" else np.asarray(value_texts(ids), dtype=object)
    spec = tree_figure_spec(
        tree, None if xy is None else xy[rows], rows, ids=ids, axis_names=axes, label=label,
        menu=menu, icicle=icicle, active=active, ticks=not tiled,
    )  # fmt: skip
    store: dict[str, Any] = {}
    config = {"displaylogo": False, "responsive": True, "showSendToCloud": False, "showLink": False}
    figure = figure_json(spec, store, config)
    explorer = None
    if xy is not None:
        explorer = _tree_explorer(
            cols, np.asarray(coordinates, dtype=np.float64), xy, axes,
            not tiled and axes[0] != "PC1", tree, menu, active, label, params.get("space"),
            max_points, seed,
        )  # fmt: skip

    inp = _section(manifest, "input")
    name = inp.get("dataset") or (
        Path(str(inp["path"])).name if inp.get("path") else "a saved tree"
    )
    engine = params.get("engine")
    k_salient = [counts[j] for j in salient]
    summary = [f"<b>{n:,}</b> points", f"<b>{res.get('n_levels', len(labels))}</b> levels"]
    if engine:
        summary.append(f"engine <b>{_e(engine)}</b>")
    summary.append(
        f"salient: <b>{_e(', '.join(f'{k} clusters' for k in k_salient[:4]))}</b>"
        if k_salient
        else "no level above the permutation null"
    )
    meta_line = [f"diffembed {manifest.get('command') or 'tree'}"]
    meta_line += [str(v) for v in (manifest.get("created"), inp.get("path")) if v]
    null = res.get("salience_threshold", res.get("null_persistence"))
    kpis = "".join([
        _kpi("Points", f"{n:,}", f"{rows.size:,} drawn" if rows.size < n else ""),
        _kpi("Levels", _fmt(res.get("n_levels", len(labels))), f"{len(labels)} written"),
        _kpi("Salient levels", str(len(salient)), "persistence above the null"),
        _kpi("Salience threshold", _fmt(null, 3), "persistence ÷ null, max over null draws"),
        _kpi("Graph components", _fmt(n_comp), "connected", type(n_comp) is int and n_comp > 1),
        _kpi("Coordinates", _fmt(res.get("embedding_dims")),
             "PCA drawn" if axes[0] == "PC1" else "first two drawn"),
    ])  # fmt: skip
    input_rows = [
        (k, inp[k]) for k in ("path", "dataset", "sha256", "n_samples", "n_features") if k in inp
    ]
    input_rows += [("label column", label_name), ("output directory", source)]
    run_rows = [
        (k, manifest[k])
        for k in ("command", "created", "diffembed_version", "format_version")
        if k in manifest
    ]
    versions = list(_section(manifest, "versions").items())
    scripts = list(explorer.scripts) if explorer else []
    pca = axes[0] == "PC1"
    where = "a 2-D PCA of their coordinates" if pca else "their first two diffusion coordinates"
    main = f"""<section class="card tree"><h2>Tree and points</h2>
<p class="sub">Left: the hierarchy as an icicle, root on top, one row per level (named on its
left), each node as wide as its number of points (click a node to zoom in). Right: the points
at {_e(where)}. The menu colours both by one level (★ salient: more persistent than a
permutation null) or by the label; the colour bar is the scatter's legend.</p>
<div id="fig-tree" class="plot tall"></div></section>
{explorer.html if explorer else ""}
<section class="grid halves">
<article class="card"><h2>Levels offered</h2>
<p class="sub">Height: the merge height at which the level formed. Persistence: log gap to
the next merge height.</p>{_level_rows(menu, tree, meta, label)}</article>
<aside class="card"><h2>Run summary</h2><div class="kpis">{kpis}</div>
<h3>Timings</h3>{_timings(_section(manifest, "timings"))}</aside>
</section>
<section class="grid halves">
<article class="card"><h2>Parameters</h2>{_table(list(params.items()))}</article>
<article class="card"><h2>Input</h2>{_table(input_rows)}
<h3>Run</h3>{_table(run_rows)}
<details><summary>Software versions</summary>{_table(versions)}</details></article>
</section>"""
    return page_document(
        title=f"Diffusion hierarchy · {name}",
        eyebrow="diffembed tree report",
        heading=f"Diffusion hierarchy of {name}",
        summary=" · ".join(summary),
        meta=" · ".join(meta_line),
        main=main,
        scripts=scripts,
        css=static_text("report.css") + _CSS + (explorer.css if explorer else ""),
        notices=notices,
        plots={"fig-tree": figure},
        store=safe_json(store),
    )


_CSS = """
.plot.tall{min-height:640px}.scroll{overflow-x:auto}
table.levels th,table.levels td{width:auto;text-align:right}
table.levels td{font-variant-numeric:tabular-nums}
table.levels tr.salient td{font-weight:650;background:#f0f4f8}
"""


def write_tree_report(
    out_dir: str | Path,
    path: str | Path | None = None,
    *,
    color_by: str | None = None,
    max_points: int = MAX_POINTS,
    source: str | None = None,
    assets: str | None = None,
) -> Path:
    """Write the HTML report of a saved tree, atomically.

    Parameters
    ----------
    out_dir
        Directory written by ``diffembed tree``: ``levels.parquet`` (required),
        ``coordinates.npy`` and ``manifest.json`` (optional; the page says what is missing).
    path
        Where to write the page; default ``out_dir / "report.html"``.
    color_by
        Initial colouring, see :func:`build_tree_report_html`.
    max_points
        Most points drawn in the scatter.
    source
        Output directory named in the page; default ``out_dir``.
    assets
        How the page carries plotly.js: ``"inline"`` (self-contained), ``"shared"`` (one
        ``plotly.min.js`` written beside it) or ``None`` (the current choice, see
        :func:`~diffembed.plotting.page.report_assets`).

    Returns
    -------
    pathlib.Path
        The page's path (written to a temporary file and moved into place).
    """
    out_dir = Path(out_dir)
    table, coords, manifest = read_tree_outputs(out_dir)
    with report_assets(assets):
        page = build_tree_report_html(
            table, coords, manifest, color_by=color_by, max_points=max_points,
            source=str(out_dir) if source is None else source,
        )  # fmt: skip
        return write_page(page, Path(path) if path is not None else out_dir / "report.html")
