"""Graph inputs for node embeddings: edge-list files, networkx graphs, sparse or dense adjacency.

Every input becomes an undirected, non-negative, symmetric CSR adjacency without self-loops,
plus the node ids in row order and a report of what was changed:

- directed input is made undirected: ``A ← max(A, Aᵀ)`` (an edge listed in both directions
  counts once);
- self-loops are dropped (reported, with a warning);
- duplicate edges (the same unordered pair twice in an edge list) keep the largest weight by
  default (``duplicates="sum"`` adds them up, ``"raise"`` refuses them);
- negative, NaN or non-numeric weights, an empty graph or a single node are errors;
- isolated nodes (no edge left) are an error by default (random walks and NetMF need a
  degree), or dropped with ``isolated="drop"`` (reported);
- several connected components are allowed and reported (each is embedded on its own terms).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from .._graph_input import is_networkx, networkx_adjacency
from ..exceptions import InputError

__all__ = ["Graph", "as_graph", "read_edge_list"]

_HEADER_NAMES = {
    "source", "target", "from", "to", "src", "dst", "u", "v", "node1", "node2", "node_1",
    "node_2", "id_1", "id_2", "id1", "id2", "head", "tail", "weight", "i", "j",
}  # fmt: skip


@dataclass
class Graph:
    """An undirected graph ready for embedding.

    Attributes
    ----------
    adjacency : scipy.sparse.csr_matrix
        Symmetric, non-negative, zero diagonal, no empty row.
    nodes : list
        Node id of every row.
    report : dict
        ``n_nodes``, ``n_edges``, ``weighted``, ``self_loops_dropped``, ``duplicate_edges``,
        ``symmetrized``, ``isolated_dropped``, ``n_components``, ``component_sizes`` (largest 10).
    """

    adjacency: sp.csr_matrix
    nodes: list[Hashable]
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.adjacency.shape[0])


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def read_edge_list(
    path: str | os.PathLike[str],
    *,
    delimiter: str | None = None,
    header: bool | None = None,
    comment: str = "#",
) -> tuple[list[Hashable], np.ndarray, np.ndarray, np.ndarray]:
    """Read an edge list: ``source target [weight]`` per line.

    Parameters
    ----------
    path
        A ``.csv`` (comma), ``.tsv`` (tab) or other text file (any whitespace).
    delimiter
        Field separator (default from the suffix).
    header
        Whether the first line names the columns (default: detected, e.g. ``source,target``).
    comment
        Lines starting with it are skipped.

    Returns
    -------
    nodes : list
        Node ids: sorted ints when every id is an integer, else strings in order of appearance.
    rows, cols : ndarray of int64
        Positions of the two ends in ``nodes``.
    weights : ndarray of float64
        Edge weights (1 when the file has two columns).
    """
    path = Path(path)
    if not path.is_file():
        msg = f"The edge list {path} does not exist or is not a file. Check the path."
        raise InputError(msg)
    if delimiter is None:
        suffix = path.name.lower().removesuffix(".gz")
        delimiter = "," if suffix.endswith(".csv") else "\t" if suffix.endswith(".tsv") else None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        msg = f"The edge list {path} is not UTF-8 text ({exc.reason}); convert it first."
        raise InputError(msg) from exc
    lines = [
        (n, ln)
        for n, ln in enumerate(text.splitlines(), 1)
        if ln.strip() and not ln.lstrip().startswith(comment)
    ]
    if not lines:
        msg = f"The edge list {path} has no edges (it is empty or only comments)."
        raise InputError(msg)
    fields = [[f.strip() for f in ln.split(delimiter)] for _, ln in lines]
    if header is None:
        first = [f.lower() for f in fields[0]]
        header = bool(first[:2]) and (
            all(f in _HEADER_NAMES for f in first[:2])
            or (len(first) > 2 and _number(first[2]) is None)
        )
    if header:
        lines, fields = lines[1:], fields[1:]
    if not fields:
        msg = f"The edge list {path} has a header line but no edges."
        raise InputError(msg)
    width = len(fields[0])
    sources, targets, weights = [], [], []
    for (number, _), row in zip(lines, fields, strict=True):
        if len(row) != width or width not in (2, 3):
            msg = (
                f"{path}, line {number}: expected {'2 or 3' if width not in (2, 3) else width} "
                f"fields (source, target[, weight]), got {len(row)}: {row[:4]}. Use one edge "
                "per line; set the delimiter if it is not detected from the suffix."
            )
            raise InputError(msg)
        sources.append(row[0])
        targets.append(row[1])
        if width == 3:
            w = _number(row[2])
            if w is None or not math.isfinite(w):
                msg = f"{path}, line {number}: the weight {row[2]!r} is not a finite number."
                raise InputError(msg)
            weights.append(float(w))
    ids = sources + targets
    if all(_number(x) is not None and float(x).is_integer() for x in ids):
        as_int = np.array([int(float(x)) for x in ids], dtype=np.int64)
        nodes_arr, codes = np.unique(as_int, return_inverse=True)
        nodes: list[Hashable] = nodes_arr.tolist()
    else:
        order: dict[str, int] = {}
        codes = np.array([order.setdefault(x, len(order)) for x in ids], dtype=np.int64)
        nodes = list(order)
    m = len(sources)
    w_arr = np.asarray(weights, dtype=np.float64) if width == 3 else np.ones(m)
    return nodes, codes[:m], codes[m:], w_arr


def as_graph(
    graph: Any,
    *,
    weighted: bool = True,
    duplicates: Literal["max", "sum", "raise"] = "max",
    isolated: Literal["raise", "drop"] = "raise",
    delimiter: str | None = None,
) -> Graph:
    """Turn any supported graph input into a :class:`Graph`.

    Parameters
    ----------
    graph
        A path to an edge list (see :func:`read_edge_list`), a networkx graph (directed
        graphs are symmetrised, multigraph edges summed), a square scipy sparse matrix or a
        square numpy array (adjacency, symmetrised if needed), or a :class:`Graph`.
    weighted
        Use the edge weights (networkx ``"weight"`` attribute, third column, matrix values);
        False sets every edge to 1.
    duplicates
        For edge lists: how repeated unordered pairs combine.
    isolated
        ``"raise"`` (default) or ``"drop"`` nodes without any edge.
    delimiter
        Field separator of an edge-list file.
    """
    if isinstance(graph, Graph):
        return graph
    report: dict[str, Any] = {"symmetrized": False, "duplicate_edges": 0}
    if isinstance(graph, str | os.PathLike):
        nodes, r, c, w = read_edge_list(graph, delimiter=delimiter)
        if (w < 0).any():
            i = int(np.flatnonzero(w < 0)[0])
            msg = (
                f"The edge list {graph} has {int((w < 0).sum())} negative weight(s) (e.g. "
                f"{nodes[r[i]]!r}–{nodes[c[i]]!r}: {w[i]}). Edge weights must be >= 0; fix or "
                "drop those edges."
            )
            raise InputError(msg)
        A, n_dup = _from_edges(len(nodes), r, c, w if weighted else np.ones_like(w), duplicates)
        report["duplicate_edges"] = n_dup
        report["source"] = str(graph)
    elif is_networkx(graph):
        A, nodes = networkx_adjacency(graph, weight="weight" if weighted else None)
        report["source"] = f"networkx {type(graph).__name__}"
    elif sp.issparse(graph) or isinstance(graph, np.ndarray):
        if graph.ndim != 2 or graph.shape[0] != graph.shape[1]:
            msg = f"An adjacency matrix must be square; got shape {graph.shape}."
            raise InputError(msg)
        A = sp.csr_matrix(graph, dtype=np.float64)
        nodes = list(range(A.shape[0]))
        report["source"] = "sparse adjacency" if sp.issparse(graph) else "dense adjacency"
        if not weighted:
            A.data[:] = 1.0
    else:
        msg = (
            f"Cannot read a graph from {type(graph).__name__}. Give an edge-list path (CSV/TSV), "
            "a networkx graph, or a square scipy.sparse / numpy adjacency matrix."
        )
        raise InputError(msg)
    return _finish(A, nodes, report, weighted=weighted, isolated=isolated)


def _from_edges(
    n: int, r: np.ndarray, c: np.ndarray, w: np.ndarray, duplicates: str
) -> tuple[sp.csr_matrix, int]:
    if duplicates not in ("max", "sum", "raise"):
        msg = f"duplicates={duplicates!r} is not supported; choose 'max', 'sum' or 'raise'."
        raise InputError(msg)
    lo, hi = np.minimum(r, c), np.maximum(r, c)
    key = lo * n + hi
    unique, counts = np.unique(key, return_counts=True)
    n_dup = int((counts - 1).sum())
    if n_dup and duplicates == "raise":
        msg = (
            f"The edge list has {n_dup} duplicate edge(s) (the same pair of nodes listed more "
            "than once, in either direction). Remove them, or pass duplicates='max' / 'sum'."
        )
        raise InputError(msg)
    if duplicates == "sum":
        weights = np.bincount(np.searchsorted(unique, key), weights=w)
    else:
        weights = np.full(unique.size, -np.inf)
        np.maximum.at(weights, np.searchsorted(unique, key), w)
    u_lo, u_hi = unique // n, unique % n
    A = sp.coo_matrix((weights, (u_lo, u_hi)), shape=(n, n)).tocsr()
    A = A + sp.triu(A, k=1).T
    return sp.csr_matrix(A), n_dup


def _finish(
    A: sp.csr_matrix,
    nodes: list[Hashable],
    report: dict[str, Any],
    *,
    weighted: bool,
    isolated: str,
) -> Graph:
    from scipy.sparse.csgraph import connected_components

    if isolated not in ("raise", "drop"):
        msg = f"isolated={isolated!r} is not supported; choose 'raise' or 'drop'."
        raise InputError(msg)
    n = A.shape[0]
    if n == 0:
        msg = "The graph has no nodes; there is nothing to embed."
        raise InputError(msg)
    A.sum_duplicates()
    if A.nnz and (not np.isfinite(A.data).all() or A.data.min() < 0):
        msg = (
            "The adjacency has negative, NaN or infinite weights. Edge weights must be finite "
            "and >= 0."
        )
        raise InputError(msg)
    loops = int(np.count_nonzero(A.diagonal()))
    if loops:
        A.setdiag(0)
        warnings.warn(
            f"Dropped {loops} self-loop(s): node embeddings use edges between distinct nodes.",
            stacklevel=3,
        )
    A.eliminate_zeros()
    if (A != A.T).nnz:
        A = A.maximum(A.T).tocsr()
        report["symmetrized"] = True
    if report.get("duplicate_edges"):
        warnings.warn(
            f"{report['duplicate_edges']} duplicate edge(s) in the edge list were merged.",
            stacklevel=3,
        )
    degree = np.asarray(A.sum(axis=1)).ravel()
    lonely = np.flatnonzero(degree == 0)
    report["isolated_dropped"] = 0
    if lonely.size == n:
        msg = (
            f"The graph has {n} node(s) but no edge between distinct nodes; node embeddings "
            "need edges."
        )
        raise InputError(msg)
    if lonely.size:
        if isolated == "raise":
            shown = ", ".join(repr(nodes[i]) for i in lonely[:5])
            msg = (
                f"{lonely.size} node(s) have no edge (e.g. {shown}); random walks and NetMF "
                "need every node to have a neighbour. Remove them, or pass isolated='drop' "
                "(--isolated drop) to embed the others."
            )
            raise InputError(msg)
        keep = np.flatnonzero(degree > 0)
        A = A[keep][:, keep].tocsr()
        nodes = [nodes[i] for i in keep]
        report["isolated_dropped"] = int(lonely.size)
        warnings.warn(f"Dropped {lonely.size} isolated node(s).", stacklevel=3)
    if A.shape[0] < 2:
        msg = "The graph has fewer than 2 connected nodes; there is nothing to embed."
        raise InputError(msg)
    n_comp, comp = connected_components(A, directed=False)
    sizes = np.sort(np.bincount(comp))[::-1]
    report.update(
        n_nodes=int(A.shape[0]),
        n_edges=int(sp.triu(A, k=1).nnz),
        weighted=bool(weighted),
        self_loops_dropped=loops,
        n_components=int(n_comp),
        component_sizes=sizes[:10].tolist(),
    )
    return Graph(A.astype(np.float64), nodes, report)
