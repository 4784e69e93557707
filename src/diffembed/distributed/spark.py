"""Transform a Spark DataFrame with ``mapInPandas`` (no pyspark import needed here).

>>> from diffembed.distributed import spark as de_spark                         # doctest: +SKIP
>>> out = de_spark.transform(sdf, model, ["x1", "x2", "x3"], keep=["id"])      # doctest: +SKIP

or, by hand:

>>> fn = de_spark.spark_transform_function(model, ["x1", "x2", "x3"], keep=["id"])  # doctest: +SKIP
>>> schema = de_spark.spark_schema(model, keep={"id": "bigint"})              # doctest: +SKIP
>>> out = sdf.mapInPandas(fn, schema=schema)                                   # doctest: +SKIP

The function closes over the fitted model (small for a landmark fit) and calls the same block
function as the plain and Dask paths. The Python workers unpickle it, so they must run a Python
with diffembed installed: in local mode set ``PYSPARK_PYTHON`` to ``sys.executable`` before
the session starts (pyspark's default is the first ``python3`` on the ``PATH``).
Tested against pyspark 4.3 in local mode (``tests/test_spark.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..exceptions import InputError
from .batch import coordinates_block

__all__ = ["spark_schema", "spark_transform_function", "transform"]


def spark_transform_function(
    model: Any,
    columns: Sequence[str],
    *,
    t: float | None = None,
    keep: Sequence[str] = (),
) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """A function for ``DataFrame.mapInPandas``: pandas batches in, coordinates out."""
    model = getattr(model, "landmark_model_", model)
    columns, keep = list(columns), list(keep)

    def transform_batches(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        for frame in batches:
            coords = coordinates_block(model, frame[columns].to_numpy(dtype=np.float64), t)
            out = pd.DataFrame(coords, columns=[f"dc{i + 1}" for i in range(coords.shape[1])])
            for name in reversed(keep):
                out.insert(0, name, frame[name].to_numpy())
            yield out

    return transform_batches


def spark_schema(model: Any, keep: Mapping[str, str] | None = None) -> str:
    """The DDL schema string of the output, e.g. ``"id bigint, dc1 double, dc2 double"``."""
    model = getattr(model, "landmark_model_", model)
    k = int(np.asarray(model.eigenvalues_).size)
    parts = [f"{_ddl_name(name)} {kind}" for name, kind in (keep or {}).items()]
    parts += [f"dc{i + 1} double" for i in range(k)]
    return ", ".join(parts)


def _ddl_name(name: str) -> str:
    """A column name as Spark DDL needs it: backquoted unless a plain identifier."""
    return name if name.isidentifier() else "`" + name.replace("`", "``") + "`"


def transform(
    frame: Any,
    model: Any,
    columns: Sequence[str],
    *,
    t: float | None = None,
    keep: Sequence[str] = (),
) -> Any:
    """Lazy diffusion coordinates of a Spark DataFrame (``mapInPandas`` under the hood).

    Parameters
    ----------
    frame
        A ``pyspark.sql.DataFrame`` holding the feature ``columns``.
    model
        A fitted :class:`~diffembed.DiffusionMap` or ``LandmarkDiffusionMap``.
    columns
        Feature columns, in the order the model was fitted on.
    t
        Diffusion time (default: the model's).
    keep
        Columns copied to the output in front of ``dc1``…, with their Spark types.

    Returns
    -------
    pyspark.sql.DataFrame
        ``keep`` columns then ``dc1 … dck`` (double); nothing runs until an action
        (``write``, ``collect``, ``toPandas``).
    """
    if not hasattr(frame, "mapInPandas") or not hasattr(frame, "schema"):
        msg = f"transform needs a pyspark.sql.DataFrame, got {type(frame).__name__}."
        raise InputError(msg)
    names = list(frame.columns)
    columns, keep = list(columns), list(keep)
    missing = [c for c in columns + keep if c not in names]
    if missing:
        msg = (
            f"The Spark DataFrame lacks the column(s) {missing}; it has {names}. Pass columns= "
            "(features) and keep= (copied columns) that exist."
        )
        raise InputError(msg)
    fitted = getattr(model, "landmark_model_", model)
    n_features = getattr(fitted, "n_features_in_", len(columns))
    if len(columns) != n_features:
        msg = (
            f"{len(columns)} feature column(s) were given but the model was fitted on "
            f"{n_features}; list the same features in the same order."
        )
        raise InputError(msg)
    types = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    schema = spark_schema(model, keep={name: types[name] for name in keep})
    return frame.mapInPandas(spark_transform_function(model, columns, t=t, keep=keep), schema)
