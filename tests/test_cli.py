"""The ``diffembed`` command line, end to end: outputs, manifest, transform, errors."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_swiss_roll
from typer.testing import CliRunner

import diffembed as de
from diffembed.cli.app import app
from diffembed.datasets import load_dataset
from diffembed.io.persistence import load_model
from diffembed.io.readers import file_sha256

from .browser import decode, explorer_block

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    return " ".join(text.split())


def strict_json(path: Path):
    def refuse(constant):
        msg = f"invalid JSON constant {constant}"
        raise ValueError(msg)

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def roll_csv(data_dir):
    X, t = make_swiss_roll(600, random_state=0)
    table = pa.table(
        {
            "x": X[:, 0],
            "y": X[:, 1],
            "z": X[:, 2],
            "t": t,
            "name": [f"p{i}" for i in range(600)],
        }
    )
    path = data_dir / "roll.csv"
    pacsv.write_csv(table, path)
    return path


@pytest.fixture(scope="module")
def mapped(roll_csv, data_dir):
    out = data_dir / "run"
    result = invoke(
        "map",
        roll_csv,
        "--label",
        "t",
        "--id",
        "name",
        "--n-components",
        4,
        "--clusters",
        3,
        "--format",
        "atlas",
        "--format",
        "projector",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    return result, out


# ------------------------------------------------------------------------------- outputs
def test_map_writes_every_output(mapped, roll_csv):
    result, out = mapped
    assert result.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == [
        "atlas.parquet",
        "embedding.parquet",
        "manifest.json",
        "model",
        "neighbor_distances.npy",
        "neighbors.npy",
        "projector",
        "report.html",
        "spectrum.csv",
    ]
    assert sorted(p.name for p in (out / "projector").iterdir()) == ["metadata.tsv", "vectors.tsv"]
    assert sorted(p.name for p in (out / "model").iterdir()) == [
        "arrays.npz", "manifest.json", "model.json"]  # fmt: skip
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]
    table = pq.read_table(out / "embedding.parquet")
    assert table.column_names == ["id", "dc1", "dc2", "dc3", "dc4", "t", "cluster"]
    assert table.schema.field("dc1").type == pa.float64()
    assert table.schema.field("cluster").type == pa.int64()
    assert table.column("id").to_pylist()[:3] == ["p0", "p1", "p2"]
    source = pacsv.read_csv(roll_csv)
    np.testing.assert_array_equal(table.column("t").to_numpy(), source.column("t").to_numpy())
    assert set(table.column("cluster").to_pylist()) == {0, 1, 2}
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    stderr = flat(result.stderr)
    assert "600 points × 3 features" in stderr
    assert "n_neighbors=15" in stderr
    stages = ("read", "neighbors", "bandwidth", "eigensolve", "explorer neighbors", "write")
    for stage in (*stages, "report", "export atlas", "export projector"):
        assert f"{stage} …" in stderr
    assert "bandwidth ε" in stderr
    assert "intrinsic dimension" in stderr
    # whole, though a narrow console folds it over lines (pytest-xdist's folders are longer)
    assert str(out / "embedding.parquet") in re.sub(r"[\s│]", "", result.stderr)
    assert f"embedding-atlas {out}/atlas.parquet --x x --y y --neighbors neighbors" in stderr


def test_manifest_schema(mapped, roll_csv):
    _, out = mapped
    manifest = strict_json(out / "manifest.json")
    assert list(manifest) == [
        "format_version",
        "command",
        "diffembed_version",
        "created",
        "input",
        "label_column",
        "parameters",
        "results",
        "neighbors",
        "timings",
        "versions",
        "outputs",
        "files",  # every file written, with its size: what --overwrite may replace
    ]
    assert {e["path"] for e in manifest["files"]} == {
        "atlas.parquet", "embedding.parquet", "manifest.json", "model/arrays.npz",
        "model/manifest.json", "model/model.json", "neighbor_distances.npy", "neighbors.npy",
        "projector/metadata.tsv", "projector/vectors.tsv", "report.html", "spectrum.csv",
    }  # fmt: skip
    assert manifest["neighbors"] == {
        "file": "neighbors.npy",
        "distances_file": "neighbor_distances.npy",
        "k": 10,
        "space": "input",
        "metric": "euclidean",
        "method": "exact",
    }
    assert manifest["format_version"] == 1
    assert manifest["command"] == "map"
    assert manifest["diffembed_version"] == de.__version__
    assert manifest["created"].endswith("+00:00")
    assert manifest["input"] == {
        "path": str(roll_csv),
        "dataset": None,
        "sha256": file_sha256(roll_csv),
        "n_samples": 600,
        "n_features": 3,
        "excluded_columns": {},
    }
    assert manifest["label_column"] == "t"
    assert manifest["parameters"] == de.DiffusionMap(n_components=4, random_state=0).get_params()
    results = manifest["results"]
    assert list(results) == [
        "bandwidth",
        "bandwidth_method",
        "intrinsic_dimension",
        "n_duplicates",
        "n_connected_components",
        "knn_method",
        "knn_recall",
        "eigen_solver",
        "eigenvalues",
        "timescales",
        "degenerate_eigenvalues",
        "degenerate_tolerance",
    ]
    assert results["degenerate_eigenvalues"] == 0  # a clean spectrum on the swiss roll
    assert results["degenerate_tolerance"] == 1e-9
    assert results["eigen_solver"] in ("dense", "arpack", "shift_invert", "lobpcg", "amg")
    assert results["bandwidth_method"] == "auto"
    assert results["bandwidth"] > 0
    assert results["knn_method"] in ("exact", "approximate")
    assert results["n_connected_components"] == 1
    assert len(results["eigenvalues"]) == 4
    assert 1.5 < results["intrinsic_dimension"] < 2.5
    timings = manifest["timings"]
    assert {"read", "neighbors", "bandwidth", "kernel", "eigensolve", "write", "report"} <= set(
        timings
    )
    assert {"explorer neighbors", "export atlas", "export projector"} <= set(timings)
    assert timings["total"] >= sum(v for k, v in timings.items() if k != "total") * 0.99
    assert set(manifest["versions"]) == {
        "python",
        "numpy",
        "scipy",
        "scikit-learn",
        "pyarrow",
        "diffembed",
    }
    assert manifest["outputs"] == [
        "embedding.parquet",
        "spectrum.csv",
        "neighbors.npy",
        "neighbor_distances.npy",
        "model/",
        "manifest.json",
        "report.html",
        "atlas.parquet",
        "projector/",
    ]


def test_spectrum_and_coordinates_match_the_model(mapped):
    _, out = mapped
    model = load_model(out / "model")
    spectrum = pacsv.read_csv(out / "spectrum.csv")
    assert (out / "spectrum.csv").read_text().splitlines()[0] == "component,eigenvalue,timescale"
    assert spectrum.column("component").to_pylist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(spectrum.column("eigenvalue").to_numpy(), model.eigenvalues_)
    np.testing.assert_array_equal(spectrum.column("timescale").to_numpy(), model.timescales_)
    manifest = strict_json(out / "manifest.json")
    np.testing.assert_array_equal(manifest["results"]["eigenvalues"], model.eigenvalues_)
    assert manifest["results"]["bandwidth"] == model.bandwidth_
    table = pq.read_table(out / "embedding.parquet")
    coords = np.column_stack([table.column(f"dc{j}").to_numpy() for j in range(1, 5)])
    np.testing.assert_allclose(coords, model.embedding_, rtol=1e-12, atol=1e-15)


def test_transform_reproduces_the_map(mapped, roll_csv, data_dir):
    _, out = mapped
    result = invoke(
        "transform",
        out / "model",
        roll_csv,
        "--label",
        "t",
        "--id",
        "name",
        "-o",
        data_dir / "tr",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    fitted = pq.read_table(out / "embedding.parquet")
    new = pq.read_table(data_dir / "tr" / "embedding.parquet")
    assert new.column_names == ["id", "dc1", "dc2", "dc3", "dc4", "t"]
    assert new.column("id").equals(fitted.column("id"))
    for j in range(1, 5):
        a, b = fitted.column(f"dc{j}").to_numpy(), new.column(f"dc{j}").to_numpy()
        assert abs(np.corrcoef(a, b)[0, 1]) >= 0.99, j
    manifest = strict_json(data_dir / "tr" / "manifest.json")
    assert manifest["command"] == "transform"
    assert manifest["parameters"] == {"t": 1.0, "block_size": 65536, "dask_scheduler": None}
    assert manifest["model"]["feature_names"] == ["x", "y", "z"]
    assert manifest["input"]["sha256"] == file_sha256(roll_csv)
    assert manifest["outputs"] == ["embedding.parquet", "manifest.json"]


def test_transform_matches_columns_by_name(mapped, data_dir):
    _, out = mapped
    X, _ = make_swiss_roll(50, random_state=3)
    shuffled = data_dir / "shuffled.parquet"
    pq.write_table(
        pa.table({"z": X[:, 2], "note": ["a"] * 50, "x": X[:, 0], "y": X[:, 1]}), shuffled
    )
    result = invoke("transform", out / "model", shuffled, "--time", 2, "-o", data_dir / "tr2")
    assert result.exit_code == 0, result.output
    coords = pq.read_table(data_dir / "tr2" / "embedding.parquet")
    expected = load_model(out / "model").transform(X, t=2.0)
    np.testing.assert_allclose(coords.column("dc1").to_numpy(), expected[:, 0])


def test_transform_errors(mapped, data_dir):
    _, out = mapped
    wrong = data_dir / "wrong.csv"
    wrong.write_text("x,y,w\n1,2,3\n4,5,6\n")
    result = invoke("transform", out / "model", wrong, "-o", data_dir / "bad1")
    assert result.exit_code == 2
    assert "'z'" in flat(result.stderr)
    assert "fitted on the columns x, y, z" in flat(result.stderr)
    npy = data_dir / "four.npy"
    np.save(npy, np.ones((5, 4)))
    result = invoke("transform", out / "model", npy, "-o", data_dir / "bad2")
    assert result.exit_code == 2
    assert "4 numeric feature column(s)" in flat(result.stderr)
    result = invoke("transform", data_dir / "nomodel", wrong, "-o", data_dir / "bad3")
    assert result.exit_code == 2
    assert "does not exist" in flat(result.stderr)
    huge = data_dir / "huge.npy"  # finite, but squared distances overflow (was: all-NaN, exit 0)
    np.save(huge, make_swiss_roll(20, random_state=1)[0] * 1e154)
    result = invoke("transform", out / "model", huge, "-o", data_dir / "bad4")
    assert result.exit_code == 2, result.output
    assert "squared distances overflow float64" in flat(result.stderr)
    for name in ("bad1", "bad2", "bad3", "bad4"):
        assert not (data_dir / name).exists()


def test_explorer_neighbours_are_the_exact_knn_of_the_input(mapped, roll_csv):
    from sklearn.neighbors import NearestNeighbors

    _, out = mapped
    nb = np.load(out / "neighbors.npy")
    dist = np.load(out / "neighbor_distances.npy")
    assert nb.dtype == np.int32
    assert dist.dtype == np.float32
    assert nb.shape == dist.shape == (600, 10)
    source = pacsv.read_csv(roll_csv)
    X = np.column_stack([source.column(c).to_numpy() for c in ("x", "y", "z")])
    ref_dist, ref_ind = NearestNeighbors(n_neighbors=10).fit(X).kneighbors()
    np.testing.assert_array_equal(nb, ref_ind)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-6)
    assert np.all(np.diff(dist, axis=1) >= 0)  # nearest first
    assert not np.any(nb == np.arange(600)[:, None])  # self excluded
    page = (out / "report.html").read_text(encoding="utf-8")
    data = explorer_block(page)
    assert data["neighbors"]["k"] == 10
    assert decode(data["neighbors"]["idx"]).reshape(600, 10).tolist() == nb.tolist()


def test_explorer_neighbours_can_be_switched_off(tmp_path):
    out = tmp_path / "run"
    args = ["map", "--dataset", "s-curve", "--n-samples", 200, "--n-components", 3, "-q"]
    result = invoke(*args, "--explorer-neighbors", 0, "-o", out)
    assert result.exit_code == 0, result.output
    assert not (out / "neighbors.npy").exists()
    manifest = strict_json(out / "manifest.json")
    assert "neighbors" not in manifest
    assert "neighbors.npy" not in manifest["outputs"]
    assert explorer_block((out / "report.html").read_text(encoding="utf-8"))["neighbors"] is None


def test_export_command_writes_into_the_run(mapped, tmp_path):
    import shutil

    _, out = mapped
    run = tmp_path / "run"
    shutil.copytree(out, run)
    for name in ("atlas.parquet", "projector"):
        shutil.rmtree(run / name) if (run / name).is_dir() else (run / name).unlink()
    manifest = strict_json(run / "manifest.json")
    manifest["outputs"] = [
        o for o in manifest["outputs"] if o not in ("atlas.parquet", "projector/")
    ]
    (run / "manifest.json").write_text(json.dumps(manifest))
    result = invoke("export", run, "--format", "atlas,projector", "-t", 4)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    stderr = flat(result.stderr)
    assert f"embedding-atlas {run}/atlas.parquet --x x --y y --neighbors neighbors" in stderr
    assert "projector.tensorflow.org" in stderr
    assert strict_json(run / "manifest.json")["outputs"][-2:] == ["atlas.parquet", "projector/"]
    model = load_model(run / "model")
    vectors = np.loadtxt(run / "projector" / "vectors.tsv", delimiter="\t")
    np.testing.assert_allclose(vectors, model.transform_at(4), rtol=1e-6, atol=1e-12)
    atlas = pq.read_table(run / "atlas.parquet")
    np.testing.assert_allclose(atlas.column("x").to_numpy(), model.transform_at(4)[:, 0])
    # again: the manifest lists each output once
    assert invoke("export", run, "--format", "atlas", "-q").exit_code == 0
    assert strict_json(run / "manifest.json")["outputs"].count("atlas.parquet") == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], ["--format atlas", "--format projector"]),
        (["--format", "svg"], ["--format 'svg'", "atlas or projector"]),
        (["--format", "atlas", "--time", "-1"], ["t=-1", ">= 0", "--time"]),
    ],
)
def test_export_errors(mapped, args, words):
    _, out = mapped
    result = invoke("export", out, *args)
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    for word in words:
        assert word in message, (word, message)


def test_export_needs_a_run_directory(tmp_path):
    result = invoke("export", tmp_path, "--format", "atlas")
    assert result.exit_code == 2
    assert "embedding.parquet" in flat(result.stderr)


def test_report_rebuilds_from_saved_outputs(mapped):
    _, out = mapped
    (out / "report.html").unlink()
    result = invoke("report", out, "--color-by", "cluster")
    assert result.exit_code == 0, result.output
    assert (out / "report.html").stat().st_size > 1000
    result = invoke("report", out, "--color-by", "nope")
    assert result.exit_code == 2
    assert "nope" in result.stderr
    result = invoke("report", out.parent / "absent")
    assert result.exit_code == 2
    assert "embedding.parquet" in flat(result.stderr)


def test_datasets_and_version():
    result = invoke("datasets")
    assert result.exit_code == 0
    for name in ("swiss-roll", "s-curve", "digits"):
        assert name in result.stdout
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"diffembed {de.__version__}"


def test_map_builtin_dataset_quietly(tmp_path):
    out = tmp_path / "digits"
    result = invoke(
        "map",
        "--dataset",
        "digits",
        "--n-samples",
        300,
        "--n-components",
        3,
        "--no-report",
        "--quiet",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""
    table = pq.read_table(out / "embedding.parquet")
    assert table.column_names == ["id", "dc1", "dc2", "dc3", "digit"]
    assert table.column("id").to_pylist() == list(range(300))
    X, digit, *_ = load_dataset("digits", n_samples=300, random_state=0)
    np.testing.assert_array_equal(table.column("digit").to_numpy(), digit)
    manifest = strict_json(out / "manifest.json")
    assert manifest["input"]["dataset"] == "digits"
    assert manifest["input"]["path"] is None
    assert manifest["input"]["sha256"] == hashlib.sha256(X.tobytes()).hexdigest()
    assert manifest["label_column"] == "digit"
    assert "report.html" not in manifest["outputs"]
    assert not (out / "report.html").exists()


def test_console_script_subprocess(tmp_path):
    script = Path(sys.executable).with_name("diffembed")
    assert script.exists(), "the diffembed console script is not installed in this environment"
    out = tmp_path / "roll"
    proc = subprocess.run(
        [str(script), "map", "--dataset", "swiss-roll", "--n-samples", "800", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "neighbors …" in proc.stderr
    assert "eigensolve …" in proc.stderr
    for name in ("embedding.parquet", "spectrum.csv", "manifest.json", "report.html"):
        assert (out / name).is_file()
    assert pq.read_table(out / "embedding.parquet").num_rows == 800
    assert strict_json(out / "manifest.json")["label_column"] == "t"


# ------------------------------------------------------------------------------ bad input
def _files(tmp: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    made = {}

    def text(name, content):
        made[name] = tmp / name
        made[name].write_text(content)

    text("nan.csv", "a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(30)) + "1,nan\n2,inf\n")
    text("empty.csv", "a,b\n")
    text("one.csv", "a,b\n1,2\n")
    text("const.csv", "a\n" + "3.5\n" * 40)
    text("small.csv", "a,b\n" + "".join(f"{i},{i * i % 7}\n" for i in range(10)))
    text("words.csv", "a,b,name\n1,2,x\n3,4,y\n")
    text("bad.parquet", "this is not parquet")
    blobs = np.vstack([rng.normal(0, 0.1, (60, 2)), rng.normal(100, 0.1, (60, 2))])
    made["blobs.npy"] = tmp / "blobs.npy"
    np.save(made["blobs.npy"], blobs)
    return made


BAD_INPUTS = [
    (["nan.csv"], ["NaN", "rows 30, 31", "'b'"]),
    (["empty.csv"], ["empty", "0 rows"]),
    (["one.csv"], ["1 row", "at least 2"]),
    (["const.csv"], ["constant", "'a'"]),
    (["small.csv"], ["n_neighbors=15", "10", "--n-neighbors"]),
    (["small.csv", "--n-neighbors", "3"], ["n_components=10", "too large", "--n-components"]),
    (["words.csv"], ["non-numeric", "'name'", "--label NAME"]),
    (["missing.csv"], ["missing.csv", "does not exist"]),
    (["bad.parquet"], ["could not be read as Parquet"]),
    (["blobs.npy", "--n-neighbors", "5", "--disconnected", "raise"],
     ["2 connected components", "--disconnected"]),
    (["words.csv", "--label", "nope"], ["label column 'nope'", "'a', 'b', 'name'"]),
    (["small.csv", "--dataset", "digits"], ["exactly one data source", "both"]),
    ([], ["exactly one data source", "neither"]),
    (["--dataset", "mnist"], ["Unknown dataset", "swiss-roll"]),
    (["--dataset", "s-curve", "--bandwidth", "wide"], ["--bandwidth 'wide'", "adaptive"]),
    (["--dataset", "s-curve", "--knn", "fast"], ["knn='fast'", "--knn"]),
    (["--dataset", "s-curve", "--n-samples", "300", "--clusters", "999"], ["n_clusters=999"]),
    (["--dataset", "s-curve", "--format", "csv"], ["--format 'csv'", "atlas or projector"]),
    (["--dataset", "s-curve", "--explorer-neighbors", "-1"], ["--explorer-neighbors -1", ">= 0"]),
]


@pytest.mark.parametrize(
    ("args", "words"), BAD_INPUTS, ids=[" ".join(a) or "none" for a, _ in BAD_INPUTS]
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, args, words):
    files = _files(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "sub" / "out"
    resolved = [
        str(files.get(a, tmp_path / a)) if a.endswith((".csv", ".npy", ".parquet")) else a
        for a in args
    ]
    result = invoke("map", *resolved, "-o", out)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.count("error:") == 1
    message = flat(result.stderr.split("error:", 1)[1])  # one paragraph after the stage lines
    for word in words:
        assert word in message, (word, message)
    assert result.stdout == ""
    assert not out.exists()
    assert not out.parent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    args = ["map", "--dataset", "s-curve", "--n-samples", 200, "--n-components", 2, "--no-report"]
    result = invoke(*args, "-o", out)
    assert result.exit_code == 2
    assert "--overwrite would be refused too" in flat(result.stderr)
    assert (out / "keep.txt").read_text() == "precious"
    result = invoke(*args, "-o", out, "--overwrite")  # keep.txt is not diffembed's
    assert result.exit_code == 2
    assert "Refusing --overwrite" in flat(result.stderr)
    assert (out / "keep.txt").read_text() == "precious"
    (out / "keep.txt").unlink()
    assert invoke(*args, "-o", out).exit_code == 0
    result = invoke(*args, "-o", out)
    assert result.exit_code == 2
    assert "Pass --overwrite to replace it: only the" in flat(result.stderr)
    result = invoke(*args, "-o", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert (out / "embedding.parquet").exists()


def test_output_never_contains_the_input(tmp_path):
    X, _ = make_swiss_roll(100, random_state=0)
    data = tmp_path / "X.npy"
    np.save(data, X)
    result = invoke("map", data, "-o", tmp_path, "--overwrite")
    assert result.exit_code == 2
    assert "input" in flat(result.stderr)
    assert data.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy"]


def test_debug_shows_traceback(tmp_path):
    result = invoke("--debug", "map", tmp_path / "missing.csv", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert "error:" in result.stderr


def test_map_bandwidth_knn_is_the_squared_median_kth_neighbour_distance(roll_csv, tmp_path):
    out = tmp_path / "knn-bw"
    result = invoke("map", roll_csv, "--label", "t", "--id", "name", "-o", out,
                    "--bandwidth", "knn", "--n-components", "3", "--no-report")
    assert result.exit_code == 0, result.output
    results = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["results"]
    assert results["bandwidth_method"] == "knn"
    X, _ = make_swiss_roll(600, random_state=0)  # the rows of roll.csv
    d = np.sort(np.linalg.norm(X[:, None] - X[None], axis=-1), axis=1)  # column 0: self
    assert results["bandwidth"] == pytest.approx(np.median(d[:, 15]) ** 2, rel=1e-6)


def test_flag_hint_names_the_options_of_the_parameters_a_message_mentions():
    from diffembed.cli.common import flag_hint

    flags = {"n_neighbors": "--n-neighbors", "t": "--time"}
    assert flag_hint("n_neighbors=0 is not valid.", flags) == (
        "n_neighbors=0 is not valid. (Command-line option: --n-neighbors.)"
    )
    assert flag_hint("t=-1 and n_neighbors=0 are not valid.", flags).endswith(
        "(Command-line options: --n-neighbors, --time.)"
    )
    assert flag_hint("max_t=3 is not valid.", flags) == "max_t=3 is not valid."  # whole names only
    result = invoke("map", "--dataset", "swiss-roll", "--n-samples", 50, "--n-neighbors", 60, "-o",
                    "/nonexistent/never-written")
    assert result.exit_code == 2
    assert "--n-neighbors" in flat(result.output)


def test_separated_clusters_map_with_the_defaults(tmp_path):
    """Data with separated clusters (iris-like): the default diagonalises each component."""
    files = _files(tmp_path)
    out = tmp_path / "out"
    result = invoke("map", str(files["blobs.npy"]), "--n-neighbors", "5", "-o", out)
    assert result.exit_code == 0, result.output
    assert "2 connected components (sizes 60, 60)" in " ".join(result.output.split())
    table = pq.read_table(out / "embedding.parquet")
    coords = np.column_stack([table[c].to_numpy() for c in table.column_names if c[:2] == "dc"])
    assert coords.shape == (120, 10)
    assert np.isfinite(coords).all()


@pytest.mark.parametrize(("scale", "words"), [(1e154, "overflow float64"),
                                              (1e-300, "underflow to zero")])
def test_map_of_out_of_range_values_exits_2_with_the_reason(tmp_path, scale, words):
    X = np.random.default_rng(0).normal(size=(80, 3)) * scale
    np.save(tmp_path / "x.npy", X)
    result = invoke("map", str(tmp_path / "x.npy"), "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()
