from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from diffembed.exceptions import InputError
from diffembed.kernels import gaussian_kernel
from diffembed.neighbors import knn_graph
from diffembed.operators import diffusion_operator
from diffembed.spectral import fix_signs, top_eigenpairs


@pytest.fixture
def operator(rng):
    s = rng.uniform(0, 10, 800)
    X = np.c_[s, rng.uniform(0, 2, 800)]
    graph, _ = knn_graph(X, 10, method="exact")
    return diffusion_operator(gaussian_kernel(graph, 0.2), 1.0).S


@pytest.mark.parametrize("solver", ["arpack", "shift_invert", "lobpcg", "amg"])
def test_iterative_solvers_match_dense(operator, solver):
    ref_vals, ref_vecs = top_eigenpairs(operator, 6, solver="dense")
    tol = {"lobpcg": 1e-12, "amg": 1e-8}.get(solver, 0.0)
    vals, vecs = top_eigenpairs(
        operator,
        6,
        solver=solver,
        random_state=0,
        tol=tol,
        max_iter=5000 if solver == "lobpcg" else None,
    )
    # eigenvalues near 1 are crowded: compare 1 - lambda, which sets the timescales
    np.testing.assert_allclose(
        1 - vals[1:], 1 - ref_vals[1:], rtol=1e-6 if solver != "lobpcg" else 1e-3
    )
    assert vals[0] == pytest.approx(1.0, abs=1e-8)
    if solver != "lobpcg":
        np.testing.assert_allclose(np.abs(vecs.T @ ref_vecs), np.eye(6), atol=1e-6)


def test_spectrum_in_unit_interval_and_top_is_one(operator):
    vals, _ = top_eigenpairs(operator, 8, solver="dense")
    assert vals[0] == pytest.approx(1.0, abs=1e-12)
    assert np.all(vals <= 1 + 1e-12)
    assert np.all(vals > -1)
    assert np.all(np.diff(vals) <= 0)


def test_amg_default_tolerance_is_relative_to_the_spectrum(operator):
    """The default "amg" accuracy holds whatever the scale of 1 - λ (here shrunk 1000x)."""
    ref_vals, ref_vecs = top_eigenpairs(operator, 6, solver="dense")
    n = operator.shape[0]
    lazy = sp.identity(n, format="csr") * (1 - 1e-3) + operator * 1e-3  # 1 - λ scaled by 1e-3
    vals, vecs = top_eigenpairs(lazy, 6, solver="amg", random_state=0)
    np.testing.assert_allclose(1 - vals[1:], 1e-3 * (1 - ref_vals[1:]), rtol=1e-3)
    assert np.min(np.abs(np.sum(vecs * ref_vecs, axis=0))) > 0.999


def test_auto_uses_amg_on_large_sparse_operators(operator, monkeypatch):
    import diffembed.spectral as spectral

    ref_vals, _ = top_eigenpairs(operator, 5, solver="dense")
    monkeypatch.setattr(spectral, "AUTO_AMG_MIN", 100)
    info: dict[str, str] = {}
    vals, _ = top_eigenpairs(operator, 5, solver="auto", info=info)
    assert info["solver"] == "amg"
    np.testing.assert_allclose(1 - vals[1:], 1 - ref_vals[1:], rtol=1e-3)
    # dense input stays with the dense/ARPACK choices
    assert spectral.resolve_solver("auto", 10_000, 5, sparse=False) == "arpack"


def test_amg_reports_non_convergence(operator):
    from diffembed.exceptions import NumericalError

    with pytest.raises(NumericalError, match=r"did not converge .* in 1 iterations"):
        top_eigenpairs(operator, 6, solver="amg", tol=1e-12, max_iter=1)


def test_seeded_solvers_are_deterministic(operator):
    for solver in ("arpack", "shift_invert", "lobpcg", "amg"):
        a = top_eigenpairs(operator, 4, solver=solver, random_state=3)
        b = top_eigenpairs(operator, 4, solver=solver, random_state=3)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_fix_signs():
    V = np.array([[1.0, -3.0], [-2.0, 1.0]])
    np.testing.assert_array_equal(fix_signs(V), [[-1.0, 3.0], [2.0, -1.0]])


def test_bad_requests():
    S = sp.identity(5, format="csr")
    with pytest.raises(InputError, match="eigen_solver='magic' is not supported"):
        top_eigenpairs(S, 2, solver="magic")
    with pytest.raises(InputError, match="between 1 and 5"):
        top_eigenpairs(S, 6)


def test_auto_falls_back_to_shift_invert_when_lanczos_stalls(operator, monkeypatch):
    import diffembed.spectral as spectral

    ref_vals, _ = top_eigenpairs(operator, 5, solver="dense")
    monkeypatch.setattr(spectral, "AUTO_DENSE_MAX", 10)
    monkeypatch.setattr(spectral, "AUTO_ARPACK_BUDGET", 1)  # Lanczos cannot finish in 1 restart
    info: dict[str, str] = {}
    vals, _ = top_eigenpairs(operator, 5, solver="auto", intrinsic_dimension=12.0, info=info)
    assert info["solver"] == "shift_invert"
    np.testing.assert_allclose(1 - vals[1:], 1 - ref_vals[1:], rtol=1e-6)
    # with a budget it can meet, plain Lanczos is kept
    monkeypatch.setattr(spectral, "AUTO_ARPACK_BUDGET", 5000)
    top_eigenpairs(operator, 5, solver="auto", intrinsic_dimension=12.0, info=info)
    assert info["solver"] == "arpack"
