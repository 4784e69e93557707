"""h-space recording: hooks on tiny random U-Nets, our DDPM sampler and a tiny Stable Diffusion."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from diffembed.exceptions import InputError

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from diffembed.latents.hspace import (  # noqa: E402
    HSpaceRecorder,
    HSpaceResult,
    check_timesteps,
    extract_hspace,
    inference_timesteps,
)

CROSS = 12


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_unet(sample_size: int = 8, in_channels: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    return diffusers.UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=in_channels,
        out_channels=in_channels,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CROSS,
        attention_head_dim=4,
        norm_num_groups=4,
    ).eval()


class HashEncoder:
    """A deterministic stand-in for the prompt encoder: (n, 4, CROSS) from a hash of the text."""

    def encode(self, prompts):
        out = []
        for p in prompts:
            rng = np.random.default_rng(abs(hash(("enc", p))) % 2**32 if p else 0)
            out.append(np.zeros((4, CROSS)) if p == "" else rng.normal(size=(4, CROSS)))
        return np.asarray(out, dtype=np.float32)


@pytest.fixture(scope="module")
def ddpm_model():
    from diffembed.latents.ddpm import DDPMModel

    unet = tiny_unet()
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=100)
    return DDPMModel(unet, scheduler, HashEncoder())


# ------------------------------------------------------------------------------ hooks
def test_recorder_reads_mid_block_conditional_half_and_timesteps():
    unet = tiny_unet()
    x = torch.randn(3, 3, 8, 8)
    cond = torch.randn(3, 4, CROSS)
    uncond = torch.zeros(3, 4, CROSS)
    expected = {}
    unet.mid_block.register_forward_hook(lambda m, a, o: expected.__setitem__("h", o.detach()))
    with torch.no_grad(), HSpaceRecorder(unet, [7, 3], reduce="mean") as rec:
        rec.begin(3)
        for t in (9, 7, 5, 3):
            states = torch.cat([uncond, cond])
            unet(torch.cat([x, x]), torch.tensor(t), encoder_hidden_states=states)
            if t == 7:
                full_7 = expected["h"]
    h = rec.stack()
    assert h.shape == (3, 2, 16)  # 3 samples, 2 requested timesteps, 16 mid-block channels
    assert rec.seen == [9, 7, 5, 3]
    assert sorted(rec.records) == [3, 7]
    # the conditional (second) half, spatially averaged
    np.testing.assert_allclose(h[:, 0], full_7[3:].mean(dim=(2, 3)).numpy(), rtol=1e-6)
    # ... and not the unconditional half (negative control)
    assert not np.allclose(h[:, 0], full_7[:3].mean(dim=(2, 3)).numpy())
    # the conditional half equals a plain conditional call on its own
    with torch.no_grad(), HSpaceRecorder(unet, None, reduce="mean") as alone:
        alone.begin(3)
        unet(x, 7, encoder_hidden_states=cond)
    np.testing.assert_allclose(alone.stack()[:, 0], h[:, 0], rtol=1e-4, atol=1e-6)
    # hooks are removed on exit
    with torch.no_grad():
        unet(x, 1, encoder_hidden_states=cond)
    assert 1 not in rec.records


def test_recorder_flatten_and_heuristic_doubling():
    unet = tiny_unet()
    x = torch.randn(2, 3, 8, 8)
    cond = torch.randn(2, 4, CROSS)
    uncond = torch.zeros(2, 4, CROSS)
    with torch.no_grad(), HSpaceRecorder(unet, reduce="flatten") as rec:
        # batch_size unknown: the first half is the repeated unconditional prompt -> doubled
        unet(torch.cat([x, x]), 5, encoder_hidden_states=torch.cat([uncond, cond]))
    assert rec.stack().shape == (2, 1, 16 * 4 * 4)
    with torch.no_grad(), HSpaceRecorder(unet) as plain:
        # four distinct prompts: not doubled, all four rows kept
        unet(torch.cat([x, x]), 5, encoder_hidden_states=torch.randn(4, 4, CROSS))
    assert plain.stack().shape == (4, 1, 16 * 2 * 2)  # the default pool:2
    with torch.no_grad(), HSpaceRecorder(unet, conditional_half=False) as both:
        unet(torch.cat([x, x]), 5, encoder_hidden_states=torch.cat([uncond, cond]))
    assert both.stack().shape == (4, 1, 16 * 2 * 2)


def test_recorder_errors():
    with pytest.raises(InputError, match="no mid_block"):
        HSpaceRecorder(torch.nn.Linear(2, 2))
    unet = tiny_unet()
    with pytest.raises(InputError, match="reduce='max' is not valid"):
        HSpaceRecorder(unet, reduce="max")
    with HSpaceRecorder(unet, [3]) as rec, torch.no_grad():
        unet(torch.randn(1, 3, 8, 8), 5, encoder_hidden_states=torch.randn(1, 4, CROSS))
    with pytest.raises(InputError, match=r"Timestep 3 was never visited.*visited: 5"):
        rec.stack()
    with pytest.raises(InputError, match="Nothing was recorded"):
        HSpaceRecorder(unet).stack()
    with HSpaceRecorder(unet) as rec, torch.no_grad():
        rec.begin(3)
        with pytest.raises(InputError, match="batch of 2 rows for 3 samples"):
            unet(torch.randn(2, 3, 8, 8), 5, encoder_hidden_states=torch.randn(2, 4, CROSS))


def test_check_timesteps_names_range_and_schedule():
    sched = diffusers.DDPMScheduler(num_train_timesteps=100)
    visited = inference_timesteps(sched, 10)
    assert visited == [90, 80, 70, 60, 50, 40, 30, 20, 10, 0]
    assert check_timesteps([90, 10], sched, 10) == [90, 10]
    assert check_timesteps(None, sched, 10) is None
    with pytest.raises(InputError, match=r"Timestep 100 is outside.*\[0, 99\]"):
        check_timesteps([100], sched, 10)
    with pytest.raises(InputError, match=r"Timestep 55 is not visited.*90, 80, 70"):
        check_timesteps([55], sched, 10)
    with pytest.raises(InputError, match="not an integer"):
        check_timesteps([5.5], sched, 10)
    assert sched.timesteps is None or len(sched.timesteps) != 10  # the scheduler is untouched


# --------------------------------------------------------------------------- our DDPM
def test_extract_hspace_ddpm(ddpm_model, tmp_path):
    from diffembed.latents.ddpm import sample

    prompts = ["a red square", "a blue circle", "a cross"]
    res = extract_hspace(
        ddpm_model, prompts, seeds=[3, 4], timesteps=[80, 20], num_inference_steps=5,
        guidance_scale=2.0, batch_size=4,
    )  # fmt: skip
    assert res.h.shape == (6, 2, 16 * 2 * 2)  # 16 mid-block channels, the default pool:2
    assert res.h.dtype == np.float32
    assert res.timesteps == [80, 20]
    assert list(res.table["prompt"]) == [p for p in prompts for _ in range(2)]
    assert list(res.table["seed"]) == [3, 4] * 3
    assert list(res.table["prompt_id"]) == [0, 0, 1, 1, 2, 2]
    assert res.images.shape == (6, 3, 8, 8)
    assert res.images.min() >= 0
    assert res.images.max() <= 1
    # batching does not change anything: one sample alone gives the same h and image
    one = extract_hspace(
        ddpm_model, ["a blue circle"], seeds=[4], timesteps=[80, 20], num_inference_steps=5,
        guidance_scale=2.0,
    )  # fmt: skip
    np.testing.assert_allclose(one.h[0], res.h[3], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        one.images[0],
        sample(ddpm_model, ["a blue circle"], seeds=[4], num_inference_steps=5,
               guidance_scale=2.0)[0],
        atol=1e-6,
    )
    # all timesteps by default; without guidance the batch is not doubled
    full = extract_hspace(ddpm_model, ["a cross"], seeds=1, num_inference_steps=5,
                          guidance_scale=1.0)  # fmt: skip
    assert full.timesteps == [80, 60, 40, 20, 0]
    assert full.h.shape == (1, 5, 16 * 2 * 2)
    # save / load round trip
    res.save(tmp_path / "hs")
    assert {p.name for p in (tmp_path / "hs").iterdir()} == {
        "hspace.npy", "samples.parquet", "images.npy", "hspace.json"
    }
    back = HSpaceResult.load(tmp_path / "hs")
    np.testing.assert_array_equal(back.h, res.h)
    assert back.timesteps == [80, 20]
    assert back.prompts == res.prompts
    assert json.loads((tmp_path / "hs" / "hspace.json").read_text())["reduce"] == "pool:2"


def test_extract_hspace_errors(ddpm_model, tmp_path):
    with pytest.raises(InputError, match="prompt list is empty"):
        extract_hspace(ddpm_model, [])
    with pytest.raises(InputError, match="not one string"):
        extract_hspace(ddpm_model, "a square")
    with pytest.raises(InputError, match=r"Timestep 1000 is outside.*\[0, 99\]"):
        extract_hspace(ddpm_model, ["a"], timesteps=[1000], num_inference_steps=5)
    with pytest.raises(InputError, match="seeds=0 must be at least 1"):
        extract_hspace(ddpm_model, ["a"], seeds=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no unet/ folder and no model_index\.json"):
        extract_hspace(tmp_path / "empty", ["a"])
    (tmp_path / "pipe").mkdir()
    (tmp_path / "pipe" / "model_index.json").write_text("{}")
    with pytest.raises(InputError, match="pipeline without a unet/ folder"):
        extract_hspace(tmp_path / "pipe", ["a"])
    with pytest.raises(InputError, match="is not a directory"):
        extract_hspace(tmp_path / "missing", ["a"])
    with pytest.raises(InputError, match=r"has no \.unet"):
        extract_hspace(object(), ["a"])


# ------------------------------------------------------------- tiny Stable Diffusion
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character table (CLIP's BPE alphabet)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    cs, n = list(bs), 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def _tiny_tokenizer(directory):
    """A character-level CLIP tokenizer from a vocabulary written here (no hub download)."""
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer(
        vocab=str(directory / "vocab.json"), merges=str(directory / "merges.txt"),
        model_max_length=16,
    )  # fmt: skip


def tiny_sd_pipeline(directory):
    """A StableDiffusionPipeline of tiny random parts (tokenizer files written to ``directory``)."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = _tiny_tokenizer(directory)
    torch.manual_seed(0)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=CROSS, intermediate_size=16, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=16, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )).eval()  # fmt: skip
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8),
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4, layers_per_block=1,
    ).eval()  # fmt: skip
    return StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=tiny_unet(in_channels=4),
        scheduler=DDIMScheduler(num_train_timesteps=100, steps_offset=1, clip_sample=False),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    """A StableDiffusionPipeline of tiny random parts, saved to a local folder."""
    directory = tmp_path_factory.mktemp("tiny-sd")
    pipe = tiny_sd_pipeline(directory)
    pipe.set_progress_bar_config(disable=True)
    pipe.save_pretrained(directory / "pipe")
    return pipe, directory / "pipe"


def test_stable_diffusion_pipeline_object_and_folder(tiny_sd):
    pipe, folder = tiny_sd
    prompts = ["a red cube", "a green ball"]
    res = extract_hspace(pipe, prompts, seeds=2, timesteps=[81], num_inference_steps=5,
                         guidance_scale=4.0)  # fmt: skip
    assert res.h.shape == (4, 1, 16 * 2 * 2)
    assert res.images.shape == (4, 3, 16, 16)
    assert res.config["source"] == "pipeline"
    # the recorded h is the conditional half of the pipeline's doubled batch: compare with a
    # direct call of the U-Net on the pipeline's own latents and prompt embeddings
    calls = []
    hook = pipe.unet.register_forward_pre_hook(
        lambda m, a, k: calls.append((a[0].clone(), k["encoder_hidden_states"].clone())),
        with_kwargs=True,
    )
    try:
        gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
        pipe(prompt=[prompts[0]] * 2, generator=gens, num_inference_steps=5, guidance_scale=4.0,
             output_type="np")  # fmt: skip
    finally:
        hook.remove()
    x, states = calls[0]  # the first step is t = 81
    assert x.shape[0] == 4  # doubled: unconditional then conditional
    with torch.no_grad():
        mid = {}
        h2 = pipe.unet.mid_block.register_forward_hook(lambda m, a, o: mid.__setitem__("h", o))
        pipe.unet(x[2:], 81, encoder_hidden_states=states[2:])
        h2.remove()
    direct = torch.nn.functional.adaptive_avg_pool2d(mid["h"], 2).reshape(2, -1).numpy()
    np.testing.assert_allclose(res.h[:2, 0], direct, rtol=1e-4, atol=1e-5)
    # the same from the saved folder (loaded offline with DiffusionPipeline.from_pretrained)
    again = extract_hspace(folder, prompts, seeds=2, timesteps=[81], num_inference_steps=5,
                           guidance_scale=4.0)  # fmt: skip
    np.testing.assert_allclose(again.h, res.h, rtol=1e-4, atol=1e-5)
    with pytest.raises(InputError, match=r"Timestep 80 is not visited.*81, 61, 41, 21, 1"):
        extract_hspace(pipe, prompts, timesteps=[80], num_inference_steps=5)


def test_recorder_pool_and_extract_in_another_precision():
    from diffembed.latents.ddpm import DDPMModel

    unet = tiny_unet()
    x, cond = torch.randn(2, 3, 8, 8), torch.randn(2, 4, CROSS)
    with torch.no_grad(), HSpaceRecorder(unet, reduce="pool:2") as rec:
        rec.begin(2)
        mid = {}
        hook = unet.mid_block.register_forward_hook(lambda m, a, o: mid.__setitem__("h", o))
        unet(x, 5, encoder_hidden_states=cond)
        hook.remove()
    full = mid["h"].numpy()  # (2, 16, 4, 4)
    want = full.reshape(2, 16, 2, 2, 2, 2).mean(axis=(3, 5)).reshape(2, -1)
    np.testing.assert_allclose(rec.stack()[:, 0], want, rtol=1e-5, atol=1e-6)
    # bfloat16 on the CPU: the U-Net is cast, h comes back as float32, close to float32's
    model = DDPMModel(tiny_unet(), diffusers.DDPMScheduler(num_train_timesteps=100), HashEncoder())
    ref = extract_hspace(model, ["a", "b"], seeds=2, num_inference_steps=3)
    low = extract_hspace(model, ["a", "b"], seeds=2, num_inference_steps=3, device="cpu",
                         dtype="bfloat16")  # fmt: skip
    assert next(model.unet.parameters()).dtype == torch.bfloat16
    assert low.h.dtype == np.float32
    assert not np.array_equal(low.h, ref.h)
    assert np.corrcoef(low.h.ravel(), ref.h.ravel())[0, 1] > 0.95
    with pytest.raises(InputError, match="float16 on the CPU is refused"):
        extract_hspace(model, ["a"], device="cpu", dtype="float16")


def test_the_default_reduction_keeps_the_layout_of_the_mid_block_map():
    """A shape on the left and the same shape on the right are one h-vector under the spatial
    mean, so position could never be decoded from h-space; the default keeps a coarse layout.
    (On a trained shapes model, "square → right" had h-space d 1.3 with the mean, 3.0 with
    pool:2.)"""

    class Mid(torch.nn.Module):
        def forward(self, x):
            return x

    class FakeUNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mid_block = Mid()

        def forward(self, sample, timestep, encoder_hidden_states=None):
            return self.mid_block(sample)

    x = torch.zeros(2, 3, 8, 8)
    x[0, :, 2:6, 0:4] = 1.0  # left
    x[1, :, 2:6, 4:8] = 1.0  # right: the same pixels mirrored
    states = torch.randn(2, 4, CROSS)

    def record(**kw):
        unet = FakeUNet()
        with torch.no_grad(), HSpaceRecorder(unet, conditional_half=False, **kw) as rec:
            rec.begin(2)
            unet(x, 5, encoder_hidden_states=states)
        return rec.stack()[:, 0]

    mean = record(reduce="mean")
    np.testing.assert_array_equal(mean[0], mean[1])  # the mean cannot tell them apart
    default = record()
    assert default.shape == (2, 3 * 2 * 2)
    assert np.abs(default[0] - default[1]).max() >= 0.5  # half of a 2 × 2 cell differs
    assert inspect.signature(extract_hspace).parameters["reduce"].default == "pool:2"
    from diffembed.cli.latents_decode import decode_command  # the CLI states it literally

    assert inspect.signature(decode_command).parameters["reduce"].default == "pool:2"
