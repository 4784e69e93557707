from __future__ import annotations

import numpy as np
import pytest

from diffembed.dimension import mle_dimension
from diffembed.neighbors import knn_graph


@pytest.mark.parametrize("d", [1, 2, 5])
def test_mle_recovers_dimension_of_embedded_cube(d):
    rng = np.random.default_rng(d)
    Z = rng.uniform(size=(4000, d))
    Q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    X = np.c_[Z, np.zeros((4000, 12 - d))] @ Q  # a d-cube rotated into 12-D
    graph, _ = knn_graph(X, 15, method="exact")
    assert mle_dimension(graph) == pytest.approx(d, rel=0.12)


def test_mle_matches_brute_force_formula():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    graph, _ = knn_graph(X, 10, method="exact")
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    T = np.sort(D, axis=1)[:, :10]
    expected = 1 / np.mean(np.log(T[:, -1:] / T[:, :-1]).mean(axis=1))
    assert mle_dimension(graph) == pytest.approx(expected, rel=1e-12)


def test_mle_needs_three_neighbours():
    X = np.random.default_rng(0).normal(size=(50, 3))
    graph, _ = knn_graph(X, 2, method="exact")
    assert np.isnan(mle_dimension(graph))
