"""Built-in datasets: offline, seeded, with the documented shapes and labels."""

from __future__ import annotations

import numpy as np
import pytest

from diffembed.datasets import DATASETS, feature_names, load_dataset
from diffembed.exceptions import InputError


def test_catalogue():
    assert list(DATASETS) == ["swiss-roll", "s-curve", "digits"]
    assert all(isinstance(d, str) and d and "\n" not in d for d in DATASETS.values())


@pytest.mark.parametrize(
    ("name", "n_features", "label_name"),
    [("swiss-roll", 3, "t"), ("s-curve", 3, "t"), ("digits", 64, "digit")],
)
def test_shapes_labels_and_seed(name, n_features, label_name):
    X, labels, got_name, description = load_dataset(name, n_samples=300, random_state=1)
    assert X.shape == (300, n_features)
    assert X.dtype == np.float64
    assert labels.shape == (300,)
    assert got_name == label_name
    assert description == DATASETS[name]
    X2, labels2, *_ = load_dataset(name, n_samples=300, random_state=1)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(labels, labels2)
    X3, *_ = load_dataset(name, n_samples=300, random_state=2)
    assert not np.array_equal(X, X3)
    assert len(feature_names(name, n_features)) == n_features


def test_defaults():
    X, t, name, _ = load_dataset("swiss-roll")
    assert X.shape == (5000, 3)
    assert name == "t"
    # t is the roll parameter: the angle, so x = t cos t
    np.testing.assert_allclose(X[:, 0], t * np.cos(t))
    X, digit, name, _ = load_dataset("digits")
    assert X.shape == (1797, 64)
    assert name == "digit"
    assert digit.dtype.kind == "i"
    assert set(np.unique(digit)) == set(range(10))


def test_errors():
    with pytest.raises(InputError, match="swiss-roll, s-curve, digits"):
        load_dataset("mnist")
    with pytest.raises(InputError, match="1797"):
        load_dataset("digits", n_samples=5000)
    with pytest.raises(InputError, match="n_samples"):
        load_dataset("swiss-roll", n_samples=1)
