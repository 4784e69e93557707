"""Dense textbook implementations, written independently of the package, to test against.

Everything here is O(n^2) or O(n^3) and uses only numpy on full matrices: pairwise distances,
kNN masks by argsort, the Markov matrix P itself, and a general (non-symmetric) eigensolver.
"""

from __future__ import annotations

import numpy as np


def pairwise_distances(X: np.ndarray) -> np.ndarray:
    diff = X[:, None, :] - X[None, :, :]
    return np.sqrt((diff**2).sum(axis=-1))


def knn_mask(D: np.ndarray, k: int) -> np.ndarray:
    """mask[i, j] is True when j is among the k nearest points to i (i itself excluded)."""
    n = D.shape[0]
    work = D.copy()
    np.fill_diagonal(work, np.inf)
    order = np.argsort(work, axis=1, kind="stable")[:, :k]
    mask = np.zeros((n, n), dtype=bool)
    mask[np.arange(n)[:, None], order] = True
    return mask


def knn_gaussian_kernel(X: np.ndarray, k: int, epsilon: float) -> np.ndarray:
    """exp(-d^2/eps) on the union-symmetrised kNN graph, 1 on the diagonal, 0 elsewhere."""
    D = pairwise_distances(X)
    mask = knn_mask(D, k)
    mask = mask | mask.T
    K = np.where(mask, np.exp(-(D**2) / epsilon), 0.0)
    np.fill_diagonal(K, 1.0)
    return K


def knn_adaptive_kernel(X: np.ndarray, k: int) -> np.ndarray:
    """exp(-d^2/(sigma_i sigma_j)), sigma_i = distance to the k-th nearest other point."""
    D = pairwise_distances(X)
    work = D.copy()
    np.fill_diagonal(work, np.inf)
    sigma = np.sort(work, axis=1)[:, k - 1]
    mask = knn_mask(D, k)
    mask = mask | mask.T
    K = np.where(mask, np.exp(-(D**2) / np.outer(sigma, sigma)), 0.0)
    np.fill_diagonal(K, 1.0)
    return K


def markov_from_kernel(K: np.ndarray, alpha: float) -> np.ndarray:
    """P = D^-1 K_alpha with K_alpha = K / (q q^T)^alpha, q = row sums of K."""
    q = K.sum(axis=1)
    K_alpha = K / np.outer(q, q) ** alpha
    return K_alpha / K_alpha.sum(axis=1, keepdims=True)


def stationary_by_eig(P: np.ndarray) -> np.ndarray:
    """Left eigenvector of P for eigenvalue 1, normalised to sum 1."""
    vals, vecs = np.linalg.eig(P.T)
    v = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
    return v / v.sum()


def right_eigenpairs(P: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The m + 1 largest eigenpairs of P by a general eigensolver, trivial pair first.

    Right eigenvectors are normalised so that sum(pi * psi^2) = 1.
    """
    vals, vecs = np.linalg.eig(P)
    order = np.argsort(-np.real(vals))[: m + 1]
    vals = np.real(vals[order])
    vecs = np.real(vecs[:, order])
    pi = stationary_by_eig(P)
    vecs = vecs / np.sqrt((pi[:, None] * vecs**2).sum(axis=0))
    return vals, vecs


def diffusion_map(X: np.ndarray, k: int, epsilon: float, alpha: float, m: int, t: float):
    """Textbook diffusion map: eigenvalues (trivial dropped), psi, coordinates psi * lam^t, pi."""
    P = markov_from_kernel(knn_gaussian_kernel(X, k, epsilon), alpha)
    vals, vecs = right_eigenpairs(P, m)
    pi = stationary_by_eig(P)
    return vals[1:], vecs[:, 1:], vecs[:, 1:] * vals[1:] ** t, pi, P


def align_signs(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Flip the columns of B to best match A."""
    signs = np.sign((A * B).sum(axis=0))
    signs[signs == 0] = 1
    return B * signs
