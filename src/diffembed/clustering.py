"""Clustering in diffusion coordinates (k-means from scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans

from ._validation import check_int, check_real
from .diffusion_map import DiffusionMap
from .exceptions import InputError

__all__ = ["diffusion_clusters"]


def diffusion_clusters(
    data: Any,
    n_clusters: int,
    *,
    t: float | None = None,
    n_components: int | None = None,
    random_state: int | None = None,
    **diffusion_map_params: Any,
) -> np.ndarray:
    """Cluster points by k-means on their diffusion coordinates.

    Diffusion distance at time t equals Euclidean distance between diffusion coordinates, so
    k-means on them groups points that the random walk mixes quickly (Coifman & Lafon 2006;
    Nadler et al. 2006).

    Parameters
    ----------
    data
        Either a fitted :class:`~diffembed.DiffusionMap`, or data (n_samples, n_features) to
        fit one on.
    n_clusters
        Number of clusters.
    t
        Diffusion time of the coordinates (default: the model's ``t``).
    n_components
        Coordinates used (default: ``n_clusters - 1``, the classical spectral-clustering
        choice, capped by what the model has; for a new model at least 2).
    random_state
        Seed for k-means (and for the diffusion map when one is fitted here).
    **diffusion_map_params
        Passed to :class:`~diffembed.DiffusionMap` when ``data`` is not a fitted model.

    Returns
    -------
    ndarray of shape (n_samples,)
        Cluster labels 0..n_clusters-1 (-1 for rows without coordinates).

    Examples
    --------
    >>> import numpy as np, diffembed as de
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.3, (100, 2)), rng.normal(5, 0.3, (100, 2))])
    >>> labels = de.diffusion_clusters(X, 2, random_state=0, disconnected="components")
    >>> sorted(np.bincount(labels))
    [100, 100]
    """
    check_int(n_clusters, "n_clusters", low=1)
    wanted = max(n_clusters - 1, 1) if n_components is None else n_components
    if isinstance(data, DiffusionMap) or hasattr(data, "landmark_model_"):  # fitted model
        model = data
        model_t = model.t
    else:
        params = {"n_components": max(wanted, 2), "random_state": random_state}
        params.update(diffusion_map_params)
        model = DiffusionMap(**params).fit(data)
        model_t = model.t
    t = model_t if t is None else check_real(t, "t", low=0.0)
    coords = model.transform_at(t)[:, : min(wanted, model.eigenvalues_.size)]
    ok = np.isfinite(coords).all(axis=1)
    if n_clusters > ok.sum():
        msg = f"n_clusters={n_clusters} exceeds the {int(ok.sum())} embedded points."
        raise InputError(msg)
    labels = np.full(coords.shape[0], -1, dtype=np.int64)
    km = KMeans(n_clusters=n_clusters, n_init=10, random_state=random_state)
    labels[ok] = km.fit_predict(coords[ok])
    return labels
