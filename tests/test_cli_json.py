"""``--json`` on every command: one JSON object on stdout, every log line on stderr.

The object names the command, the output directory, every output with its size, the timings
per stage and the key figures of the run; an error prints ``{"error": ..., "exit_code": 2}``
on stdout and the human message on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from diffembed.cli.app import app

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def strict(text: str) -> dict:
    """Exactly one line of strict JSON (no NaN / Infinity) and nothing else."""

    def refuse(constant):
        msg = f"invalid JSON constant {constant}"
        raise ValueError(msg)

    lines = text.splitlines()
    assert len(lines) == 1, text
    return json.loads(lines[0], parse_constant=refuse)


def check_summary(result, command: str, out: Path, outputs: list[str]) -> dict:
    assert result.exit_code == 0, result.output
    payload = strict(result.stdout)
    assert payload["command"] == command
    assert payload["output_directory"] == str(out)
    assert payload["exit_code"] == 0
    by_name = {o["name"]: o for o in payload["outputs"]}
    for name in outputs:
        assert name in by_name, sorted(by_name)
        path = Path(by_name[name]["path"])
        assert path == out / name.rstrip("/")
        size = (sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
                if path.is_dir() else path.stat().st_size)
        assert by_name[name]["bytes"] == size > 0
    assert payload["timings"]["total"] > 0
    assert isinstance(payload["warnings"], list)
    assert result.stderr.strip(), "the logs are on stderr"
    assert "{" not in result.stderr.splitlines()[0]
    return payload


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("json")
    rng = np.random.default_rng(0)
    s = np.sort(rng.uniform(0, 3 * np.pi, 150))
    X = np.c_[np.cos(s), np.sin(s), 0.3 * s] + rng.normal(0, 0.05, (150, 3))
    np.save(d / "curve.npy", X)
    animals, money = ["cat", "dog", "horse", "cow"], ["bank", "loan", "cash", "stock"]
    lines = [" ".join(rng.choice(animals if i % 2 else money, 7)) for i in range(200)]
    (d / "corpus.txt").write_text("\n".join(lines) + "\n")
    edges = [(i, j) for i in range(10) for j in range(i + 1, 10) if (i < 5) == (j < 5)]
    edges.append((4, 5))
    (d / "edges.csv").write_text("source,target\n" + "".join(f"{i},{j}\n" for i, j in edges))
    return d


@pytest.fixture(scope="module")
def mapped(data):
    out = data / "map"
    result = run("map", data / "curve.npy", "--n-components", 3, "--json", "-o", out)
    return result, out


def test_map_json_names_outputs_timings_and_spectrum(mapped):
    result, out = mapped
    payload = check_summary(result, "map", out, ["embedding.parquet", "spectrum.csv", "model/",
                                                 "manifest.json", "report.html"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert payload["results"]["eigenvalues"] == pytest.approx(manifest["results"]["eigenvalues"])
    assert len(payload["results"]["eigenvalues"]) == 3
    assert payload["results"]["timescales"] == pytest.approx(manifest["results"]["timescales"])
    assert payload["results"]["n_connected_components"] == 1
    assert {"read", "neighbors", "eigensolve", "write", "report"} <= set(payload["timings"])
    assert payload["timings"] == pytest.approx(manifest["timings"])
    assert "diffusion map of curve.npy" in result.stderr  # the logs, on stderr
    assert "eigenvalues" in result.stderr  # the human summary table too


def test_transform_json(mapped, data, tmp_path):
    _, out = mapped
    result = run("transform", out / "model", data / "curve.npy", "--json", "-o", tmp_path / "t")
    payload = check_summary(result, "transform", tmp_path / "t",
                            ["embedding.parquet", "manifest.json"])
    assert payload["results"] == {"n_samples": 150, "n_features": 3, "t": 1.0, "streamed": False}
    assert "transform" in payload["timings"]


def test_report_and_export_json(mapped):
    _, out = mapped
    result = run("report", out, "--json")
    payload = check_summary(result, "report", out, ["report.html"])
    assert payload["results"]["source_command"] == "map"
    result = run("export", out, "--format", "atlas", "--json")
    payload = check_summary(result, "export", out, ["atlas.parquet"])
    assert payload["results"]["formats"] == ["atlas"]


def test_datasets_json_lists_every_dataset():
    from diffembed.datasets import DATASETS

    result = run("datasets", "--json")
    assert result.exit_code == 0, result.output
    payload = strict(result.stdout)
    assert [d["name"] for d in payload["datasets"]] == list(DATASETS)
    assert payload["exit_code"] == 0


def test_tree_json_has_levels(tmp_path):
    out = tmp_path / "tree"
    result = run("tree", "--dataset", "swiss-roll", "--n-samples", 150, "--n-null", 0,
                 "--no-report", "--json", "-o", out)
    payload = check_summary(result, "tree", out, ["levels.parquet", "linkage.npy",
                                                  "nodes.parquet", "coordinates.npy"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert payload["results"]["n_levels"] == manifest["results"]["n_levels"] > 1
    assert "report.html" not in {o["name"] for o in payload["outputs"]}


@pytest.mark.parametrize(
    ("recipe", "args", "outputs"),
    [
        ("pca", ["curve.npy", "--n-components", "2"], ["vectors.parquet", "spectrum.csv"]),
        ("words", ["corpus.txt", "--dim", "3", "--window", "2", "--min-count", "1"],
         ["vectors.parquet", "vectors.txt", "vocabulary.csv"]),
        ("nodes", ["edges.csv", "--dim", "2"], ["vectors.parquet"]),
        ("lsa", ["corpus.txt", "--n-components", "2"], ["vectors.parquet"]),
    ],
)
def test_embed_json(data, tmp_path, recipe, args, outputs):
    out = tmp_path / recipe
    argv = [data / a if (data / a).is_file() else a for a in args]
    result = run("embed", recipe, *argv, "--json", "-o", out)
    payload = check_summary(result, f"embed {recipe}", out,
                            [*outputs, "manifest.json", "report.html"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert payload["results"] == json.loads(json.dumps(manifest["results"]))


def test_embed_words_evaluate_scores_are_in_the_json(data, tmp_path):
    out = tmp_path / "w"
    result = run("embed", "words", data / "corpus.txt", "--dim", 3, "--window", 2,
                 "--min-count", 1, "--evaluate", "--no-report", "--json", "-o", out)
    payload = check_summary(result, "embed words", out, ["vectors.parquet"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert payload["results"].get("evaluation", {}) == manifest["evaluation"]
    # the sets not found are skipped with a warning, which the JSON lists too
    skipped = [w for w in payload["warnings"] if "skipped" in w]
    assert len(skipped) == 3 - len(manifest["evaluation"])


def test_embed_sentences_json(data, tmp_path):
    words = tmp_path / "w"
    result = run("embed", "words", data / "corpus.txt", "--dim", 3, "--window", 2,
                 "--min-count", 1, "--no-report", "-o", words)
    assert result.exit_code == 0, result.output
    out = tmp_path / "s"
    result = run("embed", "sentences", words, data / "corpus.txt", "--no-report", "--json",
                 "-o", out)
    payload = check_summary(result, "embed sentences", out, ["vectors.parquet"])
    assert payload["results"] == {"n_sentences": 200, "dim": 3}


def test_stability_json(tmp_path):
    rng = np.random.default_rng(0)
    topics, fill = ["ant", "bee", "cow", "doe", "elk", "fox"], ["the", "a", "of", "and"]
    lines = [" ".join(topics[i % 6] + "abcdefghijklmnop"[j] if rng.random() < 0.6
                      else fill[j % 4] for j in rng.integers(0, 16, 10)) for i in range(700)]
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(lines) + "\n")
    out = tmp_path / "s"
    result = run("stability", corpus, "--runs", 2, "--dim", 4, "--graph", "knn", "--no-sweep",
                 "--no-own-knn", "--no-report", "--json", "-o", out)
    payload = check_summary(result, "stability", out, ["metrics.csv", "words.parquet"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert payload["results"]["summary"] == manifest["results"]["summary"]  # same JSON floats
    assert 0 < payload["results"]["summary"]["raw_overlap@10"] <= 1
    assert "raw: overlap@10" in result.stderr


def test_error_under_json_is_a_json_object_and_exit_2(tmp_path):
    result = run("map", tmp_path / "missing.csv", "--json", "-o", tmp_path / "o")
    assert result.exit_code == 2
    payload = strict(result.stdout)
    assert payload["exit_code"] == 2
    assert "missing.csv does not exist" in payload["error"]
    assert "error: " in result.stderr
    assert "missing.csv does not exist" in result.stderr
    assert not (tmp_path / "o").exists()


def test_bad_option_value_under_json_is_a_json_object(tmp_path):
    result = run("map", "--dataset", "swiss-roll", "--random-state", -1, "--json",
                 "-o", tmp_path / "o")
    assert result.exit_code == 2
    payload = strict(result.stdout)
    assert payload["exit_code"] == 2
    assert "is not a seed" in payload["error"]
    result = run("embed", "pca", tmp_path / "none.npy", "--json", "-o", tmp_path / "p")
    assert result.exit_code == 2
    assert "does not exist" in strict(result.stdout)["error"]


def test_without_json_stdout_stays_empty(mapped, data, tmp_path):
    _, out = mapped
    result = run("transform", out / "model", data / "curve.npy", "-o", tmp_path / "t")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "wrote" in result.stderr
