"""Self-contained, offline HTML report of a saved run (``diffembed report OUT/``).

Reads ``embedding.parquet``, ``spectrum.csv`` and ``manifest.json``; writes plotly figures with
plotly.js inline and every user string escaped. Defence in depth: a Content-Security-Policy lets
only the page's own two scripts run (by hash; plotly's WebGL needs ``'unsafe-eval'``) and load
nothing, so an injected ``<img onerror=...>`` could neither run nor fetch.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError
from .interactive import (
    Coloring,
    embedding_spec,
    figure_json,
    make_coloring,
    safe_json,
    sample_indices,
    spectrum_figure,
    value_texts,
)

__all__ = ["MAX_POINTS", "build_report_html", "read_spectrum", "write_report"]

#: Above this many embedded points the scatters show a seeded sample.
MAX_POINTS = 200_000
_DC = re.compile(r"^dc(\d+)$")


# --------------------------------------------------------------------------- reading


def read_spectrum(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``spectrum.csv`` (header ``component,eigenvalue,timescale``).

    Parameters
    ----------
    path
        The CSV file; ``timescale`` may be absent, empty, ``inf`` or ``nan``.

    Returns
    -------
    list of dict
        One ``{"component", "eigenvalue", "timescale"}`` dict of floats per row.
    """
    path = Path(path)

    def num(text: str | None) -> float:
        try:
            return float(text) if text not in (None, "") else math.nan
        except ValueError:
            return math.nan

    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = set(reader.fieldnames or [])
        if not {"component", "eigenvalue"} <= fields:
            msg = f"{path} has columns {sorted(fields)}, not component,eigenvalue,timescale. "
            raise InputError(msg + "Rerun `diffembed map` to rewrite it.")
        keys = ("component", "eigenvalue", "timescale")
        rows = [{key: num(row.get(key)) for key in keys} for row in reader]
    return [row for row in rows if math.isfinite(row["component"])]


def _read_outputs(out_dir: Path) -> tuple[Any, list[dict[str, float]] | None, dict | None]:
    import pyarrow.parquet as pq

    fix = f": run `diffembed map INPUT --out {out_dir}` first, or pass the directory it wrote."
    emb, man, spec = (out_dir / f for f in ("embedding.parquet", "manifest.json", "spectrum.csv"))
    if not emb.is_file():
        what = "" if out_dir.is_dir() else f" ({out_dir} does not exist)"
        msg = f"{emb} is missing{what}, so there is nothing to report{fix}"
        raise InputError(msg)
    manifest, problem = None, ""
    try:
        table = pq.read_table(emb)
        if man.is_file():
            problem = f"{man} is not a valid JSON object"
            manifest = json.loads(man.read_text(encoding="utf-8"))
            problem = "" if isinstance(manifest, dict) else problem
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these too
        problem = problem or f"Cannot read {emb}"
        msg = f"{problem} ({exc}){fix}"
        raise InputError(msg) from exc
    if problem:
        raise InputError(problem + fix)
    return table, read_spectrum(spec) if spec.is_file() else None, manifest


def _columns(embedding: Any) -> dict[str, np.ndarray]:
    """Columns of a pyarrow Table or a mapping as 1-D numpy arrays (nulls as NaN or None)."""
    if hasattr(embedding, "column_names") and hasattr(embedding, "column"):
        return {str(c): np.asarray(embedding.column(c).to_numpy()) for c in embedding.column_names}
    if isinstance(embedding, Mapping):
        return {str(c): np.asarray(v) for c, v in embedding.items()}
    msg = f"embedding must be a pyarrow Table or a dict of columns, not {type(embedding)}."
    raise InputError(msg)


# --------------------------------------------------------------------------- formatting


def _fmt(value: Any, digits: int = 4) -> str:
    """Display text of a manifest value (raw: escape before writing)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return ("∞" if value > 0 else "−∞") if math.isinf(value) else f"{value:.{digits}g}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        mapping = mapping.get(key) if isinstance(mapping, Mapping) else None
    return mapping


def _section(manifest: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return value if isinstance(value := manifest.get(key), Mapping) else {}


def _input_name(manifest: Mapping[str, Any]) -> str:
    dataset, path = _get(manifest, "input", "dataset"), _get(manifest, "input", "path")
    if dataset:
        return str(dataset)
    return (Path(str(path)).name or str(path)) if path else "a saved run"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(rows: Sequence[tuple[Any, Any]]) -> str:
    if not rows:
        return '<p class="empty">not recorded</p>'
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _kpi(key: str, value: str, sub: str = "", warn: bool = False) -> str:
    sub = f'<div class="s">{_e(sub)}</div>' if sub else ""
    head = f'<div class="kpi{" warn" if warn else ""}"><div class="k">{_e(key)}</div>'
    return f'{head}<div class="v">{_e(value)}</div>{sub}</div>'


def _timings(timings: Mapping[str, Any]) -> str:
    items = [(str(k), float(v)) for k, v in timings.items() if type(v) in (int, float)]
    items = [(k, v) for k, v in items if math.isfinite(v)]
    if not items:
        return '<p class="empty">not recorded</p>'
    total = dict(items).get("total") or sum(v for k, v in items if k != "total") or 1.0
    rows = []
    for name, sec in sorted(items, key=lambda kv: kv[0] == "total"):
        cls, width = ("total" if name == "total" else ""), max(0.0, min(100.0, 100 * sec / total))
        bar = f'<td><div class="bar {cls}" style="width:{width:.1f}%"></div></td>'
        rows.append(
            f'<tr class="{cls}"><th>{_e(name)}</th>{bar}<td class="num">{sec:.3g} s</td></tr>'
        )
    return f'<table class="timings">{"".join(rows)}</table>'


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


# --------------------------------------------------------------------------- the page

_CSS = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f4f6f9;--card:#fff;--accent:#3e6fa3}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.wrap{max-width:1380px;margin:0 auto;padding:0 24px}
header.top{background:linear-gradient(120deg,#243b53,#334e68 55%,#3e6fa3);color:#fff;
padding:24px 0 20px}
.eyebrow{text-transform:uppercase;letter-spacing:.14em;font-size:11px;opacity:.7}
h1{margin:4px 0 6px;font-size:27px;font-weight:650;overflow-wrap:anywhere}
.summary{margin:0;font-size:17px}.summary b{font-weight:650}
.meta{margin:6px 0 0;font-size:13px;opacity:.72;overflow-wrap:anywhere}
main{padding-top:20px;padding-bottom:4px}
.notice{background:#fffbea;border:1px solid #f7d070;border-left:4px solid #f0b429;
border-radius:8px;padding:8px 14px;margin:0 0 12px;font-size:14px}
.grid{display:grid;gap:18px;margin-bottom:18px}
.main-row{grid-template-columns:minmax(0,2.4fr) minmax(300px,1fr)}
.halves{grid-template-columns:repeat(auto-fit,minmax(440px,1fr))}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:16px 18px;
box-shadow:0 1px 3px rgba(16,42,67,.06);min-width:0}
.card h2{font-size:16px;margin:0 0 2px;font-weight:650}
.card .sub{margin:0 0 6px;color:var(--muted);font-size:13px}
.card h3{font-size:12px;text-transform:uppercase;letter-spacing:.09em;color:var(--muted);
margin:18px 0 6px}.plot{width:100%;min-height:400px}
.kpis{display:grid;grid-template-columns:1fr 1fr;gap:10px;margin-top:10px}
.kpi{border:1px solid var(--line);border-radius:10px;padding:8px 12px;background:#fafbfc}
.kpi .k{font-size:12px;color:var(--muted)}.kpi .s{font-size:12px;color:var(--muted)}
.kpi .v{font-size:20px;font-weight:650;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.kpi.warn{border-color:#f0b429;background:#fffbea}
table{width:100%;border-collapse:collapse;font-size:14px}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{color:var(--muted);font-weight:500;width:40%;overflow-wrap:anywhere}
td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;
overflow-wrap:anywhere}.timings th{width:30%}.timings td{vertical-align:middle}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;width:6em}
.bar{height:8px;border-radius:4px;background:#9fb3c8;min-width:2px}
.bar.total{background:var(--accent)}
tr.total th,tr.total td{font-weight:650;color:var(--ink);border-bottom:0}details{margin-top:14px}
summary{cursor:pointer;color:var(--accent);font-size:14px}
.empty{color:var(--muted);font-style:italic;padding:24px 0;text-align:center}
footer{color:var(--muted);font-size:12px;padding:4px 24px 28px;text-align:center}
@media (max-width:960px){.main-row,.halves{grid-template-columns:1fr}}
"""

_LOADER = """(function () {
  "use strict";
  var store = JSON.parse(document.getElementById("de-store").textContent), cache = {};
  var types = {f4: Float32Array, f8: Float64Array, i1: Int8Array, u1: Uint8Array,
               i2: Int16Array, u2: Uint16Array, i4: Int32Array, u4: Uint32Array};
  function decode(spec) {
    var bin = atob(spec.bdata), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new types[spec.dtype](bytes.buffer);
  }
  function resolve(o) {
    if (Array.isArray(o)) return o.map(resolve);
    if (o === null || typeof o !== "object") return o;
    if (typeof o.__ref__ === "string") {
      var key = o.__ref__, v = store[key];
      var typed = v && typeof v.bdata === "string" && types[v.dtype];
      if (!(key in cache)) cache[key] = typed ? decode(v) : resolve(v);
      return cache[key];
    }
    var out = {};
    Object.keys(o).forEach(function (k) { out[k] = resolve(o[k]); });
    return out;
  }
  var gl = false, canvas = document.createElement("canvas");
  try { gl = !!(canvas.getContext("webgl") || canvas.getContext("experimental-webgl")); }
  catch (e) { gl = false; }
  function say(div, text) { div.textContent = text; div.className += " empty"; }
  document.querySelectorAll("script[type='application/json'][data-plot]").forEach(function (el) {
    var div = document.getElementById(el.getAttribute("data-plot"));
    if (!div) return;
    if (typeof Plotly === "undefined") return say(div, "plotly.js did not load.");
    var fig = resolve(JSON.parse(el.textContent));
    if (!gl) {
      var is3d = fig.data.some(function (t) { return t.type === "scatter3d"; });
      if (is3d) return say(div, "The 3-D view needs WebGL, which this browser lacks.");
      fig.data.forEach(function (t) { if (t.type === "scattergl") t.type = "scatter"; });
    }
    Plotly.newPlot(div, fig.data, fig.layout, fig.config);
  });
})();
"""


def _render_page(
    manifest: Mapping[str, Any],
    counts: tuple[int, int, int, int],
    eigen: Sequence[Mapping[str, float]],
    notices: Sequence[str],
    figures: Mapping[str, str],
    store: str,
    source: str | None,
) -> str:
    from plotly.offline import get_plotlyjs

    from .. import __version__

    n_total, n_valid, n_shown, k = counts
    res, params, inp = (_section(manifest, key) for key in ("results", "parameters", "input"))
    name, bw, dim = _input_name(manifest), res.get("bandwidth"), res.get("intrinsic_dimension")
    parts = [f"<b>{n_total:,}</b> points", f"<b>{k}</b> coordinate{'s' if k != 1 else ''}"]
    if bw is not None:
        parts.append(f"bandwidth ε = <b>{_e(_fmt(bw))}</b>")
    if dim is not None:
        parts.append(f"intrinsic dimension d ≈ <b>{_e(_fmt(dim, 3))}</b>")
    meta = [f"diffembed {manifest.get('command') or ''}".strip()]
    meta += [str(v) for v in (manifest.get("created"), inp.get("path")) if v]
    lam = [r["eigenvalue"] for r in eigen]
    gap = ""
    if len(lam) >= 3 and all(math.isfinite(v) for v in lam):
        gap = f"largest eigengap after dc{int(eigen[int(np.argmax(-np.diff(lam)))]['component'])}"
    n_dup, n_comp = res.get("n_duplicates"), res.get("n_connected_components")
    drawn = f" · {n_shown:,} drawn" if n_shown < n_valid else ""
    method = _fmt(res.get("bandwidth_method") or params.get("bandwidth"))
    kpis = "".join([
        _kpi("Bandwidth ε", _fmt(bw), method),
        _kpi("Intrinsic dimension", _fmt(dim, 3), "estimated" if dim is not None else ""),
        _kpi("Points embedded", f"{n_valid:,}", f"of {n_total:,}{drawn}", n_valid < n_total),
        _kpi("Coordinates", str(k), gap),
        _kpi("Duplicates", _fmt(n_dup), "identical points", type(n_dup) is int and n_dup > 0),
        _kpi("Graph components", _fmt(n_comp), "connected", type(n_comp) is int and n_comp > 1),
        _kpi("kNN search", _fmt(res.get("knn_method") or params.get("knn"))),
        _kpi("Eigensolver", _fmt(res.get("eigen_solver") or params.get("eigen_solver"))),
    ])  # fmt: skip

    def plot(fig_id: str, empty: str) -> str:
        if fig_id in figures:
            return f'<div id="{fig_id}" class="plot"></div>'
        return f'<p class="empty">{_e(empty)}</p>'

    keys = ("path", "dataset", "sha256", "n_samples", "n_features")
    input_rows = [(key, inp[key]) for key in keys if key in inp]
    input_rows += [("label column", manifest.get("label_column")), ("output directory", source)]
    run_keys = ("command", "created", "diffembed_version", "format_version")
    run_rows = [(key, manifest[key]) for key in run_keys if key in manifest]
    versions = list(_section(manifest, "versions").items())
    blocks = "\n".join(
        f'<script type="application/json" data-plot="{fid}">{payload}</script>'
        for fid, payload in figures.items()
    )
    plotlyjs = get_plotlyjs()
    csp = (
        f"default-src 'none'; script-src 'unsafe-eval' {_csp_hash(plotlyjs)} {_csp_hash(_LOADER)};"
        " "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; worker-src blob:; "
        "connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    notes = "".join(f'<div class="notice" role="note">{_e(n)}</div>' for n in notices)
    sub2d = (
        f"{n_shown:,} points (WebGL). Choose the colouring in the menu; click legend entries to "
        "hide groups; drag to zoom, double-click to reset."
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="diffembed {_e(__version__)}">
<title>Diffusion map · {_e(name)}</title>
<style>{_CSS}</style>
</head>
<body>
<header class="top"><div class="wrap">
<div class="eyebrow">diffembed report</div>
<h1>Diffusion map of {_e(name)}</h1>
<p class="summary">{" · ".join(parts)}</p>
<p class="meta">{_e(" · ".join(meta))}</p>
</div></header>
<main class="wrap">
{notes}
<section class="grid main-row">
<article class="card"><h2>Embedding · {"dc1 vs dc2" if k >= 2 else "dc1"}</h2>
<p class="sub">{_e(sub2d)}</p>
{plot("fig-2d", "No embedded points to draw.")}</article>
<aside class="card"><h2>Run summary</h2><div class="kpis">{kpis}</div>
<h3>Timings</h3>{_timings(_section(manifest, "timings"))}</aside>
</section>
<section class="grid halves">
<article class="card"><h2>Embedding · dc1, dc2, dc3</h2>
<p class="sub">3-D view: drag to rotate, scroll to zoom.</p>
{plot("fig-3d", "The 3-D view needs at least three diffusion coordinates.")}</article>
<article class="card"><h2>Eigenvalue spectrum</h2>
<p class="sub">Eigenvalues λ of the diffusion operator (markers) and timescales −1/log λ
(line, right axis).</p>
{plot("fig-spectrum", "No spectrum was saved with this run.")}</article>
</section>
<section class="grid halves">
<article class="card"><h2>Parameters</h2>{_table(list(params.items()))}</article>
<article class="card"><h2>Input</h2>{_table(input_rows)}
<h3>Run</h3>{_table(run_rows)}
<details><summary>Software versions</summary>{_table(versions)}</details></article>
</section>
</main>
<footer>Made by diffembed {_e(__version__)} · self-contained: plotly.js is embedded and nothing
is loaded from the network.</footer>
<script type="application/json" id="de-store">{store}</script>
{blocks}
<script>{plotlyjs}</script>
<script>{_LOADER}</script>
</body>
</html>
"""


def build_report_html(
    embedding: Any,
    spectrum: Sequence[Mapping[str, Any]] | None,
    manifest: Mapping[str, Any] | None,
    *,
    color_by: str | None = None,
    max_points: int = MAX_POINTS,
    source: str | None = None,
) -> str:
    """The report page as one HTML string (pure: reads and writes no file).

    Parameters
    ----------
    embedding
        ``pyarrow.Table`` or mapping of column name to 1-D array: ``id``, ``dc1``..``dcK``,
        optionally the label column named by ``manifest["label_column"]`` and ``cluster``.
        Rows with a NaN coordinate are skipped and counted.
    spectrum
        Rows with ``component``, ``eigenvalue`` and ``timescale``, or ``None``.
    manifest
        The run's ``manifest.json`` as a dict; any key may be missing.
    color_by
        Initial colouring: the label column, ``"cluster"`` or a coordinate such as ``"dc3"``.
        Default: the label column, else ``cluster``, else ``dc3``. Others raise InputError.
    max_points
        Above this many embedded points the scatters draw a seeded random sample (stratified by
        category when the colouring has categories) and the page says so.
    source
        Where the outputs were read from, shown in the input table.

    Returns
    -------
    str
        A complete HTML document with plotly.js inline.
    """
    manifest = dict(manifest or {})
    cols = _columns(embedding)
    dc_names = sorted((c for c in cols if _DC.match(c)), key=lambda c: int(c[2:]))
    if not dc_names:
        msg = f"The embedding has no diffusion coordinates (dc1..dcK), only {sorted(cols)}. "
        raise InputError(msg + "Rerun `diffembed map` to rewrite it.")
    n_total, k = len(cols[dc_names[0]]), len(dc_names)
    coords = np.column_stack([cols[c].astype(np.float64) for c in dc_names])
    valid = np.flatnonzero(np.all(np.isfinite(coords), axis=1))
    n_valid = int(valid.size)
    notices: list[str] = []
    if n_valid < n_total:
        notices.append(
            f"{n_total - n_valid:,} of {n_total:,} points were not embedded (NaN coordinates) "
            "and are not shown."
        )
    label = manifest.get("label_column")
    if label is not None and str(label) not in cols:
        notices.append(
            f"The label column '{label}' named in manifest.json is not in the embedding."
        )
    label = (
        str(label)
        if label is not None and str(label) in cols and str(label) not in dc_names
        else None
    )
    cluster = "cluster" if "cluster" in cols and label != "cluster" else None
    choices = [c for c in (label, cluster) if c] + dc_names
    if color_by is not None and color_by not in choices:
        msg = f"color_by={color_by!r} is not a column of the embedding; use one of {choices}."
        raise InputError(msg)
    group = (
        color_by if color_by is not None and color_by in (label, cluster) else (label or cluster)
    )
    coloring = (
        make_coloring(group, cols[group][valid], force_categorical=group == "cluster")
        if group
        else None
    )

    seed = _get(manifest, "parameters", "random_state")
    seed = seed if type(seed) is int and seed >= 0 else 0
    shown = np.arange(n_valid)
    if n_valid > max_points:
        codes = coloring.values if coloring is not None and coloring.is_categorical else None
        shown = sample_indices(n_valid, max_points, codes, seed)
        how = f"stratified by {group}" if codes is not None else "uniform"
        notices.append(
            f"The scatters show a random sample of {shown.size:,} of the {n_valid:,} embedded "
            f"points ({how}, seed {seed}); the statistics and the spectrum describe the whole run."
        )
    if coloring is not None:
        coloring = Coloring(coloring.name, coloring.values[shown], coloring.categories)
    rows = valid[shown]
    ids = value_texts(cols["id"][rows] if "id" in cols else rows)
    hover = {c: value_texts(cols[c][rows]) for c in (label, cluster) if c}
    common = {"ids": ids, "coloring": coloring, "hover": hover, "coord_names": dc_names}
    common["active"] = color_by if color_by in dc_names else None

    store: dict[str, Any] = {}
    config = {"displaylogo": False, "responsive": True, "showSendToCloud": False, "showLink": False}
    figures: dict[str, str] = {}
    if n_valid:
        pts = coords[rows]
        image = {"toImageButtonOptions": {"filename": "diffembed-embedding", "scale": 2}}
        figures["fig-2d"] = figure_json(embedding_spec(pts, **common), store, {**config, **image})
        if k >= 3:
            figures["fig-3d"] = figure_json(embedding_spec(pts, dims=3, **common), store, config)
    eigen = [
        {key: float(r.get(key, math.nan)) for key in ("component", "eigenvalue", "timescale")}
        for r in spectrum or []
    ]
    eigen = [r for r in eigen if math.isfinite(r["component"])]
    if eigen:
        fig = spectrum_figure(
            [int(r["component"]) for r in eigen],
            [r["eigenvalue"] for r in eigen],
            [r["timescale"] for r in eigen],
        )
        figures["fig-spectrum"] = figure_json(fig, store, config)
    elif spectrum is None:
        notices.append("No spectrum.csv was saved with this run, so the spectrum is not shown.")
    if not manifest:
        notices.append("No manifest.json was found: parameters and statistics are not available.")
    n_comp = _get(manifest, "results", "n_connected_components")
    if type(n_comp) is int and n_comp > 1:
        notices.append(
            f"The neighbour graph has {n_comp} connected components: coordinates from different "
            "components are not comparable. Increase n_neighbors to connect them."
        )
    counts = (n_total, n_valid, int(shown.size), k)
    return _render_page(manifest, counts, eigen, notices, figures, safe_json(store), source)


def write_report(
    out_dir: str | Path,
    path: str | Path | None = None,
    *,
    color_by: str | None = None,
    max_points: int = MAX_POINTS,
    source: str | None = None,
) -> Path:
    """Write the interactive HTML report of a saved run, atomically.

    Parameters
    ----------
    out_dir
        Directory written by ``diffembed map``: ``embedding.parquet`` (required),
        ``spectrum.csv`` and ``manifest.json`` (optional; the page says what is missing).
    path
        Where to write the page; default ``out_dir / "report.html"``.
    color_by
        Initial colouring (label column, ``"cluster"`` or ``"dcN"``), see
        :func:`build_report_html`.
    max_points
        Most points drawn in the scatters; larger runs show a stated, seeded sample.
    source
        Output directory named in the page; default ``out_dir`` (the CLI passes the user's
        directory when it builds the outputs in a temporary one).

    Returns
    -------
    pathlib.Path
        The report's path. The page is written to a temporary file in the same directory and
        moved into place with :func:`os.replace`, so no reader ever sees a partial page.
        A missing or unreadable ``embedding.parquet`` raises :class:`InputError`.
    """
    out_dir = Path(out_dir)
    table, spectrum, manifest = _read_outputs(out_dir)
    source = str(out_dir) if source is None else source
    page = build_report_html(
        table, spectrum, manifest, color_by=color_by, max_points=max_points, source=source
    )
    target = Path(path) if path is not None else out_dir / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(page)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
