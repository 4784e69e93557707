"""Checks around a diffusion-map fit: data magnitude, split graphs and degenerate spectra.

These are the places where a fit can look finished and still be wrong: values whose squared
distances leave the float64 range, a neighbour graph in several pieces, and a kernel that
splits the data numerically (eigenvalues equal to 1 within the solver's precision on a
connected graph). Each function either fixes what can be fixed and says so, or refuses with
the reason and the fix.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from .exceptions import DisconnectedGraphError, InputError, NumericalError
from .neighbors import graph_components

__all__ = [
    "DEGENERATE_TOL",
    "MAX_MAGNITUDE",
    "check_kernel_split",
    "check_magnitude",
    "count_near_one",
    "disconnected_mask",
    "warn_degenerate",
]

#: Largest absolute value accepted in X: the squared distances of the neighbour search must
#: stay finite in float64 (about 1.8e308, so |x| up to ~1e154 for one coordinate; 1e150 leaves
#: room for the sum over features).
MAX_MAGNITUDE = 1e150
#: Smallest non-zero magnitude of X accepted (squared distances underflow below it).
MIN_MAGNITUDE = 1e-150
#: Non-trivial eigenvalues within this of 1 are numerically 1: the kernel split the data.
DEGENERATE_TOL = 1e-9


def check_magnitude(X, *, name: str = "X", fitted_scale: float | None = None) -> None:
    """Refuse finite data whose squared distances would over- or underflow float64.

    Parameters
    ----------
    X
        Dense array or sparse matrix, already checked finite.
    name
        How the data is called in the message.
    fitted_scale
        Largest magnitude of the fitted data, named in the message of :meth:`transform`.
    """
    data = X.data if sp.issparse(X) else np.asarray(X)
    if data.size == 0:
        return
    top = float(np.max(np.abs(data)))
    if top > MAX_MAGNITUDE:
        where = "" if fitted_scale is None else (
            f" (the fitted data's values are at most {fitted_scale:.3g}: check the units of the "
            "new data)"
        )
        msg = (
            f"{name} has values of magnitude up to {top:.3g}{where}: their squared distances "
            "overflow float64, so no neighbour or kernel weight can be computed. Divide the "
            f"data by a constant (values up to {MAX_MAGNITUDE:.0e} are accepted; the diffusion "
            "map of X / c is that of X)."
        )
        raise InputError(msg)
    if 0 < top < MIN_MAGNITUDE:
        msg = (
            f"{name} has values of magnitude at most {top:.3g}: their squared distances "
            "underflow to zero in float64 and every point would look like a duplicate. "
            "Multiply the data by a constant that brings its values near 1 (the diffusion map "
            "of c X is that of X)."
        )
        raise InputError(msg)


def disconnected_mask(
    mode: str, labels: np.ndarray, n_neighbors: int, n_components: int
) -> np.ndarray:
    """Rows to fit for a neighbour graph in several components; raise or warn as ``mode`` says.

    Parameters
    ----------
    mode
        ``"raise"``, ``"largest"``, ``"components"`` or ``"auto"`` (``"components"`` with a
        warning naming the sizes).
    labels
        Component of each row, 0 the largest.
    n_neighbors, n_components
        The estimator's settings, named in the messages.

    Returns
    -------
    ndarray of bool
        The fitted rows.
    """
    sizes = np.bincount(labels)
    n = labels.size
    shown = ", ".join(str(s) for s in sizes[:10])
    more = f", ... ({sizes.size} in all)" if sizes.size > 10 else ""
    if mode == "raise":
        msg = (
            f"The {n_neighbors}-nearest-neighbour graph has {sizes.size} connected "
            f"components (sizes {shown}{more}), so the diffusion has no unique stationary "
            "state. Fix: increase n_neighbors, or pass disconnected='auto' to diagonalise each "
            "component separately, or disconnected='largest' to embed the largest component "
            "only (the sizes are in the exception's component_sizes)."
        )
        raise DisconnectedGraphError(msg, component_sizes=sizes.tolist())
    if mode == "largest":
        warnings.warn(
            f"The neighbour graph has {sizes.size} components; embedding the largest "
            f"({sizes[0]} of {n} points). The other rows get NaN coordinates.",
            UserWarning,
            stacklevel=4,
        )
        if n_components > sizes[0] - 2 or n_neighbors >= sizes[0]:
            msg = (
                f"The largest component has only {sizes[0]} points, too few for "
                f"n_components={n_components} and n_neighbors={n_neighbors}."
            )
            raise InputError(msg)
        return labels == 0
    if mode == "auto":
        warnings.warn(
            f"The {n_neighbors}-nearest-neighbour graph has {sizes.size} connected components "
            f"(sizes {shown}{more}); each is diagonalised separately (its trivial eigenvalue "
            "1 is dropped, see component_trivial_eigenvalues_) and the coordinates are those "
            "of the merged spectrum, 0 outside a pair's own component. Pass "
            "disconnected='raise' to stop instead, or increase n_neighbors to join them.",
            UserWarning,
            stacklevel=4,
        )
    return np.ones(n, dtype=bool)


def count_near_one(eigenvalues: np.ndarray, tol: float = 1e-6) -> int:
    """Non-trivial eigenvalues within ``tol`` of 1."""
    return int(np.sum(np.asarray(eigenvalues) > 1.0 - tol))


def warn_degenerate(eigenvalues: np.ndarray, bandwidth: object, n_neighbors: int) -> int:
    """Warn when non-trivial eigenvalues equal 1 within :data:`DEGENERATE_TOL`; return how many.

    Called for each connected component's spectrum (the trivial pair already dropped): on a
    connected graph an eigenvalue of 1 within the solver's precision means the kernel split
    the data numerically, and the matching coordinates only say which side of the split a
    point is on.
    """
    count = count_near_one(eigenvalues, DEGENERATE_TOL)
    if count:
        fix = (
            "use bandwidth='auto' (the self-tuning kernel) or a larger bandwidth"
            if bandwidth not in ("auto", "adaptive")
            else "increase n_neighbors"
        )
        warnings.warn(
            f"{count} non-trivial eigenvalue(s) equal 1 within {DEGENERATE_TOL:g} on a connected "
            f"graph: the kernel (bandwidth={bandwidth!r}) splits the data into nearly separate "
            f"pieces, and those coordinates only say which piece a point is in. Fix: {fix}.",
            UserWarning,
            stacklevel=4,
        )
    return count


def check_kernel_split(K: sp.csr_matrix, expected: int, bandwidth: object, epsilon: float) -> None:
    """Refuse a kernel whose weights underflowed into more than ``expected`` components."""
    pieces = graph_components(K)[0]
    if pieces <= expected:
        return
    fix = (
        "Increase n_neighbors, or check the data for far outliers."
        if bandwidth in ("auto", "adaptive")
        else "Use bandwidth='auto' (the self-tuning kernel, scale-free) or a larger bandwidth."
    )
    msg = (
        f"With bandwidth={bandwidth!r} (epsilon {epsilon:.4g}) the kernel weights underflow to "
        f"zero and split the graph into {pieces} pieces. {fix}"
    )
    raise NumericalError(msg)
