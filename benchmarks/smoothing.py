"""Diffusion smoothing: speed against a plain scipy loop and retrofitting, and a stability table.

    python benchmarks/smoothing.py --suite speed       # n = 10k / 100k / 1M rows (~5 min)
    python benchmarks/smoothing.py --suite stability   # Debian corpus protocol (~6 min)
    python benchmarks/smoothing.py                     # both -> benchmarks/results/smoothing.md

Speed: smoothing n × d rows over a given sparse graph (a random symmetric graph with ~10
neighbours per row; building a kNN graph is not timed). Each method runs in its own spawned
process with one BLAS/OpenMP thread; "s" is the wall time of the smoothing, "peak MB" the
process's VmHWM. Methods:

- ``diffembed ppr`` — ``smooth(X, A, operator="ppr", alpha=0.5)``: conjugate gradients on the
  symmetric system to a relative residual of 1e-8 (the default).
- ``scipy loop`` — the hand-written APPNP loop of the research harness
  (``X ← α X₀ + (1−α) T X`` with a scipy CSR ``T``, 30 iterations, ~1e-9 of the fixed point).
- ``diffembed retrofit`` — Faruqui's 10 Gauss–Seidel sweeps, each one sparse triangular solve.
- ``retrofit.py loop`` — the released algorithm's per-row Python loop (10 sweeps), only where it
  finishes in reasonable time.
- ``diffembed heat`` — ``exp(−t(I − T)) X`` at t = 1 by ``expm_multiply``.
torch-geometric's APPNP is not installed in this environment and is not run.

Stability: research note A.3's protocol on this repository's builder (25 % of the Debian corpus
segments, bootstrap replicates, PPMI-SVD top-10k words per run, d = 100, the words every run
shares), 4 compared runs, plus the upper-bound baseline of bootstrap averaging: 4 groups of 4
further bootstrap runs, each group Procrustes-aligned to its first run and averaged, and the 4
averages compared pairwise (so it costs 4 trainings per embedding instead of 1).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import scipy.sparse as sp

RESULTS = Path(__file__).resolve().parent / "results"


def peak_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def random_graph(n: int, k: int = 5, seed: int = 0) -> sp.csr_matrix:
    """Symmetric 0/1 graph: every row links to k random others, then union (~2k per row)."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), k)
    cols = rng.integers(0, n, n * k)
    A = sp.csr_matrix((np.ones(n * k), (rows, cols)), shape=(n, n))
    A = A.maximum(A.T).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    A.data[:] = 1.0  # a link drawn twice is still one edge
    return A


def scipy_loop(X0: np.ndarray, A: sp.csr_matrix, alpha: float = 0.5, iters: int = 30):
    d = np.asarray(A.sum(1)).ravel()
    d[d == 0] = 1
    T = sp.diags(1 / d) @ A
    X = X0.copy()
    for _ in range(iters):
        X = alpha * X0 + (1 - alpha) * (T @ X)
    return X


def retrofit_loop(X0: np.ndarray, A: sp.csr_matrix, iters: int = 10):
    X = X0.copy()
    deg = np.diff(A.indptr)
    for _ in range(iters):
        for i in np.nonzero(deg)[0]:
            nb = A.indices[A.indptr[i] : A.indptr[i + 1]]
            X[i] = (deg[i] * X0[i] + X[nb].sum(0)) / (2 * deg[i])
    return X


def _speed_child(method: str, n: int, d: int, queue) -> None:
    try:
        from diffembed.smoothing import smooth

        A = random_graph(n)
        X = np.random.default_rng(1).normal(size=(n, d))
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        start = time.perf_counter()
        if method == "diffembed ppr":
            Y = smooth(X, A, operator="ppr", alpha=0.5)
        elif method == "scipy loop":
            Y = scipy_loop(X, A)
        elif method == "diffembed retrofit":
            Y = smooth(X, A, operator="retrofit")
        elif method == "retrofit.py loop":
            Y = retrofit_loop(X, A)
        elif method == "diffembed heat":
            Y = smooth(X, A, operator="heat", t=1.0)
        seconds = time.perf_counter() - start
        mb = peak_mb()
        err = float("nan")
        if method != "diffembed heat":  # distance to the PPR-½ fixed point (CG to 1e-13)
            ref = smooth(X, A, operator="ppr", alpha=0.5, tol=1e-13)
            err = float(np.linalg.norm(Y - ref) / np.linalg.norm(ref))
        queue.put({"ok": True, "seconds": seconds, "peak_mb": mb, "nnz": int(A.nnz), "error": err})
    except Exception as exc:
        queue.put({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


def run_child(target, args, timeout: float) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return {"ok": False, "error": f"over the {timeout:.0f} s cap"}
    return queue.get() if not queue.empty() else {"ok": False, "error": f"exit {proc.exitcode}"}


def suite_speed(timeout: float) -> list[str]:
    plan = [
        (10_000, 100, ["diffembed ppr", "scipy loop", "diffembed retrofit", "retrofit.py loop",
                       "diffembed heat"]),
        (10_000, 300, ["diffembed ppr", "scipy loop", "diffembed retrofit", "retrofit.py loop",
                       "diffembed heat"]),
        (100_000, 100, ["diffembed ppr", "scipy loop", "diffembed retrofit", "retrofit.py loop",
                        "diffembed heat"]),
        (100_000, 300, ["diffembed ppr", "scipy loop", "diffembed retrofit", "diffembed heat"]),
        (1_000_000, 100, ["diffembed ppr", "scipy loop", "diffembed retrofit"]),
    ]  # fmt: skip
    lines = [
        "| rows × dims | method | seconds | vs scipy loop | rel. error to fixed point | peak MB "
        "| load (1 min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, d, methods in plan:
        base = None
        for method in methods:
            load = os.getloadavg()[0]
            res = run_child(_speed_child, (method, n, d), timeout)
            print(n, d, method, res, f"load {load:.2f}", file=sys.stderr, flush=True)
            if res["ok"]:
                if method == "scipy loop":
                    base = res["seconds"]
                rel = f"{res['seconds'] / base:.2f}×" if base else "–"
                err = "–" if np.isnan(res["error"]) else f"{res['error']:.1e}"
                lines.append(f"| {n:,} × {d} | {method} | {res['seconds']:.2f} | {rel} | {err} | "
                             f"{res['peak_mb']:.0f} | {load:.1f} |")  # fmt: skip
            else:
                lines.append(
                    f"| {n:,} × {d} | {method} | {res['error']} | – | – | – | {load:.1f} |"
                )
    return lines


def _align_average(group: list[np.ndarray]) -> np.ndarray:
    from diffembed.metrics import procrustes_align

    unit = [X / np.linalg.norm(X, axis=1, keepdims=True) for X in group]
    ref = unit[0]
    for _ in range(2):  # generalised Procrustes: align to the running mean, twice
        ref = np.mean([procrustes_align(U, ref) for U in unit], axis=0)
    return ref


def suite_stability() -> list[str]:
    from threadpoolctl import threadpool_limits

    from diffembed.embed import data
    from diffembed.smoothing import protocol
    from diffembed.smoothing.graphs import consensus_adjacency, wordnet_synonyms

    threadpool_limits(1)
    t0 = time.perf_counter()
    segs = list(data.debian_corpus())
    keep = np.random.default_rng(0).random(len(segs)) < 0.25
    segs = [s for s, k in zip(segs, keep, strict=True) if k]
    runs = protocol.train_runs(segs, runs=20, perturb="bootstrap", reference=True, dim=100,
                               max_vocab=10_000, window=5)  # fmt: skip
    train_s = sum(v for k, v in runs.info["timings"].items()) / 21
    print(f"trained 21 runs in {time.perf_counter() - t0:.0f} s; shared {len(runs.words)}",
          file=sys.stderr, flush=True)  # fmt: skip
    words = runs.words
    compared = [X / np.linalg.norm(X, axis=1, keepdims=True) for X in runs.runs[:4]]
    tasks = protocol.load_tasks(words)
    lex = wordnet_synonyms()
    table = []

    def row(name: str, Ys, seconds: float, cost: str) -> None:
        t = time.perf_counter()
        res = protocol.evaluate_runs(Ys, raw=compared, tasks=tasks)
        print(name, f"{time.perf_counter() - t:.0f} s eval", {k: round(v, 4) for k, v in res.items()
              if isinstance(v, float)}, file=sys.stderr, flush=True)  # fmt: skip
        table.append((name, res, seconds, cost))

    row("none (raw runs)", compared, 0.0, "1 training")
    for name, graph, op, kw in [
        ("WordNet synonyms, PPR α=0.5 (retrofit fixed point)", "lexicon", "ppr", {"alpha": 0.5}),
        ("WordNet synonyms, retrofit 10 sweeps", "lexicon", "retrofit", {}),
        ("WordNet synonyms, heat t=1", "lexicon", "heat", {"t": 1.0}),
        ("reference run's 10-NN graph, PPR α=0.5", "reference", "ppr", {"alpha": 0.5}),
        ("own 10-NN graph, PPR α=0.5 (not a stabiliser)", "knn", "ppr", {"alpha": 0.5}),
        ("own 10-NN graph, heat t=3 (not a stabiliser)", "knn", "heat", {"t": 3.0}),
    ]:
        Ys, info = protocol.smooth_runs(compared, graph, words=words, reference=runs.reference,
                                        lexicon=lex, operator=op, **kw)  # fmt: skip
        cost = "1 training + smoothing"
        if graph == "reference":
            cost += " (+1 reference run, shared by all)"
        row(name, Ys, info["seconds_per_run"], cost)
    # consensus: majority edges of 4 *other* runs' kNN graphs (runs 16..19), fixed for all
    t = time.perf_counter()
    C, cinfo = consensus_adjacency(words, runs.runs[16:20], n_neighbors=10, knn="exact")
    cons_s = time.perf_counter() - t
    Ys, info = protocol.smooth_runs(compared, C, operator="ppr", alpha=0.5)
    name = f"consensus of 4 other runs' 10-NN graphs ({cinfo['n_edges']:,} edges), PPR α=0.5"
    cost = f"1 training + smoothing (+4 runs and {cons_s:.0f} s for the shared graph)"
    row(name, Ys, info["seconds_per_run"], cost)
    # bootstrap averaging: 4 averaged embeddings, each from 4 bootstrap runs (4..7, 8..11, ...)
    t = time.perf_counter()
    averages = [_align_average(runs.runs[4 + 4 * g : 8 + 4 * g]) for g in range(3)]
    averages.append(_align_average(runs.runs[0:4]))
    avg_s = (time.perf_counter() - t) / 4
    row("bootstrap averaging of 4 runs (Procrustes, upper bound)", averages, avg_s,
        "4 trainings + alignment")  # fmt: skip
    load = os.getloadavg()
    lines = [
        f"Shared vocabulary {len(words):,} words (top-10k of each of 21 bootstrap runs, 25 % of "
        f"the Debian corpus: {runs.info['n_segments']:,} segments, "
        f"~{np.mean(runs.info['n_tokens']) / 1e6:.2f}M tokens per run); training one run: "
        f"{train_s:.1f} s; WS353 {tasks.sim['ws353'][0].size} pairs, "
        f"SimLex {tasks.sim['simlex'][0].size} pairs, supersense "
        f"{tasks.cls_rows.size:,} nouns. Load average at the end {load[0]:.1f} / {load[1]:.1f}.",
        "",
        "| smoother | NN@10 overlap (s.d. pairs) | top-1k / 5k+ | fidelity | WS353 | SimLex | "
        "supersense acc | disagreement | EIS | eff. rank | mean cos | s per run | cost |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r, seconds, cost in table:
        lines.append(
            f"| {name} | {r['overlap@10']:.3f} ({r['overlap@10_sd_pairs']:.3f}) | "
            f"{r['overlap@10_top1k']:.3f} / {r['overlap@10_5k+']:.3f} | {r['fidelity@10']:.3f} | "
            f"{r['ws353']:.3f} | {r['simlex']:.3f} | {r['supersense_accuracy']:.3f} | "
            f"{100 * r['disagreement']:.1f}% | {r['eis']:.3f} | {r['effective_rank']:.0f} | "
            f"{r['mean_cosine']:.3f} | {seconds:.2f} | {cost} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", choices=["speed", "stability", "all"], default="all")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    parts = ["# Diffusion smoothing: speed and stability", "",
             "Generated by `python benchmarks/smoothing.py` (one BLAS thread; 2 shared cores, "
             "timings taken while other jobs ran — see the load column).", ""]  # fmt: skip
    if args.suite in ("speed", "all"):
        parts += ["## Speed (given graph, ~10 neighbours per row)", "", *suite_speed(args.timeout)]
        parts.append("")
    if args.suite in ("stability", "all"):
        parts += ["## Stability (4 bootstrap runs, Debian corpus 25 %)", "", *suite_stability()]
    text = "\n".join(parts) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    name = "smoothing.md" if args.suite == "all" else f"smoothing_{args.suite}.md"
    (RESULTS / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
