"""``decode`` on a diffusers pipeline folder: a tiny random Stable Diffusion saved as safetensors.

End to end through the CLI with ``--captioner none`` (prompt-only) and with a stand-in for the
CLIP captioner (``clip:DIR``); device / dtype / reduce / captioner validation messages; weights
load from safetensors only (a pickle beside them is never opened).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
import types
from typing import ClassVar

import numpy as np
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from diffembed.cli.app import app  # noqa: E402
from diffembed.exceptions import InputError  # noqa: E402
from diffembed.latents.hspace import extract_hspace, parse_reduce  # noqa: E402
from diffembed.latents.pipelines import resolve_device, resolve_dtype  # noqa: E402
from diffembed.latents.streaming import read_png  # noqa: E402

from .test_latents_hspace import tiny_sd_pipeline, tiny_unet  # noqa: E402

runner = CliRunner()
PROMPTS = ["a red cube", "a green ball", "a blue cone"]


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    """A tiny random StableDiffusionPipeline saved with safetensors, and a prompts file."""
    directory = tmp_path_factory.mktemp("sd")
    pipe = tiny_sd_pipeline(directory)
    pipe.save_pretrained(directory / "pipe")  # safetensors by default
    assert list((directory / "pipe" / "unet").glob("*.safetensors"))
    prompts = directory / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    return directory / "pipe", prompts


def decode(folder, prompts, out, *extra):
    args = ["latents", "decode", str(folder), "--prompts", str(prompts), "-o", str(out),
            "--seeds", "2", "--steps", "3", "--permutations", "50", *map(str, extra)]  # fmt: skip
    return runner.invoke(app, args)


def test_sd_folder_prompt_only_end_to_end(sd_folder, tmp_path):
    folder, prompts = sd_folder
    out = tmp_path / "out"
    r = decode(folder, prompts, out, "--captioner", "none", "--batch-size", 4)
    assert r.exit_code == 0, r.output
    assert {p.name for p in out.iterdir()} == {
        "hspace.npy", "samples.parquet", "samples.png", "manifest.json", "images", "words.csv",
        "concepts.csv",
    }
    decoded = pv.read_csv(out / "words.csv").to_pylist()
    assert decoded
    assert {r["source"] for r in decoded} == {"prompts"}  # no captions: prompts only
    h = np.load(out / "hspace.npy")
    assert h.shape == (6, 3, 16 * 2 * 2)  # 3 prompts × 2 seeds, 3 timesteps, 16 channels × 2 × 2
    samples = pq.read_table(out / "samples.parquet").to_pydict()
    assert samples["prompt"] == [p for p in PROMPTS for _ in range(2)]
    assert samples["seed"] == [0, 1] * 3
    assert samples["prompt_id"] == [0, 0, 1, 1, 2, 2]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["input"]["model_kind"] == "pipeline"
    assert manifest["parameters"]["device_used"] == "cpu"
    assert manifest["results"]["captioner"] == "none"
    assert "prompt-only run (no captioner)" in flat(r.output)
    # streamed batch by batch = generated all at once in memory (same h, same images)
    ref = extract_hspace(folder, PROMPTS, seeds=2, num_inference_steps=3, guidance_scale=3.0)
    np.testing.assert_allclose(h, ref.h, rtol=1e-4, atol=1e-5)
    for i in range(6):
        png = read_png(out / "images" / f"{i:06d}.png").astype(int)
        want = (ref.images[i].transpose(1, 2, 0) * 255 + 0.5).astype(int)
        assert png.shape == (16, 16, 3)
        assert np.abs(png - want).max() <= 1
    assert (out / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class StandInCaptioner:
    """Stands in for ``ClipCaptioner(dir, vocabulary=, device=, dtype=)``: scores from pixels."""

    calls: ClassVar[list[dict]] = []
    batches: ClassVar[list[int]] = []

    def __init__(self, directory, *, vocabulary=None, device="cpu", dtype="float32"):
        StandInCaptioner.calls.append(
            {"dir": directory, "vocabulary": vocabulary, "device": device, "dtype": dtype}
        )
        self.name = f"clip:{directory}"
        with open(vocabulary, encoding="utf-8") as handle:
            words = json.load(handle)
        self.families = {k: list(v) for k, v in words.items()}

    def predict_proba(self, images):
        StandInCaptioner.batches.append(len(images))
        out = {}
        for j, (family, values) in enumerate(self.families.items()):
            # a pseudo-random but deterministic word per image, from its pixels
            pick = (np.floor(images.reshape(len(images), -1).sum(1) * 997) + j) % len(values)
            out[family] = np.eye(len(values))[pick.astype(int)]
        return out


def test_sd_folder_with_a_stand_in_clip_captioner(sd_folder, tmp_path, monkeypatch):
    folder, prompts = sd_folder
    fake = types.ModuleType("diffembed.latents.clip")
    fake.ClipCaptioner = StandInCaptioner
    monkeypatch.setitem(sys.modules, "diffembed.latents.clip", fake)
    StandInCaptioner.calls, StandInCaptioner.batches = [], []
    vocab = tmp_path / "attributes.json"
    families = {"colour": ["red", "green", "blue"], "shape": ["cube", "ball", "cone"]}
    vocab.write_text(json.dumps(families), encoding="utf-8")
    clip_dir = tmp_path / "clip"
    clip_dir.mkdir()
    out = tmp_path / "out"
    r = decode(folder, prompts, out, "--captioner", f"clip:{clip_dir}", "--vocabulary", vocab,
               "--batch-size", 2, "--no-report")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert StandInCaptioner.calls == [
        {"dir": str(clip_dir), "vocabulary": str(vocab), "device": "cpu", "dtype": "float32"}
    ]
    assert StandInCaptioner.batches == [2, 2, 2]  # run per batch: never all images at once
    samples = pq.read_table(out / "samples.parquet").to_pydict()
    assert list(samples) == ["prompt", "seed", "prompt_id", "caption", "colour", "shape"]
    pairs = zip(samples["colour"], samples["shape"], strict=True)
    assert samples["caption"] == [f"{a} {b}" for a, b in pairs]
    assert set(samples["shape"]) <= {"cube", "ball", "cone"}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["results"]["captioner"] == f"clip:{clip_dir}"
    assert manifest["results"]["families"] == families  # from the captioner, not the model
    assert manifest["parameters"]["vocabulary"] == str(vocab)
    assert (out / "associations.csv").is_file()
    header = (out / "associations.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("concept,attribute,effect,p_value,q_value")


def test_reduce_flatten_and_pool_in_the_cli(sd_folder, tmp_path):
    folder, prompts = sd_folder
    shapes = {}
    for how in ("flatten", "pool:2", "pool:1"):
        out = tmp_path / how.replace(":", "")
        r = decode(folder, prompts, out, "--captioner", "none", "--reduce", how,
                   "--timesteps", "67")  # fmt: skip
        assert r.exit_code == 0, r.output
        shapes[how] = np.load(out / "hspace.npy")
        assert json.loads((out / "manifest.json").read_text())["parameters"]["reduce"] == how
    assert shapes["flatten"].shape == (6, 1, 16 * 4 * 4)  # the 4 × 4 mid-block map, whole
    assert shapes["pool:2"].shape == (6, 1, 16 * 2 * 2)
    # pool:2 = the mean of each 2 × 2 quarter of the flattened map
    full = shapes["flatten"].reshape(6, 16, 4, 4)
    quarters = full.reshape(6, 16, 2, 2, 2, 2).mean(axis=(3, 5)).reshape(6, 1, -1)
    np.testing.assert_allclose(shapes["pool:2"], quarters, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(shapes["pool:1"][:, 0], full.mean(axis=(2, 3)), rtol=1e-5,
                               atol=1e-6)  # fmt: skip
    assert parse_reduce("pool:3") == ("pool", 3)
    with pytest.raises(InputError, match=r"reduce='pool:0' is not valid.*pool:K"):
        parse_reduce("pool:0")


def test_option_messages(sd_folder, tmp_path):
    folder, prompts = sd_folder
    cases = [
        (("--dtype", "float16", "--device", "cpu"),
         "--dtype float16 on the CPU is refused"),
        (("--dtype", "float64"), "--dtype 'float64' is not valid: choose float32, float16"),
        (("--device", "tpu"), "--device 'tpu' is not valid: choose auto, cpu, cuda or cuda:N"),
        (("--reduce", "max"), "reduce='max' is not valid"),
        (("--captioner", "blip"), "--captioner 'blip' is not valid: choose auto, classifier"),
        (("--captioner", "clip:"), "--captioner 'clip:' is not valid"),
        (("--vocabulary", tmp_path / "missing.json"), "missing.json does not exist"),
        (("--evidence", "pixels"), "--evidence 'pixels' is not valid"),
        (("--adherence-threshold", "1.5"), "--adherence-threshold 1.5 must lie in [0, 1]"),
        (("--captioner", "classifier"), "this model has no attribute classifier"),
    ]  # fmt: skip
    if not torch.cuda.is_available():
        cases.append((("--device", "cuda"), "torch sees no CUDA device"))
    for i, (extra, message) in enumerate(cases):
        out = tmp_path / f"o{i}"
        r = decode(folder, prompts, out, *extra)
        assert r.exit_code == 2, (extra, r.output)
        assert message in flat(r.output), (extra, flat(r.output))
        assert "Traceback" not in r.output
        assert not out.exists()
        assert not out.with_name(out.name + ".partial").exists()


def test_device_and_dtype_resolution():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("CPU") == "cpu"
    assert resolve_dtype("bfloat16", "cpu") is torch.bfloat16
    assert resolve_dtype(None, "cpu") is torch.float32
    with pytest.raises(InputError, match=r"float16 on the CPU is refused.*bfloat16"):
        resolve_dtype("float16", "cpu")


def test_bfloat16_on_the_cpu_runs(sd_folder, tmp_path):
    folder, prompts = sd_folder
    r32 = decode(folder, prompts, tmp_path / "f32", "--captioner", "none", "--timesteps", "67")
    r16 = decode(folder, prompts, tmp_path / "bf16", "--captioner", "none", "--timesteps", "67",
                 "--dtype", "bfloat16")  # fmt: skip
    assert r32.exit_code == 0, r32.output
    assert r16.exit_code == 0, r16.output
    a, b = np.load(tmp_path / "f32" / "hspace.npy"), np.load(tmp_path / "bf16" / "hspace.npy")
    assert b.dtype == np.float32
    assert a.shape == b.shape
    assert not np.array_equal(a, b)  # it did run in another precision
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95


def test_only_safetensors_are_loaded(sd_folder, tmp_path):
    """A pickle beside the safetensors is never opened: it would create a folder if it were."""
    folder, prompts = sd_folder
    copy = tmp_path / "pipe"
    shutil.copytree(folder, copy)
    trap = tmp_path / "unpickled"

    class Trap:
        def __reduce__(self):
            return (os.mkdir, (str(trap),))

    for part in ("unet", "vae"):
        with open(copy / part / "diffusion_pytorch_model.bin", "wb") as handle:
            pickle.dump({"weight": Trap()}, handle)
    r = decode(copy, prompts, tmp_path / "out", "--captioner", "none")
    assert r.exit_code == 0, r.output
    assert not trap.exists()
    # the control: unpickling that file does create the folder
    with open(copy / "unet" / "diffusion_pytorch_model.bin", "rb") as handle:
        pickle.load(handle)  # the test's own file
    assert trap.is_dir()


def test_a_folder_whose_unet_has_no_mid_block_is_refused(tmp_path):
    from diffembed.latents.pipelines import resolve_model

    unet = tiny_unet()
    assert resolve_model(types.SimpleNamespace(unet=unet, encoder=object(),
                                               scheduler=object()))[0] == "ddpm"  # fmt: skip
    with pytest.raises(InputError, match="has a U-Net but no prompt encoder"):
        resolve_model(types.SimpleNamespace(unet=unet))
