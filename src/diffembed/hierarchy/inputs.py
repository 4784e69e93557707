"""Reading the input of a hierarchy: points, a distance graph, or an affinity graph."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import check_data_matrix
from ..diffusion_checks import check_magnitude
from ..exceptions import InputError
from ..neighbors import graph_from_precomputed, knn_graph

__all__ = ["read_input"]


def read_input(
    X: Any, *, metric: str, affinity: str, n_neighbors: int, knn: str
) -> tuple[sp.csr_matrix, Any, bool, int]:
    """Validate X; return ``(graph, points or None, graph_is_affinity, n_features_in)``.

    Points give their kNN distance graph, ``metric="precomputed"`` a distance graph and
    ``affinity="precomputed"`` the symmetrised affinity matrix without self-loops.
    """
    if affinity == "precomputed" or metric == "precomputed":
        what = "affinity" if affinity == "precomputed" else "distance"
        if sp.issparse(X):
            G = sp.csr_matrix(X, dtype=np.float64)
        else:
            G = check_data_matrix(X, name=f"the precomputed {what} matrix")
        n = G.shape[0]
        if G.ndim != 2 or G.shape[0] != G.shape[1]:
            msg = f"A precomputed {what} matrix must be square, got shape {G.shape}."
            raise InputError(msg)
        if n < 2:
            msg = f"X has {n} sample(s); a hierarchy needs at least 2 points."
            raise InputError(msg)
        values = G.data if sp.issparse(G) else G
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            msg = (
                f"The precomputed {what} matrix must hold finite, non-negative values; "
                "drop or repair NaN, infinite or negative entries."
            )
            raise InputError(msg)
        if what == "affinity":
            G = sp.csr_matrix(G)
            G.setdiag(0)
            G.eliminate_zeros()
            if G.nnz == 0 or np.any(np.diff(G.indptr) == 0):
                empty = int(np.sum(np.diff(G.indptr) == 0))
                msg = (
                    f"The affinity matrix has {empty} node(s) with no edge to another node; "
                    "drop isolated nodes or add edges before building a hierarchy."
                )
                raise InputError(msg)
            return G.maximum(G.T).tocsr(), None, True, n
        return graph_from_precomputed(G, min(n_neighbors, n - 1)), None, False, n
    if sp.issparse(X):
        Xv: Any = sp.csr_matrix(X, dtype=np.float64)
        if Xv.shape[0] < 2:
            msg = f"X has {Xv.shape[0]} sample(s); a hierarchy needs at least 2 points."
            raise InputError(msg)
        if not np.isfinite(Xv.data).all():
            msg = "X contains NaN or infinite values. Drop or impute those entries first."
            raise InputError(msg)
        check_magnitude(Xv)  # squared distances must not over- or underflow (as in the map)
        spread = (Xv.max(axis=0) - Xv.min(axis=0)).toarray()
    else:
        Xv = check_data_matrix(X, min_samples=2)
        check_magnitude(Xv)
        spread = np.ptp(Xv, axis=0)
    if not np.any(spread > 0):
        msg = (
            f"All {Xv.shape[0]} points of X are identical, so there is nothing to "
            "organise into a hierarchy. Check the input (a constant column block, a failed "
            "join?) or drop duplicate rows."
        )
        raise InputError(msg)
    k = min(n_neighbors, Xv.shape[0] - 1)
    graph, _ = knn_graph(Xv, k, method=knn, metric=metric)
    return graph, Xv, False, Xv.shape[1]
