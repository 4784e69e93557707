"""A networkx graph given directly equals the edge-list / sparse-matrix input; names are kept."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import diffembed as de
from diffembed.embed import deepwalk_matrix, netmf
from diffembed.exceptions import InputError
from diffembed.smoothing import DiffusionSmoother

nx = pytest.importorskip("networkx", reason="networkx is not installed (extra 'graph')")


@pytest.fixture(scope="module")
def edges():
    """Two weighted 12-node communities joined by one edge, nodes named by strings."""
    rng = np.random.default_rng(3)
    out = []
    for block in (0, 1):
        names = [f"{'ab'[block]}{i}" for i in range(12)]
        for i in range(12):
            for j in range(i + 1, 12):
                if rng.random() < 0.5 or j == i + 1:
                    out.append((names[i], names[j], float(rng.integers(1, 4))))
    out.append(("a11", "b0", 1.0))
    return out


@pytest.fixture(scope="module")
def graph(edges, edge_file):
    G = nx.Graph()
    G.add_nodes_from(de.embed.read_edge_list(edge_file)[0])  # the edge list's row order
    G.add_weighted_edges_from(edges)
    return G


@pytest.fixture(scope="module")
def edge_file(edges, tmp_path_factory):
    path = tmp_path_factory.mktemp("graph") / "edges.csv"
    path.write_text("source,target,weight\n" + "".join(f"{u},{v},{w:g}\n" for u, v, w in edges))
    return path


@pytest.mark.parametrize("builder", [netmf, deepwalk_matrix])
def test_node_builders_equal_edge_list_and_keep_names(builder, graph, edge_file):
    kw = {"dim": 4, "window": 3, "random_state": 0}
    from_graph = builder(graph, **kw)
    from_file = builder(edge_file, **kw)
    assert from_graph.keys == from_file.keys == list(graph.nodes())
    np.testing.assert_array_equal(from_graph.vectors, from_file.vectors)
    assert from_graph.info["graph"]["n_edges"] == graph.number_of_edges()
    assert from_graph.info["graph"]["source"] == "networkx Graph"
    assert from_graph.most_similar("a3", topn=1)[0][0].startswith("a")


def test_weights_come_from_the_weight_attribute(graph, edge_file):
    A = nx.to_scipy_sparse_array(graph, weight="weight")
    vec = netmf(sp.csr_matrix(A), dim=4, window=3)
    np.testing.assert_array_equal(netmf(graph, dim=4, window=3).vectors, vec.vectors)
    unweighted = netmf(graph, dim=4, window=3, weighted=False)
    np.testing.assert_array_equal(
        unweighted.vectors, netmf(edge_file, dim=4, window=3, weighted=False).vectors
    )
    assert not np.allclose(np.abs(unweighted.vectors), np.abs(vec.vectors))


def test_directed_and_multigraph_inputs(graph):
    D = nx.DiGraph()
    D.add_nodes_from(graph.nodes())
    D.add_weighted_edges_from((u, v, w["weight"]) for u, v, w in graph.edges(data=True))
    np.testing.assert_array_equal(netmf(D, dim=4).vectors, netmf(graph, dim=4).vectors)
    M = nx.MultiGraph()
    M.add_edge("x", "y", weight=1.0)
    M.add_edge("x", "y", weight=2.0)
    M.add_edge("y", "z", weight=3.0)
    g = de.embed.as_graph(M)
    assert g.nodes == ["x", "y", "z"]
    np.testing.assert_array_equal(g.adjacency.toarray(), [[0, 3, 0], [3, 0, 3], [0, 3, 0]])
    bad = nx.Graph()
    bad.add_edge("x", "y", weight="heavy")
    with pytest.raises(InputError, match="'weight' attribute that is not a number"):
        netmf(bad, dim=1)


def test_smoother_takes_a_networkx_graph(graph):
    rng = np.random.default_rng(0)
    nodes = list(graph.nodes())
    X = rng.normal(size=(len(nodes), 5))
    A = sp.csr_matrix(nx.to_scipy_sparse_array(graph, nodelist=nodes))
    reference = DiffusionSmoother(graph=A, monitor=False).fit_transform(X)
    sm = DiffusionSmoother(graph=graph, monitor=False)
    got = sm.fit_transform(X)
    assert sm.index_ == nodes
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-12)
    assert sm.graph_info_["n_edges"] == graph.number_of_edges()
    # rows in another order, labelled by node name: the same rows come out
    order = rng.permutation(len(nodes))
    shuffled = DiffusionSmoother(graph=graph, monitor=False).fit_transform(
        X[order], index=[nodes[i] for i in order]
    )
    np.testing.assert_allclose(shuffled, reference[order], rtol=0, atol=1e-12)
    # a row without a node gets no edge (kept as it is); nodes without a row are left out
    with pytest.warns(UserWarning, match="2 node\\(s\\) of the networkx graph label no row"):
        part = DiffusionSmoother(graph=graph, monitor=False, normalize=False).fit(
            X[:23], index=[*nodes[:22], "stranger"]
        )
    assert part.graph_[22].nnz == 0
    with pytest.raises(InputError, match="graph has 24 nodes but X has 5 rows; pass index="):
        DiffusionSmoother(graph=graph).fit(X[:5])
    with pytest.raises(InputError, match=r"None of the 2 row labels \(e\.g\. 0, 1\)"):
        DiffusionSmoother(graph=graph).fit(X[:2], index=[0, 1])


def test_hierarchy_takes_a_networkx_graph(graph):
    nodes = list(graph.nodes())
    A = sp.csr_matrix(nx.to_scipy_sparse_array(graph, nodelist=nodes))
    kw = {"affinity": "precomputed", "n_null": 0, "random_state": 0}
    ref = de.DiffusionHierarchy(**kw).fit(A)
    h = de.DiffusionHierarchy(**kw).fit(graph)
    assert h.node_names_ == nodes
    assert ref.node_names_ is None
    np.testing.assert_array_equal(h.linkage_, ref.linkage_)
    labels = dict(zip(h.node_names_, h.cut(n_clusters=2), strict=True))
    assert len({labels[f"a{i}"] for i in range(12)}) == 1
    assert labels["a0"] != labels["b5"]
    with pytest.raises(InputError, match="X is a networkx graph: say what its 'weight'"):
        de.DiffusionHierarchy(n_null=0).fit(graph)


def test_networkx_is_imported_only_when_a_graph_is_given():
    code = (
        "import sys, diffembed, diffembed.embed, diffembed.smoothing, diffembed._graph_input;"
        "print('networkx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
