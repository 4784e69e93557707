"""PCA: the Eckart–Young reconstruction identity, agreement with a numpy SVD, options, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from diffembed.embed import pca
from diffembed.exceptions import InputError


@pytest.fixture(scope="module")
def low_rank():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 6)) @ rng.standard_normal((6, 25)) * 3
    return X + 0.1 * rng.standard_normal(X.shape) + 5.0


def test_reconstruction_error_is_the_tail_of_the_spectrum(low_rank):
    """‖X̃ − X̃_k‖²_F = Σ_{i>k} σ_i², with σ from an independent numpy SVD, for every k."""
    res = pca(low_rank, 12, method="full")
    Xc = low_rank - low_rank.mean(axis=0)
    sigma = np.linalg.svd(Xc, compute_uv=False)
    for k in range(13):
        Xk = res.vectors[:, :k] @ res.components[:k]
        direct = np.sum((Xc - Xk) ** 2)
        tail = np.sum(sigma[k:] ** 2)
        assert direct == pytest.approx(tail, rel=1e-9, abs=1e-9)
        assert res.reconstruction_error[k] == pytest.approx(tail, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(res.singular_values, sigma, rtol=1e-10)
    np.testing.assert_allclose(res.explained_variance, sigma[:12] ** 2 / 149, rtol=1e-10)
    assert res.total_variance == pytest.approx(np.sum(sigma**2) / 149)


def test_truncated_matches_full_on_the_top_components(low_rank):
    full = pca(low_rank, 6, method="full")
    trunc = pca(low_rank, 6, method="truncated", random_state=0)
    np.testing.assert_allclose(trunc.singular_values, full.singular_values[:6], rtol=1e-6)
    np.testing.assert_allclose(trunc.vectors, full.vectors, atol=1e-6 * np.abs(full.vectors).max())
    np.testing.assert_allclose(trunc.reconstruction_error, full.reconstruction_error, rtol=1e-6)


def test_deterministic_signs_and_transform(low_rank):
    a = pca(low_rank, 4)
    b = pca(low_rank.copy(), 4)
    np.testing.assert_array_equal(a.components, b.components)
    idx = np.abs(a.components).argmax(axis=1)
    assert (a.components[np.arange(4), idx] > 0).all()
    np.testing.assert_allclose(a.transform(low_rank), a.vectors, atol=1e-9)
    rank_full = pca(low_rank, 25, method="full")
    np.testing.assert_allclose(rank_full.inverse_transform(rank_full.vectors), low_rank, atol=1e-8)


def test_scale_is_pca_of_standardised_columns(low_rank):
    res = pca(low_rank, 3, scale=True)
    Z = (low_rank - low_rank.mean(axis=0)) / low_rank.std(axis=0, ddof=1)
    sigma = np.linalg.svd(Z, compute_uv=False)
    np.testing.assert_allclose(res.singular_values[:3], sigma[:3], rtol=1e-9)
    assert res.explained_variance_ratio.sum() == pytest.approx(
        np.sum(sigma[:3] ** 2) / np.sum(sigma**2)
    )


def test_sparse_input_centred_and_uncentred(low_rank):
    dense = pca(low_rank, 4)
    sparse = pca(sp.csr_matrix(low_rank), 4)
    np.testing.assert_allclose(sparse.singular_values[:4], dense.singular_values[:4], rtol=1e-6)
    np.testing.assert_allclose(sparse.reconstruction_error, dense.reconstruction_error, rtol=1e-6)
    raw = pca(sp.csr_matrix(low_rank), 4, center=False)
    sigma = np.linalg.svd(low_rank, compute_uv=False)
    np.testing.assert_allclose(raw.singular_values, sigma[:4], rtol=1e-6)
    assert raw.reconstruction_error[0] == pytest.approx(np.sum(low_rank**2))


def test_spectrum_is_plot_ready(low_rank):
    spec = pca(low_rank, 5).spectrum()
    assert spec["component"] == [1, 2, 3, 4, 5]
    assert spec["k"] == [0, 1, 2, 3, 4, 5]
    assert len(spec["reconstruction_error"]) == 6
    assert spec["relative_reconstruction_error"][0] == 1.0
    assert np.all(np.diff(spec["reconstruction_error"]) <= 0)
    assert spec["cumulative_explained_variance_ratio"][-1] <= 1.0


def test_errors_name_the_value_and_the_fix(low_rank):
    with pytest.raises(InputError, match=r"n_components=30 is out of range.*25 columns"):
        pca(low_rank, 30)
    with pytest.raises(InputError, match="truncated solver needs fewer components"):
        pca(low_rank, 25, method="truncated")
    bad = low_rank.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        pca(bad, 2)
    with pytest.raises(InputError, match="center=True"):
        pca(low_rank, 2, center=False, scale=True)
    with pytest.raises(InputError, match="method="):
        pca(low_rank, 2, method="svd")  # type: ignore[arg-type]
