from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def small_cloud(rng) -> np.ndarray:
    """60 points near a noisy curve in 3-D: connected for k >= 5, no ties in distances."""
    s = np.sort(rng.uniform(0, 3 * np.pi, 60))
    X = np.c_[np.cos(s), np.sin(s), 0.3 * s] + rng.normal(0, 0.05, (60, 3))
    return X
