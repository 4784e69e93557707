from __future__ import annotations

import numpy as np
import pytest

import diffembed as de
from diffembed.exceptions import InputError
from diffembed.kernels import (
    CONNECTIVITY_LOG_WEIGHT,
    adaptive_gaussian_kernel,
    connectivity_epsilon,
    estimate_bandwidth,
    gaussian_kernel,
    knn_bandwidth,
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
    assert est.sweep_epsilon == est.epsilons[np.argmax(slopes)]
    assert est.epsilon == max(est.sweep_epsilon, est.floor)


def test_bandwidth_scales_with_data():
    """Scaling the data by c scales the chosen epsilon by c^2 (it is a squared length)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(800, 2))
    g1, _ = knn_graph(X, 15, method="exact")
    g2, _ = knn_graph(10 * X, 15, method="exact")
    e1, e2 = estimate_bandwidth(g1).epsilon, estimate_bandwidth(g2).epsilon
    np.testing.assert_allclose(e2 / e1, 100.0, rtol=1e-6)


def test_knn_bandwidth_is_the_median_squared_kth_neighbour_distance():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, 5))
    graph, _ = knn_graph(X, 10, method="exact")
    d = NearestNeighbors(n_neighbors=11).fit(X).kneighbors(X)[0][:, 10]  # column 0 is self
    assert knn_bandwidth(graph, 10) == pytest.approx(np.median(d) ** 2, rel=1e-12)
    assert knn_bandwidth(graph, 3) < knn_bandwidth(graph, 10)


def test_sweep_is_pinned_at_the_noise_floor_onset_on_high_dimensional_noise():
    # When every neighbour distance exceeds a common floor c (concentration of distances in
    # high dimension), log S(eps) is steepest at the onset eps ~ c / 2.4, whatever the data:
    # the 'dimension' comes out ~2.7 (for k = 15) even for 50-D noise. docs/scale.md.
    rng = np.random.default_rng(0)
    noise, _ = knn_graph(rng.standard_normal((3000, 50)), 15, method="exact")
    est = estimate_bandwidth(noise)
    d1_sq = np.median(noise.data.reshape(-1, 15)[:, 0] ** 2)
    assert 0.3 * d1_sq < est.epsilon < 0.8 * d1_sq
    assert 2.4 < est.dimension < 3.0
    assert knn_bandwidth(noise, 15) > d1_sq
    # negative control: on a clean 2-D manifold the sweep sits well above the onset
    from sklearn.datasets import make_swiss_roll

    roll, _ = knn_graph(make_swiss_roll(3000, random_state=0)[0], 15, method="exact")
    roll_d1_sq = np.median(roll.data.reshape(-1, 15)[:, 0] ** 2)
    assert estimate_bandwidth(roll).epsilon > 2.0 * roll_d1_sq


def test_knn_bandwidth_rejects_all_duplicate_points():
    graph, _ = knn_graph(np.zeros((20, 3)), 5, method="exact")
    with pytest.raises(InputError, match="duplicates"):
        knn_bandwidth(graph, 5)


def test_diffusion_map_knn_bandwidth_matches_dense_reference(small_cloud):
    import diffembed as de

    dm = de.DiffusionMap(4, n_neighbors=6, bandwidth="knn", knn="exact", random_state=0)
    dm.fit(small_cloud)
    graph, _ = knn_graph(small_cloud, 6, method="exact")
    eps = knn_bandwidth(graph, 6)
    assert dm.bandwidth_ == pytest.approx(eps, rel=1e-12)
    adaptive = de.DiffusionMap(4, n_neighbors=6, bandwidth="adaptive", random_state=0)
    assert dm.bandwidth_ == pytest.approx(adaptive.fit(small_cloud).bandwidth_, rel=1e-12)
    K = reference.knn_gaussian_kernel(small_cloud, 6, eps)
    vals, _ = reference.right_eigenpairs(reference.markov_from_kernel(K, 1.0), 4)
    np.testing.assert_allclose(dm.eigenvalues_, vals[1:], rtol=1e-8)
    with pytest.raises(InputError, match="'knn'"):
        de.DiffusionMap(bandwidth="median").fit(small_cloud)


def test_sweep_never_returns_an_epsilon_that_splits_the_knn_kernel():
    """2,000 draws of a 3-D normal: the steepest slope sits at ε ≈ 0.043, where the tail points
    hang on by weights below 1e-24 (eigenvalue 1 to machine precision); the connectivity floor
    keeps every spanning-tree edge at weight >= exp(-12)."""
    from scipy.sparse.csgraph import minimum_spanning_tree

    X = np.random.default_rng(0).normal(size=(2000, 3))
    graph, _ = knn_graph(X, 15, method="exact")

    def weakest_bridge(epsilon: float) -> float:
        # the smallest weight on the maximum spanning tree of the kernel: its bottleneck
        K = gaussian_kernel(graph, epsilon)
        return float(-minimum_spanning_tree(-K).data.max())

    raw = estimate_bandwidth(graph, connectivity_floor=False)
    assert raw.epsilon == raw.sweep_epsilon
    assert weakest_bridge(raw.epsilon) < 1e-20  # what the sweep alone returns
    est = estimate_bandwidth(graph)
    assert est.sweep_epsilon == raw.epsilon
    assert est.epsilon == est.floor == connectivity_epsilon(graph) > 4 * raw.epsilon
    assert weakest_bridge(est.epsilon) >= np.exp(-CONNECTIVITY_LOG_WEIGHT) * (1 - 1e-12)
    dm = de.DiffusionMap(5, bandwidth="bgh", random_state=0).fit(X)
    assert dm.bandwidth_ == est.epsilon
    assert dm.eigenvalues_[0] < 1 - 1e-6


def test_adaptive_kernel_is_scale_free():
    X = np.random.default_rng(1).normal(size=(200, 3))
    graph, _ = knn_graph(X, 8, method="exact")
    scales = kth_neighbor_distances(graph, 8)
    K = adaptive_gaussian_kernel(graph, scales).toarray()
    for c in (1e-300, 1e150):
        tiny = graph * c
        K_c = adaptive_gaussian_kernel(tiny, kth_neighbor_distances(tiny, 8)).toarray()
        np.testing.assert_allclose(K_c, K, rtol=1e-12, atol=1e-300)


def test_global_bandwidth_refuses_distances_whose_squares_underflow():
    X = np.random.default_rng(1).normal(size=(200, 3))
    graph, _ = knn_graph(X, 8, method="exact")
    with pytest.raises(InputError, match=r"typical neighbour distance is 5\.99e-301: its square"):
        estimate_bandwidth(graph * 1e-300)
    with pytest.raises(InputError, match="bandwidth='adaptive', which is scale-free"):
        knn_bandwidth(graph * 1e-300, 8)
