"""Saving and loading :class:`~.ddpm.DDPMModel`: diffusers folders + JSON, no pickle.

A model directory holds::

    unet/             diffusers config.json + diffusion_pytorch_model.safetensors
    scheduler/        scheduler_config.json
    classifier/       the AttributeClassifier that labels generated images (optional)
    diffembed.json    format_version, prompt-encoder config, dataset and training config
    loss.csv          step, loss: the training loss of every step
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..exceptions import InputError
from .ddpm import (
    FORMAT_VERSION,
    DDPMModel,
    _encoder_config,
    _require,
    add_coordinates,
    has_coordinates,
)

__all__ = [
    "PICKLE_SUFFIXES",
    "check_unet_weights",
    "check_weight_files",
    "is_model_directory",
    "load_model",
    "save_model",
    "write_model",
]


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


#: Suffixes of pickled weight files: loading one can run arbitrary code.
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl", ".pickle")
_UNET_WEIGHTS = "diffusion_pytorch_model"
#: Largest structural number accepted in a U-Net config.json before a model is built from it.
_MAX_CONFIG_INT = 2**16


def check_weight_files(folder: str | Path, *, allow_pickle_weights: bool = False) -> bool:
    """Refuse a model component folder whose weights exist only as pickles.

    Parameters
    ----------
    folder
        A diffusers / transformers component folder (``unet/``, ``text_encoder/``, ...).
    allow_pickle_weights
        Accept pickled weights (``*.bin``, ``*.ckpt``, ``*.pt``, ...) when there are no
        safetensors. Only for files from a source you trust: unpickling runs code.

    Returns
    -------
    bool
        True when the folder holds safetensors weights (they are the ones loaded).

    Raises
    ------
    InputError
        Only pickled weights and ``allow_pickle_weights`` is False.
    """
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    if any(p.suffix == ".safetensors" for p in files):
        return True
    pickled = sorted(p.name for p in files if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickled and not allow_pickle_weights:
        msg = (
            f"{folder} holds only pickled weights ({', '.join(pickled[:3])}), which diffembed "
            "does not load: unpickling a file can run any code it carries. Convert the "
            "weights to safetensors (load them once where you trust them and save with "
            "save_pretrained(..., safe_serialization=True)), or, for a source you trust, pass "
            "--allow-pickle-weights to `diffembed latents decode` (allow_pickle_weights=True "
            "in Python)."
        )
        raise InputError(msg)
    return False


def check_unet_weights(unet_dir: str | Path) -> None:
    """Compare the U-Net's safetensors tensor names and shapes with its ``config.json``.

    The reference is the model the config describes, built on torch's ``meta`` device (no
    memory); the safetensors headers are read without the data. Nothing is loaded when the
    two disagree, so a tampered folder gives a clear :class:`InputError` instead of a
    diffusers error or a model built from mismatched weights.
    """
    from ..io.safe_files import read_json_capped, refuse

    torch, diffusers = _require()
    unet_dir = Path(unet_dir)
    config_path = unet_dir / "config.json"
    if not config_path.is_file():
        msg = f"Cannot load the U-Net of {unet_dir.parent}: unet/ has no config.json. {_LAYOUT}"
        raise InputError(msg)
    config = read_json_capped(config_path)
    if not isinstance(config, dict):
        refuse("config.json is not a JSON object", config_path)
    big = [k for k, v in config.items() for x in (v if isinstance(v, list) else [v])
           if isinstance(x, int) and not isinstance(x, bool) and abs(x) > _MAX_CONFIG_INT]
    if big:
        refuse(f"config value {big[0]}={config[big[0]]!r} is larger than a U-Net has "
               f"({_MAX_CONFIG_INT})", config_path)  # fmt: skip
    try:
        with torch.device("meta"):
            reference = diffusers.UNet2DConditionModel.from_config(config)
    except Exception as exc:  # any error of a hostile config: it describes no U-Net
        refuse(f"config.json does not describe a UNet2DConditionModel ({exc})", config_path)
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    single = unet_dir / f"{_UNET_WEIGHTS}.safetensors"
    shards = sorted(unet_dir.glob(f"{_UNET_WEIGHTS}-*.safetensors"))
    files = [single] if single.is_file() else shards
    if not files:
        msg = f"Cannot load the U-Net of {unet_dir.parent}: unet/ has no {single.name}. {_LAYOUT}"
        raise InputError(msg)
    stored: dict[str, tuple[int, ...]] = {}
    for path in files:
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():  # noqa: SIM118 - a safetensors handle, not a dict
                    stored[key] = tuple(handle.get_slice(key).get_shape())
        except Exception as exc:  # safetensors refuses a malformed header with its own error
            refuse(f"not a readable safetensors file ({exc})", path)
    missing = sorted(set(expected) - set(stored))
    unknown = sorted(set(stored) - set(expected))
    wrong = sorted(k for k in set(expected) & set(stored) if expected[k] != stored[k])
    for names, what in ((missing, "missing"), (unknown, "not in the U-Net config")):
        if names:
            refuse(f"{len(names)} tensor(s) {what}: {', '.join(names[:3])}", files[0])
    if wrong:
        key = wrong[0]
        refuse(f"{len(wrong)} tensor(s) of the wrong shape, e.g. {key} is {stored[key]}, the "
               f"config gives {expected[key]}", files[0])  # fmt: skip


def load_model(directory: str | Path, *, allow_pickle_weights: bool = False) -> DDPMModel:
    """Load a model saved with :func:`save_model` (or the U-Net of a diffusers pipeline).

    The folder is checked as untrusted input first: the U-Net's safetensors tensor names and
    shapes must match its ``config.json``, the JSON files are size- and depth-capped, and
    pickled weights are refused (see :func:`check_weight_files`).

    Parameters
    ----------
    directory
        A diffembed model directory. A Stable-Diffusion-style pipeline folder (``unet/`` and
        ``scheduler/`` but no ``diffembed.json``) is accepted too: its U-Net and scheduler
        are loaded and ``encoder`` is None, because its prompts go through the pipeline's own
        text encoder, which :func:`sample` does not run.
    allow_pickle_weights
        Load a U-Net whose weights exist only as pickles (``*.bin``). Unpickling runs code:
        only for files from a source you trust.

    Returns
    -------
    DDPMModel
        In eval mode, on the CPU.
    """
    from ..io.safe_files import read_json_capped, refuse

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
    safe = check_weight_files(directory / "unet", allow_pickle_weights=allow_pickle_weights)
    if safe or not allow_pickle_weights:
        check_unet_weights(directory / "unet")
    scheduler_config = directory / "scheduler" / "scheduler_config.json"
    if scheduler_config.is_file():
        read_json_capped(scheduler_config)  # size and depth, before diffusers parses it
    try:
        unet = diffusers.UNet2DConditionModel.from_pretrained(
            directory / "unet", low_cpu_mem_usage=False, use_safetensors=safe or None
        )
        scheduler = diffusers.DDPMScheduler.from_pretrained(directory / "scheduler")
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        msg = f"Cannot load the U-Net or scheduler of {directory}: {exc}. {_LAYOUT}"
        raise InputError(msg) from exc
    unet.eval()
    if has_coordinates(unet):
        add_coordinates(unet)
    if not meta_path.is_file():
        config = {
            "source": "diffusers-pipeline",
            "path": str(directory),
            "text_encoder": "the pipeline's own (text_encoder/, tokenizer/); not loaded here",
        }
        return DDPMModel(unet, scheduler, None, None, config)
    meta = read_json_capped(meta_path)
    if not isinstance(meta, dict):
        refuse("diffembed.json is not a JSON object", meta_path)
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        msg = (
            f"{meta_path} has format_version {version!r}; this diffembed reads version "
            f"{FORMAT_VERSION}. Retrain the model or use the diffembed version that wrote it."
        )
        raise InputError(msg)
    encoder_config = meta.get("encoder")
    if (
        not isinstance(encoder_config, dict)
        or not isinstance(encoder_config.get("model"), str)
        or isinstance(encoder_config.get("max_length"), bool)
        or not isinstance(encoder_config.get("max_length"), int)
        or not 1 <= encoder_config["max_length"] <= 4096
    ):
        refuse(f"'encoder' must hold a model name and a max_length in [1, 4096], got "
               f"{encoder_config!r}", meta_path)  # fmt: skip
    if not isinstance(meta.get("config", {}), dict) or not isinstance(
        meta.get("classifier", False), bool
    ):
        refuse("'config' must be an object and 'classifier' true or false", meta_path)
    from .text import PromptEncoder

    encoder = PromptEncoder.from_config(encoder_config)
    classifier = None
    if meta.get("classifier") and (directory / "classifier").is_dir():
        from .shapes import AttributeClassifier

        classifier = AttributeClassifier.load(directory / "classifier")
    return DDPMModel(unet, scheduler, encoder, classifier, meta.get("config", {}),
                     _loss_history(directory / "loss.csv"))  # fmt: skip


def _loss_history(loss_path: Path) -> np.ndarray:
    """The ``loss`` column of ``loss.csv`` (empty when there is none)."""
    from ..io.safe_files import refuse

    if not loss_path.is_file():
        return np.zeros(0)
    if loss_path.stat().st_size > 2**28:
        refuse(f"{loss_path.stat().st_size} bytes of loss history", loss_path)
    try:
        table = np.loadtxt(loss_path, delimiter=",", skiprows=1, ndmin=2)
    except ValueError as exc:
        refuse(f"not a step,loss table ({exc})", loss_path)
    if table.size and table.shape[1] != 2:
        refuse(f"{table.shape[1]} columns, expected step,loss", loss_path)
    return table[:, 1] if table.size else np.zeros(0)
