"""The report in headless Debian chromium: the explorer works, nothing is fetched, no XSS.

Every request that is not ``file:``, ``data:`` or ``blob:`` is recorded and aborted. Needs
/usr/bin/chromium: skipped without it, unless ``DIFFEMBED_REQUIRE_BROWSER=1`` (then fails).
The page is loaded once for the module and the tests run in order on it, each undoing what it
changed; screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diffembed.plotting import write_report

from .browser import XSS_LABEL, PageLog, chromium_or_skip, open_page, write_explorer_run

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
RENDERED = """() => {
  const ids = ["ex-plot", "fig-3d", "fig-spectrum"];
  return ids.every((id) => {
    const div = document.getElementById(id);
    return div && div.classList.contains("js-plotly-plot") && div.querySelector(".main-svg");
  }) && document.querySelector("#ex-plot canvas") && document.querySelector("#fig-3d canvas")
    && document.getElementById("explorer").dataset.ready;
}"""
PIXEL = """(i) => {
  const gd = document.getElementById("ex-plot"), lay = gd._fullLayout;
  const box = gd.querySelector(".nsewdrag").getBoundingClientRect();
  return [box.left + lay.xaxis.l2p(gd.data[0].x[i]), box.top + lay.yaxis.l2p(gd.data[0].y[i])];
}"""
DATA_AT = """([px, py]) => {
  const gd = document.getElementById("ex-plot"), lay = gd._fullLayout;
  const box = gd.querySelector(".nsewdrag").getBoundingClientRect();
  return [lay.xaxis.p2l(px - box.left), lay.yaxis.p2l(py - box.top)];
}"""
STATE = "() => window.diffembedExplorer.state()"
READY = "() => document.getElementById('explorer').dataset.ready"
PAINTED = "(w) => window.diffembedExplorer.painted(w).map((i) => window.diffembedExplorer.idOf(i))"
PLOT_BOX = "() => document.querySelector('#ex-plot .nsewdrag').getBoundingClientRect().toJSON()"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    chromium_or_skip()
    out = tmp_path_factory.mktemp("run") / "out"
    truth = write_explorer_run(out)
    return write_report(out), truth


@pytest.fixture(scope="module")
def loaded(run: tuple[Path, dict[str, Any]]) -> Iterator[tuple[Any, PageLog]]:
    path, _ = run
    with open_page(path) as (page, log):
        page.wait_for_function(READY, timeout=25_000)
        assert page.evaluate("() => !document.querySelector('#fig-3d .main-svg')")  # lazy
        page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")  # draws the rest
        page.wait_for_function(RENDERED, timeout=25_000)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_timeout(200)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        yield page, log


def _drawn(truth: dict[str, Any]) -> np.ndarray:
    """Saved-table rows of the drawn points, in page order (the embedded rows)."""
    return np.arange(truth["n_nan"], truth["ids"].size)


def _wait_render(page: Any, before: int) -> None:
    page.wait_for_function(f"() => window.diffembedExplorer.state().renders > {before}")


def _isolated_point(truth: dict[str, Any]) -> int:
    """Page index of a drawn point far from the others in the layout (an unambiguous click)."""
    xy = truth["dc"][_drawn(truth), :2] / np.array([0.02, 0.01])
    gaps = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)) + np.eye(len(xy)) * 9
    return int(np.argmax(gaps.min(axis=1)))


def test_page_renders(loaded: tuple[Any, PageLog]) -> None:
    page, _ = loaded
    assert page.locator(".js-plotly-plot").count() == 3
    assert page.locator("#ex-plot .gl-container canvas").count() >= 1  # WebGL scatter
    assert page.locator("#fig-spectrum .scatterlayer .point").count() == 10
    chips = page.locator("#ex-legend .ex-chip .nm").all_text_contents()
    assert chips == [XSS_LABEL, "alpha", "beta", "gamma"]  # shown as typed
    assert page.evaluate("() => document.getElementById('ex-plot').data[0].x.length") == 1496
    assert "4 of 1,500 points were not embedded" in page.inner_text(".notice")
    assert "1,496 points drawn · dc1 vs dc2 · diffusion time t = 1 (as saved)" in page.inner_text(
        "#ex-status"
    )


def test_search_highlights_exactly_the_matching_points(
    loaded: tuple[Any, PageLog], run: tuple[Path, dict[str, Any]]
) -> None:
    page, _ = loaded
    truth = run[1]
    drawn = _drawn(truth)
    labels = truth["labels"][drawn]
    page.fill("#ex-q", "gAmMa")
    page.wait_for_function("() => window.diffembedExplorer.state().matches !== null")
    page.wait_for_function("() => window.diffembedExplorer.painted('matches').length > 0")
    expected = sorted(truth["ids"][drawn[labels == "gamma"]].astype(str).tolist())
    highlighted = page.evaluate(PAINTED, "matches")
    assert sorted(highlighted) == expected
    layer = page.locator("#ex-plot canvas.ex-layer")
    assert layer.count() == 1  # the highlight layer, over the WebGL points
    assert layer.bounding_box()["width"] > 500
    status = page.inner_text("#ex-search-status")
    assert status.startswith(f"{len(expected)} matches")
    listed = page.locator("#ex-results .ex-item .id").all_text_contents()
    assert listed == expected[: len(listed)] or sorted(listed) == sorted(listed)
    assert set(listed) <= set(expected)
    assert len(listed) == min(200, len(expected))

    page.check("#ex-regex")
    page.fill("#ex-q", "^(alpha|beta)$")
    page.wait_for_function(
        "() => (window.diffembedExplorer.state().matches || []).length === "
        f"{int(np.isin(labels, ['alpha', 'beta']).sum())}"
    )
    page.fill("#ex-q", "(unclosed")
    page.wait_for_function(
        "() => document.getElementById('ex-search-status').textContent.includes('Not a valid')"
    )
    assert page.evaluate(STATE)["matches"] is None
    page.select_option("#ex-search-col", label="id")
    page.fill("#ex-q", "^14[0-9]$")
    page.wait_for_function("() => (window.diffembedExplorer.state().matches || []).length === 10")
    page.uncheck("#ex-regex")
    page.select_option("#ex-search-col", label="kind")
    page.fill("#ex-q", "")
    page.wait_for_function("() => window.diffembedExplorer.state().matches === null")


def test_clicking_a_point_lists_its_precomputed_neighbours(
    loaded: tuple[Any, PageLog], run: tuple[Path, dict[str, Any]]
) -> None:
    page, _ = loaded
    truth = run[1]
    drawn = _drawn(truth)
    i = _isolated_point(truth)
    x, y = page.evaluate(PIXEL, i)
    page.mouse.move(x, y)
    page.wait_for_function("() => !document.getElementById('ex-tip').hidden")
    tip = page.inner_text("#ex-tip")
    assert str(truth["ids"][drawn[i]]) in tip
    assert "kind" in tip
    assert "NaN" not in tip
    page.mouse.click(x, y)
    page.wait_for_function(f"() => window.diffembedExplorer.state().focus === {i}")
    row = drawn[i]
    expected = [str(v) for v in truth["ids"][truth["neighbors"][row]]]
    listed = page.locator("#ex-point .ex-nbrs .ex-item .id").all_text_contents()
    assert listed == expected  # nearest first, from neighbors.npy
    assert page.inner_text("#ex-point .ex-point-id") == str(truth["ids"][row])
    assert "8 nearest neighbours · input space, euclidean" in page.inner_text("#ex-point h4")
    shown = page.evaluate(PAINTED, "neighbours")
    assert shown == [e for e, r in zip(expected, truth["neighbors"][row], strict=True) if r >= 4]
    page.screenshot(path=str(ARTIFACTS / "explorer-neighbours.png"))
    first = truth["neighbors"][row][0]
    page.locator("#ex-point .ex-nbrs .ex-item").first.click()  # walk to the nearest neighbour
    page.wait_for_function(f"() => window.diffembedExplorer.state().focus === {first - 4}")
    page.keyboard.press("Escape")
    page.wait_for_function("() => window.diffembedExplorer.state().focus === -1")


def test_box_selection_gives_a_table_and_a_csv(
    loaded: tuple[Any, PageLog], run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    page, _ = loaded
    truth = run[1]
    page.click(".ex-modes button[data-mode=select]")
    box = page.evaluate(
        "() => document.querySelector('#ex-plot .nsewdrag').getBoundingClientRect().toJSON()"
    )
    x0, y0 = box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.1
    x1, y1 = box["x"] + box["width"] * 0.95, box["y"] + box["height"] * 0.6
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    page.wait_for_function("() => window.diffembedExplorer.state().selection !== null")
    rect = page.evaluate("() => document.getElementById('ex-plot').layout.selections[0]")
    (ax, ay), (bx, by) = (rect["x0"], rect["y0"]), (rect["x1"], rect["y1"])
    assert abs(ax - page.evaluate(DATA_AT, [x0, y0])[0]) < abs(bx - ax) / 50  # the box drawn
    xy = truth["dc"][_drawn(truth), :2].astype(np.float32)  # what the page draws
    inside = (
        (xy[:, 0] >= min(ax, bx)) & (xy[:, 0] <= max(ax, bx))
        & (xy[:, 1] >= min(ay, by)) & (xy[:, 1] <= max(ay, by))
    )  # fmt: skip
    expected = [str(v) for v in truth["ids"][_drawn(truth)[inside]]]
    assert len(expected) > 20
    assert page.inner_text("#ex-sel-title") == f"{len(expected)} points selected"
    rows = page.locator("#ex-table tbody tr").count()
    assert rows == min(500, len(expected))
    assert page.locator("#ex-table thead th").all_text_contents() == [
        "id", "kind", "cluster", "score", "dc1", "dc2",
    ]  # fmt: skip
    with page.expect_download() as info:
        page.click("#ex-csv")
    download = info.value
    assert download.suggested_filename == f"diffembed-selection-{len(expected)}.csv"
    target = tmp_path / "selection.csv"
    download.save_as(target)
    with target.open(newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [r["id"] for r in table] == expected
    labels = dict(zip(truth["ids"].astype(str), truth["labels"], strict=True))
    assert all(r["kind"] == labels[r["id"]] for r in table)
    page.screenshot(path=str(ARTIFACTS / "explorer-selection.png"), full_page=True)
    page.click("#ex-clear")
    page.wait_for_function("() => window.diffembedExplorer.state().selection === null")
    assert page.locator("#ex-selection").is_hidden()
    page.click(".ex-modes button[data-mode=pan]")


def test_lasso_selection_matches_its_csv(loaded: tuple[Any, PageLog]) -> None:
    page, _ = loaded
    page.click(".ex-modes button[data-mode=lasso]")
    box = page.evaluate(
        "() => document.querySelector('#ex-plot .nsewdrag').getBoundingClientRect().toJSON()"
    )
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["height"] * 0.35
    page.mouse.move(cx + r, cy)
    page.mouse.down()
    for a in np.linspace(0, 2 * np.pi, 24)[1:]:
        page.mouse.move(cx + r * np.cos(a), cy + r * np.sin(a), steps=2)
    page.mouse.up()
    page.wait_for_function("() => window.diffembedExplorer.state().selection !== null")
    chosen = page.evaluate(STATE)["selection"]
    with page.expect_download() as info:
        page.click("#ex-csv")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    ids = [line.split(",")[0] for line in text.splitlines()[1:]]
    assert ids == page.evaluate("(s) => s.map((i) => window.diffembedExplorer.idOf(i))", chosen)
    page.click("#ex-clear")
    page.click(".ex-modes button[data-mode=pan]")


def test_hostile_label_is_text_everywhere(loaded: tuple[Any, PageLog]) -> None:
    page, _ = loaded
    page.fill("#ex-q", "onerror")
    page.wait_for_function("() => document.querySelectorAll('#ex-results .ex-item').length > 0")
    assert XSS_LABEL in page.locator("#ex-results .ex-item .lb").first.text_content()
    i = page.evaluate("() => window.diffembedExplorer.state().matches[0]")
    page.evaluate("(i) => document.querySelector(`#ex-results [data-point='${i}']`).click()", i)
    page.wait_for_function(f"() => window.diffembedExplorer.state().focus === {i}")
    assert XSS_LABEL in page.inner_text("#ex-point .ex-kv")
    legend3d = page.locator("#fig-3d .legendtext").all_text_contents()
    assert XSS_LABEL in legend3d  # plotly's own text, entity-escaped and shown as typed
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    page.keyboard.press("Escape")
    page.fill("#ex-q", "")


def test_switching_t_and_axes_rescales_without_refitting(
    loaded: tuple[Any, PageLog], run: tuple[Path, dict[str, Any]]
) -> None:
    page, _ = loaded
    truth = run[1]
    dc, lam = truth["dc"][_drawn(truth)], truth["lambdas"]
    times = page.evaluate("() => window.diffembedExplorer.times()")
    assert {0, 0.5, 1, 2, 4, 8} <= set(times)
    before = page.evaluate(STATE)["renders"]
    page.evaluate(
        """(i) => { const s = document.getElementById("ex-t"); s.value = String(i);
                    s.dispatchEvent(new Event("input", {bubbles: true})); }""",
        times.index(4),
    )
    _wait_render(page, before)
    x = np.array(page.evaluate("() => Array.from(document.getElementById('ex-plot').data[0].x)"))
    y = np.array(page.evaluate("() => Array.from(document.getElementById('ex-plot').data[0].y)"))
    np.testing.assert_allclose(x, dc[:, 0] * lam[0] ** 3, rtol=2e-6, atol=1e-12)
    np.testing.assert_allclose(y, dc[:, 1] * lam[1] ** 3, rtol=2e-6, atol=1e-12)
    assert "t = 4" in page.inner_text("#ex-t-out")
    before = page.evaluate(STATE)["renders"]
    page.select_option("#ex-x", "2")
    _wait_render(page, before)
    x = np.array(page.evaluate("() => Array.from(document.getElementById('ex-plot').data[0].x)"))
    np.testing.assert_allclose(x, dc[:, 2] * lam[2] ** 3, rtol=2e-6, atol=1e-12)
    assert page.locator("#ex-plot .xtitle").text_content() == "dc3"
    page.screenshot(path=str(ARTIFACTS / "explorer-t4.png"))
    page.click("#ex-t-reset")
    page.select_option("#ex-x", "0")
    page.wait_for_function("() => window.diffembedExplorer.state().t === 1")


def test_colour_by_numbers_and_legend_toggles(
    loaded: tuple[Any, PageLog], run: tuple[Path, dict[str, Any]]
) -> None:
    page, _ = loaded
    labels = run[1]["labels"][_drawn(run[1])]
    page.select_option("#ex-color", label="score")
    page.wait_for_function("() => document.querySelectorAll('#ex-plot .colorbar').length === 1")
    assert page.locator("#ex-plot .colorbar .cbtitle").text_content() == "score"
    assert "grey: missing" in page.inner_text("#ex-legend")
    page.select_option("#ex-color", label="kind")
    page.wait_for_function("() => document.querySelectorAll('#ex-plot .colorbar').length === 0")
    before = page.evaluate(STATE)["renders"]
    page.locator("#ex-legend .ex-chip", has_text="alpha").click()
    _wait_render(page, before)
    hidden = page.evaluate(
        "() => Array.from(document.getElementById('ex-plot').data[0].x).filter(isNaN).length"
    )
    assert hidden == int((labels == "alpha").sum())
    before = page.evaluate(STATE)["renders"]
    page.locator("#ex-legend .ex-chip", has_text="beta").dblclick()
    _wait_render(page, before)
    assert sorted(page.evaluate(STATE)["hidden"]) == [0, 1, 3]  # only beta is shown
    page.locator("#ex-legend .ex-link", has_text="show all").click()
    page.wait_for_function("() => window.diffembedExplorer.state().hidden.length === 0")


def test_3d_and_spectrum_figures(loaded: tuple[Any, PageLog]) -> None:
    page, _ = loaded
    page.click("#fig-3d .updatemenu-header-group")
    page.locator("#fig-3d .updatemenu-dropdown-button", has_text="dc3").first.click()
    page.wait_for_function("() => document.querySelectorAll('#fig-3d .colorbar').length === 1")
    assert page.locator("#fig-3d .colorbar .cbtitle").text_content() == "dc3"


def test_no_console_errors_and_no_network(loaded: tuple[Any, PageLog]) -> None:
    page, log = loaded
    page.wait_for_timeout(100)
    page.screenshot(path=str(ARTIFACTS / "explorer.png"))
    assert log.errors == []
    assert log.requests == []
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
