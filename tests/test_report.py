"""The offline HTML report (no browser): content, escaping, sampling, atomic writing, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from diffembed.exceptions import InputError
from diffembed.plotting import build_report_html, read_spectrum, write_report
from diffembed.plotting.interactive import make_coloring, safe_json, sample_indices

from .browser import XSS_LABEL, decode, explorer_block, figures, write_outputs


class _Tags(HTMLParser):
    """Start tags of a page (script contents are raw text to the parser, as to a browser)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if not self.tags or self.tags[-1][0] != "script":
            self.text.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def _points(fig: dict) -> int:
    return sum(len(trace["x"]) for trace in fig["data"])


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_outputs(tmp_path / "out", n=300, k=4, n_nan=7, cluster=True)


def test_report_is_self_contained(run: Path) -> None:
    path = write_report(run)
    assert path == run / "report.html"
    page = path.read_text(encoding="utf-8")
    from plotly.offline import get_plotlyjs

    assert page.count(get_plotlyjs()) == 1  # exactly one inline plotly.js bundle
    tags = _parse(page).tags
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert all("src" not in attrs for attrs in scripts)
    assert [a.get("type") for a in scripts].count(None) == 3  # plotly.js, loader, explorer
    assert not [tag for tag, _ in tags if tag in ("link", "img", "iframe", "object", "embed")]
    assert not re.search(r"<(?:script|link|img)[^>]*\b(?:src|href)\s*=", page, re.I)
    csp = next(a["content"] for t, a in tags if t == "meta" and a.get("http-equiv"))
    assert csp.startswith("default-src 'none'; script-src 'unsafe-eval' 'sha256-")
    assert "'unsafe-inline'" not in csp.split(";")[1]  # injected handlers could not run
    for body in re.findall(r"<script>(.*?)</script>", page, re.S):  # the CSP lets both run
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "<title>Diffusion map · swiss-roll</title>" in page
    assert "bandwidth ε = <b>0.3612</b>" in page
    assert "intrinsic dimension d ≈ <b>1.97</b>" in page
    assert "<b>300</b> points · <b>4</b> coordinates" in page
    assert set(figures(page)) == {"fig-3d", "fig-spectrum"}
    assert 'id="explorer"' in page
    assert explorer_block(page)["n"] == 293
    assert not re.search(r"\son[a-z]+\s*=", page.split("<script", 1)[0])  # no inline handlers


def test_explorer_holds_the_data(run: Path) -> None:
    page = write_report(run).read_text(encoding="utf-8")
    data = explorer_block(page)
    assert data["n"] == data["rows"] == 293  # 7 NaN rows skipped, no neighbours saved
    assert data["coordNames"] == ["dc1", "dc2", "dc3", "dc4"]
    assert decode(data["ids"]).tolist() == list(range(7, 300))
    import pyarrow.parquet as pq

    saved = pq.read_table(run / "embedding.parquet")
    for j, coord in enumerate(data["coords"]):
        expected = saved.column(f"dc{j + 1}").to_numpy()[7:].astype(np.float32)
        np.testing.assert_array_equal(decode(coord), expected)
    assert data["lambdas"] == np.linspace(0.99, 0.4, 4).tolist()
    assert data["t0"] == 1.0
    kind, cluster = data["columns"]
    assert kind["name"] == "kind"
    assert kind["kind"] == "text"
    assert kind["dict"] == [XSS_LABEL, "alpha", "beta", "gamma"]  # raw: the page uses textContent
    assert kind["cats"] == kind["dict"]
    labels = saved.column("kind").to_pylist()[7:]
    assert [kind["dict"][c] for c in decode(kind["codes"])] == labels
    assert cluster["name"] == "cluster"
    assert cluster["dict"] == ["0", "1", "2", "3", "4"]
    assert data["label"] == "kind"
    assert data["colorBy"] == "kind"
    assert data["hover"] == ["kind", "cluster"]
    assert data["neighbors"] is None


def test_figures_hold_the_data(run: Path) -> None:
    figs = figures(write_report(run).read_text(encoding="utf-8"))
    fig3, spec = figs["fig-3d"], figs["fig-spectrum"]
    assert {t["type"] for t in fig3["data"]} == {"scatter3d"}
    assert _points(fig3) == 293  # 7 NaN rows skipped
    names = [t["name"] for t in fig3["data"]]
    assert names == [
        '&lt;/script&gt;&lt;img src=x onerror="window.__xss=1"&gt;',
        "alpha",
        "beta",
        "gamma",
    ]
    menu = fig3["layout"]["updatemenus"][0]
    assert [b["label"] for b in menu["buttons"]] == ["kind", "dc1", "dc2", "dc3", "dc4"]
    dc3 = menu["buttons"][3]["args"][0]
    assert sum(len(c) for c in dc3["marker.color"]) == 293
    first = fig3["data"][0]
    assert first["hovertemplate"].startswith(
        "<b>id</b> %{customdata[0]}<br><b>kind</b> &lt;/script&gt;&lt;img"
    )
    assert "<b>cluster</b> %{customdata[1]}" in first["hovertemplate"]  # varies within the trace
    assert [len(row) for row in first["customdata"][:2]] == [2, 2]
    eigen = spec["data"][0]
    assert eigen["type"] == "scatter"
    assert len(eigen["y"]) == 4
    # eigenvalues crowd below 1: the axis is fitted to them, not started at 0
    low, high = spec["layout"]["yaxis"]["range"]
    assert 0 < low < min(eigen["y"])
    assert high > max(eigen["y"])
    assert spec["data"][1]["yaxis"] == "y2"  # timescales on a secondary axis


def test_nan_rows_are_skipped_and_counted(run: Path) -> None:
    page = write_report(run).read_text(encoding="utf-8")
    assert "7 of 300 points were not embedded (NaN coordinates) and are not shown." in page
    assert explorer_block(page)["n"] == 293


def test_malicious_label_is_escaped(run: Path) -> None:
    page = write_report(run).read_text(encoding="utf-8")
    assert XSS_LABEL not in page
    assert 'onerror="window.__xss=1"' not in page
    assert not [t for t, _ in _parse(page).tags if t == "img"]
    # in the JSON data the label is entity-escaped for plotly, then \u-escaped for the script
    assert "\\u0026lt;/script\\u0026gt;\\u0026lt;img src=x onerror=" in page
    for block in re.findall(r"<script type=\"application/json\"[^>]*>(.*?)</script>", page, re.S):
        assert "<" not in block
        assert ">" not in block
        assert "\u2028" not in block


def test_malicious_column_name_and_path_are_escaped(tmp_path: Path) -> None:
    col = "<b onmouseover=alert(1)>lbl</b>"
    path = "/data/<script>alert(1)</script>.csv"
    out = write_outputs(tmp_path / "out", n=50, label_column=col, labels=["a", "b"] * 25)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["input"] = {"path": path, "dataset": None}
    manifest["parameters"]["note"] = "</td></tr></table><script>alert(2)</script>"
    (out / "manifest.json").write_text(json.dumps(manifest))
    page = write_report(out).read_text(encoding="utf-8")
    for raw in (col, path, "<script>alert(1)", "<script>alert(2)", "<b onmouseover"):
        assert raw not in page
    parsed = _parse(page)
    # store, 2 figures, explorer data; plotly.js, loader, explorer
    assert len([t for t, _ in parsed.tags if t == "script"]) == 4 + 3
    text = "".join(parsed.text)
    assert path in text
    assert col in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in page
    menu = figures(page)["fig-3d"]["layout"]["updatemenus"][0]
    assert menu["buttons"][0]["label"] == "&lt;b onmouseover=alert(1)&gt;lbl&lt;/b&gt;"
    assert explorer_block(page)["columns"][0]["name"] == col  # data; shown with textContent


def test_percent_in_names_cannot_inject_template_fields(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", n=40, label_column="%{x}", labels=["%{y}"] * 40)
    fig = figures(write_report(out).read_text(encoding="utf-8"))["fig-3d"]
    assert "<b>&#37;{x}</b> &#37;{y}<br>" in fig["data"][0]["hovertemplate"]


def test_atomic_write_replaces_whole_file(run: Path, tmp_path: Path) -> None:
    old = run / "report.html"
    old.write_text("OLD REPORT " * 10_000)
    path = write_report(run)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "OLD REPORT" not in page
    assert page.rstrip().endswith("</html>")
    assert sorted(p.name for p in run.iterdir()) == [
        "embedding.parquet",
        "manifest.json",
        "report.html",
        "spectrum.csv",
    ]
    elsewhere = write_report(run, tmp_path / "sub" / "r.html")
    assert elsewhere == tmp_path / "sub" / "r.html"
    assert elsewhere.read_text() == page
    assert "<td>/user/out</td>" in write_report(run, source="/user/out").read_text()


def test_failed_write_keeps_old_report_and_no_temp(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = run / "report.html"
    old.write_text("previous")

    def boom(src: str, dst: str) -> None:
        msg = "disk full"
        raise OSError(msg)

    monkeypatch.setattr("diffembed.io.writers.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_report(run)
    assert old.read_text() == "previous"
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_missing_embedding_is_a_clear_error(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out")
    (out / "embedding.parquet").unlink()
    with pytest.raises(InputError, match=r"embedding\.parquet is missing, .*diffembed map"):
        write_report(out)
    with pytest.raises(
        InputError, match=r"embedding\.parquet is missing \(.*does not exist\).*diffembed map"
    ):
        write_report(tmp_path / "nowhere")
    assert not (out / "report.html").exists()


def test_bad_manifest_and_color_by_errors(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out")
    with pytest.raises(InputError, match=r"color_by='nope'.*'kind'.*'dc1'"):
        write_report(out, color_by="nope")
    (out / "manifest.json").write_text("[1, 2]")
    with pytest.raises(InputError, match=r"manifest\.json is not a valid JSON object"):
        write_report(out)
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match=r"manifest\.json is not a valid JSON object"):
        write_report(out)


def test_missing_spectrum_and_manifest_still_report(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", n=30, k=2, label_column=None)
    (out / "spectrum.csv").unlink()
    (out / "manifest.json").unlink()
    page = write_report(out).read_text(encoding="utf-8")
    assert "No spectrum.csv was saved" in page
    assert "No manifest.json was found" in page
    assert set(figures(page)) == set()  # no 3-D view with two coordinates, no spectrum
    assert explorer_block(page)["t0"] is None  # t cannot be switched without eigenvalues
    assert "The 3-D view needs at least three diffusion coordinates." in page


def test_spectrum_with_inf_and_empty_timescales(tmp_path: Path) -> None:
    text = "component,eigenvalue,timescale\n1,1.0,inf\n2,0.9,\n3,0.5,1.4427\n"
    out = write_outputs(tmp_path / "out", k=3, spectrum=text)
    rows = read_spectrum(out / "spectrum.csv")
    assert rows[0]["timescale"] == float("inf")
    assert np.isnan(rows[1]["timescale"])
    spec = figures(write_report(out).read_text(encoding="utf-8"))["fig-spectrum"]
    assert spec["data"][0]["customdata"][0] == ["1", "∞"]
    assert np.isnan(spec["data"][1]["y"][:2]).all()  # inf and missing timescales are not drawn


def test_numeric_label_gets_a_colour_bar_and_color_by_picks_the_start(tmp_path: Path) -> None:
    t = np.linspace(0, 10, 120)
    out = write_outputs(tmp_path / "out", n=120, label_column="t", labels=t)
    page = write_report(out).read_text(encoding="utf-8")
    fig = figures(page)["fig-3d"]
    assert len(fig["data"]) == 1
    assert fig["data"][0]["marker"]["showscale"] is True
    assert fig["data"][0]["marker"]["colorbar"]["title"]["text"] == "t"
    column = explorer_block(page)["columns"][0]
    assert column["kind"] == "number"
    assert (column["min"], column["max"]) == (0.0, 10.0)
    np.testing.assert_allclose(decode(column["values"]), t.astype(np.float32))
    page = write_report(out, color_by="dc2").read_text(encoding="utf-8")
    fig = figures(page)["fig-3d"]
    assert fig["layout"]["updatemenus"][0]["active"] == 2
    assert fig["data"][0]["marker"]["colorbar"]["title"]["text"] == "dc2"
    assert explorer_block(page)["colorBy"] == "dc2"


def test_cluster_colouring_and_string_ids(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", n=90, label_column=None, cluster=True, string_ids=True)
    page = write_report(out).read_text(encoding="utf-8")
    fig = figures(page)["fig-3d"]
    assert [t["name"] for t in fig["data"]] == ["0", "1", "2", "3", "4"]
    assert fig["data"][0]["customdata"][0][0] == "pt-0"
    data = explorer_block(page)
    assert data["ids"][:2] == ["pt-0", "pt-1"]
    assert data["columns"][0]["cats"] == ["0", "1", "2", "3", "4"]


def test_large_runs_draw_a_stated_seeded_sample(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", n=1000, k=3)
    page = write_report(out, max_points=250).read_text(encoding="utf-8")
    assert "random sample of 250 of the 1,000 embedded points (stratified by kind, seed 0)" in page
    assert explorer_block(page)["n"] == 250
    assert _points(figures(page)["fig-3d"]) == 250
    assert write_report(out, max_points=250).read_text(encoding="utf-8") == page  # reproducible


def test_sampling_and_categories_helpers() -> None:
    codes = np.repeat([0, 1, 2], [900, 90, 10])
    idx = sample_indices(1000, 100, codes, seed=3)
    assert np.all(np.diff(idx) > 0)
    assert np.bincount(codes[idx]).tolist() == [90, 9, 1]
    assert sample_indices(1000, 100, None, seed=3).size == 100
    many = make_coloring("w", np.array([f"w{i % 40}" for i in range(400)] + [None], dtype=object))
    assert len(many.categories) == 20
    assert many.categories[-1] == "(other)"
    assert many.values[-1] == -1


def test_safe_json_and_pure_builder() -> None:
    text = safe_json({"a": "</script><!-- \u2028\u2029 & >", "b": float("nan")})
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert "\u2028" not in text
    assert "\\u2028" in text
    assert json.loads(text)["b"] is None
    cols = {"id": np.arange(5), "dc1": np.linspace(0, 1, 5), "dc2": np.ones(5)}
    page = build_report_html(cols, None, {})
    assert "<b>5</b> points · <b>2</b> coordinates" in page
    with pytest.raises(InputError, match="no diffusion coordinates"):
        build_report_html({"id": np.arange(3)}, None, {})
    page = build_report_html({"dc1": np.arange(4.0)}, [], {"label_column": "gone"})
    assert set(figures(page)) == set()  # K = 1: no 3-D view, empty spectrum
    data = explorer_block(page)
    assert data["coordNames"] == ["dc1"]
    assert data["t0"] is None  # no eigenvalues: the diffusion time cannot be switched


def test_importing_diffembed_plotting_loads_neither_plotly_nor_pyarrow() -> None:
    # scikit-learn imports pandas when it is installed (the `distributed` extra brings it), and
    # pandas imports pyarrow; hide pandas so that only diffembed's own imports are measured.
    code = (
        "import sys; sys.modules['pandas'] = None; "
        "import diffembed, diffembed.plotting; "
        "print(sorted(m for m in ('plotly', 'pyarrow', 'torch', 'dask') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------- degenerate spectrum
DEGENERATE_NOTE = "1 non-trivial eigenvalue(s) equal 1 within 1e-09 on a connected graph"


def _blobs_map(tmp_path: Path, bandwidth: str) -> Path:
    """``diffembed map`` of three Gaussian blobs (a connected kNN graph) at a fixed bandwidth."""
    from sklearn.datasets import make_blobs
    from typer.testing import CliRunner

    from diffembed.cli.app import app

    X, _ = make_blobs(300, centers=3, cluster_std=1.0, random_state=0)
    np.save(tmp_path / "blobs.npy", X)
    out = tmp_path / f"out-{bandwidth}"
    args = ["map", str(tmp_path / "blobs.npy"), "-o", str(out), "--bandwidth", bandwidth,
            "--n-components", "5", "--explorer-neighbors", "0"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_degenerate_spectrum_is_recorded_and_marked_on_the_spectrum_plot(tmp_path: Path) -> None:
    """Issue 19: eigenvalues at 1 within precision on a connected graph are shown, with the fix.

    With bandwidth 0.05 the kernel all but splits the three blobs: the fit warns, the manifest
    records the count, and the report marks the eigenvalue and names the cause and the fix.
    """
    out = _blobs_map(tmp_path, "0.05")
    results = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["results"]
    assert results["n_connected_components"] == 1
    assert results["degenerate_eigenvalues"] == 1
    assert results["degenerate_tolerance"] == 1e-9
    page = (out / "report.html").read_text(encoding="utf-8")
    text = " ".join(" ".join(_parse(page).text).split())
    assert DEGENERATE_NOTE in text
    assert "(marked red on the plot)" in text
    assert "their coordinates (dc1) only say which piece a point is in" in text
    assert "the kernel (bandwidth=0.05) splits the data into nearly separate pieces" in text
    assert "Fix: rerun with --bandwidth auto (the self-tuning kernel) or a larger" in text
    spec = figures(page)["fig-spectrum"]
    marked = [trace for trace in spec["data"] if trace.get("name", "").startswith("λ = 1")]
    assert len(marked) == 1
    assert list(marked[0]["x"]) == ["dc1"]
    assert marked[0]["marker"]["color"] == "#e15759"


def test_clean_spectrum_has_no_degenerate_note(tmp_path: Path) -> None:
    out = _blobs_map(tmp_path, "1.0")
    results = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["results"]
    assert results["degenerate_eigenvalues"] == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "equal 1 within" not in page
    spec = figures(page)["fig-spectrum"]
    assert [trace["name"] for trace in spec["data"]] == ["eigenvalue λ", "timescale −1/log λ"]


def test_degenerate_count_from_the_spectrum_when_the_manifest_has_none(tmp_path: Path) -> None:
    """Outputs written before the manifest recorded the count: the spectrum.csv values decide."""
    text = "component,eigenvalue,timescale\n1,0.9999999999,1e10\n2,1.0,inf\n3,0.5,1.4427\n"
    out = write_outputs(tmp_path / "out", k=3, spectrum=text,
                        manifest={"parameters": {"bandwidth": "adaptive"}})  # fmt: skip
    page = write_report(out).read_text(encoding="utf-8")
    words = " ".join(" ".join(_parse(page).text).split())
    assert "2 non-trivial eigenvalue(s) equal 1 within 1e-09" in words
    assert "Fix: rerun with a larger --n-neighbors" in words
    marked = [t for t in figures(page)["fig-spectrum"]["data"] if t["name"].startswith("λ = 1")]
    assert list(marked[0]["x"]) == ["dc1", "dc2"]


def test_report_of_a_fitted_model_marks_its_degenerate_spectrum(tmp_path: Path) -> None:
    """``de.report`` builds the page from a model in memory: the saved spectrum decides."""
    from sklearn.datasets import make_blobs

    import diffembed as de

    X, _ = make_blobs(300, centers=3, cluster_std=1.0, random_state=0)
    with pytest.warns(UserWarning, match=r"1 non-trivial eigenvalue\(s\) equal 1 within 1e-09"):
        dm = de.DiffusionMap(5, bandwidth=0.05, random_state=0).fit(X)
    page = Path(de.report(dm, tmp_path / "report.html")).read_text(encoding="utf-8")
    words = " ".join(" ".join(_parse(page).text).split())
    assert DEGENERATE_NOTE in words
    assert "the kernel (bandwidth=0.05) splits the data" in words
