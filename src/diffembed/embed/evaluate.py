"""Standard evaluations of embeddings: word similarity, analogies, node classification.

- :func:`word_similarity`: Spearman ρ between cosine similarities and human scores on WS353 or
  SimLex-999, over the pairs whose two words are in the vocabulary (the others are counted as
  out-of-vocabulary, not scored).
- :func:`analogy`: accuracy on Mikolov's Google analogies (3CosAdd or 3CosMul), over the
  questions whose four words are among the ``restrict`` (300,000) most frequent words, the
  three question words excluded from the answers, case-insensitive: the accuracy of gensim's
  ``KeyedVectors.evaluate_word_analogies``, with per-section scores and the OOV count.
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
    restrict: int | None = 300_000,
    case_insensitive: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Accuracy on analogy questions ``a : b :: c : d``, as gensim's ``evaluate_word_analogies``.

    For each question whose four words are among the first ``restrict`` keys, the answer is
    the key ``x`` of those first ``restrict`` that maximises ``cos(x, b) - cos(x, a) + cos(x, c)``
    (3CosAdd; gensim's ``most_similar(positive=[b, c], negative=[a])``), or
    ``cos'(x, b) cos'(x, c) / (cos'(x, a) + 0.001)`` with ``cos' = (1 + cos) / 2`` (3CosMul,
    Levy & Goldberg 2014), ``a``, ``b`` and ``c`` themselves excluded. Questions with a word
    outside the vocabulary are skipped and counted in ``n_oov``, not scored as wrong.

    Parameters
    ----------
    vectors
        Word vectors, most frequent first (``restrict`` keeps the first keys).
    dataset
        ``"google"`` (Mikolov's ``questions-words.txt``, 19,544 questions in 14 sections) or the
        path of a file in its format: ``: section`` lines, then ``a b c d`` lines.
    method
        ``"add"`` (3CosAdd, gensim's score) or ``"mul"`` (3CosMul: three times the work).
    restrict
        Only the first ``restrict`` keys are candidates and count as in the vocabulary
        (gensim's ``restrict_vocab``, default 300,000); ``None``: all keys.
    case_insensitive
        Compare upper-cased words and keys, as gensim does by default; when several keys
        differ only by case, the first (most frequent) one stands for the word and the others
        are never answers to a question containing it.
    data_dir
        Where to look for the file (see :func:`diffembed.embed.data.find_data_file`).
    batch_size
        Questions scored per matrix product.

    Returns
    -------
    dict
        ``accuracy`` (correct / scored; NaN when none is scored), ``n_correct``, ``n_covered``
        (scored), ``n_oov`` (skipped), ``n_total``; ``semantic`` and ``syntactic`` accuracy
        (sections named ``gram*`` are syntactic); ``sections``: one
        ``{"section", "accuracy", "n_correct", "n_covered", "n_oov"}`` per section, in file
        order; and ``dataset``, ``method``, ``restrict`` (keys searched), ``case_insensitive``.
    """
    if method not in ("add", "mul"):
        msg = f"method={method!r} is not supported; choose 'add' (3CosAdd) or 'mul' (3CosMul)."
        raise InputError(msg)
    if restrict is not None and (not isinstance(restrict, int | np.integer) or restrict < 1):
        msg = f"restrict={restrict!r} must be an integer of at least 1 (or None: all keys)."
        raise InputError(msg)
    batch_size = check_int(batch_size, "batch_size", low=1)
    n = len(vectors) if restrict is None else min(int(restrict), len(vectors))
    unit = vectors.unit_vectors[:n]

    def fold(word: Any) -> Any:
        return str(word).upper() if case_insensitive else word

    index: dict[Any, int] = {}
    for i, key in enumerate(vectors.keys[:n]):
        index.setdefault(fold(key), i)  # the first (most frequent) key stands for the word
    canon = np.array([index[fold(k)] for k in vectors.keys[:n]], dtype=np.int64)
    variants: dict[int, list[int]] = {}  # a word's row → its other-case rows
    for i in np.flatnonzero(canon != np.arange(n)):
        variants.setdefault(int(canon[i]), []).append(int(i))
    sections = []
    for name, questions in load_analogies(dataset, data_dir=data_dir, lower=False):
        folded = [[fold(w) for w in q] for q in questions]
        ids = np.array(
            [[index[w] for w in q] for q in folded if all(w in index for w in q)], dtype=np.int64
        ).reshape(-1, 4)
        correct = 0
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            if method == "add":
                scores = (unit[batch[:, 1]] - unit[batch[:, 0]] + unit[batch[:, 2]]) @ unit.T
            else:
                sa, sb, sc = (unit[batch[:, j]] @ unit.T for j in range(3))
                scores = (sb + 1) * (sc + 1) / (2 * (sa + 1 + 2e-3))
            rows = np.arange(len(batch))
            for j in range(3):
                scores[rows, batch[:, j]] = -np.inf
            if variants:
                for r, question in enumerate(batch[:, :3].tolist()):
                    for word in question:
                        scores[r, variants.get(word, [])] = -np.inf
            correct += int((canon[scores.argmax(axis=1)] == batch[:, 3]).sum())
        sections.append({
            "section": name,
            "accuracy": correct / len(ids) if len(ids) else float("nan"),
            "n_correct": correct,
            "n_covered": len(ids),
            "n_oov": len(questions) - len(ids),
        })  # fmt: skip

    def share(rows: list[dict[str, Any]]) -> float:
        covered = sum(r["n_covered"] for r in rows)
        return sum(r["n_correct"] for r in rows) / covered if covered else float("nan")

    syntactic = [r for r in sections if r["section"].startswith("gram")]
    semantic = [r for r in sections if not r["section"].startswith("gram")]
    n_covered = sum(r["n_covered"] for r in sections)
    n_oov = sum(r["n_oov"] for r in sections)
    return {
        "dataset": dataset,
        "method": method,
        "accuracy": share(sections),
        "n_correct": sum(r["n_correct"] for r in sections),
        "n_covered": n_covered,
        "n_oov": n_oov,
        "n_total": n_covered + n_oov,
        "semantic": share(semantic),
        "syntactic": share(syntactic),
        "sections": sections,
        "restrict": n,
        "case_insensitive": case_insensitive,
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
