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
    .venv/bin/python benchmarks/scale.py --sizes 1000000 --methods diffembed_landmarks --merge

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
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows of the existing results JSON that this run does not redo "
                         "(same n and method are replaced)")
    ap.add_argument("--spectrum", type=int, default=0, metavar="N",
                    help="instead: compare the spectra of full and landmark fits at N points for "
                         "bandwidth='auto' and 'knn' (in this process; writes scale.spectrum.md)")
    args = ap.parse_args(argv)
    if args.spectrum:
        spectrum_comparison(args.spectrum, args.landmarks, args.threads,
                            Path(args.out).with_name("scale.spectrum.md"))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    mem_cap = min(args.mem_cap, 0.85 * mem_total_mib())
    env = child_env(args.threads)
    records: list[dict] = []
    kept = _previous_records(args, sizes, methods) if args.merge else []
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
                print(row(rec, records + kept), flush=True)
                write(args, _ordered(kept + records), mem_cap)
            shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    print(f"\nwrote {args.out}")


def laplace_beltrami_quarter(k: int) -> np.ndarray:
    """First k non-zero Neumann eigenvalues / 4 of the roll (arc length 96.6, height 21).

    α = 1 generator eigenvalues ``-log(λ)/ε`` estimate these (``P ≈ exp(εΔ/4)``).
    """
    mu = sorted((np.pi * a / 96.6) ** 2 + (np.pi * b / 21.0) ** 2
                for a in range(2 * k + 2) for b in range(k + 1))
    return np.asarray(mu[1:k + 1]) / 4.0


def spectrum_comparison(n: int, landmarks: int, threads: int, out: Path) -> None:
    """Full vs landmark fit, bandwidth 'auto' vs 'knn': the table of docs/scale.md."""
    import diffembed as de

    X, u = make_manifold_mixture(n)
    lb = laplace_beltrami_quarter(5)
    rows, fits = [], {}
    for bw in ("auto", "knn"):
        for kind in ("landmarks", "full"):
            common = dict(n_components=10, bandwidth=bw, n_jobs=threads, random_state=0)
            est = (de.LandmarkDiffusionMap(landmarks=landmarks, **common) if kind == "landmarks"
                   else de.DiffusionMap(**common))
            t0 = time.perf_counter()
            est.fit(X)
            wall = time.perf_counter() - t0
            lam = np.asarray(est.eigenvalues_)
            gen = -np.log(lam) / est.bandwidth_
            psi = est.eigenvectors_[:, 0]
            fits[kind, bw] = gen
            rows.append({
                "fit": kind, "bandwidth": bw, "epsilon": est.bandwidth_, "wall_s": wall,
                "one_minus_lambda1": float(1 - lam[0]),
                "participation": float((psi**2).sum() ** 2 / (psi**4).sum() / psi.size),
                "spearman": spearman(psi, u), "gen_over_lb4": (gen[:4] / lb[:4]).tolist(),
                "shape": (gen[:5] / gen[0]).tolist(), "generator": gen.tolist(),
                "eigen_solver": getattr(est, "eigen_solver_", None),
                "timings": {k: round(v, 1) for k, v in est.timings_.items()},
                "nystrom_knn_recall": getattr(est, "nystrom_knn_recall_", None),
            })
            print(rows[-1], flush=True)
    fmt = lambda v: ", ".join(f"{x:.3g}" for x in v)  # noqa: E731
    lines = [f"# Spectra of full and landmark fits, n = {n:,} "
             f"(`benchmarks/scale.py --spectrum {n}`)",
             "", f"{landmarks} random landmarks; LB/4 = analytic Laplace–Beltrami eigenvalues / 4.",
             f"Load during the run: {os.getloadavg()[0]:.1f} (2 CPUs).", "",
             "| fit | bandwidth | ε | wall s | solver | 1 − λ₁ | ψ₁ participation | "
             "\\|Spearman\\| | generator / (LB/4) | shape g_k/g_1 |",
             "|---|---|---:|---:|---|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['fit']} | {r['bandwidth']} | {r['epsilon']:.3g} | {r['wall_s']:.1f} | "
                     f"{r['eigen_solver']} | {r['one_minus_lambda1']:.2g} | "
                     f"{r['participation']:.2g} | {r['spearman']:.5f} | {fmt(r['gen_over_lb4'])} "
                     f"| {fmt(r['shape'])} |")
    for bw in ("auto", "knn"):
        ratio = fits["landmarks", bw][:5] / fits["full", bw][:5]
        lines.append("")
        lines.append(f"landmark / full generator eigenvalues, bandwidth={bw!r}: {fmt(ratio)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=str))
    print(f"wrote {out}")


def _previous_records(args, sizes: list[int], methods: list[str]) -> list[dict]:
    """Rows of the existing JSON that this run does not redo (``--merge``)."""
    path = Path(args.out).with_suffix(".json")
    if not path.exists():
        return []
    redo = {(n, m) for n in sizes for m in methods}
    return [r for r in json.loads(path.read_text()) if (r["n"], r["method"]) not in redo]


def _ordered(records: list[dict]) -> list[dict]:
    rank = {m: i for i, m in enumerate(["diffembed_landmarks", *METHODS])}
    return sorted(records, key=lambda r: (r["n"], rank.get(r["method"], 99)))


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
        *(["", "Rows merged (`--merge`) from runs on different days and loads: "
           + "; ".join(f"n={r['n']:,} {r['method']}: {r.get('time', '?')}" for r in records)
           + "."] if getattr(args, "merge", False) else []),
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
