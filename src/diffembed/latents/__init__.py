"""Decoding diffusion-model latents with natural-language prompts.

The method of Zeng, Chen & Wong (2024), "Decoding Diffusion": generate from many prompts, read
the U-Net bottleneck ("h-space", Kwon et al. 2023) during denoising, derive a latent direction
per word of the prompts and captions, and score associations between concepts with permutation
tests and false-discovery control. It runs end to end on a small text-conditioned DDPM trained
here on a captioned shapes dataset, and on any diffusers ``UNet2DConditionModel`` pipeline
(Stable Diffusion from a local path) unchanged.

==========================  =============================================================  ==============
name                        what                                                           module
==========================  =============================================================  ==============
:func:`shapes_dataset`      captioned shapes images with plantable attribute associations  ``shapes``
:class:`AttributeClassifier` attribute classifier for real or generated shapes images       ``shapes``
:class:`PromptEncoder`      prompts → token embeddings of the sentence encoder (MiniLM)    ``text``
:func:`train_ddpm`          train a text-conditioned DDPM (diffusers U-Net + scheduler)    ``ddpm``
:func:`sample`              ancestral sampling with classifier-free guidance               ``ddpm``
:func:`load_model`          a trained model saved with ``save_pretrained``                 ``ddpm``
:class:`HSpaceRecorder`     hooks on the U-Net mid-block: h-vectors at chosen timesteps    ``hspace``
:func:`extract_hspace`      prompts × seeds → h-vectors, images, prompt table              ``hspace``
:func:`concept_directions`  a latent direction per word (mean difference or ridge)         ``directions``
:func:`score_associations`  concept × attribute effects, permutation p, BH q               ``associations``
:func:`weat`                WEAT effect size and permutation p-value (Caliskan 2017)       ``weat``
==========================  =============================================================  ==============

Importing this package loads numpy only; torch, diffusers and sentence-transformers (the
``diffusion`` extra) are imported by the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "shapes_dataset": "shapes",
    "ShapesDataset": "shapes",
    "AttributeClassifier": "shapes",
    "PromptEncoder": "text",
    "train_ddpm": "ddpm",
    "sample": "ddpm",
    "load_model": "ddpm",
    "save_model": "ddpm",
    "HSpaceRecorder": "hspace",
    "extract_hspace": "hspace",
    "concept_directions": "directions",
    "score_associations": "associations",
    "weat": "weat",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
