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

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..exceptions import InputError
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
_DC = re.compile(r"^dc(\d+)$")
_ATLAS_RESERVED = ("id", "x", "y", "neighbors")
#: Neighbours per point written for outputs that do not save them (as their explorers list).
EXPORT_NEIGHBOURS = 10
#: Principal components written for ``embed`` and ``stability`` outputs.
_PCS = 10


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
                "diffusion time in manifest.json. Export at the saved time (no --time)."
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


@dataclass
class ExportPoints:
    """The exported rows of any output directory (:func:`read_points`).

    Attributes
    ----------
    ids
        ``(n,)`` point ids.
    coords
        ``(n, K)`` finite coordinates, written as columns named ``coord_names``.
    coord_names
        Their names.
    vectors
        ``(n, d)`` rows for the Projector's ``vectors.tsv``.
    columns
        Metadata columns (name → ``(n,)`` values), in order.
    neighbors, distances
        ``(n, k)`` neighbours as rows of these points (-1: none) and their distances, or
        ``None``.
    xy
        ``(n, 2)`` scatter positions (``x``, ``y``); default the first two coordinates.
    kind
        The output kind (:func:`output_kind`).
    """

    ids: np.ndarray
    coords: np.ndarray
    coord_names: list[str]
    vectors: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    neighbors: np.ndarray | None = None
    distances: np.ndarray | None = None
    xy: np.ndarray | None = None
    kind: str = "map"


def output_kind(out_dir: str | Path) -> str:
    """Which command wrote ``out_dir``: ``"map"``, ``"tree"``, ``"embed"`` or ``"stability"``.

    Raises
    ------
    InputError
        When none of their files is there (the fix is named).
    """
    out_dir = Path(out_dir)
    if (out_dir / "embedding.parquet").is_file():
        return "map"
    if (out_dir / "levels.parquet").is_file():
        return "tree"
    if (out_dir / "words.parquet").is_file() and (out_dir / "vectors_smoothed.parquet").is_file():
        return "stability"
    if (out_dir / "vectors.parquet").is_file():
        return "embed"
    what = "does not exist" if not out_dir.is_dir() else "has no embedding.parquet (map), "
    if out_dir.is_dir():
        what += "levels.parquet (tree), vectors.parquet (embed) or words.parquet (stability)"
    msg = (
        f"{out_dir} {what}, so there is nothing to export: run `diffembed map`, `tree`, "
        f"`embed …` or `stability` with -o {out_dir} first."
    )
    raise InputError(msg)


def _finite_points(
    ids: Any,
    coords: np.ndarray,
    coord_names: list[str],
    vectors: np.ndarray,
    columns: Mapping[str, Any],
    neighbors: np.ndarray | None,
    distances: np.ndarray | None,
    *,
    xy: np.ndarray | None = None,
    kind: str,
) -> ExportPoints:
    """The rows whose coordinates (and positions) are finite, neighbours renumbered to them."""
    coords = np.asarray(coords, dtype=np.float64)
    check = coords if xy is None else np.column_stack([coords, xy])
    kept, where = _kept_rows(check)
    nb = None
    if neighbors is not None:
        old = np.asarray(neighbors, dtype=np.int64)[kept]
        nb = np.where(old >= 0, where[np.maximum(old, 0)], -1)
    return ExportPoints(
        ids=np.asarray(ids)[kept],
        coords=coords[kept],
        coord_names=list(coord_names),
        vectors=np.asarray(vectors)[kept],
        columns={str(c): np.asarray(v)[kept] for c, v in columns.items()},
        neighbors=nb,
        distances=None if distances is None or nb is None else np.asarray(distances)[kept],
        xy=None if xy is None else np.asarray(xy, dtype=np.float64)[kept],
        kind=kind,
    )


def _map_points(out_dir: Path, t: float | None) -> ExportPoints:
    run = read_run(out_dir)
    coords = run.coords_at(t)
    n = coords.shape[0]
    ids = run.columns["id"] if "id" in run.columns else np.arange(n, dtype=np.int64)
    return _finite_points(
        ids, coords, run.coord_names, coords, {c: run.columns[c] for c in run.metadata},
        run.neighbors, run.distances, kind="map",
    )  # fmt: skip


def _read_manifest(out_dir: Path) -> dict[str, Any]:
    try:
        loaded = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _tree_points(out_dir: Path) -> ExportPoints:
    from ..plotting.explorer_neighbours import nearest_neighbours
    from ..plotting.tree_report import _neighbours_within, _projection, read_tree_outputs

    table, coords, manifest = read_tree_outputs(out_dir)
    n = table.num_rows
    if coords is None or coords.ndim != 2 or coords.shape[0] != n:
        what = "is missing" if coords is None else f"has shape {coords.shape}, not ({n}, K)"
        msg = f"{out_dir / 'coordinates.npy'} {what}: rerun `diffembed tree ... -o {out_dir}`."
        raise InputError(msg)
    coords = np.asarray(coords, dtype=np.float64)
    cols = {
        c: np.asarray(table.column(c).to_numpy(zero_copy_only=False)) for c in table.column_names
    }
    params = manifest.get("parameters") if isinstance(manifest.get("parameters"), dict) else {}
    space = params.get("space")
    groups = cols.get("component")
    xy, _, _ = _projection(coords, space, groups)
    finite = np.flatnonzero(np.all(np.isfinite(coords), axis=1))
    if space != "input" and groups is not None and np.unique(groups).size > 1:
        nb, dist, _ = _neighbours_within(coords, groups)
    else:
        nb, dist, _ = nearest_neighbours(coords, EXPORT_NEIGHBOURS, rows=finite)
    stem = "input" if space == "input" else "dc"
    names = [f"{stem}{j + 1}" for j in range(coords.shape[1])]
    ids = cols.pop("id", np.arange(n, dtype=np.int64))
    return _finite_points(ids, coords, names, coords, cols, nb, dist, xy=xy, kind="tree")


def _embed_points(out_dir: Path) -> ExportPoints:
    from ..plotting.embed_figures import _pca_layout, read_embed_points
    from ..plotting.explorer_neighbours import nearest_neighbours

    manifest = _read_manifest(out_dir)
    points = read_embed_points(out_dir, manifest)
    if points is None:
        msg = f"{out_dir / 'vectors.parquet'} has no vector columns (v1.., pc1..): rerun it."
        raise InputError(msg)
    vectors = np.asarray(points["vectors"], dtype=np.float64)
    names = list(points["vector_names"])
    recipe = str(manifest.get("recipe") or manifest.get("command") or "")
    if recipe == "pca" or names[0].startswith("pc"):
        k = min(len(names), _PCS)
        coords, coord_names, metric = vectors[:, :k], names[:k], "euclidean"
    else:
        coords = _pca_layout(vectors, min(_PCS, vectors.shape[1]))
        coord_names, metric = [f"PC{j + 1}" for j in range(coords.shape[1])], "cosine"
    columns: dict[str, Any] = {}
    if points.get("texts") is not None:
        columns["text"] = np.asarray(points["texts"], dtype=object)
    columns.update(points["columns"])
    ok = np.flatnonzero(np.all(np.isfinite(vectors), axis=1))
    nb, dist, _ = nearest_neighbours(vectors, EXPORT_NEIGHBOURS, metric=metric, rows=ok)
    return _finite_points(
        points["ids"], coords, coord_names, vectors, columns, nb, dist, kind="embed"
    )


def _stability_points(out_dir: Path) -> ExportPoints:
    from ..plotting.explorer_neighbours import nearest_neighbours
    from ..plotting.stability_report import pca_layout, read_word_outputs

    words = read_word_outputs(out_dir)
    if words is None:  # pragma: no cover - output_kind saw the files
        msg = f"{out_dir} has no word vectors: rerun `diffembed stability ... -o {out_dir}`."
        raise InputError(msg)
    V = np.asarray(words["smoothed"], dtype=np.float64)
    coords = pca_layout(V, min(_PCS, V.shape[1]))
    names = [f"PC{j + 1}" for j in range(coords.shape[1])]
    nb, dist, _ = nearest_neighbours(V, EXPORT_NEIGHBOURS, metric="cosine")
    ids = np.asarray(words["ids"], dtype=object)
    return _finite_points(ids, coords, names, V, words["columns"], nb, dist, kind="stability")


def read_points(out_dir: str | Path, *, t: float | None = None) -> ExportPoints:
    """The rows to export of an output directory of ``map``, ``tree``, ``embed …`` or ``stability``.

    Parameters
    ----------
    out_dir
        The directory (:func:`output_kind` tells what wrote it).
    t
        Diffusion time of a ``map`` output's coordinates; default the saved one. Other outputs
        have no diffusion time to move (an error).

    Returns
    -------
    ExportPoints
    """
    out_dir = Path(out_dir)
    kind = output_kind(out_dir)
    if kind == "map":
        return _map_points(out_dir, t)
    if t is not None:
        msg = f"--time {t} moves diffusion-map coordinates only; {out_dir} is a `{kind}` output."
        raise InputError(msg)
    readers = {"tree": _tree_points, "embed": _embed_points, "stability": _stability_points}
    return readers[kind](out_dir)


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
