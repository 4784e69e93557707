"""Self-contained, offline HTML report of ``diffembed stability``.

Reads ``metrics.csv``, ``overlap_at_k.csv``, ``sweep.csv`` and ``manifest.json`` from an output
directory and writes one page (plotly.js inline, nothing fetched): headline tiles (overlap@10
raw and smoothed with the change, the own-kNN honesty check, quality changes), overlap@k
against k per method, overlap@10 and quality against α or t, the full metric table raw vs
smoothed, parameters, input, timings and versions. When the run saved its word table and
vectors (``words.parquet``, ``vectors_raw.parquet``, ``vectors_smoothed.parquet``), two
embedding explorers (:func:`~.explorer.explorer_section`) follow the headline: run 1's
smoothed and raw vectors on a 2-D PCA, coloured by each word's stability, with each word's
10 nearest neighbours (cosine, full vectors) in that space and, as a column, its first
neighbours in the other space. User strings are escaped; data travel as JSON made safe by
:func:`~.encoding.safe_json`; a hash-based Content-Security-Policy lets only the page's own
scripts run.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError
from .encoding import figure_json, safe_json
from .explorer import ExplorerSection, explorer_section, static_text
from .explorer_neighbours import nearest_neighbours
from .page import (  # shared page parts
    _e,
    _fmt,
    _kpi,
    _table,
    _timings,
    page_document,
    report_assets,
    write_page,
)

__all__ = [
    "EXPLORER_NEIGHBOURS",
    "MAX_EXPLORER_POINTS",
    "build_stability_report_html",
    "pca_layout",
    "read_stability_outputs",
    "read_word_outputs",
    "stability_explorers",
    "write_stability_report",
]

#: Neighbours per word listed by the explorers (cosine, in the full vectors).
EXPLORER_NEIGHBOURS = 10
#: Above this many words the explorers draw a stated, seeded sample.
MAX_EXPLORER_POINTS = 200_000
#: Principal components offered as explorer axes.
MAX_AXES = 10
#: Neighbours of the other space shown as a column of each word.
_CROSS = 5

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
        "words": read_word_outputs(out_dir),
    }


def _vector_table(path: Path) -> tuple[list[str], np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    names = [c for c in table.column_names if c[:1] == "v" and c[1:].isdigit()]
    names.sort(key=lambda c: int(c[1:]))
    if "id" not in table.column_names or not names:
        msg = f"{path} has no id and v1..vD columns: {_FIX.format(out=path.parent)}."
        raise InputError(msg)
    ids = [str(v) for v in table.column("id").to_pylist()]
    V = np.column_stack([table.column(c).to_numpy(zero_copy_only=False) for c in names])
    return ids, np.asarray(V, dtype=np.float64)


def read_word_outputs(out_dir: str | Path) -> dict[str, Any] | None:
    """The per-word table and run 1's vectors of a ``diffembed stability`` output.

    Parameters
    ----------
    out_dir
        The output directory: ``words.parquet``, ``vectors_raw.parquet`` and
        ``vectors_smoothed.parquet`` (written since the explorer was added).

    Returns
    -------
    dict or None
        ``{"ids": list of words, "columns": {name: array}, "raw": (n, d), "smoothed": (n, d)}``;
        ``None`` when one of the files is missing (an older run).

    Raises
    ------
    InputError
        Files that cannot be read or whose words do not match, with the fix.
    """
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    names = ("words.parquet", "vectors_raw.parquet", "vectors_smoothed.parquet")
    paths = [out_dir / n for n in names]
    if not all(p.is_file() for p in paths):
        return None
    try:
        table = pq.read_table(paths[0])
        raw_ids, raw = _vector_table(paths[1])
        smooth_ids, smoothed = _vector_table(paths[2])
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        msg = f"Cannot read the word outputs of {out_dir} ({exc}): {_FIX.format(out=out_dir)}."
        raise InputError(msg) from exc
    ids = [str(v) for v in table.column("id").to_pylist()] if "id" in table.column_names else []
    if not (ids == raw_ids == smooth_ids):
        msg = (
            f"words.parquet and the vectors of {out_dir} do not list the same words: "
            f"{_FIX.format(out=out_dir)}."
        )
        raise InputError(msg)
    columns = {
        c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names if c != "id"
    }
    return {"ids": ids, "columns": columns, "raw": raw, "smoothed": smoothed}


def pca_layout(vectors: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` principal components of ``vectors`` (finite rows), signs fixed.

    The layout of the explorers and of the viewer exports: each component's largest entry in
    absolute value is positive, so a rerun draws the same picture.
    """
    from .embed_figures import _pca_layout  # the embed reports' layout, shared

    return _pca_layout(np.asarray(vectors, dtype=np.float64), k)


def _cross_text(ids: Sequence[str], nb: np.ndarray) -> np.ndarray:
    """Each word's first :data:`_CROSS` neighbours as one text, ``", "``-separated."""
    words = np.asarray(ids, dtype=object)
    out = np.empty(nb.shape[0], dtype=object)
    for i, row in enumerate(nb[:, :_CROSS]):
        out[i] = ", ".join(words[row[row >= 0]].tolist())
    return out


def stability_explorers(
    words: Mapping[str, Any],
    *,
    max_points: int = MAX_EXPLORER_POINTS,
    random_state: int = 0,
) -> list[ExplorerSection]:
    """The explorers of the smoothed and of the raw word vectors (:func:`read_word_outputs`).

    Each draws run 1's vectors on a 2-D PCA of that space (up to :data:`MAX_AXES`
    components offered), lists a clicked word's :data:`EXPLORER_NEIGHBOURS` nearest
    neighbours by cosine in the full vectors of that space, and has the per-word columns
    (``overlap@10_raw``, ``overlap@10_smoothed``, ``delta_overlap@10``, ``kept@10``, ``rank``,
    ``graph_degree``) plus the word's first neighbours in the other space (``raw
    neighbours`` / ``smoothed neighbours``). The smoothed explorer is coloured by
    ``delta_overlap@10``, the raw one by ``overlap@10_raw``.

    Returns
    -------
    list of ExplorerSection
        Prefixes ``"ex-"`` (smoothed) and ``"ex2-"`` (raw).
    """
    ids = list(words["ids"])
    spaces = {"smoothed": np.asarray(words["smoothed"]), "raw": np.asarray(words["raw"])}
    found = {}
    for name, V in spaces.items():
        nb, dist, how = nearest_neighbours(V, EXPLORER_NEIGHBOURS, metric="cosine")
        found[name] = (nb, dist, "cosine" if how == "exact" else "cosine, approximate (HNSW)")
    columns = {str(c): np.asarray(v) for c, v in words["columns"].items()}
    sections = []
    for prefix, name, other, colour, title in (
        ("ex-", "smoothed", "raw", "delta_overlap@10", "Explorer of the smoothed word vectors"),
        ("ex2-", "raw", "smoothed", "overlap@10_raw", "Explorer of the raw word vectors"),
    ):
        V = spaces[name]
        coords = pca_layout(V, min(MAX_AXES, V.shape[1]))
        nb, dist, metric = found[name]
        metadata = dict(columns)
        metadata[f"{other} neighbours"] = _cross_text(ids, found[other][0])
        sections.append(
            explorer_section(
                coords, None, ids=ids, metadata=metadata,
                colour_by=colour if colour in metadata else None,
                coord_names=[f"PC{j + 1}" for j in range(coords.shape[1])],
                neighbours=nb, neighbour_distances=dist, metric=metric, space=name,
                max_points=max_points, random_state=random_state, prefix=prefix, title=title,
                intro=f"Run 1's {name} word vectors on a 2-D PCA, coloured by "
                f"{colour}. Search the words, click one for its {EXPLORER_NEIGHBOURS} nearest "
                f"neighbours ({metric}, in the full {name} vectors) — the column "
                f"'{other} neighbours' lists its first ones in the {other} space — select with "
                "the box or lasso to list and download rows.",
            )
        )  # fmt: skip
    return sections


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


def build_stability_report_html(
    data: Mapping[str, Any],
    *,
    source: str | None = None,
    max_points: int = MAX_EXPLORER_POINTS,
) -> str:
    """The complete page from :func:`read_stability_outputs`'s dict.

    Parameters
    ----------
    data
        The tables, the manifest and (``"words"``) the per-word outputs, or ``None`` for them.
    source
        The output directory shown under Input.
    max_points
        Words drawn by each explorer above which a seeded sample is drawn.

    Returns
    -------
    str
        A complete HTML document.
    """

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
    words = data.get("words")
    seed = params.get("random_state")
    explorers = (
        stability_explorers(
            words, max_points=max_points, random_state=seed if type(seed) is int else 0
        )
        if words
        else []
    )
    if explorers:
        explorer_html = "\n".join(sec.html for sec in explorers)
    else:
        explorer_html = (
            '<section class="card"><h2>Explorer of the word vectors</h2><p class="empty">This '
            "run has no words.parquet and vectors: rerun `diffembed stability` to explore its "
            "words.</p></section>"
        )
    scripts = [script for sec in explorers for script in sec.scripts]
    meta = " · ".join(str(v) for v in (manifest.get("created"), inp.get("path")) if v)
    versions = list((manifest.get("versions") or {}).items())
    sweep_html = (
        '<div id="fig-sweep" class="plot"></div>'
        if "fig-sweep" in figures
        else '<p class="empty">No sweep was run (--no-sweep, or an operator without one).</p>'
    )
    css = static_text("report.css") + (explorers[0].css if explorers else "") + _CSS
    summary = (
        f'<b>{_e(params.get("runs", "?"))}</b> {_e(params.get("perturb", ""))} runs · '
        f'graph <b>{_e(params.get("graph", "?"))}</b> · operator '
        f'<b>{_e(params.get("operator", "?"))}</b> (α = {_e(params.get("alpha"))}, '
        f't = {_e(params.get("t"))})'
    )
    main = f"""<section class="card"><h2>Headline</h2><div class="kpis">{kpis}</div>
<p class="sub">A graph the runs share (a lexicon, a reference run) pulls every run toward the
same neighbourhoods, so overlap rises; smoothing each run over its own kNN graph reinforces
that run's noise. Always read overlap next to quality (WS353, SimLex, accuracy) and collapse
(effective rank, mean cosine).</p></section>
{explorer_html}
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
</section>"""
    return page_document(
        title=f"Embedding stability · {name}",
        eyebrow="diffembed stability report",
        heading=f"Stability of word vectors from {name}",
        summary=summary,
        meta=meta,
        main=main,
        scripts=scripts,
        css=css,
        notices=notices,
        plots=figures,
        store=safe_json(store),
    )


_CSS = """
.scroll{overflow-x:auto}table.metrics th,table.metrics td{width:auto;text-align:right}
table.metrics td{font-variant-numeric:tabular-nums}
"""


def write_stability_report(
    out_dir: str | Path,
    path: str | Path | None = None,
    *,
    source: str | None = None,
    assets: str | None = None,
) -> Path:
    """Write ``report.html`` of a stability output directory atomically; return its path.

    ``assets``: ``"inline"``, ``"shared"`` (one ``plotly.min.js`` beside the page) or ``None``
    (the current choice, see :func:`~diffembed.plotting.page.report_assets`).
    """
    out_dir = Path(out_dir)
    outputs = read_stability_outputs(out_dir)
    with report_assets(assets):
        page = build_stability_report_html(
            outputs, source=str(out_dir) if source is None else source
        )
        return write_page(page, Path(path) if path is not None else out_dir / "report.html")
