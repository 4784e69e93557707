"""How good is an approximate nearest-neighbour search: recall against brute force.

Recall is counted by *distance*: the fraction of the approximate neighbours that are no farther
than the exact k-th nearest point, so ties and duplicate points cannot lower it. Used by
:class:`~diffembed.DiffusionMap` (``knn_recall_``, on a sample of the indexed rows) and by the
landmark extension (``nystrom_knn_recall_``, on queries that are not indexed); the searches
themselves are in :mod:`diffembed.neighbors`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neighbors import NearestNeighbors

__all__ = ["distance_recall", "exact_kth_distances", "query_recall", "sample_recall"]


def sample_recall(
    X: Any,
    neighbor_distances: np.ndarray,
    *,
    metric: str = "euclidean",
    n_queries: int = 200,
    random_state: int | None = 0,
) -> float:
    """Recall of an approximate kNN search against exact search, on a sample of rows.

    For ``n_queries`` random rows, the exact k nearest other points are found by brute force;
    recall is the fraction of the approximate neighbours that are no farther than the exact
    k-th neighbour (counted by distance, so ties and duplicates cannot lower it).

    Parameters
    ----------
    X
        The searched data, shape (n, d).
    neighbor_distances
        Distances to the k approximate neighbours of every row (self excluded), shape (n, k).
    metric
        The search metric.
    n_queries
        Rows sampled.
    random_state
        Seed of the sample.

    Returns
    -------
    float
        Recall in [0, 1].
    """
    n, k = neighbor_distances.shape
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(n, size=min(n, n_queries), replace=False))
    return distance_recall(neighbor_distances[rows], exact_kth_distances(X, rows, k, metric))


def exact_kth_distances(X: Any, rows: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Brute-force distance from each of ``X[rows]`` to its k-th nearest other row of ``X``."""
    n = X.shape[0]
    exact = NearestNeighbors(n_neighbors=min(n, k + 1), algorithm="brute", metric=metric)
    exact_d, exact_i = exact.fit(X).kneighbors(np.asarray(X[rows]))
    # drop each query's own row (or one zero-distance copy of it)
    kth = np.empty(rows.size)
    for r, (d_row, i_row) in enumerate(zip(exact_d, exact_i, strict=True)):
        keep = i_row != rows[r]
        d_other = d_row[keep][:k] if keep.sum() >= k else d_row[1 : k + 1]
        kth[r] = d_other[-1]
    return kth


def distance_recall(approx_distances: np.ndarray, kth: np.ndarray) -> float:
    """Fraction of approximate neighbours no farther than the exact k-th (ties cannot lower it)."""
    tol = 1e-6 * np.maximum(1.0, kth)
    return float(np.mean(approx_distances <= (kth + tol)[:, None]))


def query_recall(
    X_index: Any,
    queries: Any,
    neighbor_distances: np.ndarray,
    *,
    metric: str = "euclidean",
) -> float:
    """Recall of approximate neighbours of ``queries`` among ``X_index``, against brute force.

    The out-of-sample counterpart of :func:`sample_recall`: the queries are not indexed, so no
    self match is dropped. Recall is the fraction of the approximate neighbours that are no
    farther than the exact k-th nearest indexed point (by distance, so ties cannot lower it).

    Parameters
    ----------
    X_index
        The indexed data, shape (n_index, d).
    queries
        The query rows (usually a random sample), shape (n_queries, d).
    neighbor_distances
        Distances from each query to its k approximate neighbours, shape (n_queries, k).
    metric
        The search metric.

    Returns
    -------
    float
        Recall in [0, 1].
    """
    neighbor_distances = np.asarray(neighbor_distances, dtype=np.float64)
    k = neighbor_distances.shape[1]
    exact = NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric).fit(X_index)
    kth = exact.kneighbors(np.asarray(queries, dtype=np.float64))[0][:, -1]
    return distance_recall(neighbor_distances, kth)
