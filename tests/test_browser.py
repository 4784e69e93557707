"""The HTML report in headless Debian chromium: renders offline, no errors, no XSS.

Every request that is not ``file:``, ``data:`` or ``blob:`` is recorded and aborted. Needs
/usr/bin/chromium: skipped without it, unless ``DIFFEMBED_REQUIRE_BROWSER=1`` (then fails).
The page is loaded once for the module; the screenshot goes to ``tests/artifacts/report.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diffembed.plotting import write_report

from .browser import XSS_LABEL, PageLog, chromium_or_skip, open_page, write_outputs

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
RENDERED = """() => {
  const ids = ["fig-2d", "fig-3d", "fig-spectrum"];
  return ids.every((id) => {
    const div = document.getElementById(id);
    return div && div.classList.contains("js-plotly-plot") && div.querySelector(".main-svg");
  }) && document.querySelector("#fig-2d canvas") && document.querySelector("#fig-3d canvas");
}"""

HOVER_POINT = """(t) => {
  const gd = document.getElementById("fig-2d"), lay = gd._fullLayout, tr = gd.data[t];
  const box = gd.querySelector(".nsewdrag").getBoundingClientRect();
  const i = Math.floor(tr.x.length / 2);
  return [box.left + lay.xaxis.l2p(tr.x[i]), box.top + lay.yaxis.l2p(tr.y[i])];
}"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, PageLog]]:
    chromium_or_skip()
    out = write_outputs(tmp_path_factory.mktemp("run") / "out", n=2000, k=5, n_nan=4, cluster=True)
    path = write_report(out)
    with open_page(path) as (page, log):
        page.wait_for_function(RENDERED, timeout=25_000)
        page.wait_for_timeout(300)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        yield page, log


def test_figures_render(loaded: tuple[Any, PageLog]) -> None:
    page, _ = loaded
    assert page.locator(".js-plotly-plot").count() == 3
    assert page.locator("#fig-2d .gl-container canvas").count() >= 1  # WebGL scatter
    assert page.locator("#fig-3d canvas").count() >= 1
    # 5 eigenvalue markers and 5 timescale markers
    assert page.locator("#fig-spectrum .scatterlayer .point").count() == 10
    assert page.locator("#fig-2d .legendtext").count() == 4
    points = page.evaluate(
        "() => document.getElementById('fig-2d').data.reduce((s, t) => s + t.x.length, 0)"
    )
    assert points == 1996  # NaN rows skipped
    assert "4 of 2,000 points were not embedded" in page.inner_text(".notice")
    assert "bandwidth ε = 0.3612" in page.inner_text(".summary")


def test_malicious_label_stays_text(loaded: tuple[Any, PageLog]) -> None:
    page, _ = loaded
    legend = page.locator("#fig-2d .legendtext").all_text_contents()
    assert XSS_LABEL in legend  # displayed as typed
    trace = legend.index(XSS_LABEL)
    x, y = page.evaluate(HOVER_POINT, trace)
    page.mouse.move(x, y)
    page.wait_for_function("() => document.querySelector('#fig-2d .hoverlayer .hovertext')")
    hover = page.locator("#fig-2d .hoverlayer").text_content()
    assert XSS_LABEL in hover
    assert "id" in hover
    page.mouse.move(1, 1)
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0
    assert page.evaluate("() => typeof window.__xss") == "undefined"


def test_colour_menu_switches_to_a_coordinate(loaded: tuple[Any, PageLog]) -> None:
    page, _ = loaded
    assert page.locator("#fig-2d .colorbar").count() == 0  # categories: a legend, no colour bar
    page.click("#fig-2d .updatemenu-header-group")
    page.locator("#fig-2d .updatemenu-dropdown-button", has_text="dc3").first.click()
    page.wait_for_function("() => document.querySelectorAll('#fig-2d .colorbar').length === 1")
    state = page.evaluate(
        """() => document.getElementById('fig-2d')._fullData.map(
             (t) => [t.marker.showscale, t.marker.color.length === t.x.length])"""
    )
    assert state[0] == [True, True]
    assert all(s == [False, True] for s in state[1:])
    assert page.locator("#fig-2d .colorbar .cbtitle").text_content() == "dc3"
    page.click("#fig-2d .updatemenu-header-group")
    page.locator("#fig-2d .updatemenu-dropdown-button", has_text="kind").first.click()
    page.wait_for_function("() => document.querySelectorAll('#fig-2d .colorbar').length === 0")


def test_no_console_errors_and_no_network(loaded: tuple[Any, PageLog]) -> None:
    page, log = loaded
    page.wait_for_timeout(100)
    assert log.errors == []
    assert log.requests == []
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
