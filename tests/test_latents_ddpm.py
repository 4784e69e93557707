"""The small text-conditioned DDPM: forward process, training, sampling, persistence, errors.

Known answers: the closed-form q(x_t | x_0) against iterating q(x_t | x_{t-1}) (Monte Carlo,
tolerances from the sample size, with a negative control), the scheduler's ``add_noise``
against the formula, a 2-D DDPM whose samples pass an energy-distance test against held-out
data (and a wrong sample that fails it), and the energy distance against scipy in 1-D.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")

from diffembed.exceptions import InputError  # noqa: E402
from diffembed.latents import ddpm  # noqa: E402
from diffembed.latents.toy import (  # noqa: E402
    energy_distance,
    energy_distance_test,
    sample_toy,
    train_toy_ddpm,
)

pytestmark = pytest.mark.filterwarnings("ignore:Got `batch_size` less than 1:UserWarning")
TINY = {"block_out_channels": (8, 16), "norm_num_groups": 4, "attention_heads": 2}
PROMPTS = ["a small red circle on the left", "a large blue square in the centre", ""]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("sentence_transformers")
    from diffembed.latents.text import PromptEncoder

    return PromptEncoder(max_length=16)


@pytest.fixture(scope="module")
def data():
    from diffembed.latents.shapes import shapes_dataset

    return shapes_dataset(96, seed=3, associations=[("circle", "red", 0.9)])


@pytest.fixture(scope="module")
def model(data, encoder):
    torch.set_num_threads(1)
    return ddpm.train_ddpm(
        data,
        encoder=encoder,
        steps=60,
        batch_size=16,
        learning_rate=3e-3,
        unet_config=TINY,
        classifier_samples=96,
        seed=0,
    )


# ------------------------------------------------------------------ forward process
def test_add_noise_is_the_closed_form():
    sched = ddpm.build_scheduler()
    betas = sched.betas.double()
    np.testing.assert_allclose(
        sched.alphas_cumprod.double().numpy(), torch.cumprod(1 - betas, 0).numpy(), rtol=1e-6
    )
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand((8, 3, 4, 4), generator=gen) * 2 - 1
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.tensor([0, 1, 10, 100, 400, 700, 998, 999])
    a = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    expected = a.sqrt() * x0 + (1 - a).sqrt() * noise
    torch.testing.assert_close(sched.add_noise(x0, noise, t), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("schedule", ["squaredcos_cap_v2", "linear"])
def test_closed_form_matches_iterating_the_markov_chain(schedule):
    sched = ddpm.build_scheduler(beta_schedule=schedule)
    betas = sched.betas.double().numpy()
    abar = np.cumprod(1 - betas)
    rng = np.random.default_rng(0)
    n = 30_000
    x0 = np.array([-0.9, -0.2, 0.4, 1.0])
    x = np.broadcast_to(x0, (n, x0.size)).copy()
    checks = {10, 100, 250, 400}
    controlled = 0
    for t in range(max(checks) + 1):  # x_t ~ N(sqrt(1 - beta_t) x_{t-1}, beta_t I)
        x = np.sqrt(1 - betas[t]) * x + np.sqrt(betas[t]) * rng.standard_normal(x.shape)
        if t not in checks:
            continue
        mean, var = x.mean(axis=0), x.var(axis=0, ddof=1)
        want_mean, want_var = np.sqrt(abar[t]) * x0, 1 - abar[t]
        # 5 standard errors: SE(mean) = sqrt(var / n), SE(var) = var sqrt(2 / (n - 1))
        mean_tol = 5 * np.sqrt(want_var / n)
        var_tol = 5 * want_var * np.sqrt(2 / (n - 1))
        assert np.all(np.abs(mean - want_mean) < mean_tol), (t, mean, want_mean)
        assert np.all(np.abs(var - want_var) < var_tol), (t, var, want_var)
        # negative control: the tolerances detect a 10 % error of either moment
        assert np.all(np.abs(var - 0.9 * want_var) > var_tol)
        if 0.1 * np.abs(want_mean).max() > 2 * mean_tol:
            assert np.any(np.abs(mean - 0.9 * want_mean) > mean_tol)
            controlled += 1
    assert controlled >= 2


# ------------------------------------------------------------------ 2-D DDPM, energy test
def test_energy_distance_matches_scipy_in_1d():
    from scipy import stats

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=57), rng.normal(0.4, 1.3, size=80)
    assert energy_distance(a, b) == pytest.approx(stats.energy_distance(a, b), rel=1e-10)
    assert energy_distance(a, a) == pytest.approx(0, abs=1e-7)


def test_energy_test_has_power_and_level():
    rng = np.random.default_rng(2)
    same = energy_distance_test(
        rng.normal(size=(150, 2)), rng.normal(size=(120, 2)), n_permutations=199, random_state=0
    )
    shifted = energy_distance_test(
        rng.normal(size=(150, 2)),
        rng.normal(size=(120, 2)) + np.array([0.6, 0]),
        n_permutations=199,
        random_state=0,
    )
    assert same.pvalue > 0.05
    assert shifted.pvalue == pytest.approx(1 / 200)
    with pytest.raises(InputError, match="same dimension"):
        energy_distance_test(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(InputError, match="at least 2 points"):
        energy_distance_test(np.zeros((1, 2)), np.zeros((5, 2)))


def test_2d_ddpm_samples_the_swiss_roll():
    from sklearn.datasets import make_swiss_roll

    points = make_swiss_roll(3000, noise=1.0, random_state=0)[0][:, [0, 2]] / 5
    train, held_out = points[:2400], points[2400:]
    model = train_toy_ddpm(train, steps=1500, batch_size=128, learning_rate=3e-3, seed=0)
    assert model.loss_history[-100:].mean() < 0.85 * model.loss_history[:100].mean()
    samples = sample_toy(model, 600, seed=1)
    assert samples.shape == (600, 2)
    good = energy_distance_test(samples, held_out, n_permutations=199, random_state=0)
    assert good.pvalue > 0.01, good
    # negative controls: the same test rejects shifted samples and an untrained model
    shifted = energy_distance_test(
        samples + np.array([0.5, 0]), held_out, n_permutations=199, random_state=0
    )
    assert shifted.pvalue < 0.01, shifted
    untrained = train_toy_ddpm(train, steps=1, seed=0)
    bad = energy_distance_test(
        sample_toy(untrained, 600, seed=1), held_out, n_permutations=199, random_state=0
    )
    assert bad.pvalue < 0.01, bad


# ------------------------------------------------------------------ training
def test_training_loss_falls_and_config_is_recorded(model, data):
    loss = model.loss_history
    assert loss.shape == (60,)
    assert np.isfinite(loss).all()
    assert loss[-20:].mean() < 0.7 * loss[:20].mean()
    cfg = model.config
    assert cfg["image_size"] == 16
    assert cfg["training"]["steps"] == 60
    assert cfg["encoder"]["max_length"] == 16
    assert cfg["unet"]["block_out_channels"] == [8, 16]
    json.dumps(cfg)  # JSON-safe
    assert model.classifier is not None
    assert set(model.classifier.predict(data.images[:4])) >= {"shape", "colour"}
    assert not model.unet.training


def test_training_is_deterministic(data, encoder):
    kwargs = {"encoder": encoder, "steps": 4, "batch_size": 8, "unet_config": TINY}
    a = ddpm.train_ddpm(data, seed=5, fit_classifier=False, **kwargs)
    b = ddpm.train_ddpm(data, seed=5, fit_classifier=False, **kwargs)
    c = ddpm.train_ddpm(data, seed=6, fit_classifier=False, **kwargs)
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
    for p, q in zip(a.unet.parameters(), b.unet.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert not np.array_equal(a.loss_history, c.loss_history)


def test_build_unet_has_a_cross_attention_mid_block():
    unet = ddpm.build_unet(**TINY)
    assert type(unet.mid_block).__name__ == "UNetMidBlock2DCrossAttn"
    assert unet.config.cross_attention_dim == 384
    assert unet.config.sample_size == 16
    with_attention = ddpm.build_unet(**TINY, attention_blocks=True)
    assert "CrossAttnDownBlock2D" in with_attention.config.down_block_types
    with pytest.raises(InputError, match="not divisible by 2"):
        ddpm.build_unet(sample_size=15, **TINY)


# ------------------------------------------------------------------ sampling
def test_samples_are_deterministic_and_batch_independent(model):
    prompts = PROMPTS * 2
    seeds = [0, 1, 2, 3, 4, 5]
    a = ddpm.sample(model, prompts, seeds=seeds, num_inference_steps=8, batch_size=6)
    assert a.shape == (6, 3, 16, 16)
    assert a.dtype == np.float32
    assert a.min() >= 0
    assert a.max() <= 1
    b = ddpm.sample(model, prompts, seeds=seeds, num_inference_steps=8, batch_size=6)
    np.testing.assert_array_equal(a, b)
    # other batch sizes and another order give the same image per (prompt, seed)
    c = ddpm.sample(model, prompts, seeds=seeds, num_inference_steps=8, batch_size=4)
    np.testing.assert_allclose(a, c, atol=2e-5)
    order = [5, 2, 0, 4, 1, 3]
    d = ddpm.sample(
        model,
        [prompts[i] for i in order],
        seeds=[seeds[i] for i in order],
        num_inference_steps=8,
        batch_size=1,
    )
    np.testing.assert_allclose(a[order], d, atol=2e-5)
    # different seeds give different images (seeds=int means seed, seed + 1, ...)
    e = ddpm.sample(model, prompts, seeds=100, num_inference_steps=8)
    assert np.abs(a - e).max() > 0.05


def test_guidance_calls_the_unet_unconditional_half_first(model, encoder):
    calls = []

    def hook(module, args, kwargs):
        calls.append((args[0].shape[0], kwargs["encoder_hidden_states"].clone()))

    handle = model.unet.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        ddpm.sample(model, PROMPTS[:2], num_inference_steps=3, guidance_scale=2.5)
        guided = list(calls)
        calls.clear()
        ddpm.sample(model, PROMPTS[:2], num_inference_steps=3, guidance_scale=1.0)
    finally:
        handle.remove()
    uncond = encoder.encode([""])[0]
    cond = encoder.encode(PROMPTS[:2])
    assert len(guided) == 3
    assert len(calls) == 3
    for batch, states in guided:
        assert batch == 4
        torch.testing.assert_close(states[:2], uncond.expand(2, -1, -1))
        torch.testing.assert_close(states[2:], cond)
    for batch, states in calls:
        assert batch == 2
        torch.testing.assert_close(states, cond)


def test_trajectory_and_guidance_change_the_images(model):
    images, path = ddpm.sample(
        model, PROMPTS[:2], num_inference_steps=5, return_trajectory=True, seeds=3
    )
    assert path.shape == (6, 2, 3, 16, 16)
    np.testing.assert_allclose((np.clip(path[-1], -1, 1) + 1) / 2, images, atol=1e-6)
    plain = ddpm.sample(model, PROMPTS[:2], num_inference_steps=5, guidance_scale=1.0, seeds=3)
    assert np.abs(plain - images).max() > 1e-3


def test_sampling_input_errors(model):
    with pytest.raises(InputError, match="prompts is empty"):
        ddpm.sample(model, [])
    with pytest.raises(InputError, match="not one string"):
        ddpm.sample(model, "a red circle")
    with pytest.raises(InputError, match=r"num_inference_steps=0 .*\[1, 1000\]"):
        ddpm.sample(model, ["a"], num_inference_steps=0)
    with pytest.raises(InputError, match=r"num_inference_steps=1001"):
        ddpm.sample(model, ["a"], num_inference_steps=1001)
    with pytest.raises(InputError, match=r"guidance_scale=0.5 .*>= 1"):
        ddpm.sample(model, ["a"], guidance_scale=0.5)
    with pytest.raises(InputError, match="seeds has 1 entries for 2 prompts"):
        ddpm.sample(model, ["a", "b"], seeds=[1])


def test_training_input_errors(data, encoder):
    with pytest.raises(InputError, match="steps=0"):
        ddpm.train_ddpm(data, encoder=encoder, steps=0)
    with pytest.raises(InputError, match=r"caption_dropout=1.5 must lie in \[0, 1\)"):
        ddpm.train_ddpm(data, encoder=encoder, caption_dropout=1.5)
    with pytest.raises(InputError, match=r"needs a dataset with \.images"):
        ddpm.train_ddpm(np.zeros((4, 3, 16, 16)), encoder=encoder)


# ------------------------------------------------------------------ persistence
def test_save_load_round_trip(model, tmp_path):
    out = ddpm.save_model(model, tmp_path / "model")
    assert ddpm.is_model_directory(out)
    for name in (
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "scheduler/scheduler_config.json",
        "diffembed.json",
        "loss.csv",
        "classifier/classifier.json",
    ):
        assert (out / name).is_file(), name
    assert not list(out.rglob("*.bin"))
    assert not list(out.rglob("*.pkl"))
    loaded = ddpm.load_model(out)
    assert loaded.config == json.loads(json.dumps(model.config))
    np.testing.assert_allclose(loaded.loss_history, model.loss_history)
    a = ddpm.sample(model, PROMPTS, seeds=7, num_inference_steps=6)
    b = ddpm.sample(loaded, PROMPTS, seeds=7, num_inference_steps=6)
    np.testing.assert_array_equal(a, b)
    pa, pb = model.classifier.predict(a), loaded.classifier.predict(b)
    for family in pa:
        np.testing.assert_array_equal(pa[family], pb[family])
    with pytest.raises(InputError, match="already exists"):
        ddpm.save_model(model, out)
    ddpm.save_model(model, out, overwrite=True)


def test_load_model_errors(model, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        ddpm.load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"unet/ and scheduler/ are missing.*holds unet/"):
        ddpm.load_model(tmp_path / "empty")
    # a Stable-Diffusion-style pipeline folder: U-Net and scheduler, no diffembed.json
    pipe = tmp_path / "pipe"
    model.unet.save_pretrained(pipe / "unet")
    model.scheduler.save_pretrained(pipe / "scheduler")
    loaded = ddpm.load_model(pipe)
    assert loaded.encoder is None
    assert loaded.config["source"] == "diffusers-pipeline"
    with pytest.raises(InputError, match="pipeline's own text encoder"):
        ddpm.sample(loaded, ["a red circle"])
    broken = tmp_path / "broken"
    (broken / "unet").mkdir(parents=True)
    (broken / "scheduler").mkdir()
    with pytest.raises(InputError, match="Cannot load the U-Net"):
        ddpm.load_model(broken)


def test_callback_sees_the_returned_model_and_can_stop_training(data, encoder):
    seen = []

    def callback(step, snapshot):
        assert not snapshot.unet.training
        image = ddpm.sample(snapshot, PROMPTS[:1], seeds=0, num_inference_steps=3)
        seen.append((step, snapshot.loss_history.size, image))
        return step >= 4

    model = ddpm.train_ddpm(
        data, encoder=encoder, steps=10, batch_size=4, unet_config=TINY, fit_classifier=False,
        lr_schedule="constant", callback=callback, callback_every=2,
    )  # fmt: skip
    assert [(s, k) for s, k, _ in seen] == [(2, 2), (4, 4)]
    assert model.loss_history.size == 4
    assert model.config["training"]["steps"] == 4
    assert model.config["training"]["steps_planned"] == 10
    # the snapshot at the last callback is the returned model (EMA weights swapped back in)
    final = ddpm.sample(model, PROMPTS[:1], seeds=0, num_inference_steps=3)
    np.testing.assert_array_equal(final, seen[-1][2])
    assert np.abs(seen[0][2] - seen[1][2]).max() > 0
    with pytest.raises(InputError, match="lr_schedule='linear' is not valid"):
        ddpm.train_ddpm(data, encoder=encoder, lr_schedule="linear")


# ------------------------------------------------------------------ estimate, config, old folders
def test_estimate_is_timed_before_training_and_does_not_change_it(data, encoder):
    seen, stamps = [], []
    kwargs = {"encoder": encoder, "steps": 4, "batch_size": 8, "unet_config": TINY,
              "fit_classifier": False, "seed": 2}  # fmt: skip

    def estimate(seconds_per_step):
        assert not stamps  # called before the first training step
        seen.append(seconds_per_step)

    a = ddpm.train_ddpm(data, estimate=estimate, estimate_steps=2,
                        progress=lambda done, total: stamps.append(time.perf_counter()),
                        **kwargs)  # fmt: skip
    b = ddpm.train_ddpm(data, **kwargs)
    assert len(seen) == 1
    # a step of the real loop takes about what the copy timed (loose: the machine is shared)
    real = np.diff(stamps).mean()
    assert real / 10 < seen[0] < real * 10, (seen[0], real)
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
    for p, q in zip(a.unet.parameters(), b.unet.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    with pytest.raises(InputError, match="estimate_steps=0 is not valid: give an integer >= 1"):
        ddpm.train_ddpm(data, estimate=estimate, estimate_steps=0, **kwargs)


def test_config_records_the_whole_unet_and_round_trips(data, encoder, tmp_path):
    model = ddpm.train_ddpm(data, encoder=encoder, steps=2, batch_size=4, fit_classifier=False,
                            unet_config={**TINY, "block_out_channels": (8, 16, 16)})  # fmt: skip
    unet = model.config["unet"]
    # every build_unet argument is recorded, defaults included
    assert unet["block_out_channels"] == [8, 16, 16]
    assert unet["pooled_text"] is True
    assert unet["attention_blocks"] is False
    assert unet["coordinates"] is True
    assert model.config["training"]["prediction_type"] == "v_prediction"
    assert model.scheduler.config.prediction_type == "v_prediction"
    assert unet["layers_per_block"] == 1
    assert model.unet.config.addition_embed_type == "text"
    loaded = ddpm.load_model(ddpm.save_model(model, tmp_path / "m"))
    assert loaded.config == json.loads(json.dumps(model.config))
    assert loaded.unet.config.addition_embed_type == "text"
    assert list(loaded.unet.config.block_out_channels) == [8, 16, 16]
    assert ddpm.has_coordinates(loaded.unet)  # the hook is back: sampling is the same
    a = ddpm.sample(model, PROMPTS, seeds=1, num_inference_steps=3)
    np.testing.assert_array_equal(a, ddpm.sample(loaded, PROMPTS, seeds=1, num_inference_steps=3))


def test_a_model_folder_written_before_the_new_keys_still_loads(data, encoder, tmp_path):
    """Folders of the two-level, mid-block-only U-Net without the recorded defaults load."""
    old = ddpm.train_ddpm(data, encoder=encoder, steps=2, batch_size=4, fit_classifier=False,
                          unet_config={**TINY, "pooled_text": False, "coordinates": False},
                          prediction_type="epsilon")  # fmt: skip
    out = ddpm.save_model(old, tmp_path / "old")
    meta = json.loads((out / "diffembed.json").read_text())
    # what an older diffembed wrote: only the arguments given, no estimate
    meta["config"]["unet"] = {"seed": 0, **{k: list(v) if isinstance(v, tuple) else v
                                            for k, v in TINY.items()}}  # fmt: skip
    meta["config"]["training"].pop("estimated_seconds", None)
    (out / "diffembed.json").write_text(json.dumps(meta))
    config = json.loads((out / "unet" / "config.json").read_text())
    for key in ("addition_embed_type", "addition_embed_type_num_heads"):
        config.pop(key)
    (out / "unet" / "config.json").write_text(json.dumps(config))
    loaded = ddpm.load_model(out)
    assert loaded.unet.config.addition_embed_type is None
    assert loaded.unet.config.in_channels == 3
    assert loaded.scheduler.config.prediction_type == "epsilon"  # sampled as it was trained
    assert loaded.config["unet"]["block_out_channels"] == [8, 16]
    a = ddpm.sample(old, PROMPTS, seeds=4, num_inference_steps=3)
    np.testing.assert_array_equal(a, ddpm.sample(loaded, PROMPTS, seeds=4, num_inference_steps=3))


def test_coordinates_are_appended_to_the_image_the_unet_is_called_with(tmp_path):
    unet = ddpm.build_unet(**TINY, coordinates=True)
    assert (unet.config.in_channels, unet.config.out_channels) == (5, 3)
    assert ddpm.has_coordinates(unet)
    ddpm.add_coordinates(unet)  # idempotent: still one hook
    seen = []
    unet.conv_in.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    x = torch.randn(2, 3, 16, 16)
    out = unet(x, torch.tensor([10, 10]), encoder_hidden_states=torch.zeros(2, 4, 384)).sample
    assert out.shape == (2, 3, 16, 16)
    (inp,) = seen
    assert inp.shape == (2, 5, 16, 16)
    torch.testing.assert_close(inp[:, :3], x)
    ramp = torch.linspace(-1, 1, 16)
    torch.testing.assert_close(inp[1, 3], ramp.expand(16, 16))  # x grows to the right
    torch.testing.assert_close(inp[0, 4], ramp[:, None].expand(16, 16))  # y grows downwards
    # keyword call, as diffusers pipelines make it
    again = unet(sample=x, timestep=10, encoder_hidden_states=torch.zeros(2, 4, 384)).sample
    torch.testing.assert_close(again, out)
    with pytest.raises(InputError, match="reads 3 channels and writes 3; only one built with "
                       "coordinates=True"):  # fmt: skip
        ddpm.add_coordinates(ddpm.build_unet(**TINY, coordinates=False))


def test_prediction_type_errors_and_targets(data, encoder):
    with pytest.raises(InputError, match="prediction_type='noise' is not valid: choose one of "
                       "'v_prediction', 'epsilon', 'sample'"):  # fmt: skip
        ddpm.train_ddpm(data, encoder=encoder, steps=1, prediction_type="noise")
    # same seed, weights and batches: only the target differs, so the first losses do
    first = {}
    for kind in ("epsilon", "sample", "v_prediction"):
        model = ddpm.train_ddpm(data, encoder=encoder, steps=1, batch_size=64, unet_config=TINY,
                                fit_classifier=False, prediction_type=kind, seed=1)  # fmt: skip
        first[kind] = model.loss_history[0]
        assert model.scheduler.config.prediction_type == kind
    assert len({round(v, 6) for v in first.values()}) == 3, first


def test_encoder_layer_keeps_left_and_right_apart_and_round_trips(encoder):
    from diffembed.latents.text import PromptEncoder

    mid = PromptEncoder(max_length=16, layer=ddpm.ENCODER_LAYER)
    prompts = ["a large red square on the left", "a large red square on the right",
               "a large blue square on the left"]  # fmt: skip

    def gaps(enc):
        e = enc.encode(prompts)
        return float((e[1] - e[0]).norm()), float((e[2] - e[0]).norm())

    (pos_last, col_last), (pos_mid, col_mid) = gaps(encoder), gaps(mid)
    # the last layer nearly merges left and right (3.9 against 12.7 for a colour); layer 4 not
    assert pos_last == pytest.approx(3.9, abs=0.2)
    assert col_last == pytest.approx(12.7, abs=0.3)
    assert pos_mid > 7.5
    assert pos_mid > 0.6 * col_mid
    config = mid.config()
    assert config["layer"] == 4
    assert PromptEncoder.from_config(config).layer == 4
    old = {k: v for k, v in config.items() if k != "layer"}  # written before `layer` existed
    assert PromptEncoder.from_config(old).layer == -1
    with pytest.raises(InputError, match="layer=9 is out of range: it must be between -1 and 6"):
        PromptEncoder(layer=9)
