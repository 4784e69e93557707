"""Load what ``decode`` samples from: a diffembed DDPM folder or any diffusers pipeline folder.

:func:`resolve_model` turns a path (or an object already loaded) into ``("ddpm", DDPMModel)``
or ``("pipeline", pipe)``, on a device and in a precision:

* a diffembed model directory (``diffembed latents train -o MODEL/``: ``unet/``,
  ``scheduler/``, ``diffembed.json``);
* a local diffusers pipeline folder (``model_index.json``, ``unet/``, ``text_encoder/``,
  ``tokenizer/``, ``scheduler/``, ``vae/``) whose denoiser is a ``UNet2DConditionModel``:
  Stable Diffusion 1.x / 2.x and LCM load the same way (``DiffusionPipeline.from_pretrained``,
  offline). SDXL's U-Net is a ``UNet2DConditionModel`` too and its pipeline is called the same
  way, but no SDXL folder has been tried here.

Weights load from safetensors only: a component folder holding only pickles (``*.bin``,
``*.ckpt``) is refused unless ``allow_pickle_weights`` (unpickling runs code).

:func:`resolve_device` and :func:`resolve_dtype` check ``--device`` / ``--dtype``: ``auto`` is
CUDA when ``torch.cuda.is_available()``, else the CPU; ``float16`` on the CPU is refused (many
CPU kernels have no half-precision version, and those that do are slower than float32), with
the fix (``bfloat16`` or ``float32`` on the CPU, or a CUDA device).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._torch_device import resolve_device as _resolve_device
from ..exceptions import InputError

__all__ = [
    "DTYPES",
    "INSTALL",
    "generate_batch",
    "resolve_device",
    "resolve_dtype",
    "resolve_model",
]

INSTALL = (
    "Install the diffusion extra: `pip install torch==2.13.0` first (a CPU build), then "
    "`pip install 'diffembed[diffusion]'`."
)
DTYPES = ("float32", "float16", "bfloat16")


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = f"h-space extraction needs torch ({exc}). {INSTALL}"
        raise ImportError(msg) from exc
    return torch


def resolve_device(device: str | None) -> str:
    """``"auto"`` → ``"cuda"`` when CUDA is available, else ``"cpu"``; others are checked.

    The one check of :func:`diffembed._torch_device.resolve_device`, named ``--device``.

    Raises
    ------
    InputError
        An unknown device name, or CUDA asked for on a machine without it.
    """
    return _resolve_device(device, flag="--device")


def resolve_dtype(dtype: str | None, device: str) -> Any:
    """The torch dtype named by ``dtype`` (``float32``, ``float16``, ``bfloat16``) on ``device``.

    Raises
    ------
    InputError
        An unknown name, or ``float16`` on the CPU (use ``bfloat16`` or ``float32`` there).
    """
    torch = _torch()
    name = "float32" if dtype is None else str(dtype).strip().lower()
    if name not in DTYPES:
        msg = f"--dtype {dtype!r} is not valid: choose float32, float16 or bfloat16."
        raise InputError(msg)
    if name == "float16" and not device.startswith("cuda"):
        msg = (
            "--dtype float16 on the CPU is refused: many CPU kernels have no half-precision "
            "version and the others are slower than float32. Use --dtype bfloat16 (half the "
            "memory, runs on the CPU) or float32 there, or float16 with --device cuda."
        )
        raise InputError(msg)
    return getattr(torch, name)


def _place(kind: str, obj: Any, device: str | None, dtype: Any) -> Any:
    """Move a loaded model to ``device`` / ``dtype`` (None: leave as it is)."""
    if device is None and dtype is None:
        return obj
    if kind == "pipeline":
        return obj.to(device=device, dtype=dtype) if hasattr(obj, "to") else obj
    try:  # diffusers warns about casting with .to(); our U-Net has no float32-only parts
        from diffusers.utils import logging as diffusers_logging

        level = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        diffusers_logging = None
    try:
        obj.unet.to(device=device, dtype=dtype)
    finally:
        if diffusers_logging is not None:
            diffusers_logging.set_verbosity(level)
    return obj


def resolve_model(
    model_or_pipeline: Any,
    allow_pickle_weights: bool = False,
    device: str | None = None,
    dtype: Any = None,
) -> tuple[str, Any]:
    """("ddpm", DDPMModel) or ("pipeline", pipe) from an object or a local directory.

    Parameters
    ----------
    model_or_pipeline
        A :class:`~.ddpm.DDPMModel`, a diffusers pipeline object, or a directory of either.
    allow_pickle_weights
        Load a folder whose weights exist only as pickles (unpickling runs code).
    device, dtype
        Where and in which precision the denoiser runs (a resolved device string and a torch
        dtype, see :func:`resolve_device`, :func:`resolve_dtype`); None: as loaded (CPU,
        float32 for a folder).

    Raises
    ------
    InputError
        Not a directory, a folder without a U-Net, pickled weights, a load failure, an object
        without ``.unet``.
    """
    if isinstance(model_or_pipeline, str | Path):
        kind, obj = _load_directory(Path(model_or_pipeline).expanduser(), allow_pickle_weights,
                                    dtype)  # fmt: skip
        # a pipeline folder was loaded in ``dtype`` already (diffusers keeps the parts that
        # must stay float32 so); a diffembed U-Net is cast here
        return kind, _place(kind, obj, device, dtype if kind == "ddpm" else None)
    unet = getattr(model_or_pipeline, "unet", None)
    if unet is None:
        msg = (
            f"{type(model_or_pipeline).__name__} has no .unet: give a DDPMModel, a diffusers "
            "pipeline, or a directory holding one."
        )
        raise InputError(msg)
    if getattr(model_or_pipeline, "encoder", None) is not None and hasattr(
        model_or_pipeline, "scheduler"
    ):
        return "ddpm", _place("ddpm", model_or_pipeline, device, dtype)
    if callable(model_or_pipeline):
        return "pipeline", _place("pipeline", model_or_pipeline, device, dtype)
    msg = (
        f"{type(model_or_pipeline).__name__} has a U-Net but no prompt encoder and cannot be "
        "called: load its diffusers pipeline (with its text encoder) and pass that instead."
    )
    raise InputError(msg)


def _load_directory(path: Path, allow_pickle_weights: bool, dtype: Any) -> tuple[str, Any]:
    if not path.is_dir():
        msg = (
            f"{path} is not a directory: give a model directory (`diffembed latents train "
            "-o MODEL/`) or a local diffusers pipeline folder (model_index.json, unet/, ...)."
        )
        raise InputError(msg)
    from .ddpm import is_model_directory, load_model

    if is_model_directory(path):
        return "ddpm", load_model(path, allow_pickle_weights=allow_pickle_weights)
    if (path / "model_index.json").is_file():
        return "pipeline", _load_pipeline(path, allow_pickle_weights, dtype)
    what = "no unet/ folder" if not (path / "unet").is_dir() else "no diffembed.json"
    msg = (
        f"{path} has {what} and no model_index.json, so there is no U-Net to read h-space "
        "from. Give a diffembed model directory (unet/, scheduler/, diffembed.json: made by "
        "`diffembed latents train`) or a local diffusers pipeline folder (model_index.json, "
        "unet/, text_encoder/, tokenizer/, scheduler/)."
    )
    raise InputError(msg)


def _dtype_keyword() -> str:
    """``dtype`` for diffusers that renamed ``torch_dtype`` (0.36+), else ``torch_dtype``."""
    try:
        from diffusers.utils import deprecation_utils
    except ImportError:  # pragma: no cover - older diffusers
        return "torch_dtype"
    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def _load_pipeline(path: Path, allow_pickle_weights: bool, dtype: Any) -> Any:
    if not (path / "unet").is_dir():
        msg = (
            f"{path} holds a diffusers pipeline without a unet/ folder: h-space is the "
            "mid-block of a UNet2DConditionModel, so this pipeline has none to read."
        )
        raise InputError(msg)
    try:
        from diffusers import DiffusionPipeline
    except ImportError as exc:  # pragma: no cover
        msg = f"Loading a pipeline needs diffusers ({exc}). {INSTALL}"
        raise ImportError(msg) from exc
    from .ddpm_io import check_unet_weights, check_weight_files

    components = [p for p in sorted(path.iterdir()) if p.is_dir()]
    safe = [check_weight_files(p, allow_pickle_weights=allow_pickle_weights) for p in components]
    if safe[components.index(path / "unet")]:
        check_unet_weights(path / "unet")
    extra = {} if dtype is None else {_dtype_keyword(): dtype}
    try:
        pipe = DiffusionPipeline.from_pretrained(
            path, local_files_only=True,
            use_safetensors=None if allow_pickle_weights else True, **extra,
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        msg = f"Cannot load the diffusers pipeline in {path}: {exc}"
        raise InputError(msg) from exc
    unet = getattr(pipe, "unet", None)
    if unet is None or getattr(unet, "mid_block", None) is None:
        msg = (
            f"The pipeline in {path} ({type(pipe).__name__}) has no U-Net with a mid-block "
            f"({type(unet).__name__}): h-space is the mid-block output of a "
            "UNet2DConditionModel (Stable Diffusion 1.x/2.x, LCM, SDXL)."
        )
        raise InputError(msg)
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    return pipe


# ------------------------------------------------------------------------------ sampling
def generate_batch(
    kind: str,
    obj: Any,
    prompts: Sequence[str],
    seeds: Sequence[int],
    num_inference_steps: int,
    guidance_scale: float,
) -> np.ndarray | None:
    """One sampling call: ``(n, 3, H, W)`` float32 images in [0, 1] (None if there are none).

    Every sample draws its noise from its own CPU ``torch.Generator`` seeded with its seed, so
    a sample does not depend on the others of its batch, nor on the device.
    """
    if kind == "ddpm":
        from .ddpm import sample

        return sample(
            obj, list(prompts), seeds=list(seeds), num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale, batch_size=len(prompts),
        )  # fmt: skip
    torch = _torch()
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    out = obj(
        prompt=list(prompts), generator=gens, num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale, output_type="np",
    )  # fmt: skip
    return _as_images(out)


def _as_images(out: Any) -> np.ndarray | None:
    """``(n, 3, H, W)`` float32 in [0, 1] from a pipeline output (``.images``), if any."""
    imgs = getattr(out, "images", None)
    if imgs is None and isinstance(out, tuple | list) and out:
        imgs = out[0]
    if imgs is None:
        return None
    arr = np.asarray(imgs, dtype=np.float32)
    if arr.ndim != 4:
        return None
    if arr.shape[-1] in (1, 3, 4) and arr.shape[1] not in (1, 3, 4):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.max(initial=0.0) > 1.0 + 1e-6:
        arr = arr / 255.0
    return np.clip(arr[:, :3], 0.0, 1.0) if math.isfinite(float(arr.sum())) else None
