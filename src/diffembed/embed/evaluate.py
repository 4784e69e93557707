"""Standard evaluations of embeddings: word similarity, analogies, node classification.

- :func:`word_similarity`: Spearman ρ between cosine similarities and human scores on WS353 or
  SimLex-999, over the pairs whose two words are in the vocabulary (the others are counted as
  out-of-vocabulary, not scored).
- :func:`analogy`: accuracy on Mikolov's Google analogies (3CosAdd or 3CosMul), over the
  questions whose four words are in the vocabulary, the three question words excluded from
  the answers, searching the whole vocabulary (or its ``restrict`` most frequent words).
- :func:`node_classification`: logistic regression (C = 10) on L2-normalised vectors,
  stratified 50 % train splits, mean Micro-/Macro-F1; k-means NMI against the labels.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np

from .._validation import check_int
from ..exceptions import InputError
from .data import load_analogies, load_word_pairs
from .keyed import KeyedVectors

__all__ = ["analogy", "node_classification", "word_similarity"]


def word_similarity(
    vectors: KeyedVectors,
    dataset: str = "ws353",
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Spearman correlation of cosine similarity with human judgements.

    Parameters
    ----------
    vectors
        Word vectors (keys are lower-case words).
    dataset
        ``"ws353"``, ``"simlex"`` or the path of a ``word<TAB>word<TAB>score`` file.
    data_dir
        Where to look for the evaluation files (see :func:`diffembed.embed.data.find_data_file`).

    Returns
    -------
    dict
        ``spearman``, ``n_pairs`` (scored), ``n_oov`` (pairs with a word missing), ``dataset``.
    """
    from scipy.stats import spearmanr

    pairs = load_word_pairs(dataset, data_dir=data_dir)
    scored = [(a, b, s) for a, b, s in pairs if a in vectors and b in vectors]
    cosines = [vectors.similarity(a, b) for a, b, _ in scored]
    rho = float(spearmanr(cosines, [s for *_, s in scored])[0]) if len(scored) > 2 else np.nan
    return {
        "dataset": dataset,
        "spearman": rho,
        "n_pairs": len(scored),
        "n_oov": len(pairs) - len(scored),
    }


def analogy(
    vectors: KeyedVectors,
    dataset: str = "google",
    *,
    method: Literal["add", "mul"] = "add",
    restrict: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Accuracy on analogy questions ``a : b :: c : ?``.

    Returns
    -------
    dict
        ``accuracy`` (over covered questions), ``n_covered``, ``n_total``, ``semantic`` and
        ``syntactic`` accuracy (Google sections named ``gram*`` are syntactic), ``method``.
    """
    if method not in ("add", "mul"):
        msg = f"method={method!r} is not supported; choose 'add' or 'mul'."
        raise InputError(msg)
    unit = vectors.unit_vectors if restrict is None else vectors.unit_vectors[:restrict]
    index = {k: i for i, k in enumerate(vectors.keys[: unit.shape[0]])}
    correct = {"semantic": 0, "syntactic": 0}
    covered = {"semantic": 0, "syntactic": 0}
    total = 0
    for name, questions in load_analogies(dataset, data_dir=data_dir):
        group = "syntactic" if name.startswith("gram") else "semantic"
        total += len(questions)
        ids = np.array(
            [[index[w] for w in q] for q in questions if all(w in index for w in q)],
            dtype=np.int64,
        ).reshape(-1, 4)
        covered[group] += len(ids)
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            sa, sb, sc = (unit[batch[:, j]] @ unit.T for j in range(3))
            if method == "add":
                scores = sb - sa + sc
            else:
                scores = (sb + 1) * (sc + 1) / (2 * (sa + 1 + 2e-3))
            rows = np.arange(len(batch))
            for j in range(3):
                scores[rows, batch[:, j]] = -np.inf
            correct[group] += int((scores.argmax(axis=1) == batch[:, 3]).sum())
    n_covered = covered["semantic"] + covered["syntactic"]
    return {
        "dataset": dataset,
        "method": method,
        "accuracy": (correct["semantic"] + correct["syntactic"]) / max(n_covered, 1),
        "semantic": correct["semantic"] / max(covered["semantic"], 1),
        "syntactic": correct["syntactic"] / max(covered["syntactic"], 1),
        "n_covered": n_covered,
        "n_total": total,
    }


def node_classification(
    vectors: np.ndarray | KeyedVectors,
    labels: np.ndarray,
    *,
    train_size: float = 0.5,
    n_repeats: int = 3,
    C: float = 10.0,
    kmeans_runs: int = 1,
    random_state: int = 0,
) -> dict[str, float]:
    """Micro/Macro-F1 of a logistic regression on the vectors, and k-means NMI.

    Parameters
    ----------
    vectors
        Array of shape (n_nodes, dim), or :class:`KeyedVectors` in the order of ``labels``.
    labels
        One class per node.
    train_size
        Fraction of nodes used to train (stratified when every class has 2 members).
    n_repeats
        Splits averaged (seeds ``random_state``, ``random_state + 1``, …).
    C
        Inverse regularisation of the logistic regression.
    kmeans_runs
        k-means clusterings (3 inits each, seeds ``random_state``, ``random_state + 1``, …)
        whose NMI is averaged; with more than one, ``nmi_sd`` (their standard deviation) is
        returned too. k-means NMI varies from seed to seed by more than the gaps between
        good embeddings (±0.01–0.03 on the WordNet noun graph), so compare means of several.

    Returns
    -------
    dict
        ``micro_f1``, ``macro_f1`` (means over the splits), ``nmi`` (and ``nmi_sd``).
    """
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, normalized_mutual_info_score
    from sklearn.model_selection import train_test_split

    kmeans_runs = check_int(kmeans_runs, "kmeans_runs", low=1)
    X = np.asarray(vectors.vectors if isinstance(vectors, KeyedVectors) else vectors, float)
    y = np.unique(np.asarray(labels), return_inverse=True)[1]
    if X.shape[0] != y.shape[0]:
        msg = f"{X.shape[0]} vectors but {y.shape[0]} labels; give one label per vector."
        raise InputError(msg)
    if np.unique(y).size < 2:
        msg = "node_classification needs at least two classes among the labels."
        raise InputError(msg)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    stratify = y if np.bincount(y).min() >= 2 else None
    micro, macro = [], []
    for seed in range(random_state, random_state + n_repeats):
        train, test = train_test_split(
            np.arange(y.size), train_size=train_size, random_state=seed, stratify=stratify
        )
        clf = LogisticRegression(C=C, max_iter=1000).fit(X[train], y[train])
        pred = clf.predict(X[test])
        micro.append(f1_score(y[test], pred, average="micro"))
        macro.append(f1_score(y[test], pred, average="macro"))
    k = int(np.unique(y).size)
    nmi = [
        normalized_mutual_info_score(y, KMeans(k, n_init=3, random_state=seed).fit_predict(X))
        for seed in range(random_state, random_state + kmeans_runs)
    ]
    scores = {
        "micro_f1": float(np.mean(micro)),
        "macro_f1": float(np.mean(macro)),
        "nmi": float(np.mean(nmi)),
    }
    if kmeans_runs > 1:
        scores["nmi_sd"] = float(np.std(nmi, ddof=1))
    return scores
