"""Nyström out-of-sample extension of a fitted diffusion map.

A new point x gets transition probabilities to the fitted points,

.. math:: p(x, x_j) \\propto k(x, x_j) / q_j^{\\alpha},

with the fitted bandwidth (or self-tuning scales) and the fitted kernel densities
:math:`q_j`, and its coordinates are

.. math:: \\psi_k(x) = \\sum_j p(x, x_j) \\psi_k(x_j) / \\lambda_k

(Coifman & Lafon 2006, section 4; Bengio et al. 2004).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .kernels import kth_neighbor_distances

__all__ = ["nystrom_weights"]


def nystrom_weights(
    distances: sp.csr_matrix,
    *,
    bandwidth: float,
    alpha: float,
    density: np.ndarray,
    local_scales: np.ndarray | None = None,
    n_neighbors: int | None = None,
) -> sp.csr_matrix:
    """Row-stochastic transition weights from new points (rows) to fitted points (columns).

    Parameters
    ----------
    distances
        CSR distances from each new point to its nearest fitted points, shape
        (n_new, n_fitted).
    bandwidth
        The fitted ε of ``exp(-d^2 / epsilon)`` (ignored when ``local_scales`` is given).
    alpha
        The fitted α.
    density
        Kernel row sums q of the fitted points, before α-normalisation.
    local_scales
        σ_j of the fitted points for the self-tuning kernel ``exp(-d^2 / (σ_x σ_j))``; σ_x is
        the distance from x to its ``n_neighbors``-th nearest fitted point.
    n_neighbors
        k for σ_x (self-tuning kernel only).

    Returns
    -------
    scipy.sparse.csr_matrix
        Rows sum to 1.

    Notes
    -----
    ``log w_ij = -d_ij^2 / eps_ij - alpha * log q_j`` is computed in log space and each row's
    maximum is subtracted before exponentiating. This changes nothing after row
    normalisation, but a point far from the data keeps finite weights (on its nearest fitted
    points) instead of underflowing to 0/0.
    """
    coo = distances.tocoo()
    d = coo.data.astype(np.float64)
    if local_scales is not None:  # (d/σ_x)(d/σ_j): scale-free, no under- or overflow
        k = n_neighbors if n_neighbors is not None else int(np.diff(distances.indptr).max())
        query_scales = kth_neighbor_distances(distances.tocsr(), k)
        scaled = (d / query_scales[coo.row]) * (d / local_scales[coo.col])
    else:
        with np.errstate(over="ignore"):
            scaled = (d / np.sqrt(bandwidth)) ** 2
    logw = -scaled - alpha * np.log(density)[coo.col]
    n_rows = distances.shape[0]
    row_max = np.full(n_rows, -np.inf)
    np.maximum.at(row_max, coo.row, logw)
    w = np.exp(logw - row_max[coo.row])
    sums = np.bincount(coo.row, weights=w, minlength=n_rows)
    return sp.csr_matrix((w / sums[coo.row], (coo.row, coo.col)), shape=distances.shape)
