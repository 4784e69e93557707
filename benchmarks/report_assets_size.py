#!/usr/bin/env python
"""Size of report.html with plotly.js inline (the default) and with ``--assets shared``.

One command, from the repository root (no browser needed)::

    .venv/bin/python benchmarks/report_assets_size.py

Builds the synthetic outputs of :mod:`report_size` (``map`` at 150 and 10,000 points; ``tree``,
``embed words`` and ``stability`` at 1,000) twice: once self-contained, once with shared assets
(the page loads ``plotly.min.js`` written beside it). Prints a markdown table, with what a
folder of 20 such pages weighs each way, and saves it to
``benchmarks/results/report_assets_size.md``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import report_size  # the synthetic outputs

RESULTS = Path(__file__).parent / "results" / "report_assets_size.md"
CASES = (("map", 150), ("map", 10_000), ("tree", 1_000), ("embed", 1_000), ("stability", 1_000))


def main() -> None:
    """Build every case both ways; print and save the table."""
    from diffembed.plotting.page import PLOTLY_FILE, report_assets

    lines = [
        "| report | points | inline report.html | shared: report.html | shared: "
        f"{PLOTLY_FILE} | 20 pages inline | 20 pages shared (one folder) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="report-assets-") as tmp:
        for report, n in CASES:
            size = {}
            for assets in ("inline", "shared"):
                with report_assets(assets):
                    path = report_size._build(report, n, Path(tmp) / assets)
                size[assets] = path.stat().st_size / 1e6
                js = path.parent / PLOTLY_FILE
                size[f"{assets}-js"] = js.stat().st_size / 1e6 if js.exists() else 0.0
            lines.append(
                f"| {report} | {n:,} | {size['inline']:.2f} MB | {size['shared']:.2f} MB | "
                f"{size['shared-js']:.2f} MB | {20 * size['inline']:.0f} MB | "
                f"{20 * size['shared'] + size['shared-js']:.1f} MB |"
            )
    text = (
        "# report.html with plotly.js inline or shared\n\n"
        "`python benchmarks/report_assets_size.py` · synthetic outputs of "
        "`benchmarks/report_size.py`\n\n" + "\n".join(lines) + "\n\n"
        "Shared: one plotly.min.js serves every page of its folder. A command's output folder "
        "holds one report, so its folder carries one copy; pages written side by side (the "
        "Python writers' `path=`) share it.\n"
    )
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
