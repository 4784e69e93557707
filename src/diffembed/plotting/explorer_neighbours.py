"""Neighbours of the explorer: saved arrays checked, or the k nearest searched exactly / by HNSW.

Part of :mod:`diffembed.plotting.explorer`, which re-exports the public names; the viewer
exports (:mod:`diffembed.io.exporters`) use the same search, so an export lists the same
neighbours as the report.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_EXACT_WORK", "check_neighbors", "nearest_neighbours"]

#: Exact neighbour search while rows² × dimensions stays below this (about 3 s on one core).
MAX_EXACT_WORK = 3e10


def check_neighbors(
    neighbors: np.ndarray | None, distances: np.ndarray | None, n_total: int, notices: list[str]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Neighbour arrays that fit ``n_total`` rows, or ``(None, None)`` with a notice.

    Parameters
    ----------
    neighbors
        ``(n_total, k)`` integer row numbers (-1: none), or ``None``.
    distances
        Same shape, or ``None`` (dropped silently when the shape differs).
    n_total
        Rows of the table the neighbours refer to.
    notices
        Receives the sentence saying why the neighbours are not shown.

    Returns
    -------
    neighbors, distances : numpy.ndarray or None
    """
    if neighbors is None:
        return None, None
    nb = np.asarray(neighbors)
    if nb.ndim != 2 or nb.shape[0] != n_total or nb.dtype.kind not in "iu" or nb.shape[1] < 1:
        notices.append(
            f"The saved neighbours (shape {nb.shape}) do not match the {n_total:,} rows of the "
            "embedding and are not shown; rerun `diffembed map` to save them again."
        )
        return None, None
    if nb.size and (nb.max() >= n_total or nb.min() < -1):
        notices.append("The saved neighbours name rows that do not exist and are not shown.")
        return None, None
    if distances is not None and np.shape(distances) != nb.shape:
        distances = None
    return nb, distances


def nearest_neighbours(
    X: np.ndarray,
    k: int,
    *,
    metric: str = "euclidean",
    rows: np.ndarray | None = None,
    queries: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """The ``k`` nearest other rows of rows of ``X`` (``rows``: only among these).

    Exact search while it is cheap (searched rows² × dimensions at most
    :data:`MAX_EXACT_WORK`, a few seconds; or ≤ 10 dimensions, where a k-d tree is fast),
    otherwise a faiss HNSW index when faiss is installed (Euclidean or cosine); self excluded,
    nearest first.

    Parameters
    ----------
    X
        ``(n, d)`` finite vectors.
    k
        Neighbours per row (capped at the searched rows - 1).
    metric
        ``"euclidean"``, ``"cosine"`` or any scikit-learn metric (searched exactly).
    rows
        Row numbers searched (and answered); the others get ``-1``. Default: every row.
    queries
        Row numbers (among ``rows``) answered, when fewer than ``rows``: a drawn sample.

    Returns
    -------
    indices : numpy.ndarray
        ``(n, k)`` int32 row numbers of ``X`` (-1: none).
    distances : numpy.ndarray
        ``(n, k)`` float32 distances (NaN: none).
    method : str
        ``"exact"`` or ``"approximate"``.
    """
    from ..neighbors import AUTO_EXACT_MAX_DIMENSIONS, build_index, resolve_knn_method

    X = np.asarray(X, dtype=np.float32 if metric in ("euclidean", "cosine") else np.float64)
    n = X.shape[0]
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    k = int(min(k, rows.size - 1))
    ind = np.full((n, max(k, 0)), -1, dtype=np.int32)
    dist = np.full((n, max(k, 0)), np.nan, dtype=np.float32)
    if k < 1:
        return ind, dist, "exact"
    sub = X if rows.size == n else X[rows]  # rows are sorted and distinct: all of X
    cheap = sub.shape[1] <= AUTO_EXACT_MAX_DIMENSIONS
    cheap = cheap or float(sub.shape[0]) ** 2 * sub.shape[1] <= MAX_EXACT_WORK
    wanted = "exact" if cheap or metric not in ("euclidean", "cosine") else "auto"
    method = resolve_knn_method(wanted, 1 << 30, sub.shape[1], metric, False)
    index = build_index(sub, method=method, metric=metric)
    if queries is None:
        d, i = index.self_neighbors(k)
        answered = rows
    else:  # only these rows: search k + 1 and drop each query itself
        answered = np.asarray(queries, dtype=np.int64)
        where = np.full(n, -1, dtype=np.int64)
        where[rows] = np.arange(rows.size)
        d, i = index.query(X[answered], k + 1)
        d, i = np.asarray(d), np.asarray(i)
        own = i == where[answered][:, None]
        drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
        keep = np.ones(i.shape, dtype=bool)
        keep[np.arange(i.shape[0]), drop] = False
        d, i = d[keep].reshape(-1, k), i[keep].reshape(-1, k)
    i = np.asarray(i)
    ind[answered] = np.where(i >= 0, rows[np.maximum(i, 0)], -1)
    dist[answered] = np.where(i >= 0, d, np.nan)
    return ind, dist, method
