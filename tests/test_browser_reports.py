"""The explorer of the tree and embed reports in headless Debian chromium.

Both pages come from the real commands (``diffembed tree``, ``diffembed embed lsa``) on small
inputs holding a hostile label. Each page is loaded once; every request that is not
``file:``, ``data:`` or ``blob:`` is recorded and aborted. Needs /usr/bin/chromium: skipped
without it, unless ``DIFFEMBED_REQUIRE_BROWSER=1`` (then fails). Screenshots go to
``tests/artifacts/``.
"""

from __future__ import annotations

import csv
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

from .browser import XSS_LABEL, PageLog, chromium_or_skip, explorer_block, open_browser

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
READY = (
    "() => document.getElementById('explorer') && document.getElementById('explorer').dataset.ready"
)
STATE = "() => window.diffembedExplorer.state()"
IDS = "(idx) => idx.map((i) => window.diffembedExplorer.idOf(i))"
NO_XSS = "() => window.__xss === undefined && !document.querySelector('img[src=x]')"


def _search(page: Any, text: str) -> list[str]:
    """Type ``text`` into the search box; the ids of the highlighted points."""
    page.fill("#ex-q", "")
    page.wait_for_function("() => window.diffembedExplorer.state().matches === null")
    if not text:
        return []
    page.fill("#ex-q", text)
    page.wait_for_function("() => window.diffembedExplorer.state().matches !== null")
    matches = page.evaluate(STATE)["matches"] or []
    painted = page.evaluate("() => window.diffembedExplorer.painted('matches')")
    assert sorted(painted) == sorted(matches)  # drawn as highlighted, exactly these
    return page.evaluate(IDS, matches)


def _download_csv(page: Any, target: Path) -> list[dict[str, str]]:
    with page.expect_download() as info:
        page.click("#ex-csv")
    info.value.save_as(target)
    with target.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium_or_skip()
    with open_browser() as new:
        yield new


# ------------------------------------------------------------------------------ tree
@pytest.fixture(scope="module")
def tree_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from diffembed.cli.tree import tree_command

    chromium_or_skip()
    rng = np.random.default_rng(3)
    centres = ([0, 0], [8, 0], [0, 8], [8, 8])
    X = np.vstack([rng.normal(c, 0.7, (60, 2)) for c in centres])
    group = np.repeat(np.arange(4), 60)
    kinds = np.array(["north", "east", "south", XSS_LABEL])[group]
    names = np.array([f"pt{i:03d}" for i in range(X.shape[0])])
    data = tmp_path_factory.mktemp("data") / "blobs.parquet"
    pq.write_table(pa.table({"name": names, "x": X[:, 0], "y": X[:, 1], "kind": kinds}), data)
    out = tmp_path_factory.mktemp("run") / "tree"
    app = typer.Typer()
    app.command("tree")(tree_command)
    app.command("other")(lambda: None)
    args = ["tree", str(data), "--label", "kind", "--id", "name", "-o", str(out), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return {"out": out, "names": names, "kinds": kinds, "group": group}


@pytest.fixture(scope="module")
def tree_page(browser: Any, tree_run: dict[str, Any]) -> Iterator[tuple[Any, PageLog]]:
    page, log = browser(tree_run["out"] / "report.html")
    page.wait_for_function(READY, timeout=25_000)
    page.locator("#explorer").scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tree-explorer.png"), full_page=True)
    yield page, log
    page.close()


def test_tree_explorer_colours_by_a_level_and_searches(
    tree_page: tuple[Any, PageLog], tree_run: dict[str, Any]
) -> None:
    page, _ = tree_page
    block = explorer_block((tree_run["out"] / "report.html").read_text(encoding="utf-8"))
    colour = block["colorBy"]
    assert colour.startswith("level_")
    assert colour.endswith("4 clusters ★")  # the salient level
    assert page.evaluate("() => document.getElementById('ex-color').selectedOptions[0].text")
    chips = page.locator("#ex-legend .ex-chip").count()
    assert chips == 4
    assert page.locator("#explorer .ex-time").is_hidden()  # no diffusion time here
    found = _search(page, "south")
    assert sorted(found) == sorted(tree_run["names"][tree_run["kinds"] == "south"])
    _search(page, "")


def test_tree_selection_gives_a_csv_and_neighbours_are_listed(
    tree_page: tuple[Any, PageLog], tree_run: dict[str, Any], tmp_path: Path
) -> None:
    page, _ = tree_page
    page.click("#explorer .ex-modes button[data-mode=select]")
    box = page.evaluate(
        "() => document.querySelector('#ex-plot .nsewdrag').getBoundingClientRect().toJSON()"
    )
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=4)
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=4)
    page.mouse.up()
    page.wait_for_function("() => window.diffembedExplorer.state().selection !== null")
    rows = _download_csv(page, tmp_path / "tree.csv")
    assert sorted(r["id"] for r in rows) == sorted(tree_run["names"])  # every point
    kind_of = dict(zip(tree_run["names"], tree_run["kinds"], strict=True))
    assert all(r["kind"] == kind_of[r["id"]] for r in rows)  # the hostile label, as text
    level = next(h for h in rows[0] if h.endswith("4 clusters ★"))
    by_group = {}
    for r in rows:
        by_group.setdefault(int(np.flatnonzero(tree_run["names"] == r["id"])[0]) // 60, set()).add(
            r[level]
        )
    assert all(len(v) == 1 for v in by_group.values())  # the salient level is the four blobs
    page.click("#ex-table tbody tr:first-child td")  # a row opens its point
    page.wait_for_selector("#ex-point .ex-nbrs li")
    assert page.locator("#ex-point .ex-nbrs li").count() == 10
    assert "diffusion space" in page.inner_text("#ex-point h4")
    page.click("#ex-clear")
    page.click("#explorer .ex-modes button[data-mode=pan]")


def test_tree_page_has_no_errors_no_network_no_xss(tree_page: tuple[Any, PageLog]) -> None:
    page, log = tree_page
    found = _search(page, "onerror")
    assert len(found) == 60
    first = page.locator("#ex-results li .lb").first.inner_text()
    assert first == XSS_LABEL  # text, not markup
    assert page.evaluate(NO_XSS)
    _search(page, "")
    assert log.errors == []
    assert log.requests == []


# ------------------------------------------------------------------------------ embed
DOCS = [
    "the cat sat on the mat",
    "a cat chased a mouse across the mat",
    "dogs bark at the mailman",
    "the dog chased the cat",
    "stocks fell as markets slid",
    "markets rallied and stocks rose",
    "investors sold shares in the market",
    XSS_LABEL + " cat",
    "the mouse hid from the cat",
    "bond yields rose as stocks fell",
] * 3


@pytest.fixture(scope="module")
def embed_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from diffembed.cli.embed import embed_app

    chromium_or_skip()
    base = tmp_path_factory.mktemp("embed")
    docs = base / "docs.txt"
    docs.write_text("\n".join(f"{d} {i}" for i, d in enumerate(DOCS)) + "\n", encoding="utf-8")
    out = base / "lsa"
    args = ["lsa", str(docs), "-o", str(out), "--n-components", "4", "--stop-words", "none"]
    result = CliRunner().invoke(embed_app, args)
    assert result.exit_code == 0, result.output
    texts = docs.read_text(encoding="utf-8").splitlines()
    V = pq.read_table(out / "vectors.parquet")
    vectors = np.column_stack([V.column(f"v{j}").to_numpy() for j in range(1, 5)])
    return {"out": out, "texts": texts, "vectors": vectors}


@pytest.fixture(scope="module")
def embed_page(browser: Any, embed_run: dict[str, Any]) -> Iterator[tuple[Any, PageLog]]:
    page, log = browser(embed_run["out"] / "report.html")
    page.wait_for_function(READY, timeout=25_000)
    page.wait_for_timeout(200)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "embed-explorer.png"), full_page=True)
    yield page, log
    page.close()


def test_embed_explorer_searches_document_texts(
    embed_page: tuple[Any, PageLog], embed_run: dict[str, Any]
) -> None:
    page, _ = embed_page
    found = _search(page, "stocks")
    expected = [str(i) for i, t in enumerate(embed_run["texts"]) if "stocks" in t]
    assert sorted(found, key=int) == expected
    page.check("#ex-regex")
    found = _search(page, "^the (cat|dog) ")
    expected = [
        str(i) for i, t in enumerate(embed_run["texts"]) if t.startswith(("the cat ", "the dog "))
    ]
    assert sorted(found, key=int) == expected
    page.uncheck("#ex-regex")


def test_embed_neighbours_are_the_cosine_nearest_vectors(
    embed_page: tuple[Any, PageLog], embed_run: dict[str, Any]
) -> None:
    page, _ = embed_page
    _search(page, "bark")
    page.click("#ex-results li:first-child button")
    page.wait_for_selector("#ex-point .ex-nbrs li")
    listed = page.locator("#ex-point .ex-nbrs .id").all_text_contents()
    V = embed_run["vectors"]
    unit = V / np.linalg.norm(V, axis=1, keepdims=True)
    i = next(j for j, t in enumerate(embed_run["texts"]) if "bark" in t)
    sim = unit @ unit[i]
    sim[i] = -np.inf
    order = np.argsort(-sim, kind="stable")
    assert len(listed) == 10
    kth = np.sort(sim)[::-1][9]  # ties at the 10th place may come in any order
    assert set(order[sim[order] > kth + 1e-6].astype(str)) <= set(listed)
    assert all(sim[int(j)] >= kth - 1e-6 for j in listed)
    assert "vector space, cosine" in page.inner_text("#ex-point h4")
    page.keyboard.press("Escape")
    _search(page, "")


def test_embed_selection_of_matches_gives_their_csv(
    embed_page: tuple[Any, PageLog], embed_run: dict[str, Any], tmp_path: Path
) -> None:
    page, _ = embed_page
    found = _search(page, "market")
    page.click("#ex-select-matches")
    page.wait_for_function("() => window.diffembedExplorer.state().selection !== null")
    rows = _download_csv(page, tmp_path / "docs.csv")
    assert sorted(r["id"] for r in rows) == sorted(found)
    assert all(r["text"] == embed_run["texts"][int(r["id"])] for r in rows)
    assert list(rows[0])[:2] == ["id", "text"]
    page.click("#ex-clear")
    _search(page, "")


def test_embed_page_has_no_errors_no_network_no_xss(
    embed_page: tuple[Any, PageLog], embed_run: dict[str, Any]
) -> None:
    page, log = embed_page
    found = _search(page, "<img")
    assert sorted(found, key=int) == [
        str(i) for i, t in enumerate(embed_run["texts"]) if "<img" in t
    ]
    assert "onerror" in page.locator("#ex-results li .lb").first.inner_text()
    assert page.evaluate(NO_XSS)
    manifest = json.loads((embed_run["out"] / "manifest.json").read_text(encoding="utf-8"))
    assert "report.html" in manifest["outputs"]
    _search(page, "")
    page.fill("#ex2-q", "stocks")  # LSA's terms have an explorer of their own
    page.wait_for_function("() => window.diffembedExplorers['ex2-'].state().matches !== null")
    terms = page.evaluate(
        "() => { const x = window.diffembedExplorers['ex2-'];"
        " return x.state().matches.map((i) => x.idOf(i)); }"
    )
    assert terms == ["stocks"]
    assert page.evaluate(STATE)["matches"] is None  # the documents' explorer is untouched
    assert log.errors == []
    assert log.requests == []


# ------------------------------------------------------------------------------ reuse
def test_two_explorers_on_one_page_work_independently(browser: Any, tmp_path: Path) -> None:
    """The piece other reports reuse: explorer_section twice on a page of their own."""
    import html

    from diffembed.plotting.explorer import explorer_section, static_text
    from diffembed.plotting.page import scripts_and_csp

    rng = np.random.default_rng(0)
    a = explorer_section(
        rng.normal(size=(80, 2)), [f"apple {i}" for i in range(80)], neighbours=5
    )  # fmt: skip
    b = explorer_section(
        rng.normal(size=(50, 3)), [f"pear {i}" for i in range(49)] + [XSS_LABEL],
        neighbours=np.tile(np.arange(3), (50, 1)), prefix="ex2-", title="Second",
    )  # fmt: skip
    tags, csp = scripts_and_csp([*a.scripts, *b.scripts])
    assert tags.count("<script>") == 2  # plotly.js and explorer.js, once each
    page_html = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv='
        f'"Content-Security-Policy" content="{html.escape(csp)}"><style>'
        f'{static_text("report.css")}{a.css}</style></head><body><main class="wrap">'
        f"{a.html}{b.html}</main>{tags}</body></html>"
    )
    path = tmp_path / "two.html"
    path.write_text(page_html, encoding="utf-8")
    page, log = browser(path)
    page.wait_for_function(
        "() => ['ex-', 'ex2-'].every((p) => window.diffembedExplorers[p]"
        " && document.querySelector(`[data-explorer='${p}']`).dataset.ready)",
        timeout=25_000,
    )
    page.fill("#ex2-q", "pear 4")
    page.wait_for_function("() => window.diffembedExplorers['ex2-'].state().matches !== null")
    second = page.evaluate("() => window.diffembedExplorers['ex2-'].state().matches")
    assert sorted(second) == [4, *range(40, 49)]
    assert page.evaluate("() => window.diffembedExplorer.state().matches") is None
    page.click("#ex2-results li:first-child button")
    page.wait_for_selector("#ex2-point .ex-nbrs li")
    assert page.locator("#ex2-point .ex-nbrs .id").all_text_contents() == ["0", "1", "2"]
    assert page.locator("#ex-point .ex-nbrs li").count() == 0
    page.fill("#ex2-q", "onerror")
    page.wait_for_function("() => window.diffembedExplorers['ex2-'].state().matches.length === 1")
    assert page.locator("#ex2-results .lb").first.inner_text() == XSS_LABEL
    assert page.evaluate(NO_XSS)
    page.screenshot(path=str(ARTIFACTS / "two-explorers.png"), full_page=True)
    page.close()
    assert log.errors == []
    assert log.requests == []


# ------------------------------------------------------------------------------ words
def test_word_explorer_defaults_with_shared_assets(browser: Any, tmp_path: Path) -> None:
    """Exact matches first, a log colour bar of counts, named axes; plotly.js from the folder."""
    from diffembed.plotting.embed_figures import write_embed_report

    rng = np.random.default_rng(4)
    words = ["making", "the", "kingdom", "of", "king", "walking", "asking", "a"]
    words += [f"w{i}" for i in range(72)]
    V = rng.normal(size=(len(words), 6))
    out = tmp_path / "words"
    out.mkdir()
    cols: dict[str, Any] = {"id": words}
    cols.update({f"v{j + 1}": V[:, j] for j in range(V.shape[1])})
    pq.write_table(pa.table(cols), out / "vectors.parquet")
    counts = [round(30_000 / (i + 1)) + 2 for i in range(len(words))]
    (out / "vocabulary.csv").write_text(
        "word,count\n" + "".join(f"{w},{c}\n" for w, c in zip(words, counts, strict=True))
    )
    manifest = {"command": "embed words", "recipe": "words",
                "inputs": [{"path": "/corpora/news.txt", "sha256": None}]}  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest))
    path = write_embed_report(out, assets="shared")
    assert (out / "plotly.min.js").is_file()
    page, log = browser(path)
    page.wait_for_function(READY, timeout=25_000)
    assert page.title() == "Word vectors · news.txt"
    found = _search(page, "king")
    assert found == ["king", "kingdom", "making", "walking", "asking"]  # exact, prefix, inside
    listed = page.locator("#ex-results li .id").all_text_contents()
    assert listed[:2] == ["king", "kingdom"]
    plot = page.evaluate(
        "() => { const gd = document.getElementById('ex-plot');"
        " const bar = gd.data[1].marker.colorbar;"
        " return {x: gd.layout.xaxis.title.text, y: gd.layout.yaxis.title.text,"
        " bar: bar.title.text, ticks: bar.ticktext}; }"
    )
    assert plot["x"].startswith("PC1 of the word vectors (")
    assert plot["y"].startswith("PC2 of the word vectors (")
    assert plot["bar"] == "count (log scale)"
    # counts 377 .. 30,002: ticks at 1, 2 and 5 times the powers of ten between
    assert plot["ticks"] == ["500", "1000", "2000", "5000", "10000", "20000"]
    assert "log colour scale" in page.inner_text("#ex-legend")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "words-explorer.png"), full_page=True)
    page.close()
    assert log.errors == []
    assert log.requests == []
