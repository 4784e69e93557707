from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import diffembed as de
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


def test_amg_non_convergence_falls_back_and_says_so(operator):
    ref_vals, _ = top_eigenpairs(operator, 6, solver="dense")
    info: dict[str, str] = {}
    vals, _ = top_eigenpairs(operator, 6, solver="amg", tol=1e-12, max_iter=1, info=info)
    assert info["solver"] == "dense (fallback: amg did not converge in 1 iterations)"
    np.testing.assert_allclose(vals, ref_vals, atol=1e-12)


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


# ------------------------------------------------------- bounded time and fallbacks
def _chain_of_chains(blocks: int = 30, size: int = 40, bridge: float = 1e-13):
    """Symmetric operator of ``blocks`` paths joined end to end by ``bridge``-weight edges.

    Its top ``blocks`` eigenvalues all lie within ~1e-13 of 1: a near-degenerate spectrum on
    which unbudgeted ARPACK restarts until its default cap of 10 n (94,655 products measured).
    """
    n = blocks * size
    rows, cols, vals = [], [], []
    for b in range(blocks):
        for i in range(size - 1):
            rows.append(b * size + i)
            cols.append(b * size + i + 1)
            vals.append(1.0)
        if b < blocks - 1:
            rows.append(b * size + size - 1)
            cols.append((b + 1) * size)
            vals.append(bridge)
    K = sp.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
    return diffusion_operator(K + K.T + sp.identity(n), 1.0).S


def test_near_degenerate_operator_uses_a_bounded_number_of_products():
    import diffembed.spectral as spectral

    S = _chain_of_chains()
    n = S.shape[0]
    applied = {"count": 0}

    def matvec(x):
        applied["count"] += 1
        return S @ x

    op = spla.LinearOperator(S.shape, matvec=matvec, dtype=np.float64)
    info: dict[str, str] = {}
    vals, vecs = top_eigenpairs(op, 11, solver="arpack", info=info)
    budget = spectral.arpack_budget(n)
    assert budget == 100
    # ARPACK's restarts (ncv = 24 products each at most) plus n products for the dense fallback
    assert applied["count"] <= budget * 24 + n
    assert info["solver"].startswith("dense (fallback: arpack did not converge in 100 restarts")
    ref, _ = top_eigenpairs(S, 11, solver="dense")
    np.testing.assert_allclose(vals, ref, atol=1e-12)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(11), atol=1e-10)


def test_arpack_no_convergence_falls_back_and_is_recorded(monkeypatch):
    from sklearn.datasets import make_swiss_roll

    import diffembed.spectral as spectral

    X, _ = make_swiss_roll(800, noise=0.3, random_state=0)  # 800 rows: not the dense path
    expected = de.DiffusionMap(5, eigen_solver="dense", random_state=0).fit(X)

    def no_convergence(*args, **kwargs):
        msg = "ARPACK error -1: No convergence (7001 iterations, 6/10 eigenvectors converged)"
        raise spla.ArpackNoConvergence(
            msg,
            np.zeros(3),
            np.zeros((X.shape[0], 3)),
        )

    monkeypatch.setattr(spectral.spla, "eigsh", no_convergence)
    dm = de.DiffusionMap(5, eigen_solver="arpack", random_state=0).fit(X)
    assert dm.eigen_solver_ == (
        "dense (fallback: arpack did not converge in 100 restarts, 3/6 pairs)"
    )
    np.testing.assert_allclose(dm.eigenvalues_, expected.eigenvalues_, atol=1e-12)
    auto = de.DiffusionMap(5, random_state=0).fit(X)  # "auto": Lanczos, then shift-invert
    assert auto.eigen_solver_.startswith("dense (fallback: shift_invert did not converge")
