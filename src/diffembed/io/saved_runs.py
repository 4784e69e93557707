"""A saved run's points, whatever command wrote it: what the exporters and AnnData read.

:func:`read_run` reads a ``diffembed map`` output (coordinates, spectrum, metadata) into a
:class:`SavedRun`; :func:`output_kind` tells ``map``, ``tree``, ``embed`` and ``stability``
outputs apart and :func:`read_points` reads any of them into :class:`ExportPoints` (the
coordinates, the x/y the report's explorer shows, the metadata columns and the neighbour
lists), as described in :mod:`diffembed.io.exporters`. :func:`coordinates_at` moves diffusion
coordinates to another time from the saved eigenvalues, without a refit.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError

__all__ = [
    "EXPORT_NEIGHBOURS",
    "ExportPoints",
    "SavedRun",
    "coordinates_at",
    "output_kind",
    "read_points",
    "read_run",
]

_DC = re.compile(r"^dc(\d+)$")
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
