"""DiffusionSmoother and its filters against dense references (spec A-T1 … A-T5, A-T10)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from sklearn.base import clone

from diffembed import metrics
from diffembed.exceptions import InputError
from diffembed.smoothing import DiffusionSmoother, OverSmoothingWarning, filters
from diffembed.smoothing.graphs import (
    consensus_adjacency,
    knn_adjacency,
    lexicon_adjacency,
    reference_adjacency,
)


# ------------------------------------------------------------------ dense references
def random_graph(n: int, rng: np.random.Generator, n_isolated: int = 5) -> np.ndarray:
    A = (rng.random((n, n)) < 0.04) * rng.uniform(0.5, 2.0, (n, n))
    A = np.triu(A, 1)
    A = A + A.T
    iso = rng.choice(n, n_isolated, replace=False)
    A[iso, :] = 0
    A[:, iso] = 0
    return A


def dense_T(A: np.ndarray, normalization: str, self_loops: float = 0.0) -> np.ndarray:
    """T_rw or T_sym of A + sI, an isolated node getting a unit self-loop."""
    A = A.copy()
    np.fill_diagonal(A, 0.0)
    iso = A.sum(axis=1) == 0
    A = A + np.diag(np.where(iso, 1.0, self_loops))
    d = A.sum(axis=1)
    if normalization == "rw":
        return A / d[:, None]
    return A / np.sqrt(np.outer(d, d))


def dense_ppr(A, X, alpha, normalization="rw", self_loops=0.0):
    T = dense_T(A, normalization, self_loops)
    return alpha * np.linalg.solve(np.eye(len(A)) - (1 - alpha) * T, X)


def dense_heat(A, X, t, normalization="rw", self_loops=0.0):
    T = dense_T(A, normalization, self_loops)
    return sla.expm(-t * (np.eye(len(A)) - T)) @ X


def dense_walk(A, X, steps, normalization="rw", self_loops=0.0):
    T = dense_T(A, normalization, self_loops)
    return np.linalg.matrix_power((np.eye(len(A)) + T) / 2, steps) @ X


def retrofit_py(A: np.ndarray, X: np.ndarray, n_iter: int = 10) -> np.ndarray:
    """retrofit.py's loop (mfaruqui/retrofitting), rows in index order, weights A_ij."""
    new = X.copy()
    for _ in range(n_iter):
        for i in range(len(A)):
            nb = np.flatnonzero(A[i])
            nb = nb[nb != i]
            if nb.size == 0:
                continue
            w = A[i, nb]
            new[i] = (w.sum() * X[i] + (w[:, None] * new[nb]).sum(axis=0)) / (2 * w.sum())
    return new


@pytest.fixture
def graph_and_x(rng):
    A = random_graph(200, rng)
    X = rng.normal(size=(200, 7))
    return A, X


# ------------------------------------------------------------------ A-T1
@pytest.mark.parametrize("normalization", ["rw", "sym"])
@pytest.mark.parametrize("self_loops", [0.0, 1.0])
def test_operators_equal_dense_references(graph_and_x, normalization, self_loops):
    A, X = graph_and_x
    op = filters.graph_operator(
        sp.csr_matrix(A), normalization=normalization, self_loops=self_loops
    )
    for alpha in (0.1, 0.5, 0.9):
        ref = dense_ppr(A, X, alpha, normalization, self_loops)
        for solver in ("cg", "power"):
            Y, _ = filters.ppr_filter(op, X, alpha, solver=solver, tol=1e-13)
            np.testing.assert_allclose(Y, ref, atol=1e-8, rtol=0)
    for t in (0.3, 1.0, 4.0):
        ref = dense_heat(A, X, t, normalization, self_loops)
        np.testing.assert_allclose(filters.heat_filter(op, X, t), ref, atol=1e-8, rtol=0)
    for steps in (1, 3, 8):
        ref = dense_walk(A, X, steps, normalization, self_loops)
        np.testing.assert_allclose(filters.lazy_walk_filter(op, X, steps), ref, atol=1e-8)


def test_identity_settings_and_isolated_rows(graph_and_x):
    A, X = graph_and_x
    op = filters.graph_operator(sp.csr_matrix(A))
    np.testing.assert_array_equal(filters.ppr_filter(op, X, 1.0)[0], X)
    np.testing.assert_array_equal(filters.heat_filter(op, X, 0.0), X)
    np.testing.assert_array_equal(filters.lazy_walk_filter(op, X, 0), X)
    iso = A.sum(axis=1) == 0
    assert iso.sum() == 5
    for Y in (
        filters.ppr_filter(op, X, 0.2)[0],
        filters.heat_filter(op, X, 2.0),
        filters.lazy_walk_filter(op, X, 4),
        filters.retrofit(sp.csr_matrix(A), X),
    ):
        np.testing.assert_array_equal(Y[iso], X[iso])
        assert np.abs(Y[~iso] - X[~iso]).max() > 1e-3  # the others did move
    sm = DiffusionSmoother(graph=sp.csr_matrix(A), alpha=1.0, normalize=False, monitor=False)
    np.testing.assert_allclose(sm.fit_transform(X), X, atol=1e-15)


# ------------------------------------------------------------------ A-T2
def test_retrofit_matches_released_update_and_ppr_fixed_point(graph_and_x):
    A, X = graph_and_x
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    ours = filters.retrofit(sp.csr_matrix(A), Xn, n_iter=10)
    np.testing.assert_allclose(ours, retrofit_py(A, Xn, 10), atol=1e-10, rtol=0)
    converged = filters.retrofit(sp.csr_matrix(A), Xn, n_iter=300)
    ppr = DiffusionSmoother(
        graph=sp.csr_matrix(A), operator="ppr", alpha=0.5, normalization="rw", monitor=False
    ).fit_transform(Xn)
    np.testing.assert_allclose(converged, ppr, atol=1e-6)
    assert np.abs(converged - ours).max() > 1e-8  # 10 sweeps are not yet the fixed point


# ------------------------------------------------------------------ A-T3
def bipartite(n: int, rng) -> np.ndarray:
    B = (rng.random((n, n)) < 0.3).astype(float)
    B[np.arange(n), np.arange(n)] = 1.0  # connected enough, every node has an edge
    return np.block([[np.zeros((n, n)), B], [B.T, np.zeros((n, n))]])


@pytest.mark.parametrize("normalization", ["rw", "sym"])
def test_gain_floor_is_attained_on_a_bipartite_graph(rng, normalization):
    A = bipartite(30, rng)
    S = dense_T(A, "sym")
    lam, V = np.linalg.eigh(S)
    assert lam[0] == pytest.approx(-1.0, abs=1e-10)
    d = A.sum(axis=1)
    # T_rw's eigenvectors are D^{-1/2} v; measure the gain in T's own eigenbasis.
    W = V / np.sqrt(d)[:, None] if normalization == "rw" else V
    op = filters.graph_operator(sp.csr_matrix(A), normalization=normalization)
    for alpha in (0.1, 0.5, 0.8):
        Y, _ = filters.ppr_filter(op, W, alpha, tol=1e-14)
        gains = np.linalg.norm(Y, axis=0) / np.linalg.norm(W, axis=0)
        assert gains.min() == pytest.approx(alpha / (2 - alpha), abs=1e-8)
        assert filters.gain_floor("ppr", alpha=alpha) == pytest.approx(alpha / (2 - alpha))
    for t in (0.5, 2.0):
        gains = np.linalg.norm(filters.heat_filter(op, W, t), axis=0) / np.linalg.norm(W, axis=0)
        assert gains.min() == pytest.approx(np.exp(-2 * t), abs=1e-8)


def test_min_gain_sets_alpha_and_t_exactly():
    for g in (1 / 3, 1 / 9, 0.05, 1.0):
        a = filters.alpha_for_gain(g)
        assert a / (2 - a) == pytest.approx(g, abs=1e-15)
        assert np.exp(-2 * filters.t_for_gain(g)) == pytest.approx(g, abs=1e-15)
    assert filters.alpha_for_gain(1 / 3) == pytest.approx(0.5)
    X = np.random.default_rng(0).normal(size=(50, 4))
    sm = DiffusionSmoother(operator="ppr", min_gain=1 / 9, n_neighbors=5).fit(X)
    assert sm.params_resolved_["alpha"] == pytest.approx(0.2)
    assert sm.gain_floor_ == pytest.approx(1 / 9)
    sm = DiffusionSmoother(operator="heat", min_gain=np.exp(-2.0), n_neighbors=5).fit(X)
    assert sm.params_resolved_["t"] == pytest.approx(1.0)
    with pytest.raises(InputError, match=r"min_gain=0 is out of range.*\(0, 1\]"):
        DiffusionSmoother(min_gain=0).fit(X)


# ------------------------------------------------------------------ A-T4
def test_fixed_graph_is_a_contraction_between_runs(rng):
    A = sp.csr_matrix(random_graph(120, rng, n_isolated=3))
    sm = DiffusionSmoother(graph=A, normalization="sym", alpha=0.3, normalize=False, monitor=False)
    sm.fit(rng.normal(size=(120, 6)))
    for _ in range(50):
        Xa, Xb = rng.normal(size=(120, 6)), rng.normal(size=(120, 6)) * rng.uniform(0.1, 3)
        ratio = np.linalg.norm(sm.transform(Xa) - sm.transform(Xb)) / np.linalg.norm(Xa - Xb)
        assert ratio <= 1 + 1e-12


def test_transform_uses_the_fitted_graph_not_one_built_from_its_input(rng):
    """graph='knn' fits the graph of the fitted data; transform must not rebuild it."""
    Xa = rng.normal(size=(150, 5))
    Xb = rng.normal(size=(150, 5))
    sm = DiffusionSmoother(graph="knn", n_neighbors=6, normalize=False, monitor=False).fit(Xa)
    fixed = filters.ppr_filter(filters.graph_operator(knn_adjacency(Xa, 6)), Xb, 0.5)[0]
    rebuilt = filters.ppr_filter(filters.graph_operator(knn_adjacency(Xb, 6)), Xb, 0.5)[0]
    Yb = sm.transform(Xb)
    np.testing.assert_allclose(Yb, fixed, atol=1e-9)
    assert np.abs(Yb - rebuilt).max() > 1e-3
    # and on the fitted graph the two runs get closer (in the D-weighted norm for rw)
    d = np.sqrt(sm._op.degrees)[:, None]
    ratio = np.linalg.norm(d * (sm.transform(Xa) - Yb)) / np.linalg.norm(d * (Xa - Xb))
    assert ratio <= 1 + 1e-12


def test_own_knn_smoothing_is_not_a_contraction(rng):
    """Each run over its own graph: the bound does not hold (what A-1 measured)."""
    ratios = []
    for _ in range(30):
        base = rng.normal(size=(80, 4))
        Xa, Xb = base + 0.3 * rng.normal(size=base.shape), base + 0.3 * rng.normal(size=base.shape)
        sm = DiffusionSmoother(
            graph="knn", n_neighbors=5, normalization="sym", normalize=False, monitor=False
        )
        Ya, Yb = sm.fit_transform(Xa), clone(sm).fit_transform(Xb)
        ratios.append(np.linalg.norm(Ya - Yb) / np.linalg.norm(Xa - Xb))
    assert max(ratios) > 0  # computed
    fixed = DiffusionSmoother(
        graph=knn_adjacency(base, 5), normalization="sym", normalize=False, monitor=False
    ).fit(base)
    r_fixed = np.linalg.norm(fixed.transform(Xa) - fixed.transform(Xb)) / np.linalg.norm(Xa - Xb)
    assert r_fixed <= 1 + 1e-12
    assert min(ratios) > r_fixed - 0.2  # own graphs never beat the shared graph by much


# ------------------------------------------------------------------ A-T5
def test_collapse_warning_fires_for_strong_own_knn_heat_not_for_ppr_half():
    from sklearn.datasets import load_digits

    X = load_digits().data[:600]
    sm = DiffusionSmoother(graph="knn", operator="heat", t=10.0)
    with pytest.warns(OverSmoothingWarning, match=r"effective rank fell|mean cosine"):
        sm.fit_transform(X)
    assert (
        sm.diagnostics_["mean_cosine_rise"] > 0.2 or sm.diagnostics_["effective_rank_ratio"] < 0.8
    )
    rng = np.random.default_rng(0)
    pairs = [(i, j) for i, j in rng.integers(0, 600, (300, 2)) if i != j]
    A, _ = lexicon_adjacency(list(range(600)), pairs, lowercase=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OverSmoothingWarning)
        sm = DiffusionSmoother(graph=A, alpha=0.5)
        sm.fit_transform(X)
    assert sm.diagnostics_["effective_rank_ratio"] >= 0.8
    assert sm.diagnostics_["dirichlet_ratio"] < 1.0


def test_lazy_walk_always_warns_no_floor():
    X = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.warns(OverSmoothingWarning, match="no gain floor"):
        DiffusionSmoother(operator="lazy_walk", t=2, n_neighbors=4, monitor=False).fit(X)


# ------------------------------------------------------------------ graphs and labels
def test_lexicon_graph_skips_and_counts_oov_words():
    words = ["cat", "dog", "car", "auto", "tree"]
    pairs = [
        ("cat", "dog"),
        ("Car", "AUTO"),
        ("car", "vehicle"),
        ("zebra", "okapi"),
        ("dog", "cat"),
    ]
    A, info = lexicon_adjacency(words, pairs)
    assert info == {
        "n_pairs": 5,
        "n_edges": 2,
        "n_pairs_skipped": 2,
        "n_words_oov": 3,
        "n_rows_with_edges": 4,
    }
    assert A[0, 1] == A[1, 0] == 1
    assert A[2, 3] == 1
    assert A[4].nnz == 0
    sm = DiffusionSmoother(graph="lexicon", lexicon={"cat": ["dog", "lion"]}, monitor=False)
    X = np.random.default_rng(0).normal(size=(5, 3))
    Y = sm.fit_transform(X, index=words)
    assert sm.graph_info_["n_words_oov"] == 1
    assert sm.graph_info_["n_pairs_skipped"] == 1
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(Y[2:], Xn[2:])  # words without a synonym keep their vectors
    np.testing.assert_allclose(Y[0], (2 * Xn[0] + Xn[1]) / 3)  # PPR ½ on one edge


def test_lexicon_file_and_weighted_pairs(tmp_path):
    path = tmp_path / "lex.txt"
    path.write_text("cat dog kitten\nbig large\n")
    sm = DiffusionSmoother(graph="lexicon", lexicon=str(path), monitor=False)
    sm.fit(np.eye(4), index=["cat", "dog", "big", "large"])
    assert sm.graph_info_["n_edges"] == 2
    assert sm.graph_info_["n_pairs_skipped"] == 1
    A, _ = lexicon_adjacency(["a", "b"], [("a", "b", 2.5)])
    assert A[0, 1] == 2.5
    with pytest.raises(InputError, match="must be finite and > 0"):
        lexicon_adjacency(["a", "b"], [("a", "b", -1)])


def test_reference_and_consensus_graphs_match_labels(rng):
    X = rng.normal(size=(60, 4))
    words = [f"w{i}" for i in range(60)]
    perm = rng.permutation(60)
    A_same, _ = reference_adjacency(words, X, words, n_neighbors=5)
    A_perm, info = reference_adjacency(words, X[perm], [words[i] for i in perm], n_neighbors=5)
    assert (A_same != A_perm).nnz == 0
    assert info["n_missing"] == 0
    A_drop, info = reference_adjacency(words, X[:50], words[:50], n_neighbors=5)
    assert info["n_missing"] == 10
    assert A_drop[50:].nnz == 0
    C, info = consensus_adjacency(words, [X, X, X + 5 * rng.normal(size=X.shape)], n_neighbors=5)
    assert info["min_runs"] == 2
    assert (A_same != C).nnz == 0


def test_transform_of_differing_vocabulary_uses_the_intersection(rng):
    words = [f"w{i}" for i in range(80)]
    X = rng.normal(size=(80, 5))
    sm = DiffusionSmoother(graph="knn", n_neighbors=5, monitor=False).fit(X, index=words)
    other = [*words[10:], "new1", "new2"]
    Xo = np.vstack([X[10:], rng.normal(size=(2, 5))])
    Y = sm.transform(Xo, index=other)
    assert Y.shape == Xo.shape
    Xn = Xo / np.linalg.norm(Xo, axis=1, keepdims=True)
    np.testing.assert_allclose(Y[-2:], Xn[-2:])  # unknown rows unchanged
    assert np.abs(Y[:-2] - Xn[:-2]).max() > 1e-3


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"alpha": 0.0}, r"alpha=0.0 is out of range.*\(0, 1\]"),
        ({"alpha": 1.5}, r"alpha=1.5 is out of range.*\(0, 1\]"),
        ({"alpha": float("nan")}, r"alpha must be a finite number in \(0, 1\]"),
        ({"operator": "heat", "t": -1.0}, r"t=-1.0 is out of range.*>= 0"),
        ({"operator": "lazy_walk", "t": 1.5}, r"t=1.5 is not valid for the lazy walk"),
        ({"operator": "magic"}, r"operator='magic' is not supported"),
        ({"graph": "nope"}, r"graph='nope' is not supported"),
        ({"graph": "reference"}, r"graph='reference' needs reference="),
        ({"graph": "consensus"}, r"graph='consensus' needs runs="),
        ({"mode": "stability"}, r"mode='stability' needs runs="),
        ({"min_gain": 0.5, "operator": "retrofit"}, r"min_gain applies to operator='ppr' or"),
    ],
)
def test_bad_parameters_are_clear_errors(params, pattern):
    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(InputError, match=pattern):
        DiffusionSmoother(n_neighbors=4, **params).fit(X)


def test_bad_data_and_graphs_are_clear_errors(rng):
    X = rng.normal(size=(30, 3))
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        DiffusionSmoother(n_neighbors=4).fit(bad)
    sm = DiffusionSmoother(n_neighbors=4, monitor=False).fit(X)
    with pytest.raises(InputError, match="NaN"):
        sm.transform(bad)
    with pytest.raises(InputError, match=r"X has 29 rows but the smoother was fitted on 30"):
        sm.transform(X[:29])
    with pytest.raises(InputError, match=r"index has 3 labels but X has 30 rows"):
        DiffusionSmoother().fit(X, index=["a", "b", "c"])
    with pytest.raises(InputError, match=r"shape \(5, 5\) but the data has 30 rows"):
        DiffusionSmoother(graph=sp.eye(5)).fit(X)
    asym = sp.csr_matrix(np.triu(np.ones((30, 30)), 1))
    with pytest.raises(InputError, match=r"not symmetric; pass A.maximum\(A.T\)"):
        DiffusionSmoother(graph=asym).fit(X)
    with pytest.raises(InputError, match="negative, NaN or infinite"):
        DiffusionSmoother(graph=-sp.eye(30, format="csr")).fit(X)


def test_edges_weights_graph_and_sklearn_conventions(rng):
    X = rng.normal(size=(10, 3))
    edges = np.array([[0, 1], [1, 2]])
    sm = DiffusionSmoother(graph=(edges, np.array([1.0, 2.0])), monitor=False).fit(X)
    assert sm.graph_[1, 0] == 1.0
    assert sm.graph_[2, 1] == 2.0
    params = sm.get_params()
    assert params["alpha"] == 0.5
    assert params["graph"] is not None
    assert clone(sm).get_params()["operator"] == "ppr"


# ------------------------------------------------------------------ A-T10 (synthetic)
def test_stability_mode_picks_a_feasible_setting_at_least_as_stable_as_half(rng):
    n, d = 400, 8
    truth = rng.normal(size=(n, d))
    runs = [truth + 0.9 * rng.normal(size=(n, d)) for _ in range(3)]
    shared = knn_adjacency(truth, 8)
    words = [f"w{i}" for i in range(n)]

    def quality(Y, index):  # correlation with the truth's similarities on fixed pairs
        a, b = np.arange(0, 200), np.arange(200, 400)
        Yn = Y / np.linalg.norm(Y, axis=1, keepdims=True)
        Tn = truth / np.linalg.norm(truth, axis=1, keepdims=True)
        return {"sim": float(np.corrcoef((Yn[a] * Yn[b]).sum(1), (Tn[a] * Tn[b]).sum(1))[0, 1])}

    sm = DiffusionSmoother(graph=shared, mode="stability", runs=runs, quality=quality)
    sm.fit(runs[0], index=words)
    table = sm.search_
    base = table[0]
    chosen = sm.params_resolved_
    row = next(
        r
        for r in table[1:]
        if r["operator"] == chosen["operator"]
        and r["alpha"] == chosen["alpha"]
        and r["t"] == chosen["t"]
    )
    half = next(r for r in table if r["operator"] == "ppr" and r["alpha"] == 0.5)
    assert row["feasible"]
    assert row["quality:sim"] >= base["quality:sim"] - 0.02
    assert row["effective_rank"] >= 0.9 * base["effective_rank"]
    assert row["mean_cosine"] <= base["mean_cosine"] + 0.1
    assert row["overlap"] >= half["overlap"] - 1e-12
    assert row["overlap"] > base["overlap"] + 0.05
    assert len(table) == 1 + 4 + 4


def test_metrics_overlap_rises_on_shared_graph_in_synthetic_runs(rng):
    truth = rng.normal(size=(300, 6))
    runs = [truth + 0.8 * rng.normal(size=truth.shape) for _ in range(3)]
    shared = DiffusionSmoother(graph=knn_adjacency(truth, 8), monitor=False).fit(runs[0])
    own = [
        DiffusionSmoother(graph="knn", n_neighbors=8, monitor=False).fit_transform(X) for X in runs
    ]
    raw = metrics.pairwise_overlap(runs, 10)["overlap"]
    sh = metrics.pairwise_overlap([shared.transform(X) for X in runs], 10)["overlap"]
    ow = metrics.pairwise_overlap(own, 10)["overlap"]
    assert sh > raw + 0.1
    assert ow < sh
