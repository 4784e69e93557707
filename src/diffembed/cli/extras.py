"""The explorer's neighbours and the viewer exports, for ``map``, ``tree``, ``stability`` and
``export``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _progress
from ..exceptions import InputError

if TYPE_CHECKING:
    import numpy as np

    from ..diffusion_map import DiffusionMap

__all__ = [
    "EXPORT_HINTS", "EXPORT_OUTPUTS", "check_explorer_memory", "explorer_neighbors",
    "parse_formats", "write_exports",
]

#: How to open each export, printed after writing it.
EXPORT_HINTS = {
    "atlas": "embedding-atlas {dir}/atlas.parquet --x x --y y --neighbors neighbors",
    "projector": "projector.tensorflow.org → Load → {dir}/projector/vectors.tsv and metadata.tsv",
    "h5ad": "python -c \"import scanpy as sc; sc.read_h5ad('{dir}/embedding.h5ad')\"",
}
#: What each export writes, relative to the output directory.
EXPORT_OUTPUTS = {"atlas": "atlas.parquet", "projector": "projector/", "h5ad": "embedding.h5ad"}
#: Outputs the h5ad export can be written for (it needs a diffusion map's model/).
H5AD_KINDS = ("map",)


def parse_formats(values: list[str] | None, kind: str | None = None) -> list[str]:
    """``--format`` values (repeatable, or comma-separated) as a list without repeats.

    Parameters
    ----------
    values
        What the user typed, e.g. ``["atlas,projector"]``.
    kind
        The output being exported: ``"map"``, ``"tree"``, ``"embed"`` or ``"stability"``;
        formats that output cannot give are refused before any work (``None``: not checked).

    Returns
    -------
    list of str

    Raises
    ------
    InputError
        For an unknown format, or ``h5ad`` on an output other than a ``map``.
    """
    from ..io.exporters import EXPORT_FORMATS

    out: list[str] = []
    for value in values or []:
        for item in value.split(","):
            name = item.strip().lower()
            if name not in EXPORT_FORMATS:
                msg = (
                    f"--format {item.strip()!r} is not an export format: use "
                    f"{' or '.join(EXPORT_FORMATS)} (repeat --format for both)."
                )
                raise InputError(msg)
            if name not in out:
                out.append(name)
    if kind is not None and kind not in H5AD_KINDS and "h5ad" in out:
        msg = (
            "--format h5ad is for `diffembed map` outputs only (an AnnData file of the diffusion "
            f"map for scanpy); `{kind}` exports atlas or projector. Drop --format h5ad, or run "
            "`diffembed map` on the data for an .h5ad file."
        )
        raise InputError(msg)
    return out


def explorer_neighbors(
    X: Any, k: int, model: DiffusionMap
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """The ``k`` nearest neighbours of every row of ``X`` in the input space.

    Computed with :func:`diffembed.neighbors.knn_graph` (the same search the model used), self
    excluded, nearest first.

    Parameters
    ----------
    X
        The data the model was fitted on, shape (n, d).
    k
        Neighbours per row (at most n - 1); 0 computes nothing.
    model
        The fitted model: its resolved search method and metric are reused.

    Returns
    -------
    tuple or None
        ``(indices int32 (n, k), distances float32 (n, k), info)`` with ``info`` the manifest
        entry ``{"file", "distances_file", "k", "space", "metric", "method"}``; ``None`` for
        ``k = 0``.
    """
    import numpy as np

    from ..neighbors import knn_graph

    if k < 0:
        msg = f"--explorer-neighbors {k} is not valid: give a number of neighbours >= 0."
        raise InputError(msg)
    n = X.shape[0]
    k = min(k, n - 1)
    if k == 0:
        return None
    method = model.knn_method_ if model.knn_method_ in ("exact", "approximate") else "auto"
    check_explorer_memory(X.shape, k, method)
    with _progress.stage("explorer neighbors"):
        graph, _ = knn_graph(X, k, method=method, metric=model.metric, n_jobs=model.n_jobs)
        graph = graph.tocsr()
        counts = np.diff(graph.indptr)
        if np.any(counts != k):
            msg = "The neighbour search returned rows with fewer than k neighbours."
            raise InputError(msg)
        ind = graph.indices.reshape(n, k)
        dist = graph.data.reshape(n, k)
        order = np.argsort(dist, axis=1, kind="stable")
        ind = np.take_along_axis(ind, order, axis=1).astype(np.int32)
        dist = np.take_along_axis(dist, order, axis=1).astype(np.float32)
    info = {
        "file": "neighbors.npy",
        "distances_file": "neighbor_distances.npy",
        "k": int(k),
        "space": "input",
        "metric": str(model.metric),
        "method": method,
    }
    return ind, dist, info


def check_explorer_memory(shape: tuple[int, int], k: int, knn: str = "auto") -> None:
    """Refuse ``--explorer-neighbors k`` when its search would not fit in memory.

    The data, the fitted model and the (n, k) result arrays are counted
    (:func:`diffembed._memory.explorer_bytes`).
    """
    from .. import _memory

    n, d = shape
    held = _memory.BASELINE + n * d * 8 + 4.0 * n * 11 * 8
    _memory.check_memory(
        held + _memory.explorer_bytes(n, d, min(k, n - 1), knn),
        f"--explorer-neighbors {k} ({n} points x {min(k, n - 1)} neighbours)",
        "Use a smaller --explorer-neighbors (the report shows 10; 0 saves none).",
    )


def write_exports(directory: Path, formats: list[str], *, t: float | None = None) -> list[str]:
    """Write the viewer exports into ``directory`` (each file atomically).

    Parameters
    ----------
    directory
        An output directory of ``diffembed map``, ``tree``, ``embed …`` or ``stability`` (or
        the one being built).
    formats
        ``"atlas"`` and/or ``"projector"``.
    t
        Diffusion time of a ``map`` output's exported coordinates; default the saved one.

    Returns
    -------
    list of str
        The outputs written, relative to ``directory`` (``atlas.parquet``, ``projector/``).
    """
    from ..io.exporters import export_run

    written = []
    for fmt in formats:
        with _progress.stage(f"export {fmt}"):
            export_run(directory, fmt, t=t)
        written.append(EXPORT_OUTPUTS[fmt])
    return written
