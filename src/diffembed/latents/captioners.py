"""Captioners: images → per-attribute-family scores and words, behind one small protocol.

``diffembed latents decode`` captions every generated image so that prompt words (concepts)
can be related to what the images show (attributes). A captioner is any object with

* ``name`` – a short label for manifests and reports (``"classifier"``, ``"clip:DIR"``, ``"none"``);
* ``families`` – ``{family: [word, ...]}``, the attribute vocabulary it scores;
* ``predict_proba(images)`` – ``{family: (n, len(families[family])) float array}`` of
  probabilities, columns in ``families[family]`` order; ``images`` is ``(n, 3, H, W)`` float32
  in [0, 1] (channels first).

:func:`predict` and :func:`captions` derive words and caption strings from any captioner.
:func:`make_captioner` builds one from the CLI spec (``classifier``, ``clip:DIR``, ``none``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..exceptions import InputError

__all__ = [
    "Captioner",
    "ClassifierCaptioner",
    "captions",
    "describe",
    "make_captioner",
    "predict",
]


@runtime_checkable
class Captioner(Protocol):
    """What ``decode`` needs from a captioner (see the module docstring)."""

    name: str
    families: dict[str, list[str]]

    def predict_proba(self, images: np.ndarray) -> dict[str, np.ndarray]: ...


class ClassifierCaptioner:
    """The shapes model's :class:`~.shapes_classifier.AttributeClassifier` as a captioner."""

    name = "classifier"

    def __init__(self, classifier: Any) -> None:
        from .shapes import ATTRIBUTES

        self.classifier = classifier
        classes = None
        for name in ("classes_", "families", "attributes"):
            value = getattr(classifier, name, None)
            if isinstance(value, Mapping) and all(not isinstance(v, str) for v in value.values()):
                classes = value
                break
        self.families = {str(k): [str(x) for x in v] for k, v in (classes or ATTRIBUTES).items()}

    def predict_proba(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The classifier's probabilities (one-hot from ``predict`` when it has none)."""
        if hasattr(self.classifier, "predict_proba"):
            return self.classifier.predict_proba(images)
        words = self.classifier.predict(images)
        out = {}
        for family, values in self.families.items():
            index = {w: j for j, w in enumerate(values)}
            picked = [index[str(w)] for w in words[family]]
            out[family] = np.eye(len(values), dtype=np.float64)[picked]
        return out


def predict(captioner: Captioner, images: np.ndarray) -> dict[str, np.ndarray]:
    """Family → the most probable word of every image (object array of str)."""
    proba = captioner.predict_proba(images)
    return {
        family: np.asarray(captioner.families[family], dtype=object)[np.asarray(p).argmax(axis=1)]
        for family, p in proba.items()
    }


def captions(captioner: Captioner, images: np.ndarray) -> list[str]:
    """One caption per image: the predicted words of every family, in family order.

    The shapes classifier keeps its canonical sentences (``"a small red circle on the left"``).
    """
    if isinstance(captioner, ClassifierCaptioner):
        return list(captioner.classifier.captions(images))
    words = predict(captioner, images)
    n = len(next(iter(words.values()))) if words else 0
    return [" ".join(str(words[f][i]) for f in captioner.families) for i in range(n)]


def describe(captioner: Captioner, images: np.ndarray) -> tuple[list[str], dict[str, list[str]]]:
    """Captions and the predicted word of every family, with one ``predict_proba`` call.

    The shapes classifier keeps its canonical sentences (``"a small red circle on the left"``).
    """
    proba = captioner.predict_proba(images)
    words = {
        family: [str(w) for w in np.asarray(values, dtype=object)[np.asarray(proba[family])
                                                                   .argmax(axis=1)]]
        for family, values in captioner.families.items()
        if family in proba
    }  # fmt: skip
    if isinstance(captioner, ClassifierCaptioner) and hasattr(captioner.classifier, "captions"):
        text = [str(c) for c in captioner.classifier.captions(images)]
    else:
        n = len(images)
        text = [" ".join(words[f][i] for f in words) for i in range(n)]
    return text, words


def make_captioner(
    spec: str,
    model: Any = None,
    *,
    vocabulary: str | Path | Mapping[str, Any] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
) -> Captioner | None:
    """Build the captioner named by ``spec``.

    Parameters
    ----------
    spec
        ``"classifier"`` (the model's own attribute classifier), ``"clip:DIR"`` (zero-shot CLIP
        from a local folder over ``vocabulary``), ``"none"`` (prompt-only analysis: returns None),
        or ``"auto"`` (the classifier when the model has one, else none).
    model
        The loaded model (a :class:`~.ddpm.DDPMModel` or a pipeline), for ``classifier``.
    vocabulary
        ``attributes.json`` path or mapping (families → words, optional templates), for CLIP.
    device, dtype
        Where and in which precision CLIP runs.
    """
    spec = str(spec).strip()
    classifier = getattr(model, "classifier", None)
    if spec == "auto":
        spec = "classifier" if classifier is not None else "none"
    if spec == "none":
        return None
    if spec == "classifier":
        if classifier is None:
            msg = (
                "--captioner classifier: this model has no attribute classifier (only models "
                "trained with `diffembed latents train` carry one). Use --captioner clip:DIR "
                "with --vocabulary attributes.json, or --captioner none for prompt-only analysis."
            )
            raise InputError(msg)
        return ClassifierCaptioner(classifier)
    if spec.startswith("clip:"):
        from .clip import ClipCaptioner  # lazy: imports torch and transformers

        return ClipCaptioner(spec[5:], vocabulary=vocabulary, device=device, dtype=dtype)
    msg = f"--captioner {spec!r} is not valid: choose classifier, clip:DIR or none."
    raise InputError(msg)
