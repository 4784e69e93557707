"""Graph filters that smooth row vectors over a fixed graph: PPR, heat, lazy walk, retrofitting.

Notation (research note ``stability_hierarchy.md``, A.2): ``A`` is a symmetric, non-negative
n×n adjacency, ``D = diag(A 1)``, ``T_rw = D⁻¹A`` (``normalization="rw"``) or
``T_sym = D^{-1/2} A D^{-1/2}`` (``"sym"``); ``self_loops=s`` adds ``s I`` to ``A`` first.
Every filter is a polynomial or rational function ``h(T)`` applied to the n×d matrix ``X₀``:

===========  =====================================  ==========================================
operator     ``h(λ)``                               smallest gain over λ ∈ [−1, 1]
===========  =====================================  ==========================================
``ppr``      ``α / (1 − (1−α) λ)``                  ``α / (2 − α)``
``heat``     ``exp(−t (1 − λ))``                    ``exp(−2 t)``
``lazy_walk````((1 + λ) / 2)^t`` (integer t)        0 (no floor)
===========  =====================================  ==========================================

``T_rw = D^{-1/2} T_sym D^{1/2}``, so every ``rw`` filter is computed on the symmetric
operator between two diagonal scalings: PPR by conjugate gradients on the symmetric positive
definite ``I − (1−α) T_sym`` (condition number ≤ (2−α)/α, so ~20 iterations at α = ½), or by
the APPNP power iteration; heat by :func:`scipy.sparse.linalg.expm_multiply` (Krylov-free
truncated Taylor with scaling; never a dense ``expm``); the lazy walk by repeated products.

**Rows without edges keep their vectors**: an isolated node is given a unit self-loop, so its
row of ``T`` is ``e_i`` and ``h(1) = 1`` leaves it unchanged under every filter.

Retrofitting (Faruqui et al. 2015, ``mfaruqui/retrofitting:retrofit.py``) updates, in row
order, ``q_i ← (α_i q̂_i + Σ_j β_ij q_j) / (α_i + Σ_j β_ij)`` with ``α_i = deg_i`` and
``β_ij = A_ij`` (the released code's ``α_i = 1, β_ij = 1/deg_i`` scaled by ``deg_i``). One
sweep is exactly one Gauss–Seidel step for ``(diag(α) + D − A) Q = diag(α) Q̂``, which is
computed here as one sparse triangular solve over all columns at once. Its fixed point with
the default ``α_i = deg_i`` is PPR with α = ½ on ``T_rw``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from ..exceptions import InputError, NumericalError

__all__ = [
    "GraphOperator",
    "alpha_for_gain",
    "gain_floor",
    "graph_operator",
    "heat_filter",
    "lazy_walk_filter",
    "ppr_filter",
    "retrofit",
    "t_for_gain",
]

Normalization = Literal["rw", "sym"]


@dataclass(frozen=True)
class GraphOperator:
    """The symmetric normalised operator of a graph and what is needed to use it.

    Attributes
    ----------
    S
        ``D^{-1/2} (A + s I) D^{-1/2}`` with isolated nodes given a unit self-loop (CSR).
    degrees
        Row sums of ``A + s I`` (isolated nodes: 1).
    isolated
        Boolean mask of the rows that had no edge (they are left unchanged).
    normalization
        ``"rw"`` or ``"sym"``: whether filters act as ``h(T_rw)`` or ``h(T_sym)``.
    """

    S: sp.csr_matrix
    degrees: np.ndarray
    isolated: np.ndarray
    normalization: str

    @property
    def n(self) -> int:
        """Number of nodes."""
        return int(self.S.shape[0])

    def to_sym(self, X: np.ndarray) -> np.ndarray:
        """Map ``X`` into the symmetric frame (``D^{1/2} X`` for ``rw``)."""
        if self.normalization == "rw":
            return X * np.sqrt(self.degrees)[:, None]
        return X

    def from_sym(self, Y: np.ndarray) -> np.ndarray:
        """Map back from the symmetric frame (``D^{-1/2} Y`` for ``rw``), in place."""
        if self.normalization == "rw":
            Y /= np.sqrt(self.degrees)[:, None]
        return Y

    def transition(self) -> sp.csr_matrix:
        """The operator ``T`` itself (``T_rw`` or ``T_sym``) as a sparse matrix."""
        if self.normalization == "rw":
            root = np.sqrt(self.degrees)
            return sp.csr_matrix(sp.diags(1.0 / root) @ self.S @ sp.diags(root))
        return self.S


def graph_operator(
    A: sp.spmatrix, *, normalization: Normalization = "rw", self_loops: float = 0.0
) -> GraphOperator:
    """Build the normalised operator of a symmetric non-negative adjacency.

    Parameters
    ----------
    A
        Symmetric adjacency, shape (n, n); stored diagonal entries are dropped.
    normalization
        ``"rw"`` (random walk ``D⁻¹A``) or ``"sym"`` (``D^{-1/2} A D^{-1/2}``).
    self_loops
        Weight ``s >= 0`` added to every diagonal entry (GDC uses 1 with ``"sym"``).

    Returns
    -------
    GraphOperator
    """
    if normalization not in ("rw", "sym"):
        msg = f"normalization={normalization!r} is not supported; choose 'rw' or 'sym'."
        raise InputError(msg)
    if not np.isfinite(self_loops) or self_loops < 0:
        msg = f"self_loops={self_loops} is out of range: it must be a finite number >= 0."
        raise InputError(msg)
    A = sp.csr_matrix(A, dtype=np.float64, copy=True)
    A.setdiag(0.0)
    A.eliminate_zeros()
    deg = np.asarray(A.sum(axis=1)).ravel()
    isolated = deg <= 0
    diag = np.full(A.shape[0], float(self_loops))
    diag[isolated] = 1.0
    Aself = (A + sp.diags(diag)).tocsr()
    deg = deg + diag
    inv_root = 1.0 / np.sqrt(deg)
    S = sp.csr_matrix(sp.diags(inv_root) @ Aself @ sp.diags(inv_root))
    S = ((S + S.T) * 0.5).tocsr()
    return GraphOperator(S=S, degrees=deg, isolated=isolated, normalization=normalization)


def _check_x(X: np.ndarray, n: int) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] != n:
        msg = f"X has shape {X.shape} but the graph has {n} nodes; give one row per node."
        raise InputError(msg)
    return X


def check_alpha(alpha: float) -> float:
    """Validate the PPR teleport probability α ∈ (0, 1]."""
    if isinstance(alpha, bool) or not np.isscalar(alpha) or not np.isfinite(alpha):
        msg = f"alpha must be a finite number in (0, 1] (the teleport probability), got {alpha!r}."
        raise InputError(msg)
    if not 0.0 < float(alpha) <= 1.0:
        msg = (
            f"alpha={alpha} is out of range: the teleport probability must be in (0, 1] "
            "(1 = no smoothing, 0.5 = retrofitting's fixed point; smaller smooths more)."
        )
        raise InputError(msg)
    return float(alpha)


def check_t(t: float, *, integer: bool = False) -> float:
    """Validate a diffusion time t >= 0 (an integer number of steps for the lazy walk)."""
    if isinstance(t, bool) or not np.isscalar(t) or not np.isfinite(t):
        msg = f"t must be a finite number >= 0 (the diffusion time), got {t!r}."
        raise InputError(msg)
    if t < 0:
        msg = f"t={t} is out of range: the diffusion time must be >= 0 (0 = no smoothing)."
        raise InputError(msg)
    if integer and float(t) != int(t):
        msg = f"t={t} is not valid for the lazy walk: give a whole number of steps (0, 1, 2, ...)."
        raise InputError(msg)
    return float(t)


def _block_cg(
    S: sp.csr_matrix, shift: float, B: np.ndarray, *, tol: float, maxiter: int
) -> tuple[np.ndarray, int]:
    """Conjugate gradients for ``(I − shift·S) X = B`` on every column at once.

    Columns are independent systems with their own step sizes; updates are in place (the
    elementwise passes, not the sparse product, dominate at d >= 100).
    """
    X = np.zeros_like(B)
    R = B  # B is the caller's scratch copy: used as the residual
    P = R.copy()
    tmp = np.empty_like(B)
    rs = np.einsum("ij,ij->j", R, R)
    target = (tol**2) * np.maximum(rs, np.finfo(float).tiny)
    AP = None
    for it in range(1, maxiter + 1):
        active = rs > target
        if not active.any():
            return X, it - 1
        AP = None  # free the previous product before the next one is allocated
        AP = S @ P
        AP *= -shift
        AP += P
        denom = np.einsum("ij,ij->j", P, AP)
        step = np.where(active & (denom > 0), rs / np.where(denom > 0, denom, 1.0), 0.0)
        np.multiply(P, step, out=tmp)
        X += tmp
        np.multiply(AP, step, out=tmp)
        R -= tmp
        rs_new = np.einsum("ij,ij->j", R, R)
        beta = np.where(active, rs_new / np.where(rs > 0, rs, 1.0), 0.0)
        P *= beta
        P += R
        rs = rs_new
    if np.any(rs > target * 1e4):
        msg = (
            f"Conjugate gradients did not reach tol={tol} in {maxiter} iterations; raise "
            "max_iter or use solver='power'."
        )
        raise NumericalError(msg)
    return X, maxiter


def ppr_filter(
    op: GraphOperator,
    X: np.ndarray,
    alpha: float,
    *,
    solver: Literal["cg", "power"] = "cg",
    tol: float = 1e-8,
    max_iter: int = 1000,
) -> tuple[np.ndarray, int]:
    """Personalized PageRank smoothing ``Y = α (I − (1−α) T)⁻¹ X``.

    Parameters
    ----------
    op
        The graph operator (:func:`graph_operator`).
    X
        Rows to smooth, shape (n, d).
    alpha
        Teleport probability in (0, 1]; 1 returns ``X``.
    solver
        ``"cg"`` (conjugate gradients on the symmetric system, default) or ``"power"``
        (APPNP iteration ``Y ← αX + (1−α) T Y`` until the relative change is below ``tol``).
    tol, max_iter
        Relative residual (or change) and iteration cap.

    Returns
    -------
    Y : ndarray, shape (n, d)
    n_iter : int
        Iterations used.
    """
    alpha = check_alpha(alpha)
    X = _check_x(X, op.n)
    if alpha == 1.0:
        return X.copy(), 0
    B = op.to_sym(X) * alpha  # a fresh array in both normalizations
    S = op.S
    if solver == "cg":
        Ys, n_iter = _block_cg(S, 1.0 - alpha, B, tol=tol, maxiter=max_iter)
    elif solver == "power":
        Ys = B / alpha
        scale = max(float(np.linalg.norm(Ys)), np.finfo(float).tiny)
        for n_iter in range(1, max_iter + 1):  # noqa: B007
            new = S @ Ys
            new *= 1.0 - alpha
            new += B
            change = float(np.linalg.norm(new - Ys)) / scale
            Ys = new
            if change < tol:
                break
    else:
        msg = f"solver={solver!r} is not supported; choose 'cg' or 'power'."
        raise InputError(msg)
    Y = op.from_sym(Ys)
    Y[op.isolated] = X[op.isolated]
    return Y, n_iter


def heat_filter(op: GraphOperator, X: np.ndarray, t: float) -> np.ndarray:
    """Heat-kernel smoothing ``Y = exp(−t (I − T)) X`` without forming a dense exponential.

    Uses :func:`scipy.sparse.linalg.expm_multiply` on the sparse symmetric ``I − T_sym``
    (its spectrum lies in [0, 2], so the cost grows linearly with ``t``).
    """
    from scipy.sparse.linalg import expm_multiply

    t = check_t(t)
    X = _check_x(X, op.n)
    if t == 0.0:
        return X.copy()
    L = (sp.identity(op.n, format="csr") - op.S).tocsr()
    Ys = expm_multiply(-t * L, op.to_sym(X), traceA=float(-t * L.diagonal().sum()))
    Y = op.from_sym(np.asarray(Ys))
    Y[op.isolated] = X[op.isolated]
    return Y


def lazy_walk_filter(op: GraphOperator, X: np.ndarray, t: int) -> np.ndarray:
    """Lazy random walk ``Y = ((I + T) / 2)^t X`` for a whole number of steps ``t``."""
    steps = int(check_t(t, integer=True))
    X = _check_x(X, op.n)
    if steps == 0:
        return X.copy()
    Ys = op.to_sym(X)
    for _ in range(steps):
        Ys = 0.5 * (Ys + op.S @ Ys)
    Y = op.from_sym(Ys)
    Y[op.isolated] = X[op.isolated]
    return Y


def retrofit(
    A: sp.spmatrix,
    X: np.ndarray,
    *,
    n_iter: int = 10,
    anchor: np.ndarray | None = None,
) -> np.ndarray:
    """Retrofitting (Faruqui et al. 2015): Gauss–Seidel sweeps in row order, vectorised.

    Each sweep equals the released ``retrofit.py`` loop
    ``q_i ← (α_i q̂_i + Σ_j A_ij q_j) / (α_i + Σ_j A_ij)`` over the rows with an edge, in row
    order, reading already-updated rows — computed as one sparse lower-triangular solve for
    all columns. Rows without edges keep their vectors.

    Parameters
    ----------
    A
        Symmetric non-negative adjacency (the lexicon), shape (n, n); the diagonal is ignored.
    X
        The input vectors ``q̂``, shape (n, d) (``retrofit.py`` L2-normalises them on reading).
    n_iter
        Sweeps (``retrofit.py``: 10).
    anchor
        Per-row weight ``α_i`` of the input vector; default the degree ``Σ_j A_ij`` (the
        released update).

    Returns
    -------
    ndarray, shape (n, d)
    """
    from scipy.sparse.linalg import spsolve_triangular

    A = sp.csr_matrix(A, dtype=np.float64, copy=True)
    A.setdiag(0.0)
    A.eliminate_zeros()
    X = _check_x(X, A.shape[0])
    if isinstance(n_iter, bool) or int(n_iter) != n_iter or n_iter < 0:
        msg = f"n_iter={n_iter!r} is out of range: give a whole number of sweeps >= 0."
        raise InputError(msg)
    deg = np.asarray(A.sum(axis=1)).ravel()
    a = deg.copy() if anchor is None else np.asarray(anchor, dtype=np.float64)
    if a.shape != deg.shape or not np.all(np.isfinite(a)) or np.any(a < 0):
        msg = f"anchor must hold {deg.size} finite weights >= 0 (one per row), got {a.shape}."
        raise InputError(msg)
    has = deg > 0
    diag = np.where(has, a + deg, 1.0)  # rows without edges: identity row, b = x
    lower = (sp.diags(diag) - sp.tril(A, k=-1)).tocsr()
    upper = sp.triu(A, k=1).tocsr()
    b0 = np.where(has[:, None], a[:, None] * X, X)
    Y = X.copy()
    for _ in range(int(n_iter)):
        rhs = b0 + np.where(has[:, None], upper @ Y, 0.0)
        Y = spsolve_triangular(lower, rhs, lower=True)
    return np.asarray(Y)


def gain_floor(operator: str, *, alpha: float = 0.5, t: float = 1.0) -> float:
    """The smallest gain ``min_λ |h(λ)|`` of a filter over λ ∈ [−1, 1].

    PPR ``α / (2 − α)``, heat ``exp(−2t)``, lazy walk 0 for t >= 1 (no floor), retrofitting
    its fixed point PPR ½ → 1/3.
    """
    if operator == "ppr":
        a = check_alpha(alpha)
        return a / (2.0 - a)
    if operator == "heat":
        return float(np.exp(-2.0 * check_t(t)))
    if operator == "lazy_walk":
        return 1.0 if check_t(t, integer=True) == 0 else 0.0
    if operator == "retrofit":
        return 1.0 / 3.0
    msg = (
        f"operator={operator!r} is not supported; choose 'ppr', 'heat', 'lazy_walk' or 'retrofit'."
    )
    raise InputError(msg)


def _check_gain(g: float) -> float:
    if isinstance(g, bool) or not np.isscalar(g) or not np.isfinite(g) or not 0.0 < g <= 1.0:
        msg = f"min_gain={g!r} is out of range: the smallest gain must be in (0, 1] (1 = identity)."
        raise InputError(msg)
    return float(g)


def alpha_for_gain(g: float) -> float:
    """The PPR teleport α whose gain floor α/(2−α) equals ``g``: ``α = 2g / (1 + g)``."""
    g = _check_gain(g)
    return 2.0 * g / (1.0 + g)


def t_for_gain(g: float) -> float:
    """The heat time t whose gain floor e^{−2t} equals ``g``: ``t = −ln(g) / 2``."""
    return float(-np.log(_check_gain(g)) / 2.0)
