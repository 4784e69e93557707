"""The ``diffembed`` command line: ``map``, ``transform``, ``report``, ``export``, ``datasets``.

Every command validates its inputs before heavy work, writes its output directory atomically
(a failed run leaves nothing), records a ``manifest.json`` and keeps stdout clean: progress,
summaries and errors go to stderr. Any input, parameter or file problem exits with code 2 and
one red paragraph that names the problem and the fix.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.table import Table

from .. import __version__, _memory, _progress
from .._estimate import fit_estimate
from .._validation import check_in, check_int
from ..exceptions import DisconnectedGraphError, InputError
from .cells import check_cells, pseudotime_column
from .common import (
    Assets,
    Columns,
    Debug,
    Exclude,
    Overwrite,
    Quiet,
    check_data,
    check_metadata_name,
    flag_hint,
    manifest_command,
    manifest_head,
    parse_bandwidth,
    pick_transform_columns,
    read_input,
    versions,
    write_manifest,
    write_report,
)
from .console import UI, map_summary_table
from .embed import embed_app
from .extras import (
    EXPORT_HINTS,
    EXPORT_OUTPUTS,
    explorer_neighbors,
    parse_formats,
    write_exports,
)
from .guards import SepOpt, check_map_memory, check_read_memory, check_seed
from .latents import latents_app
from .stability import stability_command
from .streaming import stream_transform
from .tree import rebuild_tree_report, tree_command
from .vocabulary import VocabularyGroup

if TYPE_CHECKING:
    from ..diffusion_map import DiffusionMap

__all__ = ["app", "main"]

app = typer.Typer(
    name="diffembed",
    help="Diffusion maps for any table of vectors: embed, transform, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    cls=VocabularyGroup,
)

app.add_typer(embed_app, name="embed")
app.add_typer(latents_app, name="latents")
app.command("tree")(tree_command)
app.command("stability")(stability_command)

_DEBUG = {"on": False}
#: scikit-learn's ``working_memory`` (MiB) for the commands: the chunk of its brute-force
#: distance computations (default 1024).
CLI_WORKING_MEMORY_MIB = 64
# Estimator parameter → command-line option, to translate library messages.
_FLAGS = {
    "n_components": "--n-components",
    "n_neighbors": "--n-neighbors",
    "alpha": "--alpha",
    "bandwidth": "--bandwidth",
    "t": "--time",
    "knn": "--knn",
    "eigen_solver": "--eigen-solver",
    "disconnected": "--disconnected",
    "n_samples": "--n-samples",
    "n_clusters": "--clusters",
    "color_by": "--color-by",
}

OutDir = Annotated[Path, typer.Option("-o", "--out", help="Output directory to create.")]
LabelOpt = Annotated[
    str | None,
    typer.Option("--label", help="Column kept as a label (any type), e.g. to colour by."),
]
IdOpt = Annotated[str | None, typer.Option("--id", help="Column of row identifiers.")]
FormatOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--format",
        help="Viewer export: atlas (atlas.parquet for Embedding Atlas) or projector "
        "(projector/vectors.tsv + metadata.tsv for the TensorFlow Projector). Repeatable.",
    ),
]


def _cli_hint(exc: BaseException, message: str) -> str:
    """Add the command-line spelling of the parameters a library message mentions."""
    if isinstance(exc, DisconnectedGraphError):
        return (
            f"{message} On the command line: --disconnected largest or --disconnected "
            "components, or a larger --n-neighbors."
        )
    return flag_hint(message, _FLAGS)


def _ui(quiet: bool, debug: bool) -> UI:
    return UI(quiet=quiet, debug=debug or _DEBUG["on"])


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"diffembed {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    debug: Debug = False,
) -> None:
    """Diffusion maps for any table of vectors: embed, transform, report."""
    _DEBUG["on"] = debug
    import sklearn

    # scikit-learn's brute-force searches (the kNN repair, cosine neighbours of the reports)
    # compute distances in chunks of ``working_memory`` MiB, 1 GiB by default: that chunk was
    # the peak of `embed words --evaluate` (1.3 GiB against 0.6 GiB for the fit)
    sklearn.set_config(working_memory=CLI_WORKING_MEMORY_MIB)


# --------------------------------------------------------------------------------- map
@app.command("map")
def map_command(
    input_path: Annotated[
        Path | None,
        typer.Argument(
            metavar="INPUT", help="Data file: .npy, .csv, .tsv, .parquet or .h5ad (AnnData).",
            show_default=False,
        ),
    ] = None,
    out: OutDir = ...,  # type: ignore[assignment]
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Built-in data: swiss-roll, s-curve, digits.")
    ] = None,
    use_rep: Annotated[
        str | None,
        typer.Option("--use-rep", help=".h5ad input: the obsm key to embed (X_pca...) or X. "
                     "Default X_pca when there are > 50 genes and it exists, else X."),
    ] = None,
    root: Annotated[
        int | None,
        typer.Option("--root", help="Row index of a root cell: adds a dpt_pseudotime column "
                     "(diffusion pseudotime, 0 at the root, 1 at the farthest point)."),
    ] = None,
    root_label: Annotated[
        str | None,
        typer.Option("--root-label", help="Like --root, the root chosen in this --label group "
                     "(its cell farthest, in pseudotime distance, from the other cells)."),
    ] = None,
    n_samples: Annotated[
        int | None, typer.Option("--n-samples", help="Points drawn from --dataset.")
    ] = None,
    label: LabelOpt = None,
    id_column: IdOpt = None,
    sep: SepOpt = None,
    columns: Columns = None,
    exclude: Exclude = None,
    n_components: Annotated[int, typer.Option(help="Diffusion coordinates to keep.")] = 10,
    n_neighbors: Annotated[int, typer.Option(help="Neighbours per point in the graph.")] = 15,
    alpha: Annotated[float, typer.Option(help="Density normalisation in [0, 1].")] = 1.0,
    bandwidth: Annotated[
        str,
        typer.Option(
            help="auto (the default rule: today adaptive), adaptive (self-tuning), bgh (the "
            "Berry-Giannakis-Harlim sweep), knn (squared median k-th-neighbour distance) or "
            "epsilon (a number)."
        ),
    ] = "auto",
    t: Annotated[
        float, typer.Option("--time", "-t", help="Diffusion time of the coordinates.")
    ] = 1.0,
    knn: Annotated[
        str, typer.Option(metavar="[auto|exact|approximate]", help="auto, exact or approximate.")
    ] = "auto",
    eigen_solver: Annotated[
        str,
        typer.Option(
            metavar="[auto|dense|arpack|shift_invert|lobpcg|amg]",
            help="auto, dense, arpack, shift_invert, lobpcg or amg.",
        ),
    ] = "auto",
    disconnected: Annotated[
        str, typer.Option(metavar="[auto|raise|largest|components]",
                          help="auto (each component, with a warning), raise, largest or "
                          "components (for a split graph).")
    ] = "auto",
    clusters: Annotated[
        int | None, typer.Option("--clusters", help="Add k-means clusters (K) on the coordinates.")
    ] = None,
    landmarks: Annotated[
        int | None,
        typer.Option(
            "--landmarks",
            help="Fit on M landmarks and place every point by Nyström (LandmarkDiffusionMap): "
            "for very large inputs.",
        ),
    ] = None,
    landmark_method: Annotated[
        str,
        typer.Option(
            metavar="[random|kmeans++]", help="Landmark rule with --landmarks: random or kmeans++."
        ),
    ] = "random",
    random_state: Annotated[
        int, typer.Option(help="Seed of every random step.", callback=check_seed)
    ] = 0,
    explorer_k: Annotated[
        int | None,
        typer.Option(
            "--explorer-neighbors",
            help="Nearest neighbours per point (input space) saved as neighbors.npy and shown "
            "by the report's explorer; 0 saves none. Default 10, or 0 with --landmarks (it "
            "would be a second kNN search over all points).",
            show_default=False,
        ),
    ] = None,
    formats: FormatOpt = None,
    overwrite: Overwrite = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip report.html.")] = False,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
) -> None:
    """Fit a diffusion map and write embedding, spectrum, model, manifest and report."""
    ui = _ui(quiet, debug)
    with ui.errors(hint=_cli_hint):
        _run_map(
            ui,
            input_path=input_path,
            out=out,
            dataset=dataset,
            n_samples=n_samples,
            label=label,
            id_column=id_column,
            sep=sep,
            pick={"columns": columns, "exclude": exclude},
            clusters=clusters,
            overwrite=overwrite,
            report=not no_report,
            random_state=random_state,
            explorer_k=explorer_k if explorer_k is not None else (10 if landmarks is None else 0),
            formats=parse_formats(formats, "map"),
            landmarks=(None if landmarks is None
                       else {"landmarks": landmarks, "landmark_method": landmark_method}),
            cells={"use_rep": use_rep, "root": root, "root_label": root_label},
            params={
                "n_components": n_components,
                "n_neighbors": n_neighbors,
                "alpha": alpha,
                "bandwidth": parse_bandwidth(bandwidth),
                "t": t,
                "knn": knn,
                "eigen_solver": eigen_solver,
                "disconnected": disconnected,
                "random_state": random_state,
            },
        )


def _run_map(
    ui: UI,
    *,
    input_path: Path | None,
    out: Path,
    dataset: str | None,
    n_samples: int | None,
    label: str | None,
    id_column: str | None,
    clusters: int | None,
    overwrite: bool,
    report: bool,
    random_state: int,
    explorer_k: int,
    formats: list[str],
    params: dict[str, Any],
    landmarks: dict[str, Any] | None = None,
    cells: dict[str, Any] | None = None,
    sep: str | None = None,
    pick: dict[str, str | None] | None = None,
) -> None:
    from ..diffusion_map import DiffusionMap
    from ..io import writers
    from ..io.persistence import save_model
    from ..landmarks import LandmarkDiffusionMap

    start = time.perf_counter()
    if (input_path is None) == (dataset is None):
        msg = (
            "Give exactly one data source: an INPUT file or --dataset NAME "
            f"({'both were given' if dataset else 'neither was given'}). "
            "Example: diffembed map --dataset swiss-roll -o out/"
        )
        raise InputError(msg)
    if dataset is not None and (label or id_column):
        msg = "--label and --id select columns of an INPUT file; a --dataset brings its own label."
        raise InputError(msg)
    if input_path is not None and n_samples is not None:
        msg = "--n-samples applies to --dataset only; subsample the INPUT file yourself."
        raise InputError(msg)
    if dataset is not None:
        from ..datasets import DATASETS

        if dataset not in DATASETS:
            msg = (
                f"Unknown dataset {dataset!r} for --dataset; choose one of: {', '.join(DATASETS)}."
            )
            raise InputError(msg)
    check_metadata_name(label, "label")
    cells = check_cells(cells or {}, input_path, label)
    model: Any = DiffusionMap(**params)
    model._check_params()
    if landmarks is not None:
        check_in(landmarks["landmark_method"], "--landmark-method", ("random", "kmeans++"))
        check_int(landmarks["landmarks"], "--landmarks", low=2)
        model = LandmarkDiffusionMap(**params, **landmarks)
    if clusters is not None and clusters < 1:
        msg = f"--clusters {clusters} is not valid: give the number of clusters K >= 1."
        raise InputError(msg)
    if explorer_k < 0:
        msg = f"--explorer-neighbors {explorer_k} is not valid: give a number >= 0 (0: none)."
        raise InputError(msg)

    inputs = [] if input_path is None else [input_path]
    if input_path is not None:
        check_read_memory(input_path)
    with ui.stages() as timings, writers.output_directory(out, overwrite, inputs=inputs) as tmp:
        if input_path is not None and cells["use_rep"] is not None:
            from ..io.anndata import read_h5ad_input

            X, labels, ids, names, input_info = read_h5ad_input(input_path, label, id_column,
                                                                cells["use_rep"])
            label_name, source = label, input_path.name
        elif input_path is not None:
            X, labels, ids, names, input_info = read_input(input_path, label, id_column,
                                                           sep=sep, ui=ui, **(pick or {}))
            label_name, source = label, input_path.name
        else:
            from ..datasets import feature_names, load_dataset

            with _progress.stage("read"):
                X, labels, label_name, _ = load_dataset(
                    dataset, n_samples=n_samples, random_state=random_state
                )
            ids, names, source = None, feature_names(dataset, X.shape[1]), f"dataset {dataset}"
            input_info = {
                "path": None,
                "dataset": dataset,
                "sha256": hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest(),
                "n_samples": int(X.shape[0]),
                "n_features": int(X.shape[1]),
            }
        check_data(X, names, source)
        shown = " ".join(f"{k}={v}" for k, v in params.items() if k != "random_state")
        ui.info(
            f"diffusion map of {source}: {X.shape[0]} points × {X.shape[1]} features · {shown}"
            f" random_state={random_state}"
        )
        n_landmarks = None if landmarks is None else landmarks["landmarks"]
        memory = check_map_memory(X.shape, params, n_landmarks, explorer_k, report, input_path)
        estimate = fit_estimate(X.shape[0], X.shape[1], memory, n_landmarks,
                                params["n_neighbors"])
        if estimate is not None:
            ui.info(estimate)
        with ui.capture_warnings():
            model.fit(X)
            cluster_labels = None
            if clusters is not None:
                from ..clustering import diffusion_clusters

                with _progress.stage("clusters"):
                    cluster_labels = diffusion_clusters(model, clusters, random_state=random_state)
            found = explorer_neighbors(X, explorer_k, getattr(model, "landmark_model_", model))
            pseudotime = pseudotime_column(model, cells, labels)

        with _progress.stage("write"):
            table = writers.embedding_columns(
                model.embedding_,
                ids=ids,
                labels=labels,
                label_name=label_name,
                clusters=cluster_labels,
            )
            if pseudotime is not None:
                import pyarrow as pa

                table["dpt_pseudotime"] = pa.array(pseudotime[0])
            writers.write_parquet_atomic(table, tmp / "embedding.parquet")
            writers.write_csv_atomic(
                {
                    "component": np.arange(1, model.eigenvalues_.size + 1, dtype=np.int64),
                    "eigenvalue": model.eigenvalues_,
                    "timescale": model.timescales_,
                },
                tmp / "spectrum.csv",
            )
            named = input_path is None or input_path.suffix.lower() != ".npy"
            save_model(model, tmp / "model", feature_names=names if named else None)
            outputs = ["embedding.parquet", "spectrum.csv"]
            if found is not None:
                writers.write_npy_atomic(found[0], tmp / "neighbors.npy")
                writers.write_npy_atomic(found[1], tmp / "neighbor_distances.npy")
                outputs += ["neighbors.npy", "neighbor_distances.npy"]
        outputs += ["model/", "manifest.json"]
        outputs += ["report.html"] if report else []
        outputs += [EXPORT_OUTPUTS[f] for f in formats]
        nbr_info = None if found is None else found[2]
        manifest = _map_manifest(model, input_info, label_name, timings, outputs, nbr_info)
        if pseudotime is not None:
            manifest["dpt"] = pseudotime[1]
        write_manifest(manifest, tmp, timings, start)
        if report:
            with _progress.stage("report"):
                write_report(tmp, source=out)
        write_exports(tmp, formats)
        write_manifest(manifest, tmp, timings, start)
    ui.show(map_summary_table(model, out, outputs, cluster_labels, time.perf_counter() - start))
    for fmt in formats:
        ui.info(f"open the {fmt} export: {EXPORT_HINTS[fmt].format(dir=out)}")


def _map_manifest(
    model: DiffusionMap,
    input_info: dict[str, Any],
    label_name: str | None,
    timings: dict[str, float],
    outputs: list[str],
    neighbors: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from ..diffusion_checks import DEGENERATE_TOL, count_near_one

    bw = model.bandwidth
    inner = getattr(model, "landmark_model_", model)  # a landmark fit reports its landmarks' graph
    landmark_info = {}
    if inner is not model:
        landmark_info = {"landmarks": {"n_landmarks": int(model.landmark_indices_.size),
                                       "method": model.landmark_method,
                                       "generator_eigenvalues": model.generator_eigenvalues_}}
    return {
        **manifest_head("map"),
        "input": input_info,
        "label_column": label_name,
        "parameters": model.get_params(),
        "results": {
            "bandwidth": model.bandwidth_,
            "bandwidth_method": bw if isinstance(bw, str) else "fixed",
            "intrinsic_dimension": model.intrinsic_dimension_,
            "n_duplicates": inner.n_duplicates_,
            "n_connected_components": inner.n_connected_components_,
            "knn_method": inner.knn_method_,
            "knn_recall": getattr(inner, "knn_recall_", None),
            "eigen_solver": inner.eigen_solver_,
            "eigenvalues": model.eigenvalues_,
            "timescales": model.timescales_,
            # non-trivial eigenvalues at 1 within precision (the fit warned): the report marks them
            "degenerate_eigenvalues": count_near_one(model.eigenvalues_, DEGENERATE_TOL),
            "degenerate_tolerance": DEGENERATE_TOL,
        },
        **landmark_info,
        **({"neighbors": neighbors} if neighbors is not None else {}),
        "timings": timings,
        "versions": versions(),
        "outputs": outputs,
    }


# --------------------------------------------------------------------------- transform
@app.command("transform")
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
) -> None:
    """Embed new data with a saved model (Nyström extension, no refit).

    A Parquet INPUT is streamed row group by row group (constant memory, any size); with
    --dask-scheduler its partitions are transformed on a Dask cluster.
    """
    ui = _ui(quiet, debug)
    with ui.errors(hint=_cli_hint):
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
    from ..io import writers
    from ..io.persistence import load_model, read_model_info

    start = time.perf_counter()
    check_metadata_name(label, "label")
    if not input_path.exists():
        msg = f"Input file {input_path} does not exist. Check the path."
        raise InputError(msg)
    with (
        ui.stages() as timings,
        writers.output_directory(out, overwrite, inputs=[input_path, model_dir]) as tmp,
    ):
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
        from ..io.readers import file_sha256

        manifest = {
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
            "timings": timings,
            "versions": versions(),
            "outputs": ["embedding.parquet", "manifest.json"],
        }
        write_manifest(manifest, tmp, timings, start)
    ui.info(
        f"wrote {out / 'embedding.parquet'} and {out / 'manifest.json'} "
        f"({time.perf_counter() - start:.1f} s)"
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


# ------------------------------------------------------------------------------ report
@app.command("report")
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
) -> None:
    """Rebuild OUT/report.html from the saved outputs (no refit)."""
    ui = _ui(quiet, debug)
    with ui.errors(hint=_cli_hint):
        _run_report(ui, out, color_by)
        _record_outputs(out, ["report.html", *(["plotly.min.js"] if assets == "shared" else [])])


def _check_out_dir(out: Path) -> None:
    if not out.is_dir() or not (out / "embedding.parquet").is_file():
        msg = (
            f"{out} is not an output directory of `diffembed map` (no embedding.parquet in it). "
            "Run diffembed map ... -o OUT first."
        )
        raise InputError(msg)


def _record_outputs(out: Path, names: list[str]) -> None:
    """Add ``names`` to the ``outputs`` and ``files`` of ``out/manifest.json`` (if any)."""
    import json

    from ..io.ownership import record_files
    from ..io.writers import write_json_atomic

    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        missing = [name for name in names if name not in manifest.get("outputs", [])]
        if missing:
            manifest.setdefault("outputs", []).extend(missing)
            write_json_atomic(manifest, manifest_path)
        record_files(out, names)  # so that a later --overwrite may replace them


def _run_report(ui: UI, out: Path, color_by: str | None) -> None:
    command = manifest_command(out)
    if command == "tree":
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
    _record_outputs(out, ["report.html"])
    ui.info(f"wrote {out / 'report.html'}")


# ------------------------------------------------------------------------------ export
@app.command("export")
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
) -> None:
    """Export OUT for Embedding Atlas (atlas.parquet) or the TensorFlow Projector (projector/)."""
    from ..io.exporters import output_kind

    ui = _ui(quiet, debug)
    with ui.errors(hint=_cli_hint):
        chosen = parse_formats(formats)
        if not chosen:
            msg = "Choose what to export: --format atlas and/or --format projector."
            raise InputError(msg)
        kind = output_kind(out)  # map, tree, embed or stability: else the error names the fix
        parse_formats(formats, kind)  # h5ad only for a map: refused before any export is written
        with ui.stages():
            written = write_exports(out, chosen, t=t)
        _record_outputs(out, written)
        for fmt, name in zip(chosen, written, strict=True):
            ui.info(f"wrote {out / name} · open: {EXPORT_HINTS[fmt].format(dir=out)}")


# ---------------------------------------------------------------------------- datasets
@app.command("datasets")
def datasets_command() -> None:
    """List the built-in datasets (usable with `diffembed map --dataset NAME`)."""
    from rich.console import Console

    from ..datasets import DATASETS

    table = Table("name", "description", box=None, show_header=True)
    for name, description in DATASETS.items():
        table.add_row(name, description)
    Console(highlight=False).print(table)


def main() -> None:
    """Entry point of the ``diffembed`` console script (SIGTERM stops a run like Ctrl-C)."""
    from .console import handle_sigterm

    handle_sigterm()
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
