"""Image and text vectors from a local CLIP folder: the bimodal embedding.

A CLIP folder is what transformers' ``CLIPModel.save_pretrained`` writes next to its
tokenizer and image processor: ``config.json`` (``model_type`` ``"clip"``),
``model.safetensors``, the tokenizer files and ``preprocessor_config.json``. A real CLIP saved
locally (e.g. ``openai/clip-vit-base-patch32``) and the small CLIP that ``diffembed latents
clip-train`` trains offline both load here, by the same code path:

* weights are read from safetensors only (``use_safetensors=True``); a folder holding only
  pickled weights (``pytorch_model.bin``) is refused, since unpickling can run code;
* nothing is downloaded (``local_files_only=True``);
* images go through the folder's :class:`~transformers.CLIPImageProcessor` (resize, centre
  crop, normalise), texts through its tokenizer (truncated at the model's length).

:class:`ClipEncoder` returns L2-normalised ``float32`` vectors, so the cosine similarity of an
image and a text is their dot product, and ``logit_scale * image @ text.T`` are CLIP's logits.
:func:`clip_vectors` is the one-call form. Install with the ``diffusion`` extra (torch and
transformers).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .._torch_device import resolve_device
from .._validation import check_int, check_strings
from ..exceptions import InputError

__all__ = ["DTYPES", "ClipEncoder", "ClipVectors", "clip_vectors", "resolve_device"]

#: Names accepted by ``dtype``.
DTYPES = ("float32", "float16", "bfloat16")
INSTALL = (
    "Install the diffusion extra: `pip install torch==2.13.0` first (a CPU build; a looser "
    "torch requirement pulls several GB of CUDA packages), then "
    "`pip install 'diffembed[diffusion]'` (it brings transformers)."
)
_PICKLES = (".bin", ".ckpt", ".pt", ".pth", ".pkl", ".pickle")


def _torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = f"CLIP needs torch and transformers ({exc}). {INSTALL}"
        raise ImportError(msg) from exc
    return torch


def _resolve_dtype(dtype: Any) -> Any:
    torch = _torch()
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).removeprefix("torch.")
    if dtype not in DTYPES:
        msg = f"dtype {dtype!r} is not valid: choose one of {', '.join(DTYPES)}."
        raise InputError(msg)
    return getattr(torch, dtype)


def check_clip_folder(path: str | os.PathLike[str]) -> Path:
    """Check, before loading anything, that ``path`` is a CLIP folder with safetensors weights.

    Raises
    ------
    InputError
        Missing folder or ``config.json``, a config that is not CLIP's, weights only as pickles
        (refused: unpickling runs code), or no weights at all.
    """
    from ..io.safe_files import read_json_capped

    folder = Path(path).expanduser()
    if not folder.is_dir():
        msg = (
            f"CLIP folder {str(folder)!r} does not exist. Give a folder written by "
            "CLIPModel.save_pretrained (config.json, model.safetensors, tokenizer and "
            "preprocessor files), e.g. one from `diffembed latents clip-train -o DIR`."
        )
        raise InputError(msg)
    if not (folder / "config.json").is_file():
        msg = (
            f"{folder} has no config.json, so it is not a transformers model folder. Give a "
            "CLIP folder (CLIPModel.save_pretrained), e.g. from `diffembed latents clip-train`."
        )
        raise InputError(msg)
    config = read_json_capped(folder / "config.json")
    kind = config.get("model_type") if isinstance(config, dict) else None
    if kind != "clip":
        msg = (
            f"{folder}/config.json has model_type {kind!r}, not 'clip': this is not a CLIP "
            "model. Give a folder saved from transformers' CLIPModel."
        )
        raise InputError(msg)
    files = [p for p in folder.iterdir() if p.is_file()]
    if any(p.name.endswith(".safetensors") for p in files):
        return folder
    pickled = sorted(p.name for p in files if p.suffix.lower() in _PICKLES)
    if pickled:
        msg = (
            f"{folder} holds only pickled weights ({', '.join(pickled[:3])}), which diffembed "
            "does not load: unpickling a file can run any code it carries. Convert them once "
            "where you trust them: CLIPModel.from_pretrained(DIR).save_pretrained(DIR, "
            "safe_serialization=True) writes model.safetensors."
        )
        raise InputError(msg)
    msg = f"{folder} has no weights (model.safetensors); the folder is incomplete."
    raise InputError(msg)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' notices and progress bars (loading, saving) in the block."""
    _torch()
    from transformers.utils import logging

    before = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(before)
        if bars:
            logging.enable_progress_bar()


def _pooled(output: Any) -> Any:
    """``get_*_features`` returns a tensor (transformers 4) or an output object (5)."""
    return getattr(output, "pooler_output", output)


class ClipEncoder:
    """Embed images and texts with a local CLIP folder.

    Parameters
    ----------
    model_dir
        A CLIP folder (``CLIPModel.save_pretrained`` + tokenizer + image processor), weights
        in safetensors.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available).
    dtype
        ``"float32"``, ``"float16"`` or ``"bfloat16"``: the precision the model runs in (the
        returned vectors are float32 either way).
    batch_size
        Images or texts per forward pass.

    Attributes
    ----------
    path : Path
        The folder.
    dim : int
        Dimension of the joint space (``projection_dim``).
    logit_scale : float
        CLIP's learned temperature ``exp(logit_scale)``: logits are
        ``logit_scale * image_vectors @ text_vectors.T``.
    max_length : int
        Longest tokenised text; longer texts are truncated.

    Examples
    --------
    >>> enc = ClipEncoder("clip/")  # doctest: +SKIP
    >>> img = enc.encode_images(images)  # (n, 3, H, W) floats in [0, 1]  # doctest: +SKIP
    >>> txt = enc.encode_texts(["a red circle", "a blue square"])  # doctest: +SKIP
    >>> (img @ txt.T).argmax(axis=1)  # the closer caption of every image  # doctest: +SKIP
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 64,
    ) -> None:
        torch = _torch()
        with quiet_transformers():  # importing CLIPImageProcessor notes a missing torchvision
            from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

        self.path = check_clip_folder(model_dir)
        self.device = resolve_device(device)
        self._dtype = _resolve_dtype(dtype)
        self.dtype = str(self._dtype).removeprefix("torch.")
        self.batch_size = check_int(batch_size, "batch_size", low=1)
        with quiet_transformers():
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            except (OSError, ValueError, TypeError) as exc:
                msg = (
                    f"{self.path} has no usable tokenizer ({exc}). A CLIP folder needs the "
                    "tokenizer files (tokenizer.json or vocab files): save them with "
                    "tokenizer.save_pretrained(DIR)."
                )
                raise InputError(msg) from exc
            if not (self.path / "preprocessor_config.json").is_file():
                msg = (
                    f"{self.path} has no preprocessor_config.json, so it is unknown how images "
                    "are resized and normalised for this CLIP. Save the image processor with "
                    "CLIPImageProcessor(...).save_pretrained(DIR)."
                )
                raise InputError(msg)
            self.processor = CLIPImageProcessor.from_pretrained(self.path, local_files_only=True)
            self.model = CLIPModel.from_pretrained(
                self.path, use_safetensors=True, local_files_only=True, dtype=self._dtype
            )
        self.model.to(self.device).eval()
        config = self.model.config
        self.dim = int(config.projection_dim)
        self.max_length = int(config.text_config.max_position_embeddings)
        self.logit_scale = float(torch.exp(self.model.logit_scale.detach().float()).item())

    def __repr__(self) -> str:
        return (
            f"ClipEncoder({str(self.path)!r}, device={self.device!r}, dtype={self.dtype!r}, "
            f"dim={self.dim})"
        )

    @staticmethod
    def check_images(images: Any) -> np.ndarray:
        """``images`` as a float32 ``(n, 3, H, W)`` array in [0, 1], or an InputError."""
        arr = np.asarray(images)
        if arr.ndim == 3 and arr.shape[0] == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[1] != 3 or arr.shape[0] == 0:
            hint = (
                " They look channels-last: pass images.transpose(0, 3, 1, 2)."
                if arr.ndim == 4 and arr.shape[-1] == 3
                else ""
            )
            msg = (
                f"images must be an (n, 3, H, W) array (RGB, channels first, n >= 1), got shape "
                f"{arr.shape}.{hint}"
            )
            raise InputError(msg)
        if not np.issubdtype(arr.dtype, np.floating):
            msg = (
                f"images must be floats in [0, 1], got dtype {arr.dtype}; divide 8-bit images "
                "by 255."
            )
            raise InputError(msg)
        if not np.isfinite(arr).all():
            msg = "images contain NaN or infinite values."
            raise InputError(msg)
        low, high = float(arr.min()), float(arr.max())
        if low < -1e-3 or high > 1 + 1e-3:
            msg = (
                f"images must be in [0, 1], got values from {low:.3g} to {high:.3g}; map "
                "[-1, 1] images with (x + 1) / 2, 8-bit ones with x / 255."
            )
            raise InputError(msg)
        return np.clip(arr, 0.0, 1.0).astype(np.float32, copy=False)

    def _finish(self, chunks: list[Any]) -> np.ndarray:
        torch = _torch()
        out = torch.cat(chunks).float()
        out = out / out.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return out.cpu().numpy().astype(np.float32)

    def encode_images(self, images: Any) -> np.ndarray:
        """Unit-length image vectors.

        Parameters
        ----------
        images
            ``(n, 3, H, W)`` floats in [0, 1] (RGB, channels first; any size: the image
            processor resizes and crops them), or one ``(3, H, W)`` image.

        Returns
        -------
        ndarray of shape (n, dim), float32, rows of unit length
        """
        torch = _torch()
        arr = self.check_images(images)
        chunks = []
        with torch.no_grad():
            for start in range(0, len(arr), self.batch_size):
                batch = arr[start : start + self.batch_size]
                pixels = self.processor(
                    images=list(batch), return_tensors="pt", do_rescale=False,
                    input_data_format="channels_first",
                )["pixel_values"]  # fmt: skip
                pixels = pixels.to(self.device, self._dtype)
                chunks.append(_pooled(self.model.get_image_features(pixel_values=pixels)))
        return self._finish(chunks)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length text vectors (texts longer than :attr:`max_length` tokens are cut).

        Returns
        -------
        ndarray of shape (n, dim), float32, rows of unit length
        """
        torch = _torch()
        items = check_strings(texts, "texts", item="text", empty_hint="give at least one text")
        chunks = []
        with torch.no_grad():
            for start in range(0, len(items), self.batch_size):
                tokens = self.tokenizer(
                    items[start : start + self.batch_size], padding=True, truncation=True,
                    max_length=self.max_length, return_tensors="pt",
                )  # fmt: skip
                tokens = {k: v.to(self.device) for k, v in tokens.items()}
                chunks.append(_pooled(self.model.get_text_features(**tokens)))
        return self._finish(chunks)


class ClipVectors(NamedTuple):
    """What :func:`clip_vectors` returns: unit-length vectors, None for what was not given."""

    images: np.ndarray | None
    texts: np.ndarray | None


def clip_vectors(
    model_dir: str | os.PathLike[str],
    *,
    images: Any = None,
    texts: Sequence[str] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 64,
) -> ClipVectors:
    """Image and/or text vectors from a local CLIP folder (see :class:`ClipEncoder`).

    Parameters
    ----------
    model_dir
        The CLIP folder (safetensors weights, tokenizer, ``preprocessor_config.json``).
    images
        ``(n, 3, H, W)`` floats in [0, 1], or None.
    texts
        Texts, or None. At least one of ``images`` and ``texts`` is needed.
    device, dtype, batch_size
        As in :class:`ClipEncoder`.

    Returns
    -------
    ClipVectors
        ``(images, texts)``: ``(n, dim)`` float32 arrays with rows of unit length (None for an
        input not given), in one joint space: ``images @ texts.T`` are cosine similarities.
    """
    if images is None and texts is None:
        msg = "Give images=, texts= or both: there is nothing to embed."
        raise InputError(msg)
    encoder = ClipEncoder(model_dir, device=device, dtype=dtype, batch_size=batch_size)
    return ClipVectors(
        images=None if images is None else encoder.encode_images(images),
        texts=None if texts is None else encoder.encode_texts(texts),
    )
