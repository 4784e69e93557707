"""Self-contained, offline HTML report of ``diffembed stability``.

Reads ``metrics.csv``, ``overlap_at_k.csv``, ``sweep.csv`` and ``manifest.json`` from an output
directory and writes one page (plotly.js inline, nothing fetched): headline tiles (overlap@10
raw and smoothed with the change, the own-kNN honesty check, quality changes), overlap@k
against k per method, overlap@10 and quality against α or t, the full metric table raw vs
smoothed, parameters, input, timings and versions. User strings are escaped; data travel as
JSON made safe by :func:`~.encoding.safe_json`; a hash-based Content-Security-Policy lets
only the page's own scripts run.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..exceptions import InputError
from .encoding import figure_json, safe_json
from .explorer import static_text
from .page import _csp_hash, _e, _fmt, _kpi, _table, _timings  # shared page parts

__all__ = ["build_stability_report_html", "read_stability_outputs", "write_stability_report"]

_COLORS = {"raw": "#6b7280", "smoothed": "#2563eb", "own kNN (honesty check)": "#d97706"}
_FIX = "run `diffembed stability CORPUS -o {out}` first"


def _read_csv(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append({k: _number(v) for k, v in row.items()})
    return rows


def _number(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def read_stability_outputs(out_dir: str | Path) -> dict[str, Any]:
    """The tables and manifest of a ``diffembed stability`` output directory.

    Raises
    ------
    InputError
        When ``metrics.csv`` is missing (the fix is named).
    """
    out_dir = Path(out_dir)
    if not (out_dir / "metrics.csv").is_file():
        msg = f"{out_dir / 'metrics.csv'} is missing: {_FIX.format(out=out_dir)}."
        raise InputError(msg)
    manifest: Any = {}
    if (out_dir / "manifest.json").is_file():
        try:
            manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"Cannot read {out_dir / 'manifest.json'} ({exc}): {_FIX.format(out=out_dir)}."
            raise InputError(msg) from exc
    return {
        "metrics": _read_csv(out_dir / "metrics.csv"),
        "curve": _read_csv(out_dir / "overlap_at_k.csv"),
        "sweep": _read_csv(out_dir / "sweep.csv"),
        "manifest": manifest if isinstance(manifest, dict) else {},
    }


def _layout(x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {
        "template": "plotly_white",
        "margin": {"l": 60, "r": 60, "t": 20, "b": 50},
        "height": 380,
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}},
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


def _k_figure(curve: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    methods: dict[str, tuple[list[Any], list[Any]]] = {}
    for row in curve:
        xs, ys = methods.setdefault(str(row.get("method")), ([], []))
        xs.append(row.get("k"))
        ys.append(row.get("overlap"))
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": m,
            "x": xs,
            "y": ys,
            "line": {"color": _COLORS.get(m, "#111827")},
        }
        for m, (xs, ys) in methods.items()
    ]
    return {
        "data": data,
        "layout": _layout(
            "k (neighbours compared)",
            "NN-overlap@k across runs",
            xaxis={"type": "log", "title": {"text": "k"}},
        ),
    }


def _sweep_figure(sweep: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    if not sweep:
        return None
    op = sweep[0].get("operator")
    key = "alpha" if op == "ppr" else "t"
    xs = [row.get(key) for row in sweep]
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "overlap@10",
            "x": xs,
            "y": [row.get("overlap@10") for row in sweep],
            "line": {"color": "#2563eb"},
        }
    ]
    for name, color in (("ws353", "#059669"), ("simlex", "#7c3aed")):
        if any(row.get(name) is not None for row in sweep):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": name,
                    "x": xs,
                    "y": [row.get(name) for row in sweep],
                    "yaxis": "y2",
                    "line": {"color": color, "dash": "dot"},
                }
            )
    label = "α (PPR teleport; 1 = no smoothing)" if key == "alpha" else "t (heat time; 0 = none)"
    xaxis = {"title": {"text": label}}
    if key == "alpha":
        xaxis["autorange"] = "reversed"  # stronger smoothing to the right
    layout = _layout(
        label,
        "NN-overlap@10 across runs",
        xaxis=xaxis,
        yaxis2={"title": {"text": "Spearman ρ"}, "overlaying": "y", "side": "right"},
    )
    return {"data": data, "layout": layout}


_ROWS = (
    ("overlap@10", "NN-overlap@10 (all queries)"),
    ("overlap@10_sd_pairs", "s.d. over pairs"),
    ("jaccard@10", "Jaccard@10"),
    ("overlap@10_top1k", "overlap@10, top-1k words"),
    ("overlap@10_1k-5k", "overlap@10, words 1k-5k"),
    ("overlap@10_5k+", "overlap@10, words 5k+"),
    ("overlap@1", "overlap@1"),
    ("overlap@50", "overlap@50"),
    ("fidelity@10", "fidelity (overlap with own raw run)"),
    ("eis", "eigenspace instability (α=3)"),
    ("procrustes", "Procrustes distance"),
    ("ws353", "WS353 Spearman"),
    ("simlex", "SimLex-999 Spearman"),
    ("supersense_accuracy", "supersense accuracy"),
    ("disagreement", "prediction disagreement"),
    ("effective_rank", "effective rank"),
    ("mean_cosine", "mean cosine"),
    ("seconds_per_run", "smoothing seconds per run"),
)


def _metric_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return '<p class="empty">not recorded</p>'
    head = "".join(
        f"<th>{_e(r.get('method'))}<br><small>{_e(r.get('graph'))}</small></th>" for r in rows
    )
    body = []
    for key, name in _ROWS:
        if not any(isinstance(r.get(key), int | float) for r in rows):
            continue
        cells = []
        base = rows[0].get(key)
        for j, r in enumerate(rows):
            v = r.get(key)
            text = _fmt(v, 3) if v is not None else "–"
            if j and isinstance(v, int | float) and isinstance(base, int | float):
                text += f" ({v - base:+.3f})"
            cells.append(f'<td class="num">{_e(text)}</td>')
        body.append(f"<tr><th>{_e(name)}</th>{''.join(cells)}</tr>")
    table = f'<table class="metrics"><tr><th></th>{head}</tr>{"".join(body)}</table>'
    return f'<div class="scroll">{table}</div>'


def build_stability_report_html(data: Mapping[str, Any], *, source: str | None = None) -> str:
    """The complete page from :func:`read_stability_outputs`'s dict."""
    from plotly.offline import get_plotlyjs

    from .. import __version__

    manifest = data.get("manifest") or {}
    rows = list(data.get("metrics") or [])
    params = manifest.get("parameters") or {}
    res = manifest.get("results") or {}
    inp = manifest.get("input") or {}
    raw = rows[0] if rows else {}
    smoothed = next((r for r in rows if r.get("method") == "smoothed"), None)
    own = next((r for r in rows if str(r.get("method", "")).startswith("own")), None)
    sd = raw.get("overlap@10_sd_pairs") or 0.0

    def delta(row: Mapping[str, Any] | None, key: str) -> float | None:
        if row is None or not isinstance(row.get(key), int | float):
            return None
        if not isinstance(raw.get(key), int | float):
            return None
        return float(row[key]) - float(raw[key])

    notices = []
    d_own = delta(own, "overlap@10") if own is not None else None
    if params.get("graph") == "knn":
        d_own = delta(smoothed, "overlap@10")
    if d_own is not None:
        notices.append(
            f"Own-kNN smoothing changed NN-overlap@10 by {d_own:+.3f} (s.d. over pairs "
            f"{sd:.3f}). Each run brings its own graph, so this is not a stabiliser; it is "
            "reported as measured, and is not advertised for stability."
        )
    store: dict[str, Any] = {}
    config = {"displaylogo": False, "responsive": True, "showSendToCloud": False, "showLink": False}
    figures = {"fig-k": figure_json(_k_figure(data.get("curve") or []), store, config)}
    sw = _sweep_figure(data.get("sweep") or [])
    if sw is not None:
        figures["fig-sweep"] = figure_json(sw, store, config)
    d_main = delta(smoothed, "overlap@10")
    kpis = "".join(
        [
            _kpi("Overlap@10 raw", _fmt(raw.get("overlap@10"), 3), f"s.d. over pairs {sd:.3f}"),
            _kpi(
                "Overlap@10 smoothed",
                _fmt(smoothed.get("overlap@10"), 3) if smoothed else "–",
                f"{d_main:+.3f} over graph {params.get('graph', '?')}"
                if d_main is not None
                else "",
            ),
            _kpi(
                "Own kNN (honesty)",
                f"{d_own:+.3f}" if d_own is not None else "–",
                "change of overlap@10",
                warn=d_own is not None and d_own <= 3 * max(sd, 1e-3),
            ),
            _kpi("WS353 change", _fmt(delta(smoothed, "ws353"), 3), "smoothed − raw"),
            _kpi("SimLex change", _fmt(delta(smoothed, "simlex"), 3), "smoothed − raw"),
            _kpi(
                "Disagreement change", _fmt(delta(smoothed, "disagreement"), 3), "supersense task"
            ),
            _kpi(
                "Shared words",
                _fmt(res.get("n_shared_words")),
                f"vocabularies {res.get('vocabulary_sizes')}",
            ),
            _kpi("Runs", _fmt(params.get("runs")), str(params.get("perturb", ""))),
        ]
    )
    name = inp.get("corpus") or (Path(str(inp["path"])).name if inp.get("path") else "a corpus")
    input_rows = [
        (k, inp[k]) for k in ("path", "corpus", "sha256", "n_segments", "fraction") if k in inp
    ]
    input_rows.append(("output directory", source))
    graph_rows = list((res.get("graph") or {}).items())
    run_rows = [
        (k, manifest[k]) for k in ("command", "created", "diffembed_version") if k in manifest
    ]
    scripts = [get_plotlyjs(), static_text("loader.js")]
    csp = (
        f"default-src 'none'; script-src 'unsafe-eval' {' '.join(_csp_hash(s) for s in scripts)}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; worker-src blob:; "
        "connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    notes = "".join(f'<div class="notice" role="note">{_e(n)}</div>' for n in notices)
    meta = " · ".join(str(v) for v in (manifest.get("created"), inp.get("path")) if v)
    versions = list((manifest.get("versions") or {}).items())
    blocks = "\n".join(
        f'<script type="application/json" data-plot="{fid}">{payload}</script>'
        for fid, payload in figures.items()
    )
    sweep_html = (
        '<div id="fig-sweep" class="plot"></div>'
        if "fig-sweep" in figures
        else '<p class="empty">No sweep was run (--no-sweep, or an operator without one).</p>'
    )
    script_tags = "\n".join(f"<script>{s}</script>" for s in scripts)
    css = static_text("report.css") + _CSS
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="diffembed {_e(__version__)}">
<title>Embedding stability · {_e(name)}</title>
<style>{css}</style>
</head>
<body>
<header class="top"><div class="wrap">
<div class="eyebrow">diffembed stability report</div>
<h1>Stability of word vectors from {_e(name)}</h1>
<p class="summary"><b>{_e(params.get("runs", "?"))}</b> {_e(params.get("perturb", ""))} runs ·
graph <b>{_e(params.get("graph", "?"))}</b> · operator <b>{_e(params.get("operator", "?"))}</b>
(α = {_e(params.get("alpha"))}, t = {_e(params.get("t"))})</p>
<p class="meta">{_e(meta)}</p>
</div></header>
<main class="wrap">
{notes}
<section class="card"><h2>Headline</h2><div class="kpis">{kpis}</div>
<p class="sub">A graph the runs share (a lexicon, a reference run) pulls every run toward the
same neighbourhoods, so overlap rises; smoothing each run over its own kNN graph reinforces
that run's noise. Always read overlap next to quality (WS353, SimLex, accuracy) and collapse
(effective rank, mean cosine).</p></section>
<section class="grid halves">
<article class="card"><h2>Overlap against k</h2>
<p class="sub">Mean share of the k nearest neighbours (cosine) that two runs agree on, over all
pairs of runs.</p><div id="fig-k" class="plot"></div></article>
<article class="card"><h2>Overlap and quality against smoothing strength</h2>
<p class="sub">Same graph and operator, stronger smoothing to the right.</p>{sweep_html}</article>
</section>
<section class="card"><h2>Every metric, raw vs smoothed</h2>
<p class="sub">In brackets: the change from the raw runs.</p>{_metric_table(rows)}</section>
<section class="grid halves">
<article class="card"><h2>Parameters</h2>{_table(list(params.items()))}
<h3>Graph</h3>{_table(graph_rows)}</article>
<article class="card"><h2>Input</h2>{_table(input_rows)}
<h3>Timings</h3>{_timings(manifest.get("timings") or {})}
<h3>Run</h3>{_table(run_rows)}
<details><summary>Software versions</summary>{_table(versions)}</details></article>
</section>
</main>
<footer>Made by diffembed {_e(__version__)} · self-contained: plotly.js is embedded and nothing
is loaded from the network.</footer>
<script type="application/json" id="de-store">{safe_json(store)}</script>
{blocks}
{script_tags}
</body>
</html>
"""


_CSS = """
.scroll{overflow-x:auto}table.metrics th,table.metrics td{width:auto;text-align:right}
table.metrics td{font-variant-numeric:tabular-nums}
"""


def write_stability_report(
    out_dir: str | Path, path: str | Path | None = None, *, source: str | None = None
) -> Path:
    """Write ``report.html`` of a stability output directory atomically; return its path."""
    out_dir = Path(out_dir)
    page = build_stability_report_html(
        read_stability_outputs(out_dir), source=str(out_dir) if source is None else source
    )
    target = Path(path) if path is not None else out_dir / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
