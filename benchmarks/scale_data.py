"""Data for the scale benchmark: a Gaussian mixture on a curved 2-D manifold in 50 dimensions.

``make_manifold_mixture(n, d=50, seed=0)`` draws a roll parameter ``u`` from a mixture of four
overlapping Gaussians along a swiss roll (so the density is strongly non-uniform), a height ``h`` uniform in
[0, 21], maps (u, h) onto the roll in 3-D, appends ``d - 3`` Gaussian noise dimensions
(σ = 0.05, small against the roll's extent of ~30) and rotates everything by a random orthogonal
matrix, so no coordinate is the manifold. Returns ``(X float32 (n, d), u float64 (n,))``.

    python benchmarks/scale_data.py 1000000 /tmp/X1m.npy    # writes X and X.u.npy
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

CENTRES = np.array([1.9, 2.6, 3.3, 4.0]) * np.pi
WIDTHS = np.array([0.35, 0.3, 0.35, 0.3]) * np.pi


def make_manifold_mixture(n: int, d: int = 50, seed: int = 0, noise: float = 0.05):
    rng = np.random.default_rng(seed)
    comp = rng.integers(0, len(CENTRES), n)
    u = rng.normal(CENTRES[comp], WIDTHS[comp])
    u = np.clip(u, 1.5 * np.pi, 4.5 * np.pi + 0.5)
    h = rng.uniform(0, 21, n)
    X = np.empty((n, d), dtype=np.float32)
    X[:, 0] = u * np.cos(u)
    X[:, 1] = h
    X[:, 2] = u * np.sin(u)
    X[:, 3:] = rng.normal(0.0, noise, (n, d - 3)).astype(np.float32)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    for start in range(0, n, 100_000):  # rotate in blocks: no float64 copy of X
        block = X[start:start + 100_000]
        block[:] = (block.astype(np.float64) @ Q).astype(np.float32)
    return X, u


if __name__ == "__main__":
    n = int(sys.argv[1])
    out = Path(sys.argv[2])
    X, u = make_manifold_mixture(n)
    np.save(out, X)
    np.save(out.with_suffix(".u.npy"), u)
    print(f"wrote {out} {X.shape} {X.dtype}")
