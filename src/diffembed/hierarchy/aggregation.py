"""Upward aggregation of per-point signals over nested levels, and coarse Markov operators.

Everything here is exact bookkeeping on a list of nested partitions (labels per level):

- weighted means, sums and majority votes per node, for every level in one pass each;
- Haar-like coefficients (Gavish, Nadler & Coifman 2010): for a node ``c`` with parent ``v``,
  ``d_c = f(c) - f(v)``; :func:`reconstruct` rebuilds f exactly from the root mean and them;
- the Lafon–Lee coarse operator ``P_ℓ = (QᵀΠQ)⁻¹ QᵀΠ P Q`` of a partition ``Q``, which keeps
  the stationary distribution: ``π_ℓ = Qᵀ π`` and ``π_ℓ P_ℓ = π_ℓ``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from ..exceptions import InputError

__all__ = ["coarse_operator", "haar_coefficients", "membership", "node_means", "reconstruct"]

How = Literal["mean", "sum", "vote"]


def membership(labels: np.ndarray, n_nodes: int | None = None) -> sp.csr_matrix:
    """Membership matrix Q (n × k) with ``Q[i, labels[i]] = 1``."""
    labels = np.asarray(labels, dtype=np.int64)
    k = int(labels.max()) + 1 if n_nodes is None else n_nodes
    return sp.csr_matrix(
        (np.ones(labels.size), (np.arange(labels.size), labels)), shape=(labels.size, k)
    )


def node_means(
    labels: np.ndarray, values: np.ndarray, weights: np.ndarray | None = None, how: How = "mean"
) -> np.ndarray:
    """Aggregate ``values`` (n, p) over the clusters of ``labels``: weighted mean, sum or vote.

    ``"vote"`` returns the weighted majority value of a 1-D label-like signal per node (ties to
    the smallest value).
    """
    labels = np.asarray(labels, dtype=np.int64)
    k = int(labels.max()) + 1
    w = np.ones(labels.size) if weights is None else np.asarray(weights, dtype=np.float64)
    if how == "vote":
        vals = np.asarray(values)
        if vals.ndim != 1:
            msg = f"how='vote' aggregates one label per point; got values of shape {vals.shape}."
            raise InputError(msg)
        classes, code = np.unique(vals, return_inverse=True)
        tally = np.zeros((k, classes.size))
        np.add.at(tally, (labels, code), w)
        return classes[np.argmax(tally, axis=1)]
    vals = np.asarray(values, dtype=np.float64)
    flat = vals.reshape(vals.shape[0], -1)
    sums = np.zeros((k, flat.shape[1]))
    np.add.at(sums, labels, flat * w[:, None])
    if how == "sum":
        out = sums
    else:
        mass = np.bincount(labels, weights=w, minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = sums / mass[:, None]
    return out.reshape((k, *vals.shape[1:]))


def haar_coefficients(
    levels: list[np.ndarray], values: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Root mean and per-level differences ``f_ℓ(node) - f_{ℓ+1}(parent)`` of a signal.

    Parameters
    ----------
    levels
        Nested labels, fine → coarse; the first may be the singletons.
    values
        Signal, shape (n,) or (n, p).
    weights
        Point weights (default 1).

    Returns
    -------
    root : ndarray
        Weighted mean of the whole signal.
    details : list of ndarray
        ``details[0]`` = f - f_0(parent) per point, ``details[ℓ + 1]`` = f_ℓ - f_{ℓ+1}(parent)
        per node of level ℓ (the last level's parent is the root).
    """
    vals = np.asarray(values, dtype=np.float64)
    n = vals.shape[0]
    chain = [np.arange(n)] + [np.asarray(lv) for lv in levels] + [np.zeros(n, dtype=np.int64)]
    means = [node_means(lv, vals, weights) for lv in chain]
    details = []
    for fine, coarse, f_fine, f_coarse in zip(
        chain[:-1], chain[1:], means[:-1], means[1:], strict=True
    ):
        parent = np.zeros(int(fine.max()) + 1, dtype=np.int64)
        parent[fine] = coarse
        details.append(f_fine - f_coarse[parent])
    return means[-1][0], details


def reconstruct(
    levels: list[np.ndarray], root: np.ndarray, details: list[np.ndarray]
) -> np.ndarray:
    """Invert :func:`haar_coefficients`: rebuild the per-point signal from root and details."""
    n = levels[0].size if levels else details[0].shape[0]
    chain = [np.arange(n)] + [np.asarray(lv) for lv in levels] + [np.zeros(n, dtype=np.int64)]
    current = np.asarray(root, dtype=np.float64)[None, ...]
    for depth in range(len(chain) - 2, -1, -1):
        fine, coarse = chain[depth], chain[depth + 1]
        parent = np.zeros(int(fine.max()) + 1, dtype=np.int64)
        parent[fine] = coarse
        current = current[parent] + details[depth]
    return current


def coarse_operator(
    P: sp.spmatrix | np.ndarray, pi: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lafon–Lee coarse Markov matrix of a partition and its stationary distribution.

    ``P_c = (QᵀΠQ)⁻¹ QᵀΠ P Q`` with ``Q`` the membership matrix and ``Π = diag(π)``: the
    probability of moving from node a to node b in one step, starting from a point of a drawn
    from π restricted to a. ``P_c`` is row-stochastic and ``π_c = Qᵀπ`` is stationary for it.

    Returns
    -------
    P_coarse : ndarray, shape (k, k)
    pi_coarse : ndarray, shape (k,)
    """
    Q = membership(labels)
    pi = np.asarray(pi, dtype=np.float64)
    pi_c = np.asarray(Q.T @ pi).ravel()
    flow = Q.T @ (sp.diags(pi) @ sp.csr_matrix(P)) @ Q  # QᵀΠPQ
    flow = flow.toarray() if sp.issparse(flow) else np.asarray(flow)
    with np.errstate(invalid="ignore", divide="ignore"):
        P_c = flow / pi_c[:, None]
    return P_c, pi_c
