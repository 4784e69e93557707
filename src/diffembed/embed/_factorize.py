"""Truncated SVD with eigenvalue weighting, shared by the word, node and LSA recipes."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import check_int, check_real
from ..exceptions import InputError

__all__ = ["check_dim", "truncated_svd", "weighted_factors"]


def check_dim(dim: Any, n_max: int, *, what: str, param: str = "dim") -> int:
    """``dim`` as an int in ``[1, n_max − 1]``, or an :class:`InputError` with the fix."""
    if n_max < 2:
        msg = (
            f"There are only {n_max} {what}, too few for any {param}: a factorisation needs at "
            "least 2."
        )
        raise InputError(msg)
    dim = check_int(dim, param, low=1)
    if dim >= n_max:
        msg = (
            f"{param}={dim} must be smaller than the number of {what} ({n_max}), which bounds the "
            f"rank of the matrix being factorised. Use {param}={n_max - 1} or less."
        )
        raise InputError(msg)
    return dim


def truncated_svd(
    M: sp.spmatrix | np.ndarray,
    dim: int,
    *,
    n_iter: int = 5,
    random_state: int | None = 0,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``dim`` singular triplets ``U, s, Vt`` of ``M``, signs fixed, ``s`` decreasing.

    A dense ``M`` smaller than 500 rows/columns (or with ``dim`` near its size) gets an exact
    LAPACK SVD; otherwise scikit-learn's ``randomized_svd`` (Halko et al. 2011) with
    ``n_iter`` power iterations. Signs make the largest-magnitude entry of every column of
    ``U`` positive, so results are deterministic given ``random_state``. ``threads`` caps the
    BLAS threads (threadpoolctl) for the duration: on a busy machine an oversubscribed
    multi-threaded QR can be 10–30× slower than a single-threaded one.
    """
    n_iter = check_int(n_iter, "n_iter", low=0)
    if threads is not None:
        from threadpoolctl import threadpool_limits

        threads = check_int(threads, "threads", low=1)
        with threadpool_limits(limits=threads, user_api="blas"):
            return truncated_svd(M, dim, n_iter=n_iter, random_state=random_state)
    small = min(M.shape) <= 500 or dim > min(M.shape) // 4
    if small and (not sp.issparse(M) or M.shape[0] * M.shape[1] <= 4e7):
        dense = M.toarray() if sp.issparse(M) else np.asarray(M)
        U, s, Vt = np.linalg.svd(dense.astype(np.float64, copy=False), full_matrices=False)
        U, s, Vt = U[:, :dim], s[:dim], Vt[:dim]
    else:
        from sklearn.utils.extmath import randomized_svd

        U, s, Vt = randomized_svd(M, dim, n_iter=n_iter, random_state=random_state, flip_sign=False)
    pivot = np.abs(U).argmax(axis=0)
    signs = np.sign(U[pivot, np.arange(U.shape[1])])
    signs[signs == 0] = 1
    U *= signs  # in place: U and Vt are fresh arrays, and each is as large as the result
    Vt *= signs[:, None]
    return U, s, Vt


def weighted_factors(
    U: np.ndarray, s: np.ndarray, Vt: np.ndarray, eig: float, *, copy: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column factors ``U Σ^p`` and ``V Σ^p`` (eigenvalue weighting ``p = eig``).

    ``copy=False`` scales ``U`` and ``Vt`` in place and returns them (``Vt`` transposed, a
    view), which saves two arrays of their size.
    """
    eig = check_real(eig, "eig", low=0.0, high=1.0)
    weight = (s**eig).astype(np.result_type(U.dtype, Vt.dtype), copy=False)
    if copy:
        return U * weight, Vt.T * weight
    U *= weight
    C = Vt.T
    C *= weight
    return U, C
