"""diffembed against scanpy's ``pp.neighbors`` + ``tl.diffmap`` + ``tl.dpt``, side by side.

    python benchmarks/scanpy_dpt.py                 # -> benchmarks/results/scanpy_dpt.md
    python benchmarks/scanpy_dpt.py --n-sim 20000   # a smaller simulated set (quick check)

Datasets: scanpy's bundled ``pbmc68k_reduced`` (700 cells, its 50 principal components; the
root is the first ``CD34+`` cell) and a simulated noisy branching trajectory (a stem splitting
into two arms, each segment of unit length with a bend, Gaussian noise 0.03 per coordinate,
50 dimensions; ``tests/trajectories.py``; the root is the cell of smallest true time).

Pipelines, each in its own process (one at a time), after a warm-up on 2,000 random points so
that numba compilation (scanpy's UMAP weights) is not timed:

- ``scanpy``: ``sc.pp.neighbors`` (defaults: 15 neighbours, UMAP weights) → ``sc.tl.diffmap``
  (15 components) → ``sc.tl.dpt`` (10);
- ``diffembed``: ``de.tl.diffmap(use_rep=...)`` (its own kNN graph, 15 neighbours, adaptive
  kernel, 15 columns) → ``de.tl.dpt``;
- ``diffembed on scanpy's graph``: ``sc.pp.neighbors`` → ``de.tl.diffmap`` (reads
  ``obsp["distances"]``) → ``de.tl.dpt``.

Columns: wall seconds of the pipeline (data already in memory), the process's peak resident
memory (VmHWM, imports and data included), Spearman of the pseudotime with the true time
(simulated data) and with scanpy's pseudotime; for pbmc68k also the Spearman of the per-cell-
type medians. The scanpy-vs-scanpy rows on pbmc68k (another kernel, another k) show how much
the pseudotime of these clustered, non-trajectory data moves with the graph alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(ROOT))


def _peak_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _pbmc():
    import scanpy as sc

    adata = sc.datasets.pbmc68k_reduced()
    root = int(np.flatnonzero(adata.obs["bulk_labels"] == "CD34+")[0])
    return adata.obsm["X_pca"].astype(np.float32), root, None, adata.obs["bulk_labels"].to_numpy()


def _sim(n: int):
    from tests.trajectories import branching_trajectory

    X, time_, _ = branching_trajectory(n, dim=50, noise=0.03, seed=0)
    return X.astype(np.float32), int(np.argmin(time_)), time_, None


def _pipeline(method: str, X: np.ndarray, root: int) -> np.ndarray:
    import anndata as ad
    import scanpy as sc

    import diffembed as de

    adata = ad.AnnData(X)
    adata.uns["iroot"] = root
    if method.startswith("scanpy"):
        kwargs = {"gauss": {"method": "gauss"}, "k30": {"n_neighbors": 30}}.get(
            method.partition(":")[2], {})
        sc.pp.neighbors(adata, use_rep="X", **kwargs)
        sc.tl.diffmap(adata)
        sc.tl.dpt(adata)
    elif method == "diffembed":
        de.tl.diffmap(adata, use_rep="X")
        de.tl.dpt(adata)
    elif method == "diffembed-on-scanpy-graph":
        sc.pp.neighbors(adata, use_rep="X")
        de.tl.diffmap(adata)
        de.tl.dpt(adata)
    else:
        raise ValueError(method)
    return adata.obs["dpt_pseudotime"].to_numpy()


def child(method: str, data: str, out: str) -> None:
    """Run one pipeline on ``data`` (an .npz with X and root) and save the pseudotime."""
    warnings.filterwarnings("ignore")
    loaded = np.load(data)
    X, root = loaded["X"], int(loaded["root"])
    rng = np.random.default_rng(0)
    warm = X[rng.choice(X.shape[0], min(2000, X.shape[0]), replace=False)]
    t0 = time.perf_counter()
    _pipeline(method, warm, 0)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    pt = _pipeline(method, X, root)
    seconds = time.perf_counter() - t0
    np.save(out + ".npy", pt)
    Path(out + ".json").write_text(json.dumps(
        {"seconds": seconds, "warmup": warmup, "peak_mb": _peak_mb()}))


def _run(method: str, data: Path, tmp: Path, timeout: float) -> dict | None:
    out = tmp / method.replace(":", "_")
    cmd = [sys.executable, __file__, "--child", method, str(data), str(out)]
    try:
        subprocess.run(cmd, check=True, timeout=timeout, cwd=ROOT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"  {method}: {type(exc).__name__}", flush=True)
        return None
    info = json.loads(Path(str(out) + ".json").read_text())
    info["pseudotime"] = np.load(str(out) + ".npy")
    return info


def _median_rho(labels, a, b) -> float:
    from scipy.stats import spearmanr

    groups = np.unique(labels)
    ma = [np.median(a[labels == g]) for g in groups]
    mb = [np.median(b[labels == g]) for g in groups]
    return float(spearmanr(ma, mb)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sim", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per pipeline")
    parser.add_argument("--out", type=Path, default=RESULTS / "scanpy_dpt.md")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "DATA", "OUT"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from scipy.stats import spearmanr

    warnings.filterwarnings("ignore")
    load = os.getloadavg()
    rows = []
    datasets = [("pbmc68k_reduced", _pbmc,
                 ["scanpy", "diffembed", "diffembed-on-scanpy-graph", "scanpy:gauss",
                  "scanpy:k30"]),
                (f"branching trajectory, {args.n_sim:,} cells, 50-D", lambda: _sim(args.n_sim),
                 ["scanpy", "diffembed", "diffembed-on-scanpy-graph"])]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for name, make, methods in datasets:
            X, root, truth, labels = make()
            data = tmp / "data.npz"
            np.savez(data, X=X, root=root)
            print(f"{name}: {X.shape[0]} × {X.shape[1]}", flush=True)
            results = {m: _run(m, data, tmp, args.timeout) for m in methods}
            ref = results["scanpy"]["pseudotime"] if results.get("scanpy") else None
            for m, r in results.items():
                if r is None:
                    rows.append((name, m, "failed", "", "", "", "", ""))
                    continue
                pt = r["pseudotime"]
                ok = np.isfinite(pt)
                vs_truth = "" if truth is None else f"{spearmanr(pt[ok], truth[ok])[0]:.3f}"
                vs_sc = "" if ref is None else f"{spearmanr(pt[ok], ref[ok])[0]:.3f}"
                med = "" if labels is None or ref is None else f"{_median_rho(labels, pt, ref):.3f}"
                rows.append((name, m, f"{r['seconds']:.1f}", f"{r['warmup']:.1f}",
                             f"{r['peak_mb']:.0f}", vs_truth, vs_sc, med))
                print("  ", rows[-1], flush=True)
    lines = [
        "# diffembed vs scanpy: diffusion map + diffusion pseudotime",
        "",
        "Command: `nice -n 10 python benchmarks/scanpy_dpt.py"
        + ("" if args.n_sim == 100_000 else f" --n-sim {args.n_sim}") + "`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared), load average before "
        f"the run {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; "
        f"Python {platform.python_version()}.",
        "",
        "| dataset | pipeline | s | warm-up s | peak MB | ρ vs true time | ρ vs scanpy "
        "| ρ of cell-type medians vs scanpy |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += [
        "",
        "ρ: Spearman rank correlation over the cells with a finite pseudotime. "
        "\"scanpy:gauss\" and \"scanpy:k30\" are scanpy with `pp.neighbors(method='gauss')` "
        "or `n_neighbors=30`: scanpy against itself with another graph. Times are wall "
        "seconds on shared, loaded cores: compare within a row group, not across runs.",
        "",
        "See the module docstring of `benchmarks/scanpy_dpt.py` for the pipelines and "
        "docs/scanpy.md for why scanpy's pseudotime loses the order on dense, thin trajectories.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
