"""Helpers shared by the commands: manifests, versions, input checks, the report writer."""

from __future__ import annotations

import platform
import re
import time
from datetime import UTC, datetime
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .. import __version__, _progress
from ..exceptions import DiffembedError, InputError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ASSETS_HELP",
    "MANIFEST_VERSION",
    "OVERWRITE_HELP",
    "Assets",
    "Columns",
    "Debug",
    "Exclude",
    "Json",
    "NoReport",
    "Overwrite",
    "Quiet",
    "ReportAssets",
    "check_data",
    "check_metadata_name",
    "flag_hint",
    "manifest_command",
    "manifest_head",
    "parse_bandwidth",
    "parse_names",
    "pick_transform_columns",
    "read_input",
    "versions",
    "write_manifest",
    "write_report",
]

MANIFEST_VERSION = 1

# Options every command shares (typer reads them from the annotations).
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]
#: ``--json``: one JSON object on stdout at the end (outputs with sizes, timings per stage,
#: key figures, warnings), or ``{"error": ..., "exit_code": 2}``; every log line on stderr.
#: A command declares ``json_output: Json = False`` and passes it to ``UI(json_output=...)``.
Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON object on stdout when done (outputs and their sizes, timings, "
        "key figures, warnings), or {\"error\": ..., \"exit_code\": 2}; logs stay on stderr.",
    ),
]
#: Help of --overwrite; every command that writes an output directory shows it.
OVERWRITE_HELP = (
    "Replace an existing output directory made by diffembed: only the files its manifest.json "
    "lists are deleted, after the new run succeeded. A directory holding other files is "
    "refused, and so are ., ~, / and inputs."
)
Overwrite = Annotated[bool, typer.Option("--overwrite", help=OVERWRITE_HELP)]
NoReport = Annotated[bool, typer.Option("--no-report", help="Skip report.html.")]
#: Help of --assets; every command that writes report.html shows it.
ASSETS_HELP = (
    "How report.html carries plotly.js: inline (inside the page: one self-contained file, "
    "about 4.7 MB) or shared (one plotly.min.js written beside the report, in the output "
    "directory, so a folder of reports holds one copy; still offline)."
)


class ReportAssets(StrEnum):
    """The choices of ``--assets``."""

    inline = "inline"
    shared = "shared"


def _use_assets(ctx: typer.Context, value: ReportAssets | str) -> ReportAssets | str:
    """Make ``value`` the report writers' choice while the command runs (option callback)."""
    from ..plotting.page import report_assets

    ctx.with_resource(report_assets(getattr(value, "value", value)))  # undone when it ends
    return value


#: ``--assets inline|shared``: the report writers of the command follow it (its callback
#: enters :func:`diffembed.plotting.page.report_assets` for the command's run), so a command
#: only declares it.
Assets = Annotated[
    ReportAssets, typer.Option("--assets", callback=_use_assets, help=ASSETS_HELP)
]
#: ``--columns a,b,c``: the feature columns of a table, in this order (every command that
#: reads a feature table declares it and passes it to :func:`read_input`).
Columns = Annotated[
    str | None,
    typer.Option(
        "--columns",
        metavar="A,B,C",
        help="Feature columns of a table input, comma-separated, in this order. By default "
        "every numeric column except --label, --id and id-like columns (a pandas index, "
        "unique integers named id/*_id/index/row, row numbers 0..n-1 or 1..n, unique "
        "strings), which are left out with a message; name such a column here to use it.",
        show_default=False,
    ),
]
#: ``--exclude x,y``: columns of a table input left out of the features.
Exclude = Annotated[
    str | None,
    typer.Option(
        "--exclude",
        metavar="X,Y",
        help="Columns of a table input to leave out of the features, comma-separated "
        "(not with --columns).",
        show_default=False,
    ),
]
_RESERVED = re.compile(r"^(id|cluster|dc\d+)$")


def versions(extra: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Versions of Python, the numeric stack, ``extra`` packages and diffembed (manifests)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "scikit-learn", "pyarrow", *extra):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    out["diffembed"] = __version__
    return out


def manifest_head(command: str) -> dict[str, Any]:
    """The first keys of every manifest."""
    return {
        "format_version": MANIFEST_VERSION,
        "command": command,
        "diffembed_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def flag_hint(message: str, flags: dict[str, str]) -> str:
    """Add the command-line spelling of the parameters (``name=``) a library message mentions.

    ``flags`` maps estimator parameter names to options, e.g. ``{"n_neighbors": "--n-neighbors"}``.
    """
    found = [flag for name, flag in flags.items() if re.search(rf"(?<![\w-]){name}=", message)]
    if found:
        message += f" (Command-line option{'s' if len(found) > 1 else ''}: {', '.join(found)}.)"
    return message


def manifest_command(out: Path) -> str | None:
    """The ``command`` recorded in ``out/manifest.json``; None without a readable JSON object."""
    import json

    try:
        manifest = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest.get("command") if isinstance(manifest, dict) else None


def parse_bandwidth(value: str) -> str | float:
    if value in ("auto", "adaptive", "bgh", "knn"):
        return value
    try:
        return float(value)
    except ValueError:
        msg = (
            f"--bandwidth {value!r} is not valid: use auto, adaptive, bgh, knn or a positive "
            "number (epsilon of the kernel exp(-d^2/epsilon))."
        )
        raise InputError(msg) from None


def check_metadata_name(name: str | None, role: str) -> None:
    if name is not None and _RESERVED.match(name):
        msg = (
            f"The {role} column {name!r} has the name of an output column (id, dc1, dc2, ..., "
            "cluster). Rename it in the input file."
        )
        raise InputError(msg)


def check_data(X: np.ndarray, feature_names: list[str], source: str) -> None:
    """Refuse data with fewer than 2 rows or no variation before any heavy work."""
    import numpy as np

    n = X.shape[0]
    if n < 2:
        msg = (
            f"{source} has {n} row; a diffusion map relates rows to each other and needs at "
            "least 2 (in practice many more than --n-neighbors)."
        )
        raise InputError(msg)
    constant = np.ptp(X, axis=0) == 0
    if constant.all():
        names = ", ".join(repr(c) for c in feature_names[:10])
        msg = (
            f"Every feature column of {source} is constant ({names}), so all {n} rows are "
            "identical and there is no geometry to embed. Give data whose rows differ."
        )
        raise InputError(msg)


def write_report(directory: Path, *, source: Path, color_by: str | None = None) -> None:
    """Write ``directory/report.html`` with :func:`diffembed.plotting.report.write_report`.

    ``source`` is the directory the user named (``directory`` may be the temporary build
    directory); it is passed on when the report writer accepts a ``source`` argument.
    """
    import inspect

    try:
        from ..plotting.report import write_report as build
    except ImportError as exc:
        msg = (
            f"The HTML report cannot be built: {exc}. Install the missing package (plotly "
            "comes with diffembed) or pass --no-report."
        )
        raise DiffembedError(msg) from exc
    kwargs: dict[str, Any] = {} if color_by is None else {"color_by": color_by}
    if "source" in inspect.signature(build).parameters:
        kwargs["source"] = str(source)
    build(directory, **kwargs)


def parse_names(value: str | list[str] | None, option: str) -> list[str] | None:
    """Split a comma-separated ``--columns``/``--exclude`` value into column names."""
    if value is None or isinstance(value, list):
        return value
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        msg = (
            f"{option} {value!r} has an empty column name; give names separated by commas, "
            f"e.g. {option} a,b,c."
        )
        raise InputError(msg)
    return names


def _picked(
    columns: str | list[str] | None, exclude: str | list[str] | None
) -> tuple[list[str] | None, list[str] | None]:
    """``--columns`` and ``--exclude`` as lists; refused together."""
    columns = parse_names(columns, "--columns")
    exclude = parse_names(exclude, "--exclude")
    if columns is not None and exclude is not None:
        msg = (
            "Give --columns (the features to use) or --exclude (columns to leave out), not "
            "--columns and --exclude together."
        )
        raise InputError(msg)
    return columns, exclude


def read_input(
    path: Path,
    label: str | None,
    id_column: str | None,
    columns: str | list[str] | None = None,
    sep: str | None = None,
    *,
    exclude: str | list[str] | None = None,
    ui: Any = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, list[str], dict[str, Any]]:
    """Read a table with :func:`~diffembed.io.readers.read_table` for a command.

    ``columns``/``exclude`` are lists or the comma-separated values of ``--columns`` and
    ``--exclude``. Id-like columns left out are printed with ``ui.warn`` (when given) and
    recorded, with the ``--exclude`` ones, in ``info["excluded_columns"]`` (name → reason).
    """
    import warnings

    from ..io.readers import IdColumnsWarning, file_sha256, read_table

    columns, exclude = _picked(columns, exclude)
    with _progress.stage("read"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IdColumnsWarning)
        X, labels, ids, names = read_table(
            path, label=label, id_column=id_column, columns=columns, exclude=exclude, sep=sep
        )
        info = {
            "path": str(path),
            "dataset": None,
            "sha256": file_sha256(path),
            "n_samples": int(X.shape[0]),
            "n_features": int(X.shape[1]),
        }
    excluded = dict.fromkeys(exclude or [], "--exclude")
    for item in caught:
        if isinstance(item.message, IdColumnsWarning):
            excluded.update(item.message.columns)
            text = str(item.message).replace("columns= (--columns a,b,c on the command line)",
                                             "--columns a,b,c")
            if ui is not None:
                ui.warn(text)
            else:
                warnings.warn(item.message, stacklevel=2)
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    info["excluded_columns"] = excluded
    return X, labels, ids, names, info


def write_manifest(
    manifest: dict[str, Any], directory: Path, timings: dict[str, float], start: float
) -> None:
    from ..io.writers import write_json_atomic

    manifest["timings"] = {**timings, "total": time.perf_counter() - start}
    write_json_atomic(manifest, directory / "manifest.json")


def pick_transform_columns(
    path: Path,
    fitted: list[str] | None,
    label: str | None,
    id_column: str | None,
    columns: str | list[str] | None = None,
    exclude: str | list[str] | None = None,
) -> list[str] | None:
    """The feature columns ``transform`` reads from ``path``.

    ``--columns`` wins; otherwise the names the model was fitted on (``fitted``), so columns
    left out of the fit (an id, ``--exclude``) are left out again. ``--exclude`` with a model
    fitted without names keeps the other numeric columns of a Parquet input.
    """
    columns, exclude = _picked(columns, exclude)
    if columns is not None:
        return columns
    if exclude is None:
        return fitted
    if fitted is not None:
        clash = [c for c in exclude if c in fitted]
        if clash:
            msg = (
                f"--exclude {', '.join(clash)}: the model was fitted on these columns "
                f"({', '.join(fitted)}), so transform needs them."
            )
            raise InputError(msg)
        return fitted
    if Path(path).suffix.lower() not in (".parquet", ".pq"):
        msg = (
            "--exclude with a model fitted without column names needs a Parquet input; name "
            "the features with --columns instead."
        )
        raise InputError(msg)
    import pyarrow.parquet as pq

    from ..io.readers import _is_numeric

    schema = pq.read_schema(path)
    missing = [c for c in exclude if c not in schema.names]
    if missing:
        msg = (
            f"{Path(path).name} lacks the column(s) {', '.join(map(repr, missing))}. Available "
            f"columns: {', '.join(map(repr, schema.names))}."
        )
        raise InputError(msg)
    return [n for n in schema.names if n not in {label, id_column, *exclude}
            and _is_numeric(schema.field(n).type)]
