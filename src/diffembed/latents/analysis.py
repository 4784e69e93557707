"""The analysis step of ``diffembed latents decode``: from an h-space result to tables.

:func:`analyse` is the one call the decode command makes after sampling and captioning; every
table it returns is written as ``NAME.csv`` in the output folder, ``summary`` goes into the
manifest and ``warnings`` are shown to the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DecodeAnalysis", "analyse"]


@dataclass
class DecodeAnalysis:
    """Tables (name → pyarrow.Table), a JSON-able summary and warnings for the user."""

    tables: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


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
    """Score the associations of an :class:`~.hspace.HSpaceResult`.

    ``result.table`` carries ``prompt``, ``seed``, ``prompt_id`` and, when the images were
    captioned, ``caption`` and one column per family of ``families`` (the predicted word).
    Returns at least the ``associations`` table.
    """
    from .associations import score_associations

    table = score_associations(
        result, families=families, method=method, alpha=alpha,  # type: ignore[arg-type]
        n_permutations=n_permutations, alternative=alternative,  # type: ignore[arg-type]
        q_threshold=q_threshold, min_effect=min_effect, random_state=random_state,
    )  # fmt: skip
    rows = table.to_pylist()
    summary = {
        "n_pairs": len(rows),
        "n_significant": sum(bool(r["significant"]) for r in rows),
        "significant": [
            {k: r[k] for k in ("concept", "attribute", "effect", "q_value")}
            for r in rows
            if r["significant"]
        ],
    }
    return DecodeAnalysis(tables={"associations": table}, summary=summary)
