from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.neighbors import KNeighborsTransformer

from diffembed.exceptions import InputError
from diffembed.neighbors import (
    graph_from_precomputed,
    knn_graph,
    resolve_knn_method,
)
from tests import reference


def _as_sets(graph: sp.csr_matrix) -> list[set[int]]:
    return [
        set(graph.indices[graph.indptr[i] : graph.indptr[i + 1]]) for i in range(graph.shape[0])
    ]


def test_exact_graph_matches_dense_reference(small_cloud):
    graph, _ = knn_graph(small_cloud, 7, method="exact")
    D = reference.pairwise_distances(small_cloud)
    mask = reference.knn_mask(D, 7)
    assert graph.shape == (60, 60)
    assert all(np.diff(graph.indptr) == 7)
    for i, nbrs in enumerate(_as_sets(graph)):
        assert nbrs == set(np.flatnonzero(mask[i]))
    dense = graph.toarray()
    np.testing.assert_allclose(dense[mask], D[mask], rtol=1e-12)


def test_duplicates_keep_explicit_zero_distances(small_cloud):
    X = np.vstack([small_cloud, small_cloud[:3]])
    graph, _ = knn_graph(X, 5, method="exact")
    assert graph.nnz == 63 * 5
    assert np.sum(graph.data == 0) == 6  # each duplicate pair, both directions
    assert not any(graph[i, i] for i in range(63))


def test_approximate_recall_against_exact(rng):
    X = rng.normal(size=(3000, 20))
    exact, _ = knn_graph(X, 10, method="exact")
    approx, _ = knn_graph(X, 10, method="approximate")
    recall = np.mean(
        [len(a & b) / 10 for a, b in zip(_as_sets(exact), _as_sets(approx), strict=True)]
    )
    assert recall >= 0.95
    # no point is listed as its own neighbour
    assert all(i not in s for i, s in enumerate(_as_sets(approx)))


@pytest.mark.parametrize("case", ["missed", "trapped", "missed_again"])
def test_rows_hnsw_gets_wrong_are_searched_again(rng, monkeypatch, case):
    """A row whose search misses its own point or ends far away (HNSW trapped) is repaired."""
    from diffembed.neighbors import FaissHNSWIndex

    X = np.r_[rng.normal(size=(1000, 12)), rng.normal(size=(1000, 12)) + 30.0]  # two clouds
    exact, _ = knn_graph(X, 8, method="exact")
    real_search = FaissHNSWIndex._search
    far = np.argsort(np.linalg.norm(X - X[1500], axis=1))[:9]  # 9 points of the other cloud
    if case == "trapped":  # the search found the point itself, then only far points
        far = np.r_[5, far[:8]]

    def search(self, data, n_neighbors, ef_search=None):
        dist, ind = real_search(self, data, n_neighbors, ef_search)
        first_pass = len(data) == len(X)
        retry = not first_pass and ef_search is not None and ef_search > self.ef_search
        if first_pass or (retry and case == "missed_again"):  # stuck like a wrong HNSW search
            row = 5 if first_pass else 0
            ind[row] = far
            dist[row] = np.linalg.norm(X[far] - X[5], axis=1)
        return dist, ind

    monkeypatch.setattr(FaissHNSWIndex, "_search", search)
    graph, index = knn_graph(X, 8, method="approximate")
    assert index.n_retried_ == 1  # nothing else in this cloud is suspect
    assert index.n_repaired_ == (1 if case == "missed_again" else 0)
    assert _as_sets(graph)[5] == _as_sets(exact)[5]
    np.testing.assert_allclose(np.sort(graph[5].data), np.sort(exact[5].data), rtol=1e-5)


def test_auto_method_choice():
    assert resolve_knn_method("auto", 1000, 50, "euclidean", False) == "exact"
    assert resolve_knn_method("auto", 10**6, 3, "euclidean", False) == "exact"
    assert resolve_knn_method("auto", 10**6, 50, "euclidean", False) == "approximate"
    assert resolve_knn_method("auto", 10**6, 50, "manhattan", False) == "exact"
    with pytest.raises(InputError, match="knn='approximate' supports dense input"):
        resolve_knn_method("approximate", 100, 5, "manhattan", False)
    with pytest.raises(InputError, match="knn='fast' is not supported"):
        resolve_knn_method("fast", 100, 5, "euclidean", False)


def test_precomputed_sparse_sklearn_format_equals_own_graph(small_cloud):
    ours, _ = knn_graph(small_cloud, 6, method="exact")
    theirs = KNeighborsTransformer(n_neighbors=6, mode="distance").fit_transform(small_cloud)
    converted = graph_from_precomputed(theirs, None)
    assert converted.diagonal().sum() == 0
    np.testing.assert_allclose(converted.toarray(), ours.toarray(), rtol=1e-12)


def test_precomputed_dense_matches_exact(small_cloud):
    D = reference.pairwise_distances(small_cloud)
    graph = graph_from_precomputed(D, 6)
    ours, _ = knn_graph(small_cloud, 6, method="exact")
    np.testing.assert_allclose(graph.toarray(), ours.toarray(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.ones((3, 4)), "square distance matrix"),
        (np.array([[0.0, -1.0], [-1.0, 0.0]]), "negative distances"),
        (np.array([[0.0, np.nan], [np.nan, 0.0]]), "NaN or infinite"),
    ],
)
def test_precomputed_bad_input(matrix, message):
    with pytest.raises(InputError, match=message):
        graph_from_precomputed(matrix, 1)


def test_query_recall_is_one_for_exact_neighbours_and_fails_for_far_ones():
    from sklearn.neighbors import NearestNeighbors

    from diffembed.neighbors import query_recall

    rng = np.random.default_rng(0)
    X, Q = rng.standard_normal((500, 8)), rng.standard_normal((50, 8))
    d = NearestNeighbors(n_neighbors=500).fit(X).kneighbors(Q)[0]
    assert query_recall(X, Q, d[:, :10]) == 1.0
    assert query_recall(X, Q, d[:, -10:]) < 0.05  # negative control: the farthest points
    assert 0.0 < query_recall(X, Q, d[:, 5:15]) < 1.0  # half of them beyond the 10th
