"""Exceptions raised by diffembed.

Every error names the problem, the offending value and the fix. ``InputError`` subclasses
:class:`ValueError` so that code written for scikit-learn estimators keeps catching it.
"""

from __future__ import annotations

__all__ = [
    "DiffembedError",
    "DisconnectedGraphError",
    "InputError",
    "NumericalError",
]


class DiffembedError(Exception):
    """Base class of every error raised by diffembed."""


class InputError(DiffembedError, ValueError):
    """The data or a parameter is not acceptable (NaN, wrong shape, out-of-range value...)."""


class DisconnectedGraphError(InputError):
    """The neighbour graph has more than one connected component.

    Attributes
    ----------
    component_sizes : list of int
        Sizes of the connected components, largest first.
    """

    def __init__(self, message: str, component_sizes: list[int]) -> None:
        super().__init__(message)
        self.component_sizes = component_sizes


class NumericalError(DiffembedError, ArithmeticError):
    """A numerical routine failed (an eigensolver did not converge, a matrix is degenerate)."""
