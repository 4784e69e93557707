"""Plots and the offline HTML report of a diffusion-map run.

Importing this package loads numpy only; plotly and pyarrow are imported by the functions that
need them.
"""

from __future__ import annotations

from .report import MAX_POINTS, build_report_html, read_neighbors, read_spectrum, write_report

__all__ = ["MAX_POINTS", "build_report_html", "read_neighbors", "read_spectrum", "write_report"]
