"""Saving and loading :class:`~.ddpm.DDPMModel`: diffusers folders + JSON, no pickle.

A model directory holds::

    unet/             diffusers config.json + diffusion_pytorch_model.safetensors
    scheduler/        scheduler_config.json
    classifier/       the AttributeClassifier that labels generated images (optional)
    diffembed.json    format_version, prompt-encoder config, dataset and training config
    loss.csv          step, loss: the training loss of every step
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from .ddpm import FORMAT_VERSION, DDPMModel, _encoder_config, _require

__all__ = ["is_model_directory", "load_model", "save_model", "write_model"]


# ----------------------------------------------------------------------------- persistence
def write_model(model: DDPMModel, directory: str | Path) -> Path:
    """Write the files of ``model`` into an existing directory (:func:`save_model`: atomic)."""
    from ..io.writers import write_csv_atomic, write_json_atomic

    directory = Path(directory)
    if model.encoder is None:
        msg = "Only diffembed models (with a prompt encoder) can be saved; this one has none."
        raise InputError(msg)
    model.unet.save_pretrained(directory / "unet", safe_serialization=True)
    model.scheduler.save_pretrained(directory / "scheduler")
    if model.classifier is not None:
        model.classifier.save(directory / "classifier")
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "diffembed.latents.DDPMModel",
        "encoder": _encoder_config(model.encoder),
        "config": model.config,
        "classifier": model.classifier is not None,
    }
    write_json_atomic(meta, directory / "diffembed.json")
    history = np.asarray(model.loss_history, dtype=np.float64)
    write_csv_atomic(
        {"step": np.arange(1, history.size + 1, dtype=np.int64), "loss": history},
        directory / "loss.csv",
    )
    return directory


def save_model(model: DDPMModel, directory: str | Path, *, overwrite: bool = False) -> Path:
    """Save a model to a directory, atomically (built beside it, then renamed into place).

    Parameters
    ----------
    model
        The model to save.
    directory
        The directory to create. An existing non-empty one is refused unless ``overwrite``.
    overwrite
        Replace an existing directory (only after the new one is complete).

    Returns
    -------
    Path
        ``directory``. Load it with :func:`load_model`; its ``unet/`` and ``scheduler/``
        also load with diffusers' ``from_pretrained``.
    """
    from ..io.writers import output_directory

    with output_directory(directory, overwrite) as tmp:
        write_model(model, tmp)
    return Path(directory)


def is_model_directory(directory: str | Path) -> bool:
    """Whether ``directory`` holds a model written by :func:`save_model`."""
    directory = Path(directory)
    return (directory / "diffembed.json").is_file() and (directory / "unet").is_dir()


_LAYOUT = (
    "A model directory holds unet/ (diffusers config.json + safetensors weights), "
    "scheduler/, diffembed.json and optionally classifier/; create one with "
    "`diffembed latents train -o MODEL/` or diffembed.latents.save_model."
)


def load_model(directory: str | Path) -> DDPMModel:
    """Load a model saved with :func:`save_model` (or the U-Net of a diffusers pipeline).

    Parameters
    ----------
    directory
        A diffembed model directory. A Stable-Diffusion-style pipeline folder (``unet/`` and
        ``scheduler/`` but no ``diffembed.json``) is accepted too: its U-Net and scheduler
        are loaded and ``encoder`` is None, because its prompts go through the pipeline's own
        text encoder, which :func:`sample` does not run.

    Returns
    -------
    DDPMModel
        In eval mode, on the CPU.
    """
    _, diffusers = _require()
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        msg = f"The model directory {directory} does not exist or is not a directory. {_LAYOUT}"
        raise InputError(msg)
    missing = [name for name in ("unet", "scheduler") if not (directory / name).is_dir()]
    meta_path = directory / "diffembed.json"
    if missing:
        msg = (
            f"{directory} is not a model directory: {' and '.join(m + '/' for m in missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing. {_LAYOUT}"
        )
        raise InputError(msg)
    try:
        unet = diffusers.UNet2DConditionModel.from_pretrained(
            directory / "unet", low_cpu_mem_usage=False
        )
        scheduler = diffusers.DDPMScheduler.from_pretrained(directory / "scheduler")
    except (OSError, ValueError, KeyError) as exc:
        msg = f"Cannot load the U-Net or scheduler of {directory}: {exc}. {_LAYOUT}"
        raise InputError(msg) from exc
    unet.eval()
    if not meta_path.is_file():
        config = {
            "source": "diffusers-pipeline",
            "path": str(directory),
            "text_encoder": "the pipeline's own (text_encoder/, tokenizer/); not loaded here",
        }
        return DDPMModel(unet, scheduler, None, None, config)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"Cannot read {meta_path}: {exc}. {_LAYOUT}"
        raise InputError(msg) from exc
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        msg = (
            f"{meta_path} has format_version {version!r}; this diffembed reads version "
            f"{FORMAT_VERSION}. Retrain the model or use the diffembed version that wrote it."
        )
        raise InputError(msg)
    from .text import PromptEncoder

    encoder = PromptEncoder.from_config(meta["encoder"])
    classifier = None
    if meta.get("classifier") and (directory / "classifier").is_dir():
        from .shapes import AttributeClassifier

        classifier = AttributeClassifier.load(directory / "classifier")
    history = np.zeros(0)
    loss_path = directory / "loss.csv"
    if loss_path.is_file():
        table = np.loadtxt(loss_path, delimiter=",", skiprows=1, ndmin=2)
        history = table[:, 1] if table.size else np.zeros(0)
    return DDPMModel(unet, scheduler, encoder, classifier, meta.get("config", {}), history)
