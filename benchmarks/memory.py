"""Peak memory: diffembed's estimate against the measured peak, from 1k to 1M rows.

Every case runs one ``diffembed`` command in its own child process and reads the child's peak
resident memory (``ru_maxrss`` of ``RUSAGE_CHILDREN`` in a wrapper process that runs nothing
else). The estimate is what the command prints and what its memory guard checks
(:mod:`diffembed._memory`). A row passes when the estimate is within 2x of the measurement.

    PYTHONPATH=src nice -n 10 python benchmarks/memory.py            # ~10 min on 2 cores
    PYTHONPATH=src python benchmarks/memory.py --only roll3d-1k,nodes-dense-4k   # some cases
    PYTHONPATH=src python benchmarks/memory.py --only roll3d-100k --merge   # rerun rows
    PYTHONPATH=src python benchmarks/memory.py --big                 # adds the 1M full fit

Prints a markdown table and writes ``benchmarks/results/memory.md`` (with the command and the
load average). Data (swiss roll in 3-D, Gaussian blobs in 50-D, the 50-D manifold mixture of
``scale_data.py``, random graphs) is generated into ``--work`` (default a temporary folder).
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
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from diffembed import _memory  # noqa: E402

WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


@dataclass
class Case:
    name: str
    data: str  # key of DATA
    args: list[str]
    estimate: dict = field(default_factory=dict)  # map_bytes keywords, or {"kind": ...}
    note: str = ""


def _roll(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.uniform(1.5 * np.pi, 4.5 * np.pi, n)
    return np.c_[t * np.cos(t), 21 * rng.uniform(size=n), t * np.sin(t)]


def _blobs(n: int, d: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 0.3, (8, d))  # overlapping: one connected kNN graph
    return centres[rng.integers(0, 8, n)] + rng.normal(0, 1, (n, d))


def _mixture(n: int) -> np.ndarray:
    from scale_data import make_manifold_mixture

    return make_manifold_mixture(n)[0]


def _graph(n: int, degree: int, seed: int = 0) -> np.ndarray:
    """A connected random graph: a ring plus degree/2 random edges per node."""
    rng = np.random.default_rng(seed)
    src = np.arange(n)
    edges = [np.c_[src, (src + 1) % n]]
    for _ in range(max(degree // 2 - 1, 0)):
        edges.append(np.c_[src, rng.integers(0, n, n)])
    e = np.concatenate(edges)
    return e[e[:, 0] != e[:, 1]]


DATA = {
    "roll1k": lambda: _roll(1_000),
    "roll10k": lambda: _roll(10_000),
    "roll50k": lambda: _roll(50_000),
    "roll100k": lambda: _roll(100_000),
    "roll2k": lambda: _roll(2_000),
    "roll5k": lambda: _roll(5_000),
    "blobs10k": lambda: _blobs(10_000),
    "blobs100k": lambda: _blobs(100_000),
    "mix1m": lambda: _mixture(1_000_000),
    "roll1m": lambda: _roll(1_000_000),
    "graph4k": lambda: _graph(4_000, 10),
    "graph30k": lambda: _graph(30_000, 10),
}

NO = ["--no-report", "--explorer-neighbors", "0"]
CASES = [
    Case("roll3d-1k", "roll1k", [], {"explorer_k": 10}, "defaults: report + explorer"),
    Case("roll3d-10k", "roll10k", [], {"explorer_k": 10}, "defaults: report + explorer"),
    Case("roll3d-50k-report", "roll50k", [], {"explorer_k": 10}, "defaults: report + explorer"),
    Case("roll3d-100k", "roll100k", NO, {}, "full fit, amg"),
    Case("dense-2k", "roll2k", [*NO, "--eigen-solver", "dense"], {"eigen_solver": "dense"},
         "dense eigh"),
    Case("dense-5k", "roll5k", [*NO, "--eigen-solver", "dense"], {"eigen_solver": "dense"},
         "dense eigh"),
    Case("blobs50d-10k-k200", "blobs10k", [*NO, "--n-components", "200"],
         {"n_components": 200}, "ARPACK, ncv = 401"),
    Case("blobs50d-100k", "blobs100k", NO, {}, "HNSW kNN, amg"),
    Case("blobs50d-100k-k10-lm", "blobs100k", [*NO, "--landmarks", "5000"],
         {"landmarks": 5000}, "5,000 landmarks"),
    Case("explorer-10k-1000", "roll10k", ["--no-report", "--explorer-neighbors", "1000"],
         {"explorer_k": 1000, "report": False}, "explorer neighbours"),
    Case("mix50d-1m-lm", "mix1m", [*NO, "--landmarks", "10000"], {"landmarks": 10000},
         "10,000 landmarks"),
    Case("roll3d-1m-lm", "roll1m", [*NO, "--landmarks", "10000"], {"landmarks": 10000},
         "10,000 landmarks"),
    Case("nodes-dense-4k", "graph4k", ["--netmf-method", "dense", "--no-report"],
         {"kind": "netmf", "method": "dense"}, "NetMF dense"),
    Case("nodes-sparse-30k", "graph30k",
         ["--netmf-method", "sparse", "--window", "2", "--no-report"],
         {"kind": "netmf", "method": "sparse", "window": 2}, "NetMF sparse, window 2"),
    Case("transform-100k", "blobs100k", [], {"kind": "transform"},
         "Nyström of 100k rows, model fitted on 10k"),
]
BIG = [Case("mix50d-1m-full", "mix1m", NO, {}, "full fit (~5 min)")]


def _data_file(work: Path, key: str) -> Path:
    graph = key.startswith("graph")
    path = work / (f"{key}.csv" if graph else f"{key}.npy")
    if not path.exists():
        X = DATA[key]()
        if graph:
            np.savetxt(path, X, fmt="%d", delimiter=",", header="source,target", comments="")
        else:
            np.save(path, X)
    return path


def _measure(argv: list[str]) -> tuple[int, float, float]:
    """(exit code, peak RSS bytes, seconds) of one command in a fresh child."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, *argv], capture_output=True,
                          text=True, check=False)
    seconds = time.perf_counter() - start
    rc, maxrss_kib = done.stdout.split()[-2:]
    return int(rc), float(maxrss_kib) * 1024, seconds


def _estimate(case: Case, path: Path, work: Path) -> float:
    kind = case.estimate.get("kind", "map")
    if kind == "netmf":
        edges = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64)
        n = int(edges.max()) + 1
        pairs = {(min(a, b), max(a, b)) for a, b in edges.tolist()}
        return _memory.netmf_bytes(n, 2 * len(pairs), case.estimate["method"],
                                   window=case.estimate.get("window", 10))
    if kind == "transform":
        nbytes, _ = _memory.transform_bytes(work / "model-10k" / "model", path, 15, 10)
        return nbytes
    n, d = _memory.npy_header(path)[0]
    options = {k: v for k, v in case.estimate.items() if k != "kind"}
    options.setdefault("report", "--no-report" not in case.args)
    return _memory.map_bytes(n, d, read=_memory.read_bytes(path)[0], **options)["peak"]


def _argv(case: Case, path: Path, out: Path, work: Path) -> list[str]:
    cli = [sys.executable, "-m", "diffembed.cli.app"]
    if case.estimate.get("kind") == "netmf":
        return [*cli, "embed", "nodes", str(path), "-o", str(out), "-q", *case.args]
    if case.estimate.get("kind") == "transform":
        model = work / "model-10k"
        if not (model / "model").is_dir():
            subprocess.run([*cli, "map", str(_data_file(work, "blobs10k")), "-o", str(model),
                            "-q", *NO], check=True)
        return [*cli, "transform", str(model / "model"), str(path), "-o", str(out), "-q"]
    return [*cli, "map", str(path), "-o", str(out), "-q", "--overwrite", *case.args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="add the 1M x 50 full fit (~5 min)")
    parser.add_argument("--only", default=None, help="comma-separated case names")
    parser.add_argument("--work", default=None, help="folder for data and outputs")
    parser.add_argument("--out", default=str(HERE / "results" / "memory.md"))
    parser.add_argument("--merge", action="store_true",
                        help="with --only: replace those rows of the last table (memory.json)")
    args = parser.parse_args(argv)
    cases = CASES + (BIG if args.big else [])
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c.name in wanted]
    work = Path(args.work or tempfile.mkdtemp(prefix="diffembed-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.pop(_memory.ENV_LIMIT, None)
    rows, loads = [], []
    for case in cases:
        path = _data_file(work, case.data)
        out = work / f"out-{case.name}"
        shutil.rmtree(out, ignore_errors=True)  # an earlier run's output
        command = _argv(case, path, out, work)
        estimate = _estimate(case, path, work)
        loads.append(os.getloadavg()[0])
        rc, peak, seconds = _measure(command)
        ratio = estimate / peak
        ok = rc == 0 and 0.5 <= ratio <= 2.0
        row = {"case": case.name, "rows": _rows(path), "estimate": estimate, "peak": peak,
               "ratio": ratio, "seconds": seconds, "rc": rc, "ok": ok, "note": case.note,
               "load": loads[-1]}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    store = Path(args.out).with_suffix(".json")
    if args.merge and store.is_file():  # rerun cases replace their rows of the last table
        kept = json.loads(store.read_text(encoding="utf-8"))
        fresh = {r["case"]: r for r in rows}
        rows = [fresh.pop(r["case"], r) for r in kept["rows"]] + list(fresh.values())
        loads = kept["loads"] + loads
        commands = [*kept["commands"], _command(args)]
    else:
        commands = [_command(args)]
    table = _table(rows)
    print(table)
    load = f"{min(loads):.1f}–{max(loads):.1f}" if loads else "-"
    command = " then ".join(f"`{c}`" for c in commands)
    text = (
        "# Peak memory: estimate vs measured (`benchmarks/memory.py`)\n\n"
        f"{command} · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, 1-minute load average "
        f"{load} during the runs (a shared machine).\n\n"
        "Peak = `ru_maxrss` of the `diffembed` child process (the whole command: imports, "
        "read, fit, outputs, report). Estimate = what the command prints and its memory "
        "guard checks (`diffembed._memory`). Ratio = estimate / measured; every row must be "
        "within 0.5–2.\n\n" + table + "\n"
    )
    if not args.only or args.merge:
        Path(args.out).write_text(text, encoding="utf-8")
        store.write_text(json.dumps({"rows": rows, "loads": loads, "commands": commands},
                                    indent=1), encoding="utf-8")
    return 0 if all(r["ok"] for r in rows) else 1


def _command(args: argparse.Namespace) -> str:
    return ("PYTHONPATH=src nice -n 10 python benchmarks/memory.py" + (" --big" if args.big else "")
            + (f" --only {args.only}" if args.only else "") + (" --merge" if args.merge else ""))


def _rows(path: Path) -> str:
    header = _memory.npy_header(path)
    if header is None:
        return "graph"
    n, d = header[0]
    return f"{n:,} × {d}"


def _table(rows: list[dict]) -> str:
    lines = ["| case | data | estimate MiB | measured MiB | ratio | wall s | within 2× | notes |",
             "|---|---|---:|---:|---:|---:|:---:|---|"]
    for r in rows:
        verdict = "yes" if r["ok"] else "**no**" + ("" if r["rc"] == 0 else f" (exit {r['rc']})")
        lines.append(
            f"| {r['case']} | {r['rows']} | {r['estimate'] / 2**20:,.0f} | "
            f"{r['peak'] / 2**20:,.0f} | {r['ratio']:.2f} | {r['seconds']:.1f} | "
            f"{verdict} | {r['note']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
