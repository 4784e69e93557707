"""The ``diffembed latents decode`` report in headless Debian chromium.

The page comes from the real command on a tiny random U-Net (the plumbing model of
``test_latents_decode``), with a hostile prompt among the prompts. Every request that is not
``file:``, ``data:`` or ``blob:`` is recorded and aborted. Neighbours are checked against a
dense Euclidean reference on the saved h-vectors. Needs /usr/bin/chromium: skipped without it,
unless ``DIFFEMBED_REQUIRE_BROWSER=1`` (then fails). Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from .browser import PageLog, chromium_or_skip, explorer_block, open_page

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from .test_latents_decode import HOSTILE, invoke, tiny_model  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
READY = (
    "() => document.getElementById('explorer') && document.getElementById('explorer').dataset.ready"
)
API = "window.diffembedExplorer"
NO_XSS = "() => window.__xss === undefined && !document.querySelector('img[src=x]')"
PROMPTS = [*(f"a {c} thing" for c in ("red", "green", "blue")), "a small shape", "a large shape",
           f"a {HOSTILE} thing"]  # fmt: skip
SEEDS = 4


@pytest.fixture(scope="module")
def decode_run(tiny_model, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # noqa: F811
    chromium_or_skip()
    import diffembed.latents.hspace as hs

    root = tmp_path_factory.mktemp("latents-browser")
    (root / "shapes-ddpm" / "model").mkdir(parents=True)  # named by its folder, not "model"
    prompts = root / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    mp = pytest.MonkeyPatch()
    mp.setattr(hs, "_resolve", lambda path, *_: ("ddpm", tiny_model))
    try:
        out = root / "out"
        model = root / "shapes-ddpm" / "model"
        result = invoke(model, "--prompts", prompts, "-o", out, "--seeds", SEEDS,
                        "--steps", 4, "--permutations", 99)  # fmt: skip
    finally:
        mp.undo()
    assert result.exit_code == 0, result.output
    h = np.load(out / "hspace.npy").reshape(len(PROMPTS) * SEEDS, -1).astype(np.float64)
    samples = pq.read_table(out / "samples.parquet").to_pydict()
    return {"out": out, "h": h, "prompts": samples["prompt"]}


@pytest.fixture(scope="module")
def decode_page(decode_run: dict[str, Any]) -> Iterator[tuple[Any, PageLog]]:
    with open_page(decode_run["out"] / "report.html") as (page, log):
        page.wait_for_function(READY, timeout=25_000)
        page.locator("#explorer").scroll_into_view_if_needed()
        page.wait_for_timeout(200)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "latents-report.png"), full_page=True)
        yield page, log


def _search(page: Any, text: str, *, regex: bool = False) -> list[int]:
    page.fill("#ex-q", "")
    page.wait_for_function(f"() => {API}.state().matches === null")
    page.set_checked("#ex-regex", regex)
    page.fill("#ex-q", text)
    page.wait_for_function(f"() => {API}.state().matches !== null")
    matches = page.evaluate(f"() => {API}.state().matches")
    assert sorted(page.evaluate(f"() => {API}.painted('matches')")) == sorted(matches)
    return sorted(matches)


def test_report_explorer_holds_every_sample_coloured_by_concept(decode_run: dict[str, Any]):
    block = explorer_block((decode_run["out"] / "report.html").read_text(encoding="utf-8"))
    assert block["n"] == len(PROMPTS) * SEEDS
    assert block["colorBy"] == "concept"
    assert block["neighbors"]["k"] == 10


def test_search_highlights_exactly_the_samples_of_a_prompt(
    decode_page: tuple[Any, PageLog], decode_run: dict[str, Any]
) -> None:
    page, _ = decode_page
    prompts = decode_run["prompts"]
    assert _search(page, "green") == [i for i, p in enumerate(prompts) if "green" in p]
    assert _search(page, "^a (small|large) shape$", regex=True) == [
        i for i, p in enumerate(prompts) if p in ("a small shape", "a large shape")
    ]


def test_click_lists_the_h_space_neighbours(
    decode_page: tuple[Any, PageLog], decode_run: dict[str, Any]
) -> None:
    page, _ = decode_page
    H = decode_run["h"]
    D = np.linalg.norm(H[:, None] - H[None], axis=-1)
    np.fill_diagonal(D, np.inf)
    order = np.argsort(D, axis=1, kind="stable")
    gaps = np.take_along_axis(D, order[:, 9:11], axis=1)
    i = int(np.flatnonzero(gaps[:, 1] - gaps[:, 0] > 1e-6 * gaps[:, 0])[0])  # no tie at rank 10
    hits = _search(page, f"^{decode_run['prompts'][i]}$", regex=True)
    assert i in hits
    page.click(f"#ex-results li:nth-child({hits.index(i) + 1}) button")
    page.wait_for_selector("#ex-point .ex-nbrs li")
    assert page.evaluate(f"() => {API}.state().focus") == i
    assert page.locator("#ex-point .ex-nbrs li").count() == 10
    assert sorted(page.evaluate(f"() => {API}.painted('neighbours')")) == sorted(
        int(j) for j in order[i, :10]
    )
    heading = page.inner_text("#ex-point h4")
    assert heading == "10 nearest neighbours · h-space, euclidean"  # not "h-space space"
    assert page.title() == "h-space decoding · shapes-ddpm"


def test_page_has_no_errors_no_network_and_the_hostile_prompt_stays_text(
    decode_page: tuple[Any, PageLog], decode_run: dict[str, Any]
) -> None:
    page, log = decode_page
    hits = _search(page, "onerror")
    assert hits == [i for i, p in enumerate(decode_run["prompts"]) if p == f"a {HOSTILE} thing"]
    page.click("#ex-results li:first-child button")
    page.wait_for_selector("#ex-point .ex-point-id")
    assert HOSTILE in page.inner_text("#ex-point")
    assert page.evaluate(NO_XSS)
    assert log.errors == []
    assert log.requests == []
