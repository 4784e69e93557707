"""Transforming more rows than fit in memory, or on a cluster, with a fitted model.

Everything goes through one block function, :func:`diffembed.distributed.batch.coordinates_block`
(a fitted model + one block of rows → their diffusion coordinates): the plain streamed loop
(:mod:`.batch`: arrays, numpy memmaps, Parquet row groups), Dask (:mod:`.dask`: ``map_blocks`` /
``map_partitions``) and Spark (:mod:`.spark`: a ``mapInPandas`` function). A fitted model is
small when it was fitted on landmarks (landmarks + eigenpairs + normalisation vectors), so
shipping it to workers is cheap.
"""

from .batch import coordinates_block, iter_parquet_blocks, transform_array, transform_parquet

__all__ = ["coordinates_block", "iter_parquet_blocks", "transform_array", "transform_parquet"]
