"""PCA of a table: scores, spectrum, explained variance and the reconstruction error against k.

scikit-learn does the decomposition (``PCA`` with the full LAPACK SVD or the randomized
SVD; ``TruncatedSVD`` for sparse data without centring). What this module adds is the
spectrum as data: for the centred (and optionally standardised) matrix ``X̃`` with singular
values ``σ₁ ≥ σ₂ ≥ …``, the best rank-k approximation ``X̃_k`` (Eckart–Young) has

    ‖X̃ − X̃_k‖²_F = Σ_{i>k} σ_i² = ‖X̃‖²_F − Σ_{i≤k} σ_i²,

which :class:`PCAResult` reports for every k from 0 to ``n_components`` (exactly with
``method="full"``; with ``"truncated"`` the curve uses the computed singular values, i.e. it
is the error of the projection on the subspace actually found).

>>> from sklearn.datasets import load_digits
>>> from diffembed.embed import pca
>>> result = pca(load_digits().data, n_components=10)
>>> result.vectors.shape
(1797, 10)
>>> bool(result.reconstruction_error[0] > result.reconstruction_error[-1])
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from .._api import PCAOutputMixin, feature_names_of
from .._validation import check_data_matrix, check_int
from ..exceptions import InputError

__all__ = ["PCAResult", "pca"]


@dataclass
class PCAResult(PCAOutputMixin):
    """The output of :func:`pca`.

    Attributes
    ----------
    vectors : ndarray of shape (n_samples, n_components)
        Principal-component scores ``X̃ V_k = U_k Σ_k``.
    components : ndarray of shape (n_components, n_features)
        Principal axes (rows of ``V_kᵀ``), unit length, deterministic signs.
    singular_values : ndarray
        ``σ_i`` of the centred/scaled data: all ``min(n, d)`` of them for ``method="full"``,
        the first ``n_components`` otherwise.
    explained_variance : ndarray of shape (n_components,)
        ``σ_i² / (n − 1)``.
    explained_variance_ratio : ndarray of shape (n_components,)
        Fraction of the total variance per component.
    total_variance : float
        ``‖X̃‖²_F / (n − 1)``.
    reconstruction_error : ndarray of shape (n_components + 1,)
        ``‖X̃ − X̃_k‖²_F`` for k = 0 … n_components.
    mean, scale : ndarray of shape (n_features,) or None
        What was subtracted and divided by (None when not centred / not scaled).
    method : str
        ``"full"`` or ``"truncated"``.
    """

    vectors: np.ndarray
    components: np.ndarray
    singular_values: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    total_variance: float
    reconstruction_error: np.ndarray
    mean: np.ndarray | None
    scale: np.ndarray | None
    method: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_components(self) -> int:
        """Number of components kept."""
        return int(self.components.shape[0])

    def _prepare(self, X: Any) -> np.ndarray:
        X = sp.csr_matrix(X) if sp.issparse(X) else np.asarray(X, dtype=np.float64)
        if X.shape[1] != self.components.shape[1]:
            msg = (
                f"X has {X.shape[1]} features but the PCA was fitted on "
                f"{self.components.shape[1]}; give data with the same columns."
            )
            raise InputError(msg)
        if sp.issparse(X):
            X = X.toarray() if self.mean is not None else X
        if self.mean is not None:
            X = X - self.mean
        if self.scale is not None:
            X = X / self.scale
        return X

    def transform(self, X: Any) -> np.ndarray:
        """Scores of new rows (centred and scaled like the fitted data)."""
        return np.asarray(self._prepare(X) @ self.components.T)

    def inverse_transform(self, scores: np.ndarray) -> np.ndarray:
        """Rows rebuilt from their scores: ``scores V_kᵀ``, un-scaled and un-centred."""
        X = np.asarray(scores, dtype=np.float64) @ self.components
        if self.scale is not None:
            X = X * self.scale
        if self.mean is not None:
            X = X + self.mean
        return X

    def spectrum(self) -> dict[str, list[float] | list[int]]:
        """Plot-ready spectrum: component number, singular value, explained variance (ratio
        and cumulative) and the reconstruction error for k = 0 … n_components."""
        k = np.arange(1, self.n_components + 1)
        ratio = self.explained_variance_ratio
        return {
            "component": k.tolist(),
            "singular_value": self.singular_values[: self.n_components].tolist(),
            "explained_variance": self.explained_variance.tolist(),
            "explained_variance_ratio": ratio.tolist(),
            "cumulative_explained_variance_ratio": np.cumsum(ratio).tolist(),
            "k": np.arange(0, self.n_components + 1).tolist(),
            "reconstruction_error": self.reconstruction_error.tolist(),
            "relative_reconstruction_error": (
                self.reconstruction_error / max(self.reconstruction_error[0], 1e-300)
            ).tolist(),
        }


def pca(
    X: Any,
    n_components: int,
    *,
    method: Literal["full", "truncated"] = "full",
    center: bool = True,
    scale: bool = False,
    n_iter: int | Literal["auto"] = "auto",
    random_state: int | None = 0,
) -> PCAResult:
    """Principal component analysis with the spectrum and reconstruction-error curve.

    Parameters
    ----------
    X
        Array of shape (n_samples, n_features), dense or sparse.
    n_components
        Components kept: at most ``min(n_samples, n_features)`` for ``"full"``, strictly less
        for ``"truncated"`` (and ``n_samples − 1`` when centring removes one dimension).
    method
        ``"full"``: exact LAPACK SVD (every singular value, exact error curve);
        ``"truncated"``: randomized SVD (Halko et al.), for large matrices.
    center
        Subtract the column means (PCA proper). Sparse data is centred implicitly by
        scikit-learn (ARPACK); ``center=False`` on sparse data uses ``TruncatedSVD`` (LSA).
    scale
        Divide every column by its standard deviation (correlation PCA); constant columns are
        left as they are. Needs ``center=True`` and dense data.
    n_iter, random_state
        Power iterations and seed of the randomized SVD.

    Returns
    -------
    PCAResult

    Raises
    ------
    InputError
        NaN/inf values, fewer than 2 rows, ``n_components`` out of range, bad options.
    """
    from sklearn.decomposition import PCA, TruncatedSVD

    if method not in ("full", "truncated"):
        msg = f"method={method!r} is not supported; choose 'full' or 'truncated'."
        raise InputError(msg)
    names = feature_names_of(X)
    sparse = sp.issparse(X)
    if sparse:
        X = sp.csr_matrix(X, dtype=np.float64)
        if not np.isfinite(X.data).all():
            msg = "X contains NaN or infinite values. Drop or impute them first."
            raise InputError(msg)
        if X.shape[0] < 2:
            msg = f"X has {X.shape[0]} sample(s); PCA needs at least 2."
            raise InputError(msg)
    else:
        X = check_data_matrix(X, name="X")
    if scale and (not center or sparse):
        msg = (
            "scale=True standardises columns, which needs center=True and dense data. Pass "
            "center=True with a dense array, or scale=False."
        )
        raise InputError(msg)
    n, d = X.shape
    rank_bound = min(n - 1 if center else n, d)
    high = rank_bound if method == "full" and not sparse else rank_bound - 1
    fix = (
        f"X has {n} rows and {d} columns"
        + (" (centring removes one dimension)" if center else "")
        + (
            "; the truncated solver needs fewer components than that bound"
            if high < rank_bound
            else ""
        )
        + "."
    )
    if high < 1:
        msg = f"X of shape {X.shape} is too small for PCA with method={method!r}. {fix}"
        raise InputError(msg)
    n_components = check_int(n_components, "n_components", low=1, high=high, fix=fix)

    mean = np.asarray(X.mean(axis=0)).ravel() if center else None
    std = None
    if scale:
        std = X.std(axis=0, ddof=1)
        std[std == 0] = 1.0
    if sparse and not center:
        model = TruncatedSVD(
            n_components,
            algorithm="randomized",
            n_iter=5 if n_iter == "auto" else n_iter,
            random_state=random_state,
        )
        scores = model.fit_transform(X)
        axes, sing = model.components_, model.singular_values_
        total_ss = float(X.multiply(X).sum())
    else:
        Z = X if std is None else (X - mean) / std
        full = method == "full" and not sparse
        solver = "arpack" if sparse else ("full" if full else "randomized")
        model = PCA(
            None if full else n_components,
            svd_solver=solver,
            iterated_power=n_iter,
            random_state=random_state,
        )
        scores = model.fit_transform(Z)[:, :n_components]
        axes, sing = model.components_[:n_components], model.singular_values_
        if sparse:
            total_ss = float(X.multiply(X).sum() - n * mean @ mean)
        elif full:
            total_ss = float(np.sum(sing**2))
        else:
            centred = Z - Z.mean(axis=0)
            total_ss = float(np.einsum("ij,ij->", centred, centred))
    # deterministic signs: the largest-magnitude loading of every axis is positive
    signs = np.sign(axes[np.arange(axes.shape[0]), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1
    axes = axes * signs[:, None]
    scores = scores * signs
    kept = np.asarray(sing[:n_components], dtype=np.float64)
    error = np.maximum(total_ss - np.concatenate([[0.0], np.cumsum(kept**2)]), 0.0)
    variance = kept**2 / (n - 1)
    total_variance = total_ss / (n - 1)
    result = PCAResult(
        vectors=scores,
        components=axes,
        singular_values=np.asarray(sing, dtype=np.float64),
        explained_variance=variance,
        explained_variance_ratio=variance / total_variance if total_variance > 0 else variance,
        total_variance=total_variance,
        reconstruction_error=error,
        mean=mean,
        scale=std,
        method=method,
        info={
            "n_samples": n,
            "n_features": d,
            "sparse": sparse,
            "center": center,
            "scale": scale,
            "solver": "TruncatedSVD" if sparse and not center else f"PCA({solver})",
        },
    )
    if names is not None:  # a data frame's columns, as scikit-learn records them
        result.feature_names_in_ = names
    return result
