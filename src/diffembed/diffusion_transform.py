"""Diffusion coordinates at any time, and new points embedded by the Nyström extension.

The functions give the coordinates ``ψ_k λ_k^t`` and the relaxation times of a spectrum;
:class:`NystromTransformMixin` gives :class:`~diffembed.DiffusionMap` its ``transform``:
a new point's transition probabilities to its nearest fitted points (fitted bandwidth and
density normalisation) applied to the fitted eigenvectors.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted, validate_data

from ._api import named
from ._validation import check_data_matrix, check_real
from .diffusion_checks import check_magnitude
from .exceptions import InputError
from .neighbors import (
    NeighborIndex,
    build_index,
    graph_from_arrays,
    precomputed_rows_to_graph,
)
from .nystrom import nystrom_weights

__all__ = ["NystromTransformMixin", "diffusion_coordinates", "timescales"]


def timescales(eigenvalues: np.ndarray) -> np.ndarray:
    """Relaxation times ``-1 / log(lambda)``: inf for λ >= 1, NaN for λ <= 0."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    out = np.full(lam.shape, np.nan)
    inside = (lam > 0) & (lam < 1)
    out[inside] = -1.0 / np.log(lam[inside])
    out[lam >= 1] = np.inf
    return out


def _power(eigenvalues: np.ndarray, t: float) -> np.ndarray:
    """``lambda ** t`` keeping the sign of negative eigenvalues (warns for fractional t)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if t == 0:
        return np.ones_like(lam)
    if np.any(lam < 0) and float(t) != int(t):
        warnings.warn(
            f"Negative eigenvalues raised to the fractional power t={t}; using "
            "sign(lambda) * |lambda|**t. Use an integer t or more neighbours.",
            RuntimeWarning,
            stacklevel=3,
        )
    return np.sign(lam) * np.abs(lam) ** t


def diffusion_coordinates(
    eigenvectors: np.ndarray, eigenvalues: np.ndarray, t: float
) -> np.ndarray:
    """Diffusion coordinates at time t: ``eigenvectors * eigenvalues ** t`` (column-wise)."""
    return np.asarray(eigenvectors) * _power(eigenvalues, t)[None, :]


class NystromTransformMixin:
    """``transform`` of a fitted :class:`~diffembed.DiffusionMap` (out-of-sample points)."""

    # set by DiffusionMap.__init__ / fit
    t: float
    metric: str
    alpha: float
    n_neighbors: int
    n_jobs: int | None
    knn_method_: str
    _X_fit: Any
    _index: NeighborIndex | None

    def _nystrom_transform(self, X: Any, t: float | None = None) -> np.ndarray:
        """``DiffusionMap.transform`` (defined there, so scikit-learn's set_output wraps it)."""
        check_is_fitted(self, "eigenvalues_")
        t = self.t if t is None else check_real(t, "t", low=0.0)
        n_fit = int(self.fitted_mask_.sum())
        # A fitted row of P holds the point itself and its n_neighbors neighbours: a new point
        # gets the same number of fitted points, so a fitted point maps (nearly) onto itself.
        k = min(self.n_neighbors + 1, n_fit)
        if self.metric == "precomputed":
            Xv = X if sp.issparse(X) else check_data_matrix(X, name="X", min_samples=1)
            graph = precomputed_rows_to_graph(Xv, k, self.fitted_mask_.size)
            graph = graph[:, self.fitted_mask_] if not self.fitted_mask_.all() else graph
        else:
            if sp.issparse(X):
                Xv = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=False)
            else:
                Xv = check_data_matrix(X, name="X", min_samples=1)
                Xv = validate_data(self, named(X, Xv), dtype=np.float64, reset=False)
            fitted_scale = None
            if self._X_fit is not None:
                fit_data = self._X_fit.data if sp.issparse(self._X_fit) else self._X_fit
                fitted_scale = float(np.max(np.abs(fit_data))) if fit_data.size else 0.0
            check_magnitude(Xv, fitted_scale=fitted_scale)
            dist, ind = self._get_index().query(Xv, k)
            graph = graph_from_arrays(dist, ind, n_index=n_fit)
        lam = self.eigenvalues_
        if np.any(np.abs(lam) < 1e-8):
            warnings.warn(
                "Some eigenvalues are ~0; the Nyström extension divides by them and the "
                "matching coordinates of new points are unreliable.",
                RuntimeWarning,
                stacklevel=2,
            )
        out = diffusion_coordinates(self._nystrom_psi(graph), lam, t)
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            msg = (
                f"{int(bad.sum())} of {out.shape[0]} new points got non-finite coordinates "
                f"(first: row {int(np.flatnonzero(bad)[0])}): their distances to the fitted "
                "points are outside the range the fitted bandwidth can weigh, or an eigenvalue "
                "is 0. Check that the new data has the units and columns of the fitted data."
            )
            raise InputError(msg)
        return out

    def _nystrom_psi(self, graph: sp.csr_matrix) -> np.ndarray:
        """Nyström eigenfunctions ψ of new rows from their distance ``graph`` to the fitted rows.

        ``graph`` holds each new row's ``n_neighbors + 1`` nearest fitted rows (the columns are
        the fitted rows); the weights use the fitted bandwidth, α and densities.
        """
        mask = self.fitted_mask_
        P = nystrom_weights(
            graph,
            bandwidth=self.bandwidth_,
            alpha=self.alpha,
            density=self.density_[mask],
            local_scales=None if self.local_scales_ is None else self.local_scales_[mask],
            n_neighbors=self.n_neighbors,
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            return (P @ self.eigenvectors_[mask]) / np.asarray(self.eigenvalues_)[None, :]

    def _get_index(self) -> NeighborIndex:
        if getattr(self, "_index", None) is None:
            self._index = build_index(
                self._X_fit, method=self.knn_method_, metric=self.metric, n_jobs=self.n_jobs
            )
        return self._index

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_index"] = None  # rebuilt on demand from the fitted data
        return state

