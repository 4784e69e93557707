"""diffembed.metrics against brute-force references and known results (spec A-T6)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes

from diffembed import metrics
from diffembed.exceptions import InputError


def brute_neighbors(X: np.ndarray, k: int) -> list[list[int]]:
    """Python loops: cosine to every other row, sorted by (−similarity, index)."""
    out = []
    for i in range(len(X)):
        sims = []
        for j in range(len(X)):
            if j != i:
                c = X[i] @ X[j] / (np.linalg.norm(X[i]) * np.linalg.norm(X[j]))
                sims.append((-c, j))
        out.append([j for _, j in sorted(sims)[:k]])
    return out


def test_knn_indices_equal_brute_force_including_ties(rng):
    X = rng.normal(size=(70, 5))
    X[10] = X[3] * 2.0  # same direction: exact cosine ties
    X[11] = X[3] * 0.5
    X[40] = X[3]
    for k in (1, 3, 10):
        assert metrics.knn_indices(X, k).tolist() == brute_neighbors(X, k)
    got = metrics.knn_indices(X, 3, queries=[3, 40], block=1)
    ref = brute_neighbors(X, 3)
    assert got.tolist() == [ref[3], ref[40]]
    assert got[0].tolist() == [10, 11, 40]  # three exact ties, by index


def test_knn_overlap_equals_set_computation(rng):
    A, B = rng.normal(size=(60, 4)), rng.normal(size=(60, 6))
    na, nb = brute_neighbors(A, 7), brute_neighbors(B, 7)
    ref = [len(set(a) & set(b)) / 7 for a, b in zip(na, nb, strict=True)]
    jac = [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(na, nb, strict=True)]
    np.testing.assert_allclose(metrics.knn_overlap(A, B, 7, per_query=True), ref)
    assert metrics.knn_overlap(A, B, 7) == pytest.approx(np.mean(ref))
    assert metrics.knn_overlap(A, B, 7, kind="jaccard") == pytest.approx(np.mean(jac))
    assert 0.0 < np.mean(ref) < 0.5


def test_overlap_is_one_under_rotation_and_pairwise_summary(rng):
    X = rng.normal(size=(80, 6))
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert metrics.knn_overlap(X, X @ Q, 10) == pytest.approx(1.0)
    runs = [X, X @ Q, rng.normal(size=(80, 6))]
    res = metrics.pairwise_overlap(runs, 5)
    pairs = [metrics.knn_overlap(runs[a], runs[b], 5) for a, b in [(0, 1), (0, 2), (1, 2)]]
    np.testing.assert_allclose(res["pairs"], pairs)
    assert res["overlap"] == pytest.approx(np.mean(pairs))
    assert res["sd_pairs"] == pytest.approx(np.std(pairs))
    assert res["per_query"].shape == (80,)


def eis_trace_form(X, Xt, E, Et, alpha=3):
    """The six-term trace expansion, with projectors built by pseudo-inverse."""
    P1, P2 = X @ np.linalg.pinv(X), Xt @ np.linalg.pinv(Xt)

    def anchor(M):
        V, R, _ = np.linalg.svd(M, full_matrices=False)
        return V * R**alpha, np.sum(R ** (2 * alpha))

    (B1, r1), (B2, r2) = anchor(E), anchor(Et)
    num = 0.0
    for B in (B1, B2):
        num += np.trace(B.T @ P1 @ B) + np.trace(B.T @ P2 @ B) - 2 * np.trace(B.T @ P1 @ P2 @ B)
    return num / (r1 + r2)


def test_eis_equals_trace_form_and_vanishes_on_same_span(rng):
    X, Xt = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    E, Et = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    assert metrics.eigenspace_instability(X, Xt, E, Et) == pytest.approx(
        eis_trace_form(X, Xt, E, Et), abs=1e-10
    )
    assert metrics.eigenspace_instability(X, Xt, alpha=1) == pytest.approx(
        eis_trace_form(X, Xt, X, Xt, alpha=1), abs=1e-10
    )
    Q = rng.normal(size=(4, 4))  # any invertible map keeps the column space
    assert metrics.eigenspace_instability(X, X @ Q) == pytest.approx(0.0, abs=1e-10)
    assert metrics.eigenspace_instability(X, Xt) > 0.1


def test_procrustes_distance_and_alignment(rng):
    A, B = rng.normal(size=(40, 5)), rng.normal(size=(40, 5))
    Ac, Bc = A - A.mean(0), B - B.mean(0)
    Ac, Bc = Ac / np.linalg.norm(Ac), Bc / np.linalg.norm(Bc)
    R, _ = orthogonal_procrustes(Ac, Bc)
    assert metrics.procrustes_distance(A, B) == pytest.approx(np.linalg.norm(Ac @ R - Bc))
    R2, _ = orthogonal_procrustes(A, B)
    np.testing.assert_allclose(metrics.procrustes_align(A, B), A @ R2, atol=1e-12)
    Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    assert metrics.procrustes_distance(A, 3.0 * A @ Q + 1.0) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(InputError, match="equal shapes"):
        metrics.procrustes_align(A, B[:, :3])


def test_effective_rank_mean_cosine_and_disagreement(rng):
    U, _ = np.linalg.qr(rng.normal(size=(30, 3)))
    X = U * np.array([2.0, 2.0, 2.0])  # three equal singular values (uncentred)
    assert metrics.effective_rank(X, center=False) == pytest.approx(3.0)
    s = np.array([3.0, 1.0])
    p = s / s.sum()
    Y = np.linalg.qr(rng.normal(size=(20, 2)))[0] * s
    assert metrics.effective_rank(Y, center=False) == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    Z = rng.normal(size=(25, 4)) + 0.5
    cos = [
        Z[i] @ Z[j] / np.linalg.norm(Z[i]) / np.linalg.norm(Z[j])
        for i in range(25)
        for j in range(25)
        if i != j
    ]
    assert metrics.mean_cosine(Z, n_pairs=None) == pytest.approx(np.mean(cos))
    assert metrics.mean_cosine(Z, n_pairs=200_000) == pytest.approx(np.mean(cos), abs=0.01)
    assert metrics.prediction_disagreement([1, 2, 3, 4], [1, 2, 0, 0]) == 0.5
    y = np.repeat([0, 1], 30)
    W = rng.normal(size=(60, 3)) + y[:, None] * 2
    res = metrics.classifier_disagreement(
        [W, W, W + 0.01], y, np.arange(0, 60, 2), np.arange(1, 60, 2)
    )
    assert res["accuracy"] > 0.8
    assert res["disagreement"] <= 0.1
    assert len(res["accuracies"]) == 3


def test_metric_input_errors(rng):
    A = rng.normal(size=(10, 3))
    bad = A.copy()
    bad[2, 0] = np.inf
    with pytest.raises(InputError, match=r"NaN or infinite values in 1 row\(s\) \(first: row 2\)"):
        metrics.knn_overlap(bad, A, 3)
    with pytest.raises(InputError, match="A has 10 rows and B 9"):
        metrics.knn_overlap(A, A[:9], 3)
    with pytest.raises(InputError, match=r"k=10 is out of range.*between 1 and 9"):
        metrics.knn_indices(A, 10)
    with pytest.raises(InputError, match="at least 2 runs"):
        metrics.pairwise_overlap([A], 3)
    with pytest.raises(InputError, match="kind='cos' is not supported"):
        metrics.knn_overlap(A, A, 3, kind="cos")
