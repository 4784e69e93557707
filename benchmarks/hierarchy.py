"""Hierarchy benchmark: our engines against scipy Ward and the peers that import.

    python benchmarks/hierarchy.py            # quality grid + 2k / 20k timings (~5 min on 2 cores)
    python benchmarks/hierarchy.py --full     # adds 200k points (pre-partitioned, ~15 min)
    python benchmarks/hierarchy.py --quick    # quality grid + 2k only
    python benchmarks/hierarchy.py --spec-grid auto   # both engines on the acceptance grid

Prints markdown tables: (1) quality on the spec's data (ARI@k = the level with the closest
cluster count, dendrogram purity DP) and (2) wall time and peak memory by size. Peers are
imported inside try/except and skipped when absent: fastcluster (Ward, ``linkage_vector``),
scikit-learn's HDBSCAN, multiscale_phate. Every method runs in a child process so peak memory
(``ru_maxrss``) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")


# ---------------------------------------------------------------------------- data
def hierarchical_gmm(seed: int, n_per: int = 64):
    rng = np.random.default_rng(seed)
    X, ysup, ysub = [], [], []
    for a in range(4):
        ca = rng.normal(0, 4.0, 20)
        for b in range(4):
            cb = ca + rng.normal(0, 0.7, 20)
            X.append(cb + rng.normal(0, 1.0, (n_per, 20)))
            ysup += [a] * n_per
            ysub += [4 * a + b] * n_per
    return np.vstack(X), np.array(ysup), np.array(ysub)


def digits_tiled(n: int, seed: int = 0):
    """sklearn digits repeated with N(0, 1) pixel noise up to n rows (the spec's large-n data)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    idx = np.resize(np.arange(X.shape[0]), n)
    return X[idx] + rng.normal(0, 1.0, (n, X.shape[1])), y[idx]


def dataset(name: str):
    if name.startswith("gmm"):
        X, _, ysub = hierarchical_gmm(int(name[3:]))
        return X, ysub, 16
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X.astype(float), y, 10
    if name.startswith("digits-dm"):
        from sklearn.datasets import load_digits
        from sklearn.neighbors import kneighbors_graph

        dim = int(name.split("dm")[1])
        X, y = load_digits(return_X_y=True)
        A = kneighbors_graph(X, 10, include_self=False)
        A = A.maximum(A.T).toarray()
        d = A.sum(1)
        w, V = np.linalg.eigh(A / np.sqrt(np.outer(d, d)))
        idx = np.argsort(w)[::-1][1 : dim + 1]
        return V[:, idx] / np.sqrt(d)[:, None] * np.sqrt(d.sum()) * w[idx], y, 10
    if name.startswith("tiled"):
        X, y = digits_tiled(int(name[5:]))
        return X, y, 10
    msg = f"unknown dataset {name}"
    raise SystemExit(msg)


def hierarchical_sbm(seed: int, n_per: int = 64):
    """4 × 4 blocks, p = 0.25 within a sub-block, 0.04 within a super-block, 0.004 across."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    ysub = np.repeat(np.arange(16), n_per)
    ysup = ysub // 4
    same_sub = ysub[:, None] == ysub[None, :]
    same_sup = ysup[:, None] == ysup[None, :]
    P = np.where(same_sub, 0.25, np.where(same_sup, 0.04, 0.004))
    A = np.triu(rng.random((ysub.size, ysub.size)) < P, 1)
    return sp.csr_matrix((A | A.T).astype(float)), ysup, ysub


def digits_coordinates(dim: int, t: int, one_thread: bool):
    """The spec's digits inputs: ``dim`` diffusion coordinates at time t of the 10-NN graph.

    Integer pixels have tied distances; the graph built under a one-thread limit differs from
    the default-threads one in 60 edge entries (construction A / B of docs/hierarchy.md).
    """
    from sklearn.datasets import load_digits
    from sklearn.neighbors import kneighbors_graph
    from threadpoolctl import threadpool_limits

    X, y = load_digits(return_X_y=True)
    if one_thread:
        with threadpool_limits(limits=1):
            A = kneighbors_graph(X.astype(float), 10, include_self=False)
    else:
        A = kneighbors_graph(X.astype(float), 10, include_self=False)
    A = A.maximum(A.T).toarray()
    d = A.sum(1)
    with threadpool_limits(limits=1):
        w, V = np.linalg.eigh(A / np.sqrt(np.outer(d, d)))
    idx = np.argsort(w)[::-1][1 : dim + 1]
    return V[:, idx] / np.sqrt(d)[:, None] * np.sqrt(d.sum()) * w[idx] ** t, y


def spec_grid(alpha: str) -> None:
    """Both engines on every row of the spec's acceptance grid (n_null=0), one table."""
    from sklearn.datasets import load_digits
    from sklearn.metrics import adjusted_rand_score

    from diffembed.hierarchy import DiffusionHierarchy, dendrogram_purity

    warnings.filterwarnings("ignore")
    a = alpha if alpha == "auto" else float(alpha)
    rows = [f"gmm{s}" for s in range(3)] + [f"sbm{s}" for s in range(3)] + ["digits"]
    rows += [f"dm{d}-t{t}-{c}" for d in (10, 20) for t in (1, 2) for c in "AB"]
    print(f"alpha={alpha}\n\n| row (ARI@k / DP) | ward | condensation |\n|---|---|---|")
    for row in rows:
        extra: dict = {}
        if row.startswith("gmm"):
            X, _, y = hierarchical_gmm(int(row[3:]))
            k = 16
        elif row.startswith("sbm"):
            X, _, y = hierarchical_sbm(int(row[3:]))
            k, extra = 16, {"affinity": "precomputed"}
        elif row == "digits":
            X, y = load_digits(return_X_y=True)
            X, k = X.astype(float), 10
        else:
            dim, t, c = row[2:].split("-")
            X, y = digits_coordinates(int(dim), int(t[1:]), c == "A")
            k = 10
        cells = []
        for engine in ("ward", "condensation"):
            h = DiffusionHierarchy(engine, alpha=a, random_state=0, n_null=0, **extra).fit(X)
            ari = adjusted_rand_score(y, h.level(h.closest_level(k)))
            tree = h.linkage_ if engine == "ward" else h.levels_[:, 1:]
            cells.append(f"{ari:.3f} / {dendrogram_purity(tree, y):.3f}")
        print(f"| {row} | " + " | ".join(cells) + " |", flush=True)


# ---------------------------------------------------------------------- methods
def run_method(method: str, data: str) -> dict:
    """Fit one method on one dataset in this process; return the metrics."""
    from sklearn.metrics import adjusted_rand_score

    from diffembed.hierarchy import DiffusionHierarchy, cut_linkage, dendrogram_purity

    warnings.filterwarnings("ignore")
    X, y, k = dataset(data)
    n = X.shape[0]
    start = time.perf_counter()
    levels = None
    Z = None
    if method.startswith(("ward (ours", "condensation (ours")):
        engine = method.split()[0]
        space = "input" if "input" in method else "diffusion"
        h = DiffusionHierarchy(engine, space=space, random_state=0, n_null=0).fit(X)
        labels = h.level(h.closest_level(k))
        Z = h.linkage_ if engine == "ward" else None
        levels = h.levels_[:, 1:] if engine == "condensation" else None
    elif method == "scipy ward":
        from scipy.cluster.hierarchy import linkage

        if n > 30_000:
            return {"skipped": "O(n²) memory"}
        Z = linkage(X, "ward")
        labels = cut_linkage(Z, k)
    elif method == "fastcluster ward":
        import fastcluster

        Z = fastcluster.linkage_vector(X, method="ward")
        labels = cut_linkage(Z, k)
    elif method == "hdbscan (sklearn)":
        from sklearn.cluster import HDBSCAN

        model = HDBSCAN(min_cluster_size=15).fit(X)
        labels = model.labels_  # flat EOM clusters; noise is -1
    elif method == "multiscale phate":
        import multiscale_phate as mp

        op = mp.Multiscale_PHATE(n_jobs=1, random_state=0)
        op.fit(X)
        lv = [np.asarray(lab) for lab in op.NxTs]
        counts = np.array([np.unique(lab).size for lab in lv])
        labels = lv[int(np.argmin(np.abs(counts - k)))]
        levels = np.column_stack(lv)
    else:
        msg = f"unknown method {method}"
        raise SystemExit(msg)
    seconds = time.perf_counter() - start
    ari = adjusted_rand_score(y, labels)
    out = {"seconds": seconds, "ari": ari, "k": int(np.unique(labels).size)}
    if n <= 25_000:
        if Z is not None:
            out["dp"] = dendrogram_purity(Z, y)
        elif levels is not None:
            out["dp"] = dendrogram_purity(levels, y)
    out["load"] = os.getloadavg()[0]
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def in_child(method: str, data: str, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", method, data]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"skipped": f"> {timeout:.0f} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        err = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"skipped": err[:60]}
    return json.loads(lines[-1])


def available(method: str) -> bool:
    module = {"fastcluster ward": "fastcluster", "multiscale phate": "multiscale_phate"}.get(method)
    if module is None:
        return True
    try:
        __import__(module)
    except Exception:
        return False
    return True


def cell(res: dict, key: str, fmt: str) -> str:
    if "skipped" in res:
        return "–"
    return format(res[key], fmt) if key in res else "–"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="add 200k points")
    parser.add_argument("--quick", action="store_true", help="quality grid and 2k only")
    parser.add_argument("--sizes", help="comma-separated sizes for the timing table only")
    parser.add_argument("--methods", help="comma-separated subset of the methods")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument(
        "--spec-grid",
        metavar="ALPHA",
        help="only the acceptance grid for both engines at this alpha ('auto' or a number)",
    )
    args = parser.parse_args()
    if args.spec_grid:
        spec_grid(args.spec_grid)
        return
    if args.child:
        print(json.dumps(run_method(*args.child)), flush=True)
        return
    methods = [
        "ward (ours)",
        "condensation (ours)",
        "condensation (ours, input space)",
        "scipy ward",
        "fastcluster ward",
        "hdbscan (sklearn)",
        "multiscale phate",
    ]
    methods = [m for m in methods if available(m)]
    if args.methods:
        methods = [m for m in methods if m in args.methods.split(",")]
    if args.sizes:
        print_timings(methods, [int(v) for v in args.sizes.split(",")])
        return
    print("## Quality (ARI@k: level closest to the true k; DP: dendrogram purity)\n")
    grid = ["gmm0", "gmm1", "gmm2", "digits", "digits-dm10", "digits-dm20"]
    print("| data | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for data in grid:
        row = []
        for m in methods:
            res = in_child(m, data, 600)
            row.append(f"{cell(res, 'ari', '.3f')} / {cell(res, 'dp', '.3f')}")
        print(f"| {data} (ARI / DP) | " + " | ".join(row) + " |", flush=True)
    sizes = [2_000] if args.quick else [2_000, 20_000]
    if args.full:
        sizes.append(200_000)
    print_timings(methods, sizes)


def print_timings(methods: list[str], sizes: list[int]) -> None:
    print("\n## Time and peak memory (digits tiled with N(0,1) noise, 64 dims; ARI@10)\n")
    print(f"load average at start: {os.getloadavg()}\n")
    print("| n | method | seconds | peak MiB | ARI@10 | DP | load |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        for m in methods:
            if m == "multiscale phate" and n > 2_000:
                # dense n x n distances every step: 3.2 GB per copy at 20k
                print(f"| {n:,} | {m} | not run: dense n² distances per step | | | |")
                continue
            if m == "condensation (ours, input space)":
                continue
            if m == "scipy ward" and n > 30_000:
                print(f"| {n:,} | {m} | not run: O(n²) memory | | | |")
                continue
            res = in_child(m, f"tiled{n}", float(os.environ.get("HIERARCHY_TIMEOUT", "900")))
            if "skipped" in res:
                print(f"| {n:,} | {m} | skipped: {res['skipped']} | | | |", flush=True)
                continue
            print(
                f"| {n:,} | {m} | {res['seconds']:.1f} | {res['peak_mib']:.0f} | "
                f"{res['ari']:.3f} | {cell(res, 'dp', '.3f')} | {res['load']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
