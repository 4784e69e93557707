"""Ancestral DDPM sampling with classifier-free guidance for :class:`~.ddpm.DDPMModel`.

**Calling convention of the U-Net** (the h-space hooks of :mod:`.hspace` rely on it): with
``guidance_scale > 1`` every step makes one call
``unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([uncond, cond]))``, the
unconditional half first, exactly as diffusers' ``StableDiffusionPipeline``; with
``guidance_scale == 1`` one call with the conditional embeddings only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..exceptions import InputError
from .ddpm import DDPMModel, Progress, _check_positive_int, _encode_unique, _require, _threads

__all__ = ["sample"]


# ----------------------------------------------------------------------------- sampling
def _seeds(seeds: int | Sequence[int] | None, n: int) -> list[int]:
    if seeds is None:
        return list(range(n))
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        return [int(seeds) + i for i in range(n)]
    out = [int(s) for s in seeds]
    if len(out) != n:
        msg = (
            f"seeds has {len(out)} entries for {n} prompts; give one seed per prompt, one "
            "integer (seed, seed + 1, ...) or None (0, 1, ...)."
        )
        raise InputError(msg)
    return out


def _check_sampling(model: DDPMModel, prompts: Sequence[str], steps: int, guidance: float) -> None:
    if isinstance(prompts, str):
        msg = f"prompts must be a list of strings, not one string ({prompts!r}); wrap it: [prompt]."
        raise InputError(msg)
    if len(prompts) == 0:
        msg = 'prompts is empty: give at least one prompt ("" is the unconditional prompt).'
        raise InputError(msg)
    if model.encoder is None:
        msg = (
            "This model has no prompt encoder: it was loaded from a diffusers pipeline folder, "
            "whose prompts go through the pipeline's own text encoder (text_encoder/, "
            "tokenizer/). Sample it with diffusers' pipeline; diffembed.latents.extract_hspace "
            "reads its h-space through the same hooks."
        )
        raise InputError(msg)
    t_max = int(model.scheduler.config.num_train_timesteps)
    if (
        isinstance(steps, bool)
        or not isinstance(steps, int | np.integer)
        or not 1 <= steps <= t_max
    ):
        msg = (
            f"num_inference_steps={steps!r} is not valid: give an integer in [1, {t_max}] "
            "(the model's num_train_timesteps); 50 is usual."
        )
        raise InputError(msg)
    if not (isinstance(guidance, int | float) and math.isfinite(guidance) and guidance >= 1):
        msg = (
            f"guidance_scale={guidance!r} is not valid: give a number >= 1 (1 = no "
            "classifier-free guidance; 3 is a good default)."
        )
        raise InputError(msg)


def sample(
    model: DDPMModel,
    prompts: Sequence[str],
    *,
    seeds: int | Sequence[int] | None = None,
    num_inference_steps: int = 50,
    guidance_scale: float = 3.0,
    batch_size: int = 64,
    progress: Progress | None = None,
    return_trajectory: bool = False,
    num_threads: int | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Generate one image per prompt by ancestral DDPM sampling with classifier-free guidance.

    Parameters
    ----------
    model
        A trained :class:`DDPMModel`.
    prompts
        One prompt per image (repeat a prompt for several images); ``""`` is unconditional.
    seeds
        The seed of each image: a sequence (one per prompt), an integer ``s`` (images get
        ``s, s + 1, ...``) or None (``0, 1, ...``). Image ``i`` draws all its noise from its
        own ``torch.Generator`` seeded with ``seeds[i]``, so it does not depend on the other
        prompts or on ``batch_size``, and two prompts with the same seed start from the same
        noise.
    num_inference_steps
        Denoising steps, in [1, num_train_timesteps]
        (``scheduler.set_timesteps(num_inference_steps)``).
    guidance_scale
        ``ε = ε_uncond + w (ε_cond − ε_uncond)``; 1 disables guidance (one U-Net call per
        step, conditional only).
    batch_size
        Images per U-Net call (twice as many rows with guidance).
    progress
        ``progress(done, total)`` after every denoising step of every batch.
    return_trajectory
        Also return ``x_t`` after every step.
    num_threads
        Torch CPU threads (None: torch's current setting).

    Returns
    -------
    images : numpy.ndarray
        ``(n, channels, H, W)`` float32 in [0, 1].
    trajectory : numpy.ndarray
        Only with ``return_trajectory``: ``(num_inference_steps + 1, n, channels, H, W)``
        float32 in model space ([−1, 1]): the initial noise, then ``x_t`` after each step of
        ``model.scheduler.timesteps``.
    """
    torch, _ = _require()
    _check_sampling(model, prompts, num_inference_steps, guidance_scale)
    batch_size = _check_positive_int(batch_size, "batch_size")
    prompts = [str(p) for p in prompts]
    seed_list = _seeds(seeds, len(prompts))
    unet, scheduler = model.unet, model.scheduler
    param = next(unet.parameters())
    device, dtype = param.device, param.dtype
    shape = model.image_shape
    guided = guidance_scale > 1
    n_batches = math.ceil(len(prompts) / batch_size)
    images, trajectory = [], []
    with _threads(num_threads), torch.no_grad():
        unet.eval()
        scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = scheduler.timesteps
        tokens, rows = _encode_unique(model.encoder, prompts)
        tokens = tokens.to(device=device, dtype=dtype)
        rows = torch.from_numpy(rows.astype(np.int64)).to(device)
        uncond_one = torch.as_tensor(model.encoder.encode([""])).to(device=device, dtype=dtype)
        for b in range(n_batches):
            sl = slice(b * batch_size, (b + 1) * batch_size)
            gens = [torch.Generator().manual_seed(s) for s in seed_list[sl]]
            cond = tokens[rows[sl]]
            m = cond.shape[0]
            x = torch.cat([torch.randn((1, *shape), generator=g) for g in gens]).to(device, dtype)
            emb = torch.cat([uncond_one.expand(m, -1, -1), cond]) if guided else cond
            path = [x.float().cpu().numpy()] if return_trajectory else None
            for i, t in enumerate(timesteps):
                if guided:
                    eps_u, eps_c = unet(
                        torch.cat([x, x]), t, encoder_hidden_states=emb
                    ).sample.chunk(2)
                    eps = eps_u + guidance_scale * (eps_c - eps_u)
                else:
                    eps = unet(x, t, encoder_hidden_states=emb).sample
                x = scheduler.step(eps, t, x, generator=gens if m > 1 else gens[0]).prev_sample
                if path is not None:
                    path.append(x.float().cpu().numpy())
                if progress is not None:
                    progress(b * len(timesteps) + i + 1, n_batches * len(timesteps))
            images.append(((x.float().clamp(-1, 1) + 1) / 2).cpu().numpy())
            if path is not None:
                trajectory.append(np.stack(path))
    out = np.concatenate(images).astype(np.float32, copy=False)
    if return_trajectory:
        return out, np.concatenate(trajectory, axis=1).astype(np.float32, copy=False)
    return out
