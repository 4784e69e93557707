"""The small U-Net and noise schedule of :mod:`.ddpm`: diffusers' classes, configured here.

:func:`build_unet` configures a :class:`diffusers.UNet2DConditionModel` (cross-attention
mid-block, pooled prompt in the timestep embedding, pixel coordinates as input channels),
:func:`add_coordinates` attaches the coordinates to a loaded one, and :func:`build_scheduler`
a :class:`diffusers.DDPMScheduler`.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from ..exceptions import InputError

__all__ = [
    "COORDINATE_CHANNELS",
    "PREDICTION_TYPES",
    "add_coordinates",
    "build_scheduler",
    "build_unet",
    "has_coordinates",
]


def _require() -> tuple[Any, Any]:
    from .ddpm import _require as require

    return require()


def build_unet(
    *,
    sample_size: int = 16,
    in_channels: int = 3,
    cross_attention_dim: int = 384,
    block_out_channels: Sequence[int] = (32, 64),
    layers_per_block: int = 1,
    attention_blocks: bool = False,
    pooled_text: bool = True,
    coordinates: bool = True,
    attention_heads: int = 8,
    norm_num_groups: int = 8,
    seed: int = 0,
) -> Any:
    """A small :class:`diffusers.UNet2DConditionModel` for ``sample_size``² images.

    The prompt enters through the cross-attention of the mid-block (the h-space,
    ``UNetMidBlock2DCrossAttn``: self-attention over the whole bottleneck, then cross-attention
    to the prompt tokens), through an attention-pooled summary of the tokens added to the
    timestep embedding (``pooled_text``), and the pixel coordinates enter as two extra input
    channels (``coordinates``); with ``attention_blocks`` every resolution but the first also
    gets cross-attention blocks. The default, 1.26 M parameters with an 8 × 8 × 64
    bottleneck for 16 × 16 images, takes ~0.13 s per training step of 32 images on two idle
    CPU threads (cross-attention blocks double that) and, trained by :func:`train_ddpm` with
    its defaults (v-prediction, MiniLM layer 4), draws the prompted shape, colour, size and
    position in ≥ 0.99 of the samples after 1,500 steps × 32 images
    (``benchmarks/results/latents_adherence.md``).

    Parameters
    ----------
    sample_size
        Image height and width in pixels; divisible by ``2 ** (len(block_out_channels) - 1)``.
    in_channels
        Image channels (also the output channels: ε has the image's shape).
    cross_attention_dim
        Dimension of the prompt encoder's token embeddings (384 for MiniLM).
    block_out_channels
        Channels per resolution, fine → coarse.
    layers_per_block
        Residual layers per block.
    attention_blocks
        Cross-attention down/up blocks at every resolution but the first (not only in the
        mid-block).
    pooled_text
        Also add an attention-pooled summary of the prompt tokens to the timestep embedding
        (diffusers' ``addition_embed_type="text"``), which every residual block reads: a
        cheap global conditioning next to the cross-attention.
    coordinates
        Give the U-Net the pixel coordinates as two extra input channels (see
        :func:`add_coordinates`), so that it can place a shape where the prompt says.
    attention_heads
        Attention heads of every transformer block.
    norm_num_groups
        Groups of the group norms (must divide every channel count).
    seed
        Seed of the weight initialisation.

    Returns
    -------
    diffusers.UNet2DConditionModel
    """
    torch, diffusers = _require()
    channels = tuple(int(c) for c in block_out_channels)
    if len(channels) < 2:
        msg = f"block_out_channels={channels} needs at least 2 resolutions, e.g. (32, 64, 64)."
        raise InputError(msg)
    factor = 2 ** (len(channels) - 1)
    if sample_size % factor:
        msg = (
            f"sample_size={sample_size} is not divisible by {factor}, the downsampling of "
            f"{len(channels)} resolutions; use a multiple of {factor}."
        )
        raise InputError(msg)
    if any(c % norm_num_groups for c in channels):
        msg = f"norm_num_groups={norm_num_groups} must divide every channel count {channels}."
        raise InputError(msg)
    inner = "CrossAttn" if attention_blocks else ""
    down = ("DownBlock2D",) + (f"{inner}DownBlock2D",) * (len(channels) - 1)
    up = (f"{inner}UpBlock2D",) * (len(channels) - 1) + ("UpBlock2D",)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = diffusers.UNet2DConditionModel(
            sample_size=sample_size,
            in_channels=in_channels + (COORDINATE_CHANNELS if coordinates else 0),
            out_channels=in_channels,
            down_block_types=down,
            up_block_types=up,
            mid_block_type="UNetMidBlock2DCrossAttn",
            block_out_channels=channels,
            layers_per_block=layers_per_block,
            cross_attention_dim=cross_attention_dim,
            attention_head_dim=attention_heads,  # diffusers' name for the number of heads
            norm_num_groups=norm_num_groups,
            addition_embed_type="text" if pooled_text else None,
            addition_embed_type_num_heads=attention_heads,
        )
    return add_coordinates(unet) if coordinates else unet


#: Channels of the pixel coordinates (x, y in [-1, 1]) that a U-Net built with
#: ``coordinates=True`` reads after the image channels.
COORDINATE_CHANNELS = 2


def has_coordinates(unet: Any) -> bool:
    """Whether ``unet`` reads pixel coordinates after the image (``in = out + 2`` channels)."""
    config = unet.config
    return int(config.in_channels) == int(config.out_channels) + COORDINATE_CHANNELS


def _coordinates_hook(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
    """Forward pre-hook: append the x and y pixel coordinates to an image-only ``sample``."""
    torch, _ = _require()
    sample = args[0] if args else kwargs["sample"]
    if sample.shape[1] != module.config.out_channels:
        return None  # already has them (or the caller made its own)
    n, _, h, w = sample.shape
    ys = torch.linspace(-1, 1, h, dtype=sample.dtype, device=sample.device)
    xs = torch.linspace(-1, 1, w, dtype=sample.dtype, device=sample.device)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy")).expand(n, -1, -1, -1)
    sample = torch.cat([sample, grid], dim=1)
    if args:
        return (sample, *args[1:]), kwargs
    return args, {**kwargs, "sample": sample}


def add_coordinates(unet: Any) -> Any:
    """Make ``unet`` (built with ``coordinates=True``) append pixel coordinates to its input.

    A U-Net's convolutions and attention are translation-equivariant: nothing in them says
    where "left" is, except the zero padding at the border, which the small U-Net did not
    learn to use (prompted position at chance after 3000 steps). CoordConv (Liu et al. 2018)
    gives every pixel its coordinates as two extra input channels; here a forward pre-hook
    appends them, so the U-Net is still called with the image alone (``unet(x_t, t,
    encoder_hidden_states=...)``) by the sampler, the h-space recorder and diffusers
    pipelines. :func:`~diffembed.latents.load_model` re-attaches the hook; a U-Net loaded with
    diffusers' ``from_pretrained`` needs ``add_coordinates(unet)`` too. Idempotent.
    """
    if not has_coordinates(unet):
        msg = (
            f"This U-Net reads {unet.config.in_channels} channels and writes "
            f"{unet.config.out_channels}; only one built with coordinates=True (2 more in "
            "than out) takes pixel coordinates."
        )
        raise InputError(msg)
    if not getattr(unet, "_diffembed_coordinates", False):
        unet.register_forward_pre_hook(_coordinates_hook, with_kwargs=True)
        unet._diffembed_coordinates = True
    return unet


#: The keyword arguments of :func:`build_unet` and their defaults (recorded in a model's config).
_UNET_DEFAULTS: dict[str, Any] = {
    name: p.default
    for name, p in inspect.signature(build_unet).parameters.items()
}


#: What the U-Net predicts (diffusers' ``prediction_type``).
PREDICTION_TYPES = ("v_prediction", "epsilon", "sample")


def build_scheduler(
    *,
    num_train_timesteps: int = 1000,
    beta_schedule: str = "squaredcos_cap_v2",
    prediction_type: str = "v_prediction",
) -> Any:
    """A :class:`diffusers.DDPMScheduler` (clipped x̂₀, fixed-small variance).

    The cosine schedule (``squaredcos_cap_v2``, Nichol & Dhariwal 2021) destroys small images
    less abruptly than the linear one, which matters at 16 × 16 pixels. The U-Net predicts
    ``v = √ᾱ ε − √(1 − ᾱ) x₀`` (Salimans & Ho 2022) by default: at the first sampling steps
    ᾱ is ~1e-9 under this schedule, so an ε-predictor cannot express the image it expects
    (its x̂₀ is ε's error divided by √ᾱ, then clipped), and what is decided there, where the
    shape goes, followed the noise instead of the prompt. The v-loss weighs the x₀ error by
    ``1 / (1 − ᾱ) ≥ 1`` at every noise level, the ε-loss by ``ᾱ / (1 − ᾱ)``, ~0 there.
    ``"epsilon"`` (the earlier default) and ``"sample"`` (x₀) are accepted too.
    """
    _, diffusers = _require()
    if prediction_type not in PREDICTION_TYPES:
        msg = (
            f"prediction_type={prediction_type!r} is not valid: choose one of "
            f"{', '.join(map(repr, PREDICTION_TYPES))} ('v_prediction' learns the layout)."
        )
        raise InputError(msg)
    return diffusers.DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=beta_schedule,
        prediction_type=prediction_type,
        clip_sample=True,
    )
