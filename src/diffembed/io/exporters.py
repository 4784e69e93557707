"""Exports of a saved run for the embedding viewers people already use, instead of a server.

Every output directory with points can be exported: ``diffembed map`` (the diffusion
coordinates), ``diffembed tree`` (the coordinates the tree was built on, with every level
column), ``diffembed embed …`` (the vectors; LSA: the documents) and ``diffembed stability``
(run 1's smoothed word vectors, with the per-word stability columns). :func:`output_kind`
tells them apart; :func:`read_points` reads any of them into :class:`ExportPoints`.

``atlas``
    ``atlas.parquet`` for Apple's Embedding Atlas: ``id``, ``x``, ``y`` (dc1, dc2), every
    diffusion coordinate, the metadata columns and a ``neighbors`` column of
    ``{"ids": [...], "distances": [...]}`` (zero-based row numbers of this file), the format
    its ``--neighbors`` option reads. Open it with
    ``embedding-atlas OUT/atlas.parquet --x x --y y --neighbors neighbors``.
``projector``
    ``projector/vectors.tsv`` (one row of diffusion coordinates per point, no header) and
    ``projector/metadata.tsv`` (a header row, then id and metadata per point) for the
    TensorFlow Embedding Projector: projector.tensorflow.org → Load, choose both files.

What goes in, per output kind (``x``, ``y`` and the neighbours are those of the report's
explorer, so both show the same picture):

=============  ==========================  =====================  ==========================
output         x, y · coordinate columns   projector vectors      neighbours
=============  ==========================  =====================  ==========================
``map``        dc1, dc2 · dc1..dcK         dc1..dcK               ``neighbors.npy`` if saved
``tree``       the report's layout ·       the coordinates        10 nearest, Euclidean, in
               dc1..dcK (``input1``.. for                         the coordinates (within
               ``space=input``)                                   each graph component)
``embed``      PC1, PC2 · PC1..PC10 (PCA   the vectors            10 nearest, cosine (PCA:
               recipe: pc1..pc10)                                 Euclidean), full vectors
``stability``  PC1, PC2 · PC1..PC10 of     the smoothed vectors   10 nearest, cosine, in the
               the smoothed vectors                               smoothed vectors
=============  ==========================  =====================  ==========================

Only rows with coordinates are exported (a row with a NaN coordinate has no place in a
scatter); the neighbour lists are renumbered to the exported rows and lose the neighbours that
were dropped. ``map`` coordinates are written at the run's diffusion time, or at another time
``t`` computed from the saved eigenvalues: ``dc_k(t) = dc_k(t0) · λ_k^(t - t0)`` (no refit).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..exceptions import InputError
from .saved_runs import (
    EXPORT_NEIGHBOURS,
    ExportPoints,
    SavedRun,
    coordinates_at,
    output_kind,
    read_points,
    read_run,
)
from .writers import atomic_path, write_parquet_atomic

__all__ = [
    "EXPORT_FORMATS",
    "EXPORT_NEIGHBOURS",
    "ExportFormat",
    "ExportPoints",
    "SavedRun",
    "coordinates_at",
    "export_run",
    "output_kind",
    "read_points",
    "read_run",
    "write_atlas",
    "write_projector",
]

ExportFormat = Literal["atlas", "projector", "h5ad"]
#: What :func:`export_run` writes.
EXPORT_FORMATS: tuple[str, ...] = ("atlas", "projector", "h5ad")
_ATLAS_RESERVED = ("id", "x", "y", "neighbors")


def _atlas_name(name: str, taken: set[str]) -> str:
    while name in taken or name in _ATLAS_RESERVED:
        name += "_"
    return name


def write_atlas(
    out_dir: str | Path, path: str | Path | None = None, *, t: float | None = None
) -> Path:
    """Write ``atlas.parquet`` for Apple's Embedding Atlas.

    Parameters
    ----------
    out_dir
        An output directory of ``diffembed map``, ``tree``, ``embed …`` or ``stability``.
    path
        Destination; default ``out_dir / "atlas.parquet"``.
    t
        Diffusion time of a ``map`` output's coordinates; default the saved one.

    Returns
    -------
    pathlib.Path
        The file: ``id``, ``x``, ``y``, the coordinates (``dc1``..``dcK``, ``PC1``...), the
        metadata columns (one named like a column before it gets a trailing ``_``) and ``neighbors``
        as ``struct<ids: list<int32>, distances: list<float32>>`` (zero-based rows of this
        file) when there are neighbours (``map``: when the run saved them).
    """
    import pyarrow as pa

    pts = read_points(out_dir, t=t)
    n = pts.coords.shape[0]
    xy = pts.xy if pts.xy is not None else pts.coords[:, :2]
    table: dict[str, Any] = {
        "id": pa.array(pts.ids.tolist() if pts.ids.dtype == object else pts.ids),
        "x": pa.array(xy[:, 0]),
        "y": pa.array(xy[:, 1] if xy.shape[1] > 1 else np.zeros(n)),
    }
    for j, name in enumerate(pts.coord_names):
        table[_atlas_name(name, set(table))] = pa.array(pts.coords[:, j])
    for name, values in pts.columns.items():
        values = values.tolist() if values.dtype == object else values
        table[_atlas_name(name, set(table))] = pa.array(values)
    if pts.neighbors is not None:
        nb = pts.neighbors
        keep = nb >= 0
        offsets = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int32)
        fields = [pa.ListArray.from_arrays(offsets, pa.array(nb[keep].astype(np.int32)))]
        names = ["ids"]
        if pts.distances is not None:
            dist = np.asarray(pts.distances, dtype=np.float32)[keep]
            fields.append(pa.ListArray.from_arrays(offsets, pa.array(dist)))
            names.append("distances")
        table["neighbors"] = pa.StructArray.from_arrays(fields, names=names)
    target = Path(path) if path is not None else Path(out_dir) / "atlas.parquet"
    return write_parquet_atomic(table, target)


def _tsv_cell(text: str) -> str:
    return re.sub(r"[\t\r\n]+", " ", text)


def _value_texts(values: np.ndarray) -> list[str]:
    """Text of each value for a TSV: missing (None, NaN) empty, integral floats without ``.0``."""

    def text(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        if isinstance(v, float):
            return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
        return str(v)

    return [text(v) for v in np.asarray(values).tolist()]


def write_projector(
    out_dir: str | Path, directory: str | Path | None = None, *, t: float | None = None
) -> tuple[Path, Path]:
    """Write ``vectors.tsv`` and ``metadata.tsv`` for the TensorFlow Embedding Projector.

    Parameters
    ----------
    out_dir
        An output directory of ``diffembed map``, ``tree``, ``embed …`` or ``stability``.
    directory
        Where to write the two files; default ``out_dir / "projector"`` (created).
    t
        Diffusion time of a ``map`` output's coordinates; default the saved one.

    Returns
    -------
    vectors, metadata : pathlib.Path
        ``vectors.tsv``: one tab-separated row per exported point, no header (``map``: its K
        diffusion coordinates; ``tree``: the coordinates the tree was built on; ``embed``:
        the vectors; ``stability``: the smoothed vectors). ``metadata.tsv``: a header row
        (``id`` and the metadata columns) and one row per point; tabs and newlines in values
        become spaces, missing values are empty. With no metadata column it holds the ids
        alone, without a header (the Projector's rule for a single column).
    """
    pts = read_points(out_dir, t=t)
    folder = Path(directory) if directory is not None else Path(out_dir) / "projector"
    folder.mkdir(parents=True, exist_ok=True)
    vectors, meta = folder / "vectors.tsv", folder / "metadata.tsv"
    with atomic_path(vectors) as tmp:
        np.savetxt(tmp, pts.vectors, fmt="%.9g", delimiter="\t", encoding="utf-8")
    names = list(pts.columns)
    columns = [_value_texts(pts.ids)] + [_value_texts(pts.columns[c]) for c in names]
    with atomic_path(meta) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        if names:
            fh.write("\t".join(_tsv_cell(c) for c in ["id", *names]) + "\n")
        for row in zip(*columns, strict=True):
            fh.write("\t".join(_tsv_cell(v) for v in row) + "\n")
    return vectors, meta


def export_run(out_dir: str | Path, fmt: str, *, t: float | None = None) -> list[Path]:
    """Write one export format into ``out_dir``.

    Parameters
    ----------
    out_dir
        An output directory of ``diffembed map``, ``tree``, ``embed …`` or ``stability``.
    fmt
        ``"atlas"`` or ``"projector"``.
    t
        Diffusion time of a ``map`` output's coordinates; default the saved one.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    if fmt == "atlas":
        return [write_atlas(out_dir, t=t)]
    if fmt == "projector":
        return list(write_projector(out_dir, t=t))
    if fmt == "h5ad":  # AnnData for scanpy, map outputs only (io/anndata.py)
        from .anndata import write_h5ad_export

        return [write_h5ad_export(out_dir, t=t)]
    msg = f"Unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}."
    raise InputError(msg)
