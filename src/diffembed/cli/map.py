"""``diffembed map``: fit a diffusion map of a table (or a built-in dataset) and write it.

Writes, atomically, ``embedding.parquet`` (``id``, ``dc1``…, the label, ``cluster``,
``dpt_pseudotime``), ``spectrum.csv``, ``neighbors.npy`` + ``neighbor_distances.npy`` (the
explorer's input-space neighbours), ``model/``, ``manifest.json``, ``report.html`` and the
viewer exports; the stages are :class:`~diffembed.cli.skeleton.CommandRun`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..exceptions import DisconnectedGraphError, InputError
from .common import (
    Assets,
    Columns,
    Debug,
    Exclude,
    Json,
    NoReport,
    Overwrite,
    Quiet,
    check_data,
    check_metadata_name,
    flag_hint,
    manifest_head,
    parse_bandwidth,
    versions,
    write_report,
)
from .console import UI
from .guards import SepOpt, check_seed
from .skeleton import CommandRun, check_sources

if TYPE_CHECKING:
    from ..diffusion_map import DiffusionMap

__all__ = ["FormatOpt", "IdOpt", "LabelOpt", "OutDir", "cli_hint", "map_command"]

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


def cli_hint(exc: BaseException, message: str) -> str:
    """Add the command-line spelling of the parameters a library message mentions."""
    if isinstance(exc, DisconnectedGraphError):
        return (
            f"{message} On the command line: --disconnected largest or --disconnected "
            "components, or a larger --n-neighbors."
        )
    return flag_hint(message, _FLAGS)


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
    no_report: NoReport = False,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Fit a diffusion map and write embedding, spectrum, model, manifest and report."""
    from .extras import parse_formats

    ui = UI(quiet=quiet, debug=debug, json_output=json_output)
    with ui.errors(hint=cli_hint):
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


def _check_map(
    input_path: Path | None,
    dataset: str | None,
    n_samples: int | None,
    label: str | None,
    id_column: str | None,
    clusters: int | None,
    explorer_k: int,
    params: dict[str, Any],
    landmarks: dict[str, Any] | None,
    cells: dict[str, Any],
) -> tuple[Any, dict[str, Any]]:
    """Refuse bad options before any work; return the unfitted estimator and the cells."""
    from .._validation import check_in, check_int
    from ..diffusion_map import DiffusionMap
    from ..landmarks import LandmarkDiffusionMap
    from .cells import check_cells

    check_sources("map", input_path, dataset, n_samples, label, id_column)
    check_metadata_name(label, "label")
    cells = check_cells(cells, input_path, label)
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
    return model, cells


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
    from .. import _progress
    from .._estimate import fit_estimate
    from .cells import pseudotime_column
    from .console import map_summary_table
    from .extras import EXPORT_HINTS, EXPORT_OUTPUTS, explorer_neighbors
    from .guards import check_map_memory

    run = CommandRun(ui, "map", out, inputs=[] if input_path is None else [input_path],
                     overwrite=overwrite, table=input_path)
    model, cells = _check_map(input_path, dataset, n_samples, label, id_column, clusters,
                              explorer_k, params, landmarks, cells or {})
    with run.output() as tmp:
        data = run.read_table(input_path, label=label, id_column=id_column, sep=sep, pick=pick,
                              dataset=dataset, n_samples=n_samples, random_state=random_state,
                              use_rep=cells["use_rep"])
        X = data.X
        check_data(X, data.names, data.source)
        shown = " ".join(f"{k}={v}" for k, v in params.items() if k != "random_state")
        ui.info(
            f"diffusion map of {data.source}: {X.shape[0]} points × {X.shape[1]} features · "
            f"{shown} random_state={random_state}"
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
            pseudotime = pseudotime_column(model, cells, data.labels)
        with _progress.stage("write"):
            outputs = _write_map(model, data, tmp, cluster_labels, pseudotime, found,
                                 named=input_path is None or input_path.suffix.lower() != ".npy")
        outputs += ["model/", "manifest.json"]
        outputs += ["report.html"] if report else []
        outputs += [EXPORT_OUTPUTS[f] for f in formats]
        nbr_info = None if found is None else found[2]
        manifest = _map_manifest(model, data.info, data.label_name, outputs, nbr_info)
        if pseudotime is not None:
            manifest["dpt"] = pseudotime[1]
        run.finish(manifest, report=(lambda d: write_report(d, source=out)) if report else None,
                   exports=formats)
    run.summary(map_summary_table(model, out, outputs, cluster_labels, run.seconds))
    for fmt in formats:
        ui.info(f"open the {fmt} export: {EXPORT_HINTS[fmt].format(dir=out)}")


def _write_map(
    model: Any,
    data: Any,
    tmp: Path,
    cluster_labels: Any,
    pseudotime: Any,
    found: Any,
    *,
    named: bool,
) -> list[str]:
    """Write the embedding, spectrum, neighbours and model; return the files written."""
    import numpy as np

    from ..io import writers
    from ..io.persistence import save_model

    table = writers.embedding_columns(model.embedding_, ids=data.ids, labels=data.labels,
                                      label_name=data.label_name, clusters=cluster_labels)
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
    save_model(model, tmp / "model", feature_names=data.names if named else None)
    outputs = ["embedding.parquet", "spectrum.csv"]
    if found is not None:
        writers.write_npy_atomic(found[0], tmp / "neighbors.npy")
        writers.write_npy_atomic(found[1], tmp / "neighbor_distances.npy")
        outputs += ["neighbors.npy", "neighbor_distances.npy"]
    return outputs


def _map_manifest(
    model: DiffusionMap,
    input_info: dict[str, Any],
    label_name: str | None,
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
        "timings": {},
        "versions": versions(),
        "outputs": outputs,
    }
