from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from diffembed.operators import (
    alpha_normalize,
    diffusion_operator,
    markov_matrix,
    stationary_distribution,
    symmetric_conjugate,
)
from tests import reference


@pytest.fixture
def kernel(small_cloud):
    return reference.knn_gaussian_kernel(small_cloud, 6, 0.5)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix])
def test_markov_matrix_matches_reference(kernel, alpha, container):
    K_alpha, q = alpha_normalize(container(kernel), alpha)
    P = markov_matrix(K_alpha)
    P = P.toarray() if sp.issparse(P) else P
    np.testing.assert_allclose(P, reference.markov_from_kernel(kernel, alpha), rtol=1e-12)
    np.testing.assert_allclose(q, kernel.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_stationary_distribution(kernel, alpha):
    K_alpha, _ = alpha_normalize(sp.csr_matrix(kernel), alpha)
    pi = stationary_distribution(K_alpha)
    P = reference.markov_from_kernel(kernel, alpha)
    np.testing.assert_allclose(pi, reference.stationary_by_eig(P), rtol=1e-9)
    np.testing.assert_allclose(pi @ P, pi, rtol=1e-12)
    assert pi.sum() == pytest.approx(1.0)


def test_symmetric_conjugate_has_markov_spectrum(kernel):
    K_alpha, _ = alpha_normalize(kernel, 1.0)
    S, d = symmetric_conjugate(K_alpha)
    np.testing.assert_array_equal(S, S.T)
    P = reference.markov_from_kernel(kernel, 1.0)
    np.testing.assert_allclose(
        np.sort(np.linalg.eigvalsh(S)), np.sort(np.real(np.linalg.eigvals(P))), atol=1e-10
    )
    # S = D^1/2 P D^-1/2
    np.testing.assert_allclose(S, np.sqrt(d)[:, None] * P / np.sqrt(d)[None, :], atol=1e-14)


def test_alpha_one_removes_sampling_density():
    """Circle sampled non-uniformly: alpha=1 gives pi proportional to arc length per sample
    (pi * q flat), alpha=0 gives pi proportional to the kernel density q."""
    rng = np.random.default_rng(0)
    theta = np.sort(np.mod(rng.normal(0, 1.5, 1500), 2 * np.pi))
    X = np.c_[np.cos(theta), np.sin(theta)]
    K = reference.knn_gaussian_kernel(X, 150, 0.004)
    q = K.sum(axis=1)

    def spread(v):
        return v.std() / v.mean()

    pi0 = diffusion_operator(sp.csr_matrix(K), 0.0).stationary
    pi1 = diffusion_operator(sp.csr_matrix(K), 1.0).stationary
    assert spread(pi0 / q) < 1e-12  # alpha = 0: pi is the kernel density itself
    assert spread(q) > 0.3  # the sampling really is non-uniform
    assert spread(pi1 * q) < 0.1 * spread(pi0 * q)  # alpha = 1: uniform in arc length
