"""``diffembed report OUT/`` rebuilds the page of whichever command wrote OUT (map, tree, embed)."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from diffembed.cli.app import app

runner = CliRunner()


def test_report_rebuilds_an_embed_output(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "table.npy", rng.standard_normal((60, 5)))
    out = tmp_path / "pca"
    result = runner.invoke(app, ["embed", "pca", str(tmp_path / "table.npy"), "-o", str(out),
                                 "--n-components", "3"])
    assert result.exit_code == 0, result.output
    page = out / "report.html"
    page.unlink()
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert text.count("<figure><svg") == 2  # spectrum + reconstruction error, as `embed pca` wrote
    assert "embedding.parquet" not in result.output  # not mistaken for a map output


def test_report_on_a_directory_of_nothing_says_what_it_expects(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code != 0
    assert "not an output directory of `diffembed map`" in " ".join(result.output.split())


def test_report_rebuilds_a_stability_output(tmp_path):
    rng = np.random.default_rng(0)
    topics = ["ani", "veh", "foo", "col", "wea", "mus"]
    lines = [
        " ".join(topics[t] + "abcdefghijklmnop"[j] for j in rng.integers(0, 16, 10))
        for t in rng.integers(0, 6, 700)
    ]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "stab"
    args = ["stability", str(corpus), "--runs", "2", "--dim", "4", "--max-vocab", "120", "-o",
            str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    page = out / "report.html"
    first = page.read_text(encoding="utf-8")
    page.unlink()
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert "embedding.parquet" not in result.output  # not mistaken for a map output
    rebuilt = page.read_text(encoding="utf-8")
    assert "Explorer of the smoothed word vectors" in rebuilt
    assert rebuilt.count("<h2>") == first.count("<h2>")  # the same cards as the command wrote
