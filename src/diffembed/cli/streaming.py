"""``diffembed transform`` of Parquet input: streamed row group by row group, or on Dask.

Both paths end in :func:`diffembed.distributed.batch.coordinates_block`, so they equal the
in-memory transform; the output has the layout of ``map``'s ``embedding.parquet``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import _progress
from ..exceptions import InputError
from .console import UI

__all__ = ["stream_transform"]


def stream_transform(
    ui: UI,
    model: Any,
    input_path: Path,
    out_file: Path,
    expected: list[str] | None,
    t_used: float,
    label: str | None,
    id_column: str | None,
    block_size: int,
    dask_scheduler: str | None,
) -> dict[str, Any]:
    """Transform a Parquet input block by block (or on Dask) into ``out_file``."""
    import pyarrow.parquet as pq

    from ..distributed.batch import numeric_columns, transform_parquet
    from ..io.readers import file_sha256

    if input_path.suffix.lower() not in (".parquet", ".pq"):
        msg = (f"--dask-scheduler reads Parquet input; convert {input_path.name} to Parquet "
               "(or drop --dask-scheduler).")
        raise InputError(msg)
    try:
        handle = pq.ParquetFile(input_path)
    except Exception as exc:
        msg = f"Cannot read {input_path} as Parquet: {exc}. Check the file."
        raise InputError(msg) from exc
    skip = {c for c in (label, id_column) if c}
    schema = handle.schema_arrow
    missing = [c for c in [*(expected or []), *sorted(skip)] if c not in schema.names]
    if missing:
        msg = (f"{input_path.name} lacks the column(s) {', '.join(missing)}; it has "
               f"{', '.join(schema.names[:20])}.")
        raise InputError(msg)
    columns = expected
    if columns is None:
        columns = numeric_columns(schema, tuple(skip))
    if len(columns) != int(model.n_features_in_):
        msg = (f"{input_path.name} has {len(columns)} numeric feature column(s) but the model "
               f"was fitted on {model.n_features_in_}. Give data with the same columns.")
        raise InputError(msg)
    where = "on Dask" if dask_scheduler else f"in blocks of {block_size} rows"
    n_rows = handle.metadata.num_rows
    ui.info(f"transform {n_rows} points × {len(columns)} features {where} at t={t_used}")
    with ui.capture_warnings(), _progress.stage("transform"):
        if dask_scheduler is None:
            n = transform_parquet(model, input_path, out_file, columns=columns,
                                  id_column=id_column, label_column=label, t=t_used,
                                  block_size=block_size)
        else:
            n = _dask_transform(model, input_path, out_file, columns, id_column, label, t_used,
                                block_size, dask_scheduler)
    return {"path": str(input_path), "sha256": file_sha256(input_path), "n_samples": int(n),
            "n_features": len(columns), "streamed": True}


def _dask_transform(
    model: Any,
    input_path: Path,
    out_file: Path,
    columns: list[str],
    id_column: str | None,
    label: str | None,
    t_used: float,
    block_size: int,
    scheduler: str,
) -> int:
    import dask.dataframe as dd

    from ..distributed.dask import client_for, transform
    from ..io.writers import atomic_path

    keep = [c for c in (id_column, label) if c]
    with client_for(scheduler):
        frame = dd.read_parquet(str(input_path), columns=[*columns, *keep],
                                split_row_groups=True)
        coords = transform(frame, model, t=t_used, columns=columns, keep=keep)
        if id_column:
            coords = coords.rename(columns={id_column: "id"})
        result = coords.compute()
    if not id_column:
        result.insert(0, "id", np.arange(len(result), dtype=np.int64))
    if label:  # the map layout: id, dc1..dcK, label
        result = result[["id", *[c for c in result.columns if c.startswith("dc")], label]]
    with atomic_path(out_file) as tmp:
        result.to_parquet(tmp, index=False)
    return len(result)
