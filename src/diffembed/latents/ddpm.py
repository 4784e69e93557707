"""A small text-conditioned DDPM: diffusers' U-Net and scheduler, trained and sampled here.

The model is diffusers' :class:`~diffusers.UNet2DConditionModel` (cross-attention on the token
embeddings of a sentence encoder, a cross-attention mid-block, whose output is the "h-space"
of Kwon et al. 2023) with a :class:`~diffusers.DDPMScheduler` (Ho et al. 2020). Nothing here is
a hand-written network or noise schedule, so the same sampling loop and the same h-space hooks
run on any diffusers checkpoint.

Training minimises the v-prediction loss ``‖v − v_θ(x_t, t, c)‖²``, ``v = √ᾱ_t ε − √(1 − ᾱ_t)
x_0`` (Salimans & Ho 2022; ``prediction_type="epsilon"`` gives the ε-loss of Ho et al.), with
``x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε`` on images mapped from [0, 1] to [−1, 1]; captions are dropped
(replaced by the empty prompt) with probability ``caption_dropout`` so that one network gives
both the conditional and the unconditional prediction of classifier-free guidance (Ho &
Salimans 2022). Sampling is ancestral DDPM sampling over ``num_inference_steps`` steps.

**Calling convention of the U-Net** (the h-space hooks of :mod:`.hspace` rely on it): with
``guidance_scale > 1`` every step makes one call
``unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([uncond, cond]))``, the
unconditional half first, exactly as diffusers' ``StableDiffusionPipeline``; with
``guidance_scale == 1`` one call with the conditional embeddings only.

A model directory (:func:`save_model`) holds::

    unet/             diffusers config.json + diffusion_pytorch_model.safetensors
    scheduler/        scheduler_config.json
    classifier/       the AttributeClassifier that labels generated images (optional)
    diffembed.json    format_version, prompt-encoder config, dataset and training config
    loss.csv          step, loss: the training loss of every step

Install with the ``diffusion`` extra (after ``pip install torch==2.13.0``).
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import InputError

if TYPE_CHECKING:
    pass

__all__ = [
    "FORMAT_VERSION",
    "DDPMModel",
    "add_coordinates",
    "build_scheduler",
    "build_unet",
    "has_coordinates",
    "is_model_directory",
    "load_model",
    "sample",
    "save_model",
    "train_ddpm",
    "write_model",
]

#: Hidden layer of MiniLM that a new model is conditioned on (see ``PromptEncoder(layer=)``).
ENCODER_LAYER = 4
#: Version of the layout of a model directory (``diffembed.json``).
FORMAT_VERSION = 1
INSTALL = (
    "Install the diffusion extra: `pip install torch==2.13.0` first (a CPU build; a looser "
    "torch requirement pulls several GB of CUDA packages), then "
    "`pip install 'diffembed[diffusion]'`."
)
#: progress(done, total): called after every training step / denoising step.
Progress = Callable[[int, int], None]


def _require() -> tuple[Any, Any]:
    try:
        import diffusers
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = f"The latents module needs torch and diffusers ({exc}). {INSTALL}"
        raise ImportError(msg) from exc
    return torch, diffusers


# ----------------------------------------------------------------------------- the model
@dataclass
class DDPMModel:
    """A text-conditioned DDPM: U-Net, scheduler, prompt encoder and attribute classifier.

    Attributes
    ----------
    unet : diffusers.UNet2DConditionModel
        The ε-predictor ``unet(x_t, t, encoder_hidden_states=tokens).sample``.
    scheduler : diffusers.DDPMScheduler
        The noise schedule (``num_train_timesteps``, betas) and the sampling step.
    encoder : PromptEncoder or None
        Prompts → token embeddings (``n, max_length, dim``); ``""`` is the unconditional
        prompt. None for a diffusers pipeline folder, whose text encoder is its own.
    classifier : AttributeClassifier or None
        Labels generated images with the dataset's attributes (shape, colour, ...).
    config : dict
        JSON-safe record: image size, dataset parameters (planted associations included),
        training parameters, loss summary, versions.
    loss_history : numpy.ndarray
        Training loss of every step (float64, may be empty).
    """

    unet: Any
    scheduler: Any
    encoder: Any
    classifier: Any = None
    config: dict[str, Any] = field(default_factory=dict)
    loss_history: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of the images the model generates."""
        size = self.unet.config.sample_size
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        return int(self.unet.config.out_channels), int(h), int(w)

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        n_params = sum(p.numel() for p in self.unet.parameters())
        steps = self.config.get("training", {}).get("steps")
        return (
            f"DDPMModel({c}×{h}×{w} images, U-Net {n_params / 1e6:.2f}M parameters, "
            f"T={self.scheduler.config.num_train_timesteps}, trained steps={steps}, "
            f"classifier={'yes' if self.classifier is not None else 'no'})"
        )


from .unet import (  # noqa: E402
    _UNET_DEFAULTS,
    PREDICTION_TYPES,
    add_coordinates,
    build_scheduler,
    build_unet,
    has_coordinates,
)


# ----------------------------------------------------------------------------- helpers
def _check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        msg = f"{name}={value!r} is not valid: give an integer >= {minimum}."
        raise InputError(msg)
    return int(value)


@contextlib.contextmanager
def _threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(num_threads)`` (None: leave as is)."""
    torch, _ = _require()
    if num_threads is None:
        yield
        return
    _check_positive_int(num_threads, "num_threads")
    before = torch.get_num_threads()
    torch.set_num_threads(int(num_threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("numpy", "torch", "diffusers", "sentence-transformers", "diffembed"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def _default_encoder() -> Any:
    from .text import PromptEncoder

    return PromptEncoder(layer=ENCODER_LAYER)


def _encoder_config(encoder: Any) -> dict[str, Any] | None:
    config = getattr(encoder, "config", None)
    return config() if callable(config) else None


def _dataset_config(dataset: Any) -> dict[str, Any]:
    """What the dataset says about itself (``config`` attribute or method), JSON-safe."""
    from ..io.writers import json_safe

    info = getattr(dataset, "config", None)
    if callable(info):
        info = info()
    out = dict(info) if isinstance(info, dict) else {}
    out.setdefault("n_images", len(dataset.captions))
    return json_safe(out)


def _check_dataset(dataset: Any) -> tuple[np.ndarray, list[str]]:
    images = getattr(dataset, "images", None)
    captions = getattr(dataset, "captions", None)
    if images is None or captions is None:
        msg = (
            f"train_ddpm needs a dataset with .images (n, channels, H, W) in [0, 1] and "
            f".captions (n strings), e.g. shapes_dataset(20000); got {type(dataset).__name__}."
        )
        raise InputError(msg)
    images = np.asarray(images, dtype=np.float32)
    captions = [str(c) for c in captions]
    if images.ndim != 4 or images.shape[0] != len(captions) or images.shape[0] < 2:
        msg = (
            f"The dataset has images of shape {images.shape} and {len(captions)} captions; "
            "give at least 2 images of shape (n, channels, H, W) with one caption each."
        )
        raise InputError(msg)
    if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        msg = (
            f"Dataset images must be finite and lie in [0, 1]; they range over "
            f"[{np.nanmin(images):.3g}, {np.nanmax(images):.3g}]. Rescale them first."
        )
        raise InputError(msg)
    return images, captions


def _encode_unique(encoder: Any, prompts: Sequence[str]) -> tuple[Any, np.ndarray]:
    """Token embeddings of the distinct prompts and, per prompt, the row of its embedding."""
    torch, _ = _require()
    unique, inverse = np.unique(
        np.asarray(list(prompts), dtype=object).astype(str), return_inverse=True
    )
    rows = []
    for start in range(0, unique.size, 256):
        rows.append(torch.as_tensor(encoder.encode(list(unique[start : start + 256]))).float())
    return torch.cat(rows), inverse.reshape(-1)


# ----------------------------------------------------------------------------- training
def train_ddpm(
    dataset: Any,
    *,
    encoder: Any = None,
    steps: int = 3000,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    warmup_steps: int | None = None,
    caption_dropout: float = 0.1,
    ema_decay: float | None = 0.999,
    unet_config: dict[str, Any] | None = None,
    beta_schedule: str = "squaredcos_cap_v2",
    num_train_timesteps: int = 1000,
    prediction_type: str = "v_prediction",
    fit_classifier: bool = True,
    classifier_samples: int = 5000,
    seed: int = 0,
    lr_schedule: str = "cosine",
    progress: Progress | None = None,
    callback: Callable[[int, DDPMModel], bool | None] | None = None,
    callback_every: int = 100,
    num_threads: int | None = None,
    estimate: Callable[[float], None] | None = None,
    estimate_steps: int = 3,
) -> DDPMModel:
    """Train a text-conditioned DDPM on a captioned image dataset.

    Parameters
    ----------
    dataset
        An object with ``.images`` (n, channels, H, W) float in [0, 1] and ``.captions``
        (n strings), such as :func:`~diffembed.latents.shapes_dataset`; its ``.attributes``
        (family → labels) train the attribute classifier and its ``config`` (if any) is
        recorded.
    encoder
        A :class:`~diffembed.latents.PromptEncoder` (default: MiniLM's layer 4, 32 tokens).
    steps
        Optimisation steps (default 3,000: at 2,000, 5 of 15 shapes models trained on
        different seeds drew the prompted shape or position in fewer than 90 % of their
        samples; docs/latents.md).
    batch_size
        Images per step.
    learning_rate
        Peak AdamW learning rate (linear warm-up, then cosine decay to zero).
    warmup_steps
        Steps of linear warm-up (default: 5 % of ``steps``, at most 200).
    caption_dropout
        Probability of replacing a caption with the empty prompt (classifier-free guidance).
    ema_decay
        Decay of the exponential moving average of the weights that the returned model
        carries (with diffusers' warm-up, so short runs are not dominated by the start);
        None trains without it.
    unet_config
        Keyword arguments of :func:`build_unet` (``sample_size``, ``in_channels`` and
        ``cross_attention_dim`` follow the data and the encoder).
    beta_schedule, num_train_timesteps, prediction_type
        The noise schedule and the U-Net's target of :func:`build_scheduler`
        (``"v_prediction"``, ``"epsilon"`` or ``"sample"``).
    fit_classifier
        Fit an :class:`~diffembed.latents.AttributeClassifier` on the dataset's images and
        attributes (at most ``classifier_samples`` of them, a seeded subset) and keep it.
    classifier_samples
        Images the classifier is fitted on.
    seed
        Seed of the weights, the batches, the noise and the dropout: same seed, same model.
    lr_schedule
        ``"cosine"`` (decay to zero at ``steps``) or ``"constant"`` (after the warm-up), with
        which a run stopped early by ``callback`` is a shorter run of its own.
    progress
        ``progress(done, total)`` after every step.
    callback
        ``callback(step, model)`` every ``callback_every`` steps and after the last one,
        with the model as it would be returned now (EMA weights, eval mode, classifier
        fitted, ``loss_history`` so far); return True to stop training there. The weights
        are restored and training resumes after it returns.
    callback_every
        Steps between callbacks.
    num_threads
        Torch CPU threads during training (None: torch's current setting).
    estimate
        ``estimate(seconds_per_step)``, called once before the first training step with the
        wall time of one step measured here: ``estimate_steps`` steps (after one warm-up
        step) on a throw-away copy of the U-Net and optimiser, so training itself is the
        same with or without it (same seed, same weights).
    estimate_steps
        Timed steps of the estimate.

    Returns
    -------
    DDPMModel
        The model (EMA weights when ``ema_decay`` is set) in eval mode, with
        ``loss_history`` (per step) and ``config``.
    """
    torch, diffusers = _require()
    images, captions = _check_dataset(dataset)
    steps = _check_positive_int(steps, "steps")
    batch_size = _check_positive_int(batch_size, "batch_size")
    if not 0 <= caption_dropout < 1:
        msg = f"caption_dropout={caption_dropout!r} must lie in [0, 1); 0.1 is usual."
        raise InputError(msg)
    if not learning_rate > 0:
        msg = f"learning_rate={learning_rate!r} must be positive; 2e-3 suits the small U-Net."
        raise InputError(msg)
    if ema_decay is not None and not 0 < ema_decay < 1:
        msg = f"ema_decay={ema_decay!r} must lie in (0, 1) (e.g. 0.999), or be None."
        raise InputError(msg)
    if lr_schedule not in ("cosine", "constant"):
        msg = f"lr_schedule={lr_schedule!r} is not valid: choose 'cosine' or 'constant'."
        raise InputError(msg)
    if prediction_type not in PREDICTION_TYPES:
        build_scheduler(prediction_type=prediction_type)  # raises the error that names them
    callback_every = _check_positive_int(callback_every, "callback_every")
    estimate_steps = _check_positive_int(estimate_steps, "estimate_steps")
    if warmup_steps is None:
        warmup_steps = min(200, max(1, steps // 20))
    encoder = _default_encoder() if encoder is None else encoder
    n, channels, height, width = images.shape
    if height != width:
        msg = f"Images must be square for this U-Net; they are {height}×{width}."
        raise InputError(msg)

    start = time.perf_counter()
    with _threads(num_threads):
        tokens, caption_rows = _encode_unique(encoder, captions)
        uncond = torch.as_tensor(encoder.encode([""])).float()
        table = torch.cat([tokens, uncond])  # the last row is the empty prompt
        uncond_row = table.shape[0] - 1
        kwargs = {**_UNET_DEFAULTS, "seed": seed, **(unet_config or {})}
        kwargs.update(sample_size=height, in_channels=channels, cross_attention_dim=table.shape[-1])
        unet = build_unet(**kwargs)
        scheduler = build_scheduler(
            num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule,
            prediction_type=prediction_type,
        )  # fmt: skip
        x_all = torch.from_numpy(images * 2 - 1)
        rows_all = torch.from_numpy(caption_rows.astype(np.int64))
        alphas_cumprod = scheduler.alphas_cumprod.float()
        classifier = None
        if fit_classifier and getattr(dataset, "attributes", None):
            classifier = _fit_classifier(images, dataset.attributes, classifier_samples, seed)
        if estimate is not None:  # right before the loop: what is left is the loop
            estimate(
                _time_steps(unet, x_all, table, batch_size, estimate_steps, num_train_timesteps)
            )

        optimizer = torch.optim.AdamW(unet.parameters(), lr=learning_rate, weight_decay=1e-4)
        if lr_schedule == "cosine":
            schedule = diffusers.optimization.get_cosine_schedule_with_warmup(
                optimizer, num_warmup_steps=warmup_steps, num_training_steps=steps
            )
        else:
            schedule = diffusers.optimization.get_constant_schedule_with_warmup(
                optimizer, num_warmup_steps=warmup_steps
            )
        ema = None
        if ema_decay is not None:
            from diffusers.training_utils import EMAModel

            ema = EMAModel(unet.parameters(), decay=ema_decay, use_ema_warmup=True, power=2 / 3)
        gen = torch.Generator().manual_seed(seed)
        losses = np.zeros(steps)
        unet.train()
        for step in range(steps):
            idx = torch.randint(0, n, (batch_size,), generator=gen)
            x0 = x_all[idx]
            t = torch.randint(0, num_train_timesteps, (batch_size,), generator=gen)
            noise = torch.randn(x0.shape, generator=gen)
            drop = torch.rand(batch_size, generator=gen) < caption_dropout
            rows = torch.where(drop, torch.full_like(idx, uncond_row), rows_all[idx])
            a = alphas_cumprod[t].view(-1, 1, 1, 1)
            xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
            pred = unet(xt, t, encoder_hidden_states=table[rows]).sample
            if prediction_type == "v_prediction":
                target = a.sqrt() * noise - (1 - a).sqrt() * x0
            else:
                target = noise if prediction_type == "epsilon" else x0
            loss = torch.nn.functional.mse_loss(pred, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            if ema is not None:
                ema.step(unet.parameters())
            losses[step] = float(loss.detach())
            if progress is not None:
                progress(step + 1, steps)
            if callback is not None and ((step + 1) % callback_every == 0 or step + 1 == steps):
                if ema is not None:
                    ema.store(unet.parameters())
                    ema.copy_to(unet.parameters())
                unet.eval()
                done = step + 1
                snapshot = DDPMModel(
                    unet, scheduler, encoder, classifier,
                    _config(locals(), time.perf_counter() - start), losses[:done].copy(),
                )  # fmt: skip
                stop = bool(callback(done, snapshot))
                if ema is not None:
                    ema.restore(unet.parameters())
                unet.train()
                if stop:
                    losses = losses[:done]
                    break
        if ema is not None:
            ema.copy_to(unet.parameters())
        unet.eval()
        done = losses.size
        config = _config(locals(), time.perf_counter() - start)
    return DDPMModel(unet, scheduler, encoder, classifier, config, losses)


def _time_steps(
    unet: Any, x_all: Any, table: Any, batch_size: int, steps: int, t_max: int
) -> float:
    """Wall seconds of one training step: ``steps`` timed steps on a copy, after a warm-up."""
    import copy

    torch, _ = _require()
    trial = copy.deepcopy(unet)
    trial.train()
    optimizer = torch.optim.AdamW(trial.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(12345)
    n = x_all.shape[0]
    seconds = 0.0
    for step in range(steps + 1):
        start = time.perf_counter()
        idx = torch.randint(0, n, (batch_size,), generator=gen)
        rows = torch.randint(0, table.shape[0], (batch_size,), generator=gen)
        t = torch.randint(0, t_max, (batch_size,), generator=gen)
        x0 = x_all[idx]
        pred = trial(x0, t, encoder_hidden_states=table[rows]).sample
        loss = torch.nn.functional.mse_loss(pred, x0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trial.parameters(), 1.0)
        optimizer.step()
        if step:  # the first step allocates buffers: not timed
            seconds += time.perf_counter() - start
    return seconds / steps


def _config(v: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The JSON-safe ``config`` of a model being trained, from train_ddpm's local variables."""
    losses, n = v["losses"][: v["done"]], v["n"]
    window = max(1, min(100, losses.size // 10))
    classifier = v["classifier"]
    return {
        "image_size": int(v["height"]),
        "channels": int(v["channels"]),
        "dataset": _dataset_config(v["dataset"]),
        "encoder": _encoder_config(v["encoder"]),
        "unet": {k: (list(x) if isinstance(x, tuple) else x) for k, x in v["kwargs"].items()},
        "training": {
            "steps": int(losses.size),
            "steps_planned": int(v["steps"]),
            "batch_size": v["batch_size"],
            "learning_rate": float(v["learning_rate"]),
            "lr_schedule": v["lr_schedule"],
            "warmup_steps": int(v["warmup_steps"]),
            "caption_dropout": float(v["caption_dropout"]),
            "ema_decay": v["ema_decay"],
            "beta_schedule": v["beta_schedule"],
            "prediction_type": v["prediction_type"],
            "num_train_timesteps": int(v["num_train_timesteps"]),
            "seed": int(v["seed"]),
            "num_threads": v["num_threads"],
            "seconds": seconds,
            "n_unique_captions": int(v["tokens"].shape[0]),
            "loss_first": float(losses[:window].mean()) if losses.size else None,
            "loss_last": float(losses[-window:].mean()) if losses.size else None,
            "loss_window": int(window),
        },
        "classifier": (
            None if classifier is None else {"n_images": int(min(n, v["classifier_samples"]))}
        ),
        "versions": _versions(),
    }


def _fit_classifier(images: np.ndarray, attributes: dict[str, Any], n_max: int, seed: int) -> Any:
    from .shapes import AttributeClassifier

    n = images.shape[0]
    rng = np.random.default_rng(seed + 1)
    idx = np.sort(rng.choice(n, size=min(n, n_max), replace=False))
    labels = {k: np.asarray(v)[idx] for k, v in attributes.items()}
    return AttributeClassifier().fit(images[idx], labels)


# ----------------------------------------------------------------------------- re-exports
from .ddpm_io import is_model_directory, load_model, save_model, write_model  # noqa: E402
from .sampling import sample  # noqa: E402
