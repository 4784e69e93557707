"""The analysis step of ``diffembed latents decode``: from an h-space result to tables.

:func:`analyse` is the one call the decode command makes after sampling and captioning; every
table it returns is written as ``NAME.csv`` in the output folder, ``summary`` goes into the
manifest and ``warnings`` are shown to the user.

Tables: ``associations`` (:func:`.associations.score_associations`, with a ``reliable``
column from the adherence gate) and, when the samples were captioned per family,
``adherence`` (:func:`.adherence.adherence`), then the words read out of h-space
(:func:`.concepts.decode_tables`): ``words`` (each concept's top vocabulary words),
``defaults`` (what the model draws for a family the prompt leaves open) and ``concepts`` (a
diffusion map and clusters of the concept directions). A prompt-only run (no captions) gets the
``words`` and ``concepts`` tables from the prompts alone, and no associations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DecodeAnalysis", "analyse"]


@dataclass
class DecodeAnalysis:
    """Tables (name → pyarrow.Table), a JSON-able summary and warnings for the user."""

    tables: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _number(value: Any) -> float | None:
    value = float(value)
    return value if value == value else None  # NaN → None (JSON null)


def analyse(
    result: Any,
    *,
    families: dict[str, list[str]] | None,
    method: str = "mean_difference",
    alpha: float = 1.0,
    n_permutations: int = 2000,
    alternative: str = "greater",
    q_threshold: float = 0.05,
    min_effect: float = 0.5,
    random_state: int | None = 0,
    evidence: str = "both",
    adherence_threshold: float = 0.8,
) -> DecodeAnalysis:
    """Score the associations of an :class:`~.hspace.HSpaceResult`, behind the adherence gate.

    Parameters
    ----------
    result
        ``result.h`` and ``result.table`` with ``prompt``, ``seed``, ``prompt_id`` and, when
        the images were captioned, ``caption`` and one column per family of ``families``
        (the predicted word).
    families
        ``{family: [words]}`` of the captioner (None: no families, no adherence gate).
    method, alpha, n_permutations, alternative, q_threshold, min_effect, random_state
        As in :func:`.associations.score_associations`.
    evidence
        ``"hspace"``, ``"captions"`` or ``"both"``: which tests make a pair significant.
    adherence_threshold
        Least share of samples showing the prompted word of a family (0.8); below it the
        family's associations are marked ``reliable = false`` and a warning names it.

    Returns
    -------
    DecodeAnalysis
        ``tables["associations"]`` (the columns of ``score_associations`` then
        ``reliable``), ``tables["adherence"]`` when some prompt names a word of a family
        the samples were captioned for; ``summary`` (``n_pairs``, ``n_significant``,
        ``n_unreliable``, ``evidence``, ``significant`` pairs, ``adherence`` per family);
        ``warnings`` (one per unreliable family).
    """
    import pyarrow as pa

    from ..exceptions import InputError
    from .adherence import _check_threshold, adherence, adherence_warnings, reliable_pairs
    from .associations import score_associations

    threshold = _check_threshold(adherence_threshold)
    tables: dict[str, Any] = {}
    warnings: list[str] = []
    gate = None
    sample_table = getattr(result, "table", None)
    if families and isinstance(sample_table, Mapping) and "prompt" in sample_table:
        predicted = {f: sample_table[f] for f in families if f in sample_table}
        if predicted:
            gate = adherence(sample_table["prompt"], predicted, families, threshold=threshold)
            warnings += adherence_warnings(gate)
    word_tables = _word_tables(result, families, random_state, warnings)
    if not (isinstance(sample_table, Mapping) and "caption" in sample_table):
        warnings.append(
            "prompt-only run (no captioner): concept × attribute associations need captions "
            "of the images, so none were scored; words.csv and concepts.csv are read from the "
            "prompts alone. Caption the images with --captioner clip:DIR --vocabulary "
            "attributes.json to score associations."
        )
        summary = {"evidence": evidence, "n_pairs": 0, "n_significant": 0,
                   "top_words": _top_words(word_tables)}  # fmt: skip
        return DecodeAnalysis(tables=word_tables, summary=summary, warnings=warnings)
    try:
        table = score_associations(
            result, families=families, method=method, alpha=alpha,  # type: ignore[arg-type]
            n_permutations=n_permutations, alternative=alternative,  # type: ignore[arg-type]
            q_threshold=q_threshold, min_effect=min_effect, random_state=random_state,
            evidence=evidence,  # type: ignore[arg-type]
        )  # fmt: skip
    except InputError as exc:
        if not warnings:
            raise
        # e.g. an untrained model whose images all look alike: say why, not only what
        msg = f"{exc} Prompt adherence: " + " ".join(w[0].upper() + w[1:] for w in warnings)
        raise InputError(msg) from exc
    if gate is not None:
        reliable = reliable_pairs(
            table.column("concept").to_pylist(), table.column("attribute").to_pylist(), gate,
            families,
        )  # fmt: skip
    else:
        reliable = [True] * table.num_rows
    table = table.append_column("reliable", pa.array(reliable, type=pa.bool_()))
    tables["associations"] = table
    if gate is not None:
        tables["adherence"] = gate
    tables.update(word_tables)
    rows = table.to_pylist()
    summary: dict[str, Any] = {
        "evidence": evidence,
        "n_pairs": len(rows),
        "n_significant": sum(bool(r["significant"]) for r in rows),
        "n_unreliable": sum(not r["reliable"] for r in rows),
        "significant": [
            {
                "concept": r["concept"],
                "attribute": r["attribute"],
                "effect": _number(r["effect"]),
                "q_value": _number(r["q_value"]),
                "q_hspace": _number(r["q_hspace"]),
                "q_captions": _number(r["q_captions"]),
                "reliable": bool(r["reliable"]),
            }
            for r in rows
            if r["significant"]
        ],
        "adherence": {
            r["family"]: {"rate": r["rate"], "n_samples": r["n_samples"], "reliable": r["reliable"]}
            for r in (gate.to_pylist() if gate is not None else [])
        },
        "adherence_threshold": threshold,
        "top_words": _top_words(word_tables),
    }
    return DecodeAnalysis(tables=tables, summary=summary, warnings=warnings)


def _word_tables(
    result: Any, families: dict[str, list[str]] | None, random_state: int | None,
    warnings: list[str],
) -> dict[str, Any]:
    """``words``, ``defaults`` and ``concepts`` (:func:`.concepts.decode_tables`), non-empty ones.

    A table that cannot be made (too few concepts, an uncaptioned run for ``defaults``) is left
    out with its reason added to ``warnings`` (except ``defaults`` of an uncaptioned run, which
    is expected); words that cannot be read at all are a warning, not a failed decode.
    """
    from ..exceptions import InputError
    from .concepts import decode_tables, skipped_reason

    try:
        made = decode_tables(result, families, random_state=random_state)
    except InputError as exc:
        warnings.append(f"no words read out of h-space: {exc}")
        return {}
    captioned = "caption" in (getattr(result, "table", None) or {})
    out: dict[str, Any] = {}
    for name, table in made.items():
        if table.num_rows:
            out[name] = table
            continue
        reason = skipped_reason(table)
        if reason and (captioned or name != "defaults"):
            warnings.append(f"no {name}.csv: {reason}")
    return out


def _top_words(tables: Mapping[str, Any], k: int = 3) -> dict[str, list[str]]:
    """Each concept's first ``k`` decoded words (for the manifest and ``--json``)."""
    words = tables.get("words")
    if words is None:
        return {}
    top: dict[str, list[str]] = {}
    for row in words.to_pylist():
        if row["rank"] <= k:
            top.setdefault(str(row["concept"]), []).append(str(row["word"]))
    return top
