#!/usr/bin/env python
"""Benchmark approximate-nearest-neighbour backends for the kNN *graph* of a dataset.

For each dataset X we build the self kNN graph with k=15 (each point's 15
nearest *other* points) and report

* ``fit s``     -- wall time of build + query of the whole graph, measured after a
                   small warm-up call in the same process (steady state),
* ``warm-up s`` -- wall time of that first small call (n=2,000): JIT compilation /
                   thread-pool start-up that a user pays once per process,
* ``import s``  -- ``import <backend>`` time in a fresh process,
* ``recall@15`` -- fraction of the true 15 nearest neighbours recovered, on a sample
                   of 2,000 query rows, against exact brute-force search.  A returned
                   neighbour counts as correct if its distance is <= the exact 15th
                   distance (so exact ties / duplicate points are not penalised),
* ``peak MiB``  -- ru_maxrss of the child process that ran the fit.

Every (dataset, backend, setting) runs in its own subprocess, with ``threads``
(default 2) for every library (OMP/MKL/OpenBLAS/numba env vars + library knobs),
and a timeout, so that a pathological setting (e.g. kd-tree in 50-D) cannot hang
the benchmark.

A separate "cold start" section measures pynndescent's numba compilation with an
empty numba cache (what the very first process after ``pip install`` pays) and
with a warm cache (every later process).

Usage::

    .venv/bin/python benchmarks/knn_backends.py            # full run (~25 min on 2 cores)
    .venv/bin/python benchmarks/knn_backends.py --quick    # small sizes, 1-2 settings each

Writes ``benchmarks/results/knn_backends.md`` (``--quick``: ``knn_backends_quick.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
K = 15
N_RECALL = 2000
WARMUP_N = 2000

# --------------------------------------------------------------------------- datasets


def make_dataset(name: str, n: int | None):
    import numpy as np

    if name == "swiss_roll":
        from sklearn.datasets import make_swiss_roll

        X, _ = make_swiss_roll(n_samples=n or 200_000, noise=0.0, random_state=0)
    elif name == "gmm50":
        X = curved_gmm(n or 100_000, dim=50, seed=0)
    elif name == "hard100":
        # stress test: 20-D Gaussian latent (high intrinsic dimension) linearly embedded in
        # 100-D plus isotropic noise -- much harder for graph ANN than the low-dim manifolds
        rng = np.random.default_rng(0)
        n = n or 100_000
        Z = rng.standard_normal((n, 20))
        A = rng.standard_normal((20, 100)) / np.sqrt(20)
        X = Z @ A + 0.1 * rng.standard_normal((n, 100))
    elif name == "digits":
        from sklearn.datasets import load_digits

        X = load_digits().data
    else:  # pragma: no cover
        raise ValueError(name)
    return np.ascontiguousarray(X, dtype=np.float32)


def curved_gmm(n: int, dim: int = 50, seed: int = 0):
    """Gaussian mixture on a curved 3-D manifold embedded in ``dim`` dims, plus noise.

    * latent z in R^3: mixture of 8 anisotropic Gaussians,
    * curved embedding: 12 smooth features [sin(Wz+b), cos(Wz+b)] (W random, 6x3),
    * the 12 manifold coordinates are placed in ``dim`` dims by a random orthogonal
      map, and isotropic Gaussian noise (sigma = 0.05, manifold coords have O(1)
      scale) is added in all ``dim`` dims -- i.e. ``dim - 12`` pure noise directions.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    n_comp = 8
    centers = rng.uniform(-2.0, 2.0, size=(n_comp, 3))
    scales = rng.uniform(0.15, 0.5, size=(n_comp, 3))
    lab = rng.integers(0, n_comp, size=n)
    z = centers[lab] + rng.standard_normal((n, 3)) * scales[lab]
    W = rng.standard_normal((6, 3)) * 0.8
    b = rng.uniform(0, 2 * np.pi, size=6)
    feats = np.concatenate([np.sin(z @ W.T + b), np.cos(z @ W.T + b)], axis=1)  # (n, 12)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    X = feats @ Q[:, : feats.shape[1]].T + 0.05 * rng.standard_normal((n, dim))
    return X


# --------------------------------------------------------------------------- backends
# Each builder returns an (n, K) int array of neighbour indices, self excluded.


def _drop_self(idx, k=K):
    """idx: (n, k+1) neighbours incl. (usually) self. Remove self, keep k."""
    import numpy as np

    n = idx.shape[0]
    rows = np.arange(n)[:, None]
    is_self = idx == rows
    out = np.empty((n, k), dtype=np.int64)
    has_self = is_self.any(axis=1)
    # rows containing self: drop that entry; else (duplicates) drop the last one
    keep = ~is_self
    keep[~has_self, -1] = False
    # rows with self present twice cannot happen; rows with -1 padding are kept as is
    out[:] = idx[keep].reshape(n, k)
    return out


def run_pynndescent(X, threads, params):
    import pynndescent

    nn = params.get("n_neighbors", K + 1)
    kw = {k: v for k, v in params.items() if k != "n_neighbors"}
    index = pynndescent.NNDescent(
        X, n_neighbors=nn, metric="euclidean", n_jobs=threads, random_state=0,
        compressed=True, **kw
    )
    idx, _ = index.neighbor_graph
    return _drop_self(idx[:, : K + 1])


def run_faiss_hnsw(X, threads, params):
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWFlat(X.shape[1], params["M"])
    index.hnsw.efConstruction = params["efC"]
    index.add(X)
    index.hnsw.efSearch = params["efS"]
    _, idx = index.search(X, K + 1)
    return _drop_self(idx)


def run_hnswlib(X, threads, params):
    import hnswlib

    index = hnswlib.Index(space="l2", dim=X.shape[1])
    index.init_index(max_elements=X.shape[0], ef_construction=params["efC"], M=params["M"], random_seed=0)
    index.set_num_threads(threads)
    index.add_items(X, num_threads=threads)
    index.set_ef(params["ef"])
    idx, _ = index.knn_query(X, k=K + 1, num_threads=threads)
    return _drop_self(idx.astype("int64"))


def run_sklearn(X, threads, params):
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=K + 1, algorithm=params["algorithm"], n_jobs=threads).fit(X)
    idx = nn.kneighbors(X, return_distance=False)
    return _drop_self(idx)


BACKENDS = {
    "pynndescent": ("pynndescent", run_pynndescent),
    "faiss-hnsw": ("faiss", run_faiss_hnsw),
    "hnswlib": ("hnswlib", run_hnswlib),
    "sklearn": ("sklearn.neighbors", run_sklearn),
}


def settings(dataset: str, quick: bool):
    """(backend, params) to try for a dataset."""
    s = []
    pnn = [{}, {"n_neighbors": 30}] if not quick else [{}]
    s += [("pynndescent", p) for p in pnn]
    # same (M, efConstruction, efSearch) grid for both HNSW implementations; the last one is
    # the FaissHNSWIndex default in src/diffembed/neighbors.py
    grid = [(16, 40, 32), (16, 80, 64), (32, 80, 64)]
    fh = [{"M": m, "efC": c, "efS": e} for m, c, e in grid]
    hl = [{"M": m, "efC": c, "ef": e} for m, c, e in grid]
    if quick:
        fh, hl = fh[-1:], hl[-1:]
    s += [("faiss-hnsw", p) for p in fh]
    s += [("hnswlib", p) for p in hl]
    s += [("sklearn", {"algorithm": "auto"})]
    if dataset != "hard100":  # 100-D: k-d tree ran > 4 min without finishing; auto == brute there
        s += [("sklearn", {"algorithm": "kd_tree"}), ("sklearn", {"algorithm": "brute"})]
    return s


# --------------------------------------------------------------------------- child


def recall_at_k(X, idx, sample, threads):
    """Tie-aware recall of idx[sample] against exact brute-force neighbours."""
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    Xd = X.astype(np.float64)
    nn = NearestNeighbors(n_neighbors=K + 1, algorithm="brute", n_jobs=threads).fit(Xd)
    dist, eidx = nn.kneighbors(Xd[sample])
    # drop self (first column normally; handle duplicates by distance only)
    kth = np.sort(dist, axis=1)[:, K]  # K+1 values incl. self (0) -> index K is the 15th other
    got = idx[sample]
    valid = got >= 0
    d_got = np.linalg.norm(Xd[np.where(valid, got, 0)] - Xd[sample][:, None, :], axis=2)
    not_self = got != sample[:, None]
    ok = valid & not_self & (d_got <= kth[:, None] * (1 + 1e-6) + 1e-9)
    return float(ok.sum() / (len(sample) * K))


def child(args):
    import resource

    import numpy as np

    spec = json.loads(args.child)
    threads = spec["threads"]
    backend = spec["backend"]
    params = spec["params"]
    modname, fn = BACKENDS[backend]
    out = {}
    X = make_dataset(spec["dataset"], spec.get("n"))
    t = time.perf_counter()
    __import__(modname)
    out["import_s"] = time.perf_counter() - t

    # warm-up on a small subsample (JIT compile / thread pools), same params
    rng = np.random.default_rng(1)
    Xw = X[rng.choice(X.shape[0], size=min(WARMUP_N, X.shape[0]), replace=False)]
    t = time.perf_counter()
    fn(np.ascontiguousarray(Xw), threads, params)
    out["warmup_s"] = time.perf_counter() - t

    t = time.perf_counter()
    idx = fn(X, threads, params)
    out["fit_s"] = time.perf_counter() - t
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sample = np.random.default_rng(0).choice(X.shape[0], size=min(N_RECALL, X.shape[0]), replace=False)
    out["recall"] = recall_at_k(X, idx, sample, threads)
    out["n"], out["d"] = X.shape
    print("@@RESULT@@" + json.dumps(out))


def cold_start_child(args):
    """import + tiny NNDescent fit; NUMBA_CACHE_DIR set by the parent."""
    import numpy as np

    t = time.perf_counter()
    import pynndescent

    t_imp = time.perf_counter() - t
    X = np.random.default_rng(0).standard_normal((2000, 10)).astype(np.float32)
    t = time.perf_counter()
    _ = pynndescent.NNDescent(X, n_neighbors=16, n_jobs=2, random_state=0, compressed=True).neighbor_graph
    print("@@RESULT@@" + json.dumps({"import_s": t_imp, "first_fit_s": time.perf_counter() - t}))


# --------------------------------------------------------------------------- parent


def thread_env(threads: int, extra: dict | None = None):
    env = dict(os.environ)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[v] = str(threads)
    if extra:
        env.update(extra)
    return env


def spawn(argv, env, timeout):
    t = time.perf_counter()
    try:
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout > {timeout}s"}, time.perf_counter() - t
    wall = time.perf_counter() - t
    for line in p.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@"):]), wall
    tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["?"]
    return {"error": f"rc={p.returncode}: {tail[0][:120]}"}, wall


def fmt_params(backend, params):
    if backend == "pynndescent":
        return "defaults" if not params else ", ".join(f"{k}={v}" for k, v in params.items()) + " (truncated to 15)"
    return ", ".join(f"{k}={v}" for k, v in params.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small datasets, fewer settings")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=None, help="per-run timeout (s)")
    ap.add_argument("--datasets", default="swiss_roll,gmm50,hard100,digits")
    ap.add_argument("--backends", default="pynndescent,faiss-hnsw,hnswlib,sklearn")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cold-start-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.cold_start_child:
        return cold_start_child(args)

    timeout = args.timeout or (120 if args.quick else 900)
    sizes = {"swiss_roll": 20_000, "gmm50": 10_000, "hard100": 10_000, "digits": None} if args.quick else {
        "swiss_roll": 200_000, "gmm50": 100_000, "hard100": 100_000, "digits": None}
    env = thread_env(args.threads)
    rows = []
    import platform

    header = (
        "| dataset | n x d | backend | params | fit s (build+query) | warm-up s | import s | "
        "recall@15 | peak MiB |\n|---|---|---|---|---:|---:|---:|---:|---:|"
    )
    print(header, flush=True)
    for ds in args.datasets.split(","):
        for backend, params in settings(ds, args.quick):
            if backend not in args.backends.split(","):
                continue
            spec = {"dataset": ds, "n": sizes[ds], "backend": backend, "params": params, "threads": args.threads}
            res, wall = spawn([sys.executable, __file__, "--child", json.dumps(spec)], env, timeout)
            if "error" in res:
                line = f"| {ds} | | {backend} | {fmt_params(backend, params)} | {res['error']} | | | | |"
            else:
                line = (
                    f"| {ds} | {res['n']}x{res['d']} | {backend} | {fmt_params(backend, params)} | "
                    f"{res['fit_s']:.2f} | {res['warmup_s']:.2f} | {res['import_s']:.2f} | "
                    f"{res['recall']:.4f} | {res['peak_mib']:.0f} |"
                )
            rows.append(line)
            print(line, flush=True)

    # pynndescent cold start: empty numba cache vs warm cache
    cold_lines = []
    with tempfile.TemporaryDirectory() as cache:
        for label in ("empty numba cache (first process after install)", "warm numba cache (every later process)"):
            res, wall = spawn([sys.executable, __file__, "--cold-start-child"],
                              thread_env(args.threads, {"NUMBA_CACHE_DIR": cache}), timeout)
            if "error" in res:
                cold_lines.append(f"| {label} | {res['error']} | | |")
            else:
                cold_lines.append(
                    f"| {label} | {res['import_s']:.2f} | {res['first_fit_s']:.2f} | {wall:.2f} |")
    cold = ("| pynndescent cold start | import s | first NNDescent (2000x10) s | process wall s |\n"
            "|---|---:|---:|---:|\n" + "\n".join(cold_lines))
    print("\n" + cold)

    import numpy, scipy, sklearn  # noqa: E401

    vers = {"numpy": numpy.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__}
    import importlib.metadata as md

    for m in ("pynndescent", "faiss-cpu", "hnswlib"):
        try:
            vers[m] = md.version(m)
        except Exception:  # noqa: BLE001
            vers[m] = "n/a"
    md = [
        f"# kNN graph backends (k={K}, self excluded){' -- QUICK' if args.quick else ''}",
        "",
        f"Generated by `benchmarks/knn_backends.py{' --quick' if args.quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M')}; {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"threads={args.threads}.  Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()) + ".",
        "",
        "* fit s: build + query of the full self-kNN graph, after a warm-up call in the same process.",
        "* warm-up s: first call on a 2,000-row subsample (JIT / thread start-up; paid once per process).",
        "* import s: `import` time of the backend module in a fresh process.",
        f"* recall@15: tie-aware recall on {N_RECALL} random query rows vs exact brute force.",
        "* peak MiB: ru_maxrss of the child process after the fit (includes the float32 dataset and the warm-up).",
        "",
        header,
        *rows,
        "",
        cold,
        "",
    ]
    out = Path(args.out) if args.out else RESULTS / ("knn_backends_quick.md" if args.quick else "knn_backends.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(md))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
