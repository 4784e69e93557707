"""The explorer's data block and assets (no browser): encoding, page rows, neighbours, safety."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from diffembed.plotting import build_report_html, write_report
from diffembed.plotting.explorer import (
    MAX_DISTANCE_ENTRIES,
    encode_column,
    explorer_data,
    explorer_rows,
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
