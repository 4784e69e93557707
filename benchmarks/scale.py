"""Scale benchmark: fit time and peak memory at 100k / 300k / 1M points × 50 dimensions.

Data: ``benchmarks/scale_data.py`` (a Gaussian mixture on a swiss roll, 47 noise dimensions,
randomly rotated). Methods, each fit in its own process with the caps of ``benchmarks/run.py``
(wall-clock timeout and resident-memory cap, enforced by killing the process tree):

* ``diffembed``            full DiffusionMap (kNN graph of every point)
* ``diffembed_landmarks``  LandmarkDiffusionMap, 10,000 random landmarks + Nyström
* ``scanpy``               ``sc.pp.neighbors`` + ``sc.tl.diffmap``
* ``phate``                PHATE with its default 2,000 landmarks (not a diffusion map)

Usage::

    .venv-bench/bin/python benchmarks/scale.py                       # 100k, 300k, 1M
    .venv-bench/bin/python benchmarks/scale.py --sizes 100000 --methods diffembed,scanpy

Writes ``benchmarks/results/scale.md`` and ``scale.json``. Columns: wall s of the fit call,
peak RSS of the process tree, ratio to diffembed's full fit in the same run, |Spearman| of the
first coordinate with the roll parameter (PHATE: none), kNN recall (diffembed, approximate
search, measured on 200 rows), the 1-minute load average during the fit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import CHILD, child_env, interpreter_for, mem_total_mib, run_child  # noqa: E402
from scale_data import make_manifold_mixture  # noqa: E402

METHODS = ["diffembed", "diffembed_landmarks", "scanpy", "phate"]
IMPORTS = {"diffembed": "diffembed", "diffembed_landmarks": "diffembed", "scanpy": "scanpy",
           "phate": "phate"}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    ok = np.isfinite(a)
    return float(abs(spearmanr(a[ok], b[ok])[0]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,300000,1000000")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--landmarks", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--mem-cap", type=float, default=16 * 1024.0, help="MiB (default 16 GiB)")
    ap.add_argument("--out", default=str(HERE / "results" / "scale.md"))
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    mem_cap = min(args.mem_cap, 0.85 * mem_total_mib())
    env = child_env(args.threads)
    records: list[dict] = []
    tmp_root = Path(tempfile.mkdtemp(prefix="scale_bench_"))
    interpreters = {m: interpreter_for(IMPORTS[m]) for m in methods}
    try:
        for n in sizes:
            data_dir = tmp_root / f"n{n}"
            data_dir.mkdir()
            X, u = make_manifold_mixture(n)
            np.save(data_dir / "X.npy", X)
            del X
            for method in methods:
                rec = {"n": n, "d": 50, "method": method, "time": time.strftime("%Y-%m-%d %H:%M")}
                py, err = interpreters[method]
                if py is None:
                    rec["error"] = f"not installed: {err}"
                else:
                    out_dir = data_dir / method
                    out_dir.mkdir()
                    spec = {"method": method, "data_dir": str(data_dir), "out_dir": str(out_dir),
                            "threads": args.threads, "landmarks": args.landmarks}
                    res = run_child([str(py), str(CHILD), "fit", json.dumps(spec)], env,
                                    args.timeout, mem_cap)
                    rec.update({k: v for k, v in res.items() if k != "stderr_tail"})
                    coord = out_dir / "coord.npy"
                    if coord.exists():
                        rec["spearman"] = spearman(np.load(coord), u)
                    shutil.rmtree(out_dir, ignore_errors=True)
                records.append(rec)
                print(row(rec, records), flush=True)
                write(args, records, mem_cap)
            shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    print(f"\nwrote {args.out}")


def row(rec: dict, records: list[dict]) -> str:
    base = next((r for r in records if r["n"] == rec["n"] and r["method"] == "diffembed"
                 and "wall_s" in r), None)
    load = f"{rec.get('load1') or 0:.1f}"
    if "error" in rec:
        return f"| {rec['n']:,} | {rec['method']} | — | — | — | — | — | {load} | **{rec['error']}** |"
    peak = rec.get("tree_peak_mib", rec.get("peak_rss_mib", 0))
    ratio = f"{rec['wall_s'] / base['wall_s']:.2f}×" if base else "—"
    rho = f"{rec['spearman']:.4f}" if "spearman" in rec else "—"
    recall = f"{rec['knn_recall']:.3f}" if rec.get("knn_recall") is not None else "—"
    notes = rec.get("notes", "")
    if rec.get("timings"):
        notes += "; " + ", ".join(f"{k} {v:.0f} s" for k, v in rec["timings"].items() if v >= 1)
    return (f"| {rec['n']:,} | {rec['method']} | {rec['wall_s']:.1f} | {peak:.0f} | {ratio} | "
            f"{rho} | {recall} | {load} | {notes} |")


def write(args, records: list[dict], mem_cap: float) -> None:
    lines = [
        "# Scale benchmark (`benchmarks/scale.py`)",
        "",
        f"Data: Gaussian mixture on a swiss roll + 47 noise dimensions, rotated (50-D, float32); "
        f"`{' '.join(sys.argv)}`. Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"threads={args.threads}, caps: {args.timeout:.0f} s and {mem_cap / 1024:.1f} GiB per fit "
        "(killed beyond). Peak = resident memory of the fit's process tree. Ratio = wall time "
        "over diffembed's full fit at the same n. Load = 1-minute load average during the fit "
        "(the machine is shared: above ~3 the timings are inflated).",
        "",
        "| n | method | wall s | peak MiB | ratio | \\|Spearman\\| vs roll | kNN recall | load | notes |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
        *[row(r, records) for r in records],
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, out)
    tmpj = out.with_suffix(".json.tmp")
    tmpj.write_text(json.dumps(records, indent=1, default=str))
    os.replace(tmpj, out.with_suffix(".json"))


if __name__ == "__main__":
    main()
