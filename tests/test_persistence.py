"""Saving and loading models as data (model.json + arrays.npz): round trips and damaged files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_swiss_roll

import diffembed as de
from diffembed.exceptions import InputError
from diffembed.io.persistence import FORMAT_VERSION, load_model, read_model_info, save_model


@pytest.fixture(scope="module")
def roll():
    X, _ = make_swiss_roll(400, random_state=0)
    return X


@pytest.fixture(scope="module")
def fitted(roll):
    return de.DiffusionMap(n_components=4, n_neighbors=12, random_state=0).fit(roll)


@pytest.fixture
def saved(tmp_path, fitted):
    return save_model(fitted, tmp_path / "model", feature_names=["x", "y", "z"])


def _flat(exc_info) -> str:
    return " ".join(str(exc_info.value).split())


# ------------------------------------------------------------------------------ round trips
def test_round_trip_gives_identical_transform(saved, fitted, roll):
    loaded = load_model(saved)
    rng = np.random.default_rng(1)
    new = roll[:50] + rng.normal(0, 0.1, (50, 3))
    np.testing.assert_array_equal(loaded.transform(new), fitted.transform(new))
    np.testing.assert_array_equal(loaded.transform(new, t=3), fitted.transform(new, t=3))
    np.testing.assert_array_equal(loaded.transform_at(2.0), fitted.transform_at(2.0))
    np.testing.assert_array_equal(loaded.embedding_, fitted.embedding_)
    np.testing.assert_array_equal(loaded.timescales_, fitted.timescales_)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.bandwidth_ == fitted.bandwidth_
    assert loaded.knn_method_ == fitted.knn_method_


def test_saved_files_are_plain_data(saved, fitted):
    assert sorted(p.name for p in saved.iterdir()) == ["arrays.npz", "manifest.json", "model.json"]
    document = json.loads((saved / "model.json").read_text())
    assert document["format"] == "diffembed.model"
    assert document["format_version"] == FORMAT_VERSION == 1
    assert document["class"] == "DiffusionMap"
    assert document["diffembed_version"] == de.__version__
    assert document["feature_names"] == ["x", "y", "z"]
    assert document["meta"]["params"] == fitted.get_params()
    with np.load(saved / "arrays.npz", allow_pickle=False) as archive:
        assert {"eigenvalues_", "eigenvectors_", "X_fit"} <= set(archive.files)
        assert all(archive[name].dtype.kind in "biuf" for name in archive.files)
    assert read_model_info(saved)["feature_names"] == ["x", "y", "z"]


@pytest.mark.parametrize(
    "params",
    [
        {"bandwidth": "adaptive"},
        {"bandwidth": 4.0, "alpha": 0.5, "t": 2.0},
    ],
)
def test_round_trip_other_kernels(tmp_path, roll, params):
    model = de.DiffusionMap(n_components=3, random_state=0, **params).fit(roll)
    loaded = load_model(save_model(model, tmp_path / "m"))
    np.testing.assert_array_equal(loaded.transform(roll[:30]), model.transform(roll[:30]))


def _two_blobs():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(0, 0.3, (120, 2)), rng.normal(50, 0.3, (60, 2))])


def test_round_trip_components(tmp_path):
    X = _two_blobs()
    model = de.DiffusionMap(n_components=2, n_neighbors=5, disconnected="components").fit(X)
    loaded = load_model(save_model(model, tmp_path / "m"))
    np.testing.assert_array_equal(loaded.transform(X[:10]), model.transform(X[:10]))


def test_round_trip_largest_component(tmp_path):
    X = _two_blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = de.DiffusionMap(n_components=2, n_neighbors=5, disconnected="largest").fit(X)
    loaded = load_model(save_model(model, tmp_path / "m"))
    np.testing.assert_array_equal(loaded.transform(X[:10]), model.transform(X[:10]))


def test_save_refuses_unfitted_and_existing(tmp_path, fitted):
    with pytest.raises(InputError, match="not fitted"):
        save_model(de.DiffusionMap(), tmp_path / "a")
    assert not (tmp_path / "a").exists()
    save_model(fitted, tmp_path / "b")
    with pytest.raises(InputError, match="--overwrite"):
        save_model(fitted, tmp_path / "b")
    save_model(fitted, tmp_path / "b", overwrite=True)
    model = de.DiffusionMap(n_components=2, random_state=np.random.RandomState(0))
    model.fit(np.random.default_rng(0).normal(size=(40, 2)))
    with pytest.raises(InputError, match="random_state"):
        save_model(model, tmp_path / "c")
    assert not (tmp_path / "c").exists()


# ---------------------------------------------------------------------- frozen v1 fixture
# model.json exactly as format_version 1 writes it; do not regenerate it from the code.
FROZEN_V1_MODEL_JSON = """{
  "format": "diffembed.model",
  "format_version": 1,
  "class": "DiffusionMap",
  "diffembed_version": "0.1.0",
  "meta": {
    "class": "DiffusionMap",
    "params": {
      "alpha": 1.0, "bandwidth": 1.5, "disconnected": "raise", "eigen_solver": "auto",
      "eigen_tol": 0.0, "knn": "exact", "metric": "euclidean", "n_components": 2,
      "n_jobs": null, "n_neighbors": 4, "random_state": 0, "t": 1.0
    },
    "bandwidth_sweep_dimension": null,
    "timings": {"neighbors": 0.001, "eigensolve": 0.002},
    "bandwidth_": 1.5,
    "intrinsic_dimension_": 1.8,
    "knn_method_": "exact",
    "n_features_in_": 2,
    "n_duplicates_": 0,
    "n_connected_components_": 1
  },
  "feature_names": ["a", "b"]
}"""


def _frozen_arrays() -> dict[str, np.ndarray]:
    i = np.arange(12.0)
    X_fit = np.column_stack([i, (i * i % 7) * 0.37])
    return {
        "eigenvalues_": np.array([0.8, 0.5]),
        "eigenvectors_": np.column_stack([i - 5.5, np.cos(i)]),
        "stationary_distribution_": np.full(12, 1 / 12),
        "density_": 1.0 + 0.1 * i,
        "component_labels_": np.zeros(12, dtype=np.int64),
        "fitted_mask_": np.ones(12, dtype=np.uint8),
        "bandwidth_sweep_epsilons": np.logspace(-2, 2, 5),
        "bandwidth_sweep_slopes": np.array([0.1, 0.5, 0.9, 0.4, 0.1]),
        "X_fit": X_fit,
    }


@pytest.fixture
def frozen(tmp_path):
    path = tmp_path / "frozen"
    path.mkdir()
    (path / "model.json").write_text(FROZEN_V1_MODEL_JSON)
    np.savez_compressed(path / "arrays.npz", **_frozen_arrays())
    return path


def test_frozen_v1_file_loads(frozen):
    model = load_model(frozen)
    arrays = _frozen_arrays()
    assert model.n_components == 2
    assert model.bandwidth_ == 1.5
    assert model.n_features_in_ == 2
    assert np.isnan(model.bandwidth_sweep_["dimension"])  # null in the file
    np.testing.assert_allclose(model.transform_at(2.0), arrays["eigenvectors_"] * [0.64, 0.25])
    query = np.array([[0.3, 0.1], [4.2, 1.7], [10.6, 0.4]])
    coords = model.transform(query)
    assert coords.shape == (3, 2)
    assert np.isfinite(coords).all()
    # The stored state, not a refit, drives the Nyström extension: the same as the estimator
    # rebuilt directly from the decoded file.
    meta = json.loads(FROZEN_V1_MODEL_JSON)["meta"]
    meta["bandwidth_sweep_dimension"] = float("nan")
    for key in de.DiffusionMap._SCALAR_ATTRIBUTES:
        meta.setdefault(key, None)
    direct = de.DiffusionMap.from_fitted_state(meta, arrays)
    np.testing.assert_array_equal(coords, direct.transform(query))
    np.testing.assert_array_equal(model.transform(query, t=2.0), direct.transform(query, t=2.0))


# -------------------------------------------------------------------------- damaged files
def _edit_json(path, edit):
    document = json.loads((path / "model.json").read_text())
    edit(document)
    (path / "model.json").write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            lambda d: d.update(format="something.else"),
            ["format 'something.else'", "not a diffembed"],
        ),
        (lambda d: d.update(format_version=2), ["format_version 2", "Upgrade diffembed"]),
        (lambda d: d.update(format_version="1"), ["invalid format_version"]),
        (lambda d: d.update({"class": "Umap"}), ["'Umap'"]),
        (lambda d: d.pop("meta"), ["'meta'"]),
        (lambda d: d["meta"].pop("bandwidth_"), ["'bandwidth_'", "damaged"]),
    ],
)
def test_tampered_json_gives_clear_error(frozen, edit, words):
    _edit_json(frozen, edit)
    with pytest.raises(InputError) as exc_info:
        load_model(frozen)
    for word in words:
        assert word in _flat(exc_info)


def test_truncated_json(frozen):
    (frozen / "model.json").write_text(FROZEN_V1_MODEL_JSON[:200])
    with pytest.raises(InputError, match="not valid JSON"):
        load_model(frozen)


def test_missing_pieces(tmp_path, frozen):
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(InputError, match="is a file"):
        load_model(frozen / "model.json")
    with pytest.raises(InputError, match=r"no model\.json"):
        load_model(tmp_path)
    arrays = _frozen_arrays()
    del arrays["density_"]
    np.savez_compressed(frozen / "arrays.npz", **arrays)
    with pytest.raises(InputError, match="density_"):
        load_model(frozen)
    (frozen / "arrays.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="damaged"):
        load_model(frozen)
    (frozen / "arrays.npz").unlink()
    with pytest.raises(InputError, match=r"no arrays\.npz"):
        load_model(frozen)


def test_object_arrays_are_never_unpickled(frozen):
    arrays = {**_frozen_arrays(), "eigenvalues_": np.array([0.8, None], dtype=object)}
    np.savez(frozen / "arrays.npz", **arrays)  # allow_pickle is the writer's default
    with pytest.raises(InputError, match="never unpickled"):
        load_model(frozen)
