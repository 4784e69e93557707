"""The vocabulary of the shapes dataset: four attribute families and their values.

Every value name is unique across families, so a word of a caption names one value of one
family. Shared by the renderer (:mod:`.shapes`), the plant specification
(:mod:`.shapes_plants`) and every analysis that groups words by family.
"""

from __future__ import annotations

__all__ = ["ATTRIBUTES", "COLOURS", "FAMILIES", "FAMILY_OF", "POSITIONS", "SHAPES", "SIZES"]

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "green", "blue", "yellow")
SIZES = ("small", "large")
POSITIONS = ("left", "centre", "right")
#: Attribute families in drawing order → their values.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": SHAPES,
    "colour": COLOURS,
    "size": SIZES,
    "position": POSITIONS,
}
FAMILIES = tuple(ATTRIBUTES)
#: value → family.
FAMILY_OF = {value: family for family, values in ATTRIBUTES.items() for value in values}
