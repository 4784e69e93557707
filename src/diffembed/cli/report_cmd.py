"""``diffembed report``, ``export`` and ``datasets``: work on saved outputs, no refit.

``report OUT`` rebuilds the page of whichever command wrote ``OUT`` (``map``, ``tree``,
``embed …``, ``stability``, ``latents decode``); ``export OUT --format …`` writes the viewer
files; ``datasets`` lists the built-in data. With ``--json`` each prints one JSON object on
stdout (:func:`~diffembed.cli.skeleton.summary_from_manifest`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .. import _progress
from ..exceptions import InputError
from .common import Assets, Debug, Json, Quiet, manifest_command, write_report
from .console import UI
from .map import FormatOpt, cli_hint
from .skeleton import record_outputs, summary_from_manifest

__all__ = ["datasets_command", "export_command", "report_command"]


def report_command(
    out: Annotated[
        Path, typer.Argument(metavar="OUT", help="An output directory of `map` or `tree`.")
    ],
    color_by: Annotated[
        str | None, typer.Option("--color-by", help="Column of embedding.parquet to colour by.")
    ] = None,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Rebuild OUT/report.html from the saved outputs (no refit)."""
    ui = UI(quiet=quiet, debug=debug, json_output=json_output)
    start = time.perf_counter()
    with ui.errors(hint=cli_hint):
        _run_report(ui, out, color_by)
        written = ["report.html", *(["plotly.min.js"] if assets == "shared" else [])]
        record_outputs(out, written)
    ui.summary(summary_from_manifest(
        {"command": "report", "outputs": written,
         "timings": {**ui.timings, "total": time.perf_counter() - start}},
        out, results={"source_command": manifest_command(out), "color_by": color_by},
    ))


def _check_out_dir(out: Path) -> None:
    if not out.is_dir() or not (out / "embedding.parquet").is_file():
        msg = (
            f"{out} is not an output directory of `diffembed map` (no embedding.parquet in it). "
            "Run diffembed map ... -o OUT first."
        )
        raise InputError(msg)


def _run_report(ui: UI, out: Path, color_by: str | None) -> None:
    command = manifest_command(out)
    if command == "tree":
        from .tree import rebuild_tree_report

        rebuild_tree_report(ui, out, color_by)
        return
    if command == "latents decode":
        from .latents_decode import rebuild_decode_report

        rebuild_decode_report(ui, out)
        return
    if command == "stability":
        from ..plotting.stability_report import write_stability_report

        with ui.stages(), _progress.stage("report"):
            path = write_stability_report(out)
        ui.info(f"wrote {path}")
        return
    if (out / "vectors.parquet").is_file() and not (out / "embedding.parquet").is_file():
        from ..plotting.embed_figures import write_embed_report  # an `embed ...` output

        with ui.stages(), _progress.stage("report"):
            path = write_embed_report(out)
        ui.info(f"wrote {path}")
        return
    _check_out_dir(out)
    with ui.stages(), _progress.stage("report"):
        write_report(out, source=out, color_by=color_by)
    record_outputs(out, ["report.html"])
    ui.info(f"wrote {out / 'report.html'}")


def export_command(
    out: Annotated[
        Path,
        typer.Argument(
            metavar="OUT", help="An output directory of `map`, `tree`, `embed ...` or `stability`."
        ),
    ],
    formats: FormatOpt = None,
    t: Annotated[
        float | None,
        typer.Option(
            "--time",
            "-t",
            help="Diffusion time of the exported coordinates of a `map` output (default: the "
            "saved one; another is computed from the saved eigenvalues, no refit).",
        ),
    ] = None,
    quiet: Quiet = False,
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Export OUT for Embedding Atlas (atlas.parquet) or the TensorFlow Projector (projector/)."""
    from ..io.exporters import output_kind
    from .extras import EXPORT_HINTS, parse_formats, write_exports

    ui = UI(quiet=quiet, debug=debug, json_output=json_output)
    start = time.perf_counter()
    with ui.errors(hint=cli_hint):
        chosen = parse_formats(formats)
        if not chosen:
            msg = "Choose what to export: --format atlas and/or --format projector."
            raise InputError(msg)
        kind = output_kind(out)  # map, tree, embed or stability: else the error names the fix
        parse_formats(formats, kind)  # h5ad only for a map: refused before any export is written
        with ui.stages():
            written = write_exports(out, chosen, t=t)
        record_outputs(out, written)
        for fmt, name in zip(chosen, written, strict=True):
            ui.info(f"wrote {out / name} · open: {EXPORT_HINTS[fmt].format(dir=out)}")
    ui.summary(summary_from_manifest(
        {"command": "export", "outputs": written,
         "timings": {**ui.timings, "total": time.perf_counter() - start}},
        out, results={"source_command": kind, "formats": chosen, "t": t},
    ))


def datasets_command(json_output: Json = False) -> None:
    """List the built-in datasets (usable with `diffembed map --dataset NAME`)."""
    from ..datasets import DATASETS

    if json_output:
        UI(json_output=True).summary({
            "command": "datasets",
            "datasets": [{"name": n, "description": d} for n, d in DATASETS.items()],
        })
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "description", box=None, show_header=True)
    for name, description in DATASETS.items():
        table.add_row(name, description)
    Console(highlight=False).print(table)
