"""How much two embeddings of the same items agree: neighbours, subspaces, predictions, shape.

Definitions follow the research note ``stability_hierarchy.md`` (A.5):

- :func:`knn_overlap` — NN-overlap@k (Wendlandt et al. 2018; Leszczynski et al.'s k-NN measure):
  ``(1/|Q|) Σ_q |N_k^A(q) ∩ N_k^B(q)| / k``, cosine neighbours, self excluded, ties broken by
  index. The Jaccard variant (Antoniak & Mimno 2018) is ``J = O / (2 − O)`` per query.
- :func:`pairwise_overlap` — the same over every pair of R runs: mean, s.d. over pairs and the
  per-query mean.
- :func:`eigenspace_instability` — EIS_α of Leszczynski et al. (2020), with anchors.
- :func:`procrustes_distance` / :func:`procrustes_align` — distance after the best rotation.
- :func:`prediction_disagreement` — fraction of items two models label differently;
  :func:`classifier_disagreement` trains the same classifier on each run.
- :func:`effective_rank` — ``exp`` of the entropy of the normalised singular values
  (Roy & Vetterli 2007) of the centred matrix; :func:`mean_cosine` of random pairs of rows.

Every function is numpy only; inputs are dense ``(n, d)`` arrays with rows in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .exceptions import InputError

__all__ = [
    "classifier_disagreement",
    "effective_rank",
    "eigenspace_instability",
    "knn_indices",
    "knn_overlap",
    "mean_cosine",
    "neighbor_overlap",
    "pairwise_overlap",
    "prediction_disagreement",
    "procrustes_align",
    "procrustes_distance",
]


def _matrix(X: Any, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        msg = f"{name} must be a 2-D array (n, d), got shape {X.shape}."
        raise InputError(msg)
    if not np.all(np.isfinite(X)):
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        msg = (
            f"{name} has NaN or infinite values in {bad.size} row(s) (first: row {bad[0]}); "
            "drop or repair those rows first."
        )
        raise InputError(msg)
    return X


def _pair(A: Any, B: Any) -> tuple[np.ndarray, np.ndarray]:
    A, B = _matrix(A, "A"), _matrix(B, "B")
    if A.shape[0] != B.shape[0]:
        msg = (
            f"A has {A.shape[0]} rows and B {B.shape[0]}: both runs must list the same items in "
            "the same order (align them by label first, e.g. on the shared vocabulary)."
        )
        raise InputError(msg)
    return A, B


def _unit(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1.0, norms)


def knn_indices(
    X: Any, k: int = 10, *, queries: Any = None, block: int | None = None
) -> np.ndarray:
    """Cosine nearest neighbours of each query row, self excluded, ties broken by index.

    Parameters
    ----------
    X
        Vectors, shape (n, d).
    k
        Neighbours per query (``1 <= k < n``).
    queries
        Row indices to query (default: all rows).
    block
        Queries per matrix product (default: ``block × n`` similarities fill about 128 MiB).

    Returns
    -------
    ndarray of int64, shape (n_queries, k)
        Most similar first.
    """
    X = _matrix(X, "X")
    n = X.shape[0]
    if isinstance(k, bool) or int(k) != k or not 1 <= k < n:
        msg = f"k={k!r} is out of range: it must be a whole number between 1 and {n - 1}."
        raise InputError(msg)
    k = int(k)
    Q = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    U = _unit(X)
    block = block or max(1, min(4096, 2**24 // n))
    out = np.empty((Q.size, k), dtype=np.int64)
    for s in range(0, Q.size, block):
        q = Q[s : s + block]
        S = U[q] @ U.T
        S[np.arange(q.size), q] = -np.inf
        cols = np.argpartition(-S, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(S, cols, axis=1)
        kth = vals.min(axis=1, keepdims=True)
        # Rows where the k-th value ties with a row entry left out: take ties by index.
        amb = np.flatnonzero((kth == S).sum(axis=1) > (vals == kth).sum(axis=1))
        for i in amb:
            above = np.flatnonzero(S[i] > kth[i])
            tied = np.flatnonzero(S[i] == kth[i])[: k - above.size]
            cols[i] = np.concatenate([above, tied])
            vals[i] = S[i, cols[i]]
        order = np.lexsort((cols, -vals), axis=1)  # by value, then by index
        out[s : s + q.size] = np.take_along_axis(cols, order, axis=1)
    return out


def neighbor_overlap(NA: np.ndarray, NB: np.ndarray) -> np.ndarray:
    """``|row of NA ∩ row of NB| / k`` for two (n, k) neighbour lists (no repeats in a row).

    Neighbour lists from :func:`knn_indices` are sorted, so ``NA[:, :k]`` is the top-k list
    and one search at the largest k serves every smaller k.
    """
    NA, NB = np.asarray(NA), np.asarray(NB)
    if NA.shape != NB.shape or NA.ndim != 2:
        msg = f"Neighbour lists must have equal (n, k) shapes, got {NA.shape} and {NB.shape}."
        raise InputError(msg)
    k = NA.shape[1]
    return (NA[:, :, None] == NB[:, None, :]).any(axis=2).sum(axis=1) / k


def knn_overlap(
    A: Any,
    B: Any,
    k: int = 10,
    *,
    queries: Any = None,
    kind: str = "overlap",
    per_query: bool = False,
) -> float | np.ndarray:
    """Agreement of the k nearest neighbours of the same items in two embeddings.

    Parameters
    ----------
    A, B
        The two runs, shape (n, d_A) and (n, d_B), rows in the same order.
    k
        Neighbours compared (cosine, self excluded, ties by index).
    queries
        Row indices whose neighbourhoods are compared (default: all).
    kind
        ``"overlap"`` (``|N_A ∩ N_B| / k``) or ``"jaccard"`` (``|∩| / |∪|``).
    per_query
        Return the value of every query instead of the mean.

    Returns
    -------
    float or ndarray
        In [0, 1]; 1 when the neighbour sets coincide (e.g. ``B = A Q`` for orthogonal ``Q``).
    """
    A, B = _pair(A, B)
    if kind not in ("overlap", "jaccard"):
        msg = f"kind={kind!r} is not supported; choose 'overlap' or 'jaccard'."
        raise InputError(msg)
    o = neighbor_overlap(knn_indices(A, k, queries=queries), knn_indices(B, k, queries=queries))
    if kind == "jaccard":
        o = o / (2.0 - o)
    return o if per_query else float(o.mean())


def pairwise_overlap(runs: Sequence[Any], k: int = 10, *, queries: Any = None) -> dict[str, Any]:
    """NN-overlap@k averaged over the R(R−1)/2 pairs of runs.

    Returns
    -------
    dict
        ``overlap`` (mean), ``jaccard`` (mean of per-query Jaccard), ``sd_pairs`` (s.d. of the
        pair means), ``pairs`` (each pair's mean) and ``per_query`` (mean over pairs, per query).
    """
    if len(runs) < 2:
        msg = f"pairwise_overlap needs at least 2 runs, got {len(runs)}."
        raise InputError(msg)
    n = np.asarray(runs[0]).shape[0]
    for r, X in enumerate(runs):
        if np.asarray(X).shape[0] != n:
            msg = f"Run {r} has {np.asarray(X).shape[0]} rows but run 0 has {n}; align them first."
            raise InputError(msg)
    nn = [knn_indices(X, k, queries=queries) for X in runs]
    per = []
    for a in range(len(runs)):
        for b in range(a + 1, len(runs)):
            per.append(neighbor_overlap(nn[a], nn[b]))
    per_arr = np.array(per)
    return {
        "overlap": float(per_arr.mean()),
        "jaccard": float((per_arr / (2.0 - per_arr)).mean()),
        "sd_pairs": float(per_arr.mean(axis=1).std()),
        "pairs": per_arr.mean(axis=1),
        "per_query": per_arr.mean(axis=0),
    }


def eigenspace_instability(
    X: Any, Xt: Any, E: Any = None, Et: Any = None, *, alpha: float = 3.0
) -> float:
    """Eigenspace instability EIS_α (Leszczynski et al. 2020, ``anchor-stability``).

    With ``U``, ``Ũ`` the left singular vectors of ``X``, ``X̃`` and anchors
    ``E = V R Wᵀ``, ``Ẽ = Ṽ R̃ W̃ᵀ`` (default: ``X``, ``X̃`` themselves)::

        EIS = (‖(UUᵀ − ŨŨᵀ) V R^α‖²_F + ‖(UUᵀ − ŨŨᵀ) Ṽ R̃^α‖²_F) / (tr R^{2α} + tr R̃^{2α})

    0 when the two column spaces coincide (e.g. ``X̃ = X Q``, Q invertible). Compare values only
    at equal dimension: fewer dimensions lower it.
    """
    X, Xt = _pair(X, Xt)
    E = X if E is None else _matrix(E, "E")
    Et = Xt if Et is None else _matrix(Et, "Et")
    if E.shape[0] != X.shape[0] or Et.shape[0] != X.shape[0]:
        msg = "The anchors E and Et must have as many rows as X and Xt."
        raise InputError(msg)
    U1 = np.linalg.svd(X, full_matrices=False)[0]
    U2 = np.linalg.svd(Xt, full_matrices=False)[0]
    num = den = 0.0
    for anchor in (E, Et):
        V, R, _ = np.linalg.svd(anchor, full_matrices=False)
        Bq = V * R**alpha
        D = U1 @ (U1.T @ Bq) - U2 @ (U2.T @ Bq)
        num += float(np.sum(D * D))
        den += float(np.sum(R ** (2 * alpha)))
    return num / den


def procrustes_align(A: Any, B: Any) -> np.ndarray:
    """``A R`` with the orthogonal ``R`` minimising ``‖A R − B‖_F`` (Schönemann 1966).

    ``A`` and ``B`` must have the same shape.
    """
    A, B = _pair(A, B)
    if A.shape != B.shape:
        msg = f"Procrustes alignment needs equal shapes, got {A.shape} and {B.shape}."
        raise InputError(msg)
    U, _, Vt = np.linalg.svd(A.T @ B)
    return A @ (U @ Vt)


def procrustes_distance(A: Any, B: Any, *, center: bool = True) -> float:
    """Distance between two runs after the best rotation, both scaled to unit Frobenius norm.

    ``min_R ‖Â R − B̂‖_F`` with ``Â = A / ‖A‖_F`` (after centring columns when ``center``):
    0 for ``B = c A Q`` (orthogonal ``Q``, ``c > 0``), at most 2.
    """
    A, B = _pair(A, B)
    if center:
        A, B = A - A.mean(axis=0), B - B.mean(axis=0)
    na, nb = np.linalg.norm(A), np.linalg.norm(B)
    if na == 0 or nb == 0:
        msg = "Procrustes distance is undefined for an all-zero (or constant) run."
        raise InputError(msg)
    A, B = A / na, B / nb
    # ‖AR − B‖² = 2 − 2 tr(Rᵀ AᵀB) and the best R gives the nuclear norm of AᵀB.
    s = np.linalg.svd(A.T @ B, compute_uv=False)
    return float(np.sqrt(max(2.0 - 2.0 * s.sum(), 0.0)))


def prediction_disagreement(pred_a: Any, pred_b: Any) -> float:
    """Fraction of items that two models label differently."""
    a, b = np.asarray(pred_a), np.asarray(pred_b)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        msg = (
            "Predictions must be two non-empty 1-D arrays of equal length, got "
            f"{a.shape} and {b.shape}."
        )
        raise InputError(msg)
    return float(np.mean(a != b))


def classifier_disagreement(
    runs: Sequence[Any],
    labels: Any,
    train: Any,
    test: Any,
    *,
    C: float = 10.0,
    max_iter: int = 2000,
) -> dict[str, Any]:
    """Train the same logistic regression on each run; disagreement and accuracy on ``test``.

    Rows are L2-normalised; ``labels``, ``train`` and ``test`` index the rows of every run.

    Returns
    -------
    dict
        ``disagreement`` (mean over pairs), ``accuracy`` (mean over runs), ``accuracies``.
    """
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels)
    train, test = np.asarray(train), np.asarray(test)
    preds, accs = [], []
    for X in runs:
        U = _unit(_matrix(X, "run"))
        clf = LogisticRegression(C=C, max_iter=max_iter).fit(U[train], y[train])
        p = clf.predict(U[test])
        preds.append(p)
        accs.append(float(np.mean(p == y[test])))
    pairs = [
        prediction_disagreement(preds[a], preds[b])
        for a in range(len(preds))
        for b in range(a + 1, len(preds))
    ]
    return {
        "disagreement": float(np.mean(pairs)) if pairs else float("nan"),
        "accuracy": float(np.mean(accs)),
        "accuracies": accs,
    }


def effective_rank(X: Any, *, center: bool = True) -> float:
    """``exp(H(p))`` with ``p`` the singular values of ``X`` (centred) divided by their sum."""
    X = _matrix(X, "X")
    if center:
        X = X - X.mean(axis=0)
    s = np.linalg.svd(X, compute_uv=False)
    if s.sum() == 0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def mean_cosine(X: Any, *, n_pairs: int | None = 20_000, random_state: int = 0) -> float:
    """Mean cosine similarity of random pairs of distinct rows (all pairs when ``n_pairs=None``)."""
    U = _unit(_matrix(X, "X"))
    n = U.shape[0]
    if n < 2:
        msg = "mean_cosine needs at least 2 rows."
        raise InputError(msg)
    if n_pairs is None:
        s = U.sum(axis=0)
        total = float(s @ s) - float(np.sum(U * U))
        return total / (n * (n - 1))
    rng = np.random.default_rng(random_state)
    a = rng.integers(0, n, n_pairs)
    b = (a + rng.integers(1, n, n_pairs)) % n
    return float(np.mean(np.einsum("ij,ij->i", U[a], U[b])))
