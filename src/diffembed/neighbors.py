"""k-nearest-neighbour distance graphs: exact, approximate, or precomputed.

Everything downstream works on one representation: a CSR matrix of shape
(n_queries, n_index) whose stored entries are Euclidean (or ``metric``) distances to the
nearest neighbours, self excluded, in scikit-learn's ``KNeighborsTransformer(mode="distance")``
format. Explicit zeros are meaningful there (duplicate points) and are never dropped.

Backends
--------
``"exact"``
    :class:`sklearn.neighbors.NearestNeighbors` (k-d tree, ball tree or brute force, chosen by
    scikit-learn). Any scikit-learn metric; sparse input.
``"approximate"``
    A `faiss <https://github.com/facebookresearch/faiss>`_ HNSW index (``faiss-cpu``), for
    Euclidean or cosine distance on dense input. Chosen by measurement
    (``benchmarks/results/knn_backends.md``): pynndescent pays ~30 s of numba compilation in
    every new process; hnswlib was about 2x faster than faiss but ships no wheels (it compiles
    on install) and has had no release since 2023; faiss-cpu ships wheels and is actively
    released. Recall against exact search is asserted in the tests.
``"auto"``
    Exact search when it is cheap (fewer than 50,000 points, or at most 10 dimensions where a
    k-d tree is fast), otherwise approximate when faiss is installed.
``"precomputed"``
    Handled by :func:`graph_from_precomputed`: a square dense distance matrix, or a sparse
    distance graph as produced by ``KNeighborsTransformer``.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from .exceptions import InputError
from .knn_recall import distance_recall, exact_kth_distances, query_recall, sample_recall

__all__ = [
    "ExactIndex",
    "FaissHNSWIndex",
    "KNNMethod",
    "NeighborIndex",
    "build_index",
    "count_duplicates",
    "graph_components",
    "graph_from_arrays",
    "graph_from_precomputed",
    "knn_graph",
    "precomputed_rows_to_graph",
    "query_recall",
    "resolve_knn_method",
    "sample_recall",
]

KNNMethod = Literal["auto", "exact", "approximate"]

#: Below this many points ``"auto"`` always searches exactly.
AUTO_EXACT_MAX_SAMPLES = 50_000
#: At or below this many dimensions ``"auto"`` searches exactly (k-d trees are fast there).
AUTO_EXACT_MAX_DIMENSIONS = 10


class NeighborIndex(Protocol):
    """What a kNN backend provides: the graph of its own points and queries for new ones."""

    def self_neighbors(self, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(distances, indices)`` of each indexed point's neighbours, self excluded."""
        ...

    def query(self, Y: Any, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(distances, indices)`` of the indexed points nearest to each row of ``Y``."""
        ...


@dataclass
class ExactIndex:
    """Exact search with scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors`."""

    X: Any
    metric: str = "euclidean"
    n_jobs: int | None = None
    _nn: NearestNeighbors = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._nn = NearestNeighbors(metric=self.metric, n_jobs=self.n_jobs).fit(self.X)

    def _threads(self) -> Any:
        # With n_jobs > 1 scikit-learn runs one search per joblib thread; letting BLAS/OpenMP
        # start their own threads inside each oversubscribes the cores (digits, 2 jobs:
        # 0.27 s with nested thread pools, 0.035 s with one native thread per job).
        parallel = self.n_jobs is not None and self.n_jobs != 1
        return threadpool_limits(limits=1) if parallel else nullcontext()

    def self_neighbors(self, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
        # kneighbors() without X excludes each point itself by index, so duplicates are kept.
        with self._threads():
            return self._nn.kneighbors(n_neighbors=n_neighbors)

    def query(self, Y: Any, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
        with self._threads():
            return self._nn.kneighbors(Y, n_neighbors=n_neighbors)


@dataclass
class FaissHNSWIndex:
    """Approximate search with a faiss HNSW graph (``IndexHNSWFlat``).

    Parameters
    ----------
    X
        Dense data, shape (n_samples, n_features).
    metric
        ``"euclidean"`` or ``"cosine"`` (rows are L2-normalised, distances are
        ``sqrt(2 - 2 cos)`` converted back to ``1 - cos``).
    M, ef_construction, ef_search
        HNSW graph degree and beam widths. The defaults are the fastest setting measured in
        ``benchmarks/knn_backends.py`` that keeps recall@15 >= 0.95 on every set, including a
        hard 20-D-latent-in-100-D stress set (0.984; 0.998 on a 100k x 50 Gaussian mixture,
        1.000 on a 200k swiss roll); cheaper settings fell to 0.90 there. Raise ``ef_search``
        for higher recall.
    """

    X: np.ndarray
    metric: str = "euclidean"
    M: int = 16
    ef_construction: int = 80
    ef_search: int = 64
    n_threads: int | None = None
    _index: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        faiss = _import_faiss()
        if self.n_threads:
            faiss.omp_set_num_threads(int(self.n_threads))
        data = self._prepare(self.X)
        self._index = faiss.IndexHNSWFlat(data.shape[1], self.M)
        self._index.hnsw.efConstruction = self.ef_construction
        self._index.add(data)
        self._data = data
        self.n_retried_ = 0
        self.n_repaired_ = 0
        self.ef_search_used_ = self.ef_search

    def _prepare(self, Y: np.ndarray) -> np.ndarray:
        data = np.ascontiguousarray(Y, dtype=np.float32)
        if self.metric == "cosine":
            norms = np.linalg.norm(data, axis=1, keepdims=True)
            data = data / np.where(norms == 0, 1.0, norms)
        return data

    def _search(
        self, data: np.ndarray, n_neighbors: int, ef_search: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self._index.hnsw.efSearch = max(ef_search or self.ef_search, n_neighbors + 1)
        sq, ind = self._index.search(data, n_neighbors)
        sq = np.maximum(sq.astype(np.float64), 0.0)
        dist = sq / 2.0 if self.metric == "cosine" else np.sqrt(sq)
        return dist, ind.astype(np.int64)

    def self_neighbors(self, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours of every indexed point, with the rows HNSW got wrong searched again.

        On large data a few greedy HNSW searches end in the wrong place: measured on the 50-D
        scale benchmark, 12 of 300,000 points got 15 neighbours about 6.3 away, on the next
        sheet of the roll, where their true neighbours are 0.43 away (44 rows in all, some in
        pairs that list each other), and 208 rows (346 of 1M) did not find their own point. A
        recall measured on a sample does not see them, yet each such row is a near-isolated
        point in the kernel, with an eigenvalue ≈ 1 that takes a diffusion coordinate. Two
        signs catch them: the row misses its own point, or its median neighbour distance is
        more than :data:`TRAPPED_RATIO` times the median k-th neighbour distance of the points
        it lists (about 12 for the trapped rows, at most 1.11 for 99 % of the others; the
        median, not the nearest, so that a trapped pair listing each other is caught). Those
        rows are searched again with a beam :data:`RETRY_EF_FACTOR` times wider, and the ones
        still suspect by exact brute force (genuine outliers stay suspect and are confirmed
        this way). ``n_retried_`` and ``n_repaired_`` count the two rounds.
        """
        k1 = n_neighbors + 1
        rows = np.arange(len(self._data))
        ef = self._calibrated_ef_search(k1)
        dist, ind, missed = _drop_self(*self._search(self._data, k1, ef_search=ef), rows)
        suspect = _suspect_rows(dist, ind, rows, missed)
        self.n_retried_ = int(suspect.size)
        if suspect.size:
            wide = max(self.ef_search, k1) * RETRY_EF_FACTOR
            found = self._search(self._data[suspect], k1, ef_search=wide)
            dist[suspect], ind[suspect], missed = _drop_self(*found, suspect)
            suspect = _suspect_rows(dist, ind, suspect, missed)
        if suspect.size > MAX_EXACT_REPAIRS:
            warnings.warn(
                f"{suspect.size} rows of the approximate neighbour search look wrong after a "
                f"wider search; the first {MAX_EXACT_REPAIRS} are searched exactly. Pass "
                "knn='exact' for exact neighbours everywhere.",
                UserWarning,
                stacklevel=3,
            )
            suspect = suspect[:MAX_EXACT_REPAIRS]
        if suspect.size:
            exact = NearestNeighbors(n_neighbors=k1, algorithm="brute", metric=self.metric)
            found = exact.fit(self._data).kneighbors(self._data[suspect])
            dist[suspect], ind[suspect], _ = _drop_self(*found, suspect)
        self.n_repaired_ = int(suspect.size)
        return dist, ind

    def _calibrated_ef_search(self, k1: int) -> int:
        """The narrowest beam of :data:`SELF_EF_SEARCH` whose sampled recall is high enough.

        The recall of :data:`CALIBRATION_QUERIES` random rows against brute force is measured
        for each beam in turn; the first that reaches :data:`CALIBRATION_RECALL` is used (at
        most ``ef_search`` unless that is below the last candidate). Measured on 1M scale rows:
        recall 0.998 at 32 and 0.999 at 64, with the search 0.52x as long. Data where the
        narrow beam misses the bar keep ``ef_search``. ``ef_search_used_`` records the choice.
        """
        n = len(self._data)
        if n <= CALIBRATION_QUERIES * 5:
            self.ef_search_used_ = self.ef_search
            return self.ef_search
        rng = np.random.default_rng(0)
        rows = np.sort(rng.choice(n, size=CALIBRATION_QUERIES, replace=False))
        kth = exact_kth_distances(self._data, rows, k1 - 1, self.metric)
        candidates = [ef for ef in SELF_EF_SEARCH if ef < self.ef_search] + [self.ef_search]
        for ef in candidates:
            found = _drop_self(*self._search(self._data[rows], k1, ef_search=ef), rows)[0]
            if distance_recall(found, kth) >= CALIBRATION_RECALL:
                break
        self.ef_search_used_ = ef
        return ef

    def query(self, Y: Any, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
        return self._search(self._prepare(np.asarray(Y)), n_neighbors)


#: Beam widths tried, narrowest first, for the search of every indexed point (see
#: :meth:`FaissHNSWIndex._calibrated_ef_search`); ``ef_search`` is the widest.
SELF_EF_SEARCH = (32,)
#: Sampled recall the narrower beam must reach to be used.
CALIBRATION_RECALL = 0.98
#: Rows whose recall calibrates the beam.
CALIBRATION_QUERIES = 200
#: How much wider the HNSW beam is when a suspect row is searched again.
RETRY_EF_FACTOR = 8
#: A row is suspect when its median neighbour distance exceeds this many times the median k-th
#: neighbour distance of the points it lists.
TRAPPED_RATIO = 2.0
#: At most this many rows are searched again by brute force (each costs one pass over the data).
MAX_EXACT_REPAIRS = 5_000


def _suspect_rows(
    dist: np.ndarray, ind: np.ndarray, rows: np.ndarray, missed: np.ndarray
) -> np.ndarray:
    """Rows (of ``rows``) whose search missed their own point or ended far from its neighbours.

    ``dist`` / ``ind`` are the self-excluded (n, k) results of all rows, sorted by distance;
    ``missed`` flags the rows of ``rows`` that did not find their own point.
    """
    kth = dist[:, -1]
    neighbour_scale = np.median(kth[ind[rows]], axis=1)
    trapped = np.median(dist[rows], axis=1) > TRAPPED_RATIO * neighbour_scale
    return rows[missed | trapped]


def _drop_self(
    dist: np.ndarray, ind: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove each row's own index from a (len(rows), k + 1) result, or its last entry if absent.

    Returns the (len(rows), k) distances and indices and a mask of the rows whose search found
    neither their own point nor a duplicate of it (at distance 0).
    """
    m, k1 = ind.shape
    is_self = ind == rows[:, None]
    # Rows where the search missed the point itself drop their farthest neighbour instead.
    absent = ~is_self.any(axis=1)
    is_self[absent, k1 - 1] = True
    # Keep the first hit only when a row lists itself twice (cannot happen, but stay exact).
    first = np.cumsum(is_self, axis=1) == 1
    keep = ~(is_self & first)
    missed = absent & (dist[:, 0] > 0)
    return dist[keep].reshape(m, k1 - 1), ind[keep].reshape(m, k1 - 1), missed


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = (
            "Approximate neighbour search needs faiss: pip install 'diffembed[ann]' "
            "(or faiss-cpu). Pass knn='exact' to use scikit-learn instead."
        )
        raise ImportError(msg) from exc
    return faiss


def _faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_knn_method(
    method: str, n_samples: int, n_features: int, metric: str, sparse: bool
) -> str:
    """Turn ``"auto"`` into ``"exact"`` or ``"approximate"`` for this data; validate the rest."""
    if method not in ("auto", "exact", "approximate"):
        msg = f"knn={method!r} is not supported; choose 'auto', 'exact' or 'approximate'."
        raise InputError(msg)
    ann_ok = metric in ("euclidean", "cosine") and not sparse
    if method == "approximate":
        if not ann_ok:
            msg = (
                f"knn='approximate' supports dense input with metric 'euclidean' or 'cosine' "
                f"(got metric={metric!r}, sparse={sparse}). Use knn='exact'."
            )
            raise InputError(msg)
        return "approximate"
    if method == "exact":
        return "exact"
    cheap = n_samples < AUTO_EXACT_MAX_SAMPLES or n_features <= AUTO_EXACT_MAX_DIMENSIONS
    if cheap or not ann_ok or not _faiss_available():
        return "exact"
    return "approximate"


def build_index(
    X: Any,
    *,
    method: str = "exact",
    metric: str = "euclidean",
    n_jobs: int | None = None,
) -> NeighborIndex:
    """Build the search structure for ``X`` with a resolved ``method``."""
    if method == "approximate":
        return FaissHNSWIndex(np.asarray(X), metric=metric, n_threads=n_jobs)
    return ExactIndex(X, metric=metric, n_jobs=n_jobs)


def graph_from_arrays(
    distances: np.ndarray, indices: np.ndarray, n_index: int | None = None
) -> sp.csr_matrix:
    """Pack ``(distances, indices)`` of shape (n, k) into a CSR distance graph.

    Explicit zero distances (duplicates) are stored, not dropped.
    """
    n, k = indices.shape
    n_cols = n if n_index is None else n_index
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    graph = sp.csr_matrix(
        (distances.ravel().astype(np.float64), indices.ravel().astype(np.int64), indptr),
        shape=(n, n_cols),
    )
    graph.has_sorted_indices = False
    return graph


def knn_graph(
    X: Any,
    n_neighbors: int,
    *,
    method: str = "auto",
    metric: str = "euclidean",
    n_jobs: int | None = None,
) -> tuple[sp.csr_matrix, NeighborIndex]:
    """Return the kNN distance graph of ``X`` (self excluded) and the index that built it.

    Parameters
    ----------
    X
        Data, shape (n_samples, n_features); sparse input is searched exactly.
    n_neighbors
        Neighbours per point, not counting the point itself; must be < n_samples.
    method
        ``"auto"``, ``"exact"`` or ``"approximate"`` (see the module docstring).
    metric
        Distance; approximate search supports ``"euclidean"`` and ``"cosine"``.
    n_jobs
        Threads for the search.

    Returns
    -------
    graph : scipy.sparse.csr_matrix, shape (n_samples, n_samples)
        Distances to the ``n_neighbors`` nearest other points of every row.
    index : NeighborIndex
        The search structure, reusable for out-of-sample queries.
    """
    n, d = X.shape
    resolved = resolve_knn_method(method, n, d, metric, sp.issparse(X))
    index = build_index(X, method=resolved, metric=metric, n_jobs=n_jobs)
    dist, ind = index.self_neighbors(n_neighbors)
    return graph_from_arrays(dist, ind), index


def graph_from_precomputed(D: Any, n_neighbors: int | None) -> sp.csr_matrix:
    """Turn a precomputed distance matrix or sparse distance graph into our graph format.

    Parameters
    ----------
    D
        Either a dense square matrix of pairwise distances (the ``n_neighbors`` smallest
        off-diagonal entries of each row are kept), or a sparse (n, n) graph whose stored
        entries are distances, e.g. from ``KNeighborsTransformer(mode="distance")``. Stored
        diagonal entries are ignored; every other stored entry, explicit zeros included, is
        an edge.
    n_neighbors
        For dense input, neighbours kept per row; ignored for sparse input.
    """
    if sp.issparse(D):
        graph = sp.csr_matrix(D, dtype=np.float64, copy=True)
        if graph.shape[0] != graph.shape[1]:
            msg = (
                f"A precomputed sparse graph must be square (n_samples, n_samples), got shape "
                f"{graph.shape}."
            )
            raise InputError(msg)
        _check_distances(graph.data, "precomputed graph")
        coo = graph.tocoo()
        off = coo.row != coo.col
        graph = sp.csr_matrix((coo.data[off], (coo.row[off], coo.col[off])), shape=graph.shape)
        if np.any(np.diff(graph.indptr) == 0):
            empty = np.flatnonzero(np.diff(graph.indptr) == 0)
            msg = (
                f"The precomputed graph has {empty.size} row(s) with no neighbour other than "
                f"itself (first: row {empty[0]}). Build it with more neighbours."
            )
            raise InputError(msg)
        return graph
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        msg = f"metric='precomputed' needs a square distance matrix, got shape {D.shape}."
        raise InputError(msg)
    _check_distances(D, "precomputed distance matrix")
    n = D.shape[0]
    k = n - 1 if n_neighbors is None else min(n_neighbors, n - 1)
    work = D.copy()
    np.fill_diagonal(work, np.inf)
    ind = np.argpartition(work, k - 1, axis=1)[:, :k]
    dist = np.take_along_axis(work, ind, axis=1)
    order = np.argsort(dist, axis=1, kind="stable")
    return graph_from_arrays(
        np.take_along_axis(dist, order, axis=1), np.take_along_axis(ind, order, axis=1)
    )


def precomputed_rows_to_graph(D: Any, n_neighbors: int, n_index: int) -> sp.csr_matrix:
    """Distances from new points to the fitted points (dense or sparse) → distance graph."""
    if sp.issparse(D):
        graph = sp.csr_matrix(D, dtype=np.float64)
        if graph.shape[1] != n_index:
            msg = (
                f"Precomputed distances to the training points must have {n_index} columns, "
                f"got {graph.shape[1]}."
            )
            raise InputError(msg)
        _check_distances(graph.data, "precomputed distances")
        return graph
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[1] != n_index:
        msg = (
            f"Precomputed distances to the training points must have shape (n_new, {n_index}), "
            f"got {D.shape}."
        )
        raise InputError(msg)
    _check_distances(D, "precomputed distances")
    k = min(n_neighbors, n_index)
    ind = np.argpartition(D, k - 1, axis=1)[:, :k]
    dist = np.take_along_axis(D, ind, axis=1)
    return graph_from_arrays(dist, ind, n_index=n_index)


def _check_distances(values: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(values)):
        msg = f"The {what} contains NaN or infinite distances; every distance must be finite."
        raise InputError(msg)
    if np.any(values < 0):
        msg = f"The {what} contains negative distances; distances must be >= 0."
        raise InputError(msg)


def count_duplicates(distances: sp.csr_matrix) -> int:
    """Number of points with a zero-distance neighbour other than themselves."""
    coo = distances.tocoo()
    zero = coo.data == 0
    if not zero.any():
        return 0
    return int(np.unique(np.concatenate([coo.row[zero], coo.col[zero]])).size)


def graph_components(graph: sp.csr_matrix) -> tuple[int, np.ndarray]:
    """Weakly connected components of a graph's stored entries, 0 being the largest.

    Explicit zeros (duplicate points) count as edges.
    """
    structure = graph.copy()
    structure.data = np.ones_like(structure.data)  # explicit zeros (duplicates) are edges
    n_comp, labels = connected_components(structure, directed=True, connection="weak")
    if n_comp == 1:
        return 1, np.zeros(graph.shape[0], dtype=np.int64)
    sizes = np.bincount(labels)
    rank = np.empty(n_comp, dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(n_comp)
    return n_comp, rank[labels]
