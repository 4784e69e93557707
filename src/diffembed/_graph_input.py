"""networkx graphs as input: one conversion for node builders, the smoother and the hierarchy.

networkx is imported only when a networkx graph is given (``pip install 'diffembed[graph]'``);
recognising one needs no import. A graph becomes a CSR adjacency over its nodes in
``graph.nodes()`` order (or a given order), weights from the ``weight`` edge attribute (1 when
absent), parallel edges of a multigraph summed; callers keep the node names as keys of their
output (``NodeVectors`` keys, ``index_``, ``node_names_``).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from .exceptions import InputError

__all__ = [
    "graph_index",
    "hierarchy_input",
    "is_networkx",
    "networkx_adjacency",
    "smoother_graph",
]


def is_networkx(obj: Any) -> bool:
    """Whether ``obj`` is a networkx graph (checked without importing networkx)."""
    return type(obj).__module__.split(".")[0] == "networkx" and hasattr(obj, "nodes")


def networkx_adjacency(
    graph: Any,
    *,
    nodelist: Sequence[Hashable] | None = None,
    weight: str | None = "weight",
    symmetrize: bool = False,
) -> tuple[sp.csr_matrix, list[Hashable]]:
    """The float64 CSR adjacency of a networkx graph and the node of every row.

    Parameters
    ----------
    graph
        A networkx ``Graph``, ``DiGraph``, ``MultiGraph`` or ``MultiDiGraph``.
    nodelist
        Row order; default ``list(graph.nodes())``. Nodes of the graph not in ``nodelist`` are
        left out; a name of ``nodelist`` not in the graph is an error.
    weight
        Edge attribute holding the weight (1 where an edge lacks it); None for 1 everywhere.
    symmetrize
        Return ``max(A, Aᵀ)`` (a directed edge becomes undirected).
    """
    import networkx as nx

    nodes = list(graph.nodes()) if nodelist is None else list(nodelist)
    if not nodes:
        msg = "The networkx graph has no nodes; there is nothing to work on."
        raise InputError(msg)
    try:
        A = nx.to_scipy_sparse_array(graph, nodelist=nodes, weight=weight, format="csr")
    except nx.NetworkXError as exc:
        msg = f"Cannot read the networkx graph: {exc}. Give node names that are in the graph."
        raise InputError(msg) from exc
    except (TypeError, ValueError) as exc:
        msg = (
            f"The networkx graph has an edge {weight!r} attribute that is not a number ({exc}); "
            "weights must be numbers (or pass weighted=False)."
        )
        raise InputError(msg) from exc
    A = sp.csr_matrix(A, dtype=np.float64)
    if symmetrize and (A != A.T).nnz:
        A = sp.csr_matrix(A.maximum(A.T))
    return A, nodes


def graph_index(
    graph: Any, index: Sequence[Hashable] | None, n_rows: int
) -> Sequence[Hashable] | None:
    """The smoother's row labels: ``index`` if given, else a networkx graph's node names."""
    if index is None and is_networkx(graph):
        nodes = list(graph.nodes())
        if len(nodes) != n_rows:
            msg = (
                f"The networkx graph has {len(nodes)} nodes but X has {n_rows} rows; pass "
                "index= with the node name of every row."
            )
            raise InputError(msg)
        return nodes
    return index


def smoother_graph(graph: Any, index: Sequence[Hashable]) -> Any:
    """A networkx ``graph=`` of the smoother as a symmetric adjacency over the rows ``index``.

    Rows whose label is not a node get no edge; nodes that label no row are left out (with a
    warning saying how many). Any other ``graph`` is returned unchanged.
    """
    if not is_networkx(graph):
        return graph
    index = list(index)
    present = [label in graph for label in index]
    missing = len(index) - sum(present)
    if missing == len(index):
        shown = ", ".join(repr(x) for x in index[:3])
        msg = (
            f"None of the {len(index)} row labels (e.g. {shown}) is a node of the networkx "
            "graph; pass index= with the node names of the rows."
        )
        raise InputError(msg)
    rows = [label for label, ok in zip(index, present, strict=True) if ok]
    outside = graph.number_of_nodes() - len(set(rows))
    if outside:
        warnings.warn(
            f"{outside} node(s) of the networkx graph label no row of X and were left out.",
            stacklevel=4,
        )
    A, _ = networkx_adjacency(graph, nodelist=rows, symmetrize=True)
    where = np.flatnonzero(present)
    A = A.tocoo()
    full = sp.csr_matrix(
        (A.data, (where[A.row], where[A.col])), shape=(len(index), len(index))
    )
    return full


def hierarchy_input(X: Any, *, metric: str, affinity: str) -> tuple[Any, list[Hashable] | None]:
    """For :class:`~diffembed.DiffusionHierarchy`: a networkx graph → (adjacency, node names).

    Edge weights are affinities with ``affinity="precomputed"`` and distances with
    ``metric="precomputed"``; other input is returned as it is, with ``None`` names.
    """
    if not is_networkx(X):
        return X, None
    if affinity != "precomputed" and metric != "precomputed":
        msg = (
            "X is a networkx graph: say what its 'weight' attributes are with "
            "affinity='precomputed' (similarities, e.g. edge counts) or metric='precomputed' "
            "(distances)."
        )
        raise InputError(msg)
    A, nodes = networkx_adjacency(X, symmetrize=True)
    return A, nodes
