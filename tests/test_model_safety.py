"""Saved model folders are untrusted input: bombs, tampered values and damaged files are refused.

Every refusal is an InputError "model file tampered or from another tool: <what> (<file>)"
raised before the bad part is decompressed or used; through the CLI it is exit 2, no traceback.
"""

from __future__ import annotations

import json
import shutil
import tracemalloc
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy_format
from typer.testing import CliRunner

import diffembed as de
from diffembed.cli.app import app
from diffembed.exceptions import InputError
from diffembed.io.persistence import load_model, save_model
from diffembed.io.safe_files import read_json_capped

PREFIX = "model file tampered or from another tool"
runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def saved(tmp_path_factory, request):
    rng = np.random.default_rng(0)
    s = np.sort(rng.uniform(0, 3 * np.pi, 60))
    X = np.c_[np.cos(s), np.sin(s), 0.3 * s] + rng.normal(0, 0.05, (60, 3))
    model = de.DiffusionMap(n_components=2, n_neighbors=6, random_state=0).fit(X)
    base = tmp_path_factory.mktemp("models")
    save_model(model, base / "model", feature_names=["a", "b", "c"])
    np.save(base / "new.npy", X[:5])
    return base


@pytest.fixture
def model_dir(saved, tmp_path):
    shutil.copytree(saved / "model", tmp_path / "model")
    return tmp_path / "model"


def edit_json(path, edit) -> None:
    document = json.loads((path / "model.json").read_text())
    edit(document)
    (path / "model.json").write_text(json.dumps(document))


def edit_arrays(path, **changes) -> None:
    with np.load(path / "arrays.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value(arrays[name]) if callable(value) else value
    (path / "arrays.npz").unlink()
    np.savez_compressed(path / "arrays.npz", **arrays)


def refused(path) -> str:
    with pytest.raises(InputError) as info:
        load_model(path)
    message = flat(str(info.value))
    assert message.startswith(PREFIX), message
    return message


def peak_while_loading(path) -> tuple[int, str]:
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as info:
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, flat(str(info.value))


# ------------------------------------------------------------------------------- bombs
def test_unknown_member_is_refused_before_it_is_decompressed(model_dir):
    """A 256 MiB zero array (a 256 KiB member) beside the real ones: never read."""
    with (
        zipfile.ZipFile(model_dir / "arrays.npz", "a", zipfile.ZIP_DEFLATED) as archive,
        archive.open("extra.npy", "w", force_zip64=True) as handle,
    ):
        npy_format.write_array_header_1_0(
            handle, {"descr": "<f8", "fortran_order": False, "shape": (2**25,)}
        )
        chunk = bytes(2**24)
        for _ in range(16):
            handle.write(chunk)
    assert (model_dir / "arrays.npz").stat().st_size < 2**21
    peak, message = peak_while_loading(model_dir)
    assert "unknown member 'extra.npy'" in message
    assert "arrays.npz" in message
    assert peak < 2**22, peak  # 4 MiB: nothing near the 256 MiB the member holds


def test_known_member_with_a_huge_shape_is_refused_before_allocation(model_dir):
    """eigenvectors_ swapped for a (600000, 2) array: 9.6 MB of zeros in a ~10 kB member."""
    edit_arrays(model_dir, eigenvectors_=np.zeros((600_000, 2)))
    assert (model_dir / "arrays.npz").stat().st_size < 200_000
    peak, message = peak_while_loading(model_dir)
    assert "the array 'eigenvectors_' has shape (600000, 2), expected (60, 2)" in message
    assert peak < 2**21, peak


def test_header_claiming_more_data_than_the_member_holds(model_dir):
    """A header declaring 2**31 rows over a few bytes of data (4 GB if believed)."""
    with np.load(model_dir / "arrays.npz") as archive:
        arrays = {name: archive[name] for name in archive.files if name != "density_"}
    (model_dir / "arrays.npz").unlink()
    with zipfile.ZipFile(model_dir / "arrays.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        for name, arr in arrays.items():
            with archive.open(name + ".npy", "w") as handle:
                npy_format.write_array(handle, arr)
        with archive.open("density_.npy", "w") as handle:
            npy_format.write_array_header_1_0(
                handle, {"descr": "<f8", "fortran_order": False, "shape": (2**31,)}
            )
            handle.write(bytes(64))
    peak, message = peak_while_loading(model_dir)
    assert "member 'density_.npy' declares 17179869184 bytes of data" in message
    assert "the archive holds 64" in message
    assert peak < 2**21, peak


# --------------------------------------------------------------------- tampered JSON
@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d["meta"]["params"].update(n_components="3"),
         "n_components must be an integer, got '3' of type str"),
        (lambda d: d["meta"]["params"].update(alpha=7),
         "alpha=7.0 is out of range: it must be >= 0.0 and <= 1.0"),
        (lambda d: d["meta"]["params"].update(bandwidth=-0.5), "bandwidth=-0.5 is not valid"),
        (lambda d: d["meta"]["params"].update(n_neighbors=0),
         "n_neighbors=0 is out of range: it must be >= 1"),
        (lambda d: d["meta"]["params"].update(t=float("inf")),
         "not valid JSON (the non-standard number Infinity)"),
        (lambda d: d["meta"]["params"].update(metric="os.system"),
         "metric='os.system' is not a metric diffembed knows"),
        (lambda d: d["meta"]["params"].update(random_state=-3),
         "random_state=-3 is out of range: it must be >= 0"),
        (lambda d: d["meta"]["params"].update(extra=1), "unknown parameter(s) 'extra'"),
        (lambda d: d["meta"]["params"].update(n_jobs=0), "n_jobs=0 is not valid"),
        (lambda d: d["meta"]["params"].update(knn="psychic"), "knn='psychic' is not supported"),
        (lambda d: d["meta"].update(bandwidth_=-1.0),
         "bandwidth_=-1.0 is out of range: it must be > 0.0"),
        (lambda d: d["meta"].update(bandwidth_="wide"),
         "bandwidth_ must be a finite real number, got 'wide'"),
        (lambda d: d["meta"].update(n_features_in_=0), "n_features_in_=0 is out of range"),
        (lambda d: d["meta"].update(knn_method_="magic"), "knn_method_='magic' is not supported"),
        (lambda d: d["meta"].update(knn_recall_=3), "knn_recall_=3.0 is out of range"),
        (lambda d: d["meta"].pop("n_duplicates_"), "'meta' lacks the entry 'n_duplicates_'"),
        (lambda d: d.update(feature_names=["a"]),
         "1 feature names (document) for n_features_in_=3"),
        (lambda d: d.update(n_samples=10**9),
         "model.json declares n_samples=1000000000 but fitted_mask_ has 60 rows"),
        (lambda d: (d["meta"].update(n_features_in_=5), d.pop("feature_names")),
         "the array 'X_fit' has shape (60, 3), expected (any, 5)"),
        (lambda d: d["meta"]["params"].update(n_components=1),
         "2 eigenvalues for n_components=1"),
    ],
)  # fmt: skip
def test_tampered_json_values(model_dir, edit, words):
    edit_json(model_dir, edit)
    message = refused(model_dir)
    assert words in message
    assert "model.json" in message or "arrays.npz" in message


def test_deep_json_is_refused_without_recursion(model_dir):
    depth = 100_000
    (model_dir / "model.json").write_text('{"meta": ' + "[" * depth + "]" * depth + "}")
    message = refused(model_dir)
    assert f"JSON nested {depth + 1} levels deep (a model file has at most 32)" in message


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"names": ["[" * 100, "{" * 100]}))
    assert read_json_capped(path) == {"names": ["[" * 100, "{" * 100]}


def test_oversized_json_is_refused_before_parsing(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"names": ["x" * 200]}))
    with pytest.raises(InputError) as info:
        read_json_capped(path, max_bytes=100)
    assert "215 bytes of JSON, more than the 100 a model file has" in str(info.value)


# ------------------------------------------------------------------- tampered arrays
@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"density_": np.zeros_like}, "density_ must be finite and > 0 on the fitted rows"),
        ({"eigenvalues_": np.array([7.0, 0.5])}, "eigenvalues [7. 0.5] outside [-1, 1]"),
        ({"stationary_distribution_": lambda a: 2 * a},
         "the stationary distribution sums to 2, not 1"),
        ({"eigenvectors_": lambda a: np.where(a > 0, np.nan, a)},
         "eigenvectors_ holds NaN or infinite values"),
        ({"X_fit": lambda a: a * np.inf}, "X_fit holds NaN or infinite values"),
        ({"density_": None}, "the array 'density_' is missing"),
        ({"eigenvectors_": lambda a: a.ravel()},
         "the array 'eigenvectors_' has shape (120,), expected (60, 2)"),
        ({"fitted_mask_": lambda a: np.ones((60, 1), np.uint8)},
         "the array 'fitted_mask_' has shape (60, 1), expected (any,)"),
        ({"eigenvalues_": lambda a: a.astype(np.complex128)},
         "the array 'eigenvalues_' has dtype complex128, expected float"),
        ({"density_": lambda a: a.astype(str)},
         "the array 'density_' has dtype <U"),
        ({"fitted_mask_": lambda a: 2 * a}, "fitted_mask_ holds values other than 0 and 1"),
        ({"component_labels_": lambda a: a + 5},
         "component_labels_ out of range for n_connected_components_=1"),
        ({"local_scales_": None}, "the array 'local_scales_' is missing"),
        ({"X_fit": lambda a: a[:10]}, "X_fit has 10 rows for 60 fitted rows"),
    ],
)  # fmt: skip
def test_tampered_arrays(model_dir, change, words):
    edit_arrays(model_dir, **change)
    assert words in refused(model_dir)


def test_local_scales_of_a_global_bandwidth_model_are_refused(model_dir):
    edit_json(model_dir, lambda d: d["meta"]["params"].update(bandwidth="bgh"))
    assert "local_scales_ is stored but the bandwidth is not 'adaptive'" in refused(model_dir)


def test_object_array_is_never_unpickled(model_dir):
    edit_arrays(model_dir, eigenvalues_=np.array([0.9, None], dtype=object))
    message = refused(model_dir)
    assert "member 'eigenvalues_.npy' has dtype object" in message
    assert "objects are never unpickled" in message


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_archive(model_dir, keep):
    raw = (model_dir / "arrays.npz").read_bytes()
    (model_dir / "arrays.npz").write_bytes(raw[: int(len(raw) * keep)])
    assert "not a readable .npz archive" in refused(model_dir)


def test_corrupted_member_data(model_dir):
    """Bytes flipped inside a compressed member: the CRC or zlib refuses it."""
    raw = bytearray((model_dir / "arrays.npz").read_bytes())
    with zipfile.ZipFile(model_dir / "arrays.npz") as archive:
        info = archive.getinfo("eigenvectors_.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    raw[start : start + 50] = bytes(50)
    (model_dir / "arrays.npz").write_bytes(bytes(raw))
    message = refused(model_dir)
    assert "could not be read" in message or "not a readable .npz archive" in message


def test_untampered_model_still_loads_and_transforms(model_dir, saved):
    model = load_model(model_dir)
    X = np.load(saved / "new.npy")
    assert np.isfinite(model.transform(X)).all()
    assert json.loads((model_dir / "model.json").read_text())["n_samples"] == 60


# ------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        (lambda p: edit_arrays(p, density_=np.zeros_like), "density_ must be finite and > 0"),
        (lambda p: edit_json(p, lambda d: d["meta"]["params"].update(alpha=7)),
         "alpha=7.0 is out of range"),
        (lambda p: (p / "model.json").write_text("[" * 50_000 + "]" * 50_000),
         "JSON nested 50000 levels deep"),
        (lambda p: edit_arrays(p, extra=np.zeros(3)), "unknown member 'extra.npy'"),
        (lambda p: edit_arrays(p, eigenvectors_=lambda a: a[:, 0]),
         "the array 'eigenvectors_' has shape (60,), expected (60, 2)"),
    ],
)  # fmt: skip
def test_cli_transform_of_a_tampered_model_exits_2(model_dir, saved, tmp_path, tamper, words):
    tamper(model_dir)
    result = runner.invoke(
        app, ["transform", str(model_dir), str(saved / "new.npy"), "-o", str(tmp_path / "out")]
    )
    text = flat(result.output)
    assert result.exit_code == 2, text
    assert PREFIX in text
    assert words in text
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ shapes classifier
@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    from diffembed.latents.shapes import AttributeClassifier, shapes_dataset

    data = shapes_dataset(200, seed=0)  # one perceptron batch
    clf = AttributeClassifier(hidden=8, augment=0, max_iter=2).fit(data.images, data.attributes)
    directory = tmp_path_factory.mktemp("clf") / "classifier"
    clf.save(directory)
    return directory


@pytest.fixture
def clf_dir(classifier_dir, tmp_path):
    shutil.copytree(classifier_dir, tmp_path / "classifier")
    return tmp_path / "classifier"


def edit_classifier(path, json_edit=None, **changes) -> None:
    if json_edit is not None:
        document = json.loads((path / "classifier.json").read_text())
        json_edit(document)
        (path / "classifier.json").write_text(json.dumps(document))
    if changes:
        with np.load(path / "classifier.npz") as archive:
            arrays = {name: archive[name] for name in archive.files}
        for name, value in changes.items():
            arrays[name.replace("__", ".")] = value(arrays[name.replace("__", ".")])
        np.savez_compressed(path / "classifier.npz", **arrays)


@pytest.mark.parametrize(
    ("json_edit", "changes", "words"),
    [
        (None, {"shape__w0": lambda a: a[:-1]},
         "the array 'shape.w0' has shape (260, 8), expected (261, any)"),
        (None, {"colour__scale": lambda a: a * 0}, "colour.scale holds NaN, infinite or "
         "non-positive values"),
        (None, {"size__w0": lambda a: np.full_like(a, np.nan)}, "size.w0 holds NaN"),
        (None, {"position__b0": lambda a: a.astype(np.int64)},
         "the array 'position.b0' has dtype int64, expected float"),
        (lambda d: d["params"].update(hidden="64"), None, "hidden must be an integer"),
        (lambda d: d["params"].update(evil=1), None, "unknown parameter(s) 'evil'"),
        (lambda d: d.update(image_size=10**6), None, "image_size=1000000 is out of range"),
        (lambda d: d["families"]["colour"].update(present=[0, 99]), None,
         "colour: present=[0, 99] must list 2 to"),
        (lambda d: d["families"]["shape"].update(n_layers=3), None,
         "the array 'shape.w2' is missing"),
        (lambda d: d["families"]["shape"].update(n_layers=1), None,
         "unknown member 'shape.w1.npy'"),
    ],
)  # fmt: skip
def test_tampered_classifier(clf_dir, json_edit, changes, words):
    from diffembed.latents.shapes import AttributeClassifier

    edit_classifier(clf_dir, json_edit, **(changes or {}))
    with pytest.raises(InputError) as info:
        AttributeClassifier.load(clf_dir)
    message = flat(str(info.value))
    assert message.startswith(PREFIX), message
    assert words in message


def test_classifier_deep_json_and_round_trip(clf_dir):
    from diffembed.latents.shapes import AttributeClassifier, shapes_dataset

    images = shapes_dataset(5, seed=9).images
    before = AttributeClassifier.load(clf_dir).predict_proba(images)["shape"]
    assert before.shape == (5, 4)
    (clf_dir / "classifier.json").write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(InputError, match="JSON nested 5000 levels deep"):
        AttributeClassifier.load(clf_dir)


# --------------------------------------------------------------------- h-space results
@pytest.fixture
def hspace_dir(tmp_path):
    from diffembed.latents.hspace import HSpaceResult

    rng = np.random.default_rng(0)
    result = HSpaceResult(
        h=rng.normal(size=(4, 2, 5)).astype(np.float32), timesteps=[80, 20],
        table={"prompt": np.array(["a", "a", "b", "b"]), "seed": np.array([0, 1, 0, 1])},
        images=rng.uniform(size=(4, 3, 8, 8)).astype(np.float32), config={"reduce": "mean"},
    )  # fmt: skip
    return result.save(tmp_path / "hs")


def test_hspace_result_round_trip_and_tampering(hspace_dir):
    from diffembed.latents.hspace import HSpaceResult

    back = HSpaceResult.load(hspace_dir)
    assert back.h.shape == (4, 2, 5)
    assert back.timesteps == [80, 20]
    assert back.config == {"reduce": "mean"}

    def refused_hspace() -> str:
        with pytest.raises(InputError) as info:
            HSpaceResult.load(hspace_dir)
        message = flat(str(info.value))
        assert message.startswith(PREFIX), message
        return message

    raw = (hspace_dir / "hspace.npy").read_bytes()
    header = raw[:128].replace(b"(4, 2, 5)", b"(400000000, 2, 5)".ljust(9)[:17])
    (hspace_dir / "hspace.npy").write_bytes(header.ljust(128)[:128] + raw[128:])
    assert "the header declares 16000000000 bytes of data" in refused_hspace()
    (hspace_dir / "hspace.npy").write_bytes(raw)
    np.save(hspace_dir / "images.npy", np.zeros((3, 3, 8, 8), np.float32))
    assert "the array 'images' has shape (3, 3, 8, 8), expected (4, 3, any, any)" in (
        refused_hspace()
    )
    np.save(hspace_dir / "images.npy", np.zeros((4, 3, 8, 8), np.float32))
    edit = json.loads((hspace_dir / "hspace.json").read_text())
    edit["timesteps"] = [80]
    (hspace_dir / "hspace.json").write_text(json.dumps(edit))
    assert "'timesteps' must list 2 integers" in refused_hspace()
