"""Decoding diffusion-model latents with natural-language prompts.

The method of Zeng, Chen & Wong (2024), "Decoding Diffusion": generate from many prompts, read
the U-Net bottleneck ("h-space", Kwon et al. 2023) during denoising, derive a latent direction
per word of the prompts and captions, and score associations between concepts with permutation
tests and false-discovery control. It runs end to end on a small text-conditioned DDPM trained
here on a captioned shapes dataset, and on any diffusers ``UNet2DConditionModel`` pipeline
(Stable Diffusion from a local path) unchanged.

=============================  ==========================================================
name (module)                  what
=============================  ==========================================================
``shapes_dataset`` (shapes)    captioned shapes images with plantable associations
``AttributeClassifier``        attribute classifier for real or generated shapes images
``PromptEncoder`` (text)       prompts → token embeddings of the sentence encoder (MiniLM)
``train_ddpm`` (ddpm)          train a text-conditioned DDPM (diffusers U-Net + scheduler)
``sample`` (ddpm)              ancestral sampling with classifier-free guidance
``load_model`` (ddpm)          a trained model saved with ``save_pretrained``
``HSpaceRecorder`` (hspace)    hooks on the U-Net mid-block: h-vectors at chosen timesteps
``extract_hspace`` (hspace)    prompts × seeds → h-vectors, images, prompt table
``concept_directions``         a latent direction per word (mean difference or ridge)
``score_associations``         concept × attribute effects, permutation p, BH q-values
``weat`` (weat)                WEAT effect size and permutation p-value (Caliskan 2017)
``weat_words`` (weat)          WEAT on words, through an encoder (``diffembed.embed.encode``)
``word_directions`` (words)    a direction per vocabulary word, from prompts and captions
``rank_words`` (words)         vocabulary ranked for a concept or an h-vector, by cosine
``decode_tables`` (concepts)   words per concept, model defaults, concept clusters
``make_captioner``             a captioner from a spec: classifier, ``clip:DIR``, none
``ClipCaptioner`` (clip)       zero-shot CLIP captions over a vocabulary of yours
``analyse`` (analysis)         decode's analysis: associations, adherence gate, words
=============================  ==========================================================

Importing this package loads numpy only; torch, diffusers and sentence-transformers (the
``diffusion`` extra) are imported by the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

# ``weat`` is both a submodule and a function: import the function eagerly (numpy only) so that
# the package attribute is the function, whichever is imported first.
from .weat import WEATResult as WEATResult
from .weat import weat as weat
from .weat import weat_words as weat_words

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
    "HSpaceResult": "hspace",
    "concept_directions": "directions",
    "score_associations": "associations",
    "word_directions": "words",
    "rank_words": "words",
    "WordDirections": "words",
    "decode_tables": "concepts",
    "model_defaults": "concepts",
    "concept_clusters": "concepts",
    "make_captioner": "captioners",
    "ClipCaptioner": "clip",
    "analyse": "analysis",
}

__all__ = sorted([*_EXPORTS, "WEATResult", "weat", "weat_words"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    """The public names, the lazily imported ones included."""
    return sorted({*globals(), *__all__})
