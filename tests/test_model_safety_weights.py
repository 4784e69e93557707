"""Diffusion model folders: only safetensors load unless pickles are allowed; tensors match config.

Pickled weights (``*.bin``) run code when unpickled, so a folder holding only them is refused
with exit 2 and the reason, unless ``--allow-pickle-weights`` / ``allow_pickle_weights=True``.
A U-Net whose safetensors disagree with its ``config.json`` is refused before it is built.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from diffembed.exceptions import InputError

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from diffembed.cli.app import app  # noqa: E402
from diffembed.latents import ddpm  # noqa: E402
from diffembed.latents.hspace import _resolve  # noqa: E402

from .test_latents_hspace import CROSS, tiny_sd_pipeline, tiny_unet  # noqa: E402

runner = CliRunner()
PREFIX = "model file tampered or from another tool"


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def pickled_sd(tmp_path_factory):
    """A tiny random StableDiffusionPipeline saved with pickled (.bin) weights."""
    directory = tmp_path_factory.mktemp("pickled-sd")
    pipe = tiny_sd_pipeline(directory)
    pipe.save_pretrained(directory / "pipe", safe_serialization=False)
    folder = directory / "pipe"
    for part in ("unet", "vae"):  # transformers writes the text encoder as safetensors anyway
        assert list((folder / part).glob("*.bin"))
        assert not list((folder / part).glob("*.safetensors"))
    (directory / "prompts.txt").write_text("a red circle\na blue square\n")
    return folder


def test_pipeline_with_pickled_weights_is_refused(pickled_sd):
    with pytest.raises(InputError) as info:
        _resolve(pickled_sd)
    message = flat(str(info.value))
    assert "holds only pickled weights" in message
    assert "unpickling a file can run any code it carries" in message
    assert "--allow-pickle-weights" in message


def test_pipeline_with_pickled_weights_loads_when_allowed(pickled_sd):
    kind, pipe = _resolve(pickled_sd, allow_pickle_weights=True)
    assert kind == "pipeline"
    assert pipe.unet.config.cross_attention_dim == CROSS


def test_decode_cli_refuses_pickled_weights_with_exit_2(pickled_sd, tmp_path):
    prompts = pickled_sd.parent / "prompts.txt"
    args = ["latents", "decode", str(pickled_sd), "--prompts", str(prompts), "--seeds", "1",
            "--steps", "2", "--permutations", "10"]  # fmt: skip
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "a")])
    text = flat(result.output)
    assert result.exit_code == 2, text
    assert "holds only pickled weights" in text
    assert "Traceback" not in result.output
    assert not (tmp_path / "a").exists()
    # with the flag the pipeline loads; it has no attribute classifier: a prompt-only run
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "b"), "--allow-pickle-weights"])
    text = flat(result.output)
    assert result.exit_code == 0, text
    assert "has no attribute classifier: prompt-only run (--captioner none)" in text
    assert "holds only pickled weights" not in text
    assert np.load(tmp_path / "b" / "hspace.npy").shape == (2, 2, 16 * 2 * 2)  # pool:2


# ---------------------------------------------------------------- DDPM model folders
@pytest.fixture
def unet_folder(tmp_path):
    """A pipeline-style folder (unet/ + scheduler/) that ddpm.load_model reads."""
    folder = tmp_path / "model"
    tiny_unet().save_pretrained(folder / "unet", safe_serialization=True)
    diffusers.DDPMScheduler(num_train_timesteps=50).save_pretrained(folder / "scheduler")
    return folder


def test_ddpm_folder_loads_and_checks_pickles(unet_folder, tmp_path):
    assert ddpm.load_model(unet_folder).unet.config.block_out_channels == [8, 16]
    pickled = tmp_path / "pickled"
    tiny_unet().save_pretrained(pickled / "unet", safe_serialization=False)
    diffusers.DDPMScheduler(num_train_timesteps=50).save_pretrained(pickled / "scheduler")
    with pytest.raises(InputError, match="holds only pickled weights"):
        ddpm.load_model(pickled)
    assert ddpm.load_model(pickled, allow_pickle_weights=True).unet is not None


def _edit_config(folder, **changes):
    path = folder / "unet" / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"block_out_channels": [8, 32]}, "tensor(s) of the wrong shape, e.g."),
        ({"layers_per_block": 2}, "tensor(s) missing: "),
        ({"layers_per_block": 10**7}, "config value layers_per_block=10000000 is larger than"),
        ({"down_block_types": ["NoSuchBlock2D", "DownBlock2D"]},
         "config.json does not describe a UNet2DConditionModel"),
    ],
)  # fmt: skip
def test_unet_config_that_disagrees_with_its_tensors(unet_folder, changes, words):
    _edit_config(unet_folder, **changes)
    with pytest.raises(InputError) as info:
        ddpm.load_model(unet_folder)
    message = flat(str(info.value))
    assert message.startswith(PREFIX), message
    assert words in message


def test_unet_safetensors_with_an_extra_tensor(unet_folder):
    from safetensors.numpy import load_file, save_file

    path = unet_folder / "unet" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(str(path))
    tensors["payload"] = np.zeros(4, dtype=np.float32)
    save_file(tensors, str(path))
    with pytest.raises(InputError) as info:
        ddpm.load_model(unet_folder)
    assert "1 tensor(s) not in the U-Net config: payload" in flat(str(info.value))
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(InputError, match="not a readable safetensors file"):
        ddpm.load_model(unet_folder)
