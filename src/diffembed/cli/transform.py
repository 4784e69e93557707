"""``diffembed transform``: embed new data with a saved model (Nyström extension, no refit).

A Parquet INPUT is streamed row group by row group (:mod:`.streaming`, constant memory), or
transformed on Dask with ``--dask-scheduler``; other inputs are read whole, after the memory
guard. The output is ``embedding.parquet`` (the layout of ``map``'s) and ``manifest.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .. import _progress
from ..exceptions import InputError
from .common import (
    Columns,
    Debug,
    Exclude,
    Json,
    Overwrite,
    Quiet,
    check_metadata_name,
    manifest_head,
    pick_transform_columns,
    read_input,
    versions,
)
from .console import UI
from .guards import SepOpt
from .map import IdOpt, LabelOpt, OutDir, cli_hint
from .skeleton import CommandRun, require_inputs

__all__ = ["transform_command"]


def transform_command(
    model_dir: Annotated[Path, typer.Argument(help="A saved model directory (OUT/model).")],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="New data to embed.")],
    out: OutDir = ...,  # type: ignore[assignment]
    t: Annotated[
        float | None, typer.Option("--time", "-t", help="Diffusion time (default: the model's).")
    ] = None,
    label: LabelOpt = None,
    id_column: IdOpt = None,
    sep: SepOpt = None,
    columns: Columns = None,
    exclude: Exclude = None,
    block_size: Annotated[
        int, typer.Option(help="Rows per block when streaming a Parquet input.")
    ] = 65_536,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            "--dask-scheduler",
            help="Run the transform on Dask: a scheduler ADDRESS (tcp://host:8786) or 'local' "
            "(a 2-worker cluster on this machine). Needs diffembed[distributed].",
        ),
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Embed new data with a saved model (Nyström extension, no refit).

    A Parquet INPUT is streamed row group by row group (constant memory, any size); with
    --dask-scheduler its partitions are transformed on a Dask cluster.
    """
    ui = UI(quiet=quiet, debug=debug, json_output=json_output)
    with ui.errors(hint=cli_hint):
        _run_transform(ui, model_dir, input_path, out, t, label, id_column, overwrite,
                       block_size=block_size, dask_scheduler=dask_scheduler, sep=sep,
                       pick={"columns": columns, "exclude": exclude})


def _run_transform(
    ui: UI,
    model_dir: Path,
    input_path: Path,
    out: Path,
    t: float | None,
    label: str | None,
    id_column: str | None,
    overwrite: bool,
    *,
    block_size: int = 65_536,
    dask_scheduler: str | None = None,
    sep: str | None = None,
    pick: dict[str, str | None] | None = None,
) -> None:
    from .. import _memory
    from ..io.persistence import load_model, read_model_info
    from ..io.readers import file_sha256
    from .streaming import stream_transform

    check_metadata_name(label, "label")
    require_inputs([input_path])
    run = CommandRun(ui, "transform", out, inputs=[input_path, model_dir], overwrite=overwrite)
    with run.output() as tmp:
        with _progress.stage("load model"):
            info = read_model_info(model_dir)
            _memory.check_memory(
                _memory.model_load_bytes(model_dir), f"loading the model {model_dir}",
                "The model's arrays declare more than this machine holds: check that it is "
                "the model you meant, or load it on a larger machine.",
            )
            model = load_model(model_dir)
        expected = pick_transform_columns(input_path, info.get("feature_names"), label,
                                          id_column, **(pick or {}))
        n_expected = int(model.n_features_in_)
        t_used = float(model.t if t is None else t)
        if input_path.suffix.lower() in (".parquet", ".pq") or dask_scheduler is not None:
            input_info = stream_transform(ui, model, input_path, tmp / "embedding.parquet",
                                           expected, t_used, label, id_column, block_size,
                                           dask_scheduler)
        else:
            input_info = _memory_transform(ui, model, model_dir, input_path, tmp, expected,
                                           n_expected, t_used, label, id_column, sep)
        run.write_manifest({
            **manifest_head("transform"),
            "model": {
                "path": str(model_dir),
                "sha256": file_sha256(Path(model_dir) / "model.json"),
                "n_features": n_expected,
                "feature_names": expected,
            },
            "input": input_info,
            "label_column": label,
            "parameters": {"t": t_used, "block_size": block_size,
                           "dask_scheduler": dask_scheduler},
            "timings": {},
            "versions": versions(),
            "outputs": ["embedding.parquet", "manifest.json"],
        })
    run.summary(
        f"wrote {out / 'embedding.parquet'} and {out / 'manifest.json'} ({run.seconds:.1f} s)",
        results={"n_samples": input_info["n_samples"], "n_features": n_expected, "t": t_used,
                 "streamed": bool(input_info.get("streamed", False))},
    )


def _memory_transform(
    ui: UI,
    model: Any,
    model_dir: Path,
    input_path: Path,
    tmp: Path,
    expected: list[str] | None,
    n_expected: int,
    t_used: float,
    label: str | None,
    id_column: str | None,
    sep: str | None = None,
) -> dict[str, Any]:
    """Read the whole input, transform it, write ``embedding.parquet``; return the input info."""
    from .. import _memory
    from ..io import writers

    is_table = not input_path.name.lower().endswith(".npy")  # named columns
    nbytes, shape = _memory.transform_bytes(model_dir, input_path,
                                            int(getattr(model, "n_neighbors", 15)),
                                            int(model.eigenvalues_.size))
    _memory.check_memory(
        nbytes, f"transforming {input_path.name}" + (f" ({shape[0]} rows)" if shape else ""),
        "Save the input as Parquet: `diffembed transform` streams it block by block "
        "(--block-size).",
    )
    try:
        X, labels, ids, _, input_info = read_input(
            input_path, label, id_column, columns=expected if is_table else None, sep=sep,
            ui=ui,
        )
    except InputError as exc:
        if expected and "lacks the feature column" in str(exc):
            msg = f"{exc} The model was fitted on the columns {', '.join(expected)}."
            raise InputError(msg) from exc
        raise
    if X.shape[1] != n_expected:
        names = f" ({', '.join(expected)})" if expected else ""
        msg = (
            f"{input_path.name} has {X.shape[1]} numeric feature column(s) but the model "
            f"was fitted on {n_expected}{names}. Give data with the same columns."
        )
        raise InputError(msg)
    ui.info(
        f"transform {X.shape[0]} points × {X.shape[1]} features with the model in "
        f"{model_dir} at t={t_used}"
    )
    with ui.capture_warnings(), _progress.stage("transform"):
        coords = model.transform(X, t=t_used)
    with _progress.stage("write"):
        table = writers.embedding_columns(coords, ids=ids, labels=labels, label_name=label)
        writers.write_parquet_atomic(table, tmp / "embedding.parquet")
    return input_info
