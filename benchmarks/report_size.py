#!/usr/bin/env python
"""Size and speed of the HTML report's explorer at 10k / 100k / 1M points.

One command, from the repository root (needs Debian chromium and the ``test`` extra)::

    .venv/bin/python benchmarks/report_size.py                  # 10k, 100k, 1M
    .venv/bin/python benchmarks/report_size.py --sizes 10000,100000
    .venv/bin/python benchmarks/report_size.py --reports tree,embed --sizes 10000,100000
    .venv/bin/python benchmarks/report_size.py --reports stability --sizes 10000,50000

For each size it writes a synthetic run like ``diffembed map`` does (10 diffusion coordinates,
a 12-group label, 8 clusters, integer ids, 10 saved neighbours per point), builds
``report.html`` with :func:`diffembed.plotting.write_report`, then opens it in headless
chromium (no network, software WebGL as in the browser tests) and times what a person does:
the page until the explorer's first drawing, a search that highlights a group, a switch of the
diffusion time (all coordinates rescaled and redrawn) and a click on a listed point (its
neighbours drawn). Prints a markdown table and saves it to ``benchmarks/results/report_size.md``.

``--reports tree,embed`` measures the same explorer in the other reports instead (saved to
``benchmarks/results/report_size_reports.md``): a synthetic ``diffembed tree`` output (10
diffusion coordinates, nested levels of 768 / 96 / 12 / 4 / 1 clusters, a 12-group label;
the page also holds the icicle + scatter figure) and a synthetic ``diffembed embed words``
output (300-dimensional vectors, word ids, counts): the build includes the 2-D PCA and the
10 cosine neighbours of every word (exact while cheap, faiss HNSW above). There the colour
switch (to another level, or to a coordinate) replaces the diffusion-time switch.
``--reports stability`` measures a synthetic ``diffembed stability`` output (100-dimensional
raw and smoothed word vectors, the per-word table): its page has two explorers (smoothed and
raw vectors), the build includes both PCAs and the 10 cosine neighbours of every word in both
spaces. Rows of reports not measured in a run are kept from the saved table.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
RESULTS = Path(__file__).parent / "results" / "report_size.md"
RESULTS_REPORTS = Path(__file__).parent / "results" / "report_size_reports.md"
READY = "() => document.getElementById('explorer').dataset.ready"
# Run an action in the page and time it until the explorer has drawn again.
TIMED = """async ([action, arg]) => {
  const api = window.diffembedExplorer, t0 = performance.now();
  const frames = () => api.state().renders + api.state().paints, before = frames();
  if (action === "search") {
    const q = document.getElementById("ex-q");
    q.value = arg; q.dispatchEvent(new Event("input", {bubbles: true}));
  } else if (action === "time") {
    const s = document.getElementById("ex-t");
    s.value = String(api.times().indexOf(arg));
    s.dispatchEvent(new Event("input", {bubbles: true}));
  } else if (action === "colour") {
    const c = document.getElementById("ex-color");
    c.value = arg; c.dispatchEvent(new Event("change", {bubbles: true}));
  } else {
    document.querySelector("#ex-results [data-point]").click();
  }
  while (frames() === before) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => requestAnimationFrame(() => r()));
  return performance.now() - t0;
}"""


def write_run(out: Path, n: int, *, k_coords: int = 10, k_nn: int = 10, seed: int = 0) -> None:
    """A synthetic ``diffembed map`` output directory with ``n`` points."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    s = rng.uniform(0, 4 * np.pi, n)
    lam = 0.99 - 0.06 * np.arange(k_coords)
    cols: dict[str, object] = {"id": np.arange(n, dtype=np.int64)}
    for j in range(k_coords):
        cols[f"dc{j + 1}"] = lam[j] * (np.cos((j + 1) * s / 2) + 0.02 * rng.normal(size=n))
    groups = np.array([f"group {g}" for g in range(12)], dtype=object)
    cols["kind"] = groups[(s / (4 * np.pi) * 12).astype(int).clip(0, 11)]
    cols["cluster"] = rng.integers(0, 8, n)
    pq.write_table(pa.table(cols), out / "embedding.parquet")
    rows = [f"{j + 1},{v!r},{-1 / np.log(v)!r}" for j, v in enumerate(lam)]
    (out / "spectrum.csv").write_text("component,eigenvalue,timescale\n" + "\n".join(rows) + "\n")
    manifest = {
        "command": "map",
        "input": {"dataset": f"synthetic {n:,}", "n_samples": n, "n_features": 3},
        "label_column": "kind",
        "parameters": {"n_components": k_coords, "t": 1.0, "random_state": 0},
        "neighbors": {"k": k_nn, "space": "input", "metric": "euclidean"},
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    offsets = rng.integers(1, 50, (n, k_nn))
    np.save(out / "neighbors.npy", ((np.arange(n)[:, None] + offsets) % n).astype(np.int32))
    np.save(out / "neighbor_distances.npy", np.sort(rng.random((n, k_nn)), 1).astype(np.float32))


def write_tree_run(out: Path, n: int, *, k_coords: int = 10, seed: int = 0) -> None:
    """A synthetic ``diffembed tree`` output directory with ``n`` points."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    u = np.sort(rng.uniform(0, 1, n))
    coords = np.column_stack(
        [np.cos((j + 1) * np.pi * u) + 0.02 * rng.normal(size=n) for j in range(k_coords)]
    )
    np.save(out / "coordinates.npy", coords)
    groups = np.array([f"group {g}" for g in range(12)], dtype=object)
    cols: dict[str, object] = {
        "id": np.arange(n, dtype=np.int64),
        "kind": groups[(u * 12).astype(int).clip(0, 11)],
    }
    counts = [n, 768, 96, 12, 4, 1]
    for j, c in enumerate(counts):
        cols[f"level_{j}"] = (
            np.arange(n, dtype=np.int32) if j == 0 else (u * c).astype(np.int32).clip(0, c - 1)
        )
    pq.write_table(pa.table(cols), out / "levels.parquet")
    manifest = {
        "command": "tree",
        "input": {"dataset": f"synthetic {n:,}", "n_samples": n},
        "label_column": "kind",
        "parameters": {"space": "diffusion", "random_state": 0},
        "results": {"n_levels": len(counts), "salient_levels": [3], "embedding_dims": k_coords},
    }
    (out / "manifest.json").write_text(json.dumps(manifest))


def write_embed_run(out: Path, n: int, *, dim: int = 300, seed: int = 0) -> None:
    """A synthetic ``diffembed embed words`` output directory with ``n`` words."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    centres = rng.normal(size=(50, dim))
    V = centres[rng.integers(0, 50, n)] + 0.8 * rng.normal(size=(n, dim))
    words = [f"w{i}" for i in range(n)]
    cols: dict[str, object] = {"id": words}
    cols.update({f"v{j + 1}": V[:, j] for j in range(dim)})
    pq.write_table(pa.table(cols), out / "vectors.parquet")
    counts = np.sort(rng.zipf(1.3, n))[::-1] + 4
    lines = "".join(f"{w},{c}\n" for w, c in zip(words, counts, strict=True))
    (out / "vocabulary.csv").write_text("word,count\n" + lines)
    manifest = {"command": "embed words", "recipe": "words", "parameters": {"dim": dim}}
    (out / "manifest.json").write_text(json.dumps(manifest))


def write_stability_run(out: Path, n: int, *, dim: int = 100, seed: int = 0) -> None:
    """A synthetic ``diffembed stability`` output directory with ``n`` shared words."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    centres = rng.normal(size=(50, dim))
    group = rng.integers(0, 50, n)
    raw = centres[group] + 0.8 * rng.normal(size=(n, dim))
    smoothed = 0.5 * raw + 0.5 * centres[group]
    words = [f"w{i}" for i in range(n)]
    for name, V in (("raw", raw), ("smoothed", smoothed)):
        V = (V / np.linalg.norm(V, axis=1, keepdims=True)).astype(np.float32)
        cols: dict[str, object] = {"id": words}
        cols.update({f"v{j + 1}": V[:, j] for j in range(dim)})
        pq.write_table(pa.table(cols), out / f"vectors_{name}.parquet")
    before, after = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    pq.write_table(pa.table({
        "id": words, "rank": np.arange(1, n + 1), "overlap@10_raw": before,
        "overlap@10_smoothed": after, "delta_overlap@10": after - before,
        "kept@10": rng.uniform(0, 1, n), "graph_degree": rng.integers(0, 12, n),
    }), out / "words.parquet")  # fmt: skip
    (out / "metrics.csv").write_text(
        "method,graph,overlap@10,overlap@10_sd_pairs\nraw,none,0.5,0.01\n"
        "smoothed,lexicon,0.6,0.01\n"
    )
    manifest = {"command": "stability", "parameters": {"runs": 4, "graph": "lexicon"}}
    (out / "manifest.json").write_text(json.dumps(manifest))


def _build(report: str, n: int, workdir: Path) -> Path:
    out = workdir / f"{report}-{n}"
    if report == "stability":
        from diffembed.plotting.stability_report import write_stability_report

        write_stability_run(out, n)
        return write_stability_report(out)
    if report == "tree":
        from diffembed.plotting.tree_report import write_tree_report

        write_tree_run(out, n)
        return write_tree_report(out)
    if report == "embed":
        from diffembed.plotting.embed_figures import write_embed_report

        write_embed_run(out, n)
        return write_embed_report(out)
    from diffembed.plotting import write_report

    write_run(out, n)
    return write_report(out)


def measure(n: int, workdir: Path, report: str = "map") -> dict[str, float]:
    """Build the report of ``n`` points and time it in headless chromium."""
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    path = _build(report, n, workdir)
    build = time.perf_counter() - start
    row = {"report": report, "n": n, "mb": path.stat().st_size / 1e6, "build": build}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route(
                "**/*",
                lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort(),
            )
            start = time.perf_counter()
            page.goto(path.as_uri(), timeout=600_000)
            page.wait_for_function(READY, timeout=600_000, polling=20)
            row["load"] = time.perf_counter() - start
            page.wait_for_timeout(300)
            query = "w123" if report in ("embed", "stability") else "group 3"
            row["search"] = page.evaluate(TIMED, ["search", query]) / 1000
            row["focus"] = page.evaluate(TIMED, ["focus", None]) / 1000
            if report == "map":
                row["time"] = page.evaluate(TIMED, ["time", 4]) / 1000
            else:
                switch = {"embed": "d2", "stability": "c1"}.get(report, "c2")
                row["time"] = page.evaluate(TIMED, ["colour", switch])
                row["time"] /= 1000
            heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize : 0")
            row["heap"] = heap / 1e6
            if errors:
                msg = f"page errors at n={n}: {errors}"
                raise RuntimeError(msg)
        finally:
            browser.close()
    return row


def table(rows: list[dict[str, float]]) -> str:
    """The markdown table of the measurements."""
    head = (
        "| points drawn | report.html | build (Python) | open → explorer drawn | search → "
        "highlighted | click → neighbours drawn | switch t → redrawn | JS heap |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    body = "".join(
        f"| {r['n']:,} | {r['mb']:.1f} MB | {r['build']:.1f} s | {r['load']:.1f} s | "
        f"{r['search']:.2f} s | {r['focus']:.2f} s | {r['time']:.2f} s | {r['heap']:.0f} MB |\n"
        for r in rows
    )
    return head + body


def reports_table(rows: list[dict[str, float]]) -> str:
    """The markdown table of the tree, embed and stability measurements."""
    head = (
        "| report | points | report.html | build (Python) | open → explorer drawn | search → "
        "highlighted | click → neighbours drawn | switch colour → redrawn | JS heap |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    body = "".join(
        f"| {r['report']} | {r['n']:,} | {r['mb']:.1f} MB | {r['build']:.1f} s | "
        f"{r['load']:.1f} s | {r['search']:.2f} s | {r['focus']:.2f} s | {r['time']:.2f} s | "
        f"{r['heap']:.0f} MB |\n"
        for r in rows
    )
    return head + body


def main() -> None:
    """Run the measurements, print the table and save it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--reports", default="map", help="map, or any of tree, embed and stability"
    )
    args = parser.parse_args()
    sizes = [int(v) for v in args.sizes.split(",")]
    reports = [r for r in args.reports.split(",") if r]
    if reports != ["map"]:
        return main_reports(reports, sizes, args)
    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="report-size-") as tmp:
        for n in sizes:
            rows.append(measure(n, Path(tmp)))
            print(f"measured {n:,} points", file=sys.stderr)
    version = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    text = (
        "# Report explorer: file size and speed\n\n"
        f"`python benchmarks/report_size.py --sizes {args.sizes}` · {version.strip()} headless, "
        f"software WebGL (`--disable-gpu`: SwiftShader) · {os.cpu_count()} CPU cores, load "
        f"average {load:.1f} → {os.getloadavg()[0]:.1f} during the run · "
        f"Python {platform.python_version()}\n\n"
        + table(rows)
        + "\nSynthetic runs: 10 coordinates, a 12-group label, 8 clusters, int ids, 10 "
        "neighbours per point. Above 200,000 drawn points the coordinates are stored at 16-bit "
        "precision and neighbour distances are left out (the page says so); above 1,000,000 "
        "embedded points the explorer draws a stated, stratified sample. Times include the "
        "search box's debounce (60 ms, 250 ms above 200,000 points). A GPU-backed browser "
        "draws faster than this software renderer.\n"
    )
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")


def main_reports(reports: list[str], sizes: list[int], args: argparse.Namespace) -> None:
    """Measure the tree, embed and stability reports' explorers; print and save their table."""
    if set(reports) - {"tree", "embed", "stability"}:
        msg = f"--reports {args.reports}: use map alone, or any of tree, embed and stability."
        raise SystemExit(msg)
    rows = []
    kept = _saved_rows(set(reports))
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="report-size-") as tmp:
        for report in reports:
            for n in sizes:
                rows.append(measure(n, Path(tmp), report))
                print(f"measured the {report} report at {n:,} points", file=sys.stderr)
    version = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    commands = [f"`python benchmarks/report_size.py --reports {args.reports} --sizes {args.sizes}`"]
    commands += [line for line in kept if line.startswith("`")]
    text = (
        "# Explorer of the tree, embed and stability reports: file size and speed\n\n"
        + " · earlier: ".join(dict.fromkeys(commands[:1] + commands[1:]))
        + " · "
        f"{version.strip()} headless, software WebGL (`--disable-gpu`: SwiftShader) · "
        f"{os.cpu_count()} CPU cores, load average {load:.1f} → {os.getloadavg()[0]:.1f} during "
        f"the run · Python {platform.python_version()}\n\n"
        + _with_rows(reports_table(rows), [line for line in kept if line.startswith("| ")])
        + "\nTree: synthetic `diffembed tree` output, 10 diffusion coordinates, levels of "
        "768 / 96 / 12 / 4 / 1 clusters, a 12-group label; the page holds the icicle + scatter "
        "figure too (both drawn at load), and the explorer lists 10 neighbours per point in the "
        "coordinates. Embed: synthetic `diffembed embed words` output, 300-dimensional vectors "
        "around 50 centres, word ids and counts; the build time is mostly the 10 cosine "
        "neighbours of every word (exact while rows² × dimensions ≤ 3·10¹⁰, faiss HNSW above). "
        "Stability: synthetic `diffembed stability` output, 100-dimensional raw and smoothed "
        "vectors around 50 centres and the per-word table; the page has two explorers "
        "(smoothed and raw), so its build computes two PCAs and two sets of 10 cosine "
        "neighbours. Every report draws a stated sample above 200,000 points.\n"
    )
    print(text)
    RESULTS_REPORTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_REPORTS.write_text(text, encoding="utf-8")


def _with_rows(table_text: str, rows: list[str]) -> str:
    """``table_text`` with ``rows`` (kept from an earlier run) before its measured rows."""
    lines = table_text.splitlines(keepends=True)
    return "".join(lines[:2] + [row + "\n" for row in rows] + lines[2:])


def _saved_rows(measured: set[str]) -> list[str]:
    """Table rows (and the command line) of the reports not measured now, from the saved file."""
    if not RESULTS_REPORTS.is_file():
        return []
    lines = RESULTS_REPORTS.read_text(encoding="utf-8").splitlines()
    rows = [
        ln for ln in lines
        if ln.startswith("| ") and ln.split("|")[1].strip() not in measured | {"report"}
    ]  # fmt: skip
    command = next((ln.split(" · ")[0] for ln in lines if ln.startswith("`python")), None)
    return ([command] if rows and command else []) + rows


if __name__ == "__main__":
    main()
