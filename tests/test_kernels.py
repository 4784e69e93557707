from __future__ import annotations

import numpy as np
import pytest

from diffembed.exceptions import InputError
from diffembed.kernels import (
    adaptive_gaussian_kernel,
    estimate_bandwidth,
    gaussian_kernel,
    kth_neighbor_distances,
)
from diffembed.neighbors import knn_graph
from tests import reference


@pytest.mark.parametrize("epsilon", [0.05, 0.5, 5.0])
def test_gaussian_kernel_matches_dense_reference(small_cloud, epsilon):
    graph, _ = knn_graph(small_cloud, 6, method="exact")
    K = gaussian_kernel(graph, epsilon).toarray()
    expected = reference.knn_gaussian_kernel(small_cloud, 6, epsilon)
    np.testing.assert_allclose(K, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_array_equal(np.diag(K), 1.0)


def test_adaptive_kernel_matches_dense_reference(small_cloud):
    graph, _ = knn_graph(small_cloud, 6, method="exact")
    scales = kth_neighbor_distances(graph, 6)
    K = adaptive_gaussian_kernel(graph, scales).toarray()
    np.testing.assert_allclose(K, reference.knn_adaptive_kernel(small_cloud, 6), rtol=1e-12)


def test_kth_neighbor_distance_floor_for_duplicates(small_cloud):
    X = np.vstack([small_cloud, np.repeat(small_cloud[:1], 4, axis=0)])
    graph, _ = knn_graph(X, 3, method="exact")
    scales = kth_neighbor_distances(graph, 3)
    assert np.all(scales > 0)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan])
def test_bad_bandwidth(small_cloud, bad):
    graph, _ = knn_graph(small_cloud, 6, method="exact")
    with pytest.raises(InputError, match="positive finite"):
        gaussian_kernel(graph, bad)


def test_bandwidth_sweep_matches_brute_force(small_cloud):
    graph, _ = knn_graph(small_cloud, 8, method="exact")
    est = estimate_bandwidth(graph)
    d2 = graph.data**2
    sums = np.array([60 + np.exp(-d2 / e).sum() for e in est.epsilons])
    slopes = np.gradient(np.log(sums), np.log(est.epsilons))
    np.testing.assert_allclose(est.slopes, slopes, rtol=1e-10)
    assert est.epsilon == est.epsilons[np.argmax(slopes)]


def test_bandwidth_scales_with_data():
    """Scaling the data by c scales the chosen epsilon by c^2 (it is a squared length)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(800, 2))
    g1, _ = knn_graph(X, 15, method="exact")
    g2, _ = knn_graph(10 * X, 15, method="exact")
    e1, e2 = estimate_bandwidth(g1).epsilon, estimate_bandwidth(g2).epsilon
    np.testing.assert_allclose(e2 / e1, 100.0, rtol=1e-6)
