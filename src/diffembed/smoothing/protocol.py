"""The stability protocol: perturbed corpora → word vectors → every metric raw vs smoothed.

Research note ``stability_hierarchy.md`` A.3: draw R perturbed copies of a corpus (bootstrap
resampling of segments, local word swaps, or only another SVD seed), build PPMI-SVD word
vectors on each (:func:`diffembed.embed.word_vectors`), keep the words every run has, smooth
each run independently, and compare all R(R−1)/2 pairs: NN-overlap@k (and its Jaccard form),
its s.d. over pairs and by frequency band, fidelity to the unsmoothed run, EIS, Procrustes
distance, WS353 / SimLex-999 Spearman, WordNet-supersense accuracy and prediction
disagreement, effective rank and mean cosine. Numerics only: the CLI
(:mod:`diffembed.cli.stability`) does the files.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import _progress
from ..exceptions import InputError
from .graphs import knn_adjacency, lexicon_adjacency, wordnet_synonyms
from .smoother import smooth

__all__ = [
    "EvalTasks",
    "StabilityRuns",
    "evaluate_runs",
    "load_tasks",
    "perturb_segments",
    "train_runs",
]

PERTURBATIONS = ("bootstrap", "swap", "seed")


def _unit(X: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(n == 0, 1.0, n)


def perturb_segments(
    segments: Sequence[str], perturb: str, rng: np.random.Generator, *, swap_rate: float = 0.1
) -> list[str]:
    """One perturbed copy of a corpus (a list of segments).

    ``"bootstrap"``: draw as many segments with replacement (Antoniak & Mimno 2018).
    ``"swap"``: in every segment, exchange ``swap_rate`` of the tokens with their right
    neighbour (local word-order noise; the vocabulary and counts stay the same).
    ``"seed"``: the corpus unchanged (only the SVD seed differs between runs).
    """
    if perturb not in PERTURBATIONS:
        msg = f"perturb={perturb!r} is not supported; choose one of {', '.join(PERTURBATIONS)}."
        raise InputError(msg)
    if perturb == "bootstrap":
        picks = rng.integers(0, len(segments), len(segments))
        return [segments[i] for i in picks]
    if perturb == "seed":
        return list(segments)
    out = []
    for seg in segments:
        toks = seg.split()
        if len(toks) > 1:
            for i in np.flatnonzero(rng.random(len(toks) - 1) < swap_rate):
                toks[i], toks[i + 1] = toks[i + 1], toks[i]
        out.append(" ".join(toks))
    return out


@dataclass
class StabilityRuns:
    """Word vectors of R perturbed runs on their shared vocabulary.

    Attributes
    ----------
    runs
        R arrays (n_shared, dim), rows in the order of ``words``.
    words
        The words every run has (order: run 0's, most frequent first).
    reference
        An extra, independent run on the same words (for ``graph="reference"``), or None.
    info
        Vocabulary sizes per run, shared count, timings, parameters.
    """

    runs: list[np.ndarray]
    words: list[str]
    reference: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


def train_runs(
    segments: Sequence[str],
    *,
    runs: int = 4,
    perturb: str = "bootstrap",
    reference: bool = True,
    dim: int = 100,
    max_vocab: int = 10_000,
    window: int = 5,
    min_count: int = 1,
    seed: int = 0,
    threads: int | None = 1,
    callback: Callable[[int], None] | None = None,
) -> StabilityRuns:
    """Build ``runs`` (plus one reference) word-vector runs on perturbed copies of the corpus.

    Run ``r`` uses perturbation seed ``seed + 100 + r`` and SVD seed ``seed + r``; the
    reference run uses ``seed + 999``. Vocabularies can differ between runs (bootstrap): the
    words all runs share are kept, and ``info`` reports how many each run had.
    """
    from ..embed import word_vectors

    if runs < 2:
        msg = f"runs={runs} is too few: the protocol compares pairs of runs, give runs >= 2."
        raise InputError(msg)
    if not segments:
        msg = "The corpus is empty: give at least one non-empty segment (line)."
        raise InputError(msg)
    timings: dict[str, float] = {}
    vecs = []
    seeds = [seed + 100 + r for r in range(runs)] + ([seed + 999] if reference else [])
    with _progress.task("train runs", len(seeds), unit="runs", timings=timings) as running:
        for r, s in _progress.counted(enumerate(seeds), running):
            with _progress.stage(f"train run {r + 1}/{len(seeds)}", timings):
                segs = perturb_segments(segments, perturb, np.random.default_rng(s))
                wv = word_vectors(
                    segs,
                    dim=dim,
                    window=window,
                    min_count=min_count,
                    max_vocab=max_vocab,
                    random_state=seed + r if s != seed + 999 else seed + 99,
                    threads=threads,
                )
                vecs.append(wv)
            if callback is not None:
                callback(r)
    shared = set(vecs[0].keys)
    for wv in vecs[1:]:
        shared &= set(wv.keys)
    words = [w for w in vecs[0].keys if w in shared]
    if len(words) < 50:
        msg = (
            f"The runs share only {len(words)} words; use a larger corpus or a smaller "
            "--max-vocab so that perturbed runs have a common vocabulary."
        )
        raise InputError(msg)
    aligned = [np.asarray(wv[words], dtype=np.float64) for wv in vecs]
    info = {
        "perturb": perturb,
        "n_runs": runs,
        "n_segments": len(segments),
        "vocabulary_sizes": [len(wv) for wv in vecs],
        "n_shared_words": len(words),
        "n_tokens": [int(wv.info["n_tokens"]) for wv in vecs],
        "dim": dim,
        "max_vocab": max_vocab,
        "window": window,
        "timings": timings,
    }
    return StabilityRuns(
        runs=aligned[:runs], words=words, reference=aligned[runs] if reference else None, info=info
    )


@dataclass
class EvalTasks:
    """Quality tasks on a vocabulary: similarity pairs and a classification split."""

    sim: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    sim_total: dict[str, int] = field(default_factory=dict)
    cls_rows: np.ndarray | None = None
    cls_labels: np.ndarray | None = None
    train: np.ndarray | None = None
    test: np.ndarray | None = None


def _supersenses(words: Sequence[str], directory: os.PathLike[str] | str) -> dict[int, int]:
    """Noun → lexicographer class of its first (most frequent) WordNet sense."""
    pos = {w: i for i, w in enumerate(words)}
    lexfile: dict[str, int] = {}
    with open(os.path.join(directory, "data.noun"), encoding="latin-1") as handle:
        for line in handle:
            if not line.startswith("  "):
                f = line.split(maxsplit=2)
                lexfile[f[0]] = int(f[1])
    out = {}
    with open(os.path.join(directory, "index.noun"), encoding="latin-1") as handle:
        for line in handle:
            if line.startswith("  "):
                continue
            f = line.split()
            if f[0] in pos:
                n_ptr = int(f[3])
                first = f[4 + n_ptr + 2]
                if first in lexfile:
                    out[pos[f[0]]] = lexfile[first]
    return out


def load_tasks(
    words: Sequence[str], *, data_dir: str | os.PathLike[str] | None = None, min_class: int = 20
) -> EvalTasks:
    """WS353 / SimLex-999 pairs in the vocabulary and the WordNet noun-supersense split.

    Missing data files leave the corresponding task out (the report says which ran). The
    supersense task keeps classes with at least ``min_class`` nouns; split 70/30 with seed 1.
    """
    from ..embed.data import find_data_file, load_word_pairs

    pos = {w: i for i, w in enumerate(words)}
    tasks = EvalTasks()
    for name in ("ws353", "simlex"):
        try:
            pairs = load_word_pairs(name, data_dir=data_dir)
        except InputError:
            continue
        kept = [(pos[a], pos[b], s) for a, b, s in pairs if a in pos and b in pos]
        if len(kept) > 2:
            a, b, s = (np.array(x) for x in zip(*kept, strict=True))
            tasks.sim[name] = (a, b, s)
            tasks.sim_total[name] = len(pairs)
    noun = find_data_file("usr/share/wordnet/data.noun", data_dir=data_dir, required=False)
    if noun is not None and (noun.parent / "index.noun").exists():
        sup = _supersenses(words, noun.parent)
        rows = np.array(sorted(sup), dtype=np.int64)
        y = np.array([sup[i] for i in rows], dtype=np.int64)
        counts = Counter(y.tolist())
        keep = np.array([counts[v] >= min_class for v in y], dtype=bool)
        rows, y = rows[keep], y[keep]
        if np.unique(y).size >= 2 and rows.size >= 20:
            perm = np.random.default_rng(1).permutation(rows.size)
            n_train = int(0.7 * rows.size)
            tasks.cls_rows, tasks.cls_labels = rows, y
            tasks.train, tasks.test = perm[:n_train], perm[n_train:]
    return tasks


def similarity_scores(Y: np.ndarray, tasks: EvalTasks) -> dict[str, float]:
    """Spearman ρ of cosine vs gold for every similarity task in ``tasks``."""
    from scipy.stats import spearmanr

    U = _unit(Y)
    return {
        name: float(spearmanr(np.einsum("ij,ij->i", U[a], U[b]), s)[0])
        for name, (a, b, s) in tasks.sim.items()
    }


def evaluate_runs(
    Ys: Sequence[np.ndarray],
    *,
    raw: Sequence[np.ndarray] | None = None,
    tasks: EvalTasks | None = None,
    ks: Sequence[int] = (1, 5, 10, 20, 50),
    queries: np.ndarray | None = None,
    eis_pairs: int = 3,
) -> dict[str, Any]:
    """Every stability and quality metric of one set of runs (all rows aligned).

    Parameters
    ----------
    Ys
        The R runs to compare (smoothed or raw).
    raw
        The unsmoothed runs: anchors of EIS and the reference of fidelity (default ``Ys``).
    tasks
        Quality tasks (:func:`load_tasks`); None skips them.
    ks
        Neighbourhood sizes of the overlap curve; k = 10 is the headline.
    queries
        Rows whose neighbourhoods are compared (default all).
    eis_pairs
        EIS is averaged over the first this many pairs (it costs two SVDs per pair).
    """
    from .. import metrics

    raw = Ys if raw is None else raw
    R = len(Ys)
    n = Ys[0].shape[0]
    pairs = [(a, b) for a in range(R) for b in range(a + 1, R)]
    out: dict[str, Any] = {}
    ks = sorted({int(k) for k in ks if 1 <= k < n} | {10})
    running = _progress.current()  # the evaluation task, counted in runs
    nn = [metrics.knn_indices(Y, max(ks), queries=queries)
          for Y in _progress.counted(Ys, running)]  # fmt: skip
    for k in ks:
        per = np.array([metrics.neighbor_overlap(nn[a][:, :k], nn[b][:, :k]) for a, b in pairs])
        out[f"overlap@{k}"] = float(per.mean())
        if k == 10:
            per10 = per
    out["overlap@10_sd_pairs"] = float(per10.mean(axis=1).std())
    out["jaccard@10"] = float((per10 / (2.0 - per10)).mean())
    q = np.arange(n) if queries is None else np.asarray(queries)
    pq = per10.mean(axis=0)
    for name, lo, hi in (("top1k", 0, 1000), ("1k-5k", 1000, 5000), ("5k+", 5000, n)):
        sel = (q >= lo) & (q < hi)
        out[f"overlap@10_{name}"] = float(pq[sel].mean()) if sel.any() else float("nan")
    if raw is Ys or all(Y is X for Y, X in zip(Ys, raw, strict=True)):
        out["fidelity@10"] = 1.0
    else:
        out["fidelity@10"] = float(
            np.mean(
                [
                    metrics.neighbor_overlap(
                        nn_y[:, :10], metrics.knn_indices(X, 10, queries=queries)
                    )
                    for nn_y, X in zip(nn, raw, strict=True)
                ]
            )
        )
    out["eis"] = float(
        np.mean(
            [
                metrics.eigenspace_instability(_unit(Ys[a]), _unit(Ys[b]), raw[a], raw[b])
                for a, b in pairs[:eis_pairs]
            ]
        )
    )
    out["procrustes"] = float(
        np.mean([metrics.procrustes_distance(_unit(Ys[a]), _unit(Ys[b])) for a, b in pairs])
    )
    out["effective_rank"] = float(np.mean([metrics.effective_rank(_unit(Y)) for Y in Ys]))
    out["mean_cosine"] = float(np.mean([metrics.mean_cosine(Y) for Y in Ys]))
    if tasks is not None:
        sims = [similarity_scores(Y, tasks) for Y in Ys]
        for name in tasks.sim:
            vals = [s[name] for s in sims]
            out[name] = float(np.mean(vals))
            out[f"{name}_sd"] = float(np.std(vals))
            out[f"{name}_pairs"] = int(tasks.sim[name][0].size)
        if tasks.cls_rows is not None:
            res = metrics.classifier_disagreement(
                [Y[tasks.cls_rows] for Y in Ys], tasks.cls_labels, tasks.train, tasks.test
            )
            out["supersense_accuracy"] = res["accuracy"]
            out["disagreement"] = res["disagreement"]
    return out


def smooth_runs(
    runs: Sequence[np.ndarray],
    graph: str | sp.spmatrix | Sequence[sp.spmatrix],
    *,
    words: Sequence[str] | None = None,
    reference: np.ndarray | None = None,
    lexicon: Any = None,
    operator: str = "ppr",
    alpha: float = 0.5,
    t: float = 1.0,
    n_neighbors: int = 10,
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Smooth every run independently (rows L2-normalised first).

    ``graph``: ``"knn"`` (each run's own graph), ``"lexicon"`` (``lexicon`` pairs over
    ``words``, default WordNet synonyms), ``"reference"`` (the kNN graph of ``reference``)
    a fixed sparse adjacency, or a list of one adjacency per run. ``info["graph_for_reuse"]``
    returns the graph(s) used, to smooth again at another setting without rebuilding them.
    """
    info: dict[str, Any] = {}
    fixed = None
    if isinstance(graph, str):
        if graph == "lexicon":
            if words is None:
                msg = "graph='lexicon' needs the words (row labels) of the runs."
                raise InputError(msg)
            fixed, info = lexicon_adjacency(
                words, wordnet_synonyms() if lexicon is None else lexicon
            )
        elif graph == "reference":
            if reference is None:
                msg = "graph='reference' needs a reference run (train_runs(reference=True))."
                raise InputError(msg)
            fixed = knn_adjacency(_unit(reference), n_neighbors, knn="exact")
            info = {"n_edges": int(fixed.nnz // 2)}
        elif graph != "knn":
            msg = f"graph={graph!r} is not supported; choose 'knn', 'lexicon' or 'reference'."
            raise InputError(msg)
    elif isinstance(graph, list | tuple):  # one adjacency per run (own graphs, reused)
        per_run = list(graph)
    else:
        fixed = sp.csr_matrix(graph)
    start = time.perf_counter()
    out, used = [], []
    for r, X in _progress.counted(enumerate(runs), _progress.current()):  # a task in runs
        X0 = _unit(X)
        if fixed is not None:
            A = fixed
        elif isinstance(graph, list | tuple):
            A = per_run[r]
        else:
            A = knn_adjacency(X0, n_neighbors, knn="exact")
        used.append(A)
        out.append(smooth(X0, A, operator=operator, alpha=alpha, t=t))
    info["seconds_per_run"] = (time.perf_counter() - start) / len(runs)
    info["graph_for_reuse"] = fixed if fixed is not None else used
    return out, info


#: Sweep of the report's "overlap against α / t" plot.
SWEEP_ALPHA = (1.0, 0.7, 0.5, 0.3, 0.2, 0.1)
SWEEP_T = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0)


def run_stability(
    runs: StabilityRuns,
    *,
    graph: str = "lexicon",
    operator: str = "ppr",
    alpha: float = 0.5,
    t: float = 1.0,
    lexicon: Any = None,
    n_neighbors: int = 10,
    own_knn: bool = True,
    sweep: bool = True,
    tasks: EvalTasks | None = None,
    ks: Sequence[int] = (1, 5, 10, 20, 50),
    n_queries: int | None = None,
    random_state: int = 0,
) -> dict[str, Any]:
    """Every metric of the raw runs and of the smoothed runs, plus the α/t sweep.

    Rows: ``raw``; ``smoothed`` over ``graph``; with ``own_knn`` (and ``graph`` not already
    ``"knn"``) the same filter over each run's own kNN graph, reported for honesty (it did not
    stabilise in any measured setting). ``delta_*`` keys hold smoothed − raw.

    Returns
    -------
    dict
        ``rows`` (list of metric dicts), ``sweep`` (list of dicts: setting, overlap@10, quality),
        ``graph_info``, ``n_words``.
    """
    words = runs.words
    n = len(words)
    queries = None
    if n_queries is not None and n_queries < n:
        rng = np.random.default_rng(random_state)
        queries = np.sort(rng.choice(n, n_queries, replace=False))
    raw = [_unit(X) for X in runs.runs]
    setting = {
        "operator": operator,
        "alpha": alpha if operator == "ppr" else None,
        "t": t if operator in ("heat", "lazy_walk") else None,
    }
    rows = []
    with _progress.task("evaluate raw", len(raw), unit="runs"):
        base = evaluate_runs(raw, raw=raw, tasks=tasks, ks=ks, queries=queries)
    rows.append(
        {
            "method": "raw",
            "graph": "none",
            "operator": "none",
            "alpha": None,
            "t": None,
            "seconds_per_run": 0.0,
            **base,
        }
    )
    graphs = [graph] + (["knn"] if own_knn and graph != "knn" else [])
    graph_info: dict[str, Any] = {}
    fixed = None
    for g in graphs:
        with _progress.task(f"smooth ({g})", len(raw), unit="runs"):
            Ys, info = smooth_runs(
                raw,
                g,
                words=words,
                reference=runs.reference,
                lexicon=lexicon,
                operator=operator,
                alpha=alpha,
                t=t,
                n_neighbors=n_neighbors,
            )
        if g == graph:
            fixed = info.pop("graph_for_reuse")
            graph_info = {k: v for k, v in info.items()}
        else:
            info.pop("graph_for_reuse")
        with _progress.task(f"evaluate ({g})", len(raw), unit="runs"):
            res = evaluate_runs(Ys, raw=raw, tasks=tasks, ks=ks, queries=queries)
        label = "smoothed" if g == graph else "own kNN (honesty check)"
        row = {
            "method": label,
            "graph": g,
            **setting,
            "seconds_per_run": info["seconds_per_run"],
            **res,
        }
        for key, value in res.items():
            if isinstance(value, float) and isinstance(base.get(key), float):
                row[f"delta_{key}"] = value - base[key]
        rows.append(row)
    sweep_rows: list[dict[str, Any]] = []
    if sweep and operator in ("ppr", "heat"):
        with _progress.task("sweep", len(SWEEP_ALPHA if operator == "ppr" else SWEEP_T),
                            unit="settings") as running:
            sq = queries
            if sq is None and n > 2000:
                sq = np.sort(np.random.default_rng(random_state).choice(n, 2000, replace=False))
            grid = SWEEP_ALPHA if operator == "ppr" else SWEEP_T
            for value in _progress.counted(grid, running):
                kw = {"alpha": value} if operator == "ppr" else {"t": value}
                with _progress.detached():  # its runs are not the sweep's settings
                    Ys, _ = smooth_runs(raw, fixed, operator=operator, n_neighbors=n_neighbors,
                                        **kw)  # fmt: skip
                from .. import metrics

                entry = {
                    "operator": operator,
                    **kw,
                    "overlap@10": metrics.pairwise_overlap(Ys, 10, queries=sq)["overlap"],
                    "effective_rank": float(np.mean([metrics.effective_rank(Y) for Y in Ys])),
                    "mean_cosine": float(np.mean([metrics.mean_cosine(Y) for Y in Ys])),
                }
                if tasks is not None:
                    sims = [similarity_scores(Y, tasks) for Y in Ys]
                    for name in tasks.sim:
                        entry[name] = float(np.mean([s[name] for s in sims]))
                sweep_rows.append(entry)
    return {
        "rows": rows,
        "sweep": sweep_rows,
        "graph_info": graph_info,
        "n_words": n,
        "n_queries": n if queries is None else int(queries.size),
    }
