#!/usr/bin/env python
"""Side-by-side diffusion-map benchmark: diffembed vs scanpy, pydiffmap, datafold and PHATE.

One command (from the repository root, after ``bash benchmarks/setup_bench_env.sh``)::

    .venv-bench/bin/python benchmarks/run.py                      # = make bench
    .venv-bench/bin/python benchmarks/run.py --quick              # 2k swiss roll + digits
    .venv-bench/bin/python benchmarks/run.py --sizes 2000,10000
    .venv-bench/bin/python benchmarks/run.py --methods diffembed,scanpy --timeout 300

Every fit runs in its own subprocess (``benchmarks/_child.py``) under the interpreter that has
the method installed (datafold lives in ``.venv-datafold`` when it cannot share
``.venv-bench``), so

* the peak memory reported is that child's ``ru_maxrss`` (interpreter + imports + data + fit),
* a wall-clock timeout (default 15 min) and a resident-memory cap (default 85 % of RAM) are
  enforced by killing the child; after a failure or timeout the larger sizes are skipped for
  that method.

After a fit, the child saves the method's own symmetric operator; a second subprocess computes
its exact top eigenvalues (dense ``scipy.linalg.eigh`` for n <= 10,000, ``eigsh(tol=1e-12)``
above) and the parent reports the max relative error of the method's 10 top non-trivial
eigenvalues against them.  The reference step is not timed and not part of peak memory.

Results: a markdown table on stdout, ``benchmarks/results/diffmap.md`` (``--quick``:
``diffmap_quick.md``) and the raw records in the matching ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
CHILD = HERE / "_child.py"
MARK = "@@RESULT@@"
RUN_START = time.strftime("%Y-%m-%d %H:%M:%S")

METHODS = ["diffembed", "scanpy", "pydiffmap", "datafold", "phate"]
IMPORT_NAME = {"diffembed": "diffembed", "scanpy": "scanpy", "pydiffmap": "pydiffmap",
               "datafold": "datafold", "phate": "phate"}
DEFAULT_SIZES = [2000, 10_000, 50_000, 200_000]
QUICK_SIZES = [2000]


# ----------------------------------------------------------------------------- utilities
def venv_python(name: str) -> Path:
    return ROOT / name / "bin" / "python"


def interpreter_for(method: str) -> tuple[Path | None, str]:
    """First interpreter that can import the method: .venv-bench (or current), then .venv-datafold."""
    cands = [Path(sys.executable), venv_python(".venv-bench")]
    if method == "datafold":
        cands.append(venv_python(".venv-datafold"))
    seen = set()
    err = "not installed"
    for py in cands:
        if not py.exists() or str(py) in seen:
            continue
        seen.add(str(py))
        p = subprocess.run([str(py), "-c", f"import {IMPORT_NAME[method]}"],
                           capture_output=True, text=True, env=child_env(1))
        if p.returncode == 0:
            return py, ""
        err = (p.stderr.strip().splitlines() or ["import failed"])[-1][:150]
    return None, err


def child_env(threads: int) -> dict:
    env = dict(os.environ)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_MAX_THREADS"):
        env[v] = str(threads)
    env["PYTHONWARNINGS"] = "ignore"
    env.pop("PYTHONPATH", None)
    return env


def mem_total_mib() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 16 * 1024.0


def tree_rss_mib(pid: int) -> float:
    """Resident memory of pid and all its descendants (Linux /proc), MiB."""
    total = 0.0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
                        break
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_child(argv, env, timeout_s: float, mem_cap_mib: float):
    """Run a child; kill it on timeout or when its process tree exceeds mem_cap_mib."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    out_chunks, err_chunks = [], []
    readers = [threading.Thread(target=lambda s=proc.stdout, b=out_chunks: b.append(s.read())),
               threading.Thread(target=lambda s=proc.stderr, b=err_chunks: b.append(s.read()))]
    for r in readers:
        r.start()
    killed = None
    peak_tree = 0.0
    loads = []
    while proc.poll() is None:
        time.sleep(0.25)
        rss = tree_rss_mib(proc.pid)
        peak_tree = max(peak_tree, rss)
        loads.append(os.getloadavg()[0])
        if time.perf_counter() - t0 > timeout_s:
            killed = f"timeout > {timeout_s:.0f} s"
        elif rss > mem_cap_mib:
            killed = f"memory > {mem_cap_mib:.0f} MiB"
        if killed:
            try:
                os.killpg(proc.pid, 9)  # the child's own session: only processes it started
            except ProcessLookupError:
                pass
            proc.wait()
            break
    for r in readers:
        r.join()
    out, err = "".join(out_chunks), "".join(err_chunks)
    wall = time.perf_counter() - t0
    # 1-min load average, median over the child's life (includes the child's own threads)
    load = float(np.median(loads)) if loads else None
    if killed:
        return {"error": killed, "proc_wall_s": wall, "tree_peak_mib": peak_tree, "load1": load}
    for line in out.splitlines():
        if line.startswith(MARK):
            res = json.loads(line[len(MARK):])
            res["proc_wall_s"] = wall
            res["tree_peak_mib"] = peak_tree
            res["load1"] = load
            return res
    lines = [ln for ln in (err or out).strip().splitlines() if ln.strip()]
    tail = lines[-1] if lines else f"exit code {proc.returncode}"
    if proc.returncode and proc.returncode < 0:
        tail = f"killed by signal {-proc.returncode}; {tail}"
    return {"error": tail[:200], "proc_wall_s": wall, "tree_peak_mib": peak_tree, "load1": load,
            "stderr_tail": "\n".join(lines[-15:])}


# ------------------------------------------------------------------------------- datasets
def make_dataset(name: str, n: int | None, data_dir: Path):
    from sklearn.datasets import load_digits, make_swiss_roll

    if name == "swiss_roll":
        X, t = make_swiss_roll(n_samples=n, noise=0.0, random_state=0)
    elif name == "digits":
        X, t = load_digits(return_X_y=True)[0].astype(np.float64), None
    else:
        raise ValueError(name)
    data_dir.mkdir(parents=True, exist_ok=True)
    np.save(data_dir / "X.npy", np.ascontiguousarray(X, dtype=np.float64))
    if t is not None:
        np.save(data_dir / "t.npy", t)
    return X.shape, t


# -------------------------------------------------------------------------------- metrics
def eig_rel_err(res: dict, ref: dict) -> float:
    m = np.asarray(res["evals"], dtype=np.float64)
    if res["ref"].get("method_includes_trivial"):
        m = np.sort(m)[::-1][1:]
    m = np.sort(m)[::-1][:10]
    r = np.asarray(ref["ref_evals"], dtype=np.float64)[: len(m)]
    return float(np.max(np.abs(m - r) / np.abs(r)))


def abs_spearman(coord_path: Path, t) -> float | None:
    if t is None or not coord_path.exists():
        return None
    from scipy.stats import spearmanr

    c = np.load(coord_path)
    ok = np.isfinite(c)
    return float(abs(spearmanr(c[ok], np.asarray(t)[ok]).statistic))


# ----------------------------------------------------------------------------------- main
def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=None, help="swiss-roll sizes, e.g. 2000,10000 (default 2k,10k,50k,200k)")
    ap.add_argument("--quick", action="store_true", help="2k swiss roll + digits, 5 min timeout")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma list, default: all")
    ap.add_argument("--no-digits", action="store_true", help="skip the sklearn digits dataset")
    ap.add_argument("--timeout", type=float, default=None, help="per-fit wall limit, s (default 900; quick 300)")
    ap.add_argument("--mem-cap", type=float, default=None, help="per-fit RSS cap, MiB (default 85%% of RAM)")
    ap.add_argument("--ref-timeout", type=float, default=1800, help="per reference eigensolve, s")
    ap.add_argument("--no-ref", action="store_true", help="skip the exact-eigenvalue reference")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed fits per run for n <= 10,000 (min is reported); larger n: 1")
    ap.add_argument("--warmup-rows", type=int, default=5000,
                    help="first-call warm-up fit on this many rows before the timed fit (0: none)")
    ap.add_argument("--pydiffmap-k", type=int, default=15, help="pydiffmap k (its own default is 64)")
    ap.add_argument("--out", default=None, help="markdown output path")
    ap.add_argument("--update", action="store_true",
                    help="merge: replace only the (dataset, n, method) rows run now in the existing "
                         "results .json and rewrite the table from all rows")
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args(argv)

    sizes = ([int(s) for s in args.sizes.split(",") if s] if args.sizes
             else QUICK_SIZES if args.quick else DEFAULT_SIZES)
    timeout = args.timeout or (300 if args.quick else 900)
    mem_cap = args.mem_cap or 0.85 * mem_total_mib()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}; choose from {METHODS}")
    # diffembed first so the ratio column can be filled as we go
    methods.sort(key=lambda m: METHODS.index(m))
    datasets = [("swiss_roll", n) for n in sorted(sizes)]
    if not args.no_digits:
        datasets.append(("digits", None))

    env = child_env(args.threads)
    interp, unavailable = {}, {}
    for m in methods:
        py, err = interpreter_for(m)
        if py is None:
            unavailable[m] = err
        else:
            interp[m] = py
    print("interpreters:", {m: str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)
                            for m, p in interp.items()}, flush=True)
    for m, e in unavailable.items():
        print(f"  {m}: NOT AVAILABLE ({e})", flush=True)

    tmp_root = Path(tempfile.mkdtemp(prefix="diffembed-bench-"))
    records = []
    failed_at: dict[str, str] = {}
    header = ("| dataset | n | method | wall s | first-call s | peak RSS MiB | top-10 eig max rel err | "
              "\\|Spearman\\| vs t | time ratio to diffembed | notes |\n"
              "|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    print("\n" + header, flush=True)
    try:
        for ds, n in datasets:
            data_dir = tmp_root / f"{ds}-{n or 'all'}"
            shape, t = make_dataset(ds, n, data_dir)
            n_rows = shape[0]
            de_wall = None
            for m in methods:
                if m != "diffembed" and de_wall is None and args.update:
                    de_wall = previous_wall(args, ds, n_rows)
                rec = {"dataset": ds, "n": n_rows, "d": shape[1], "method": m,
                       "run": time.strftime("%Y-%m-%d %H:%M"), "run_start": RUN_START,
                       "threads": args.threads}
                if m in unavailable:
                    rec["error"] = f"not installed: {unavailable[m]}"
                elif m in failed_at and ds == "swiss_roll":
                    rec["error"] = f"skipped (failed at smaller n: {failed_at[m]})"
                else:
                    out_dir = data_dir / m
                    out_dir.mkdir(exist_ok=True)
                    spec = {"method": m, "data_dir": str(data_dir), "out_dir": str(out_dir),
                            "threads": args.threads, "pydiffmap_k": args.pydiffmap_k,
                            "warmup_rows": args.warmup_rows,
                            "repeats": args.repeats if n_rows <= 10_000 else 1}
                    res = run_child([str(interp[m]), str(CHILD), "fit", json.dumps(spec)],
                                    env, timeout, mem_cap)
                    rec.update(res)
                    if "error" in res:
                        if ds == "swiss_roll":
                            failed_at[m] = f"n={n_rows}: {res['error']}"
                    else:
                        if m == "diffembed":
                            de_wall = res["wall_s"]
                        if res.get("ref") and not args.no_ref:
                            rspec = {"out_dir": str(out_dir), "ref": res["ref"]}
                            ref = run_child([sys.executable, str(CHILD), "ref", json.dumps(rspec)],
                                            env, args.ref_timeout, mem_cap)
                            rec["reference"] = ref
                            if "error" not in ref:
                                rec["eig_rel_err"] = eig_rel_err(res, ref)
                        rec["spearman"] = abs_spearman(out_dir / "coord.npy", t)
                        if de_wall:
                            rec["ratio"] = res["wall_s"] / de_wall
                records.append(rec)
                print(table_row(rec, args.threads), flush=True)
                write_outputs(args, records, header, unavailable, timeout, mem_cap)
                if not args.keep_tmp:
                    shutil.rmtree(data_dir / m, ignore_errors=True)
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp_root, ignore_errors=True)

    write_outputs(args, records, header, unavailable, timeout, mem_cap)
    out = out_path(args)
    print(f"\nwrote {out} and {out.with_suffix('.json')}")


def out_path(args) -> Path:
    return Path(args.out) if args.out else RESULTS / ("diffmap_quick.md" if args.quick else "diffmap.md")


def load_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    return data["records"] if isinstance(data, dict) else data


def previous_wall(args, ds, n):
    for r in load_records(out_path(args).with_suffix(".json")):
        if r["dataset"] == ds and r["n"] == n and r["method"] == "diffembed" and "wall_s" in r:
            return r["wall_s"]
    return None


def table_row(rec: dict, threads: int = 2) -> str:
    ds, n, m = rec["dataset"], rec["n"], rec["method"]
    if "error" in rec:
        busy = ""
        if rec.get("load1") is not None and rec["load1"] > threads + 1.0:
            busy = f" (machine busy: load {rec['load1']:.1f} on {os.cpu_count()} CPUs)"
        return f"| {ds} | {n} | {m} | — | — | — | — | — | — | **{rec['error']}**{busy} |"
    notes = rec.get("notes", "")
    load = rec.get("load1")
    if load is not None and load > threads + 1.0:
        notes += f"; **machine busy: load {load:.1f} on {os.cpu_count()} CPUs during the fit**"
    ref = rec.get("reference")
    if ref is not None:
        notes += f"; ref: {ref['error']}" if "error" in ref else f"; ref: {ref['solver']}"
    err = rec.get("eig_rel_err")
    return (f"| {ds} | {n} | {m} | {rec['wall_s']:.2f} | {fmt(rec.get('warmup_s'), '.2f')} | "
            f"{rec['peak_rss_mib']:.0f} | "
            f"{fmt(err, '.1e')} | {fmt(rec.get('spearman'), '.4f')} | "
            f"{fmt(rec.get('ratio'), '.2f')} | {notes} |")


def write_outputs(args, records, header, unavailable, timeout, mem_cap):
    """(Re)write the .md/.json; called after every row so a killed run keeps its finished rows.

    With ``--update`` the file is re-read under a lock each time, so rows written meanwhile by
    another ``--update`` run are kept (only this run's (dataset, n, method) rows are replaced).
    """
    import fcntl

    out = out_path(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _write_outputs_locked(args, out, list(records), header, unavailable, timeout, mem_cap)


def _write_outputs_locked(args, out, records, header, unavailable, timeout, mem_cap):
    me = {"argv": sys.argv[1:], "start": RUN_START, "time": time.strftime("%Y-%m-%d %H:%M"),
          "timeout_s": timeout, "mem_cap_mib": mem_cap}
    runs = []
    if args.update:
        old = load_records(out.with_suffix(".json"))
        try:
            runs = json.loads(out.with_suffix(".json").read_text()).get("runs", [])
        except (OSError, ValueError, AttributeError):
            runs = []
        runs = [r for r in runs if not (r.get("start") == RUN_START and r["argv"] == me["argv"])]
        new_keys = {(r["dataset"], r["n"], r["method"]) for r in records}
        records = [r for r in old if (r["dataset"], r["n"], r["method"]) not in new_keys] + records
    runs = [*runs, me]
    # canonical order and ratios from the merged records
    ds_order = {"swiss_roll": 0, "digits": 1}
    records.sort(key=lambda r: (ds_order.get(r["dataset"], 9), r["n"], METHODS.index(r["method"])))
    de = {(r["dataset"], r["n"]): r["wall_s"] for r in records
          if r["method"] == "diffembed" and "wall_s" in r}
    for r in records:
        base = de.get((r["dataset"], r["n"]))
        if "wall_s" in r and base:
            r["ratio"] = r["wall_s"] / base
    rows = [table_row(r, args.threads) for r in records]
    vers = {}
    for r in records:
        if r.get("version"):
            vers[r["method"]] = r["version"]
    exe = Path(sys.executable)
    py_name = exe.relative_to(ROOT).as_posix() if exe.is_relative_to(ROOT) else str(exe)
    lines = [
        f"# Diffusion-map benchmark{' (quick)' if args.quick else ''}",
        "",
        "Runs that wrote into this table (each row's own time is in the .json): "
        + "; ".join(f"`{py_name} benchmarks/run.py {' '.join(r['argv'])}` at {r['time']}"
                    f" (timeout {r['timeout_s']:.0f} s)" for r in runs)
        + f". Python {platform.python_version()}, {os.cpu_count()} CPUs, threads={args.threads}, "
        f"memory cap {mem_cap:.0f} MiB.",
        "",
        "Versions: " + (", ".join(f"{k} {v}" for k, v in vers.items()) or "—") + ".",
    ]
    if unavailable:
        lines += ["", "Not available: " + "; ".join(f"{k}: {v}" for k, v in unavailable.items()) + "."]
    lines += [
        "",
        "Columns: **wall s** = the fit call only, steady state (imports and data loading "
        "excluded; run after a warm-up fit in the same process; for n <= 10,000 the minimum "
        f"of {args.repeats} fits); **first-call s** = that "
        f"warm-up fit on the first min(n, {args.warmup_rows}) rows, which pays one-time costs "
        "(numba JIT in pynndescent/umap for scanpy, whose warm-up uses min(n, 9000) rows, "
        "etc.) -- a user's first fit in a fresh "
        "process costs roughly wall s + the JIT part of first-call s; "
        "**peak RSS** = `ru_maxrss` of the fit's own process right after the fit "
        "(interpreter + imports + data + fit); **top-10 eig max rel err** = "
        "max_i |λ_i − λ_i^ref| / |λ_i^ref| over the 10 top non-trivial eigenvalues the method "
        "reports, against an exact eigensolve of that method's own operator (see notes: "
        "scanpy selects by magnitude, pydiffmap reports generator eigenvalues (λ_P − 1)/ε); "
        "**|Spearman| vs t** = |ρ| between the first non-trivial coordinate and the swiss-roll "
        "parameter t; **time ratio** = wall s / diffembed's wall s on the same data. "
        "See benchmarks/README.md.",
        "",
        header,
        *rows,
        "",
    ]
    tmp_md, tmp_js = out.with_suffix(".md.tmp"), out.with_suffix(".json.tmp")
    tmp_md.write_text("\n".join(lines))
    tmp_js.write_text(json.dumps({"runs": runs, "records": records}, indent=1, default=str))
    os.replace(tmp_md, out)
    os.replace(tmp_js, out.with_suffix(".json"))


if __name__ == "__main__":
    main()
