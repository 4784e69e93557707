"""Running an engine on groups of points, its permutation null, and the pre-partition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import MiniBatchKMeans

from .. import _progress
from .condensation import diffusion_condensation
from .embedding import group_means, shared_scale
from .levels import ladder_boundaries, persistence
from .tree import ward_linkage

__all__ = ["EngineSettings", "build_trees", "null_persistence", "prepartition", "root_positions"]


@dataclass(frozen=True)
class EngineSettings:
    """Engine name and condensation schedule (see :func:`~.condensation.diffusion_condensation`)."""

    engine: str
    n_neighbors: int
    k_fraction: float
    lazy: float
    eps_scale: float
    merge_scale: float
    growth: float
    max_steps: int
    kernel: str


def build_trees(
    Y: np.ndarray,
    groups: list[np.ndarray],
    dims: list[int],
    w: np.ndarray,
    settings: EngineSettings,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray], int, bool]:
    """One tree per group of rows of ``Y`` (its first ``dims[g]`` columns), masses ``w``.

    Returns ``(parts, local_boundaries, condensation_steps, converged)``; ``parts`` is the
    input of :func:`~.tree.join_forest`. Groups of one or two points, or of coincident
    points, get a Ward tree whatever the engine.
    """
    parts, local_bounds, steps, converged = [], [], 0, True
    running = _progress.current()  # the engine's task, counted in merges
    scale = None
    if settings.engine == "condensation":
        scale = shared_scale(Y, groups, dims, settings.n_neighbors)
    for g, dim in zip(groups, dims, strict=True):
        if g.size == 1:
            parts.append((g, np.empty((0, 4))))
            local_bounds.append(np.empty(0, dtype=np.int64))
            continue
        Yg = Y[np.ix_(g, np.arange(dim))] if dim else np.zeros((g.size, 1))
        if settings.engine == "ward" or g.size == 2 or not np.any(np.ptp(Yg, axis=0) > 0):
            parts.append((g, ward_linkage(Yg, None if np.all(w[g] == 1) else w[g])))
            local_bounds.append(np.arange(1, g.size, dtype=np.int64))
            if running is not None:
                running.advance(g.size - 1)
            continue
        res = diffusion_condensation(
            Yg,
            w[g],
            n_neighbors=settings.n_neighbors,
            k_fraction=settings.k_fraction,
            lazy=settings.lazy,
            eps_scale=settings.eps_scale,
            merge_scale=settings.merge_scale,
            growth=settings.growth,
            max_steps=settings.max_steps,
            scale=scale,
            kernel=settings.kernel,  # type: ignore[arg-type]
        )
        steps += res.n_steps
        converged &= res.converged
        parts.append((g, res.linkage))
        local_bounds.append(res.boundaries)
    return parts, local_bounds, steps, converged


def null_persistence(
    Y: np.ndarray,
    part_labels: np.ndarray,
    dims: list[int],
    w: np.ndarray,
    settings: EngineSettings,
    n_null: int,
    random_state: int | None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Level persistence of ``n_null`` column-shuffled copies of the largest group.

    Shuffling every coordinate independently keeps the marginals and destroys clusters: the
    permutation null of ``salient_levels_``. Returns one ``(cluster counts, persistence)``
    pair per draw, levels fine → coarse (see :func:`~.levels.salience`).
    """
    if n_null == 0:
        return []
    rng = np.random.default_rng(random_state)
    groups = [np.flatnonzero(part_labels == c) for c in range(int(part_labels.max()) + 1)]
    big = int(np.argmax([g.size for g in groups]))
    g = groups[big]
    if g.size < 4:
        return []
    Yg = Y[np.ix_(g, np.arange(max(dims[big], 1)))]
    curves = []
    for _ in _progress.counted(range(n_null), _progress.current()):
        Ys = np.column_stack([rng.permutation(col) for col in Yg.T])
        with _progress.detached():  # the draw's merges are not the null task's units
            parts, local_bounds, _, _ = build_trees(
                Ys, [np.arange(g.size)], [Yg.shape[1]], w[g], settings
            )
        inner = local_bounds[0] if settings.engine == "condensation" else ladder_boundaries(g.size)
        bounds = np.unique(np.concatenate([[0], inner, [g.size - 1]]))
        curves.append((g.size - bounds, persistence(parts[0][1], bounds)))
    return curves


def prepartition(
    points: Any, n_partitions: int, random_state: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MiniBatchKMeans pre-partition (as Multiscale PHATE does above 100k points).

    Returns the partition of every point (empty clusters dropped), the partition sizes and the
    centroids (mean of the members).
    """
    # random init and two passes: k-means++ over 20k centres costs more than the whole tree,
    # and the partition only needs to be local (about ten points per partition at 200k)
    km = MiniBatchKMeans(
        n_clusters=n_partitions,
        init="random",
        random_state=random_state,
        n_init=1,
        batch_size=4096,
        max_iter=2,
    ).fit(points)
    _, part = np.unique(km.labels_, return_inverse=True)
    k = int(part.max()) + 1
    masses = np.bincount(part, minlength=k).astype(np.float64)
    dense = points if not sp.issparse(points) else sp.csr_matrix(points)
    return part, masses, group_means(dense, part, k)


def root_positions(points: Any, groups: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    """Mass-weighted mean position of every group (where its tree's root is joined)."""
    if points is None:
        return np.zeros((len(groups), 1))
    out = []
    for g in groups:
        block = points[g]
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        out.append(np.average(block, axis=0, weights=w[g]))
    return np.vstack(out)
