"""Transform a Dask array or DataFrame with a fitted model (``map_blocks`` / ``map_partitions``).

>>> from diffembed.distributed import dask as de_dask          # doctest: +SKIP
>>> coords = de_dask.transform(dask_array, model).compute()     # doctest: +SKIP

Each block goes through :func:`diffembed.distributed.batch.coordinates_block`, so the result
equals the in-memory ``model.transform`` (to rounding). Works with any scheduler: threads,
processes, or a ``distributed.Client`` (local or remote).
Needs ``pip install 'diffembed[distributed]'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..exceptions import InputError
from .batch import coordinates_block

__all__ = ["client_for", "transform"]


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = "Dask is not installed. Install it with: pip install 'diffembed[distributed]'"
        raise ImportError(msg) from exc
    return dask, da


def _block(block: np.ndarray, model: Any, t: float | None) -> np.ndarray:
    return coordinates_block(model, block, t)


def _frame_block(frame: Any, model: Any, t: float | None, columns: Sequence[str],
                 keep: Sequence[str]) -> Any:
    import pandas as pd

    coords = coordinates_block(model, frame[list(columns)].to_numpy(dtype=np.float64), t)
    out = pd.DataFrame(coords, index=frame.index,
                       columns=[f"dc{i + 1}" for i in range(coords.shape[1])])
    for name in reversed(list(keep)):
        out.insert(0, name, frame[name].to_numpy())
    return out


def transform(
    data: Any,
    model: Any,
    *,
    t: float | None = None,
    columns: Sequence[str] | None = None,
    keep: Sequence[str] = (),
) -> Any:
    """Lazy diffusion coordinates of a Dask collection.

    Parameters
    ----------
    data
        A 2-D ``dask.array.Array`` (rows × features; chunked along rows only, or it is
        rechunked so), or a ``dask.dataframe.DataFrame``.
    model
        A fitted :class:`~diffembed.DiffusionMap` (for landmarks: ``LandmarkDiffusionMap``'s
        ``landmark_model_``; a ``LandmarkDiffusionMap`` itself is accepted too).
    t
        Diffusion time (default: the model's).
    columns
        DataFrame feature columns (default: the model's ``feature_names_in_`` if it has them,
        else every numeric column not in ``keep``).
    keep
        DataFrame columns copied to the output in front of ``dc1``… (ids, labels).

    Returns
    -------
    dask.array.Array or dask.dataframe.DataFrame
        Call ``.compute()`` (or write it with ``to_parquet``).
    """
    _, da = _import_dask()
    model = getattr(model, "landmark_model_", model)
    if not hasattr(model, "eigenvalues_"):
        msg = "transform needs a fitted diffusion map; call fit first (or load_model(path))."
        raise InputError(msg)
    k = int(np.asarray(model.eigenvalues_).size)
    if isinstance(data, da.Array):
        if data.ndim != 2:
            msg = f"The Dask array must be 2-D (rows × features); got {data.ndim}-D."
            raise InputError(msg)
        if data.shape[1] != model.n_features_in_:
            msg = (f"The Dask array has {data.shape[1]} columns; the model was fitted on "
                   f"{model.n_features_in_}.")
            raise InputError(msg)
        if len(data.chunks[1]) > 1:
            data = data.rechunk({1: -1})
        return data.map_blocks(_block, model=model, t=t, dtype=np.float64,
                               chunks=(data.chunks[0], (k,)))
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # pragma: no cover
        msg = "dask.dataframe is not installed: pip install 'diffembed[distributed]'"
        raise ImportError(msg) from exc
    if isinstance(data, dd.DataFrame):
        import pandas as pd

        if columns is None:
            names = getattr(model, "feature_names_in_", None)
            if names is not None:
                columns = [str(c) for c in names]
            else:
                columns = [c for c in data.columns if c not in keep
                           and np.issubdtype(data.dtypes[c], np.number)]
        missing = [c for c in [*columns, *keep] if c not in data.columns]
        if missing:
            msg = f"The DataFrame lacks the column(s) {', '.join(map(str, missing))}."
            raise InputError(msg)
        if len(columns) != model.n_features_in_:
            msg = (f"{len(columns)} feature columns given; the model was fitted on "
                   f"{model.n_features_in_}.")
            raise InputError(msg)
        meta = pd.DataFrame({**{name: data._meta[name] for name in keep},
                             **{f"dc{i + 1}": pd.Series(dtype="float64") for i in range(k)}})
        return data.map_partitions(_frame_block, model, t, list(columns), list(keep), meta=meta)
    msg = (f"transform takes a dask.array.Array or a dask.dataframe.DataFrame, not "
           f"{type(data).__name__}; for numpy arrays use model.transform or "
           "diffembed.distributed.transform_array.")
    raise InputError(msg)


def client_for(scheduler: str) -> Any:
    """A ``distributed.Client``: ``"local"`` starts a loopback LocalCluster (2 workers)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover
        msg = "dask.distributed is not installed: pip install 'diffembed[distributed]'"
        raise ImportError(msg) from exc
    if scheduler == "local":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=":0")
        return Client(cluster)
    return Client(scheduler)
