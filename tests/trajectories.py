"""Simulated trajectories with a known time, for pseudotime tests and the scanpy benchmark."""

from __future__ import annotations

import numpy as np

__all__ = ["branching_trajectory", "linear_trajectory"]


def _curve(rng: np.random.Generator, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Two orthonormal directions (the segment's direction and its bend) in ``dim`` dims."""
    q, _ = np.linalg.qr(rng.normal(size=(dim, 2)))
    return q[:, 0], q[:, 1]


def linear_trajectory(
    n: int, *, dim: int = 20, noise: float = 0.03, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A bent curve of length ~2 in ``dim`` dimensions, isotropic Gaussian noise per coordinate.

    Returns ``(X, time)`` with ``time`` uniform on [0, 2].
    """
    rng = np.random.default_rng(seed)
    u, v = _curve(rng, dim)
    time = rng.uniform(0.0, 2.0, n)
    X = time[:, None] * u + 0.4 * np.sin(np.pi * time / 2)[:, None] * v
    return X + rng.normal(0.0, noise, (n, dim)), time


def branching_trajectory(
    n: int, *, dim: int = 20, noise: float = 0.03, n_branches: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A stem (time 0-1) splitting into ``n_branches`` bent arms (time 1-2), thin and noisy.

    Each segment has unit length along its own random direction plus a bend of height 0.2;
    every coordinate gets Gaussian noise of standard deviation ``noise``. Cells are spread
    equally over the stem and the arms.

    Returns
    -------
    X : ndarray of shape (n, dim)
    time : ndarray of shape (n,)
        The true time (0 at the stem's tip).
    branch : ndarray of int, shape (n,)
        0 for the stem, 1..n_branches for the arms.
    """
    rng = np.random.default_rng(seed)
    segments = n_branches + 1
    branch = np.arange(n) % segments
    rng.shuffle(branch)
    s = rng.uniform(0.0, 1.0, n)
    X = np.zeros((n, dim))
    u0, v0 = _curve(rng, dim)
    stem = branch == 0
    X[stem] = s[stem, None] * u0 + 0.2 * np.sin(np.pi * s[stem])[:, None] * v0
    for b in range(1, segments):
        u, v = _curve(rng, dim)
        arm = branch == b
        X[arm] = u0 + s[arm, None] * u + 0.2 * np.sin(np.pi * s[arm])[:, None] * v
    time = np.where(stem, s, 1.0 + s)
    return X + rng.normal(0.0, noise, (n, dim)), time, branch
