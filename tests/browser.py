"""Helpers for the report tests: fixture run outputs, reading figures back, headless chromium."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS_LABEL = '</script><img src=x onerror="window.__xss=1">'


def write_outputs(
    out: Path,
    *,
    n: int = 300,
    k: int = 4,
    n_nan: int = 0,
    labels: list[str] | np.ndarray | None = None,
    label_column: str | None = "kind",
    cluster: bool = False,
    string_ids: bool = False,
    manifest: dict[str, Any] | None = None,
    spectrum: str | None = None,
    seed: int = 0,
) -> Path:
    """Write embedding.parquet, spectrum.csv and manifest.json as ``diffembed map`` does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    s = np.sort(rng.uniform(0, 3 * np.pi, n))
    base = [np.cos(s), np.sin(s), 0.1 * s, np.cos(2 * s), np.sin(3 * s), np.cos(4 * s)]
    dc = np.column_stack([0.02 * base[i % len(base)] / (i + 1) for i in range(k)])
    dc[:n_nan] = np.nan  # points that were not embedded
    ids = [f"pt-{i}" for i in range(n)] if string_ids else np.arange(n, dtype=np.int64)
    cols: dict[str, Any] = {"id": ids, **{f"dc{i + 1}": dc[:, i] for i in range(k)}}
    if label_column is not None:
        if labels is None:
            names = np.array(["alpha", "beta", "gamma", XSS_LABEL])
            labels = names[np.minimum((s // (3 * np.pi / 4)).astype(int), 3)]
        cols[label_column] = list(labels) if not isinstance(labels, np.ndarray) else labels
    if cluster:
        cols["cluster"] = (s // 2).astype(np.int64)
    pq.write_table(pa.table(cols), out / "embedding.parquet")
    lam = np.linspace(0.99, 0.4, k)
    if spectrum is None:
        rows = [f"{i + 1},{float(v)!r},{float(-1 / np.log(v))!r}" for i, v in enumerate(lam)]
        spectrum = "component,eigenvalue,timescale\n" + "\n".join(rows) + "\n"
    (out / "spectrum.csv").write_text(spectrum)
    if manifest is None:
        manifest = {
            "format_version": 1,
            "command": "map",
            "diffembed_version": "0.1.0",
            "created": "2026-11-23T20:00:00Z",
            "input": {
                "path": "/data/roll.csv",
                "dataset": "swiss-roll",
                "sha256": "ab" * 32,
                "n_samples": n,
                "n_features": 3,
            },
            "label_column": label_column,
            "parameters": {
                "n_components": k,
                "n_neighbors": 15,
                "alpha": 1.0,
                "bandwidth": "auto",
                "t": 1.0,
                "knn": "auto",
                "eigen_solver": "auto",
                "random_state": 0,
            },
            "results": {
                "bandwidth": 0.3612,
                "bandwidth_method": "auto",
                "intrinsic_dimension": 1.9713,
                "n_duplicates": 2,
                "n_connected_components": 1,
                "knn_method": "exact",
                "eigen_solver": "shift_invert",
            },
            "timings": {
                "neighbors": 0.02,
                "bandwidth": 0.3,
                "kernel": 0.01,
                "operator": 0.004,
                "eigensolve": 0.1,
                "total": 0.5,
            },
            "versions": {"python": "3.11.7", "numpy": "2.4.6"},
        }
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def write_explorer_run(out: Path, *, n: int = 1500, k_nn: int = 8) -> dict[str, Any]:
    """A run for the explorer's browser tests; returns what the tests check against.

    ``write_outputs`` (4 rows not embedded, labels alpha/beta/gamma and the hostile one,
    ``cluster``), then a spiral layout for dc1/dc2 (no two points overlap), a numeric ``score``
    column, and ``neighbors.npy`` / ``neighbor_distances.npy``: the exact kNN in a different,
    3-D "input" space, so the listed neighbours cannot come from the 2-D layout.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.neighbors import NearestNeighbors

    write_outputs(out, n=n, k=5, n_nan=4, cluster=True)
    table = pq.read_table(out / "embedding.parquet")
    cols = {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}
    u = np.linspace(0.0, 1.0, n)
    radius, angle = 0.2 + 0.8 * u, 5.0 * np.pi * u
    cols["dc1"] = np.where(np.isnan(cols["dc1"]), np.nan, 0.02 * radius * np.cos(angle))
    cols["dc2"] = np.where(np.isnan(cols["dc2"]), np.nan, 0.01 * radius * np.sin(angle))
    cols["score"] = np.where(np.arange(n) % 50 == 0, np.nan, np.sin(7 * u))
    pq.write_table(pa.table(cols), out / "embedding.parquet")
    X = np.column_stack([np.cos(9 * u), np.sin(9 * u), 0.3 * u])
    dist, ind = NearestNeighbors(n_neighbors=k_nn).fit(X).kneighbors()
    np.save(out / "neighbors.npy", ind.astype(np.int32))
    np.save(out / "neighbor_distances.npy", dist.astype(np.float32))
    return {
        "ids": np.arange(n),
        "labels": np.asarray(cols["kind"], dtype=object),
        "dc": np.column_stack([cols[f"dc{j + 1}"] for j in range(5)]),
        "lambdas": np.linspace(0.99, 0.4, 5),
        "neighbors": ind,
        "n_nan": 4,
    }


_BLOCK = re.compile(
    r'<script type="application/json" (?:data-plot|id)="([^"]+)">(.*?)</script>', re.S
)


def decode(spec: Any) -> np.ndarray:
    """A base64 typed-array spec ``{"dtype", "bdata"}`` as a numpy array."""
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype="<" + spec["dtype"])


def explorer_block(page: str) -> dict[str, Any]:
    """The explorer's data block of a report page (typed arrays left encoded)."""
    blocks = dict(_BLOCK.findall(page))
    return json.loads(blocks["de-explorer"])


def figures(page: str) -> dict[str, dict[str, Any]]:
    """The figures of a report page, with stored arrays resolved and typed arrays decoded."""
    blocks = {key: json.loads(text) for key, text in _BLOCK.findall(page)}
    store = blocks.pop("de-store")
    blocks.pop("de-explorer", None)

    def resolve(o: Any) -> Any:
        if isinstance(o, list):
            return [resolve(v) for v in o]
        if not isinstance(o, dict):
            return o
        if "__ref__" in o:
            return resolve(store[o["__ref__"]])
        if isinstance(o.get("bdata"), str) and "dtype" in o:
            return np.frombuffer(base64.b64decode(o["bdata"]), dtype="<" + o["dtype"]).tolist()
        return {k: resolve(v) for k, v in o.items()}

    return {key: resolve(fig) for key, fig in blocks.items()}


def chromium_or_skip() -> None:
    """Skip without Debian chromium or playwright, unless ``DIFFEMBED_REQUIRE_BROWSER=1``: fail."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is missing: pip install -e '.[test]'"
    else:
        if CHROMIUM.exists():
            return
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
    if os.environ.get("DIFFEMBED_REQUIRE_BROWSER") == "1":
        pytest.fail(f"DIFFEMBED_REQUIRE_BROWSER=1 but {reason}.")
    pytest.skip(reason)


@dataclass
class PageLog:
    """What a page did: console errors, uncaught exceptions and every non-local request."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


_LOCAL = ("file:", "data:", "blob:")


@contextmanager
def open_browser() -> Iterator[Any]:
    """Headless chromium; yields ``new(path, width=, height=) -> (page, PageLog)``.

    Every request of its pages that is not file/data/blob is recorded and aborted. One
    browser serves several pages (Playwright's sync API allows one session at a time).
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:

            def new(path: Path, *, width: int = 1400, height: int = 1000) -> tuple[Any, PageLog]:
                log = PageLog()

                def route(r: Any) -> None:
                    if r.request.url.startswith(_LOCAL):
                        r.continue_()
                    else:
                        log.requests.append(r.request.url)
                        r.abort()

                page = browser.new_page(viewport={"width": width, "height": height})
                page.on(
                    "console", lambda m: log.errors.append(m.text) if m.type == "error" else None
                )
                page.on("pageerror", lambda e: log.errors.append(f"pageerror: {e}"))
                page.on(
                    "request",
                    lambda r: None if r.url.startswith(_LOCAL) else log.requests.append(r.url),
                )
                page.route("**/*", route)
                page.goto(path.resolve().as_uri())
                return page, log

            yield new
        finally:
            browser.close()


@contextmanager
def open_page(
    path: Path, *, width: int = 1400, height: int = 1000
) -> Iterator[tuple[Any, PageLog]]:
    """Open ``path`` in headless chromium; every request that is not file/data/blob is aborted."""
    with open_browser() as new:
        yield new(path, width=width, height=height)
