"""Pieces of the decode report: evidence per pair, the adherence gate, words out of h-space.

Used by :mod:`.latents_report`. Everything here is pure: rows in, markup or a plotly spec out;
every user string is escaped (:func:`~.page._e`).

* :func:`evidence_bars_spec` — per pair, the h-space effect beside the caption effect
  (significant pairs starred, unreliable pairs flagged ⚠ and drawn pale).
* :func:`pairs_table` — the pairs with both tests' effects, q-values, their agreement and the
  gate's verdict.
* :func:`adherence_section` — per family, the share of samples that show the prompted word,
  against the threshold.
* :func:`extra_tables_section` — ``words.csv``, ``defaults.csv`` and ``concepts.csv`` when the
  decode folder has them.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .page import _e, _fmt

__all__ = [
    "EXTRA_TABLES",
    "adherence_section",
    "evidence_bars_spec",
    "extra_tables_section",
    "pairs_table",
    "read_extra_tables",
]

#: Optional tables of a decode folder: name → (title, columns shown, note).
EXTRA_TABLES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "words": (
        "Words out of h-space",
        ("concept", "rank", "word", "family", "cosine", "source"),
        "The words whose directions lie closest to each concept's direction in h-space.",
    ),
    "defaults": (
        "What the model draws when not asked",
        ("family", "word", "rate", "n_samples"),
        "Per family, the share of samples showing each word when the prompt names no word of "
        "that family.",
    ),
    "concepts": (
        "Concepts in h-space",
        ("concept", "dc1", "dc2", "cluster"),
        "Every concept at its first two diffusion coordinates, with its cluster.",
    ),
}
_TRUE = ("true", "1", "yes")
#: Most rows of an optional table shown.
MAX_ROWS = 200


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _finite(value: Any) -> float | None:
    x = _number(value)
    return x if np.isfinite(x) else None


def _reliable(row: Mapping[str, Any]) -> bool:
    value = row.get("reliable", True)
    return value if isinstance(value, bool) else str(value).strip().lower() in _TRUE


def read_extra_tables(out_dir: str | Path) -> dict[str, list[dict[str, str]]]:
    """``adherence.csv`` and the :data:`EXTRA_TABLES` that exist in ``out_dir`` (as strings).

    Unreadable files are skipped (the report notes it): they are optional.
    """
    out: dict[str, list[dict[str, str]]] = {}
    for name in ("adherence", *EXTRA_TABLES):
        path = Path(out_dir) / f"{name}.csv"
        if not path.is_file():
            continue
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                out[name] = [dict(r) for r in csv.DictReader(handle)]
        except (OSError, ValueError, csv.Error):
            out[name] = []
    return out


def evidence_bars_spec(rows: Sequence[Mapping[str, Any]], min_effect: float | None,
                       limit: int = 120) -> dict[str, Any]:  # fmt: skip
    """Grouped bars: h-space and caption effect of every pair (by concept), the floor dashed.

    Rows without the two effects (an older ``associations.csv``) show their ``effect`` only.
    """
    shown = sorted(rows[:limit], key=lambda r: (str(r["concept"]), -_number(r.get("effect"))))
    x = [
        [str(r["concept"]) for r in shown],
        [str(r["attribute"]) + ("" if _reliable(r) else " ⚠") for r in shown],
    ]
    both = all("effect_hspace" in r for r in shown)
    series = (
        (("effect_hspace", "h-space (within prompt)", "#1f4e79"),
         ("effect_captions", "captions", "#d9822b"))
        if both else (("effect", "effect", "#1f4e79"),)
    )  # fmt: skip
    traces = []
    for key, name, colour in series:
        traces.append({
            "type": "bar",
            "name": name,
            "x": x,
            "y": [_finite(r.get(key)) for r in shown],
            "marker": {"color": colour,
                       "opacity": [1.0 if _reliable(r) else 0.35 for r in shown]},
            "text": ["★" if r.get("significant") else "" for r in shown],
            "textposition": "outside",
            "customdata": [
                [_fmt(_finite(r.get("q_hspace", r.get("q_value"))), 3),
                 _fmt(_finite(r.get("q_captions", r.get("q_value"))), 3),
                 str(r.get("agreement", "")), "yes" if _reliable(r) else "no (adherence)"]
                for r in shown
            ],
            "hovertemplate": "%{x}<br>" + name + " effect (Cohen's d) %{y:.3f}<br>q h-space "
            "%{customdata[0]} · q captions %{customdata[1]}<br>tests holding: %{customdata[2]}"
            "<br>reliable: %{customdata[3]}<extra></extra>",
        })  # fmt: skip
    layout: dict[str, Any] = {
        "template": "plotly_white",
        "barmode": "group",
        "height": 420,
        "margin": {"l": 60, "r": 20, "t": 20, "b": 90},
        "yaxis": {"title": {"text": "effect (Cohen's d)"}, "zeroline": True},
        "xaxis": {"type": "multicategory", "tickangle": -45},
        "legend": {"orientation": "h", "y": 1.08},
    }
    if min_effect is not None and np.isfinite(min_effect):
        layout["shapes"] = [{
            "type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": min_effect, "y1": min_effect,
            "line": {"dash": "dash", "color": "#c0392b", "width": 1},
        }]  # fmt: skip
    return {"data": traces, "layout": layout}


def pairs_table(rows: Sequence[Mapping[str, Any]], limit: int = 40) -> str:
    """The pairs by q: both tests side by side, which hold, and the gate's verdict."""
    head = (
        "<tr><th>concept</th><th>attribute</th><th>d h-space</th><th>q h-space</th>"
        "<th>d captions</th><th>q captions</th><th>tests holding</th>"
        "<th>caption rate: concept</th><th>baseline</th><th>n</th><th>reliable</th></tr>"
    )
    body = []
    for r in rows[:limit]:
        classes = (["salient"] if r.get("significant") else []) + (
            [] if _reliable(r) else ["unreliable"]
        )
        cls = f' class="{" ".join(classes)}"' if classes else ""
        cells = [
            _e(r["concept"]), _e(r["attribute"]),
            _e(_fmt(_finite(r.get("effect_hspace", r.get("effect"))), 3)),
            _e(_fmt(_finite(r.get("q_hspace", r.get("q_value"))), 3)),
            _e(_fmt(_finite(r.get("effect_captions")), 3)),
            _e(_fmt(_finite(r.get("q_captions", r.get("caption_p_value"))), 3)),
            _e(r.get("agreement") or "—"),
            _e(_fmt(_finite(r.get("caption_rate_concept")), 3)),
            _e(_fmt(_finite(r.get("caption_rate_rest")), 3)),
            _e(f"{_fmt(_finite(r.get('n_concept')), 6)} vs {_fmt(_finite(r.get('n_rest')), 6)}"),
            "yes" if _reliable(r) else "⚠ no",
        ]  # fmt: skip
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    more = ""
    if len(rows) > limit:
        more = f'<p class="sub">{len(rows) - limit} more pairs in associations.csv.</p>'
    return f'<div class="scroll"><table class="pairs">{head}{"".join(body)}</table></div>{more}'


def adherence_section(rows: Sequence[Mapping[str, Any]] | None) -> str:
    """Per family: the share of samples showing the prompted word, and the gate."""
    if rows is None:
        return (
            '<section class="card" id="adherence"><h2>Prompt adherence</h2><p class="empty">'
            "No adherence.csv: the samples were not captioned per family, so whether the model "
            "draws what it is asked for was not checked.</p></section>"
        )
    if not rows:
        return (
            '<section class="card" id="adherence"><h2>Prompt adherence</h2><p class="empty">'
            "No prompt names a word of a captioned family: adherence could not be measured."
            "</p></section>"
        )
    body = []
    for r in rows:
        ok = _reliable(r)
        rate, threshold = _finite(r.get("rate")), _finite(r.get("threshold"))
        pct = f"{100 * rate:.0f} %" if rate is not None else "—"
        width = f"{100 * rate:.0f}" if rate is not None else "0"
        bar = f'<span class="meter"><span style="width:{_e(width)}%"></span></span>'
        verdict = "passes" if ok else "⚠ undertrained: its associations are unreliable"
        body.append(
            f'<tr class="{"" if ok else "unreliable"}"><td>{_e(r.get("family"))}</td>'
            f"<td>{_e(pct)} {bar}</td><td>{_e(r.get('n_samples'))}</td>"
            f"<td>{_e(_fmt(threshold, 3))}</td><td>{_e(verdict)}</td></tr>"
        )
    head = ("<tr><th>family</th><th>samples showing the prompted word</th><th>n</th>"
            "<th>threshold</th><th>gate</th></tr>")  # fmt: skip
    return (
        '<section class="card" id="adherence"><h2>Prompt adherence</h2><p class="sub">How '
        "often the samples show what their prompt asks for, per family (the captioner's word "
        "against the prompt's). Below the threshold the model looks undertrained for that "
        "family, and every association involving it is marked unreliable (⚠).</p>"
        f'<table class="pairs adherence">{head}{"".join(body)}</table></section>'
    )


def extra_tables_section(tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """One card per optional table present (:data:`EXTRA_TABLES`); empty string if none."""
    parts = []
    for name, (title, columns, note) in EXTRA_TABLES.items():
        rows = tables.get(name)
        if rows is None:
            continue
        cols = [c for c in columns if any(c in r for r in rows)] or list(columns)
        head = "".join(f"<th>{_e(c)}</th>" for c in cols)
        body = []
        for r in rows[:MAX_ROWS]:
            cells = []
            for c in cols:
                value = r.get(c, "")
                x = _number(value)
                text = _fmt(x, 3) if value not in ("", None) and np.isfinite(x) else value
                cells.append(f"<td>{_e(text)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        more = (f'<p class="sub">{len(rows) - MAX_ROWS} more rows in {name}.csv.</p>'
                if len(rows) > MAX_ROWS else "")  # fmt: skip
        empty = "" if rows else f'<p class="empty">{_e(name)}.csv has no rows.</p>'
        parts.append(
            f'<section class="card" id="{_e(name)}"><h2>{_e(title)}</h2><p class="sub">'
            f"{_e(note)} From {_e(name)}.csv.</p>{empty}<div class=\"scroll\">"
            f'<table class="pairs extra">' + f"<tr>{head}</tr>" + "".join(body)
            + f"</table></div>{more}</section>"
        )
    return "\n".join(parts)
