"""Plots from Python: de.plot.embedding / spectrum, the estimators' _repr_html_, de.report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_swiss_roll

import diffembed as de
from diffembed.embed import KeyedVectors
from diffembed.exceptions import InputError

pytest.importorskip("plotly")

HOSTILE = "</script><img src=x onerror=alert(1)>%{x}"


@pytest.fixture(scope="module")
def data():
    X, t = make_swiss_roll(300, random_state=0)
    return X, t


@pytest.fixture(scope="module")
def dm(data):
    return de.DiffusionMap(n_components=4, random_state=0).fit(data[0])


def _n_points(fig) -> int:
    return sum(len(trace.x) for trace in fig.data)


def test_embedding_of_a_diffusion_map_passes_colour_and_hover(dm, data):
    X, t = data
    names = [f"point {i}" for i in range(len(X))]
    fig = de.plot.embedding(dm, color=t, hover={"name": names})
    assert len(fig.data) == 1
    assert _n_points(fig) == 300
    trace = fig.data[0]
    np.testing.assert_array_equal(trace.x, dm.embedding_[:, 0])
    np.testing.assert_array_equal(trace.y, dm.embedding_[:, 1])
    np.testing.assert_allclose(trace.marker.color, t)
    assert trace.marker.showscale is True
    assert trace.customdata[7][1] == "point 7"
    assert "name: %{customdata[1]}" in trace.hovertemplate
    # categories: one legend entry each, points split between them
    fig = de.plot.embedding(dm, color=np.where(t > 9, "outer", "inner"), dims=(0, 1, 2))
    assert [tr.name for tr in fig.data] == ["inner", "outer"]
    assert [len(tr.x) for tr in fig.data] == [int((t <= 9).sum()), int((t > 9).sum())]
    assert type(fig.data[0]).__name__ == "Scatter3d"
    fig = de.plot.embedding(dm, color="dc3", dims=(1, 2))
    np.testing.assert_array_equal(fig.data[0].marker.color, dm.embedding_[:, 2])
    np.testing.assert_array_equal(fig.data[0].x, dm.embedding_[:, 1])


def test_embedding_of_vectors_arrays_and_a_hierarchy():
    rng = np.random.default_rng(0)
    kv = KeyedVectors([f"w{i}" for i in range(50)], rng.normal(size=(50, 3)))
    fig = de.plot.embedding(kv)
    assert _n_points(fig) == 50
    assert fig.data[0].customdata[4][0] == "w4"  # the key is in the hover
    assert _n_points(de.plot.embedding(rng.normal(size=(20, 2)))) == 20
    X = np.vstack([rng.normal(c, 0.3, (40, 2)) for c in (0, 5)])
    h = de.DiffusionHierarchy(n_null=0, random_state=0).fit(X)
    labels = h.cut(n_clusters=2)
    fig = de.plot.embedding(h, color=labels)
    assert len(fig.data) == 2
    assert sorted(len(tr.x) for tr in fig.data) == [40, 40]


def test_hostile_strings_are_escaped_in_figures(dm):
    n = dm.embedding_.shape[0]
    labels = np.array([HOSTILE] * (n - 1) + ["ok"], dtype=object)
    fig = de.plot.embedding(dm, color=labels, hover={HOSTILE: labels}, title=HOSTILE)
    dumped = fig.to_json()
    assert "<img" not in dumped
    assert "%{x}" not in json.loads(dumped)["layout"]["title"]["text"]
    names = [tr.name for tr in fig.data]
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&#37;{x}" in names
    assert fig.data[0].customdata[0][0].startswith("&lt;/script&gt;")


def test_bad_arguments_name_the_fix(dm):
    with pytest.raises(InputError, match=r"dims=\(0, 7\) must be 2 or 3 distinct column numbers"):
        de.plot.embedding(dm, dims=(0, 7))
    with pytest.raises(InputError, match="color has 3 values for 300 points"):
        de.plot.embedding(dm, color=[1, 2, 3])
    with pytest.raises(InputError, match="color='cell_type' names no column"):
        de.plot.embedding(dm, color="cell_type")
    with pytest.raises(InputError, match="has no embedding_ to plot: fit it first"):
        de.plot.embedding(de.DiffusionMap())
    with pytest.raises(InputError, match="has no eigenvalues_: fit it first"):
        de.plot.spectrum(de.DiffusionMap())


def test_spectrum_marks_the_trivial_eigenvalue_and_timescales(dm):
    fig = de.plot.spectrum(dm)
    trivial, kept = fig.data
    assert list(trivial.x) == [0]
    assert list(trivial.y) == [1.0]
    assert trivial.marker.symbol == "star"
    assert "trivial" in trivial.name
    np.testing.assert_array_equal(kept.y, dm.eigenvalues_)
    assert list(kept.x) == [1, 2, 3, 4]
    tau = -1 / np.log(dm.eigenvalues_)
    assert list(kept.customdata) == [f"{v:.4g}" for v in tau]
    assert "timescale" in kept.hovertemplate
    fig = de.plot.spectrum([0.9, 0.5])
    assert list(fig.data[1].customdata) == [f"{-1 / np.log(0.9):.4g}", f"{-1 / np.log(0.5):.4g}"]


def test_repr_html_shows_sizes_spectrum_and_parameters(dm):
    page = dm._repr_html_()
    assert "DiffusionMap</b> <span style='color:#7b8794'>fitted" in page
    for value in dm.eigenvalues_:
        assert f"{value:.6g}" in page
    assert "<td>300</td>" in page  # points
    assert "n_components" in page
    bundle = dm._repr_mimebundle_()
    assert bundle["text/html"] == page
    assert "not fitted" in de.DiffusionMap()._repr_html_()


def test_repr_html_escapes_hostile_names():
    nx = pytest.importorskip("networkx")
    G = nx.cycle_graph(12)
    G = nx.relabel_nodes(G, {0: HOSTILE})
    h = de.DiffusionHierarchy(affinity="precomputed", n_null=0, random_state=0).fit(G)
    page = h._repr_html_()
    assert "<img" not in page
    assert "<script" not in page.replace("</script>", "")
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    sm = de.DiffusionSmoother(metric=HOSTILE)
    assert "&lt;img src=x" in sm._repr_html_()
    assert "<img" not in sm._repr_html_()


def test_report_writes_the_explorer_with_the_data(dm, data, tmp_path):
    X, t = data
    labels = np.where(t > 9, "outer", HOSTILE)
    path = de.report(dm, tmp_path / "sub" / "report.html", color=labels, X=X)
    assert path == tmp_path / "sub" / "report.html"
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    assert "<img src=x" not in page
    assert "</script><img" not in page
    assert "outer" in page
    for value in dm.eigenvalues_:
        assert repr(float(value)) in page  # the spectrum travels with the page
    assert not list(tmp_path.joinpath("sub").glob(".*.tmp"))  # written atomically
    assert "Content-Security-Policy" in page
    from diffembed.plotting.api import report_inputs

    parts = report_inputs(dm, color=labels, X=X)
    assert parts["neighbors"].shape == (300, 10)
    D = np.linalg.norm(X[:, None, :] - X[None, :, :], axis=2)
    np.fill_diagonal(D, np.inf)
    np.testing.assert_array_equal(parts["neighbors"], np.argsort(D, axis=1, kind="stable")[:, :10])
    np.testing.assert_allclose(parts["neighbor_distances"], np.sort(D, axis=1)[:, :10], rtol=1e-6)
    np.testing.assert_array_equal(parts["embedding"]["dc2"], dm.embedding_[:, 1])
    assert parts["manifest"]["label_column"] == "color"
    assert parts["manifest"]["results"]["bandwidth"] == pytest.approx(dm.bandwidth_)
    assert [r["eigenvalue"] for r in parts["spectrum"]] == dm.eigenvalues_.tolist()


def test_report_of_vectors_and_anndata(tmp_path):
    rng = np.random.default_rng(1)
    kv = KeyedVectors([f"k{i}" for i in range(30)], rng.normal(size=(30, 3)))
    page = de.report(kv, tmp_path / "kv.html").read_text(encoding="utf-8")
    assert "k29" in page
    anndata = pytest.importorskip("anndata")
    ad = anndata.AnnData(rng.normal(size=(25, 4)))
    ad.obsm["X_diffmap"] = rng.normal(size=(25, 3))
    ad.obs["cell_type"] = ["T cell"] * 20 + ["B cell"] * 5
    fig = de.plot.embedding(ad, color="cell_type")
    assert sorted(len(tr.x) for tr in fig.data) == [5, 20]
    page = de.report(ad, tmp_path / "ad.html", color="cell_type").read_text(encoding="utf-8")
    assert "B cell" in page
    with pytest.raises(InputError, match=r"has no obsm\['X_tsne'\]"):
        de.plot.embedding(ad, basis="X_tsne")


@pytest.mark.browser
def test_report_page_works_in_chromium(dm, data, tmp_path):
    """The page de.report writes runs in headless chromium: drawn, no error, no request, no XSS."""
    from .browser import XSS_LABEL, chromium_or_skip, open_page

    chromium_or_skip()
    X, t = data
    labels = np.where(t > 9, "outer", XSS_LABEL)
    path = de.report(dm, tmp_path / "report.html", color=labels, X=X)
    with open_page(path) as (page, log):
        page.wait_for_function(
            "() => document.getElementById('explorer').dataset.ready", timeout=25_000
        )
        drawn = page.evaluate("() => document.getElementById('ex-plot').data[0].x.length")
        assert drawn == 300
        chips = page.locator("#ex-legend .ex-chip .nm").all_text_contents()
        assert sorted(chips) == sorted([XSS_LABEL, "outer"])  # shown as typed
        assert page.evaluate("() => document.querySelectorAll('img').length") == 0
        assert page.evaluate("() => typeof window.__xss") == "undefined"
        page.wait_for_timeout(100)
        assert log.errors == []
        assert log.requests == []
