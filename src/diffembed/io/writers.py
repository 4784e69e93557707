"""Atomic writers for the files diffembed produces.

Every file is written to a temporary file in its destination directory and moved into place
with :func:`os.replace`, so a reader never sees half a file and a crash leaves the old file (or
nothing). A whole output directory is claimed, built beside its destination and renamed into
place only when everything in it succeeded (:mod:`diffembed.io.output_dir`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    TableLike = pa.Table | Mapping[str, Any]

__all__ = [
    "atomic_path",
    "embedding_columns",
    "json_safe",
    "output_directory",
    "write_csv_atomic",
    "write_json_atomic",
    "write_npy_atomic",
    "write_parquet_atomic",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` if the block succeeds.

    Parameters
    ----------
    path
        Final destination. Its directory must exist.

    Yields
    ------
    Path
        A fresh temporary file name in the same directory (the file exists and is empty).
        Write to it by name; on an exception it is deleted and ``path`` is left untouched.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        msg = f"Cannot write {path}: the directory {directory} does not exist. Create it first."
        raise InputError(msg)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _default_mode(0o666))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _default_mode(base: int) -> int:
    """``base`` masked by the process umask (mkstemp/mkdtemp create private files)."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def _as_table(table_or_dict: TableLike) -> pa.Table:
    import pyarrow as pa

    if isinstance(table_or_dict, pa.Table):
        return table_or_dict
    columns = {}
    for name, values in table_or_dict.items():
        if isinstance(values, pa.Array | pa.ChunkedArray):
            columns[str(name)] = values
        else:
            columns[str(name)] = pa.array(np.asarray(values) if _is_numeric(values) else values)
    return pa.table(columns)


def _is_numeric(values: Any) -> bool:
    return isinstance(values, np.ndarray) and values.dtype.kind in "biuf"


def embedding_columns(
    coords: np.ndarray,
    *,
    ids: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    label_name: str | None = None,
    clusters: np.ndarray | None = None,
) -> dict[str, Any]:
    """Columns of an ``embedding.parquet``: ``id``, ``dc1``..``dcK``, the label, ``cluster``.

    Parameters
    ----------
    coords
        Diffusion coordinates, shape (n_samples, K); written as float64 ``dc1``..``dcK``.
    ids
        Row identifiers (any type); default the int64 row index.
    labels, label_name
        A metadata column written under its own name (both or neither).
    clusters
        Cluster labels, written as int64 ``cluster``.

    Returns
    -------
    dict
        Column name → pyarrow array, ready for :func:`write_parquet_atomic`.
    """
    import pyarrow as pa

    n = coords.shape[0]
    columns: dict[str, Any] = {"id": pa.array(np.arange(n, dtype=np.int64) if ids is None else ids)}
    for j in range(coords.shape[1]):
        columns[f"dc{j + 1}"] = pa.array(np.asarray(coords[:, j], dtype=np.float64))
    if label_name is not None and labels is not None:
        columns[label_name] = pa.array(labels)
    if clusters is not None:
        columns["cluster"] = pa.array(np.asarray(clusters, dtype=np.int64))
    return columns


def write_parquet_atomic(table_or_dict: TableLike, path: str | os.PathLike[str]) -> Path:
    """Write a Parquet file atomically.

    Parameters
    ----------
    table_or_dict
        A :class:`pyarrow.Table`, or a mapping of column name to array / list / pyarrow array.
    path
        Destination file.

    Returns
    -------
    Path
        ``path``.
    """
    import pyarrow.parquet as pq

    table = _as_table(table_or_dict)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def write_csv_atomic(table_or_dict: TableLike, path: str | os.PathLike[str]) -> Path:
    """Write a small table as CSV atomically (header row, then one line per row).

    Floats are written with Python's shortest round-trip ``repr`` (``inf`` and ``nan`` for the
    non-finite values), missing values as empty fields.
    """
    table = _as_table(table_or_dict)
    data = table.to_pydict()
    names = list(data)
    rows = zip(*(data[n] for n in names), strict=True) if names else iter(())
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow(
                ["" if v is None else repr(v) if isinstance(v, float) else v for v in row]
            )
    return Path(path)


def json_safe(value: Any) -> Any:
    """Convert ``value`` to plain JSON types: numpy scalars/arrays to Python, NaN/inf to None."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def write_json_atomic(obj: Any, path: str | os.PathLike[str], *, indent: int = 2) -> Path:
    """Write strictly valid JSON atomically (NaN and inf become ``null``)."""
    text = json.dumps(json_safe(obj), indent=indent, allow_nan=False, ensure_ascii=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


def write_npy_atomic(array: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write a numeric array as ``.npy`` atomically (object arrays are refused: no pickles)."""
    arr = np.asarray(array)
    if arr.dtype.hasobject:
        msg = f"Refusing to write an object array to {path}: .npy files are written without pickle."
        raise InputError(msg)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, arr, allow_pickle=False)
    return Path(path)


def output_directory(
    path: str | os.PathLike[str],
    overwrite: bool = False,
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> contextlib.AbstractContextManager[Path]:
    """Claim, build and commit an output directory; see :mod:`diffembed.io.output_dir`.

    Parameters
    ----------
    path
        The output directory (a symbolic link to a directory writes into its target).
    overwrite
        Replace an existing directory that diffembed made, deleting only the files its
        ``manifest.json`` lists, after the new outputs are complete.
    inputs
        Files or directories read by the run; they are never inside or around the output.

    Returns
    -------
    contextmanager
        Yields the directory to write into; committed by rename when the block succeeds.
    """
    from .output_dir import output_directory as _output_directory

    return _output_directory(path, overwrite, inputs=inputs)
