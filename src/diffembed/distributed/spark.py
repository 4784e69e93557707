"""Transform a Spark DataFrame with ``mapInPandas`` (no pyspark import needed here).

>>> from diffembed.distributed import spark as de_spark                         # doctest: +SKIP
>>> fn = de_spark.spark_transform_function(model, ["x1", "x2", "x3"], keep=["id"])  # doctest: +SKIP
>>> schema = de_spark.spark_schema(model, keep={"id": "bigint"})              # doctest: +SKIP
>>> out = sdf.mapInPandas(fn, schema=schema)                                   # doctest: +SKIP

The function closes over the fitted model (small for a landmark fit) and calls the same block
function as the plain and Dask paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .batch import coordinates_block

__all__ = ["spark_schema", "spark_transform_function"]


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
    parts = [f"{name} {kind}" for name, kind in (keep or {}).items()]
    parts += [f"dc{i + 1} double" for i in range(k)]
    return ", ".join(parts)
