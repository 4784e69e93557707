"""Eigensolver choice for the symmetric diffusion operator, in one place.

``"dense"``
    :func:`scipy.linalg.eigh` restricted to the wanted index range: exact, O(n^3); used by
    ``"auto"`` up to :data:`AUTO_DENSE_MAX` rows.
``"arpack"``
    :func:`scipy.sparse.linalg.eigsh` (implicitly restarted Lanczos) for the largest
    algebraic eigenvalues, with a seeded start vector so results are reproducible.
``"shift_invert"``
    ARPACK in shift-invert mode around σ = 1 + 1e-5 with a sparse LU factorisation
    (:func:`scipy.sparse.linalg.splu`). On kNN graphs of low-dimensional manifolds the top
    eigenvalues crowd against 1 and plain Lanczos needs thousands of iterations; after the
    shift-invert they are well separated. The factorisation fills in badly on graphs of
    high-dimensional data, so ``"auto"`` uses it directly only when the estimated intrinsic
    dimension is at most :data:`AUTO_SHIFT_INVERT_MAX_DIMENSION`; above that it runs plain
    Lanczos with a budget of :data:`AUTO_ARPACK_BUDGET` restarts and switches to shift-invert
    if that is not enough (a noisy manifold: high local dimension, crowded spectrum).
``"lobpcg"``
    :func:`scipy.sparse.linalg.lobpcg` from a seeded random block.
``"amg"``
    LOBPCG for the smallest eigenvalues of the Laplacian ``L = I - S``, preconditioned by an
    algebraic-multigrid V-cycle (`pyamg <https://github.com/pyamg/pyamg>`_'s smoothed
    aggregation on ``L + 1e-5 I``), as scikit-learn's ``spectral_embedding(eigen_solver="amg")``
    does. The preconditioner makes the iteration count nearly independent of how crowded the
    spectrum is, which is what defeats plain Lanczos on large kNN graphs: on the 100k-point
    benchmark operator (1 - λ₁ = 8.6e-6) it needs ~45 block iterations (9 s) where ARPACK needs
    8,310 products (59 s) for the same vectors. Memory is a few (n, k) blocks plus a hierarchy
    ~1.03x the matrix. ``"auto"`` uses it for sparse problems above :data:`AUTO_AMG_MIN` rows.
    Its tolerance is relative: residuals ``||L x - mu x||`` below :data:`AMG_TOL` times the
    k-th eigenvalue of L.

Eigenvalues come back in decreasing order; each eigenvector's largest-magnitude entry is made
positive, so signs are deterministic.

Bounded time, no solver error for the user: ARPACK (plain or shift-invert) runs with a budget
of :func:`arpack_budget` restarts, derived from n. When the budget is spent (a near-degenerate
spectrum: eigenvalues crowding at 1), the solve falls back to the dense solver up to
:data:`DENSE_FALLBACK_MAX` rows, then to LOBPCG with the AMG preconditioner, then to that
solver at a 100x looser tolerance with a warning. ``info["solver"]`` records what was done,
e.g. ``"dense (fallback: shift_invert did not converge in 100 restarts)"``.
"""

from __future__ import annotations

import importlib.util
import warnings
from contextlib import nullcontext
from typing import Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from threadpoolctl import threadpool_limits

from . import _progress
from .exceptions import InputError, NumericalError

__all__ = [
    "AUTO_DENSE_MAX",
    "DENSE_FALLBACK_MAX",
    "EigenSolver",
    "arpack_budget",
    "component_eigenpairs",
    "fix_signs",
    "resolve_solver",
    "top_eigenpairs",
]

EigenSolver = Literal["auto", "dense", "arpack", "shift_invert", "lobpcg", "amg"]
SOLVERS = ("auto", "dense", "arpack", "shift_invert", "lobpcg", "amg")

#: ``"auto"`` uses the dense solver up to this many rows.
AUTO_DENSE_MAX = 500
#: ``"auto"`` uses shift-invert up to this intrinsic dimension, plain Lanczos above.
AUTO_SHIFT_INVERT_MAX_DIMENSION = 4.0
#: Up to this many rows the iterative solvers run with one BLAS thread: their dense work is
#: level-2 BLAS on (n, ncv) blocks, where waking a thread pool costs more than it saves
#: (measured: shift-invert on a 2,000-point swiss roll 0.02 s single-threaded, 0.14 s with 2
#: OpenBLAS threads).
SINGLE_THREAD_MAX = 50_000
#: Implicit restarts ``"auto"`` allows plain Lanczos before it switches to shift-invert.
AUTO_ARPACK_BUDGET = 60
#: Distance of the shift above the top eigenvalue 1.
SHIFT = 1e-5
#: ``"auto"`` uses the AMG-preconditioned LOBPCG solver for sparse problems above this many
#: rows (below it shift-invert or Lanczos is fast and exact to machine precision).
AUTO_AMG_MIN = 50_000
#: Default relative tolerance of ``"amg"``: residuals of at most this fraction of the k-th
#: eigenvalue of ``I - S``. On the 300k-point benchmark operator it gives ``1 - λ`` to a
#: relative 8e-7 and eigenvectors with |cos| > 0.99999 against a solve to 1e-9 (23 iterations;
#: 1e-3 takes 32 for 1e-8).
AMG_TOL = 1e-2
#: LOBPCG iterations whose Ritz values estimate the scale of the wanted eigenvalues.
AMG_ESTIMATE_ITERATIONS = 6
#: Iteration cap of ``"amg"`` (it converges in ~50 on kNN graphs of 1e5-1e6 points).
AMG_MAX_ITER = 400
#: When ARPACK spends its budget, matrices up to this many rows are diagonalised densely
#: (a few seconds at 4,000 rows on one core); larger ones go to the AMG solver.
DENSE_FALLBACK_MAX = 4_000


def arpack_budget(n: int) -> int:
    """Implicit restarts ARPACK may take on an n-row operator: ``clip(2 sqrt(n), 100, 1000)``.

    ARPACK's own default (``10 n``) lets a near-degenerate problem spin for minutes (7,001
    restarts on 700 rows were seen); a converging problem needs a few dozen.
    """
    return int(min(1000, max(100, 2 * np.sqrt(n))))


def _dense_matrix(S) -> np.ndarray:
    """S as a dense array (a LinearOperator is applied to the identity)."""
    if sp.issparse(S):
        return S.toarray()
    if isinstance(S, spla.LinearOperator):
        return np.asarray(S @ np.eye(S.shape[0]), dtype=np.float64)
    return np.asarray(S, dtype=np.float64)


def _counted(S, what: str):
    """S as an operator that counts its products on the running progress task (if any).

    ARPACK has no callback; its matrix-vector products are what it spends its time on, so
    the progress line shows their count and rate. Without a listener S is returned as is.
    """
    running = _progress.current()
    if running is None:
        return S
    running.unit = "products"
    running.info["solver"] = what

    def matvec(x: np.ndarray) -> np.ndarray:
        out = S @ x
        running.advance()
        return out

    def matmat(x: np.ndarray) -> np.ndarray:
        out = S @ x
        running.advance(x.shape[1] if x.ndim == 2 else 1)
        return out

    return spla.LinearOperator(S.shape, matvec=matvec, matmat=matmat, dtype=np.float64)


def _fallback(
    S, n_eigenpairs: int, rng: np.random.Generator, reason: str, info, *, amg_failed=False
):
    """Eigenpairs after an iterative solver failed: dense, then AMG, then AMG at a looser tol."""
    n = S.shape[0]
    if n <= DENSE_FALLBACK_MAX or not (sp.issparse(S) and amg_available()):
        if info is not None:
            info["solver"] = f"dense (fallback: {reason})"
        dense = _dense_matrix(S)
        return scipy.linalg.eigh(dense, subset_by_index=[n - n_eigenpairs, n - 1])
    try:
        if amg_failed:
            raise NumericalError(reason)
        vals, vecs = _amg_lobpcg(S, n_eigenpairs, rng, AMG_TOL, AMG_MAX_ITER)
        if info is not None:
            info["solver"] = f"amg (fallback: {reason})"
        return vals, vecs
    except NumericalError:
        loose = 100 * AMG_TOL
        warnings.warn(
            f"The eigensolver fell back twice ({reason}; then AMG-preconditioned LOBPCG did not "
            f"reach a residual of {AMG_TOL:g}); the eigenpairs are computed to a looser relative "
            f"residual of {loose:g}. Check the spectrum, or try more n_neighbors.",
            RuntimeWarning,
            stacklevel=4,
        )
        if info is not None:
            info["solver"] = f"amg, tol {loose:g} (fallback: {reason})"
        return _amg_lobpcg(S, n_eigenpairs, rng, loose, AMG_MAX_ITER, check=False)


def fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Flip each column so that its entry of largest magnitude is positive."""
    vectors = np.array(vectors, dtype=np.float64, copy=True)
    if vectors.size == 0:
        return vectors
    pivots = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[pivots, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


def amg_available() -> bool:
    """Whether pyamg (the ``"amg"`` solver's preconditioner) can be imported."""
    return importlib.util.find_spec("pyamg") is not None


def resolve_solver(
    solver: str,
    n: int,
    n_eigenpairs: int,
    sparse: bool,
    intrinsic_dimension: float | None = None,
) -> str:
    """The solver ``"auto"`` stands for, for an n x n problem (see the module docstring)."""
    if solver != "auto":
        return "dense" if n_eigenpairs >= n - 1 else solver
    if n <= AUTO_DENSE_MAX or n_eigenpairs >= n - 1:
        return "dense"
    if sparse and n > AUTO_AMG_MIN and amg_available():
        return "amg"
    low_dim = (
        intrinsic_dimension is not None
        and np.isfinite(intrinsic_dimension)
        and intrinsic_dimension <= AUTO_SHIFT_INVERT_MAX_DIMENSION
    )
    return "shift_invert" if low_dim and sparse else "arpack"


def _top_eigenpairs(
    S,
    n_eigenpairs: int,
    *,
    solver: str = "auto",
    tol: float = 0.0,
    max_iter: int | None = None,
    random_state: int | np.random.Generator | None = 0,
    intrinsic_dimension: float | None = None,
    info: dict[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Largest algebraic eigenpairs of a symmetric matrix with spectrum in [-1, 1].

    Parameters
    ----------
    S
        Symmetric matrix (dense or sparse), shape (n, n).
    n_eigenpairs
        How many pairs, 1 <= n_eigenpairs < n for the iterative solvers.
    solver
        ``"auto"``, ``"dense"``, ``"arpack"``, ``"shift_invert"`` or ``"lobpcg"``.
    tol
        Relative accuracy for the iterative solvers (0 means machine precision for ARPACK,
        1e-8 for LOBPCG, :data:`AMG_TOL` of the k-th eigenvalue of ``I - S`` for ``"amg"``).
    max_iter
        Iteration cap for the iterative solvers (None: the solver's default).
    random_state
        Seed of the start vector(s).
    intrinsic_dimension
        Estimated manifold dimension of the data behind ``S``; ``"auto"`` picks shift-invert
        for low dimensions (see the module docstring).
    info
        If given, ``info["solver"]`` is set to the solver that produced the result.

    Returns
    -------
    eigenvalues : ndarray, shape (n_eigenpairs,)
        In decreasing order.
    eigenvectors : ndarray, shape (n, n_eigenpairs)
        Orthonormal columns with deterministic signs.
    """
    n = S.shape[0]
    if solver not in SOLVERS:
        options = ", ".join(repr(s) for s in SOLVERS)
        msg = f"eigen_solver={solver!r} is not supported; choose one of {options}."
        raise InputError(msg)
    if not 1 <= n_eigenpairs <= n:
        msg = (
            f"Asked for {n_eigenpairs} eigenpairs of a {n}x{n} matrix; it must be between 1 "
            f"and {n}."
        )
        raise InputError(msg)
    requested = solver
    solver = resolve_solver(solver, n, n_eigenpairs, sp.issparse(S), intrinsic_dimension)
    rng = np.random.default_rng(random_state)
    if info is not None:
        info["solver"] = solver
    if requested == "auto" and solver == "arpack" and max_iter is None:
        # Plain Lanczos is fast when the top eigenvalues are well separated (data of high
        # intrinsic dimension) and very slow when they crowd against 1 (a thickened manifold
        # looks high-dimensional to the dimension estimate but has a manifold's spectrum).
        # Give it a budget; past it, switch to shift-invert.
        try:
            v0 = rng.uniform(-1.0, 1.0, size=n)
            ncv = min(n, max(2 * n_eigenpairs + 1, 24))
            vals, vecs = spla.eigsh(
                _counted(S, "arpack"), k=n_eigenpairs, which="LA", v0=v0, ncv=ncv, tol=tol,
                maxiter=AUTO_ARPACK_BUDGET,
            )
            order = np.argsort(vals)[::-1]
            return np.asarray(vals[order], dtype=np.float64), fix_signs(vecs[:, order])
        except spla.ArpackNoConvergence:
            solver = "shift_invert"
            if info is not None:
                info["solver"] = "shift_invert"
    if solver == "dense":
        dense = _dense_matrix(S)
        vals, vecs = scipy.linalg.eigh(dense, subset_by_index=[n - n_eigenpairs, n - 1])
    elif solver in ("arpack", "shift_invert"):
        v0 = rng.uniform(-1.0, 1.0, size=n)
        ncv = min(n, max(2 * n_eigenpairs + 1, 24))
        budget = max_iter if max_iter is not None else arpack_budget(n)
        try:
            if solver == "arpack":
                vals, vecs = spla.eigsh(
                    _counted(S, "arpack"), k=n_eigenpairs, which="LA", v0=v0, ncv=ncv,
                    tol=tol, maxiter=budget,
                )
            else:
                vals, vecs = _shift_invert(S, n_eigenpairs, v0, ncv, tol, budget)
        except spla.ArpackNoConvergence as exc:
            reason = (
                f"{solver} did not converge in {budget} restarts, "
                f"{len(exc.eigenvalues)}/{n_eigenpairs} pairs"
            )
            vals, vecs = _fallback(S, n_eigenpairs, rng, reason, info)
    elif solver == "amg":
        try:
            vals, vecs = _amg_lobpcg(
                S, n_eigenpairs, rng, tol or AMG_TOL, max_iter or AMG_MAX_ITER
            )
        except NumericalError:
            reason = f"amg did not converge in {max_iter or AMG_MAX_ITER} iterations"
            vals, vecs = _fallback(S, n_eigenpairs, rng, reason, info, amg_failed=True)
    else:
        X0 = rng.standard_normal((n, n_eigenpairs))
        vals, vecs = spla.lobpcg(
            _counted(S, "lobpcg"), X0, largest=True, tol=tol or 1e-8, maxiter=max_iter or 500,
            verbosityLevel=0,
        )
    order = np.argsort(vals)[::-1]
    return np.asarray(vals[order], dtype=np.float64), fix_signs(vecs[:, order])


def _shift_invert(S, k: int, v0: np.ndarray, ncv: int, tol: float, max_iter: int | None):
    """Eigenpairs of S nearest above 1 through an LU factorisation of (1 + SHIFT) I - S."""
    n = S.shape[0]
    sigma = 1.0 + SHIFT
    A = (sp.identity(n, format="csc") * sigma - sp.csc_matrix(S)).tocsc()
    # A is symmetric: a minimum-degree ordering on A + A^T halves the fill-in of COLAMD.
    running = _progress.current()
    if running is not None:
        running.update(step="LU factorisation")
    lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    if running is not None:
        running.info.pop("step", None)
    # eigenvalues of A^{-1} are mu = 1 / (sigma - lambda) > 0, largest for lambda nearest 1
    op = _counted(spla.LinearOperator(A.shape, matvec=lu.solve, dtype=np.float64), "shift_invert")
    mu, vecs = spla.eigsh(op, k=k, which="LA", v0=v0, ncv=ncv, tol=tol, maxiter=max_iter)
    return sigma - 1.0 / mu, vecs


def _amg_lobpcg(
    S, k: int, rng: np.random.Generator, rtol: float, max_iter: int, *, check: bool = True
):
    """Top eigenpairs of S as the bottom ones of ``L = I - S``, AMG-preconditioned LOBPCG.

    The wanted eigenvalues of L shrink with the kernel bandwidth (1e-6 to 1e-4 on a million
    points), so an absolute residual tolerance would mean different accuracies on different
    data. The tolerance is relative instead: ``rtol`` times the k-th eigenvalue of L, estimated
    by the Ritz values of :data:`AMG_ESTIMATE_ITERATIONS` iterations (upper bounds), from whose
    vectors the solve then continues.
    """
    try:
        import pyamg
    except ImportError as exc:  # pragma: no cover - pyamg is a core dependency
        msg = "eigen_solver='amg' needs pyamg: pip install pyamg"
        raise InputError(msg) from exc
    n = S.shape[0]
    identity = sp.identity(n, format="csr")
    L = (identity - sp.csr_matrix(S, dtype=np.float64)).tocsr()
    # pyamg estimates spectral radii from np.random's global state: seed it, then put it back
    saved = np.random.get_state()  # noqa: NPY002 - pyamg reads the legacy global state
    np.random.seed(int(rng.integers(2**32)))  # noqa: NPY002
    try:
        # a single-precision hierarchy: half the memory traffic of a V-cycle, the same
        # iteration count and accuracy (measured at 300k: 23 iterations either way, 19 % less
        # time); the iteration itself stays in double precision
        vcycle = pyamg.smoothed_aggregation_solver(L.astype(np.float32)).aspreconditioner()
    finally:
        np.random.set_state(saved)  # noqa: NPY002

    running = _progress.current()
    if running is not None:
        running.unit = "iterations"
        running.info["solver"] = "amg"

    def precondition(block: np.ndarray) -> np.ndarray:
        block = np.asarray(block)
        columns = block.reshape(n, -1).astype(np.float32)
        if running is not None:  # LOBPCG preconditions its active residuals once an iteration
            residual = float(np.max(np.linalg.norm(block.reshape(n, -1), axis=0)))
            running.advance(residual=residual)
        out = np.column_stack([vcycle @ columns[:, j] for j in range(columns.shape[1])])
        return out.astype(np.float64).reshape(block.shape)

    preconditioner = spla.LinearOperator(
        L.shape, matvec=precondition, matmat=precondition, dtype=np.float64
    )
    with warnings.catch_warnings():
        # lobpcg warns when it stops at maxiter; the residual check below says so clearly
        warnings.simplefilter("ignore", UserWarning)
        mu, X = spla.lobpcg(
            L,
            rng.standard_normal((n, k)),
            M=preconditioner,
            tol=1e-300,
            maxiter=AMG_ESTIMATE_ITERATIONS,
            largest=False,
        )
        tol = rtol * max(float(np.max(mu)), np.finfo(float).eps)
        mu, vecs, residuals = spla.lobpcg(
            L,
            X,
            M=preconditioner,
            tol=tol,
            maxiter=max_iter,
            largest=False,
            retResidualNormsHistory=True,
        )
    final = np.asarray(residuals[-1]) if len(residuals) else np.full(k, np.inf)
    if check and not np.all(final <= 10 * tol):
        msg = (
            f"The AMG-preconditioned LOBPCG solver did not converge for {k} eigenpairs of a "
            f"{n}x{n} operator in {max_iter} iterations (largest residual {final.max():.1e}, "
            f"wanted {tol:.1e}). Try a larger eigen_tol or eigen_solver='arpack'."
        )
        raise NumericalError(msg)
    return 1.0 - mu, vecs


def top_eigenpairs(
    S,
    n_eigenpairs: int,
    *,
    solver: str = "auto",
    tol: float = 0.0,
    max_iter: int | None = None,
    random_state: int | np.random.Generator | None = 0,
    intrinsic_dimension: float | None = None,
    info: dict[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Largest algebraic eigenpairs of a symmetric matrix with spectrum in [-1, 1].

    See :func:`_top_eigenpairs` for the parameters; this wrapper limits BLAS to one thread on
    problems of at most :data:`SINGLE_THREAD_MAX` rows.
    """
    small = S.shape[0] <= SINGLE_THREAD_MAX
    with threadpool_limits(limits=1, user_api="blas") if small else nullcontext():
        return _top_eigenpairs(
            S,
            n_eigenpairs,
            solver=solver,
            tol=tol,
            max_iter=max_iter,
            random_state=random_state,
            intrinsic_dimension=intrinsic_dimension,
            info=info,
        )


def component_eigenpairs(
    S,
    labels: np.ndarray,
    n_eigenpairs: int,
    *,
    solver: str = "auto",
    tol: float = 0.0,
    random_state: int | np.random.Generator | None = 0,
    info: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top non-trivial eigenpairs of a block-diagonal operator, one block per component.

    The spectrum of a block-diagonal matrix is the union of its blocks' spectra, and a block's
    eigenvector padded with zeros is an eigenvector of the whole. Each component's top pair
    (λ = 1, its own stationary direction) is dropped; the remaining pairs of all components
    are merged in decreasing order.

    Parameters
    ----------
    S
        Symmetric operator whose components are labelled by ``labels``.
    labels
        Component of each row (0..c-1).
    n_eigenpairs
        Non-trivial pairs wanted.
    solver, tol, random_state
        As for :func:`top_eigenpairs`, applied to each component.
    info
        If given, ``info["trivial"]`` gets each component's top eigenvalue (1 up to rounding;
        1 for a single point), ``info["solver"]`` the solvers used, joined by ``"; "`` when
        they differ, and ``info["component_pairs"]`` the non-trivial pairs kept per component.

    Returns
    -------
    eigenvalues : ndarray, shape (n_eigenpairs,)
    eigenvectors : ndarray, shape (n, n_eigenpairs)
    """
    n = S.shape[0]
    S = sp.csr_matrix(S)
    values: list[float] = []
    blocks: list[tuple[np.ndarray, np.ndarray]] = []
    owners: list[int] = []
    trivial: list[float] = []
    solvers: list[str] = []
    for c in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == c)
        if idx.size < 2:
            trivial.append(1.0)
            continue
        k = min(n_eigenpairs + 1, idx.size)
        block_info: dict[str, str] = {}
        vals, vecs = top_eigenpairs(
            S[idx][:, idx], k, solver=solver, tol=tol, random_state=random_state,
            info=block_info,
        )  # fmt: skip
        trivial.append(float(vals[0]))
        if block_info["solver"] not in solvers:
            solvers.append(block_info["solver"])
        for j in range(1, k):
            values.append(vals[j])
            blocks.append((idx, vecs[:, j]))
            owners.append(c)
    if len(values) < n_eigenpairs:
        msg = (
            f"The components together have only {len(values)} non-trivial eigenpairs; "
            f"use n_components={len(values)} or fewer."
        )
        raise InputError(msg)
    order = np.argsort(values, kind="stable")[::-1][:n_eigenpairs]
    if info is not None:
        info["trivial"] = trivial
        info["solver"] = "; ".join(solvers)
        info["component_pairs"] = np.bincount(
            np.asarray(owners, dtype=int)[order], minlength=len(trivial)
        ).tolist()
    out = np.zeros((n, n_eigenpairs))
    for col, j in enumerate(order):
        idx, v = blocks[j]
        out[idx, col] = v
    return np.asarray(values)[order], out
