"""Planted associations of the shapes dataset: their specification, checked, and its file.

An association ``(a, b, p)``, with ``a`` a value of an earlier family and ``b`` a value of a
later family, means: when a sample has ``a``, its ``b``-family value is ``b`` with probability
``p`` and otherwise uniform over the *other* values of that family (see :mod:`.shapes`, which
draws them). :func:`read_associations` reads the JSON file that ``diffembed latents train
--associations`` takes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..exceptions import InputError
from .shapes_vocabulary import ATTRIBUTES, FAMILIES, FAMILY_OF

__all__ = ["check_associations", "read_associations"]


def _known_values() -> str:
    return "; ".join(f"{family}: {', '.join(values)}" for family, values in ATTRIBUTES.items())


def check_associations(
    associations: Mapping[tuple[str, str], float] | Sequence[Sequence[Any]] | None,
) -> dict[tuple[str, str], float]:
    """Validate planted associations and return them as ``{(a, b): p}``."""
    if associations is None:
        return {}
    if isinstance(associations, Mapping):
        items = []
        for key, p in associations.items():
            if not isinstance(key, tuple) or len(key) != 2:
                msg = f"An association key must be a pair (attribute_a, attribute_b), got {key!r}."
                raise InputError(msg)
            items.append((key[0], key[1], p))
    elif isinstance(associations, str | bytes):
        msg = "associations must be a mapping {(a, b): p} or a list of (a, b, p), not a string."
        raise InputError(msg)
    else:
        items = []
        for item in associations:
            if isinstance(item, str | bytes) or len(item) != 3:
                msg = (
                    f"An association must be a triple (attribute_a, attribute_b, p), got {item!r}."
                )
                raise InputError(msg)
            items.append(tuple(item))
    out: dict[tuple[str, str], float] = {}
    seen: dict[tuple[str, str], str] = {}
    for a, b, p in items:
        for value in (a, b):
            if value not in FAMILY_OF:
                msg = (
                    f"Unknown attribute value {value!r} in association ({a!r}, {b!r}). "
                    f"Known values: {_known_values()}."
                )
                raise InputError(msg)
        fa, fb = FAMILY_OF[a], FAMILY_OF[b]
        if fa == fb:
            msg = (
                f"Association ({a!r}, {b!r}) links two values of the same family {fa!r}; an "
                "association must link values of two different families."
            )
            raise InputError(msg)
        if FAMILIES.index(fb) < FAMILIES.index(fa):
            msg = (
                f"Association ({a!r}, {b!r}): {b!r} ({fb}) is drawn before {a!r} ({fa}). Families "
                f"are drawn in the order {' -> '.join(FAMILIES)}; write it as ({b!r}, {a!r}, p) "
                "with the earlier family first."
            )
            raise InputError(msg)
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= float(p) <= 1.0:
            msg = (
                f"Association ({a!r}, {b!r}) has probability {p!r}; it must be a number in [0, 1]."
            )
            raise InputError(msg)
        if (a, fb) in seen:
            msg = (
                f"Associations ({a!r}, {seen[(a, fb)]!r}) and ({a!r}, {b!r}) conflict: both say "
                f"which {fb} a {a!r} sample has. Keep one of them."
            )
            raise InputError(msg)
        seen[(a, fb)] = b
        out[(a, b)] = float(p)
    return out


def read_associations(path: str | os.PathLike[str]) -> dict[tuple[str, str], float]:
    """Read planted associations from a JSON file.

    Parameters
    ----------
    path
        A JSON file holding a list of ``[attribute_a, attribute_b, probability]`` triples,
        e.g. ``[["circle", "red", 0.9], ["square", "left", 0.8]]``.

    Returns
    -------
    dict
        ``{(attribute_a, attribute_b): probability}``, validated as in :func:`shapes_dataset`.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        msg = f"Association file {str(path)!r} does not exist."
        raise InputError(msg) from exc
    except json.JSONDecodeError as exc:
        msg = f"Association file {str(path)!r} is not valid JSON ({exc})."
        raise InputError(msg) from exc
    if not isinstance(data, list):
        msg = (
            f"Association file {str(path)!r} must hold a JSON list of [attribute_a, attribute_b, "
            f"probability] triples, got a {type(data).__name__}."
        )
        raise InputError(msg)
    return check_associations(data)
