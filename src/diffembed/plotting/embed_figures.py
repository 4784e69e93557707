"""Figures of the ``diffembed embed …`` outputs, as a small offline HTML page of inline SVG.

The page is built from ``manifest.json`` alone (its ``figures`` section), so it needs no refit
and no JavaScript: PCA gets its spectrum (explained variance per component, cumulative share)
and the reconstruction error ‖X − X_k‖²_F against k; the SVD-based recipes get their singular
values. Every string from the manifest is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_embed_report_html", "line_chart_svg", "write_embed_report"]

_W, _H, _PAD = 560, 300, 56


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) if v is not None and math.isfinite(float(v)) else math.nan for v in values]


def line_chart_svg(
    x: Sequence[float],
    series: dict[str, Sequence[float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    bars: str | None = None,
) -> str:
    """An SVG chart of one or more series against ``x`` (``bars`` names a series drawn as bars).

    Parameters
    ----------
    x
        Horizontal positions.
    series
        Name → values, same length as ``x``; NaN / None values are skipped.
    title, x_label, y_label
        Texts (escaped).
    bars
        The series to draw as bars instead of a line.
    """
    xs = _finite(x)
    data = {k: _finite(v) for k, v in series.items()}
    ys = [v for vals in data.values() for v in vals if not math.isnan(v)]
    if not xs or not ys:
        return f"<p>{html.escape(title)}: no data.</p>"
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(0.0, min(ys)), max(ys)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1

    def px(v: float) -> float:
        return _PAD + (v - x0) / (x1 - x0) * (_W - 1.5 * _PAD)

    def py(v: float) -> float:
        return _H - _PAD + (y0 - v) / (y1 - y0) * (_H - 1.6 * _PAD)

    colors = ["#2f6db5", "#d0792b", "#3a9b5c", "#9b3a8c"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{html.escape(title)}" font-family="sans-serif" font-size="12">',
        f'<text x="{_W / 2}" y="18" text-anchor="middle" font-size="14">'
        f"{html.escape(title)}</text>",
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD / 2}" y2="{_H - _PAD}" stroke="#555"/>',
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_PAD}" y2="{_PAD * 0.6}" stroke="#555"/>',
        f'<text x="{_W / 2}" y="{_H - 12}" text-anchor="middle">{html.escape(x_label)}</text>',
        f'<text x="14" y="{_H / 2}" text-anchor="middle" transform="rotate(-90 14 {_H / 2})">'
        f"{html.escape(y_label)}</text>",
    ]
    for frac in (0.0, 0.5, 1.0):
        yv = y0 + frac * (y1 - y0)
        parts.append(f'<text x="{_PAD - 4}" y="{py(yv) + 4:.1f}" text-anchor="end">{yv:.3g}</text>')
    for frac in (0.0, 0.5, 1.0):
        xv = x0 + frac * (x1 - x0)
        parts.append(
            f'<text x="{px(xv):.1f}" y="{_H - _PAD + 16}" text-anchor="middle">{xv:.3g}</text>'
        )
    width = max(1.0, (_W - 1.5 * _PAD) / max(len(xs), 1) * 0.7)
    legend_y = _PAD * 0.6
    for i, (name, vals) in enumerate(data.items()):
        color = colors[i % len(colors)]
        pts = [(px(a), py(b)) for a, b in zip(xs, vals, strict=False) if not math.isnan(b)]
        if name == bars:
            for a, b in pts:
                parts.append(
                    f'<rect x="{a - width / 2:.1f}" y="{b:.1f}" width="{width:.1f}" '
                    f'height="{max(py(y0) - b, 0):.1f}" fill="{color}" opacity="0.75"/>'
                )
        else:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        parts.append(
            f'<text x="{_W - _PAD / 2}" y="{legend_y + 14 * i}" text-anchor="end" '
            f'fill="{color}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _figures(manifest: dict[str, Any]) -> list[str]:
    figs = manifest.get("figures") or {}
    out = []
    spec = figs.get("pca_spectrum")
    if spec:
        out.append(
            line_chart_svg(
                spec["component"],
                {
                    "explained variance ratio": spec["explained_variance_ratio"],
                    "cumulative": spec["cumulative_explained_variance_ratio"],
                },
                title="PCA spectrum",
                x_label="component",
                y_label="share of variance",
                bars="explained variance ratio",
            )
        )
        out.append(
            line_chart_svg(
                spec["k"],
                {"‖X − X_k‖²_F / ‖X‖²_F": spec["relative_reconstruction_error"]},
                title="Reconstruction error against k (sum of σᵢ² for i > k)",
                x_label="k (components kept)",
                y_label="relative squared error",
            )
        )
    sv = figs.get("singular_values")
    if sv:
        out.append(
            line_chart_svg(
                list(range(1, len(sv) + 1)),
                {"singular value": sv},
                title="Singular values of the factorised matrix",
                x_label="component",
                y_label="σ",
                bars="singular value",
            )
        )
    return out


def build_embed_report_html(manifest: dict[str, Any]) -> str:
    """The report page of an ``embed`` output, from its manifest."""
    title = f"diffembed {manifest.get('command', 'embed')}"
    params = manifest.get("parameters") or {}
    rows = "\n".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v, ensure_ascii=False))}"
        "</td></tr>"
        for k, v in params.items()
    )
    evaluation = manifest.get("evaluation") or {}
    eval_rows = "\n".join(
        f"<tr><th>{html.escape(str(k))}</th><td>Spearman {v.get('spearman', float('nan')):.3f}, "
        f"{v.get('n_pairs', 0)} pairs, {v.get('n_oov', 0)} OOV</td></tr>"
        for k, v in evaluation.items()
        if isinstance(v, dict) and v.get("spearman") is not None
    )
    figures = "\n".join(f"<figure>{svg}</figure>" for svg in _figures(manifest))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#1f2933}}
th{{text-align:left;padding-right:1em}}
figure{{display:inline-block;margin:0 1em 1em 0}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>diffembed {html.escape(str(manifest.get("diffembed_version", "")))} ·
{html.escape(str(manifest.get("created", "")))}</p>
{figures or "<p>No figures for this recipe.</p>"}
<h2>Parameters</h2><table>{rows}</table>
{"<h2>Evaluation</h2><table>" + eval_rows + "</table>" if eval_rows else ""}
</body></html>
"""


def write_embed_report(directory: str | Path) -> Path:
    """Write ``directory/report.html`` from ``directory/manifest.json`` (atomically)."""
    from ..io.writers import atomic_path

    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    page = build_embed_report_html(manifest)
    target = directory / "report.html"
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target
