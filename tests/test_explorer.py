"""The explorer's data block and assets (no browser): encoding, page rows, neighbours, safety."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from diffembed.exceptions import InputError
from diffembed.plotting import build_report_html, write_report
from diffembed.plotting.explorer import (
    MAX_DISTANCE_ENTRIES,
    encode_column,
    explorer_data,
    explorer_rows,
    explorer_section,
    nearest_neighbours,
    section_html,
    static_text,
)

from .browser import XSS_LABEL, decode, explorer_block, write_outputs


def test_text_column_is_dictionary_encoded_and_sorted() -> None:
    values = np.array(["b", None, "a", "b", float("nan"), XSS_LABEL], dtype=object)
    col = encode_column("kind", values, n_drawn=6)
    assert col["kind"] == "text"
    assert col["dict"] == [XSS_LABEL, "a", "b"]
    assert decode(col["codes"]).tolist() == [2, -1, 1, 2, -1, 0]
    assert col["codes"]["dtype"] == "i1"
    assert col["cats"] == [XSS_LABEL, "a", "b", "(missing)"]
    assert col["missing"] is True
    assert col["colors"][-1] == "#a3a8b0"  # missing is grey


def test_many_categories_keep_the_commonest_and_merge_the_rest() -> None:
    values = np.array([f"w{i:02d}" for i in range(40) for _ in range(i + 1)], dtype=object)
    col = encode_column("word", values, n_drawn=values.size)
    assert len(col["dict"]) == 40  # every value keeps its text (hover, search, tables)
    assert len(col["cats"]) == 20
    assert col["cats"][-1] == "(other)"
    assert col["cats"][:19] == [f"w{i:02d}" for i in range(21, 40)]  # the 19 commonest
    cat_of = decode(col["catOf"])
    assert cat_of[0] == 19  # w00, the rarest, is "(other)"
    assert cat_of[39] == 18


def test_numbers_get_a_colour_bar_and_few_integers_categories() -> None:
    t = np.linspace(0.0, 2.0, 50)
    col = encode_column("t", t, n_drawn=50)
    assert col["kind"] == "number"
    assert (col["min"], col["max"]) == (0.0, 2.0)
    assert col["values"]["dtype"] == "f4"
    big = encode_column("count", np.arange(100, dtype=np.int64) * 1000, n_drawn=100)
    assert big["values"]["dtype"] == "i4"
    few = encode_column("digit", np.array([3, 1, 2, 1, 3], dtype=np.int64), n_drawn=5)
    assert few["kind"] == "text"
    assert few["dict"] == ["1", "2", "3"]
    many = encode_column("cluster", np.arange(30), n_drawn=30, force_categorical=True)
    assert many["kind"] == "text"
    flags = encode_column("ok", np.array([True, False, True]), n_drawn=3)
    assert flags["dict"] == ["False", "True"]


def test_page_rows_hold_drawn_points_then_neighbours_not_drawn() -> None:
    neighbors = np.array([[1, 2], [0, 5], [3, -1], [2, 0], [5, 4], [4, 3]])
    drawn = np.array([0, 2, 4])
    rows, local = explorer_rows(drawn, neighbors)
    assert rows.tolist() == [0, 2, 4, 1, 3, 5]
    # neighbours of rows 0, 2, 4 as positions in `rows`
    assert local.tolist() == [[3, 1], [4, -1], [5, 2]]
    assert local.dtype == np.int32
    rows, local = explorer_rows(drawn, None)
    assert rows.tolist() == [0, 2, 4]
    assert local is None


def test_distances_are_left_out_of_very_large_pages() -> None:
    n, k = 5, 3
    cols = {"id": np.arange(n)}
    nb = np.zeros((n, k), dtype=np.int32)
    args = (cols, np.arange(n), n, np.ones((n, 2)), ["dc1", "dc2"])
    data = explorer_data(*args, metadata=[], neighbors=nb, distances=np.ones((n, k)))
    assert data["neighbors"]["dist"]["dtype"] == "f4"
    assert data["neighbors"]["metric"] == "euclidean"
    assert MAX_DISTANCE_ENTRIES >= 2_000_000
    big = explorer_data(
        *args[:2], MAX_DISTANCE_ENTRIES, *args[3:], metadata=[], neighbors=nb, distances=nb
    )
    assert big["neighbors"]["dist"] is None


def test_report_ships_neighbours_and_names_those_not_drawn(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", n=40, k=3, n_nan=3)
    nb = np.array([[(i + 1) % 40, (i + 2) % 40] for i in range(40)], dtype=np.int32)
    np.save(out / "neighbors.npy", nb)
    np.save(out / "neighbor_distances.npy", np.full((40, 2), 0.5, dtype=np.float32))
    data = explorer_block(write_report(out).read_text(encoding="utf-8"))
    assert data["n"] == 37
    assert data["rows"] == 39  # the drawn points and two rows that are only neighbours
    ids = decode(data["ids"]).tolist()
    assert ids[:37] == list(range(3, 40))
    assert sorted(ids[37:]) == [0, 1]  # row 39's neighbours 0 and 1 are not drawn
    local = decode(data["neighbors"]["idx"]).reshape(37, 2)
    assert [[ids[j] for j in row] for row in local.tolist()] == nb[3:].tolist()
    assert decode(data["neighbors"]["dist"]).tolist() == [0.5] * 74


def test_mismatched_neighbours_are_ignored_with_a_notice(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", n=30, k=2)
    np.save(out / "neighbors.npy", np.zeros((29, 3), dtype=np.int32))
    page = write_report(out).read_text(encoding="utf-8")
    assert "do not match the 30 rows" in page
    assert explorer_block(page)["neighbors"] is None
    np.save(out / "neighbors.npy", np.full((30, 3), 99, dtype=np.int32))
    assert "name rows that do not exist" in write_report(out).read_text(encoding="utf-8")


def test_stability_panel_from_the_manifest(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", n=30, k=3)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["stability"] = {
        "method": "20 bootstrap resamples of 80% <b>",
        "summary": {"subspace agreement": 0.9731, "kNN overlap": 0.88},
        "per_component": {"correlation": [0.99, 0.95, 0.42]},
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    page = write_report(out).read_text(encoding="utf-8")
    card = page[page.index('<article class="card stability">') :]
    card = card[: card.index("</article>")]
    assert "20 bootstrap resamples of 80% &lt;b&gt;" in card
    assert "subspace agreement" in card
    assert "0.973" in card
    assert "<th>dc3</th>" in card
    assert '<td class="num">0.42</td>' in card
    manifest.pop("stability")
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert "card stability" not in write_report(out).read_text(encoding="utf-8")


def test_3d_view_is_capped_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("diffembed.plotting.report.MAX_POINTS_3D", 100)
    out = write_outputs(tmp_path / "out", n=400, k=3)
    page = write_report(out).read_text(encoding="utf-8")
    assert "A random sample of 100 of the 400 points." in page
    assert explorer_block(page)["n"] == 400


def test_assets_cannot_break_out_of_their_script_and_are_hashed(tmp_path: Path) -> None:
    for name in ("explorer.js", "loader.js"):
        text = static_text(name)
        assert "</" not in text
        assert "<!--" not in text
        assert not re.search(r"<script", text, re.I)
        assert "innerHTML" not in text
        assert "insertAdjacentHTML" not in text
    html = static_text("explorer.html")
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers
    page = build_report_html({"id": np.arange(3), "dc1": np.arange(3.0)}, None, {})
    digest = base64.b64encode(hashlib.sha256(static_text("explorer.js").encode()).digest())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    csp = csp.replace("&#x27;", "'")
    assert f"'sha256-{digest.decode()}'" in csp


# ------------------------------------------------------------------ explorer_section
def _dense_knn(X: np.ndarray, k: int, metric: str = "euclidean") -> np.ndarray:
    """Independent reference: argsort of the full distance matrix, self excluded."""
    if metric == "cosine":
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        D = 1.0 - U @ U.T
    else:
        D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    return np.argsort(D, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_nearest_neighbours_match_a_dense_reference(metric: str) -> None:
    X = np.random.default_rng(0).normal(size=(120, 6))
    ind, dist, how = nearest_neighbours(X, 5, metric=metric)
    assert how == "exact"
    np.testing.assert_array_equal(ind, _dense_knn(X, 5, metric))
    assert np.all(np.diff(dist, axis=1) >= -1e-6)  # nearest first
    queries = np.arange(0, 120, 9)
    part, _, _ = nearest_neighbours(X, 5, metric=metric, queries=queries)
    np.testing.assert_array_equal(part[queries], ind[queries])
    assert np.all(part[1] == -1)  # not asked: none


def test_large_searches_go_approximate_and_keep_their_recall(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("faiss")
    monkeypatch.setattr("diffembed.plotting.explorer_neighbours.MAX_EXACT_WORK", 0)
    X = np.random.default_rng(3).normal(size=(400, 16))
    ind, _, how = nearest_neighbours(X, 10, metric="cosine")
    assert how == "approximate"
    reference = _dense_knn(X, 10, "cosine")
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ind, reference, strict=True)])
    assert recall > 0.95
    sec = explorer_section(X[:, :2], neighbours=10, neighbour_space=X, metric="cosine")
    assert sec.data["neighbors"]["metric"] == "cosine, approximate (HNSW)"


def test_explorer_section_draws_finite_rows_with_their_neighbours() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 8))  # the "input" space
    coords = X[:, :2].copy()
    coords[:3] = np.nan
    labels = np.array(["a", "b", XSS_LABEL, "c", "d"] * 10, dtype=object)
    sec = explorer_section(
        coords, labels, label_name="kind", ids=[f"w{i}" for i in range(50)],
        metadata={"size": np.arange(50.0)}, neighbours=4, neighbour_space=X, space="input",
        coord_names=["x", "y"], title=f"Words {XSS_LABEL}",
    )  # fmt: skip
    data = sec.data
    assert data["n"] == 47
    assert "3 of 50 points have no coordinates and are not drawn." in sec.notices
    assert "3 of 50 points have no coordinates" in sec.html
    assert sec.rows.tolist() == list(range(3, 50))
    ids = data["ids"]
    assert ids[:47] == [f"w{i}" for i in range(3, 50)]
    local = decode(data["neighbors"]["idx"]).reshape(47, 4)
    named = [[ids[j] for j in row] for row in local.tolist()]
    expected = _dense_knn(X, 4)[3:]  # neighbours may be rows that are not drawn
    assert named == [[f"w{j}" for j in row] for row in expected.tolist()]
    assert data["neighbors"]["space"] == "input"
    assert data["timeControl"] is False
    assert [c["name"] for c in data["columns"]] == ["kind", "size"]
    assert data["label"] == "kind"
    assert "<img" not in sec.html  # title, label and everything else stay text
    assert sec.html.count("</script>") == 1
    assert static_text("explorer.js") in sec.scripts


def test_explorer_section_samples_and_rejects_bad_input() -> None:
    coords = np.random.default_rng(2).normal(size=(300, 3))
    groups = np.repeat(["x", "y", "z"], [200, 80, 20])
    sec = explorer_section(coords, groups, max_points=60, random_state=4, neighbours=3)
    assert sec.data["n"] == 60
    assert any(
        "random sample of 60 of the 300 points (stratified by label" in t for t in sec.notices
    )
    drawn = groups[sec.rows]
    assert sorted(np.unique(drawn, return_counts=True)[1].tolist()) == [4, 16, 40]
    local = decode(sec.data["neighbors"]["idx"]).reshape(60, 3)
    ids = decode(sec.data["ids"])
    reference = _dense_knn(coords, 3)[sec.rows]  # among all 300 points, not only the drawn
    np.testing.assert_array_equal(ids[local], reference)
    with pytest.raises(InputError, match=r"The column 'kind' has shape \(4,\), not \(300,\)"):
        explorer_section(coords, ["a", "b", "c", "d"], label_name="kind")
    with pytest.raises(InputError, match=r"colour_by='nope' is not a column .* \['label', 'dim1'"):
        explorer_section(coords, groups, colour_by="nope")
    with pytest.raises(InputError, match="prefix='Ex' is not valid"):
        section_html("{}", prefix="Ex")


def test_two_explorers_on_one_page_have_their_own_ids() -> None:
    one = section_html("{}", prefix="ex-")
    two = section_html("{}", prefix="ex2-", title="Second")
    ids = re.findall(r'\sid="([^"]+)"', one + two)
    assert len(ids) == len(set(ids))  # no id twice on the page
    assert 'id="explorer" data-explorer="ex-" data-block="de-explorer"' in one
    assert 'id="ex2-root" data-explorer="ex2-" data-block="de-explorer-ex2"' in two
    assert '<script type="application/json" id="de-explorer-ex2">{}</script>' in two
    assert not re.search(r'(?:id|for|aria-labelledby)="ex-', two)


# ------------------------------------------------------------------ tree and embed reports
def _tree_levels(n_per: int = 30) -> tuple[dict, np.ndarray, dict]:
    rng = np.random.default_rng(5)
    blob = np.repeat(np.arange(4), n_per)
    coords = (
        rng.normal(size=(4 * n_per, 3)) * 0.2
        + np.array([[0, 0, 0], [3, 0, 0], [0, 3, 0], [3, 3, 0]])[blob]
    )
    levels = {
        "id": np.array([f"p{i}" for i in range(blob.size)]),
        "kind": np.array(["n", "e", "s", XSS_LABEL])[blob],
        "level_0": np.arange(blob.size, dtype=np.int32),
        "level_1": (blob * 2 + (np.arange(blob.size) % 2)).astype(np.int32),
        "level_2": blob.astype(np.int32),
        "level_3": (blob // 2).astype(np.int32),
        "level_4": np.zeros(blob.size, dtype=np.int32),
    }
    manifest = {
        "command": "tree",
        "label_column": "kind",
        "results": {"salient_levels": [2]},
        "parameters": {"space": "diffusion"},
    }
    return levels, coords, manifest


def test_tree_report_explorer_colours_by_the_salient_level() -> None:
    from diffembed.plotting.tree_report import build_tree_report_html

    levels, coords, manifest = _tree_levels()
    page = build_tree_report_html(levels, coords, manifest)
    data = explorer_block(page)
    assert data["colorBy"] == "level_2 · 4 clusters ★"
    names = [c["name"] for c in data["columns"]]
    assert names[0] == "kind"
    assert data["label"] == "kind"
    assert "level_2 · 4 clusters ★" in names
    assert "level_1 · 8 clusters" in names
    level = next(c for c in data["columns"] if c["name"] == data["colorBy"])
    assert level["kind"] == "text"  # categories, whatever the count
    assert data["coordNames"] == ["dc1", "dc2", "dc3"]
    local = decode(data["neighbors"]["idx"]).reshape(120, 10)
    ids = data["ids"]
    expected = _dense_knn(coords, 10)
    assert [[ids[j] for j in row] for row in local.tolist()] == [
        [f"p{j}" for j in row] for row in expected.tolist()
    ]
    assert data["neighbors"]["space"] == "diffusion"
    assert "Points explorer" in page
    assert page.count("</script>") == len(re.findall(r"<script[ >]", page))


def _embed_dir(tmp_path: Path, recipe: str, ids: list, vectors: np.ndarray, **extra) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / recipe
    out.mkdir()
    prefix = "pc" if recipe == "pca" else "v"
    cols = {"id": ids, **extra.pop("columns", {})}
    cols.update({f"{prefix}{j + 1}": vectors[:, j] for j in range(vectors.shape[1])})
    pq.write_table(pa.table(cols), out / "vectors.parquet")
    manifest = {"command": f"embed {recipe}", "recipe": recipe, **extra}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_embed_report_explorer_of_words_documents_and_rows(tmp_path: Path) -> None:
    from diffembed.plotting.embed_figures import write_embed_report

    rng = np.random.default_rng(6)
    V = rng.normal(size=(40, 12))
    words = [f"w{i}" for i in range(39)] + [XSS_LABEL]
    out = _embed_dir(tmp_path, "words", words, V)
    (out / "vocabulary.csv").write_text(
        "word,count\n"
        + "".join(f'"{w.replace(chr(34), chr(34) * 2)}",{100 - i}\n' for i, w in enumerate(words))
    )
    page = write_embed_report(out).read_text(encoding="utf-8")
    data = explorer_block(page)
    assert data["ids"] == words
    assert "<img" not in page
    assert [c["name"] for c in data["columns"]] == ["count"]
    local = decode(data["neighbors"]["idx"]).reshape(40, 10)
    np.testing.assert_array_equal(local, _dense_knn(V, 10, "cosine"))
    assert data["neighbors"]["metric"] == "cosine"
    xy = np.column_stack([decode(c) for c in data["coords"][:2]])
    centred = V - V.mean(axis=0)
    pcs = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
    for j in range(2):  # a 2-D PCA of the vectors (up to sign)
        assert abs(np.corrcoef(xy[:, j], pcs[:, j])[0, 1]) > 0.999

    docs = tmp_path / "docs.txt"
    texts = [f"document {i} about {'cats' if i % 2 else 'stocks'}" for i in range(40)]
    docs.write_text("\n".join(texts[:20]) + "\n\n" + "\n".join(texts[20:]) + "\n")
    import hashlib

    sha = hashlib.sha256(docs.read_bytes()).hexdigest()
    out = _embed_dir(
        tmp_path, "lsa", list(range(40)), V, inputs=[{"path": str(docs), "sha256": sha}]
    )
    data = explorer_block(write_embed_report(out).read_text(encoding="utf-8"))
    text = data["columns"][0]
    assert data["label"] == "text"
    assert text["name"] == "text"
    assert [text["dict"][c] for c in decode(text["codes"])] == texts  # blank lines skipped
    docs.write_text("changed\n")
    page = write_embed_report(out).read_text(encoding="utf-8")
    assert "its SHA-256 changed" in page
    assert explorer_block(page)["columns"] == []

    out = _embed_dir(
        tmp_path, "pca", list(range(40)), V[:, :4], parameters={"label": "digit"},
        columns={"digit": np.arange(40) % 3},
    )  # fmt: skip
    data = explorer_block(write_embed_report(out).read_text(encoding="utf-8"))
    assert data["coordNames"] == ["pc1", "pc2", "pc3", "pc4"]
    assert data["label"] == "digit"
    assert data["colorBy"] == "digit"
    assert data["neighbors"]["metric"] == "euclidean"
    assert decode(data["coords"][0]).tolist() == V[:, 0].astype(np.float32).tolist()


def test_tree_explorer_neighbours_stay_within_their_graph_component() -> None:
    from diffembed.plotting.tree_report import build_tree_report_html

    levels, coords, manifest = _tree_levels()
    component = (np.arange(120) // 60).astype(np.int32)  # two parts, coordinates overlapping
    levels["component"] = component
    coords = coords.copy()
    coords[60:] -= coords[60:].mean(axis=0) - coords[:60].mean(axis=0)
    data = explorer_block(build_tree_report_html(levels, coords, manifest))
    ids = np.array(data["ids"])
    local = decode(data["neighbors"]["idx"]).reshape(-1, 10)
    assert data["neighbors"]["metric"] == "euclidean, within each graph component"
    for row, nb in zip(ids[: data["n"]], ids[local], strict=True):
        i = int(row[1:])
        part = np.flatnonzero(component == component[i])
        D = np.linalg.norm(coords[part] - coords[i], axis=1)
        D[part == i] = np.inf
        expected = [f"p{j}" for j in part[np.argsort(D, kind="stable")[:10]]]
        assert nb.tolist() == expected


def test_heavy_tailed_counts_are_coloured_on_a_log_scale() -> None:
    from diffembed.plotting.explorer_columns import log_scale

    zipf = np.round(20_000 / np.arange(1, 501)).astype(np.int64) + 5  # word counts: 20005 .. 45
    col = encode_column("count", zipf, n_drawn=zipf.size)
    assert col["kind"] == "number"
    assert col["log"] is True
    assert (col["min"], col["max"]) == (45.0, 20005.0)
    assert encode_column("t", np.linspace(1.0, 100.0, 200), n_drawn=200)["log"] is False
    assert log_scale(np.array([0.0, 1.0, 1.0, 1.0, 500.0])) is False  # not all positive
    assert log_scale(np.array([1.0, 1.0, 1.0, 2.0, 15.0])) is False  # range under 20×
    assert log_scale(np.array([1.0, 1.0, 1.0, 2.0, 50.0])) is True


def test_word_explorer_colours_by_count_names_its_axes_and_the_data(tmp_path: Path) -> None:
    from diffembed.plotting.embed_figures import write_embed_report

    rng = np.random.default_rng(3)
    V = rng.normal(size=(60, 8)) * np.array([5.0, 2.0, 1, 1, 1, 1, 1, 1])
    words = [f"w{i}" for i in range(60)]
    out = _embed_dir(
        tmp_path, "words", words, V,
        inputs=[{"path": "/data/corpora/tiny-news.txt", "sha256": None}],
    )  # fmt: skip
    counts = np.round(5_000 / np.arange(1, 61)).astype(int) + 4
    (out / "vocabulary.csv").write_text(
        "word,count\n" + "".join(f"{w},{c}\n" for w, c in zip(words, counts, strict=True))
    )
    page = write_embed_report(out).read_text(encoding="utf-8")
    data = explorer_block(page)
    assert data["colorBy"] == "count"  # not one colour for the whole cloud
    assert data["columns"][0]["log"] is True
    centred = V - V.mean(axis=0)
    share = np.linalg.svd(centred, compute_uv=False) ** 2
    share = share / share.sum()
    assert data["axisTitles"][:2] == [
        f"PC1 of the word vectors ({100 * share[0]:.0f}% of variance)",
        f"PC2 of the word vectors ({100 * share[1]:.0f}% of variance)",
    ]
    assert "<title>Word vectors · tiny-news.txt</title>" in page
    assert "<h1>Word vectors of tiny-news.txt</h1>" in page
    assert "<title>diffembed embed words</title>" not in page


def test_tree_explorer_titles_its_axes(tmp_path: Path) -> None:
    from diffembed.plotting.tree_report import build_tree_report_html

    run = write_outputs(tmp_path / "out", n=120, k=3)
    data = explorer_block(write_report(run).read_text(encoding="utf-8"))
    assert "axisTitles" not in data  # a diffusion map's page: dc1, dc2... say it already
    n = 90
    levels = {"id": np.arange(n), "level_0": np.arange(n), "level_1": np.arange(n) // 30,
              "level_2": np.zeros(n, dtype=np.int64)}  # fmt: skip
    coords = np.random.default_rng(0).normal(size=(n, 3))
    page = build_tree_report_html(levels, coords, {"command": "tree"})
    assert explorer_block(page)["axisTitles"][:2] == [
        "dc1 · diffusion coordinate 1",
        "dc2 · diffusion coordinate 2",
    ]
