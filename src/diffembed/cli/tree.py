"""``diffembed tree``: a bottom-up diffusion hierarchy of a table, written to a directory.

Fits :class:`~diffembed.hierarchy.DiffusionHierarchy` and writes, atomically (a failed run
leaves nothing; an existing directory is refused unless ``--overwrite``):

==================  ===========================================================================
``levels.parquet``  ``id``, the label column (with ``--label`` or a ``--dataset``),
                    ``component`` (int32: the connected component of the neighbour graph whose
                    diffusion coordinates the point has, 0 the largest; a component with less
                    than 5 % of the points shares the coordinates of the large one nearest to
                    it and its number), then one
                    int32 column ``level_<j>`` per written level ``j`` (fine → coarse): the
                    cluster of every point, numbered 0..k-1 in order of the cluster's first
                    point, as :meth:`DiffusionHierarchy.level(j) <.DiffusionHierarchy.level>`
                    returns them. Every level is written when the tree has at most
                    :data:`MAX_LEVEL_COLUMNS`; otherwise the levels closest to the ladder
                    1..32 clusters then ×1.25, plus every salient level, plus the singletons
                    and the root. ``j`` is always the estimator's level index.
``linkage.npy``     the scipy linkage (n - 1, 4): ``dendrogram``/``fcluster`` work on it.
``nodes.parquet``   one row per coarse node of the written levels (level 0, the points
                    themselves, left out): ``node`` (row id), ``level``, ``cluster`` (its
                    label in ``level_<j>``), ``n_clusters``, ``parent`` (the ``node`` that
                    contains it in the next coarser written level, -1 at the root),
                    ``size``, ``scale`` (height at which the level formed) and ``dc1``..
                    ``dcK`` (mean diffusion coordinates: its position).
``coordinates.npy`` the coordinates the tree was built on (``embedding_``, float64, n × K);
                    the report's scatter draws its first two columns.
``manifest.json``   command ``tree``, input (SHA-256), parameters as resolved, results (levels,
                    salient levels, null threshold, components), per written level its cluster
                    count, scale, persistence and salience, timings, versions, outputs.
``report.html``     the offline tree report (:mod:`diffembed.plotting.tree_report`).
==================  ===========================================================================

Register it on the main app with ``app.command("tree")(tree_command)``; ``diffembed report
OUT/`` rebuilds the page with :func:`rebuild_tree_report` when :func:`is_tree_output` says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.table import Table

from .. import _progress
from ..exceptions import InputError
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
    flag_hint,
    manifest_command,
    manifest_head,
    versions,
)
from .console import UI, format_seconds
from .guards import SepOpt, check_seed
from .skeleton import CommandRun, check_sources

if TYPE_CHECKING:
    from ..hierarchy import DiffusionHierarchy

__all__ = [
    "MAX_LEVEL_COLUMNS",
    "coordinate_groups",
    "is_tree_output",
    "level_table",
    "node_table",
    "rebuild_tree_report",
    "select_levels",
    "tree_command",
]

#: A tree with at most this many levels has all of them written to ``levels.parquet``.
MAX_LEVEL_COLUMNS = 96
ENGINES = ("ward", "condensation")
_RESERVED = re.compile(r"^(id|component|level_\d+)$")
_FLAGS = {
    "engine": "--engine",
    "n_neighbors": "--n-neighbors",
    "n_components": "--n-components",
    "n_null": "--n-null",
    "n_samples": "--n-samples",
    "random_state": "--random-state",
}


def _hint(exc: BaseException, message: str) -> str:
    """Add the command-line spelling of the parameters a library message mentions."""
    return flag_hint(message, _FLAGS)


def tree_command(
    input_path: Annotated[
        Path | None,
        typer.Argument(
            metavar="INPUT", help="Data file: .npy, .csv, .tsv or .parquet.", show_default=False
        ),
    ] = None,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output directory to create.")] = ...,  # type: ignore[assignment]
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Built-in data: swiss-roll, s-curve, digits.")
    ] = None,
    n_samples: Annotated[
        int | None, typer.Option("--n-samples", help="Points drawn from --dataset.")
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="Column kept as a label (any type).")
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id", help="Column of row identifiers.")
    ] = None,
    sep: SepOpt = None,
    columns: Columns = None,
    exclude: Exclude = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", metavar="[ward|condensation]",
            help="ward (deterministic, default) or condensation.",
        ),
    ] = "ward",
    n_neighbors: Annotated[int, typer.Option(help="Neighbours per point in the graph.")] = 15,
    n_components: Annotated[
        int, typer.Option(help="Diffusion coordinates per graph component.")
    ] = 20,
    n_null: Annotated[
        int,
        typer.Option(help="Permutation-null draws that decide the salient levels (0: none)."),
    ] = 5,
    random_state: Annotated[
        int, typer.Option(help="Seed of every random step.", callback=check_seed)
    ] = 0,
    overwrite: Overwrite = False,
    no_report: NoReport = False,
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            help="Viewer export: atlas (atlas.parquet for Embedding Atlas) or projector "
            "(projector/ for the TensorFlow Projector). Repeatable.",
        ),
    ] = None,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Build a bottom-up diffusion hierarchy: levels, linkage, nodes, manifest and report."""
    ui = UI(quiet=quiet, debug=debug, json_output=json_output)
    with ui.errors(hint=_hint):
        _run_tree(
            ui,
            input_path=input_path,
            out=out,
            dataset=dataset,
            n_samples=n_samples,
            label=label,
            id_column=id_column,
            overwrite=overwrite,
            report=not no_report,
            formats=formats,
            sep=sep,
            pick={"columns": columns, "exclude": exclude},
            params={
                "engine": engine,
                "n_neighbors": n_neighbors,
                "n_components": n_components,
                "n_null": n_null,
                "random_state": random_state,
            },
        )


def _check_sources(
    input_path: Path | None,
    dataset: str | None,
    n_samples: int | None,
    label: str | None,
    id_column: str | None,
    engine: str,
) -> None:
    """Refuse contradictory or unknown options before anything is read or written."""
    check_sources("tree", input_path, dataset, n_samples, label, id_column)
    if engine not in ENGINES:
        msg = f"--engine {engine!r} is not valid: choose ward or condensation."
        raise InputError(msg)
    for role, name in (("label", label), ("id", id_column)):
        if name is not None and _RESERVED.match(name) and not (role == "id" and name == "id"):
            msg = (
                f"The {role} column {name!r} has the name of an output column of "
                "levels.parquet (id, component, level_0, level_1, ...). Rename it in the "
                "input file."
            )
            raise InputError(msg)


def _run_tree(
    ui: UI,
    *,
    input_path: Path | None,
    out: Path,
    dataset: str | None,
    n_samples: int | None,
    label: str | None,
    id_column: str | None,
    overwrite: bool,
    report: bool,
    params: dict[str, Any],
    formats: list[str] | None = None,
    sep: str | None = None,
    pick: dict[str, str | None] | None = None,
) -> None:
    from ..hierarchy import DiffusionHierarchy
    from ..io import writers
    from .extras import parse_formats

    exports = parse_formats(formats, "tree")
    _check_sources(input_path, dataset, n_samples, label, id_column, params["engine"])
    model = DiffusionHierarchy(**params)
    model._check_params()
    run = CommandRun(ui, "tree", out, inputs=[] if input_path is None else [input_path],
                     overwrite=overwrite, table=input_path)
    with run.output() as tmp:
        data = run.read_table(input_path, label=label, id_column=id_column, sep=sep, pick=pick,
                              dataset=dataset, n_samples=n_samples,
                              random_state=params["random_state"])
        X = data.X
        check_data(X, data.names, data.source)
        _check_tree_memory(X.shape, params)
        ui.info(
            f"diffusion hierarchy of {data.source}: {X.shape[0]} points × {X.shape[1]} "
            "features · " + " ".join(f"{k}={v}" for k, v in params.items())
        )
        with ui.capture_warnings():
            model.fit(X)
        with _progress.stage("write"):
            chosen = select_levels(model)
            table = level_table(model, chosen, ids=data.ids, labels=data.labels,
                                label_name=data.label_name)
            writers.write_parquet_atomic(table, tmp / "levels.parquet")
            writers.write_npy_atomic(model.linkage_, tmp / "linkage.npy")
            writers.write_parquet_atomic(node_table(model, chosen), tmp / "nodes.parquet")
            writers.write_npy_atomic(
                np.asarray(model.embedding_, dtype=np.float64), tmp / "coordinates.npy"
            )
        outputs = [
            "levels.parquet",
            "linkage.npy",
            "nodes.parquet",
            "coordinates.npy",
            "manifest.json",
        ]
        outputs += ["report.html"] if report else []
        outputs += ["atlas.parquet" if f == "atlas" else "projector/" for f in exports]
        manifest = _tree_manifest(model, chosen, data.info, data.label_name, outputs)
        run.finish(manifest, report=_report_writer(out) if report else None, exports=exports)
    run.summary(_summary(model, out, outputs, run.seconds))


def _report_writer(out: Path) -> Any:
    """``write_tree_report`` for the build directory, naming ``out`` as the source."""
    from ..plotting.tree_report import write_tree_report

    return lambda directory: write_tree_report(directory, source=str(out))


def _check_tree_memory(shape: tuple[int, int], params: dict[str, Any]) -> None:
    """Refuse a hierarchy whose diffusion map would not fit in memory (the linkage is O(n d))."""
    from .. import _memory

    n, d = shape
    k = params["n_components"]
    # the diffusion map's fit, plus the hierarchy's levels and linkage (a few (n, k) arrays)
    nbytes = _memory.fit_bytes(n, d, n_neighbors=params["n_neighbors"], n_components=k)
    nbytes += 6.0 * n * (k + 4) * 8
    _, solver = _memory.resolve_fit_methods(n, d, k)
    _memory.check_memory(
        nbytes, f"the hierarchy of {n} x {d} points (--n-components {k})",
        _memory.fit_fix(n, k, solver, None, can_landmark=False),
    )


# ------------------------------------------------------------------------------- tables
def select_levels(model: DiffusionHierarchy) -> np.ndarray:
    """Level indices written to ``levels.parquet``, increasing (fine → coarse).

    Every level when there are at most :data:`MAX_LEVEL_COLUMNS`; otherwise the singletons,
    the root, every salient level and the level closest to each count of the ladder
    1..32 clusters, then ×1.25 up to n.
    """
    from ..hierarchy.levels import ladder_counts

    counts = np.asarray(model.n_clusters_per_level_)
    n_levels = counts.size
    if n_levels <= MAX_LEVEL_COLUMNS:
        return np.arange(n_levels)
    picked = {0, n_levels - 1, *(int(j) for j in model.salient_levels_)}
    picked.update(model.closest_level(int(k)) for k in ladder_counts(int(counts[0])))
    return np.array(sorted(picked), dtype=np.int64)


def _level_labels(model: DiffusionHierarchy, chosen: np.ndarray) -> np.ndarray:
    from ..hierarchy import levels_from_linkage

    return levels_from_linkage(model.linkage_, np.asarray(model.level_merges_)[chosen])


def level_table(
    model: DiffusionHierarchy,
    chosen: np.ndarray,
    *,
    ids: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    label_name: str | None = None,
) -> dict[str, Any]:
    """Columns of ``levels.parquet``: ``id``, the label, ``level_<j>`` for ``j`` in ``chosen``.

    Returns
    -------
    dict
        Column name → pyarrow array, ready for :func:`~diffembed.io.writers.write_parquet_atomic`.
    """
    import pyarrow as pa

    lab = _level_labels(model, chosen)
    n = lab.shape[0]
    columns: dict[str, Any] = {"id": pa.array(np.arange(n, dtype=np.int64) if ids is None else ids)}
    if label_name is not None and labels is not None:
        columns[label_name] = pa.array(labels)
    columns["component"] = pa.array(coordinate_groups(model))
    for col, j in enumerate(chosen):
        columns[f"level_{int(j)}"] = pa.array(lab[:, col].astype(np.int32))
    return columns


def coordinate_groups(model: DiffusionHierarchy) -> np.ndarray:
    """Per point, the component whose diffusion coordinates it has (0 the largest), int32.

    The connected components of the neighbour graph, where a component attached to a larger
    one (``diagnostics_["attached_components"]``) takes that one's number.
    """
    groups = np.asarray(model.component_labels_, dtype=np.int64).copy()
    for item in model.diagnostics_.get("attached_components") or []:
        groups[groups == int(item["component"])] = int(item["attached_to"])
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    rank = np.empty(sizes.size, dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(sizes.size)
    return rank[inverse].astype(np.int32)


def node_table(model: DiffusionHierarchy, chosen: np.ndarray) -> dict[str, Any]:
    """Columns of ``nodes.parquet``: the coarse nodes of the written levels but level 0.

    Returns
    -------
    dict
        ``node, level, cluster, n_clusters, parent, size, scale, dc1..dcK`` as numpy arrays;
        ``node`` numbers the rows, fine → coarse; ``parent`` is the ``node`` containing it in
        the next coarser written level (-1 for the coarsest).
    """
    from ..hierarchy import node_means

    chosen = np.asarray([j for j in chosen if j != 0], dtype=np.int64)
    lab = _level_labels(model, chosen)
    emb = np.asarray(model.embedding_, dtype=np.float64)
    sizes = [int(lab[:, c].max()) + 1 for c in range(chosen.size)]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    parts: dict[str, list[np.ndarray]] = {
        key: [] for key in ("level", "cluster", "n_clusters", "parent", "size", "scale")
    }
    positions = []
    for c, j in enumerate(chosen):
        k = sizes[c]
        labels = lab[:, c]
        if c + 1 < chosen.size:
            first = np.zeros(k, dtype=np.int64)
            first[labels[::-1]] = np.arange(labels.size)[::-1]  # first point of every node
            parent = offsets[c + 1] + lab[first, c + 1].astype(np.int64)
        else:
            parent = np.full(k, -1, dtype=np.int64)
        parts["level"].append(np.full(k, j, dtype=np.int64))
        parts["cluster"].append(np.arange(k, dtype=np.int64))
        parts["n_clusters"].append(np.full(k, k, dtype=np.int64))
        parts["parent"].append(parent)
        parts["size"].append(np.bincount(labels, minlength=k).astype(np.int64))
        parts["scale"].append(np.full(k, float(model.scale_per_level_[j])))
        positions.append(node_means(labels, emb) if emb.shape[1] else np.zeros((k, 0)))
    total = int(offsets[-1])
    columns: dict[str, Any] = {"node": np.arange(total, dtype=np.int64)}
    for key, values in parts.items():
        columns[key] = np.concatenate(values) if values else np.zeros(0)
    pos = np.vstack(positions) if positions else np.zeros((0, emb.shape[1]))
    for d in range(emb.shape[1]):
        columns[f"dc{d + 1}"] = pos[:, d]
    return columns


def _tree_manifest(
    model: DiffusionHierarchy,
    chosen: np.ndarray,
    input_info: dict[str, Any],
    label_name: str | None,
    outputs: list[str],
) -> dict[str, Any]:
    counts = np.asarray(model.n_clusters_per_level_)
    salient = [int(j) for j in model.salient_levels_]
    diagnostics = {k: v for k, v in model.diagnostics_.items() if k != "timings"}
    levels = [
        {
            "level": int(j),
            "column": f"level_{int(j)}",
            "n_clusters": int(counts[j]),
            "scale": float(model.scale_per_level_[j]),
            "persistence": float(model.persistence_[j]),
            "salience": _finite_or_none(model.salience_[j]),
            "salient": int(j) in salient,
        }
        for j in chosen
    ]
    return {
        **manifest_head("tree"),
        "input": input_info,
        "label_column": label_name,
        "parameters": model.get_params(),
        "results": {
            "n_levels": int(counts.size),
            "n_levels_written": len(levels),
            "salient_levels": salient,
            "salient_n_clusters": [int(counts[j]) for j in salient],
            "salience_threshold": _finite_or_none(model.salience_threshold_),
            "n_connected_components": int(model.n_connected_components_),
            "n_partitions": model.n_partitions_,
            "embedding_dims": int(np.shape(model.embedding_)[1]),
            "diagnostics": diagnostics,
        },
        "levels": levels,
        "timings": {},
        "versions": versions(),
        "outputs": outputs,
    }


def _summary(model: DiffusionHierarchy, out: Path, outputs: list[str], seconds: float) -> Table:
    counts = np.asarray(model.n_clusters_per_level_)
    table = Table(title="diffusion hierarchy", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("points", str(int(counts[0])))
    table.add_row("engine", str(model.engine))
    table.add_row("levels", f"{counts.size} ({int(counts[0])} → {int(counts[-1])} clusters)")
    salient = [f"level {int(j)}: {int(counts[j])} clusters" for j in model.salient_levels_[:5]]
    table.add_row("salient levels", ", ".join(salient) or "none above the permutation null")
    table.add_row("graph components", str(int(model.n_connected_components_)))
    for name in outputs:
        table.add_row("output", str(out / name))
    table.add_row("total time", format_seconds(seconds))
    return table


# ------------------------------------------------------------------------------- report
def is_tree_output(out: Path) -> bool:
    """Whether ``out/manifest.json`` names the command ``tree`` (a readable JSON object)."""
    return manifest_command(out) == "tree"


def rebuild_tree_report(ui: UI, out: Path, color_by: str | None = None) -> None:
    """``diffembed report OUT/`` for a tree directory: rewrite ``OUT/report.html``, no refit.

    Parameters
    ----------
    ui
        The command's UI (progress and messages on stderr).
    out
        An output directory of ``diffembed tree``.
    color_by
        Initial colouring: a ``level_<j>`` column of ``levels.parquet`` or the label column.
    """
    from ..plotting.tree_report import write_tree_report
    from .skeleton import record_outputs

    with ui.stages(), _progress.stage("report"):
        write_tree_report(out, color_by=color_by)
    record_outputs(Path(out), ["report.html"])
    ui.info(f"wrote {Path(out) / 'report.html'}")


def _finite_or_none(value: Any) -> float | None:
    """JSON-safe float: None for nan / inf (strict JSON has neither)."""
    value = float(value)
    return value if np.isfinite(value) else None
