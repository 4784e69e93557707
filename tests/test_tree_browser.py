"""The tree report in headless Debian chromium: icicle + scatter, the level menu, no XSS.

Every request that is not ``file:``, ``data:`` or ``blob:`` is recorded and aborted. Needs
/usr/bin/chromium: skipped without it, unless ``DIFFEMBED_REQUIRE_BROWSER=1`` (then fails).
The page is loaded once for the module; the screenshot goes to ``tests/artifacts/tree.png``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from diffembed.cli.tree import tree_command

from .browser import XSS_LABEL, PageLog, chromium_or_skip, open_page

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
RENDERED = """() => {
  const gd = document.getElementById("fig-tree");
  return gd && gd.classList.contains("js-plotly-plot")
    && gd.querySelectorAll(".iciclelayer .slice").length > 0
    && gd.querySelector(".gl-container canvas");
}"""
PIXEL = """(i) => {
  const gd = document.getElementById("fig-tree"), lay = gd._fullLayout;
  const box = gd.querySelector(".nsewdrag").getBoundingClientRect();
  return [box.left + lay.xaxis.l2p(gd.data[1].x[i]), box.top + lay.yaxis.l2p(gd.data[1].y[i])];
}"""
STATE = """() => {
  const gd = document.getElementById("fig-tree");
  return {active: gd._fullLayout.updatemenus[0].active,
          color: Array.from(gd.data[1].marker.color),
          nodes: gd.data[0].ids, colors: gd.data[0].marker.colors};
}"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    chromium_or_skip()
    rng = np.random.default_rng(1)
    X, group = [], []
    for i, centre in enumerate(([0, 0], [8, 0], [0, 8], [8, 8])):
        X.append(rng.normal(centre, 0.7, (70, 2)))
        group += [i] * 70
    X = np.vstack(X)
    kinds = np.array(["north", "east", "south", XSS_LABEL])[group]
    data = tmp_path_factory.mktemp("data") / "blobs.parquet"
    pq.write_table(pa.table({"x": X[:, 0], "y": X[:, 1], "kind": kinds}), data)
    out = tmp_path_factory.mktemp("run") / "tree"
    app = typer.Typer()
    app.command("tree")(tree_command)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["tree", str(data), "--label", "kind", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out / "levels.parquet")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {"out": out, "table": table, "manifest": manifest, "kinds": kinds}


@pytest.fixture(scope="module")
def loaded(run: dict[str, Any]) -> Iterator[tuple[Any, PageLog]]:
    with open_page(run["out"] / "report.html", height=900) as (page, log):
        page.wait_for_function(RENDERED, timeout=25_000)
        page.wait_for_timeout(300)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "tree.png"), full_page=True)
        yield page, log


def _level_of(run: dict[str, Any], k: int) -> int:
    by_k = {m["n_clusters"]: m["level"] for m in run["manifest"]["levels"]}
    return by_k[k]


def test_icicle_and_scatter_render(loaded: tuple[Any, PageLog], run: dict[str, Any]) -> None:
    page, _ = loaded
    state = page.evaluate(STATE)
    n_nodes = len(state["nodes"])
    assert page.locator("#fig-tree .iciclelayer .slice").count() == n_nodes
    assert state["nodes"][0].endswith(":0")  # the root on top
    assert page.locator("#fig-tree .gl-container canvas").count() >= 1  # WebGL scatter
    assert page.evaluate("() => document.getElementById('fig-tree').data[1].x.length") == 280
    four = _level_of(run, 4)  # the four blobs: the salient level, shown first
    assert run["manifest"]["results"]["salient_levels"][0] == four
    expected = run["table"].column(f"level_{four}").to_numpy()
    np.testing.assert_array_equal(state["color"], expected)
    header = page.text_content("#fig-tree .updatemenu-header")
    assert header.startswith(f"4 clusters · level {four}")
    assert "★" in header


def test_dropdown_changes_the_level(loaded: tuple[Any, PageLog], run: dict[str, Any]) -> None:
    page, _ = loaded
    before = page.evaluate(STATE)
    page.locator("#fig-tree .updatemenu-header").click()
    two = _level_of(run, 2)
    page.locator(
        "#fig-tree .updatemenu-dropdown-button", has_text=f"2 clusters · level {two}"
    ).click()
    page.wait_for_function(
        "() => Math.max(...document.getElementById('fig-tree').data[1].marker.color) === 1"
    )
    after = page.evaluate(STATE)
    assert after["active"] != before["active"]
    np.testing.assert_array_equal(after["color"], run["table"].column(f"level_{two}").to_numpy())
    colors = dict(zip(after["nodes"], after["colors"], strict=True))
    root = after["nodes"][0]
    assert colors[root] == "#dfe3e8"  # coarser than the level: grey
    level_nodes = [n for n in after["nodes"] if n.startswith(f"{two}:")]
    assert len({colors[n] for n in level_nodes}) == 2
    assert "#dfe3e8" not in {colors[n] for n in level_nodes}
    assert page.text_content("#fig-tree .updatemenu-header").startswith("2 clusters")


ROWS = """() => Array.from(document.querySelectorAll("#fig-tree .annotation-text"))
  .map((a) => a.textContent).filter((t) => t.startsWith("level "))"""


def test_rows_are_named_by_level_and_the_scatter_has_a_legend(
    loaded: tuple[Any, PageLog], run: dict[str, Any]
) -> None:
    page, _ = loaded
    four = _level_of(run, 4)
    rows = page.evaluate(ROWS)
    assert f"level {four} ★4 clusters" in rows  # "<b>level N</b> ★<br>4 clusters" as text
    assert rows[0].endswith("1 cluster")  # the root row first
    ticks = page.evaluate(
        "() => Array.from(document.querySelectorAll('#fig-tree .colorbar .cbaxis text'))"
        ".map((t) => t.textContent)"
    )
    assert len(ticks) in (2, 4)  # the legend of the current colouring, a tick per cluster
    hidden = "() => document.getElementById('fig-tree').layout.annotations"
    hidden += ".filter((a) => a.name === 'icicle-row').every((a) => a.visible === false)"
    # Zoom into an inner node (a leaf does not zoom, and which DOM slice is a leaf varies with
    # the drawing order): after the transition the row names are hidden. Polled, since a
    # loaded machine is slow; no slice that hides them fails the test.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    slices = page.locator("#fig-tree .iciclelayer .slice")
    for nth in range(1, min(slices.count(), 8)):
        box = slices.nth(nth).bounding_box()
        if box is None:
            continue
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        try:
            page.wait_for_function(hidden, timeout=4_000)
            break
        except PlaywrightTimeout:
            continue
    assert page.evaluate(hidden)
    top = page.locator("#fig-tree .iciclelayer .slice").first.bounding_box()
    for _ in range(8):  # back up to the root: the names come back
        if page.evaluate(hidden.replace("every((a) => a.visible === false)",
                                        "every((a) => a.visible !== false)")):
            break
        page.mouse.click(top["x"] + 20, top["y"] + 10)
        page.wait_for_timeout(1200)
    assert page.evaluate(ROWS) == rows


def test_hover_shows_the_hostile_label_as_text(
    loaded: tuple[Any, PageLog], run: dict[str, Any]
) -> None:
    page, _ = loaded
    i = int(np.flatnonzero(run["kinds"] == XSS_LABEL)[0])
    x, y = page.evaluate(PIXEL, i)
    page.mouse.move(x, y)
    page.wait_for_function("() => document.querySelector('#fig-tree .hoverlayer').textContent")
    text = page.evaluate("() => document.querySelector('#fig-tree .hoverlayer').textContent")
    assert XSS_LABEL in text
    assert "cluster" in text
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("img").count() == 0
    page.mouse.move(1, 1)


def test_no_console_error_and_no_network(loaded: tuple[Any, PageLog]) -> None:
    _, log = loaded
    assert log.errors == []
    assert log.requests == []
