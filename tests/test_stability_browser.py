"""The explorers of the ``diffembed stability`` report in headless Debian chromium.

The page comes from the real command on a small synthetic corpus; one word of its outputs is
then renamed to a hostile label and the report rebuilt from the files. It is loaded once; every
request that is not ``file:``, ``data:`` or ``blob:`` is recorded and aborted. Neighbours are
checked against a dense cosine reference computed here from the saved vectors. Needs
/usr/bin/chromium: skipped without it, unless ``DIFFEMBED_REQUIRE_BROWSER=1`` (then fails).
Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from diffembed.cli.app import app
from diffembed.plotting.stability_report import write_stability_report

from .browser import XSS_LABEL, PageLog, chromium_or_skip, explorer_block, open_browser

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
READY = (
    "() => ['ex-', 'ex2-'].every((p) => window.diffembedExplorers && window.diffembedExplorers[p]"
    " && document.querySelector(`[data-explorer='${p}']`).dataset.ready)"
)
NO_XSS = "() => window.__xss === undefined && !document.querySelector('img[src=x]')"
LETTERS = "abcdefghijklmnop"
TOPICS = ["ani", "veh", "foo", "col", "wea", "mus"]


def _vectors(path: Path) -> tuple[list[str], np.ndarray]:
    table = pq.read_table(path)
    names = sorted((c for c in table.column_names if c != "id"), key=lambda c: int(c[1:]))
    return table.column("id").to_pylist(), np.column_stack(
        [table.column(c).to_numpy() for c in names]
    )


def _cosine_knn(V: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense reference: the k most cosine-similar other rows, and the similarity gaps."""
    U = V / np.linalg.norm(V, axis=1, keepdims=True)
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    order = np.argsort(-S, axis=1, kind="stable")
    gap = np.take_along_axis(S, order[:, k - 1 : k + 1], axis=1)
    return order[:, :k], gap[:, 0] - gap[:, 1]


def _rename(out: Path, old: str, new: str) -> None:
    for name in ("words.parquet", "vectors_raw.parquet", "vectors_smoothed.parquet"):
        table = pq.read_table(out / name)
        ids = [new if w == old else w for w in table.column("id").to_pylist()]
        table = table.set_column(0, "id", pa.array(ids, type=pa.string()))
        pq.write_table(table, out / name)


@pytest.fixture(scope="module")
def stability_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    chromium_or_skip()
    rng = np.random.default_rng(0)
    fill = ["the", "a", "of", "and", "to", "is"]
    lines = []
    for _ in range(700):
        topic = TOPICS[rng.integers(6)]
        toks = [
            topic + LETTERS[j] if rng.random() < 0.6 else fill[rng.integers(6)]
            for j in rng.integers(0, 16, 10)
        ]
        lines.append(" ".join(toks))
    root = tmp_path_factory.mktemp("stab-browser")
    corpus, lex = root / "corpus.txt", root / "lex.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    lex.write_text("\n".join(" ".join(t + LETTERS[i] for i in range(8)) for t in TOPICS) + "\n")
    out = root / "out"
    args = ["stability", str(corpus), "--runs", "3", "--dim", "6", "--max-vocab", "120",
            "--lexicon", str(lex), "--no-sweep", "-o", str(out), "-q"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    _rename(out, "mus" + LETTERS[15], XSS_LABEL)  # a rare word gets the hostile label
    write_stability_report(out)
    ids, smoothed = _vectors(out / "vectors_smoothed.parquet")
    _, raw = _vectors(out / "vectors_raw.parquet")
    words = pq.read_table(out / "words.parquet").to_pydict()
    return {"out": out, "ids": ids, "smoothed": smoothed, "raw": raw, "words": words}


@pytest.fixture(scope="module")
def stability_page(stability_run: dict[str, Any]) -> Iterator[tuple[Any, PageLog]]:
    with open_browser() as new:
        page, log = new(stability_run["out"] / "report.html")
        page.wait_for_function(READY, timeout=25_000)
        page.locator("#explorer").scroll_into_view_if_needed()
        page.wait_for_timeout(200)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "stability-explorer.png"), full_page=True)
        yield page, log
        page.close()


def _search(page: Any, prefix: str, text: str, *, regex: bool = False) -> list[str]:
    api = f"window.diffembedExplorers['{prefix}']"
    page.fill(f"#{prefix}q", "")
    page.wait_for_function(f"() => {api}.state().matches === null")
    page.set_checked(f"#{prefix}regex", regex)
    page.fill(f"#{prefix}q", text)
    page.wait_for_function(f"() => {api}.state().matches !== null")
    matches = page.evaluate(f"() => {api}.state().matches")
    painted = page.evaluate(f"() => {api}.painted('matches')")
    assert sorted(painted) == sorted(matches)  # drawn as highlighted, exactly these
    return page.evaluate(f"(idx) => idx.map((i) => {api}.idOf(i))", matches)


def test_stability_report_has_both_explorers_with_the_word_columns(
    stability_run: dict[str, Any],
) -> None:
    page = (stability_run["out"] / "report.html").read_text(encoding="utf-8")
    block = explorer_block(page)
    assert block["colorBy"] == "delta_overlap@10"
    names = [c["name"] for c in block["columns"]]
    assert names == ["rank", "overlap@10_raw", "overlap@10_smoothed", "delta_overlap@10",
                     "kept@10", "graph_degree", "raw neighbours"]  # fmt: skip
    assert block["n"] == len(stability_run["ids"])
    assert block["neighbors"]["k"] == 10
    assert block["neighbors"]["space"] == "smoothed"
    assert 'id="de-explorer-ex2"' in page  # the raw explorer
    assert "<img src=x" not in page.split("<script>")[0]


def test_search_highlights_exactly_the_matching_words(
    stability_page: tuple[Any, PageLog], stability_run: dict[str, Any]
) -> None:
    page, _ = stability_page
    ids = stability_run["ids"]
    found = _search(page, "ex-", "ani")
    expected = [w for w in ids if "ani" in w.lower()]
    assert len(expected) >= 8
    assert sorted(found) == sorted(expected)
    found = _search(page, "ex2-", "^veh[a-d]$", regex=True)
    assert sorted(found) == sorted(w for w in ids if w in {"veha", "vehb", "vehc", "vehd"})
    assert page.evaluate("() => window.diffembedExplorers['ex-'].state().matches.length") == len(
        expected
    )  # the two explorers search independently


@pytest.mark.parametrize(("prefix", "space"), [("ex-", "smoothed"), ("ex2-", "raw")])
def test_click_lists_the_neighbours_of_its_space(
    stability_page: tuple[Any, PageLog], stability_run: dict[str, Any], prefix: str, space: str
) -> None:
    page, _ = stability_page
    ids = stability_run["ids"]
    reference, gap = _cosine_knn(stability_run[space], 10)
    _, gap_other = _cosine_knn(stability_run["raw" if space == "smoothed" else "smoothed"], 10)
    # a topic word whose 10th and 11th neighbours are not tied in either space, and whose
    # smoothed neighbours differ from its raw ones (else the test could not tell them apart)
    word = next(
        w
        for j, w in enumerate(ids)
        if w[:3] in TOPICS
        and min(gap[j], gap_other[j]) > 1e-4
        and stability_run["words"]["kept@10"][j] < 1
    )
    i = ids.index(word)
    assert _search(page, prefix, f"^{word}$", regex=True) == [word]
    page.click(f"#{prefix}results li:first-child button")
    page.wait_for_selector(f"#{prefix}point .ex-nbrs li")
    listed = page.locator(f"#{prefix}point .ex-nbrs .id").all_text_contents()
    assert listed == [ids[j] for j in reference[i]]
    assert f"{space} space, cosine" in page.inner_text(f"#{prefix}point h4")
    # the other space's first neighbours are a column of the point
    other = "raw" if space == "smoothed" else "smoothed"
    other_ref, _ = _cosine_knn(stability_run[other], 5)
    panel = page.inner_text(f"#{prefix}point dl")
    assert ", ".join(ids[j] for j in other_ref[i]) in " ".join(panel.split())
    kept = stability_run["words"]["kept@10"][i]
    smoothed_ref, _ = _cosine_knn(stability_run["smoothed"], 10)
    raw_ref, _ = _cosine_knn(stability_run["raw"], 10)
    assert kept == pytest.approx(len(set(smoothed_ref[i]) & set(raw_ref[i])) / 10)


def test_stability_page_has_no_errors_no_network_no_xss(
    stability_page: tuple[Any, PageLog],
) -> None:
    page, log = stability_page
    assert _search(page, "ex-", "onerror") == [XSS_LABEL]
    shown = page.locator("#ex-results li .id").first.inner_text()
    assert shown.startswith("</script><img src=x")  # text (shortened with …), not markup
    assert XSS_LABEL.startswith(shown.rstrip("…"))
    page.click("#ex-results li:first-child button")
    page.wait_for_selector("#ex-point .ex-point-id")
    assert page.inner_text("#ex-point .ex-point-id") == XSS_LABEL
    assert page.evaluate(NO_XSS)
    drawn = page.evaluate(
        "() => ['fig-k'].map((id) => document.getElementById(id).classList.contains("
        "'js-plotly-plot'))"
    )
    assert drawn == [True]  # the report's own figures still draw
    assert log.errors == []
    assert log.requests == []
