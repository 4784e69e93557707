"""Diffusion operators built from a symmetric affinity matrix (Coifman & Lafon 2006).

Given affinities :math:`K` (symmetric, non-negative):

1. density :math:`q_i = \\sum_j K_{ij}`;
2. α-normalisation :math:`K^{(\\alpha)}_{ij} = K_{ij} / (q_i^\\alpha q_j^\\alpha)`:
   α = 0 gives the normalised graph Laplacian, α = ½ the Fokker–Planck operator, α = 1 the
   Laplace–Beltrami operator (density removed);
3. degrees :math:`d_i = \\sum_j K^{(\\alpha)}_{ij}`, Markov matrix :math:`P = D^{-1} K^{(\\alpha)}`;
4. stationary distribution :math:`\\pi_i = d_i / \\sum_j d_j` (:math:`\\pi^\\top P = \\pi^\\top`);
5. symmetric conjugate :math:`S = D^{-1/2} K^{(\\alpha)} D^{-1/2}`, which has P's eigenvalues;
   if :math:`S v = \\lambda v` then :math:`\\psi = D^{-1/2} v` is a right eigenvector of P.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .exceptions import NumericalError

__all__ = [
    "DiffusionOperator",
    "alpha_normalize",
    "diffusion_operator",
    "markov_matrix",
    "stationary_distribution",
    "symmetric_conjugate",
]


def _scale(K: sp.spmatrix | np.ndarray, left: np.ndarray, right: np.ndarray):
    """Return diag(left) @ K @ diag(right) without densifying sparse input."""
    if sp.issparse(K):
        K = sp.csr_matrix(K, dtype=np.float64, copy=True)
        rows = np.repeat(np.arange(K.shape[0]), np.diff(K.indptr))
        K.data *= left[rows] * right[K.indices]
        return K
    return left[:, None] * np.asarray(K, dtype=np.float64) * right[None, :]


def _row_sums(K) -> np.ndarray:
    return np.asarray(K.sum(axis=1)).ravel()


def alpha_normalize(K, alpha: float) -> tuple[sp.csr_matrix | np.ndarray, np.ndarray]:
    """Remove the sampling density to the power α: ``K / (q q^T)^alpha``.

    Parameters
    ----------
    K
        Symmetric non-negative affinities, sparse or dense, shape (n, n).
    alpha
        In [0, 1]: 0 graph Laplacian, 0.5 Fokker–Planck, 1 Laplace–Beltrami.

    Returns
    -------
    K_alpha
        The normalised affinities (same kind as ``K``).
    q
        The density estimate ``q_i = sum_j K_ij`` (store it: out-of-sample needs it).
    """
    q = _row_sums(K)
    if np.any(q <= 0):
        msg = "Some points have zero total affinity; the kernel matrix needs a positive diagonal."
        raise NumericalError(msg)
    q_alpha = q**-alpha
    return _scale(K, q_alpha, q_alpha), q


def markov_matrix(K_alpha) -> sp.csr_matrix | np.ndarray:
    """Row-stochastic transition matrix ``P = D^-1 K_alpha``."""
    d = _row_sums(K_alpha)
    return _scale(K_alpha, 1.0 / d, np.ones_like(d))


def stationary_distribution(K_alpha) -> np.ndarray:
    """Stationary distribution of ``P = D^-1 K_alpha`` for symmetric ``K_alpha``: ``d / sum(d)``."""
    d = _row_sums(K_alpha)
    return d / d.sum()


def symmetric_conjugate(K_alpha) -> tuple[sp.csr_matrix | np.ndarray, np.ndarray]:
    """``S = D^-1/2 K_alpha D^-1/2`` and the degrees ``d``; S is symmetric with P's spectrum."""
    d = _row_sums(K_alpha)
    inv_sqrt = 1.0 / np.sqrt(d)
    S = _scale(K_alpha, inv_sqrt, inv_sqrt)
    # Exact symmetry (rounding can break it) keeps the Lanczos solver honest.
    S = ((S + S.T) * 0.5).tocsr() if sp.issparse(S) else (S + S.T) * 0.5
    return S, d


@dataclass(frozen=True)
class DiffusionOperator:
    """Everything a diffusion map needs from one affinity matrix.

    Attributes
    ----------
    S
        Symmetric conjugate of the Markov matrix.
    density
        Kernel row sums ``q`` before α-normalisation.
    degrees
        Row sums ``d`` of the α-normalised kernel.
    stationary
        Stationary distribution ``d / sum(d)``.
    alpha
        The α used.
    """

    S: sp.csr_matrix | np.ndarray
    density: np.ndarray
    degrees: np.ndarray
    stationary: np.ndarray
    alpha: float


def diffusion_operator(K, alpha: float) -> DiffusionOperator:
    """Build the α-normalised symmetric diffusion operator from affinities ``K``."""
    K_alpha, q = alpha_normalize(K, alpha)
    S, d = symmetric_conjugate(K_alpha)
    return DiffusionOperator(S=S, density=q, degrees=d, stationary=d / d.sum(), alpha=alpha)
