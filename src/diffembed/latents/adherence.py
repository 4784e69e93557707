"""Prompt adherence: how often the generated samples show what their prompt asks for.

Before associations between prompt words and caption words mean anything, the model must
draw what it is asked for. For every attribute family (``shape``, ``colour``, ...) the
*adherence rate* is the share of samples whose prompt names a word of that family and whose
captioner-predicted word for that family (``result.table[family]``) is that word. Samples
whose prompt names no word of a family do not count for it; a prompt naming two words of one
family counts as shown when the prediction is either of them.

Below ``threshold`` (0.8 by default) the model looks undertrained for that family: every
association whose concept or attribute belongs to it is marked unreliable
(:func:`reliable_pairs`), and :func:`adherence_warnings` says so in words. A family no
prompt names cannot be checked and is not in the table.

:func:`check_prompt_adherence` runs the same measure on a shapes DDPM right after training:
every caption of the vocabulary drawn once, read by the model's own classifier.

Only numpy is used for the numbers; the table is a :class:`pyarrow.Table`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import InputError
from .directions import tokenize

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ADHERENCE_COLUMNS",
    "adherence",
    "adherence_warnings",
    "check_prompt_adherence",
    "reliable_pairs",
]

#: Columns of the adherence table, in this order.
ADHERENCE_COLUMNS = ("family", "rate", "n_samples", "threshold", "reliable")


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        msg = f"adherence_threshold={threshold!r} must be a number in [0, 1] (0.8 is the default)."
        raise InputError(msg)
    if not 0 <= float(threshold) <= 1:
        msg = (
            f"adherence_threshold={threshold} must lie in [0, 1]: the least share of samples "
            "that show the prompted word (0.8 is the default; 0 turns the gate off)."
        )
        raise InputError(msg)
    return float(threshold)


def adherence(
    prompts: Sequence[str],
    predicted: Mapping[str, Sequence[Any] | np.ndarray],
    families: Mapping[str, Sequence[str]],
    *,
    threshold: float = 0.8,
) -> pa.Table:
    """Per family, the share of samples whose prediction is the word their prompt names.

    Parameters
    ----------
    prompts
        The prompt of every sample.
    predicted
        ``{family: words}``: the captioner's predicted word of every sample per family
        (``result.table[family]``). Families missing here are skipped.
    families
        ``{family: [words]}``: the vocabulary that says which prompt word belongs to which
        family.
    threshold
        Least rate for a family to be ``reliable``.

    Returns
    -------
    pyarrow.Table
        :data:`ADHERENCE_COLUMNS`: ``family``, ``rate`` (in [0, 1]), ``n_samples`` (samples
        whose prompt names a word of the family), ``threshold``, ``reliable``
        (``rate >= threshold``); one row per family that some prompt names, in the order of
        ``families``.

    Raises
    ------
    InputError
        A threshold outside [0, 1], or a prediction column whose length is not the number of
        prompts.

    Examples
    --------
    >>> t = adherence(["a red square", "a blue square"], {"colour": ["red", "red"]},
    ...               {"colour": ["red", "blue"], "shape": ["square"]})
    >>> t.to_pylist()[0]["rate"]
    0.5
    """
    import pyarrow as pa

    threshold = _check_threshold(threshold)
    prompts = [str(p) for p in prompts]
    rows: list[dict[str, Any]] = []
    for family, vocabulary in families.items():
        if family not in predicted:
            continue
        words = np.asarray(predicted[family], dtype=object).astype(str)
        if words.shape != (len(prompts),):
            msg = (
                f"The predictions of {family!r} have {words.size} entries for {len(prompts)} "
                "prompts: give one predicted word per sample."
            )
            raise InputError(msg)
        vocab = [str(w).lower() for w in vocabulary]
        asked = [set(tokenize(p, vocabulary=vocab)) for p in prompts]
        counted = np.array([bool(a) for a in asked])
        if not counted.any():
            continue
        shown = np.array([w.lower() in a for w, a in zip(words, asked, strict=True)])
        rate = float(shown[counted].mean())
        rows.append({
            "family": str(family),
            "rate": rate,
            "n_samples": int(counted.sum()),
            "threshold": threshold,
            "reliable": rate >= threshold,
        })  # fmt: skip
    return pa.table(
        {k: [r[k] for r in rows] for k in ADHERENCE_COLUMNS},
        schema=pa.schema([("family", pa.string()), ("rate", pa.float64()),
                          ("n_samples", pa.int64()), ("threshold", pa.float64()),
                          ("reliable", pa.bool_())]),
    )  # fmt: skip


def check_prompt_adherence(
    model: Any,
    *,
    num_inference_steps: int = 25,
    seed: int = 0,
    guidance_scale: float = 3.0,
    threshold: float = 0.8,
    progress: Any = None,
    num_threads: int | None = None,
) -> pa.Table:
    """Adherence of a shapes DDPM: every full caption drawn once, read by its classifier.

    The 96 captions of the shapes vocabulary (every shape × colour × size × position, e.g.
    ``"a small red circle on the left"``) are sampled once each (seeds ``seed``,
    ``seed + 1``, …) and classified by ``model.classifier``; :func:`adherence` gives the
    rate per family. It is what ``diffembed latents train`` prints after training (a few
    seconds for the default model): a model that draws squares as circles is told apart before
    it is decoded.

    Parameters
    ----------
    model
        A :class:`~.ddpm.DDPMModel` with a classifier (``train_ddpm`` fits one by default).
    num_inference_steps, seed, guidance_scale
        Sampling settings (:func:`~.sampling.sample`).
    threshold
        Least rate for a family to be ``reliable``.
    progress, num_threads
        Passed to :func:`~.sampling.sample`.

    Returns
    -------
    pyarrow.Table
        :data:`ADHERENCE_COLUMNS`, one row per family (shape, colour, size, position), 96
        samples each.

    Raises
    ------
    InputError
        A model without a classifier, or a bad threshold.
    """
    from itertools import product

    from .sampling import sample
    from .shapes import canonical_caption
    from .shapes_vocabulary import ATTRIBUTES

    threshold = _check_threshold(threshold)
    if getattr(model, "classifier", None) is None:
        msg = (
            "The model has no attribute classifier to read its samples (train_ddpm fits one "
            "unless classifier_samples=0); adherence cannot be checked."
        )
        raise InputError(msg)
    families = list(ATTRIBUTES)
    prompts = [canonical_caption(dict(zip(families, values, strict=True)))
               for values in product(*ATTRIBUTES.values())]  # fmt: skip
    images = sample(model, prompts, seeds=seed, num_inference_steps=num_inference_steps,
                    guidance_scale=guidance_scale, progress=progress,
                    num_threads=num_threads)  # fmt: skip
    return adherence(prompts, model.classifier.predict(images), ATTRIBUTES, threshold=threshold)


def adherence_warnings(table: pa.Table) -> list[str]:
    """One sentence per unreliable family of an :func:`adherence` table."""
    out = []
    for r in table.to_pylist():
        if not r["reliable"]:
            out.append(
                f"the model looks undertrained for {r['family']}: {100 * r['rate']:.0f} % of "
                f"{r['n_samples']} samples show the prompted {r['family']} (threshold "
                f"{100 * r['threshold']:.0f} %); every association involving {r['family']} "
                "is marked reliable = false. Train longer, or check the captioner."
            )
    return out


def reliable_pairs(
    concepts: Sequence[str],
    attributes: Sequence[str],
    table: pa.Table,
    families: Mapping[str, Sequence[str]] | None,
) -> list[bool]:
    """``reliable`` for every (concept, attribute) pair: False when either word belongs to a
    family whose adherence is below the threshold."""
    bad = {r["family"] for r in table.to_pylist() if not r["reliable"]}
    word_family = {
        str(w).lower(): str(f) for f, words in (families or {}).items() for w in words
    }
    return [
        word_family.get(str(c).lower()) not in bad and word_family.get(str(a).lower()) not in bad
        for c, a in zip(concepts, attributes, strict=True)
    ]
