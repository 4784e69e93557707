"""A graph's nodes: NetMF node vectors, then a diffusion hierarchy of the graph itself.

Run: ``python graph_nodes_hierarchy.py``. Uses Zachary's karate club (networkx, offline): the
two clubs the network split into are the known answer for both the vectors and the tree.
The same from the shell: ``diffembed embed nodes edges.csv -o out/`` and ``diffembed tree``.
"""

import networkx as nx
from sklearn.metrics import adjusted_rand_score

import diffembed as de

G = nx.karate_club_graph()
clubs = [G.nodes[v]["club"] for v in G]

# 1. node vectors (NetMF; window, negative sampling and dimension chosen from the graph)
nv = de.embed.netmf(G)
print("node vectors:", nv.vectors.shape, "parameters:", nv.info["parameters"])
scores = de.evaluate.node_classification(nv, clubs)
print(
    "club prediction from the vectors:",
    {k: round(v, 3) for k, v in scores.items() if isinstance(v, float)},
)

# 2. a bottom-up diffusion hierarchy on the graph's own edge weights
h = de.DiffusionHierarchy(affinity="precomputed", random_state=0).fit(G)
two = h.cut(n_clusters=2)
print("levels:", h.levels_.shape[1], "salient levels:", [int(v) for v in h.salient_levels_])
print("ARI of the 2-cluster cut against the clubs:", round(adjusted_rand_score(clubs, two), 3))
for name, label in list(zip(h.node_names_, two, strict=True))[:5]:
    print(f"  node {name}: cluster {label}")
