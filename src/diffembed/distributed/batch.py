"""The block function and the streamed loop around it.

``coordinates_block(model, block, t)`` is the only place where rows become coordinates; the
loops here, :mod:`diffembed.distributed.dask` and :mod:`diffembed.distributed.spark` all call
it, so every path gives the same numbers (tested to 1e-10).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_int
from ..exceptions import InputError

__all__ = [
    "coordinates_block",
    "iter_parquet_blocks",
    "numeric_columns",
    "psi_block",
    "transform_array",
    "transform_parquet",
]

DEFAULT_BLOCK_SIZE = 65_536


def coordinates_block(model: Any, block: np.ndarray, t: float | None = None) -> np.ndarray:
    """Diffusion coordinates at time ``t`` of one block of new rows (Nyström extension).

    Parameters
    ----------
    model
        A fitted :class:`~diffembed.DiffusionMap` (for a landmark fit: its ``landmark_model_``).
    block
        Rows, shape (b, n_features); float64 is used.
    t
        Diffusion time; ``None`` uses the model's.

    Returns
    -------
    ndarray of shape (b, n_components)
    """
    block = np.asarray(block, dtype=np.float64)
    if block.ndim != 2:
        msg = f"A block must be 2-D (rows × features); got shape {block.shape}."
        raise InputError(msg)
    if block.shape[0] == 0:
        return np.empty((0, np.asarray(model.eigenvalues_).size), dtype=np.float64)
    with warnings.catch_warnings():  # blocks are plain rows, in the fitted column order
        warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
        return np.asarray(model.transform(block, t=t), dtype=np.float64)


def psi_block(model: Any, block: np.ndarray) -> np.ndarray:
    """Nyström eigenfunctions ψ of one block (coordinates at t = 0)."""
    return coordinates_block(model, block, t=0.0)


def numeric_columns(schema: Any, exclude: Sequence[str] = ()) -> list[str]:
    """Names of the integer and floating-point columns of a pyarrow schema, minus ``exclude``."""
    import pyarrow as pa

    return [f.name for f in schema if f.name not in exclude
            and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))]


def transform_array(
    model: Any,
    X: Any,
    *,
    t: float | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Transform ``X`` block by block; ``X`` may be a numpy memmap larger than memory.

    Parameters
    ----------
    model
        A fitted diffusion map.
    X
        Rows, shape (n, n_features): an array or ``np.load(path, mmap_mode="r")``.
    t
        Diffusion time (default: the model's).
    block_size
        Rows read and transformed at a time.
    out
        Optional output array of shape (n, n_components), e.g. an ``np.lib.format.open_memmap``
        so that the result need not fit in memory either.

    Returns
    -------
    ndarray
        ``out`` (filled) or a new array.
    """
    block_size = check_int(block_size, "block_size", low=1)
    if not hasattr(X, "shape") or len(X.shape) != 2:
        X = np.asarray(X)
        if X.ndim != 2:
            msg = f"X must be 2-D (rows × features); got shape {X.shape}."
            raise InputError(msg)
    n = X.shape[0]
    k = np.asarray(model.eigenvalues_).size
    if out is None:
        out = np.empty((n, k), dtype=np.float64)
    elif out.shape != (n, k):
        msg = f"out has shape {out.shape}; expected ({n}, {k})."
        raise InputError(msg)
    for start in range(0, n, block_size):
        stop = min(n, start + block_size)
        out[start:stop] = coordinates_block(model, X[start:stop], t)
    return out


def iter_parquet_blocks(
    path: str | os.PathLike[str],
    columns: Sequence[str] | None = None,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    extra_columns: Sequence[str] = (),
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Yield ``(features, extras)`` blocks of a Parquet file without reading it whole.

    Parameters
    ----------
    path
        A Parquet file.
    columns
        Feature columns (default: every numeric column not in ``extra_columns``).
    block_size
        Rows per block (Parquet batches; memory stays that of one block).
    extra_columns
        Columns passed through untouched (ids, labels), returned as numpy arrays.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    block_size = check_int(block_size, "block_size", low=1)
    try:
        handle = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        msg = f"Cannot read {path} as Parquet: {exc}. Check the file."
        raise InputError(msg) from exc
    schema = handle.schema_arrow
    names = list(schema.names)
    missing = [c for c in [*(columns or ()), *extra_columns] if c not in names]
    if missing:
        msg = (f"{Path(path).name} lacks the column(s) {', '.join(missing)}; it has "
               f"{', '.join(names[:20])}.")
        raise InputError(msg)
    if columns is None:
        columns = numeric_columns(schema, extra_columns)
    if not columns:
        msg = f"{Path(path).name} has no numeric feature column."
        raise InputError(msg)
    wanted = [*columns, *[c for c in extra_columns if c not in columns]]
    for batch in handle.iter_batches(batch_size=block_size, columns=wanted):
        feats = np.column_stack(
            [batch.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in columns]
        )
        if not np.isfinite(feats).all():
            msg = f"{Path(path).name} contains NaN or infinite feature values. Drop or impute them."
            raise InputError(msg)
        extras = {c: batch.column(c).to_numpy(zero_copy_only=False) for c in extra_columns}
        yield feats, extras


def transform_parquet(
    model: Any,
    path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    id_column: str | None = None,
    label_column: str | None = None,
    t: float | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> int:
    """Stream a Parquet file through the model into a Parquet file, one block at a time.

    The output has the layout of ``diffembed map``'s ``embedding.parquet``: ``id`` (the
    ``id_column``, or the row number), ``dc1``…``dcK``, then the ``label_column`` if given. It
    is written to a temporary file next to ``out_path`` and renamed when complete, so a failure
    leaves nothing half-written.

    Returns
    -------
    int
        Number of rows written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..io.writers import atomic_path

    k = np.asarray(model.eigenvalues_).size
    extra_columns = [c for c in (id_column, label_column) if c is not None]
    n_rows = 0
    writer = None
    with atomic_path(out_path) as tmp:
        try:
            for feats, extras in iter_parquet_blocks(path, columns, block_size=block_size,
                                                     extra_columns=extra_columns):
                coords = coordinates_block(model, feats, t)
                b = feats.shape[0]
                ids = extras[id_column] if id_column else np.arange(n_rows, n_rows + b)
                arrays = {"id": pa.array(ids),
                          **{f"dc{i + 1}": pa.array(coords[:, i]) for i in range(k)}}
                if label_column is not None:
                    arrays[label_column] = pa.array(extras[label_column])
                table = pa.table(arrays)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                n_rows += feats.shape[0]
            if writer is None:  # an empty file: still write the schema
                schema = pa.schema([pa.field("id", pa.int64()),
                                    *[pa.field(f"dc{i + 1}", pa.float64()) for i in range(k)]])
                writer = pq.ParquetWriter(tmp, schema)
        finally:
            if writer is not None:
                writer.close()
    return n_rows
