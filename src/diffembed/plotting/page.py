"""The HTML of the report page: header, explorer, panels, scripts and Content-Security-Policy.

Pure string building from already-computed pieces (see :mod:`.report`). Every user string is
escaped with :func:`html.escape` where it is written into markup; data for the scripts arrive as
JSON text already made safe by :func:`~diffembed.plotting.encoding.safe_json`. The CSP lets only
the page's own scripts run (by hash; plotly's WebGL needs ``'unsafe-eval'``) and load nothing,
so an injected ``<img onerror=...>`` could neither run nor fetch, and there are no inline event
handlers anywhere.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import html
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .explorer import section_html, static_text

__all__ = [
    "ASSETS",
    "PLOTLY_FILE",
    "Assets",
    "PageParts",
    "footer_note",
    "notices_html",
    "page_document",
    "plotly_js",
    "render_page",
    "report_assets",
    "scripts_and_csp",
    "write_page",
    "write_plotly_file",
]

#: How a page carries plotly.js: ``"inline"`` (inside every page: one file, self-contained) or
#: ``"shared"`` (one ``plotly.min.js`` written beside the pages of a folder, referenced by
#: relative path; still offline).
Assets = Literal["inline", "shared"]
ASSETS: tuple[str, ...] = ("inline", "shared")
#: The file a page with shared assets loads, beside it.
PLOTLY_FILE = "plotly.min.js"
_ASSETS: ContextVar[str] = ContextVar("diffembed_report_assets", default="inline")


@functools.cache
def plotly_js() -> str:
    """plotly.js, minified, as shipped with the installed plotly (read once)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _check_assets(assets: str) -> str:
    if assets not in ASSETS:
        from ..exceptions import InputError

        msg = (
            f"assets={assets!r} is not valid: use 'inline' (plotly.js inside every report) or "
            f"'shared' (one {PLOTLY_FILE} beside the reports of a folder)."
        )
        raise InputError(msg)
    return assets


@contextlib.contextmanager
def report_assets(assets: str | None) -> Iterator[str]:
    """Build and write the pages of this block with ``assets`` (``None``: the current choice).

    Every report writer wraps its build and :func:`write_page` in this block, so that
    :func:`scripts_and_csp` and :func:`footer_note` say the same as the files written.
    """
    value = _ASSETS.get() if assets is None else _check_assets(assets)
    token = _ASSETS.set(value)
    try:
        yield value
    finally:
        _ASSETS.reset(token)


def footer_note() -> str:
    """The footer's sentence on what the page loads (raw text: escape it)."""
    if _ASSETS.get() == "shared":
        return (
            f"plotly.js is read from {PLOTLY_FILE} beside this page (keep them together); "
            "nothing is loaded from the network."
        )
    return "self-contained: plotly.js is embedded and nothing is loaded from the network."


@dataclass
class PageParts:
    """What :func:`render_page` puts together.

    Parameters
    ----------
    manifest
        The run's manifest (any key may be missing).
    counts
        ``(n_total, n_valid, n_drawn, K)``: rows, embedded rows, drawn points, coordinates.
    eigen
        Spectrum rows ``{"component", "eigenvalue", "timescale"}``.
    notices
        Sentences shown above the explorer.
    figures
        Figure id (``fig-3d``, ``fig-spectrum``) to its JSON text.
    store
        JSON text of the arrays shared by the figures.
    explorer
        JSON text of the explorer's data, or ``None`` when nothing can be drawn.
    source
        The output directory named in the input table.
    n_3d
        Points in the 3-D view (a sample of the drawn points when there are many).
    spectrum_note
        A notice shown in the spectrum card (a degenerate spectrum's cause and fix), or "".
    """

    manifest: Mapping[str, Any]
    counts: tuple[int, int, int, int]
    eigen: Sequence[Mapping[str, float]]
    notices: Sequence[str]
    figures: Mapping[str, str]
    store: str
    explorer: str | None = None
    source: str | None = None
    n_3d: int = 0
    spectrum_note: str = ""


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


def write_page(page: str, target: str | Path, *, assets: str | None = None) -> Path:
    """Write an HTML page atomically (a reader never sees half a page); return its path.

    The parent directory is created; the page goes to a temporary file beside ``target``,
    which is moved into place (:func:`diffembed.io.writers.atomic_path`). With shared assets
    (``assets="shared"``, or ``None`` inside ``report_assets("shared")``) and a page that loads
    :data:`PLOTLY_FILE`, that file is written beside the page too (once: an identical copy
    already there is kept).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_text(target, page)
    shared = (_ASSETS.get() if assets is None else _check_assets(assets)) == "shared"
    if shared and f'<script src="{PLOTLY_FILE}"></script>' in page:
        write_plotly_file(target.parent)
    return target


def write_plotly_file(directory: str | Path) -> Path:
    """Write ``directory/plotly.min.js`` unless an identical copy is there; return its path."""
    path = Path(directory) / PLOTLY_FILE
    js = plotly_js()
    try:
        same = path.stat().st_size == len(js.encode("utf-8")) and path.read_text("utf-8") == js
    except (OSError, UnicodeDecodeError):
        same = False
    if not same:
        _write_text(path, js)
    return path


def _write_text(target: Path, text: str) -> None:
    from ..io.writers import atomic_path

    with atomic_path(target) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def page_document(
    *,
    title: str,
    eyebrow: str,
    heading: str,
    main: str,
    scripts: Sequence[str],
    css: str,
    summary: str = "",
    meta: str = "",
    data: str = "",
    notices: Sequence[str] = (),
    plots: Mapping[str, str] | None = None,
    store: str | None = None,
) -> str:
    """A complete report page: head with its CSP, the dark header, ``main``, footer, scripts.

    The one frame of every report (map, tree, embed, stability, decode): each builds its
    ``main`` and hands its notices, figures and scripts to this function.

    Parameters
    ----------
    title, eyebrow, heading, meta
        Raw texts (escaped here): the tab title, the small line over the heading, the
        heading and the grey line under it.
    main
        Markup of the page's body (already escaped where it holds user strings).
    scripts
        Script texts in running order (duplicates kept once), placed after ``data``; the
        Content-Security-Policy runs exactly these and loads nothing (:func:`scripts_and_csp`).
    css
        The page's style (usually ``report.css`` and what the page adds).
    summary
        Markup of the bold summary line under the heading.
    data
        More JSON data blocks (``<script type="application/json">``) the scripts read.
    notices
        Sentences shown at the top of ``main`` (raw text: escaped here).
    plots
        Figure element id (``fig-tree``) → its JSON (:func:`~.encoding.figure_json`), drawn by
        ``loader.js`` into ``<div id=...>`` elements of ``main``. Unless ``None``, plotly.js and
        the loader run before ``scripts`` (even with no figure: an explorer draws with plotly).
    store
        JSON text of the arrays the figures share (``de-store``); default none.

    Returns
    -------
    str
    """
    from .. import __version__

    if plots is not None:
        scripts = [plotly_js(), static_text("loader.js"), *scripts]
        blocks = [f'<script type="application/json" id="de-store">{store or "{}"}</script>']
        blocks += [
            f'<script type="application/json" data-plot="{_e(fid)}">{payload}</script>'
            for fid, payload in plots.items()
        ]
        data = "\n".join([*blocks, data] if data else blocks)
    main = notices_html(notices) + main
    tags, csp = scripts_and_csp(scripts)
    note = footer_note() if scripts else "self-contained: nothing is loaded from the network."
    summary = f'\n<p class="summary">{summary}</p>' if summary else ""
    meta = f'\n<p class="meta">{_e(meta)}</p>' if meta else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="diffembed {_e(__version__)}">
<title>{_e(title)}</title>
<style>{css}</style>
</head>
<body>
<header class="top"><div class="wrap">
<div class="eyebrow">{_e(eyebrow)}</div>
<h1>{_e(heading)}</h1>{summary}{meta}
</div></header>
<main class="wrap">
{main}
</main>
<footer>Made by diffembed {_e(__version__)} · {_e(note)}</footer>
{data}
{tags}
</body>
</html>
"""


def notices_html(notices: Sequence[str]) -> str:
    """The notice boxes of a page (``notices`` are raw texts: escaped here)."""
    return "".join(f'<div class="notice" role="note">{_e(n)}</div>\n' for n in notices)


def scripts_and_csp(scripts: Sequence[str]) -> tuple[str, str]:
    """The ``<script>`` tags of a page's scripts and the Content-Security-Policy that runs them.

    Parameters
    ----------
    scripts
        Script texts in the order they must run; repeated texts are kept once (the first).

    Returns
    -------
    tags : str
        One ``<script>`` element per distinct script (put them at the end of ``<body>``).
        With shared assets (:func:`report_assets`), plotly.js is a
        ``<script src="plotly.min.js">`` instead of inline text.
    csp : str
        The policy (raw: escape it into the ``content`` attribute): only these scripts run
        (by hash; plotly's WebGL needs ``'unsafe-eval'``), nothing is fetched. With shared
        assets, scripts may also come from the page's own folder (``'self'``; ``file:`` for a
        page opened from disk), and from nowhere else.
    """
    unique = list(dict.fromkeys(scripts))
    shared = _ASSETS.get() == "shared"
    plotly = plotly_js() if shared and any(len(s) > 1_000_000 for s in unique) else None
    tags, sources = [], []
    for s in unique:
        if plotly is not None and s == plotly:
            tags.append(f'<script src="{PLOTLY_FILE}"></script>')
            sources += ["'self'", "file:"]
        else:
            tags.append(f"<script>{s}</script>")
            sources.append(_csp_hash(s))
    csp = (
        f"default-src 'none'; script-src 'unsafe-eval' {' '.join(dict.fromkeys(sources))}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; worker-src blob:; "
        "connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    return "\n".join(tags), csp


def _stability(stab: Any) -> str:
    """The stability card, from ``manifest["stability"]`` (see :func:`render_page`)."""
    if not isinstance(stab, Mapping) or not stab:
        return ""
    note = stab.get("method") or stab.get("note")
    scalars: list[tuple[str, Any]] = []
    series: list[tuple[str, list[Any]]] = []
    items = [(k, v) for k, v in stab.items() if k not in ("method", "note")]
    for group in ("summary", "per_component"):
        if isinstance(stab.get(group), Mapping):
            items = [(k, v) for k, v in items if k != group] + list(stab[group].items())
    for key, value in items:
        if (
            isinstance(value, list | tuple)
            and value
            and all(v is None or type(v) in (int, float) for v in value)
        ):
            series.append((str(key), list(value)))
        elif value is None or isinstance(value, bool | int | float | str):
            scalars.append((str(key), value))
    kpis = "".join(_kpi(k, _fmt(v, 3)) for k, v in scalars)
    table = ""
    if series:
        width = max(len(v) for _, v in series)
        head = "".join(f"<th>dc{j + 1}</th>" for j in range(width))
        body = "".join(
            f"<tr><th>{_e(k)}</th>"
            + "".join(f'<td class="num">{_e(_fmt(x, 3))}</td>' for x in v)
            + "</tr>"
            for k, v in series
        )
        table = f'<h3>Per coordinate</h3><div class="scroll"><table><tr><th></th>{head}</tr>'
        table += f"{body}</table></div>"
    sub = f'<p class="sub">{_e(note)}</p>' if note else ""
    return (
        f'<article class="card stability"><h2>Stability</h2>{sub}'
        f'<div class="kpis">{kpis}</div>{table}</article>'
    )


def _plot(fig_id: str, figures: Mapping[str, str], empty: str) -> str:
    if fig_id in figures:
        return f'<div id="{fig_id}" class="plot"></div>'
    return f'<p class="empty">{_e(empty)}</p>'


def render_page(parts: PageParts) -> str:
    """The complete report page.

    ``manifest["stability"]``, when present, is a mapping shown in a Stability card: ``method``
    (or ``note``) is a sentence under the title; every scalar (top level, or inside a
    ``summary`` mapping) becomes a tile; every list of numbers (top level, or inside a
    ``per_component`` mapping) becomes a row of a per-coordinate table (dc1, dc2, ...).

    Parameters
    ----------
    parts
        The pieces of the page.

    Returns
    -------
    str
        The HTML document.
    """
    manifest, figures = parts.manifest, parts.figures
    n_total, n_valid, n_shown, k = parts.counts
    res, params, inp = (_section(manifest, key) for key in ("results", "parameters", "input"))
    name, bw, dim = _input_name(manifest), res.get("bandwidth"), res.get("intrinsic_dimension")
    summary = [f"<b>{n_total:,}</b> points", f"<b>{k}</b> coordinate{'s' if k != 1 else ''}"]
    if bw is not None:
        summary.append(f"bandwidth ε = <b>{_e(_fmt(bw))}</b>")
    if dim is not None:
        summary.append(f"intrinsic dimension d ≈ <b>{_e(_fmt(dim, 3))}</b>")
    meta = [f"diffembed {manifest.get('command') or ''}".strip()]
    meta += [str(v) for v in (manifest.get("created"), inp.get("path")) if v]
    lam = [r["eigenvalue"] for r in parts.eigen]
    gap = ""
    if len(lam) >= 3 and all(math.isfinite(v) for v in lam):
        top = parts.eigen[int(np.argmax(-np.diff(lam)))]
        gap = f"largest eigengap after dc{int(top['component'])}"
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
    keys = ("path", "dataset", "sha256", "n_samples", "n_features")
    input_rows = [(key, inp[key]) for key in keys if key in inp]
    input_rows += [
        ("label column", manifest.get("label_column")),
        ("output directory", parts.source),
    ]
    nbrs = _section(manifest, "neighbors")
    if nbrs:
        space = f"{nbrs.get('k', '?')} per point, {nbrs.get('space', 'input')} space"
        input_rows.append(("neighbours", f"{space}, {nbrs.get('metric', 'euclidean')}"))
    run_keys = ("command", "created", "diffembed_version", "format_version")
    run_rows = [(key, manifest[key]) for key in run_keys if key in manifest]
    versions = list(_section(manifest, "versions").items())
    scripts = [static_text("explorer.js")] if parts.explorer is not None else []
    explorer = section_html(
        parts.explorer,
        intro="Hover for details, click a point for its nearest neighbours in the input space, "
        "search the labels, select with the box or lasso to list and download rows.",
    )
    sub3d = "Drag to rotate, scroll to zoom."
    if 0 < parts.n_3d < n_shown:
        sub3d = f"A random sample of {parts.n_3d:,} of the {n_shown:,} points. " + sub3d
    spectrum_note = notices_html([parts.spectrum_note] if parts.spectrum_note else [])
    main = f"""{explorer}
<section class="grid halves">
<article class="card"><h2>Eigenvalue spectrum</h2>
<p class="sub">Eigenvalues λ of the diffusion operator (markers) and timescales −1/log λ
(line, right axis). At diffusion time t each coordinate is scaled by λ<sup>t</sup>.</p>
{spectrum_note}{_plot("fig-spectrum", figures, "No spectrum was saved with this run.")}</article>
<aside class="card"><h2>Run summary</h2><div class="kpis">{kpis}</div>
<h3>Timings</h3>{_timings(_section(manifest, "timings"))}</aside>
</section>
<section class="grid halves">
<article class="card"><h2>Embedding · dc1, dc2, dc3</h2>
<p class="sub">{_e(sub3d)}</p>
{_plot("fig-3d", figures, "The 3-D view needs at least three diffusion coordinates.")}</article>
<article class="card"><h2>Parameters</h2>{_table(list(params.items()))}</article>
</section>
<section class="grid halves">
{_stability(manifest.get("stability"))}
<article class="card"><h2>Input</h2>{_table(input_rows)}
<h3>Run</h3>{_table(run_rows)}
<details><summary>Software versions</summary>{_table(versions)}</details></article>
</section>"""
    return page_document(
        title=f"Diffusion map · {name}",
        eyebrow="diffembed report",
        heading=f"Diffusion map of {name}",
        summary=" · ".join(summary),
        meta=" · ".join(meta),
        main=main,
        scripts=scripts,
        css=static_text("report.css") + static_text("explorer.css"),
        notices=parts.notices,
        plots=figures,
        store=parts.store,
    )
