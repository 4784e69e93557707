"""Embedding builders side by side with their peers, one process per method, one markdown table.

    python benchmarks/embed.py --suite words   # PPMI-SVD vs gensim SGNS on the Debian corpus
    python benchmarks/embed.py --suite nodes   # NetMF / DeepWalk matrix vs walks + skip-gram
    python benchmarks/embed.py --suite words --methods diffembed --output /tmp/words.md
    python benchmarks/embed.py --suite nodes --graphs lfr10k_mu0.4 --large-methods "sparse,gensim"

Data: `bash scripts/fetch_data.sh` (Debian corpus, WS353, SimLex-999, Google analogies). Peers
are optional and never dependencies of diffembed: gensim (Word2Vec for SGNS and for DeepWalk on
our walks) and karateclub (DeepWalk, NetMF) live in the benchmark venv (see
benchmarks/README.md; setup_bench_env.sh). A peer that is not installed is reported as such.

Every method runs in its own spawned process; "fit s" is the wall time of the fit (corpus or
graph loading excluded), "peak MB" the process's VmHWM right after the fit. Evaluation: Spearman
ρ on WS353 / SimLex-999 over in-vocabulary pairs, Google analogies (3CosAdd) over covered
questions; nodes: logistic regression (C = 10) Micro/Macro-F1 on 50 % splits (3 seeds),
k-means NMI. Ratios are against the peer of the same run (gensim SGNS; DeepWalk on our walks).
Graphs are generated once (time-boxed, --graph-timeout) and cached under --cache. Results go to
stdout and benchmarks/results/embed_<suite>.md (or --output); the nodes table is rewritten
after every graph, so a long run keeps the graphs it finished.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def peak_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _child(queue, name, args):
    try:
        queue.put(("ok", globals()[name](*args)))
    except BaseException as exc:  # report, never hang the parent
        queue.put(("err", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"))


def isolated(name: str, args: tuple, timeout: float) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, name, args))
    proc.start()
    start = time.time()
    while time.time() - start < timeout:
        try:
            status, payload = queue.get(timeout=2)
            proc.join()
            return payload if status == "ok" else {"error": payload.splitlines()[0][:150]}
        except Exception:
            if not proc.is_alive():
                return {"error": f"process died (exit code {proc.exitcode})"}
    proc.kill()
    proc.join()
    return {"error": f"timeout after {timeout:.0f} s"}


def table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    out = ["| " + " | ".join(h for _, h, _ in cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        cells = []
        for key, _, fmt in cols:
            value = row.get(key, "")
            cells.append(format(value, fmt) if isinstance(value, float) and fmt else str(value))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


# --------------------------------------------------------------------------------- words
def _limit_threads(threads: int | None) -> None:
    if threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)


def word_scores(words: list[str], X: np.ndarray) -> dict:
    from diffembed.embed import KeyedVectors, evaluate

    kv = KeyedVectors(words, X)
    out = {}
    for name in ("ws353", "simlex"):
        s = evaluate.word_similarity(kv, name)
        out[name], out[name + "_oov"] = s["spearman"], s["n_oov"]
    a = evaluate.analogy(kv, "google")
    out["analogy"], out["covered"] = a["accuracy"], f"{a['n_covered']}/{a['n_total']}"
    return out


def m_diffembed_words(corpus: str, dim: int, window: int, vocab: int, threads: int | None):
    from diffembed.embed import word_vectors

    _limit_threads(threads)
    start = time.time()
    wv = word_vectors(
        Path(corpus), dim=dim, window=window, min_count=5, max_vocab=vocab, threads=threads
    )
    fit, peak = time.time() - start, peak_mb()
    t = wv.info["timings"]
    row = {"time_s": fit, "peak_mb": peak, **word_scores(wv.words, wv.vectors),
           "notes": f"count {t['count']:.0f} s, pmi {t['pmi']:.0f} s, svd {t['svd']:.0f} s, "
                    f"{wv.info['pmi_nnz'] / 1e6:.1f}M non-zeros, {threads or 'all'} BLAS "
                    f"thread(s), vocab {len(wv)}"}  # fmt: skip
    both = wv.with_context()
    row["w+c"] = word_scores(both.words, both.vectors)
    return row


def m_gensim_sgns(corpus: str, dim: int, window: int, vocab: int, workers: int):
    from gensim.models import Word2Vec

    start = time.time()
    model = Word2Vec(
        corpus_file=corpus, sg=1, negative=5, hs=0, window=window, vector_size=dim,
        min_count=5, max_final_vocab=vocab, sample=1e-3, epochs=5, workers=workers, seed=1,
    )  # fmt: skip
    fit, peak = time.time() - start, peak_mb()
    words = list(model.wv.index_to_key)
    return {"time_s": fit, "peak_mb": peak, **word_scores(words, model.wv.vectors),
            "notes": f"sg, neg 5, 5 epochs, {workers} workers, vocab {len(words)}"}  # fmt: skip


def suite_words(args) -> str:
    from diffembed.embed import data
    from diffembed.embed.cooccurrence import default_tokenizer

    corpus = Path(args.cache) / "debian_corpus.txt"
    if not corpus.exists():
        corpus.parent.mkdir(parents=True, exist_ok=True)
        with open(corpus, "w", encoding="utf-8") as handle:
            for segment in data.debian_corpus():
                tokens = default_tokenizer(segment)
                if len(tokens) >= 2:
                    handle.write(" ".join(tokens) + "\n")
    methods = [("diffembed PPMI-SVD (cds .75, p = ½)", "m_diffembed_words", args.threads),
               ("gensim Word2Vec SGNS", "m_gensim_sgns", args.workers)]  # fmt: skip
    rows = []
    for label, fn, threads in methods:
        if args.methods and not any(m in label.lower() for m in args.methods.split(",")):
            continue
        row = isolated(fn, (str(corpus), args.dim, 5, args.vocab, threads), args.timeout)
        row["method"] = label
        rows.append(row)
        if "w+c" in row:
            rows.append({"method": "diffembed PPMI-SVD, w + c", **row.pop("w+c")})
        print(f"  .. {label}: {row.get('time_s', row.get('error'))}", file=sys.stderr)
    add_ratios(rows, next((r for r in rows if r["method"].startswith("gensim")), None))
    with open(corpus, encoding="utf-8") as handle:
        ntok = sum(len(line.split()) for line in handle)
    head = (f"Corpus: {ntok / 1e6:.2f}M tokens (Debian, scripts/fetch_data.sh), vocabulary ≤ "
            f"{args.vocab} words with count ≥ 5, window 5, {args.dim} dimensions. Ratios are "
            "against gensim SGNS in the same run: speed-up = its fit time / this fit time, "
            "memory = this peak / its peak, Δ = this score − its score.\n\n")  # fmt: skip
    cols = [("method", "method", ""), ("time_s", "fit s", ".1f"), ("peak_mb", "peak MB", ".0f"),
            ("ws353", "WS353 ρ", ".3f"), ("ws353_oov", "oov", ""), ("simlex", "SimLex ρ", ".3f"),
            ("simlex_oov", "oov", ""), ("analogy", "analogy", ".3f"), ("covered", "covered", ""),
            ("speedup", "speed-up vs SGNS", ""), ("mem_ratio", "memory vs SGNS", ""),
            ("d_ws353", "Δ WS353", ""), ("d_simlex", "Δ SimLex", ""),
            ("d_analogy", "Δ analogy", ""), ("notes", "notes", ""),
            ("error", "error", "")]  # fmt: skip
    return head + table(rows, cols)


def add_ratios(rows: list[dict], ref: dict | None, *, keys=("ws353", "simlex", "analogy")) -> None:
    """Speed-up, memory ratio and score differences of every row against ``ref``."""
    if ref is None or "error" in ref:
        return
    for row in rows:
        if row is ref or "error" in row:
            continue
        if row.get("time_s"):
            row["speedup"] = f"{ref['time_s'] / row['time_s']:.1f}×"
        if row.get("peak_mb"):
            row["mem_ratio"] = f"{row['peak_mb'] / ref['peak_mb']:.2f}×"
        for key in keys:
            if key in row and key in ref:
                row["d_" + key] = f"{row[key] - ref[key]:+.3f}"


# --------------------------------------------------------------------------------- nodes
NETWORKX_LFR_MAX = 20_000  # larger LFR graphs come from networkit (benchmark venv only)


def lfr(n: int, mu: float, max_seeds: int = 5):
    """networkx's LFR graph (degree 20, max degree 50, communities of 20–100 nodes)."""
    import networkx as nx

    for seed in range(max_seeds):
        try:
            G = nx.LFR_benchmark_graph(
                n, tau1=3, tau2=1.5, mu=mu, average_degree=20, max_degree=50,
                min_community=20, max_community=100, seed=seed,
            )  # fmt: skip
            break
        except nx.ExceededMaxIterations:
            continue
    else:
        msg = f"LFR generator did not converge for {max_seeds} seeds"
        raise RuntimeError(msg)
    G.remove_edges_from(nx.selfloop_edges(G))
    seen: dict = {}
    y = np.array([seen.setdefault(min(G.nodes[v]["community"]), len(seen)) for v in G])
    return G, y


def lfr_networkit(n: int, mu: float, seed: int = 0):
    """NetworKit's LFR generator (C++) with :func:`lfr`'s parameters, for 100k nodes and more.

    networkx's pure-Python generator did not finish an LFR graph of 100k nodes in 15 minutes.
    Returns the symmetric CSR adjacency and the community labels.
    """
    import networkit as nk
    import scipy.sparse as sp

    nk.setSeed(seed, False)
    nk.setNumberOfThreads(1)
    gen = nk.generators.LFRGenerator(n)
    gen.generatePowerlawDegreeSequence(20, 50, -3)  # networkx: tau1 = 3
    gen.generatePowerlawCommunitySizeSequence(20, 100, -1.5)  # networkx: tau2 = 1.5
    gen.setMu(mu)
    G = gen.generate()
    G.removeSelfLoops()
    G.removeMultiEdges()
    rows, cols = np.array(list(G.iterEdges()), dtype=np.int64).T
    A = sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    A = sp.csr_matrix(A + A.T)
    A.data[:] = 1.0
    y = np.unique(np.asarray(gen.getPartition().getVector()), return_inverse=True)[1]
    return A, y


def make_graph(name: str, path: str) -> dict:
    """Build graph ``name`` once and save it as ``path`` (edges + labels); returns facts."""
    import networkx as nx
    import scipy.sparse as sp

    start = time.time()
    if name == "karate":
        G = nx.karate_club_graph()
        y = np.array([G.nodes[v]["club"] == "Officer" for v in G], dtype=int)
        A = nx.to_scipy_sparse_array(G, weight=None, format="csr")
    elif name == "wordnet":
        from diffembed.embed import data

        A, labels, _ = data.wordnet_graph(pos="n")
        y = np.unique(labels, return_inverse=True)[1]
    else:  # lfr<n>_mu<μ>, e.g. lfr10k_mu0.4 (networkx) or lfr100k_mu0.4 (networkit)
        n, mu = name.removeprefix("lfr").split("_mu")
        n = int(n.replace("k", "000"))
        if n > NETWORKX_LFR_MAX:
            A, y = lfr_networkit(n, float(mu))
        else:
            G, y = lfr(n, float(mu))
            A = nx.to_scipy_sparse_array(G, nodelist=list(G), weight=None, format="csr")
    A = sp.coo_matrix(sp.triu(A, k=1))
    seconds = time.time() - start
    np.savez(path, row=A.row.astype(np.int32), col=A.col.astype(np.int32), y=y,
             n=len(y), seconds=seconds)  # fmt: skip
    return graph_facts(path)


def graph_facts(path: str) -> dict:
    z = np.load(path)
    seconds = float(z["seconds"]) if "seconds" in z.files else float("nan")
    return {"n": int(z["n"]), "edges": int(z["row"].size), "seconds": seconds,
            "classes": int(np.unique(z["y"]).size)}  # fmt: skip


def load_graph(path: str):
    """Symmetric 0/1 CSR adjacency and labels of a graph saved by :func:`make_graph`."""
    import scipy.sparse as sp

    z = np.load(path)
    n = int(z["n"])
    A = sp.coo_matrix((np.ones(z["row"].size), (z["row"], z["col"])), shape=(n, n))
    return sp.csr_matrix(A + A.T), z["y"]


def nx_graph(A):
    import networkx as nx

    return nx.from_scipy_sparse_array(A)


KMEANS_RUNS_ENV = "DIFFEMBED_BENCH_KMEANS_RUNS"
LARGE_EVAL = 1_000  # classes above which the evaluation is cut to 1 split and 1 k-means init


def node_row(X: np.ndarray, y: np.ndarray, fit: float, **extra) -> dict:
    from diffembed.embed.evaluate import node_classification

    peak = peak_mb()
    if np.unique(y).size <= LARGE_EVAL:
        runs = int(os.environ.get(KMEANS_RUNS_ENV, "1"))  # spawned children read it here
        return {"time_s": fit, "peak_mb": peak, **node_classification(X, y, kmeans_runs=runs),
                **extra}  # fmt: skip
    return {"time_s": fit, "peak_mb": peak, **node_scores_once(X, y), **extra}


def node_scores_once(X: np.ndarray, y: np.ndarray) -> dict:
    """node_classification's protocol with 1 split and 1 k-means init (LFR 100k: 2,258 classes).

    The full protocol (3 splits, 3 inits) costs ~10 minutes per method on 2 cores there.
    """
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, normalized_mutual_info_score
    from sklearn.model_selection import train_test_split

    X = np.asarray(X, float)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    train, test = train_test_split(np.arange(y.size), train_size=0.5, random_state=0, stratify=y)
    pred = LogisticRegression(C=10.0, max_iter=1000).fit(X[train], y[train]).predict(X[test])
    clusters = KMeans(int(np.unique(y).size), n_init=1, random_state=0).fit_predict(X)
    return {"micro_f1": float(f1_score(y[test], pred, average="micro")),
            "macro_f1": float(f1_score(y[test], pred, average="macro")),
            "nmi": float(normalized_mutual_info_score(y, clusters))}  # fmt: skip


def m_netmf(path: str, dim: int, threads: int | None, workers: int, **kw):
    from diffembed.embed import netmf

    _limit_threads(threads)
    A, y = load_graph(path)
    # the recipes were measured with netmf's previous defaults: keep them unless given
    kw = {"negative": 1.0, "propagate": 0, "n_iter": 5, **kw}
    start = time.time()
    nv = netmf(A, dim=min(dim, len(y) - 1), threads=threads, **kw)
    return node_row(nv.vectors, y, time.time() - start, notes=nv.info["matrix"]["method"])


def m_netmf_eig(path: str, dim: int, threads: int | None, workers: int):
    return m_netmf(path, dim, threads, workers, window=10, method="eig")


def m_netmf_eig_dynamic(path: str, dim: int, threads: int | None, workers: int):
    return m_netmf(path, dim, threads, workers, window=10, method="eig", weighting="dynamic")


def m_netmf_sparse1(path: str, dim: int, threads: int | None, workers: int):
    return m_netmf(path, dim, threads, workers, window=1, method="sparse")


def m_netmf_sparse2(path: str, dim: int, threads: int | None, workers: int):
    return m_netmf(path, dim, threads, workers, window=2, method="sparse")


def m_netmf_sparse2_dynamic(path: str, dim: int, threads: int | None, workers: int):
    return m_netmf(path, dim, threads, workers, window=2, method="sparse", weighting="dynamic")


def m_netmf_sparse2_b5(path: str, dim: int, threads: int | None, workers: int):
    return m_netmf(path, dim, threads, workers, window=2, method="sparse", negative=5.0)


def m_netmf_sparse2_b250(path: str, dim: int, threads: int | None, workers: int):
    return m_netmf(path, dim, threads, workers, window=2, method="sparse", negative=250.0)


def m_netmf_sparse2_b250_fast(path: str, dim: int, threads: int | None, workers: int):
    return m_netmf(path, dim, threads, workers, window=2, method="sparse", negative=250.0,
                   n_iter=2)  # fmt: skip


def m_netmf_sparse3_prop(path: str, dim: int, threads: int | None, workers: int):
    return m_netmf(path, dim, threads, workers, window=3, method="sparse", n_iter=2, propagate=20)


def m_netmf_sparse3(path: str, dim: int, threads: int | None, workers: int):
    return m_netmf(path, dim, threads, workers, window=3, method="sparse")


def m_netmf_sparse4(path: str, dim: int, threads: int | None, workers: int):
    return m_netmf(path, dim, threads, workers, window=4, method="sparse", max_nnz=10**8)


def m_netmf_dense(path: str, dim: int, threads: int | None, workers: int):
    A, _ = load_graph(path)
    if A.shape[0] > 12_000:
        return {"error": "skipped: exact dense NetMF is for ≤ 12k nodes"}
    return m_netmf(path, dim, threads, workers, window=10, method="dense")


def m_netmf_default_dim(path: str, dim: int, threads: int | None, workers: int):
    """Our NetMF with dim left to its default, min(128, n − 1), and dim = 128 explicitly."""
    from diffembed.embed import netmf
    from diffembed.exceptions import InputError

    _limit_threads(threads)
    A, y = load_graph(path)
    start = time.time()
    nv = netmf(A, threads=threads)
    fit = time.time() - start
    try:
        netmf(A, dim=dim, threads=threads)
        explicit = "dim = 128 accepted"
    except InputError as exc:
        explicit = f"dim = {dim}: InputError “{str(exc).split('. ')[0]}”"
    return node_row(nv.vectors, y, fit, notes=f"dim = {nv.vectors.shape[1]} chosen; {explicit}")


def m_deepwalk_matrix(path: str, dim: int, threads: int | None, workers: int, **kw):
    from diffembed.embed import deepwalk_matrix

    _limit_threads(threads)
    A, y = load_graph(path)
    start = time.time()
    nv = deepwalk_matrix(A, dim=min(dim, len(y) - 1), threads=threads, **kw)
    return node_row(nv.vectors, y, time.time() - start)


def m_deepwalk_matrix_2(path: str, dim: int, threads: int | None, workers: int):
    return m_deepwalk_matrix(path, dim, threads, workers, num_walks=2)


def m_deepwalk_matrix_prop(path: str, dim: int, threads: int | None, workers: int):
    return m_deepwalk_matrix(path, dim, threads, workers, num_walks=2, walk_length=40, n_iter=2,
                             propagate=10)  # fmt: skip


def m_deepwalk_matrix_prop40(path: str, dim: int, threads: int | None, workers: int):
    return m_deepwalk_matrix(path, dim, threads, workers, num_walks=2, walk_length=40, n_iter=2,
                             propagate=40)  # fmt: skip


def m_deepwalk_matrix_prop40_w5(path: str, dim: int, threads: int | None, workers: int):
    return m_deepwalk_matrix(path, dim, threads, workers, num_walks=2, walk_length=40, window=5,
                             n_iter=2, propagate=40)  # fmt: skip


def m_walks_gensim(path: str, dim: int, threads: int | None, workers: int, num_walks: int = 10):
    from gensim.models import Word2Vec

    from diffembed.embed import as_graph, random_walks

    A, y = load_graph(path)
    start = time.time()
    walks = random_walks(as_graph(A), num_walks=num_walks, walk_length=80, random_state=0)
    sentences = [list(map(str, w)) for w in walks.tolist()]
    del walks
    model = Word2Vec(sentences, sg=1, hs=0, negative=5, window=10, vector_size=dim, min_count=0,
                     sample=0, workers=workers, epochs=1, seed=1)  # fmt: skip
    X = np.stack([model.wv[str(i)] for i in range(len(y))])
    return node_row(X, y, time.time() - start, notes=f"{workers} workers")


def m_walks_gensim_2(path: str, dim: int, threads: int | None, workers: int):
    """DeepWalk with 2 walks per node instead of 10 (large graphs, to fit the time box)."""
    return m_walks_gensim(path, dim, threads, workers, num_walks=2)


def m_karateclub_deepwalk(path: str, dim: int, threads: int | None, workers: int):
    from karateclub import DeepWalk

    A, y = load_graph(path)
    G = nx_graph(A)
    start = time.time()
    model = DeepWalk(walk_number=10, walk_length=80, dimensions=dim, workers=workers,
                     window_size=5, epochs=1, seed=1)  # fmt: skip
    model.fit(G)
    return node_row(model.get_embedding(), y, time.time() - start,
                    notes=f"window 5 (its default), {workers} workers")  # fmt: skip


def m_karateclub_netmf(path: str, dim: int, threads: int | None, workers: int):
    from karateclub import NetMF

    A, y = load_graph(path)
    G = nx_graph(A)
    start = time.time()
    model = NetMF(dimensions=dim, order=2, seed=1)
    model.fit(G)
    return node_row(model.get_embedding(), y, time.time() - start, notes="order 2 (its default)")


NODE_METHODS = [
    ("diffembed NetMF eig (T = 10, rank 256)", "m_netmf_eig"),
    ("diffembed NetMF eig (T = 10, rank 256; dynamic window)", "m_netmf_eig_dynamic"),
    ("diffembed NetMF sparse (T = 1)", "m_netmf_sparse1"),
    ("diffembed NetMF sparse (T = 2)", "m_netmf_sparse2"),
    ("diffembed NetMF sparse (T = 2; dynamic window)", "m_netmf_sparse2_dynamic"),
    ("diffembed NetMF sparse (T = 2, b = 5)", "m_netmf_sparse2_b5"),
    ("diffembed NetMF sparse (T = 2, b = 250)", "m_netmf_sparse2_b250"),
    ("diffembed NetMF sparse (T = 2, b = 250, 2 SVD iterations)", "m_netmf_sparse2_b250_fast"),
    ("diffembed NetMF sparse (T = 3)", "m_netmf_sparse3"),
    ("diffembed NetMF sparse (T = 3, 2 SVD iterations, propagate 20)", "m_netmf_sparse3_prop"),
    ("diffembed NetMF sparse (T = 4)", "m_netmf_sparse4"),
    ("diffembed NetMF dense (T = 10, exact)", "m_netmf_dense"),
    ("diffembed DeepWalk matrix (10 × 80 walks)", "m_deepwalk_matrix"),
    ("diffembed DeepWalk matrix (2 × 80 walks)", "m_deepwalk_matrix_2"),
    ("diffembed DeepWalk matrix (2 × 40 walks, 2 SVD iterations, propagate 10)",
     "m_deepwalk_matrix_prop"),
    ("diffembed DeepWalk matrix (2 × 40 walks; 2 SVD iterations; propagate 40)",
     "m_deepwalk_matrix_prop40"),
    ("diffembed DeepWalk matrix (2 × 40 walks; window 5; 2 SVD iterations; propagate 40)",
     "m_deepwalk_matrix_prop40_w5"),
    ("DeepWalk: our walks + gensim skip-gram", "m_walks_gensim"),
    ("DeepWalk, 2 walks per node: our walks + gensim skip-gram", "m_walks_gensim_2"),
    ("karateclub DeepWalk", "m_karateclub_deepwalk"),
    ("karateclub NetMF (order 2)", "m_karateclub_netmf"),
    ("diffembed NetMF, default dim", "m_netmf_default_dim"),
]
REFERENCE = "DeepWalk: our walks + gensim skip-gram"


def suite_nodes(args, write=None) -> str:
    graph_dir = Path(args.cache) / "graphs"
    graph_dir.mkdir(parents=True, exist_ok=True)
    rows, facts = [], []
    for graph in args.graphs.split(","):
        path = str(graph_dir / f"{graph}.npz")
        if not Path(path).exists():  # generation is time-boxed like a method
            made = isolated("make_graph", (graph, path), args.graph_timeout)
            if "error" in made:
                rows.append({"graph": graph, "method": "(graph generation)", **made})
                print(f"  .. {graph}: {made['error']}", file=sys.stderr)
                continue
        made = graph_facts(path)
        facts.append(f"{graph}: {made['n']:,} nodes, {made['edges']:,} edges, "
                     f"{made['classes']} classes (built in {made['seconds']:.0f} s)")  # fmt: skip
        graph_rows = []
        selected = args.large_methods if made["n"] > 5_000 and args.large_methods else args.methods
        for label, fn in NODE_METHODS:
            if selected and not any(m in label.lower() for m in selected.split(",")):
                continue
            if fn == "m_netmf_default_dim" and graph != "karate":
                continue
            row = isolated(fn, (path, args.node_dim, args.threads, args.workers), args.timeout)
            row.update(graph=graph, method=label)
            graph_rows.append(row)
            print(f"  .. {graph} {label}: {row.get('time_s', row.get('error'))}", file=sys.stderr)
        ref = next((r for r in graph_rows if r["method"] == REFERENCE and "error" not in r),
                   None) or next((r for r in graph_rows if "DeepWalk, 2 walks" in r["method"]),
                                 None)  # fmt: skip
        add_ratios(graph_rows, ref, keys=("micro_f1", "nmi"))
        rows += graph_rows
        if write is not None:  # a partial table after every graph: a long run keeps its rows
            write(nodes_text(args, rows, facts))
    return nodes_text(args, rows, facts)


def nodes_text(args, rows: list[dict], facts: list[str]) -> str:
    cols = [("graph", "graph", ""), ("method", "method", ""), ("time_s", "fit s", ".2f"),
            ("peak_mb", "peak MB", ".0f"), ("micro_f1", "Micro-F1", ".3f"),
            ("macro_f1", "Macro-F1", ".3f"), ("nmi", "NMI", ".3f"),
            ("nmi_sd", "NMI sd", ".3f"), ("speedup", "speed-up vs DeepWalk", ""),
            ("d_micro_f1", "Δ Micro-F1", ""),
            ("d_nmi", "Δ NMI", ""), ("notes", "notes", ""),
            ("error", "error", "")]  # fmt: skip
    head = (f"{args.node_dim} dimensions (karate: {args.node_dim} for the peers, 33 for ours). "
            "Ratios are against DeepWalk = our uniform walks (10 per node × 80 steps) + gensim "
            "skip-gram (window 10, 5 negatives, 1 epoch) on the same graph: speed-up = its fit "
            "time / this fit time, Δ = this score − its score. Micro/Macro-F1: logistic "
            "regression on 50 % of the nodes (3 splits); NMI: k-means (k = number of classes) "
            "on the unit-normalised vectors, the mean over --kmeans-runs clusterings of 3 inits "
            "each (NMI sd: their standard deviation; more than 1,000 classes: 1 split, 1 "
            "k-means init). "
            "LFR: networkx generator up to 20k nodes, networkit's above, degree 20 (max 50), "
            "communities of 20–100 nodes, mixing μ as named. WordNet: 82,115 noun synsets, "
            "26 lexicographer classes.\n\n")  # fmt: skip
    if facts:
        head += "Graphs: " + "; ".join(facts) + ".\n\n"
    return head + table(rows, cols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--suite", choices=["words", "nodes"], default="words")
    ap.add_argument("--methods", help="comma-separated substrings of method labels")
    ap.add_argument("--graphs", default="karate,lfr10k_mu0.1,lfr10k_mu0.2,lfr10k_mu0.3,"
                    "lfr10k_mu0.4,wordnet")
    ap.add_argument("--output", help="results file (default benchmarks/results/embed_<suite>.md)")
    ap.add_argument("--large-methods", default="",
                    help="method substrings for graphs above 5,000 nodes (default: --methods)")
    ap.add_argument("--graph-timeout", type=float, default=900,
                    help="seconds allowed to generate one graph (networkx LFR)")
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--node-dim", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads of the diffembed methods (0: no cap)")
    ap.add_argument("--workers", type=int, default=2, help="gensim / karateclub workers")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--kmeans-runs", type=int, default=1,
                    help="k-means clusterings (3 inits each) whose NMI is averaged")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "diffembed-bench"))
    args = ap.parse_args()
    args.threads = args.threads or None
    os.environ[KMEANS_RUNS_ENV] = str(args.kmeans_runs)
    load = os.getloadavg()[0]
    RESULTS.mkdir(exist_ok=True)
    target = Path(args.output) if args.output else RESULTS / f"embed_{args.suite}.md"

    def write(text: str) -> str:
        now = os.getloadavg()[0]
        text = (f"<!-- load average at start {load:.1f}, at write {now:.1f}, "
                f"{os.cpu_count()} cpus -->\n{text}\n")  # fmt: skip
        target.write_text(text, encoding="utf-8")
        return text

    print(write(suite_words(args) if args.suite == "words" else suite_nodes(args, write)))


if __name__ == "__main__":
    main()
