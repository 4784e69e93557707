"""Embedding builders side by side with their peers, one process per method, one markdown table.

    python benchmarks/embed.py --suite words   # PPMI-SVD vs gensim SGNS on the Debian corpus
    python benchmarks/embed.py --suite nodes   # NetMF / DeepWalk matrix vs walk + skip-gram
    python benchmarks/embed.py --suite words --methods diffembed --threads 1

Data: `bash scripts/fetch_data.sh` (Debian corpus, WS353, SimLex-999, Google analogies). Peers
are optional and never dependencies of diffembed: `pip install gensim networkx` in the
benchmark venv (gensim Word2Vec for SGNS and for DeepWalk on our walks; karateclub is used when
importable). A peer that is not installed is reported as such.

Every method runs in its own spawned process; "fit s" is the wall time of the fit (corpus or
graph loading excluded), "peak MB" the process's VmHWM right after the fit. Evaluation: Spearman
ρ on WS353 / SimLex-999 over in-vocabulary pairs, Google analogies (3CosAdd) over covered
questions; nodes: logistic regression (C = 10) Micro/Macro-F1 on 50 % splits (3 seeds),
k-means NMI. Results go to stdout and benchmarks/results/embed_<suite>.md.
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
                    f"{wv.info['pmi_nnz'] / 1e6:.1f}M non-zeros"}  # fmt: skip
    both = wv.with_context()
    row["w+c"] = word_scores(both.words, both.vectors)
    return row


def m_gensim_sgns(corpus: str, dim: int, window: int, vocab: int, threads: int | None):
    from gensim.models import Word2Vec

    start = time.time()
    model = Word2Vec(
        corpus_file=corpus, sg=1, negative=5, hs=0, window=window, vector_size=dim,
        min_count=5, max_final_vocab=vocab, sample=1e-3, epochs=5, workers=threads or 2, seed=1,
    )  # fmt: skip
    fit, peak = time.time() - start, peak_mb()
    words = list(model.wv.index_to_key)
    return {"time_s": fit, "peak_mb": peak, **word_scores(words, model.wv.vectors),
            "notes": f"sg, neg 5, 5 epochs, vocab {len(words)}"}  # fmt: skip


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
    methods = [("diffembed PPMI-SVD (cds .75, p = ½)", "m_diffembed_words"),
               ("gensim Word2Vec SGNS", "m_gensim_sgns")]  # fmt: skip
    rows = []
    for label, fn in methods:
        if args.methods and not any(m in label.lower() for m in args.methods.split(",")):
            continue
        row = isolated(fn, (str(corpus), args.dim, 5, args.vocab, args.threads), args.timeout)
        row["method"] = label
        rows.append(row)
        if "w+c" in row:
            rows.append({"method": "diffembed PPMI-SVD, w + c", **row.pop("w+c")})
        print(f"  .. {label}: {row.get('time_s', row.get('error'))}", file=sys.stderr)
    with open(corpus, encoding="utf-8") as handle:
        ntok = sum(len(line.split()) for line in handle)
    head = (f"Corpus: {ntok / 1e6:.2f}M tokens (Debian, scripts/fetch_data.sh), vocabulary ≤ "
            f"{args.vocab} words with count ≥ 5, window 5, {args.dim} dimensions.\n\n")  # fmt: skip
    cols = [("method", "method", ""), ("time_s", "fit s", ".1f"), ("peak_mb", "peak MB", ".0f"),
            ("ws353", "WS353 ρ", ".3f"), ("ws353_oov", "oov", ""), ("simlex", "SimLex ρ", ".3f"),
            ("simlex_oov", "oov", ""), ("analogy", "analogy", ".3f"), ("covered", "covered", ""),
            ("notes", "notes", ""), ("error", "error", "")]  # fmt: skip
    return head + table(rows, cols)


# --------------------------------------------------------------------------------- nodes
def lfr(n: int, mu: float):
    import networkx as nx

    for seed in range(20):
        try:
            G = nx.LFR_benchmark_graph(
                n, tau1=3, tau2=1.5, mu=mu, average_degree=20, max_degree=50,
                min_community=20, max_community=100, seed=seed,
            )  # fmt: skip
            break
        except nx.ExceededMaxIterations:
            continue
    G.remove_edges_from(nx.selfloop_edges(G))
    seen: dict = {}
    y = np.array([seen.setdefault(min(G.nodes[v]["community"]), len(seen)) for v in G])
    return G, y


def load_graph(name: str):
    import networkx as nx

    if name == "karate":
        G = nx.karate_club_graph()
        return G, np.array([G.nodes[v]["club"] == "Officer" for v in G], dtype=int)
    n, mu = name.removeprefix("lfr").split("_mu")  # e.g. lfr1000_mu0.4 or lfr10k_mu0.3
    return lfr(int(n.replace("k", "000")), float(mu))


def node_row(X: np.ndarray, y: np.ndarray, fit: float) -> dict:
    from diffembed.embed.evaluate import node_classification

    peak = peak_mb()
    return {"time_s": fit, "peak_mb": peak, **node_classification(X, y)}


def m_netmf(graph: str, dim: int, threads: int | None, **kw):
    from diffembed.embed import netmf

    _limit_threads(threads)
    G, y = load_graph(graph)
    start = time.time()
    nv = netmf(G, dim=min(dim, len(y) - 1), threads=threads, **kw)
    return node_row(nv.vectors, y, time.time() - start)


def m_netmf_sparse2(graph: str, dim: int, threads: int | None):
    return m_netmf(graph, dim, threads, window=2, method="sparse")


def m_deepwalk_matrix(graph: str, dim: int, threads: int | None):
    from diffembed.embed import deepwalk_matrix

    _limit_threads(threads)
    G, y = load_graph(graph)
    start = time.time()
    nv = deepwalk_matrix(G, dim=min(dim, len(y) - 1), threads=threads)
    return node_row(nv.vectors, y, time.time() - start)


def m_walks_gensim(graph: str, dim: int, threads: int | None):
    from gensim.models import Word2Vec

    from diffembed.embed import as_graph, random_walks

    G, y = load_graph(graph)
    start = time.time()
    walks = random_walks(as_graph(G), num_walks=10, walk_length=80, random_state=0)
    sentences = [list(map(str, w)) for w in walks.tolist()]
    model = Word2Vec(sentences, sg=1, hs=0, negative=5, window=10, vector_size=dim, min_count=0,
                     sample=0, workers=threads or 2, epochs=1, seed=1)  # fmt: skip
    X = np.stack([model.wv[str(i)] for i in range(len(y))])
    return node_row(X, y, time.time() - start)


def m_karateclub_netmf(graph: str, dim: int, threads: int | None):
    import networkx as nx
    from karateclub import NetMF

    G, y = load_graph(graph)
    G = nx.convert_node_labels_to_integers(G)
    start = time.time()
    model = NetMF(dimensions=dim, order=2, seed=1)
    model.fit(G)
    return node_row(model.get_embedding(), y, time.time() - start)


def suite_nodes(args) -> str:
    methods = [("diffembed NetMF (auto: dense, T = 10)", "m_netmf"),
               ("diffembed NetMF sparse T = 2", "m_netmf_sparse2"),
               ("diffembed DeepWalk matrix (10 × 80 walks)", "m_deepwalk_matrix"),
               ("DeepWalk: our walks + gensim skip-gram", "m_walks_gensim"),
               ("karateclub NetMF (order 2)", "m_karateclub_netmf")]  # fmt: skip
    rows = []
    for graph in args.graphs.split(","):
        for label, fn in methods:
            if args.methods and not any(m in label.lower() for m in args.methods.split(",")):
                continue
            row = isolated(fn, (graph, args.node_dim, args.threads), args.timeout)
            row.update(graph=graph, method=label)
            rows.append(row)
            print(f"  .. {graph} {label}: {row.get('time_s', row.get('error'))}", file=sys.stderr)
    cols = [("graph", "graph", ""), ("method", "method", ""), ("time_s", "fit s", ".2f"),
            ("peak_mb", "peak MB", ".0f"), ("micro_f1", "Micro-F1", ".3f"),
            ("macro_f1", "Macro-F1", ".3f"), ("nmi", "NMI", ".3f"),
            ("error", "error", "")]  # fmt: skip
    return f"{args.node_dim} dimensions; LFR n, μ as named (networkx generator).\n\n" + table(
        rows, cols
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--suite", choices=["words", "nodes"], default="words")
    ap.add_argument("--methods", help="comma-separated substrings of method labels")
    ap.add_argument("--graphs", default="karate,lfr1000_mu0.1,lfr1000_mu0.4")
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--node-dim", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads per method")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "diffembed-bench"))
    args = ap.parse_args()
    load = os.getloadavg()[0]
    text = suite_words(args) if args.suite == "words" else suite_nodes(args)
    text = f"<!-- load average at start {load:.1f}, {os.cpu_count()} cpus -->\n{text}\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"embed_{args.suite}.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
