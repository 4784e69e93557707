"""The ``diffembed latents decode`` report in headless Debian chromium.

The page comes from the real command on a tiny random U-Net (the plumbing model of
``test_latents_decode``), with a hostile prompt among the prompts. That untrained model fails
the adherence gate for colour, so the page must show the gate and mark the pairs unreliable;
a copy of its folder gets ``words.csv``, ``defaults.csv`` and ``concepts.csv`` (as
``latents/words.py`` writes them, a hostile word included) and its rebuilt page must show
them. Every request that is not ``file:``, ``data:`` or ``blob:`` is recorded and aborted.
Neighbours are checked against a dense Euclidean reference on the saved h-vectors. Needs
/usr/bin/chromium: skipped without it, unless ``DIFFEMBED_REQUIRE_BROWSER=1`` (then fails).
Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import csv
import shutil
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


# ------------------------------------------------------- evidence, the gate, words tables
def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


WORDS = [
    {"concept": "red", "rank": 1, "word": "crimson", "family": "colour", "cosine": 0.91,
     "source": "vocabulary"},
    {"concept": "red", "rank": 2, "word": HOSTILE, "family": "colour", "cosine": 0.5,
     "source": "vocabulary"},
    {"concept": "small", "rank": 1, "word": "tiny", "family": "size", "cosine": 0.8,
     "source": "vocabulary"},
]  # fmt: skip
DEFAULTS = [{"family": "colour", "word": "blue", "rate": 0.625, "n_samples": 8}]
CONCEPTS = [{"concept": "red", "dc1": 0.1, "dc2": -0.2, "cluster": 0},
            {"concept": "small", "dc1": -0.3, "dc2": 0.4, "cluster": 1}]  # fmt: skip


@pytest.fixture(scope="module")
def extra_page(
    decode_run: dict[str, Any], decode_page: tuple[Any, PageLog],
    tmp_path_factory: pytest.TempPathFactory,
):  # fmt: skip
    """The decode folder plus the words tables, its page rebuilt, in the same browser page."""
    from diffembed.plotting.latents_report import write_latents_report

    out = tmp_path_factory.mktemp("latents-extra") / "out"
    shutil.copytree(decode_run["out"], out)
    _write_csv(out / "words.csv", WORDS)
    _write_csv(out / "defaults.csv", DEFAULTS)
    _write_csv(out / "concepts.csv", CONCEPTS)
    write_latents_report(out)
    page, log = decode_page
    page.goto((out / "report.html").resolve().as_uri())
    page.wait_for_function(READY, timeout=25_000)
    page.locator("#adherence").scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "latents-report-evidence.png"), full_page=True)
    return page, log, out


def test_report_shows_both_tests_per_pair_and_marks_unreliable_pairs(extra_page) -> None:
    page, log, out = extra_page
    rows = _csv(out / "associations.csv")
    assert rows
    names = page.evaluate("() => document.getElementById('fig-bars').data.map(t => t.name)")
    assert names == ["h-space (within prompt)", "captions"]
    ys = page.evaluate("() => document.getElementById('fig-bars').data.map(t => t.y.length)")
    assert ys == [len(rows), len(rows)]
    # the pairs table: one row per pair (by q), its verdict from the CSV's reliable column
    cells = page.evaluate(
        "() => [...document.querySelectorAll('table.pairs:not(.adherence):not(.extra) tr')]"
        ".slice(1).map(tr => [...tr.cells].map(td => td.innerText))"
    )
    assert len(cells) == min(len(rows), 40)
    for row, shown in zip(rows, cells, strict=False):
        assert shown[:2] == [row["concept"], row["attribute"]]
        assert shown[6] == row["agreement"]
        assert shown[-1] == ("yes" if row["reliable"] == "True" else "⚠ no")
    bad = [r for r in rows if r["reliable"] != "True"]
    marked = page.locator("table.pairs:not(.adherence) tr.unreliable").count()
    assert marked == min(len(bad), 40)
    assert log.errors == []
    assert log.requests == []


def test_report_shows_the_adherence_gate(extra_page) -> None:
    page, _, out = extra_page
    gate = _csv(out / "adherence.csv")
    assert {r["family"] for r in gate} == {"colour", "size"}
    shown = page.evaluate(
        "() => [...document.querySelectorAll('#adherence tr')].slice(1)"
        ".map(tr => [...tr.cells].map(td => td.innerText.trim()))"
    )
    assert [s[0] for s in shown] == [r["family"] for r in gate]
    for r, s in zip(gate, shown, strict=True):
        assert s[1] == f"{100 * float(r['rate']):.0f} %"
        assert s[2] == r["n_samples"]
        assert s[4].startswith("passes" if r["reliable"] == "True" else "⚠ undertrained")
    colour = next(r for r in gate if r["family"] == "colour")
    assert colour["reliable"] == "False"  # a random U-Net does not draw the prompted colour
    notices = page.inner_text("body")
    assert "The model looks undertrained for colour" in notices
    assert page.locator("#adherence tr.unreliable").count() == sum(
        r["reliable"] != "True" for r in gate
    )


def test_report_shows_words_defaults_and_concepts_and_keeps_words_as_text(extra_page) -> None:
    page, log, _ = extra_page
    words = page.evaluate(
        "() => [...document.querySelectorAll('#words tr')].slice(1)"
        ".map(tr => [...tr.cells].map(td => td.innerText))"
    )
    assert words == [[str(r[k]) for k in ("concept", "rank", "word", "family", "cosine",
                                          "source")] for r in WORDS]  # fmt: skip
    assert page.inner_text("#defaults h2") == "What the model draws when not asked"
    defaults = page.evaluate(
        "() => [...document.querySelectorAll('#defaults tr')].slice(1)"
        ".map(tr => [...tr.cells].map(td => td.innerText))"
    )
    assert defaults == [["colour", "blue", "0.625", "8"]]
    assert page.locator("#concepts tr").count() == 1 + len(CONCEPTS)
    assert page.evaluate(NO_XSS)
    assert log.errors == []
