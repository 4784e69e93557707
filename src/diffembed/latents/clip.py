"""An open-vocabulary captioner: zero-shot CLIP over a vocabulary of attribute families.

``diffembed latents decode --captioner clip:DIR --vocabulary attributes.json`` captions every
generated image with a local CLIP folder (:class:`~diffembed.embed.clip.ClipEncoder`: a real
CLIP saved with ``save_pretrained``, or the one ``diffembed latents clip-train`` trains
offline). For every family of the vocabulary, each word becomes text prompts through the
family's templates; the probabilities of an image are the softmax, over the family's words, of
CLIP's logits ``logit_scale · cos(image, word)`` (Radford et al. 2021, zero-shot transfer).
With several templates a word's text vector is the normalised mean of its prompts' vectors
(CLIP's prompt ensembling).

The vocabulary file (``attributes.json``)::

    {
      "families": {"shape": ["circle", "square", "triangle", "cross"],
                   "colour": ["red", "green", "blue", "yellow"]},
      "templates": {"shape": ["a {}", "a picture of a {}"],
                    "colour": "a {} shape"},
      "default_template": "a picture of a {}"
    }

* ``families`` (required): family → at least two distinct words, in the order of the
  probability columns;
* ``templates`` (optional): family → one template or a list of them, each with exactly one
  ``{}`` where the word goes;
* ``default_template`` (optional, default ``"a photo of {}"``): the template(s) of families
  without their own;
* ``description`` (optional): free text, ignored.

Without a vocabulary the shapes vocabulary (:data:`SHAPES_VOCABULARY`: the families of
:data:`~.shapes.ATTRIBUTES`, templates in the phrasing of the shapes captions) is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError
from .shapes import ATTRIBUTES

__all__ = [
    "DEFAULT_TEMPLATE",
    "SHAPES_VOCABULARY",
    "ClipCaptioner",
    "Vocabulary",
    "read_vocabulary",
    "zero_shot_accuracy",
]

#: Template of a family that has none, unless the vocabulary sets ``default_template``.
DEFAULT_TEMPLATE = "a photo of {}"
#: The default vocabulary: the shapes attributes, in the phrasing of the shapes captions.
SHAPES_VOCABULARY: dict[str, Any] = {
    "description": "The attribute families of the shapes dataset (diffembed latents train).",
    "families": {family: list(values) for family, values in ATTRIBUTES.items()},
    "templates": {
        "shape": ["a {}", "a picture of a {}"],
        "colour": ["a {} shape"],
        "size": ["a {} shape"],
        "position": ["a shape on the {}", "a shape in the {}"],
    },
    "default_template": "a picture of a {}",
}
_KEYS = ("families", "templates", "default_template", "description")


@dataclass(frozen=True)
class Vocabulary:
    """A validated vocabulary: family → words, and family → its prompt templates."""

    families: dict[str, list[str]]
    templates: dict[str, list[str]]

    def prompts(self, family: str) -> list[list[str]]:
        """The prompts of every word of ``family``: one list (a prompt per template) per word."""
        templates = self.templates[family]
        return [[t.replace("{}", word) for t in templates] for word in self.families[family]]

    def to_json(self) -> dict[str, Any]:
        """A document that :func:`read_vocabulary` reads back to this vocabulary."""
        return {"families": self.families, "templates": self.templates}


def _templates(value: Any, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        msg = (
            f"{where} must be a template string with one {{}} (where the word goes) or a "
            f"non-empty list of them, got {value!r}."
        )
        raise InputError(msg)
    for item in items:
        if not isinstance(item, str) or item.count("{}") != 1:
            msg = (
                f"{where}: template {item!r} must be a string with exactly one {{}} where the "
                'word goes, e.g. "a photo of a {}".'
            )
            raise InputError(msg)
    return list(dict.fromkeys(items))


def read_vocabulary(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> Vocabulary:
    """Read and check a vocabulary (``attributes.json``; see the module docstring).

    Parameters
    ----------
    source
        A JSON file, a mapping of the same shape, or None for :data:`SHAPES_VOCABULARY`.

    Raises
    ------
    InputError
        A missing or invalid file, an unknown key, a family with fewer than two words or with
        a repeated or empty word, templates for an unknown family, or a template without
        exactly one ``{}``.
    """
    where = "the vocabulary"
    if source is None:
        document: Any = SHAPES_VOCABULARY
    elif isinstance(source, Mapping):
        document = source
    elif isinstance(source, str | os.PathLike):
        from ..io.safe_files import read_json_capped

        path = Path(source).expanduser()
        where = f"vocabulary {str(path)!r}"
        if not path.is_file():
            msg = (
                f"The vocabulary file {str(path)!r} does not exist. Give a JSON file such as "
                '{"families": {"colour": ["red", "blue"]}, "templates": {"colour": '
                '"a {} shape"}}.'
            )
            raise InputError(msg)
        document = read_json_capped(path)
    else:
        msg = f"vocabulary must be a JSON file path or a mapping, got {type(source).__name__}."
        raise InputError(msg)
    if not isinstance(document, Mapping):
        msg = f"{where} must be a JSON object with a 'families' key, got {type(document).__name__}."
        raise InputError(msg)
    unknown = [k for k in document if k not in _KEYS]
    if unknown:
        msg = f"{where} has unknown keys {unknown}; the keys are {', '.join(_KEYS)}."
        raise InputError(msg)
    families_in = document.get("families")
    if not isinstance(families_in, Mapping) or not families_in:
        msg = (
            f"{where} needs 'families': an object of family → list of words, e.g. "
            '{"families": {"colour": ["red", "green", "blue"]}}.'
        )
        raise InputError(msg)
    families: dict[str, list[str]] = {}
    for family, words in families_in.items():
        if not isinstance(family, str) or not family.strip():
            msg = f"{where}: family names must be non-empty strings, got {family!r}."
            raise InputError(msg)
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            msg = (
                f"{where}: family {family!r} must be a list of non-empty word strings, got "
                f"{words!r}."
            )
            raise InputError(msg)
        words = [w.strip() for w in words]
        repeated = sorted({w for w in words if words.count(w) > 1})
        if repeated:
            msg = f"{where}: family {family!r} repeats {repeated}; list every word once."
            raise InputError(msg)
        if len(words) < 2:
            msg = (
                f"{where}: family {family!r} has {len(words)} word; zero-shot captioning chooses "
                "among the words of a family, so give at least two."
            )
            raise InputError(msg)
        families[family] = words
    default = _templates(
        document.get("default_template", DEFAULT_TEMPLATE), f"{where}: default_template"
    )
    given = document.get("templates", {})
    if not isinstance(given, Mapping):
        msg = f"{where}: 'templates' must be an object of family → template(s), got {given!r}."
        raise InputError(msg)
    stray = [f for f in given if f not in families]
    if stray:
        msg = (
            f"{where}: 'templates' names families {stray} that are not in 'families' "
            f"({', '.join(families)}); fix the spelling or remove them."
        )
        raise InputError(msg)
    templates = {
        f: _templates(given[f], f"{where}: templates[{f!r}]") if f in given else default
        for f in families
    }
    return Vocabulary(families=families, templates=templates)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ClipCaptioner:
    """Zero-shot CLIP captioner over a vocabulary of attribute families.

    Parameters
    ----------
    model_dir
        A local CLIP folder (safetensors weights, tokenizer, ``preprocessor_config.json``).
    vocabulary
        ``attributes.json`` path or mapping (see the module docstring); None: the shapes
        vocabulary.
    device, dtype, batch_size
        Where, in which precision and how many images at a time CLIP runs (see
        :class:`~diffembed.embed.clip.ClipEncoder`).

    Attributes
    ----------
    name : str
        ``"clip:<model_dir>"``.
    families : dict of str to list of str
        Family → words, in vocabulary order (the columns of :meth:`predict_proba`).
    vocabulary : Vocabulary
        The checked vocabulary, templates included.
    encoder : ClipEncoder
        The loaded CLIP.
    text_vectors_ : dict of str to ndarray of shape (n_words, dim)
        Every word's unit-length text vector (its prompts' vectors averaged).

    Examples
    --------
    >>> cap = ClipCaptioner("clip/", vocabulary="attributes.json")  # doctest: +SKIP
    >>> cap.predict_proba(images)["colour"].shape  # doctest: +SKIP
    (8, 4)
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        vocabulary: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 64,
    ) -> None:
        from ..embed.clip import ClipEncoder

        self.vocabulary = read_vocabulary(vocabulary)  # checked before the model loads
        self.encoder = ClipEncoder(model_dir, device=device, dtype=dtype, batch_size=batch_size)
        self.name = f"clip:{model_dir}"
        self.families = {f: list(w) for f, w in self.vocabulary.families.items()}
        self.text_vectors_: dict[str, np.ndarray] = {}
        for family in self.families:
            prompts = self.vocabulary.prompts(family)
            flat = self.encoder.encode_texts([p for group in prompts for p in group])
            per_word = flat.reshape(len(prompts), len(prompts[0]), -1).mean(axis=1)
            self.text_vectors_[family] = (
                per_word / np.linalg.norm(per_word, axis=1, keepdims=True)
            ).astype(np.float32)

    def __repr__(self) -> str:
        return f"ClipCaptioner({str(self.encoder.path)!r}, families={list(self.families)})"

    def predict_proba(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Family → ``(n, n_words)`` probabilities (rows sum to 1), columns in vocabulary order.

        Parameters
        ----------
        images
            ``(n, 3, H, W)`` float32 in [0, 1].
        """
        vectors = self.encoder.encode_images(images).astype(np.float64)
        return {
            family: _softmax(self.encoder.logit_scale * vectors @ text.T.astype(np.float64))
            for family, text in self.text_vectors_.items()
        }

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Family → the most probable word of every image (object array of str)."""
        return {
            family: np.asarray(self.families[family], dtype=object)[p.argmax(axis=1)]
            for family, p in self.predict_proba(images).items()
        }


def zero_shot_accuracy(
    captioner: Any, images: np.ndarray, attributes: Mapping[str, Any]
) -> dict[str, float]:
    """Fraction of images whose most probable word is the true one, per family.

    Parameters
    ----------
    captioner
        Any captioner (``families``, ``predict_proba``).
    images
        ``(n, 3, H, W)`` floats in [0, 1].
    attributes
        Family → the true word of every image (e.g. ``shapes_dataset(...).attributes``);
        only the families the captioner knows are scored.
    """
    proba = captioner.predict_proba(images)
    out = {}
    for family, p in proba.items():
        if family not in attributes:
            continue
        words = np.asarray(captioner.families[family], dtype=object)[np.asarray(p).argmax(axis=1)]
        out[family] = float(np.mean(words == np.asarray(attributes[family], dtype=object)))
    return out
