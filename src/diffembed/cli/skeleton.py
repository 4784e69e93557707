"""One skeleton for every command that writes an output directory: read → fit → write →
report → summary.

Each behaviour below is written once, here, and the commands (``map``, ``transform``,
``tree``, ``stability``, ``embed …``) fill in their own stages:

- **read**: :meth:`CommandRun.read_table` reads an INPUT table (memory guard first, then
  ``--columns``/``--exclude``, ``--label``/``--id`` and the id-like columns left out with a
  warning) or a built-in ``--dataset``;
- **claim the output**: :meth:`CommandRun.output` refuses missing inputs and inputs too large
  for memory, then claims the ``-o`` directory atomically
  (:func:`diffembed.io.writers.output_directory`: a failed run leaves nothing) and shows every
  stage run inside it;
- **write → report**: :meth:`CommandRun.finish` writes ``manifest.json`` (timings per stage,
  total), the report page in a ``report`` stage, the viewer exports, and the manifest again;
- **summary**: :meth:`CommandRun.summary` prints the human summary on stderr and, with
  ``--json``, one JSON object on stdout built from the manifest by
  :func:`summary_from_manifest`.

Adopting ``--json`` in any command (the ``latents`` ones included) takes three lines::

    def train_command(..., json_output: Json = False):            # 1. the option (common.Json)
        ui = UI(quiet=quiet, debug=debug, json_output=json_output)  # 2. errors → JSON too
        ...                                                        #    (the command as it is)
        ui.summary(summary_from_manifest(manifest, out))           # 3. after the output is written

``manifest`` is the dict the command wrote to ``OUT/manifest.json`` (its ``command``,
``outputs``, ``timings`` and ``results`` are read); any dict can be passed to
:meth:`~diffembed.cli.console.UI.summary` instead. Logs, progress and warnings already go to
stderr (:class:`~diffembed.cli.console.UI`), so stdout holds only that object.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _progress
from ..exceptions import InputError
from .common import read_input, write_manifest
from .console import UI

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "KEY_RESULTS",
    "CommandRun",
    "TableInput",
    "check_sources",
    "output_sizes",
    "record_outputs",
    "require_inputs",
    "summary_from_manifest",
]

#: The figures of ``manifest["results"]`` that ``--json`` prints, per command (a command not
#: listed prints all its results).
KEY_RESULTS: dict[str, tuple[str, ...]] = {
    "map": ("eigenvalues", "timescales", "bandwidth", "bandwidth_method", "intrinsic_dimension",
            "n_connected_components", "eigen_solver", "knn_method", "degenerate_eigenvalues"),
    "tree": ("n_levels", "n_levels_written", "salient_levels", "salient_n_clusters",
             "salience_threshold", "n_connected_components"),
    "stability": ("summary", "n_shared_words", "n_tokens", "vocabulary_sizes"),
}


def output_sizes(out: Path, names: Iterable[str]) -> list[dict[str, Any]]:
    """``[{"name", "path", "bytes"}]`` of the outputs ``names`` in ``out`` (a folder: its files)."""
    rows = []
    for name in names:
        path = Path(out) / name.rstrip("/")
        if path.is_dir():
            size: int | None = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            size = path.stat().st_size
        else:
            size = None
        rows.append({"name": name, "path": str(path), "bytes": size})
    return rows


def summary_from_manifest(
    manifest: dict[str, Any], out: Path, *, results: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``--json`` summary of a run, from the manifest it wrote.

    Parameters
    ----------
    manifest
        The manifest dict (``command``, ``outputs``, ``timings``, ``results`` are read).
    out
        The output directory the user named.
    results
        Key figures to print; default: the :data:`KEY_RESULTS` of the command (all its
        ``results`` for another command), plus its ``evaluation`` scores if any.

    Returns
    -------
    dict
        ``command``, ``output_directory``, ``outputs`` (name, path, bytes), ``timings``
        (seconds per stage and ``total``), ``results``; :meth:`UI.summary` adds ``warnings``
        and ``exit_code``.
    """
    command = str(manifest.get("command", ""))
    if results is None:
        found = manifest.get("results") or {}
        keys = KEY_RESULTS.get(command)
        results = dict(found) if keys is None else {k: found[k] for k in keys if k in found}
        if manifest.get("evaluation"):
            results["evaluation"] = manifest["evaluation"]
    return {
        "command": command,
        "output_directory": str(out),
        "outputs": output_sizes(out, manifest.get("outputs", [])),
        "timings": dict(manifest.get("timings") or {}),
        "results": results,
    }


def require_inputs(paths: Iterable[Path]) -> None:
    """Refuse a missing input before any work: ``Input X does not exist. Check the path.``"""
    for path in paths:
        if not Path(path).exists():
            msg = f"Input {path} does not exist. Check the path."
            raise InputError(msg)


def record_outputs(out: Path, names: list[str]) -> None:
    """Add ``names``, written later into ``out`` (a rebuilt report, an export), to the
    ``outputs`` of ``out/manifest.json`` and to the files diffembed owns there (so that a later
    ``--overwrite`` may replace them)."""
    import json

    from ..io.ownership import record_files
    from ..io.writers import write_json_atomic

    manifest_path = Path(out) / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        missing = [name for name in names if name not in manifest.get("outputs", [])]
        if missing:
            manifest.setdefault("outputs", []).extend(missing)
            write_json_atomic(manifest, manifest_path)
        record_files(out, names)


@dataclass
class TableInput:
    """What :meth:`CommandRun.read_table` read: the matrix, its labels, ids and provenance."""

    X: np.ndarray
    labels: np.ndarray | None
    ids: np.ndarray | None
    names: list[str]
    info: dict[str, Any]
    label_name: str | None
    source: str


def check_sources(
    command: str,
    input_path: Path | None,
    dataset: str | None,
    n_samples: int | None,
    label: str | None,
    id_column: str | None,
) -> None:
    """Refuse contradictory data sources (``map``, ``tree``) before anything is read."""
    if (input_path is None) == (dataset is None):
        example = ("--dataset swiss-roll -o out/" if command == "map"
                   else "--dataset digits -o out/tree")
        msg = (
            "Give exactly one data source: an INPUT file or --dataset NAME "
            f"({'both were given' if dataset else 'neither was given'}). "
            f"Example: diffembed {command} {example}"
        )
        raise InputError(msg)
    if dataset is not None and (label or id_column):
        own = "its own label" if command == "map" else "its own"
        msg = f"--label and --id select columns of an INPUT file; a --dataset brings {own}."
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


@dataclass
class CommandRun:
    """One run of a command that writes an output directory (see the module docstring).

    Parameters
    ----------
    ui
        The command's :class:`~diffembed.cli.console.UI`.
    command
        The command's name in the manifest (``"map"``, ``"embed pca"`` …).
    out
        The ``-o`` directory.
    inputs
        Files and directories the run reads (never inside or around ``out``).
    overwrite
        ``--overwrite``.
    table
        A data file read as a matrix: refused before the output is claimed when its float64
        matrix would not fit in memory.
    """

    ui: UI
    command: str
    out: Path
    inputs: list[Path] = field(default_factory=list)
    overwrite: bool = False
    table: Path | None = None
    start: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    tmp: Path | None = None

    # ------------------------------------------------------------------ claim the output
    @contextlib.contextmanager
    def output(self, *, check_exists: bool = False) -> Iterator[Path]:
        """Claim ``out`` and show the stages run in the block; yields the directory to fill.

        ``check_exists`` refuses a missing input first (``Input X does not exist``). The
        memory guard of ``table`` runs before the claim; the block's outputs are committed
        when it succeeds, and nothing is left when it fails.
        """
        from ..io import writers
        from .guards import check_read_memory

        if check_exists:
            require_inputs(self.inputs)
        if self.table is not None:
            check_read_memory(self.table)
        with (
            self.ui.stages() as timings,
            writers.output_directory(self.out, self.overwrite, inputs=self.inputs) as tmp,
        ):
            self.timings, self.tmp = timings, tmp
            yield tmp

    # ---------------------------------------------------------------------------- read
    def read_table(
        self,
        input_path: Path | None,
        *,
        label: str | None = None,
        id_column: str | None = None,
        sep: str | None = None,
        pick: dict[str, Any] | None = None,
        dataset: str | None = None,
        n_samples: int | None = None,
        random_state: int = 0,
        use_rep: str | None = None,
    ) -> TableInput:
        """Read an INPUT table (or ``.h5ad`` with ``use_rep``) or a built-in ``dataset``."""
        if input_path is not None and use_rep is not None:
            from ..io.anndata import read_h5ad_input

            X, labels, ids, names, info = read_h5ad_input(input_path, label, id_column, use_rep)
            return TableInput(X, labels, ids, names, info, label, input_path.name)
        if input_path is not None:
            X, labels, ids, names, info = read_input(input_path, label, id_column, sep=sep,
                                                     ui=self.ui, **(pick or {}))
            return TableInput(X, labels, ids, names, info, label, input_path.name)
        import hashlib

        import numpy as np

        from ..datasets import feature_names, load_dataset

        with _progress.stage("read"):
            X, labels, label_name, _ = load_dataset(dataset, n_samples=n_samples,
                                                    random_state=random_state)
        info = {
            "path": None,
            "dataset": dataset,
            "sha256": hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest(),
            "n_samples": int(X.shape[0]),
            "n_features": int(X.shape[1]),
        }
        return TableInput(X, labels, None, feature_names(dataset, X.shape[1]), info, label_name,
                          f"dataset {dataset}")

    # ------------------------------------------------------------- write → report
    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write ``manifest.json`` into the output, with the timings so far and the total."""
        if self.tmp is None:
            msg = "CommandRun.write_manifest is called inside `with run.output()`."
            raise RuntimeError(msg)
        self.manifest = manifest
        write_manifest(manifest, self.tmp, self.timings, self.start)

    def finish(
        self,
        manifest: dict[str, Any],
        *,
        report: Callable[[Path], Any] | None = None,
        exports: list[str] | tuple[str, ...] = (),
    ) -> None:
        """Write the manifest, then the report (a ``report`` stage) and the exports.

        The manifest is written first (the report reads it) and again at the end, so that
        its timings include the report.
        """
        self.write_manifest(manifest)
        if report is None and not exports:
            return
        if report is not None:
            with _progress.stage("report"):
                report(self.tmp)
        if exports:
            from .extras import write_exports

            write_exports(self.tmp, list(exports))
        self.write_manifest(manifest)

    # ------------------------------------------------------------------------ summary
    @property
    def seconds(self) -> float:
        """Wall seconds since the run started."""
        return time.perf_counter() - self.start

    def summary(self, human: Any = None, *, results: dict[str, Any] | None = None) -> None:
        """Print the end of the run: ``human`` on stderr, and the ``--json`` object on stdout.

        ``human`` is a rich renderable (a table), a string or a list of lines; ``results``
        replaces the key figures :func:`summary_from_manifest` reads from the manifest.
        """
        if isinstance(human, str):
            self.ui.info(human)
        elif isinstance(human, list | tuple):
            for line in human:
                self.ui.info(line)
        elif human is not None:
            self.ui.show(human)
        if self.manifest is not None:
            self.ui.summary(summary_from_manifest(self.manifest, self.out, results=results))
