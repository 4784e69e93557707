"""``diffembed embed …`` end to end: files, manifest, report, atomic failure, errors."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from diffembed.cli.embed import embed_app
from diffembed.embed import KeyedVectors

app = typer.Typer()
app.add_typer(embed_app, name="embed")
runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, ["embed", *[str(a) for a in args]])


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("embed_cli")
    rng = np.random.default_rng(0)
    np.save(d / "table.npy", rng.standard_normal((80, 6)) @ rng.standard_normal((6, 6)))
    animals, money = ["cat", "dog", "horse", "cow"], ["bank", "loan", "cash", "stock"]
    lines = [" ".join(rng.choice(animals if i % 2 else money, 7)) for i in range(200)]
    (d / "corpus.txt").write_text("\n".join(lines) + "\n")
    (d / "docs.txt").write_text("\n".join(lines[:30]) + "\n")
    edges = [(i, j) for i in range(10) for j in range(i + 1, 10) if (i < 5) == (j < 5)]
    edges.append((4, 5))
    (d / "edges.csv").write_text("source,target\n" + "".join(f"{i},{j}\n" for i, j in edges))
    return d


def manifest(out):
    return json.loads((out / "manifest.json").read_text())


def test_pca_writes_vectors_spectrum_manifest_and_report(files, tmp_path):
    out = tmp_path / "pca"
    result = invoke("pca", files / "table.npy", "-o", out, "--n-components", 3)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out / "vectors.parquet")
    assert table.column_names == ["id", "pc1", "pc2", "pc3"]
    m = manifest(out)
    assert m["command"] == "embed pca"
    assert m["inputs"][0]["sha256"]
    fig = m["figures"]["pca_spectrum"]
    assert fig["k"] == [0, 1, 2, 3]
    assert len(fig["reconstruction_error"]) == 4
    assert (out / "spectrum.csv").read_text().startswith("component,singular_value")
    page = (out / "report.html").read_text()
    assert page.count("<figure><svg") == 2
    assert "Reconstruction error" in page
    again = invoke("pca", files / "table.npy", "-o", out, "--n-components", 3)
    assert again.exit_code == 2
    assert "--overwrite" in flat(again.output)


def test_words_then_sentences(files, tmp_path):
    out = tmp_path / "words"
    result = invoke(
        "words", files / "corpus.txt", "-o", out, "--dim", 3, "--window", 2, "--min-count", 1
    )
    assert result.exit_code == 0, result.output
    kv = KeyedVectors.load_word2vec_format(out / "vectors.txt")
    assert len(kv) == 8
    assert kv.similarity("cat", "dog") > kv.similarity("cat", "bank")
    assert pq.read_table(out / "vectors.parquet").column_names == ["id", "v1", "v2", "v3"]
    m = manifest(out)
    assert m["results"]["n_words"] == 8
    assert m["parameters"]["window"] == 2
    assert (out / "vocabulary.csv").read_text().startswith("word,count")
    sent = tmp_path / "sent"
    result = invoke("sentences", out, files / "docs.txt", "-o", sent, "--how", "sif")
    assert result.exit_code == 0, result.output
    assert pq.read_table(sent / "vectors.parquet").num_rows == 30


def test_lsa_and_nodes(files, tmp_path):
    result = invoke("lsa", files / "docs.txt", "-o", tmp_path / "lsa", "--n-components", 2)
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "lsa" / "terms.parquet").num_rows == 8
    out = tmp_path / "nodes"
    result = invoke("nodes", files / "edges.csv", "-o", out, "--dim", 2, "--window", 3)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out / "vectors.parquet")
    assert table.column("id").to_pylist() == [str(i) for i in range(10)]
    assert manifest(out)["results"]["graph"]["n_edges"] == 21
    out2 = tmp_path / "walks"
    result = invoke("nodes", files / "edges.csv", "-o", out2, "--method", "deepwalk", "--dim", 2,
                    "--propagate", 3)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert manifest(out2)["parameters"]["propagate"] == 3


def test_nodes_defaults_are_read_from_the_graph_and_recorded(files, tmp_path):
    """netmf's auto window / negative / propagate: resolved values land in the manifest."""
    out = tmp_path / "auto"
    result = invoke("nodes", files / "edges.csv", "-o", out, "--dim", 2)
    assert result.exit_code == 0, result.output
    params = manifest(out)["parameters"]
    # 10 nodes, 21 edges: the 3-step walks fit (window 3, b = 1), and ⌈100 / (4.2 · 2)⌉ = 12
    # propagation steps
    assert (params["window"], params["negative"]) == (3, 1.0)
    assert (params["propagate"], params["propagate_hops"]) == (12, 2)
    rules = manifest(out)["results"]["auto"]["rules"]
    assert rules["window"]["two_step_walks"] == sum(c * c for c in (4, 4, 4, 4, 4, 4, 4, 4, 5, 5))
    out2 = tmp_path / "given"
    result = invoke("nodes", files / "edges.csv", "-o", out2, "--dim", 2, "--window", 1,
                    "--negative", "2.5", "--propagate", 0)  # fmt: skip
    assert result.exit_code == 0, result.output
    params = manifest(out2)["parameters"]
    assert (params["window"], params["negative"], params["propagate"]) == (1, 2.5, 0)
    out3 = tmp_path / "walks"
    result = invoke("nodes", files / "edges.csv", "-o", out3, "--method", "deepwalk", "--dim", 2)
    assert result.exit_code == 0, result.output
    params = manifest(out3)["parameters"]
    assert (params["window"], params["negative"], params["propagate"]) == (10, 1.0, 0)
    result = invoke("nodes", files / "edges.csv", "-o", tmp_path / "bad", "--window", "two")
    assert result.exit_code == 2
    assert "--window 'two' is neither auto nor an integer" in flat(result.output)
    assert not (tmp_path / "bad").exists()


def test_failures_leave_nothing_and_explain(files, tmp_path):
    out = tmp_path / "bad"
    result = invoke("words", files / "corpus.txt", "-o", out, "--min-count", 1000)
    assert result.exit_code == 2
    assert "Lower min_count" in flat(result.output)
    assert not out.exists()
    result = invoke("nodes", files / "missing.csv", "-o", out)
    assert result.exit_code == 2
    assert "does not exist" in flat(result.output)
    result = invoke("pca", files / "table.npy", "-o", out, "--n-components", 50)
    assert result.exit_code == 2
    assert "--n-components 50 is out of range" in flat(result.output)
    assert not out.exists()
    result = invoke("words", "-o", out)
    assert result.exit_code == 2
    assert "--dataset debian" in flat(result.output)
