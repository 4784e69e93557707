"""Intrinsic-dimension estimates from kNN distances.

The Berry–Giannakis–Harlim slope (:func:`diffembed.kernels.estimate_bandwidth`) is biased low
on a truncated kNN kernel (the kernel sum saturates at k + 1), so the dimension that
:class:`~diffembed.DiffusionMap` reports is the maximum-likelihood estimate of Levina & Bickel
(2004), averaged over points as MacKay & Ghahramani (2005) recommend:

.. math:: \\hat m = \\Big[\\frac{1}{n}\\sum_i \\frac{1}{k-1}\\sum_{j=1}^{k-1}
          \\log\\frac{T_k(x_i)}{T_j(x_i)}\\Big]^{-1}

with :math:`T_j(x)` the distance from x to its j-th nearest neighbour.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["mle_dimension"]


def mle_dimension(distances: sp.csr_matrix, n_neighbors: int | None = None) -> float:
    """Levina–Bickel maximum-likelihood intrinsic dimension from a kNN distance graph.

    Parameters
    ----------
    distances
        CSR graph of neighbour distances (self excluded), as from
        :func:`diffembed.neighbors.knn_graph`.
    n_neighbors
        k of the estimator (default: every stored neighbour, at most 20).

    Returns
    -------
    float
        The estimate; NaN when fewer than 3 neighbours per point are available.
    """
    lengths = np.diff(distances.indptr)
    k = int(lengths.min()) if n_neighbors is None else min(n_neighbors, int(lengths.min()))
    k = min(k, 20)
    if k < 3:
        return float("nan")
    rows = np.repeat(np.arange(distances.shape[0]), lengths)
    order = np.lexsort((distances.data, rows))
    data = distances.data[order]
    starts = distances.indptr[:-1]
    T = np.stack([data[starts + j] for j in range(k)], axis=1)
    # Points with duplicates (zero distances) carry no scale information: skip them.
    ok = T[:, 0] > 0
    if not ok.any():
        return float("nan")
    T = T[ok]
    inv = np.log(T[:, -1:] / T[:, :-1]).mean(axis=1)
    return float(1.0 / inv.mean())
