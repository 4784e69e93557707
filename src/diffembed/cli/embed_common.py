"""What the ``diffembed embed …`` commands share: options, the run frame, table and text input.

:func:`run_embed` is the frame of every recipe on :class:`~diffembed.cli.skeleton.CommandRun`:
errors, stages, the atomic output directory, the manifest (``command`` ``embed <recipe>``,
inputs with their SHA-256, the recipe's parameters, results and figures, versions, outputs),
the report and the summary (``--json``: one JSON object on stdout).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from ..exceptions import InputError
from .common import flag_hint, manifest_head, versions
from .console import UI
from .guards import check_seed
from .skeleton import CommandRun

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "NoReport",
    "OutDir",
    "Seed",
    "Threads",
    "VectorsFormat",
    "read_texts",
    "run_embed",
    "vector_columns",
    "write_word2vec",
]

OutDir = Annotated[Path, typer.Option("-o", "--out", help="Output directory to create.")]
NoReport = Annotated[bool, typer.Option("--no-report", help="Skip report.html.")]
Seed = Annotated[
    int,
    typer.Option(
        "--random-state", help="Seed of every random step.", callback=check_seed
    ),
]
# Library parameter → command-line option, to translate library messages (flag_hint).
_FLAGS = {
    "encoding_errors": "--encoding-errors",
    "n_components": "--n-components",
    "min_count": "--min-count",
    "max_vocab": "--max-vocab",
    "min_df": "--min-df",
    "max_df": "--max-df",
    "window": "--window",
    "negative": "--negative",
    "weighting": "--weighting",
    "kind": "--kind",
    "cds": "--cds",
    "shift": "--shift",
    "eig": "--eig",
    "context": "--context",
    "dim": "--dim",
    "isolated": "--isolated",
    "propagate": "--propagate",
    "num_walks": "--num-walks",
    "walk_length": "--walk-length",
    "threads": "--threads",
    "batch_size": "--batch-size",
    "how": "--how",
    "n_pcs": "--n-pcs",
}


def embed_hint(exc: BaseException, message: str) -> str:
    """Say the command-line spelling of library parameters: ``encoding_errors=`` is
    ``--encoding-errors`` here."""
    pattern = re.compile(r"(?<![\w-])(" + "|".join(_FLAGS) + r")=(?:'([^']*)'|(?=\S))")
    if not pattern.search(message):
        return flag_hint(message, _FLAGS)
    return pattern.sub(lambda m: f"{_FLAGS[m.group(1)]} {m.group(2) or ''}".rstrip()
                       + ("" if m.group(2) is not None else " "), message)


Threads = Annotated[
    int | None,
    typer.Option("--threads", help="Cap BLAS threads in the SVD (1 is best on a busy machine)."),
]


VectorsFormat = Annotated[
    Literal["parquet", "word2vec", "word2vec-binary"],
    typer.Option(
        "--vectors-format",
        help="Also write word2vec files for gensim: word2vec (vectors.txt) or word2vec-binary "
        "(vectors.bin); parquet writes only vectors.parquet.",
    ),
]


def write_word2vec(kv: Any, tmp: Path, fmt: str) -> None:
    """Write ``vectors.txt`` / ``vectors.bin`` for ``--vectors-format`` (``parquet``: nothing)."""
    if fmt not in ("parquet", "word2vec", "word2vec-binary"):
        msg = f"--vectors-format {fmt!r}: use parquet, word2vec or word2vec-binary."
        raise InputError(msg)
    if fmt != "parquet":
        binary = fmt == "word2vec-binary"
        kv.save_word2vec_format(tmp / ("vectors.bin" if binary else "vectors.txt"), binary=binary)



def vector_columns(
    ids: Any, vectors: np.ndarray, prefix: str = "v", labels: tuple[str, Any] | None = None
) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    columns: dict[str, Any] = {
        "id": pa.array(list(ids) if not isinstance(ids, np.ndarray) else ids)
    }
    if labels is not None:
        columns[labels[0]] = pa.array(labels[1])
    for j in range(vectors.shape[1]):
        columns[f"{prefix}{j + 1}"] = pa.array(np.asarray(vectors[:, j], dtype=np.float64))
    return columns



def run_embed(
    command: str,
    out: Path,
    *,
    overwrite: bool,
    quiet: bool,
    debug: bool,
    json_output: bool,
    report: bool,
    inputs: list[Path],
    body: Callable[[Path, UI], dict[str, Any]],
    table: Path | None = None,
) -> None:
    """Run the recipe ``body(tmp, ui) -> manifest entries`` in the shared frame.

    ``body`` writes its files into ``tmp`` and returns ``recipe``, ``parameters``,
    ``results`` (and ``figures``, ``evaluation`` …) for the manifest; a ``_versions`` entry
    names extra packages whose versions are recorded. ``table`` is a data file read whole
    (its memory guard runs before the output is claimed).
    """
    ui = UI(quiet=quiet, debug=debug, json_output=json_output)
    with ui.errors(hint=embed_hint):
        run = CommandRun(ui, f"embed {command}", out, inputs=inputs, overwrite=overwrite,
                         table=table)
        with run.output(check_exists=True) as tmp:
            with ui.capture_warnings():
                result = body(tmp, ui)
            extra_versions = tuple(result.pop("_versions", ()))
            outputs = [*sorted(p.name for p in tmp.iterdir()), "manifest.json"]
            outputs += ["report.html"] if report else []
            manifest = {
                **manifest_head(f"embed {command}"),
                "inputs": [
                    {"path": str(p), "sha256": _sha256(p)} for p in inputs
                ],
                **result,
                "versions": versions(extra_versions),
                "outputs": outputs,
            }
            run.finish(manifest, report=_embed_report if report else None)
        run.summary(f"wrote {out} ({run.seconds:.1f} s): {', '.join(outputs)}")


def _sha256(path: Path) -> str | None:
    from ..io.readers import file_sha256

    return file_sha256(path) if path.is_file() else None


def _embed_report(directory: Path) -> None:
    from ..plotting.embed_figures import write_embed_report

    write_embed_report(directory)


def _read_lines(path: Path, what: str) -> list[str]:
    if path.is_dir():
        msg = (
            f"{path} is a directory; give a text file (one {what[:-1]} per line) or a "
            "CSV/TSV/Parquet table with --text-column. To use many files, join them first "
            "(cat DIR/*.txt > all.txt)."
        )
        raise InputError(msg)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        msg = f"{path} is not UTF-8 text ({exc.reason}); convert it (iconv -t utf-8) first."
        raise InputError(msg) from exc
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        msg = f"{path} has no {what} (it is empty or blank)."
        raise InputError(msg)
    return lines


def read_texts(path: Path, column: str | None, what: str) -> list[str]:
    """One text per line of a .txt file, or a text column of a CSV/TSV/Parquet table."""
    name = path.name.lower()
    if not name.endswith((".csv", ".tsv", ".parquet", ".pq")):
        if column is not None:
            msg = f"--text-column applies to CSV/TSV/Parquet tables, not to {path.name}."
            raise InputError(msg)
        return _read_lines(path, what)
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if name.endswith((".parquet", ".pq")):
        table = pq.read_table(path)
    else:
        delimiter = "\t" if name.endswith(".tsv") else ","
        table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter))
    if column is None or column not in table.column_names:
        msg = (
            f"Name the text column of {path.name} with --text-column (columns: "
            f"{', '.join(table.column_names[:20])})."
        )
        raise InputError(msg)
    texts = ["" if v is None else str(v) for v in table.column(column).to_pylist()]
    if not any(t.strip() for t in texts):
        msg = f"The column {column!r} of {path.name} holds no text."
        raise InputError(msg)
    return texts
