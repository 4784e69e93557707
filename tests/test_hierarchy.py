"""DiffusionHierarchy: acceptance tests B-T1 … B-T10 of shared/research/stability_hierarchy.md.

Data generators follow the spec's (bench/hierarchy_lib.py) protocol, rewritten here.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.cluster.hierarchy import dendrogram, fcluster, is_monotonic, is_valid_linkage, linkage
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.neighbors import KNeighborsTransformer, kneighbors_graph
from threadpoolctl import threadpool_limits

from diffembed.exceptions import DisconnectedGraphError, InputError
from diffembed.hierarchy import (
    DiffusionHierarchy,
    coarse_operator,
    condensation_step,
    cut_linkage,
    dendrogram_purity,
    diffusion_condensation,
    levels_from_linkage,
    ward_linkage,
)


# ------------------------------------------------------------------------- data
def hierarchical_gmm(
    seed: int, s_super: float = 4.0, s_sub: float = 0.7, n_per: int = 64, d: int = 20
):
    """4 super-clusters × 4 sub-clusters × n_per points in d dims (spec table B-1)."""
    rng = np.random.default_rng(seed)
    X, ysup, ysub = [], [], []
    for a in range(4):
        ca = rng.normal(0, s_super, d)
        for b in range(4):
            cb = ca + rng.normal(0, s_sub, d)
            X.append(cb + rng.normal(0, 1.0, (n_per, d)))
            ysup += [a] * n_per
            ysub += [4 * a + b] * n_per
    return np.vstack(X), np.array(ysup), np.array(ysub)


def hierarchical_sbm(seed: int, n_per: int = 64):
    """4 × 4 blocks, p = 0.25 within a sub-block, 0.04 within a super-block, 0.004 across."""
    rng = np.random.default_rng(seed)
    n = 16 * n_per
    ysub = np.repeat(np.arange(16), n_per)
    ysup = ysub // 4
    same_sub = ysub[:, None] == ysub[None, :]
    same_sup = ysup[:, None] == ysup[None, :]
    P = np.where(same_sub, 0.25, np.where(same_sup, 0.04, 0.004))
    A = np.triu(rng.random((n, n)) < P, 1)
    return sp.csr_matrix((A | A.T).astype(float)), ysup, ysub


def graph_spectrum(A: sp.spmatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenpairs of the symmetric random-walk conjugate of a graph (α = 0), dense."""
    A = A.toarray()
    d = A.sum(axis=1)
    with threadpool_limits(limits=1):
        w, V = np.linalg.eigh(A / np.sqrt(np.outer(d, d)))
    return w, V, d


def graph_diffusion_coordinates(spectrum, dim: int, t: float) -> np.ndarray:
    """The first ``dim`` non-trivial diffusion coordinates at time t: the spec's digits inputs."""
    w, V, d = spectrum
    idx = np.argsort(w)[::-1][1 : dim + 1]
    psi = V[:, idx] / np.sqrt(d)[:, None] * np.sqrt(d.sum())
    return psi * w[idx] ** t


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(float), y


@pytest.fixture(scope="module")
def gmm_fits():
    """Default-engine fits of the B-1 hierarchical GMM, seeds 0-2."""
    out = []
    for seed in range(3):
        X, ysup, ysub = hierarchical_gmm(seed)
        out.append((X, ysup, ysub, DiffusionHierarchy(random_state=0).fit(X)))
    return out


def ari_at(h: DiffusionHierarchy, y: np.ndarray, k: int) -> float:
    """ARI of the level whose cluster count is closest to k (ties: finer), the spec's ARI@k."""
    return adjusted_rand_score(y, h.level(h.closest_level(k)))


def tree_purity(h: DiffusionHierarchy, y: np.ndarray) -> float:
    if h.engine == "ward":
        return dendrogram_purity(h.linkage_, y)
    return dendrogram_purity(h.levels_[:, 1:], y)


def assert_nested(levels: np.ndarray) -> None:
    for j in range(levels.shape[1] - 1):
        fine, coarse = levels[:, j], levels[:, j + 1]
        # every fine cluster sits inside exactly one coarse cluster
        pairs = np.unique(np.column_stack([fine, coarse]), axis=0)
        assert np.unique(pairs[:, 0]).size == pairs.shape[0], f"level {j + 1} does not refine"
        assert np.unique(coarse).size <= np.unique(fine).size


# ----------------------------------------------------------- B-T1 structure of the tree
@pytest.mark.parametrize("engine", ["ward", "condensation"])
def test_levels_nested_and_linkage_valid(engine):
    X, _, _ysub = hierarchical_gmm(0, n_per=16)
    h = DiffusionHierarchy(engine, random_state=0, n_null=0).fit(X)
    n = X.shape[0]
    Z = h.linkage_
    assert Z.shape == (n - 1, 4)
    assert is_valid_linkage(Z)
    assert is_monotonic(Z)
    assert_nested(h.levels_)
    assert np.array_equal(h.levels_[:, 0], np.arange(n))
    assert np.all(h.levels_[:, -1] == 0)
    assert np.all(np.diff(h.n_clusters_per_level_) < 0)
    # scipy tools work on it
    dendrogram(Z, no_plot=True)
    assert np.unique(fcluster(Z, t=5, criterion="maxclust")).size <= 5
    for k in (1, 3, 16, n):
        assert np.unique(h.cut(n_clusters=k)).size == k
    # every stored level is a cut of the linkage
    for j in range(h.levels_.shape[1]):
        assert adjusted_rand_score(h.levels_[:, j], h.level(j)) == pytest.approx(1.0)


def test_condensation_levels_are_multiway_steps():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(c, 0.2, (40, 3)) for c in (0.0, 3.0, 6.0)])
    h = DiffusionHierarchy("condensation", random_state=0, n_null=0).fit(X)
    # condensation merges several nodes per step: fewer levels than merges
    assert h.levels_.shape[1] < X.shape[0] - 1
    assert adjusted_rand_score(np.repeat([0, 1, 2], 40), h.cut(n_clusters=3)) == 1.0
    assert h.diagnostics_["converged"]
    # heights are the ε of each merge, non-decreasing
    assert np.all(np.diff(h.linkage_[:, 2]) >= 0)


def test_levels_from_linkage_matches_fcluster():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 4))
    Z = linkage(X, "ward")
    levels = levels_from_linkage(Z, [0, 100, 190, 199])
    for col, k in zip(range(4), (200, 100, 10, 1), strict=True):
        ref = fcluster(Z, t=k, criterion="maxclust")
        assert adjusted_rand_score(ref, levels[:, col]) == 1.0
        assert np.unique(levels[:, col]).size == k
    assert np.array_equal(cut_linkage(Z, 10), levels[:, 2])


# ---------------------------------------------------------------------- Ward engine
def test_ward_nn_chain_equals_scipy_and_weights_equal_replication():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 5))
    Z_ref = linkage(X, "ward")
    Z_chain = ward_linkage(X, np.ones(150))  # weights force the nearest-neighbour chain
    assert is_valid_linkage(Z_chain)
    np.testing.assert_allclose(np.sort(Z_chain[:, 2]), np.sort(Z_ref[:, 2]), rtol=1e-10)
    for k in (2, 7, 30):
        assert adjusted_rand_score(cut_linkage(Z_ref, k), cut_linkage(Z_chain, k)) == 1.0
    # a point of mass 2 behaves like two coincident points (brute-force reference)
    w = rng.integers(1, 4, size=40).astype(float)
    Y = rng.normal(size=(40, 3))
    Z_w = ward_linkage(Y, w)
    Z_rep = linkage(np.repeat(Y, w.astype(int), axis=0), "ward")
    joins = Z_rep[:, 2] > 1e-9  # drop the merges of coincident copies
    np.testing.assert_allclose(np.sort(Z_w[:, 2]), np.sort(Z_rep[joins, 2]), rtol=1e-9)


# -------------------------------------------------------------------- B-T2 determinism
@pytest.mark.parametrize("engine", ["ward", "condensation"])
def test_deterministic_and_permutation_invariant(engine):
    X, _, _ = hierarchical_gmm(1, n_per=16)
    a = DiffusionHierarchy(engine, random_state=7, n_null=2).fit(X)
    b = DiffusionHierarchy(engine, random_state=7, n_null=2).fit(X)
    assert np.array_equal(a.levels_, b.levels_)
    np.testing.assert_array_equal(a.linkage_, b.linkage_)
    np.testing.assert_array_equal(a.salient_levels_, b.salient_levels_)
    perm = np.random.default_rng(0).permutation(X.shape[0])
    c = DiffusionHierarchy(engine, random_state=7, n_null=0).fit(X[perm])
    if engine == "ward":  # the same levels up to relabelling
        np.testing.assert_array_equal(a.n_clusters_per_level_, c.n_clusters_per_level_)
        for j in range(a.levels_.shape[1]):
            assert adjusted_rand_score(a.levels_[perm, j], c.levels_[:, j]) == pytest.approx(1.0)
    else:
        # condensation is a chaotic dynamical system: summation order changes rounding, which
        # flips near-ties of the merge radius; the structure must survive, not every bit
        for k in (4, 16):
            lab_a = a.level(a.closest_level(k))[perm]
            lab_c = c.level(c.closest_level(k))
            assert adjusted_rand_score(lab_a, lab_c) >= 0.9


# ---------------------------------------------------------- B-T3 aggregation identities
def test_aggregation_identities():
    X, ysup, ysub = hierarchical_gmm(0, s_sub=2.5)
    h = DiffusionHierarchy(random_state=0, n_null=0).fit(X)
    rng = np.random.default_rng(0)
    f = rng.normal(size=(X.shape[0], 3))
    w = rng.uniform(0.5, 2.0, X.shape[0])
    means = h.aggregate(f, weights=w)
    np.testing.assert_allclose(means[-1][0], np.average(f, axis=0, weights=w), rtol=0, atol=1e-12)
    sums = h.aggregate(f, "sum")
    for level_sums in sums:
        np.testing.assert_allclose(level_sums.sum(axis=0), f.sum(axis=0), rtol=1e-12)
    root, details = h.haar(f, weights=w)
    np.testing.assert_allclose(h.reconstruct(root, details), f, rtol=0, atol=1e-10)
    # one-hot labels aggregate to purity 1 at the true level of the easy GMM
    k16 = h.closest_level(16)
    assert h.n_clusters_per_level_[k16] == 16
    purity = h.aggregate(np.eye(16)[ysub], level=k16)
    np.testing.assert_allclose(purity.max(axis=1), 1.0)
    votes = h.aggregate(ysup, "vote", level=h.closest_level(4))
    assert sorted(votes.tolist()) == [0, 1, 2, 3]


def test_coarse_operators_keep_stationary_distribution():
    X, _, _ = hierarchical_gmm(2, n_per=16)
    h = DiffusionHierarchy(random_state=0, n_null=0).fit(X)
    P, pi = h.markov_operator()
    np.testing.assert_allclose(np.asarray(P.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    np.testing.assert_allclose(pi @ P, pi, atol=1e-12)
    prev_labels, prev_P, prev_pi = np.arange(X.shape[0]), P.toarray(), pi
    for j in range(1, h.levels_.shape[1], 5):
        Pc, pic = h.coarse_operator(j)
        np.testing.assert_allclose(Pc.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(pic @ Pc, pic, atol=1e-12)
        # π_{ℓ+1} = Qᵀ π_ℓ between consecutive coarse levels, and coarse-graining composes
        labels = h.level(j)
        parent = np.zeros(prev_labels.max() + 1, dtype=int)
        parent[prev_labels] = labels
        np.testing.assert_allclose(np.bincount(parent, weights=prev_pi), pic, atol=1e-12)
        Pc2, _ = coarse_operator(prev_P, prev_pi, parent)
        np.testing.assert_allclose(Pc2, Pc, atol=1e-12)
        prev_labels, prev_P, prev_pi = labels, Pc, pic


# -------------------------------------------------------------- B-T4 mass invariance
def test_merging_coincident_nodes_leaves_the_step_unchanged():
    rng = np.random.default_rng(4)
    Y = rng.normal(size=(9, 3))
    m = rng.integers(1, 5, size=9).astype(float)
    Y_split = np.vstack([Y, Y[3]])  # node 3 split into two coincident nodes
    m_split = np.append(m, 0.0)
    m_split[3], m_split[-1] = m[3] * 0.25, m[3] * 0.75
    kw = {"n_neighbors": 20, "k_fraction": 1.0, "lazy": 0.5}
    merged = condensation_step(Y, m, 0.8, **kw)
    split = condensation_step(Y_split, m_split, 0.8, **kw)
    np.testing.assert_allclose(split[:9], merged, atol=1e-12)
    np.testing.assert_allclose(split[9], merged[3], atol=1e-12)
    # unweighted means (the published code) do not have this property
    plain = condensation_step(Y_split, np.ones(10), 0.8, **kw)
    assert not np.allclose(plain[:9], condensation_step(Y, np.ones(9), 0.8, **kw))


# ------------------------------------------------------------ B-T5 dendrogram purity
def test_dendrogram_purity_forms_agree_and_known_values():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(c, 1.0, (30, 2)) for c in (0, 3, 6, 9)])
    y = np.repeat(np.arange(4), 30)
    Z = linkage(X, "ward")
    every_merge = levels_from_linkage(Z, np.arange(1, 119))
    assert dendrogram_purity(Z, y) == pytest.approx(dendrogram_purity(every_merge, y), abs=1e-12)
    perfect = linkage(
        np.repeat(np.arange(4.0), 30)[:, None] * 10 + rng.normal(0, 0.1, (120, 1)), "ward"
    )
    assert dendrogram_purity(perfect, y) == pytest.approx(1.0)
    # random labels: Σ p_c³ / Σ p_c² (1/K when balanced)
    y_rand = rng.integers(0, 6, size=2000)
    Zr = linkage(rng.normal(size=(2000, 3)), "ward")
    p = np.bincount(y_rand) / y_rand.size
    assert dendrogram_purity(Zr, y_rand) == pytest.approx(np.sum(p**3) / np.sum(p**2), abs=0.02)


# ---------------------------------------------------- B-T6 hierarchical Gaussian mixture
def test_hierarchical_gmm_meets_thresholds(gmm_fits):
    ari4, ari16, dp, ward16 = [], [], [], []
    for X, ysup, ysub, h in gmm_fits:
        ari4.append(ari_at(h, ysup, 4))
        ari16.append(ari_at(h, ysub, 16))
        dp.append(tree_purity(h, ysub))
        ward16.append(adjusted_rand_score(ysub, fcluster(linkage(X, "ward"), 16, "maxclust")))
    assert min(ari4) == 1.0
    assert np.mean(ari16) >= 0.75
    assert np.mean(ari16) >= np.mean(ward16) - 0.02
    assert np.mean(dp) >= 0.85  # Ward on raw points: 0.791, Multiscale PHATE 0.334


def test_condensation_engine_on_hierarchical_gmm():
    """Condensation on B-T6: ARI@4 and DP met, mean ARI@16 0.002 short (hence not default)."""
    ari4, ari16, dp = [], [], []
    for seed in range(3):
        X, ysup, ysub = hierarchical_gmm(seed)
        h = DiffusionHierarchy("condensation", random_state=0, n_null=0).fit(X)
        ari4.append(ari_at(h, ysup, 4))
        ari16.append(ari_at(h, ysub, 16))
        dp.append(tree_purity(h, ysub))
    assert min(ari4) == 1.0
    assert np.mean(dp) >= 0.85
    # measured 0.838 / 0.621 / 0.784 (mean 0.748; with α = 1 0.752, but 0.59 on digits dm20):
    # seed 1 condenses one super-cluster's four sub-clusters before the others split
    assert np.mean(ari16) >= 0.74
    if np.mean(ari16) < 0.75:
        pytest.xfail(f"condensation: mean ARI@16 {np.mean(ari16):.3f} < 0.75 (spec B-T6)")


def test_disconnected_components_are_joined_last(gmm_fits):
    X, ysup, _, h = gmm_fits[0]
    assert h.n_connected_components_ == 4  # the 15-NN graph of the B-1 GMM
    assert adjusted_rand_score(h.component_labels_, ysup) == 1.0
    # the last three merges join the component roots
    assert adjusted_rand_score(h.cut(n_clusters=4), h.component_labels_) == 1.0
    with pytest.raises(DisconnectedGraphError, match=r"4 connected components \(sizes 256, 256"):
        DiffusionHierarchy(disconnected="raise").fit(X)


# ------------------------------------------------------------ B-T7 hierarchical SBM
def test_hierarchical_sbm_graph_input():
    ari4 = []
    for seed in range(3):
        A, ysup, ysub = hierarchical_sbm(seed)
        h = DiffusionHierarchy(affinity="precomputed", random_state=0, n_null=0).fit(A)
        assert h.diagnostics_["times"][0] < 3.0  # t="auto" stays short on a fast-mixing graph
        assert ari_at(h, ysub, 16) >= 0.99
        assert tree_purity(h, ysub) >= 0.99
        ari4.append(ari_at(h, ysup, 4))
    assert np.mean(ari4) >= 0.95


# --------------------------------------------------------------------- B-T8 digits
def test_digits_default_pipeline(digits):
    X, y = digits
    h = DiffusionHierarchy(random_state=0).fit(X)
    assert ari_at(h, y, 10) >= 0.75  # Ward on pixels 0.794, Multiscale PHATE 0.502
    assert tree_purity(h, y) >= 0.85


@pytest.fixture(scope="module")
def digits_graph(digits):
    """Spectrum of the digits' symmetrised 10-NN connectivity graph."""
    X, _ = digits
    A = kneighbors_graph(X, 10, include_self=False)
    return graph_spectrum(A.maximum(A.T))


@pytest.mark.parametrize(("dim", "t"), [(10, 1), (10, 2), (20, 1), (20, 2)])
def test_digits_diffusion_coordinate_inputs(digits, digits_graph, dim, t):
    """The robustness grid: a reference condensation collapsed (ARI 0.01) at 20 coordinates."""
    _, y = digits
    Y = graph_diffusion_coordinates(digits_graph, dim, t)
    h = DiffusionHierarchy(random_state=0, n_null=0).fit(Y)
    assert h.diagnostics_["alpha"] == 0.5  # alpha="auto" with the self-tuning kernel
    assert ari_at(h, y, 10) >= 0.75  # measured 0.81 / 0.81 / 0.79 / 0.78 (α = 1: 0.72 at 20)
    assert tree_purity(h, y) >= 0.85
    # the 27-point group that the 10-NN graph of these coordinates cuts off is a stray piece
    attached = h.diagnostics_["attached_components"]
    assert [a["size"] for a in attached] == [27]


@pytest.mark.parametrize("t", [1, 2])
def test_condensation_no_longer_collapses_on_20_coordinates(digits, digits_graph, t):
    """The reference collapse (ARI@10 0.01) and its fix, on the raw 20 coordinates.

    Localised eigenvectors put small groups far out; with one global ε the dense class cores
    condense into one blob long before anything reaches those groups (the 10-cluster level is
    a 1,491-point blob plus 9 outlying groups). A per-node bandwidth (distance to the node's
    k-th nearest node) lets every node move at its own scale.
    """
    _, y = digits
    Y = graph_diffusion_coordinates(digits_graph, 20, t)
    fixed = DiffusionHierarchy("condensation", space="input", random_state=0, n_null=0).fit(Y)
    assert ari_at(fixed, y, 10) >= 0.6  # measured 0.80 (t = 1) and 0.64 (t = 2)
    assert tree_purity(fixed, y) >= 0.85
    glob = DiffusionHierarchy(
        "condensation", space="input", condensation_kernel="euclidean", random_state=0, n_null=0
    ).fit(Y)
    assert ari_at(glob, y, 10) < 0.1  # the reference's collapse, reproduced (0.03 / 0.04)
    assert np.bincount(glob.level(glob.closest_level(10))).max() > 1300


def test_condensation_default_pipeline_on_digits(digits):
    X, y = digits
    h = DiffusionHierarchy("condensation", random_state=0, n_null=0).fit(X)
    assert ari_at(h, y, 10) >= 0.70  # measured 0.76 (global-ε kernel: 0.55)
    assert tree_purity(h, y) >= 0.85


@pytest.mark.xfail(
    strict=True,
    reason="condensation: ARI@10 0.60 < 0.75 on re-embedded 20 coordinates; Ward stays default",
)
def test_condensation_on_20_diffusion_coordinates(digits, digits_graph):
    """Condensation on this input swings between 0.59 and 0.79 with the tie-breaking of the
    digits' 10-NN graph (integer pixels) that makes the input: chaotic, not fixed."""
    _, y = digits
    Y = graph_diffusion_coordinates(digits_graph, 20, 1)
    h = DiffusionHierarchy("condensation", random_state=0, n_null=0).fit(Y)
    assert ari_at(h, y, 10) >= 0.75


def test_alpha_auto_and_the_stationary_mass_on_diffusion_coordinates(digits, digits_graph):
    """Why α = 1 is wrong with the self-tuning kernel: the degree is no density estimate, and
    dividing by it puts stationary mass on low-degree points (negative control: α = 1)."""
    _, _y = digits
    Y = graph_diffusion_coordinates(digits_graph, 20, 1)
    spread = {}
    for alpha in (0.5, 1.0):
        h = DiffusionHierarchy(alpha=alpha, random_state=0, n_null=0).fit(Y)
        pi = h.stationary_distribution_[h.component_labels_ == 0]
        spread[alpha] = pi.max() / np.median(pi)
    assert spread[0.5] < 2.0 < 4.0 < spread[1.0]  # measured 1.2 and 6.0
    X, _ = digits
    assert DiffusionHierarchy(bandwidth="auto", n_null=0).fit(X[:300]).diagnostics_["alpha"] == 1
    A, _, _ = hierarchical_sbm(0, n_per=32)
    h = DiffusionHierarchy(affinity="precomputed", n_null=0).fit(A)
    assert h.diagnostics_["alpha"] == 1.0


# ----------------------------------------------------------------------- B-T10 nulls
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("name", "limit"), [("gaussian", 0.10), ("cube", 0.25)])
def test_nulls_find_nothing(name, limit, seed):
    """No salient level on noise, for several seeds (before: seeds 0 and 2 of the cube and
    seed 3 of the Gaussian each had one: a mis-specified null, and 5 draws compared by their
    maximum give a 1-in-6 false-positive rate)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(1024, 20)) if name == "gaussian" else rng.random((1024, 5))
    h = DiffusionHierarchy(random_state=0).fit(X)
    ks = h.n_clusters_per_level_
    best = max(silhouette_score(X, h.levels_[:, j]) for j in range(ks.size) if 2 <= ks[j] <= 102)
    assert best < limit
    assert h.diagnostics_["null"] == "input"
    assert h.salient_levels_.size == 0
    # the data's largest salience sits inside the null's range, not just under the threshold
    assert np.nanmax(h.salience_) < 0.8 * h.salience_threshold_


def test_salience_threshold_controls_false_positives():
    """The Gumbel extrapolation of the max statistic: above the largest draw, at the expected
    quantile for Gumbel samples, and equal to the largest draw for fewer than 3 draws."""
    from diffembed.hierarchy.levels import max_statistic_threshold

    rng = np.random.default_rng(0)
    draws = np.exp(rng.gumbel(1.0, 0.2, size=(2000, 5)))
    thresholds = np.array([max_statistic_threshold(d, 0.05) for d in draws])
    assert np.all(thresholds >= draws.max(axis=1))
    fresh = np.exp(rng.gumbel(1.0, 0.2, size=2000))  # the "data" under the null
    assert 0.03 < np.mean(fresh > thresholds) < 0.07  # nominal 5 %
    assert np.mean(fresh > draws.max(axis=1)) > 0.13  # the old rule (1 in 6): negative control
    assert max_statistic_threshold(np.array([2.0, 3.0]), 0.01) == 3.0


def test_gmm_structure_is_salient(gmm_fits):
    X, _ysup, _ysub, h = gmm_fits[0]
    ks = h.n_clusters_per_level_
    best = max(silhouette_score(X, h.levels_[:, j]) for j in range(ks.size) if 2 <= ks[j] <= 102)
    assert best > 0.5
    salient_k = set(ks[h.salient_levels_].tolist())
    assert {4, 16} <= salient_k  # both true levels (before the level-matched null: only 4)
    assert h.salience_[h.salient_levels_[0]] > h.salience_threshold_
    assert np.all(np.diff(h.salience_[h.salient_levels_]) <= 0)  # most salient first
    assert h.salience_[0] != h.salience_[0]  # the singletons level is not tested (nan)


def test_salience_on_digits_and_against_an_independent_computation(digits):
    """The null is level-matched: coarse levels persist longer even in noise (a global
    threshold, the maximum null persistence over all levels, left digits with no salient
    level); recompute the statistic by hand from the stored null curves."""
    X, _ = digits
    h = DiffusionHierarchy(random_state=0).fit(X)
    assert h.salient_levels_.size >= 1
    assert 13 in h.n_clusters_per_level_[h.salient_levels_]
    k = h.n_clusters_per_level_
    curves = h._null_curves
    assert len(curves) == 5
    j = int(np.flatnonzero(k == 10)[0])
    # the null reference at k = 10: mean over draws, then over levels within a factor 1.25
    tested = k[(k >= 2) & (k < X.shape[0])]
    near = tested[np.abs(np.log(tested) - np.log(10)) <= np.log(1.25) + 1e-12]
    assert near.min() == 8
    assert near.max() == 12
    at = [[p[np.argmin(np.abs(np.log(c) - np.log(q)) - 1e-9 * c)] for c, p in curves] for q in near]
    pos = np.concatenate([p[(c >= 2) & (c < X.shape[0])] for c, p in curves])
    floor = np.median(pos[pos > 0])
    assert h.null_persistence_[j] == pytest.approx(max(np.mean(at), floor))
    assert h.salience_[j] == pytest.approx(h.persistence_[j] / h.null_persistence_[j])
    # the threshold is at least every draw's salience at k = 10 against the other draws
    at10 = np.array(at)[near == 10][0]
    for b in range(5):
        others = (np.sum(at, axis=1) - np.array(at)[:, b]) / 4
        assert h.salience_threshold_ >= at10[b] / max(np.mean(others), floor) - 1e-12


# ------------------------------------------------------------------ inputs and errors
def test_precomputed_distance_graph_matches_points():
    X, _, _ = hierarchical_gmm(0, n_per=16)
    D = KNeighborsTransformer(n_neighbors=15, mode="distance").fit_transform(X)
    a = DiffusionHierarchy(random_state=0, n_null=0).fit(X)
    b = DiffusionHierarchy(metric="precomputed", random_state=0, n_null=0).fit(D)
    for k in (4, 16):
        assert adjusted_rand_score(a.cut(n_clusters=k), b.cut(n_clusters=k)) == pytest.approx(1.0)


def test_pre_partition_for_large_n():
    X, ysup, _ = hierarchical_gmm(0, n_per=32)
    h = DiffusionHierarchy(max_nodes=128, random_state=0, n_null=0).fit(X)
    assert 100 <= h.n_partitions_ <= 128  # MiniBatchKMeans may leave a few clusters empty
    assert is_valid_linkage(h.linkage_)
    assert is_monotonic(h.linkage_)
    assert_nested(h.levels_)
    assert ari_at(h, ysup, 4) == 1.0
    # below a partition the tree is a flat bag merged at height 0
    assert np.sum(h.linkage_[:, 2] == 0) >= X.shape[0] - h.n_partitions_


def test_small_inputs():
    h = DiffusionHierarchy(random_state=0).fit(np.array([[0.0, 0.0], [1.0, 0.0]]))
    assert h.linkage_.shape == (1, 4)
    assert is_valid_linkage(h.linkage_)
    X = np.array([[0.0], [0.1], [5.0], [5.1], [5.2]])
    h = DiffusionHierarchy(random_state=0).fit(X)
    assert adjusted_rand_score([0, 0, 1, 1, 1], h.cut(n_clusters=2)) == 1.0


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.zeros((1, 3)), r"X has 1 sample\(s\); at least 2 are needed"),
        (np.ones((50, 3)), r"All 50 points of X are identical"),
        (
            np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]]),
            r"NaN or infinite values in 1 row\(s\) \(rows 1\)",
        ),
    ],
)
def test_bad_input_messages(X, message):
    with pytest.raises(InputError, match=message):
        DiffusionHierarchy().fit(X)


def test_bad_parameters_and_calls():
    X, _, _ = hierarchical_gmm(0, n_per=8)
    with pytest.raises(
        InputError, match=r"engine='leiden' is not supported; choose one of 'ward', 'condensation'"
    ):
        DiffusionHierarchy("leiden").fit(X)
    with pytest.raises(InputError, match=r"n_neighbors=0 is out of range"):
        DiffusionHierarchy(n_neighbors=0).fit(X)
    h = DiffusionHierarchy(random_state=0, n_null=0).fit(X)
    with pytest.raises(
        InputError, match=r"n_clusters=0 is out of range: it must be between 1 and 128"
    ):
        h.cut(n_clusters=0)
    with pytest.raises(InputError, match="Pass exactly one of"):
        h.cut()
    with pytest.raises(InputError, match=r"values must have one row per fitted point \(128\)"):
        h.aggregate(np.ones(5))
    with pytest.raises(InputError, match="this tree has"):
        h.level(10_000)
    with pytest.raises(InputError, match="isolated"):
        DiffusionHierarchy(affinity="precomputed").fit(sp.csr_matrix(np.eye(4)))


def test_sklearn_conventions():
    h = DiffusionHierarchy("condensation", n_neighbors=5, random_state=3)
    params = clone(h).get_params()
    assert params["engine"] == "condensation"
    assert params["n_neighbors"] == 5
    with pytest.raises(TypeError):
        DiffusionHierarchy("ward", 10)  # keyword-only after the engine
    fitted = [
        a
        for a in vars(
            DiffusionHierarchy(random_state=0, n_null=0).fit(
                np.random.default_rng(0).normal(size=(30, 2))
            )
        )
        if a.endswith("_") and not a.startswith("_")
    ]
    assert {"linkage_", "levels_", "salient_levels_", "embedding_"} <= set(fitted)


def test_condensation_function_records_levels():
    rng = np.random.default_rng(6)
    Y = np.vstack([rng.normal(c, 0.1, (25, 2)) for c in (0.0, 2.0)])
    res = diffusion_condensation(Y, n_neighbors=5)
    assert res.converged
    assert is_valid_linkage(res.linkage)
    assert res.boundaries[-1] == 49
    assert np.all(np.diff(res.scales) >= 0)
    assert adjusted_rand_score(np.repeat([0, 1], 25), cut_linkage(res.linkage, 2)) == 1.0


# ------------------------------------------------------- B-T9 against Multiscale PHATE
def test_beats_multiscale_phate_on_the_hierarchical_gmm():
    """Runs only where ``multiscale_phate`` imports (benchmarks/setup_bench_env.sh installs it
    into .venv-bench; benchmarks/hierarchy.py has the digits comparison)."""
    mp = pytest.importorskip("multiscale_phate")
    X, _, ysub = hierarchical_gmm(0)
    op = mp.Multiscale_PHATE(n_jobs=1, random_state=0)
    op.fit(X)
    levels = np.column_stack([np.asarray(lab) for lab in op.NxTs])
    counts = np.array([np.unique(col).size for col in levels.T])
    theirs = adjusted_rand_score(ysub, levels[:, int(np.argmin(np.abs(counts - 16)))])
    ours = DiffusionHierarchy(random_state=0, n_null=0).fit(X)
    assert ari_at(ours, ysub, 16) > theirs
    assert tree_purity(ours, ysub) > dendrogram_purity(levels[:, 1:], ysub)
