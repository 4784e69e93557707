"""Exports of a saved run for the embedding viewers people already use, instead of a server.

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

Only embedded rows are exported (a row with a NaN coordinate has no place in a scatter); the
neighbour lists are renumbered to the exported rows and lose the neighbours that were dropped.
Coordinates are written at the run's diffusion time, or at another time ``t`` computed from
the saved eigenvalues: ``dc_k(t) = dc_k(t0) · λ_k^(t - t0)`` (no refit).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..exceptions import InputError
from .writers import atomic_path, write_parquet_atomic

__all__ = [
    "EXPORT_FORMATS",
    "ExportFormat",
    "SavedRun",
    "coordinates_at",
    "export_run",
    "read_run",
    "write_atlas",
    "write_projector",
]

ExportFormat = Literal["atlas", "projector"]
#: What :func:`export_run` writes.
EXPORT_FORMATS: tuple[str, ...] = ("atlas", "projector")
_DC = re.compile(r"^dc(\d+)$")
_ATLAS_RESERVED = ("x", "y", "neighbors")


def _power(lam: np.ndarray, t: float) -> np.ndarray:
    """``λ^t`` keeping the sign of negative eigenvalues (1 at ``t = 0``), as the estimator."""
    if t == 0:
        return np.ones_like(lam)
    return np.sign(lam) * np.abs(lam) ** t


def coordinates_at(
    coords: np.ndarray, eigenvalues: Sequence[float], t_from: float, t_to: float
) -> np.ndarray:
    """Diffusion coordinates at time ``t_to`` from those at ``t_from``, without refitting.

    Parameters
    ----------
    coords
        ``(n, K)`` coordinates ``ψ_k λ_k^t_from``.
    eigenvalues
        The K eigenvalues λ_k.
    t_from, t_to
        Diffusion times (>= 0).

    Returns
    -------
    numpy.ndarray
        ``ψ_k λ_k^t_to``; a coordinate whose eigenvalue is 0 at ``t_from > 0`` cannot be
        recovered and raises :class:`InputError`.
    """
    coords = np.asarray(coords, dtype=np.float64)
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if coords.ndim != 2 or lam.shape != (coords.shape[1],):
        msg = f"coords {coords.shape} and eigenvalues {lam.shape} do not match."
        raise InputError(msg)
    for name, value in (("t_from", t_from), ("t_to", t_to)):
        if not (math.isfinite(value) and value >= 0):
            msg = f"{name}={value} is not a valid diffusion time: give a number >= 0."
            raise InputError(msg)
    if t_to == t_from:
        return coords.copy()
    base = _power(lam, t_from)
    if np.any(base == 0):
        msg = "A coordinate has eigenvalue 0, so it cannot be moved to another diffusion time."
        raise InputError(msg)
    return coords * (_power(lam, t_to) / base)[None, :]


@dataclass
class SavedRun:
    """The parts of a ``diffembed map`` output directory that the exporters use.

    Attributes
    ----------
    columns
        Every column of ``embedding.parquet`` as a numpy array (pyarrow's conversion).
    coord_names
        ``dc1``..``dcK`` in order.
    metadata
        The other columns, label first.
    eigenvalues
        One per coordinate (from ``spectrum.csv``), or ``None``.
    t
        The diffusion time of the saved coordinates (``manifest["parameters"]["t"]``) or
        ``None``.
    neighbors, distances
        ``neighbors.npy`` and ``neighbor_distances.npy``, or ``None``.
    """

    columns: dict[str, np.ndarray]
    coord_names: list[str]
    metadata: list[str]
    eigenvalues: list[float] | None
    t: float | None
    neighbors: np.ndarray | None
    distances: np.ndarray | None

    @property
    def coords(self) -> np.ndarray:
        """``(n, K)`` float64 diffusion coordinates as saved."""
        return np.column_stack([self.columns[c].astype(np.float64) for c in self.coord_names])

    def coords_at(self, t: float | None) -> np.ndarray:
        """Coordinates at diffusion time ``t`` (``None``: as saved)."""
        if t is not None and not (math.isfinite(t) and t >= 0):
            msg = f"t={t} is not a valid diffusion time: give a number >= 0."
            raise InputError(msg)
        if t is None or (self.t is not None and t == self.t):
            return self.coords
        if self.eigenvalues is None or self.t is None:
            msg = (
                f"Cannot move the coordinates to t={t}: the run lacks its spectrum.csv or the "
                "diffusion time in manifest.json. Export at the saved time (no --t)."
            )
            raise InputError(msg)
        return coordinates_at(self.coords, self.eigenvalues, self.t, t)


def _read_spectrum(path: Path, coord_names: list[str]) -> list[float] | None:
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as fh:
        found = {}
        for row in csv.DictReader(fh):
            try:
                found[int(float(row["component"]))] = float(row["eigenvalue"])
            except (KeyError, TypeError, ValueError):
                continue
    lam = [found.get(int(name[2:])) for name in coord_names]
    return None if any(v is None or not math.isfinite(v) for v in lam) else lam  # type: ignore[misc]


def read_run(out_dir: str | Path) -> SavedRun:
    """Read what the exporters need from an output directory of ``diffembed map``.

    Parameters
    ----------
    out_dir
        The directory; ``embedding.parquet`` is required, the rest optional.

    Returns
    -------
    SavedRun
    """
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    path = out_dir / "embedding.parquet"
    if not path.is_file():
        msg = f"{path} is missing: run `diffembed map INPUT -o {out_dir}` first."
        raise InputError(msg)
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        msg = f"Cannot read {path} ({exc}): rerun `diffembed map`."
        raise InputError(msg) from exc
    columns = {c: np.asarray(table.column(c).to_numpy()) for c in table.column_names}
    coord_names = sorted((c for c in columns if _DC.match(c)), key=lambda c: int(c[2:]))
    if not coord_names:
        msg = f"{path} has no diffusion coordinates (dc1..dcK): rerun `diffembed map`."
        raise InputError(msg)
    manifest: dict[str, Any] = {}
    if (out_dir / "manifest.json").is_file():
        try:
            loaded = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
            manifest = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            manifest = {}
    label = manifest.get("label_column")
    metadata = [c for c in columns if c != "id" and c not in coord_names]
    if label in metadata:
        metadata.remove(label)
        metadata.insert(0, label)
    params = manifest.get("parameters")
    t = params.get("t") if isinstance(params, dict) else None
    t = float(t) if type(t) in (int, float) and math.isfinite(t) and t >= 0 else None
    arrays = []
    n = len(columns[coord_names[0]])
    for name in ("neighbors.npy", "neighbor_distances.npy"):
        file = out_dir / name
        arr = np.load(file, allow_pickle=False) if file.is_file() else None
        arrays.append(arr if arr is not None and arr.ndim == 2 and arr.shape[0] == n else None)
    nb, dist = arrays
    if nb is not None and dist is not None and dist.shape != nb.shape:
        dist = None
    return SavedRun(
        columns, coord_names, metadata, _read_spectrum(out_dir / "spectrum.csv", coord_names),
        t, nb, dist,
    )  # fmt: skip


def _kept_rows(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with finite coordinates and the map from old row number to new (-1: dropped)."""
    kept = np.flatnonzero(np.all(np.isfinite(coords), axis=1))
    where = np.full(coords.shape[0], -1, dtype=np.int64)
    where[kept] = np.arange(kept.size)
    return kept, where


def write_atlas(
    out_dir: str | Path, path: str | Path | None = None, *, t: float | None = None
) -> Path:
    """Write ``atlas.parquet`` for Apple's Embedding Atlas.

    Parameters
    ----------
    out_dir
        An output directory of ``diffembed map``.
    path
        Destination; default ``out_dir / "atlas.parquet"``.
    t
        Diffusion time of the coordinates; default the saved one.

    Returns
    -------
    pathlib.Path
        The file: ``id``, ``x``, ``y``, ``dc1``..``dcK``, metadata columns (one named ``x``,
        ``y`` or ``neighbors`` gets a trailing ``_``) and, when the run saved neighbours,
        ``neighbors`` as ``struct<ids: list<int32>, distances: list<float32>>``.
    """
    import pyarrow as pa

    run = read_run(out_dir)
    coords = run.coords_at(t)
    kept, where = _kept_rows(coords)
    coords = coords[kept]
    n = kept.size
    ids = run.columns["id"][kept] if "id" in run.columns else kept.astype(np.int64)
    table: dict[str, Any] = {
        "id": pa.array(ids),
        "x": pa.array(coords[:, 0]),
        "y": pa.array(coords[:, 1] if coords.shape[1] > 1 else np.zeros(n)),
    }
    for j, name in enumerate(run.coord_names):
        table[name] = pa.array(coords[:, j])
    for name in run.metadata:
        table[name + "_" if name in _ATLAS_RESERVED else name] = pa.array(run.columns[name][kept])
    if run.neighbors is not None:
        nb = run.neighbors[kept].astype(np.int64)
        new = np.where(nb >= 0, where[np.maximum(nb, 0)], -1)
        keep = new >= 0
        offsets = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int32)
        ids_list = pa.ListArray.from_arrays(offsets, pa.array(new[keep].astype(np.int32)))
        fields = [ids_list]
        names = ["ids"]
        if run.distances is not None:
            dist = run.distances[kept].astype(np.float32)[keep]
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
        An output directory of ``diffembed map``.
    directory
        Where to write the two files; default ``out_dir / "projector"`` (created).
    t
        Diffusion time of the coordinates; default the saved one.

    Returns
    -------
    vectors, metadata : pathlib.Path
        ``vectors.tsv``: one tab-separated row of K coordinates per embedded point, no header.
        ``metadata.tsv``: a header row (``id`` and the metadata columns) and one row per
        point; tabs and newlines in values become spaces, missing values are empty. With no
        metadata column it holds the ids alone, without a header (the Projector's rule for a
        single column).
    """
    run = read_run(out_dir)
    coords = run.coords_at(t)
    kept, _ = _kept_rows(coords)
    folder = Path(directory) if directory is not None else Path(out_dir) / "projector"
    folder.mkdir(parents=True, exist_ok=True)
    vectors, meta = folder / "vectors.tsv", folder / "metadata.tsv"
    with atomic_path(vectors) as tmp:
        np.savetxt(tmp, coords[kept], fmt="%.9g", delimiter="\t", encoding="utf-8")
    ids = run.columns["id"][kept] if "id" in run.columns else kept
    columns = [_value_texts(ids)] + [_value_texts(run.columns[c][kept]) for c in run.metadata]
    with atomic_path(meta) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        if run.metadata:
            fh.write("\t".join(_tsv_cell(c) for c in ["id", *run.metadata]) + "\n")
        for row in zip(*columns, strict=True):
            fh.write("\t".join(_tsv_cell(v) for v in row) + "\n")
    return vectors, meta


def export_run(out_dir: str | Path, fmt: str, *, t: float | None = None) -> list[Path]:
    """Write one export format into ``out_dir``.

    Parameters
    ----------
    out_dir
        An output directory of ``diffembed map``.
    fmt
        ``"atlas"`` or ``"projector"``.
    t
        Diffusion time of the coordinates; default the saved one.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    if fmt == "atlas":
        return [write_atlas(out_dir, t=t)]
    if fmt == "projector":
        return list(write_projector(out_dir, t=t))
    msg = f"Unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}."
    raise InputError(msg)
