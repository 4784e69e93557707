"""The null reference of :class:`~diffembed.DiffusionHierarchy`: which levels are salient.

A level's persistence (the log-height gap it survives) is compared with the persistence of
trees built on ``n_null`` reference inputs without structure, at the same cluster count
(:func:`~diffembed.hierarchy.levels.salience`). For point input the reference is the whole
pipeline rerun on uniform points (:func:`input_null`); otherwise the engine is rerun on the
working coordinates with every column shuffled
(:func:`~diffembed.hierarchy.engines.null_persistence`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _progress
from .engines import null_persistence
from .levels import salience

__all__ = ["input_null", "set_salience"]

Curves = list[tuple[np.ndarray, np.ndarray]]


def input_null(
    model: Any,
    points: np.ndarray,
    masses: np.ndarray | None,
    timings: dict[str, float] | None = None,
) -> Curves:
    """Level persistence of the whole pipeline on ``model.n_null`` reference inputs.

    The reference is the gap statistic's (Tibshirani, Walther & Hastie 2001): points drawn
    uniformly over the range of every input feature, as many as the data; the tree is
    rebuilt from scratch (kNN graph, diffusion coordinates, engine), so the null goes
    through the same geometry-making steps as the data. On a uniform cube this is an
    exact null. Two alternatives failed: shuffling the *diffusion coordinates* (on a cube
    they are cosines of the same few inputs; their shuffled copies lose the cube's regular
    Ward tilings at k ≈ 24-32, which then looked salient), and shuffling the *input
    columns* (the product of the marginals keeps clusters that are separated along single
    features: three blobs placed along the axes were never salient).

    The draws run as one ``"null"`` progress task (a line with fits/s and ETA), their
    wall time added to ``timings``.
    """
    rng = np.random.default_rng(model.random_state)
    low, high = points.min(axis=0), points.max(axis=0)
    curves = []
    with _progress.task("null", model.n_null, unit="fits", timings=timings) as running:
        for _ in _progress.counted(range(model.n_null), running):
            Xs = rng.uniform(low, high, size=points.shape)
            sub = type(model)(**model.get_params())
            sub.n_null = 0
            sub.disconnected = "join"
            sub.n_partitions_ = None
            graph, pts, is_affinity = sub._read_input(Xs)
            sub._fit_graph(graph, pts, is_affinity, masses, {})
            curves.append((sub.n_clusters_per_level_, sub.persistence_))
    return curves


def set_salience(
    model: Any,
    Y: np.ndarray,
    part_labels: np.ndarray,
    dims: list[int],
    w: np.ndarray,
    timings: dict[str, float],
    n_null: int,
    curves: Curves | None,
) -> None:
    """Set ``null_persistence_``, ``salience_``, ``salience_threshold_``, ``salient_levels_``.

    ``curves`` are the null draws' ``(n_clusters_per_level, persistence)``; when None they are
    drawn here on the working coordinates ``Y`` (columns shuffled within each part).
    """
    if curves is None and not n_null:
        curves = []  # no null fits: no stage line either
    if curves is None:
        with _progress.task("null", n_null, unit="fits", timings=timings):
            curves = null_persistence(
                Y, part_labels, dims, w, model._settings(), n_null, model.random_state
            )
    model._null_curves = curves
    n = model.linkage_.shape[0] + 1
    top = n if model.n_partitions_ is None else model.n_partitions_
    ref, ratio, threshold = salience(model.n_clusters_per_level_, model.persistence_, curves, top)
    model.null_persistence_ = ref
    model.salience_ = ratio
    model.salience_threshold_ = threshold
    salient = np.flatnonzero(np.nan_to_num(ratio, nan=-np.inf) > threshold)
    model.salient_levels_ = salient[np.argsort(-ratio[salient], kind="stable")]
