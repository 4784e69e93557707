from __future__ import annotations

import numpy as np
import pytest

from diffembed.neighbors import graph_from_arrays
from diffembed.nystrom import nystrom_weights


@pytest.fixture
def problem(rng):
    n_new, n_fit, k = 4, 30, 6
    dist = np.sort(rng.uniform(0.1, 2.0, (n_new, k)), axis=1)
    ind = np.stack([rng.choice(n_fit, k, replace=False) for _ in range(n_new)])
    density = rng.uniform(1.0, 5.0, n_fit)
    return graph_from_arrays(dist, ind, n_index=n_fit), dist, ind, density


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_fixed_bandwidth_weights_match_formula(problem, alpha):
    graph, dist, ind, density = problem
    W = nystrom_weights(graph, bandwidth=0.7, alpha=alpha, density=density).toarray()
    expected = np.zeros_like(W)
    for i in range(dist.shape[0]):
        w = np.exp(-(dist[i] ** 2) / 0.7) / density[ind[i]] ** alpha
        expected[i, ind[i]] = w / w.sum()
    np.testing.assert_allclose(W, expected, rtol=1e-12)


def test_adaptive_weights_match_formula(problem):
    graph, dist, ind, density = problem
    scales = np.linspace(0.5, 1.5, 30)
    W = nystrom_weights(
        graph, bandwidth=1.0, alpha=1.0, density=density, local_scales=scales, n_neighbors=3
    ).toarray()
    for i in range(dist.shape[0]):
        sigma_x = dist[i, 2]  # distance to the 3rd nearest fitted point
        w = np.exp(-(dist[i] ** 2) / (sigma_x * scales[ind[i]])) / density[ind[i]]
        np.testing.assert_allclose(W[i, ind[i]], w / w.sum(), rtol=1e-12)


def test_far_points_do_not_underflow(problem):
    graph, _, _, density = problem
    far = graph.copy()
    far.data = far.data + 1e4
    W = nystrom_weights(far, bandwidth=0.01, alpha=1.0, density=density)
    np.testing.assert_allclose(np.asarray(W.sum(axis=1)).ravel(), 1.0)
    assert np.isfinite(W.data).all()
