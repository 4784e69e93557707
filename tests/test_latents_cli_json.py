"""``--json`` on the ``latents`` commands: one strict JSON object on stdout, logs on stderr."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from typer.testing import CliRunner

from diffembed.cli.app import app
from tests.test_cli_json import check_summary, strict

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("lj") / "model"
    result = run("latents", "train", "--n", 64, "--steps", 3, "--batch-size", 8,
                 "--preview-steps", 0, "--threads", 1, "--json", "-o", out)  # fmt: skip
    return result, out


def test_train_json(trained):
    result, out = trained
    payload = check_summary(result, "latents train", out, ["diffembed.json", "loss.csv"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert payload["results"] == {k: manifest["results"][k] for k in payload["results"]}
    assert payload["results"]["loss_last"] > 0


def test_sample_json(trained, tmp_path):
    _, model = trained
    out = tmp_path / "s"
    result = run("latents", "sample", model, "a red circle", "--n", 2, "--steps", 2, "--json",
                 "-o", out)  # fmt: skip
    payload = check_summary(result, "latents sample", out, ["samples.csv"])
    assert payload["results"]["n_images"] == 2


def test_decode_json_prompt_only(trained, tmp_path):
    _, model = trained
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red circle\na blue square\na green triangle\n", encoding="utf-8")
    out = tmp_path / "d"
    result = run("latents", "decode", model, "--prompts", prompts, "--seeds", 2, "--steps", 2,
                 "--captioner", "none", "--json", "-o", out)  # fmt: skip
    payload = check_summary(result, "latents decode", out, ["hspace.npy", "samples.parquet"])
    assert payload["results"]["n_pairs"] == 0
    assert any("prompt-only run" in w for w in payload["warnings"])


def test_decode_error_under_json(tmp_path):
    result = run("latents", "decode", tmp_path / "missing", "--prompts", tmp_path / "p.txt",
                 "--json", "-o", tmp_path / "o")  # fmt: skip
    assert result.exit_code == 2
    payload = strict(result.stdout)
    assert payload["exit_code"] == 2
    assert payload["error"]


def test_clip_train_json(tmp_path):
    pytest.importorskip("transformers")
    out = tmp_path / "clip"
    result = run("latents", "clip-train", "--n", 128, "--steps", 2, "--batch-size", 32,
                 "--eval-n", 32, "--json", "-o", out)  # fmt: skip
    payload = check_summary(result, "latents clip-train", out, ["config.json", "model.safetensors"])
    assert set(payload["results"]["accuracy"]) == {"shape", "colour", "size", "position"}
    assert all(0 <= v <= 1 for v in payload["results"]["accuracy"].values())
