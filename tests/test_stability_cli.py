"""``diffembed stability`` on a small synthetic corpus: files, report, honesty line, errors."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from diffembed.cli.app import app
from diffembed.plotting.stability_report import read_stability_outputs, write_stability_report
from diffembed.smoothing import protocol

LETTERS = "abcdefghijklmnop"
TOPICS = ["ani", "veh", "foo", "col", "wea", "mus"]


def word(topic: str, i: int) -> str:
    return topic + LETTERS[i]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    fill = ["the", "a", "of", "and", "to", "is"]
    lines = []
    for _ in range(700):
        topic = TOPICS[rng.integers(6)]
        toks = [
            word(topic, j) if rng.random() < 0.6 else fill[rng.integers(6)]
            for j in rng.integers(0, 16, 10)
        ]
        lines.append(" ".join(toks))
    root = tmp_path_factory.mktemp("stab")
    path = root / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    lex = root / "lex.txt"
    lex.write_text("\n".join(" ".join(word(t, i) for i in range(8)) for t in TOPICS) + "\n")
    return path, lex


def invoke(*args: str):
    return CliRunner().invoke(app, ["stability", *args])


def test_stability_command_writes_tables_report_and_honest_summary(corpus, tmp_path):
    path, lex = corpus
    out = tmp_path / "out"
    res = invoke(
        str(path),
        "--runs",
        "3",
        "--dim",
        "6",
        "--max-vocab",
        "120",
        "--lexicon",
        str(lex),
        "-o",
        str(out),
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "metrics.csv",
        "overlap_at_k.csv",
        "report.html",
        "sweep.csv",
        "vectors_raw.parquet",
        "vectors_smoothed.parquet",
        "words.parquet",
    ]
    with open(out / "metrics.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["method"] for r in rows] == ["raw", "smoothed", "own kNN (honesty check)"]
    assert {
        "overlap@10",
        "jaccard@10",
        "eis",
        "procrustes",
        "effective_rank",
        "mean_cosine",
        "fidelity@10",
        "delta_overlap@10",
    } <= set(rows[0])
    assert float(rows[0]["fidelity@10"]) == 1.0
    # the lexicon (a shared graph) makes the runs agree more on this corpus
    assert float(rows[1]["overlap@10"]) > float(rows[0]["overlap@10"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "stability"
    assert manifest["results"]["graph"]["n_edges"] == 6 * 7  # first word linked to the rest
    assert manifest["results"]["graph"]["n_pairs_skipped"] == 0
    summary = manifest["results"]["summary"]
    assert summary["own_knn"]["delta_overlap@10"] == pytest.approx(
        float(rows[2]["overlap@10"]) - float(rows[0]["overlap@10"])
    )
    # the printed summary states the own-kNN change as a measurement
    line = next(ln for ln in res.output.splitlines() if ln.startswith("own kNN"))
    assert re.search(r"overlap@10 \d\.\d{3} \([+-]\d\.\d{3}\)", line)
    with open(out / "sweep.csv", encoding="utf-8") as fh:
        sweep = list(csv.DictReader(fh))
    assert [float(r["alpha"]) for r in sweep] == list(protocol.SWEEP_ALPHA)
    # per word: its overlap averages to the table's (an independent path: evaluate_runs)
    import pyarrow.parquet as pq

    words = pq.read_table(out / "words.parquet").to_pydict()
    n = manifest["results"]["n_shared_words"]
    assert words["rank"] == list(range(1, n + 1))
    assert np.mean(words["overlap@10_raw"]) == pytest.approx(float(rows[0]["overlap@10"]))
    assert np.mean(words["overlap@10_smoothed"]) == pytest.approx(float(rows[1]["overlap@10"]))
    np.testing.assert_allclose(
        words["delta_overlap@10"],
        np.subtract(words["overlap@10_smoothed"], words["overlap@10_raw"]),
    )
    assert np.mean(words["kept@10"]) == pytest.approx(float(rows[1]["fidelity@10"]), abs=0.15)
    assert sum(words["graph_degree"]) == 2 * manifest["results"]["graph"]["n_edges"]
    vec = pq.read_table(out / "vectors_raw.parquet")
    assert vec.column_names == ["id", *(f"v{j}" for j in range(1, 7))]
    assert vec.column("id").to_pylist() == words["id"]
    V = np.column_stack([vec.column(f"v{j}").to_numpy() for j in range(1, 7)])
    np.testing.assert_allclose(np.linalg.norm(V, axis=1), 1.0, rtol=1e-5)
    assert set(manifest["outputs"]) >= {"words.parquet", "vectors_smoothed.parquet"}
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="de-explorer"' in html  # the smoothed vectors' explorer
    assert 'id="de-explorer-ex2"' in html  # and the raw one
    assert "Own-kNN smoothing changed NN-overlap@10 by" in html
    assert 'data-plot="fig-k"' in html
    assert 'data-plot="fig-sweep"' in html
    assert "http://" not in html.split("<script>")[0]


def test_report_escapes_user_strings_and_needs_metrics(corpus, tmp_path):
    path, _lex = corpus
    out = tmp_path / "o"
    assert (
        invoke(
            str(path),
            "--runs",
            "2",
            "--dim",
            "4",
            "--max-vocab",
            "80",
            "--no-sweep",
            "--no-own-knn",
            "--graph",
            "knn",
            "-o",
            str(out),
        ).exit_code
        == 0
    )
    data = read_stability_outputs(out)
    assert [r["method"] for r in data["metrics"]] == ["raw", "smoothed"]
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["input"]["path"] = "<img src=x onerror=alert(1)>.txt"
    (out / "manifest.json").write_text(json.dumps(manifest))
    page = write_stability_report(out).read_text(encoding="utf-8")
    assert "<img src=x" not in page
    assert "&lt;img src=x" in page
    assert "Own-kNN smoothing changed" in page  # graph=knn: the smoothed row is the own graph
    assert 'id="de-explorer"' in page
    (out / "words.parquet").unlink()  # a run from before the explorer: the page says so
    page = write_stability_report(out).read_text(encoding="utf-8")
    assert 'id="de-explorer"' not in page
    assert "rerun `diffembed stability` to explore its words" in page
    with pytest.raises(Exception, match=r"metrics\.csv is missing"):
        read_stability_outputs(tmp_path / "nothing")


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--runs", "1"], r"--runs 1 is too few"),
        (["--perturb", "shuffle"], r"--perturb 'shuffle' is not supported"),
        (["--graph", "magic"], r"--graph 'magic' is not supported"),
        (["--alpha", "0"], r"--alpha: alpha=0.0 is out of range"),
        (["--operator", "heat", "--time", "-1"], r"--time: t=-1.0 is out of range"),
        (["--graph", "knn", "--lexicon", "x.txt"], r"--lexicon is used with --graph lexicon"),
    ],
)
def test_bad_options_exit_2_with_the_fix(corpus, tmp_path, args, pattern):
    path, _ = corpus
    res = invoke(str(path), "-o", str(tmp_path / "bad"), *args)
    assert res.exit_code == 2
    assert re.search(pattern, " ".join(res.output.split())), res.output
    assert not (tmp_path / "bad").exists()


def test_missing_corpus_and_tiny_shared_vocabulary(tmp_path):
    res = invoke(str(tmp_path / "none.txt"), "-o", str(tmp_path / "o"))
    assert res.exit_code == 2
    assert "does not exist" in res.output
    small = tmp_path / "small.txt"
    small.write_text("alpha beta gamma\nbeta gamma delta\n")
    res = invoke(str(small), "--dim", "2", "-o", str(tmp_path / "o2"))
    assert res.exit_code == 2
    assert "share only" in " ".join(res.output.split())


def test_perturbations_are_seeded_and_shaped():
    segs = [f"w{i} x{i} y{i} z{i}" for i in range(50)]
    a = protocol.perturb_segments(segs, "bootstrap", np.random.default_rng(1))
    b = protocol.perturb_segments(segs, "bootstrap", np.random.default_rng(1))
    assert a == b
    assert len(a) == 50
    assert len(set(a)) < 50
    s = protocol.perturb_segments(segs, "swap", np.random.default_rng(1), swap_rate=0.5)
    assert [sorted(x.split()) for x in s] == [sorted(x.split()) for x in segs]
    assert s != segs
    assert protocol.perturb_segments(segs, "seed", np.random.default_rng(1)) == segs


@pytest.mark.browser
def test_report_draws_both_plots_offline_in_chromium(corpus, tmp_path):
    from .browser import chromium_or_skip, open_page

    chromium_or_skip()
    path, lex = corpus
    out = tmp_path / "b"
    res = invoke(str(path), "--runs", "2", "--dim", "6", "--max-vocab", "120",
                 "--lexicon", str(lex), "-o", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    drawn = """() => ["fig-k", "fig-sweep"].map((id) => {
      const gd = document.getElementById(id);
      return gd && gd.classList.contains("js-plotly-plot") ? gd.data.length : 0; })"""
    with open_page(out / "report.html") as (page, log):
        page.wait_for_function("() => window.diffembedExplorers?.['ex2-'] !== undefined")
        for fig in ("#fig-k", "#fig-sweep"):  # drawn when near the viewport, below the explorers
            page.locator(fig).scroll_into_view_if_needed()
        page.wait_for_function(f"() => ({drawn})().every((n) => n > 0)", timeout=25_000)
        counts = page.evaluate(drawn)
        page.screenshot(path=str(tmp_path / "stability.png"), full_page=True)
    assert counts == [3, 1]  # 3 methods against k; the sweep: overlap only (no WS353 words)
    assert log.errors == []
    assert log.requests == []
