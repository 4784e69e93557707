"""`diffembed map --landmarks` and the streamed / Dask `diffembed transform` of Parquet."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_swiss_roll
from typer.testing import CliRunner

from diffembed.cli.app import app
from diffembed.io.persistence import load_model

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("scale_cli")
    X, u = make_swiss_roll(4000, random_state=0)
    pq.write_table(pa.table({"name": [f"p{i}" for i in range(4000)], "x": X[:, 0],
                             "y": X[:, 1], "z": X[:, 2], "u": u}), d / "fit.parquet")
    Xn, un = make_swiss_roll(3000, random_state=1)
    pq.write_table(pa.table({"name": [f"q{i}" for i in range(3000)], "x": Xn[:, 0],
                             "y": Xn[:, 1], "z": Xn[:, 2], "u": un}), d / "new.parquet",
                   row_group_size=500)
    out = d / "map"
    result = runner.invoke(app, ["map", str(d / "fit.parquet"), "--label", "u", "--id", "name",
                                 "--landmarks", "800", "--n-components", "3", "-o", str(out),
                                 "--no-report"])
    assert result.exit_code == 0, result.output
    return d, out


def test_map_with_landmarks_writes_every_point_and_a_small_model(files):
    _, out = files
    emb = pq.read_table(out / "embedding.parquet")
    assert emb.num_rows == 4000
    assert emb.column_names == ["id", "dc1", "dc2", "dc3", "u"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["landmarks"]["n_landmarks"] == 800
    assert manifest["landmarks"]["method"] == "random"
    assert manifest["parameters"]["landmarks"] == 800
    model = load_model(out / "model")
    assert model._X_fit.shape == (800, 3)  # only the landmarks are stored
    u = emb.column("u").to_numpy()
    from scipy.stats import spearmanr

    assert abs(spearmanr(emb.column("dc1").to_numpy(), u)[0]) > 0.99


def _check_output(files, out_dir, atol):
    """embedding.parquet in out_dir has map's layout, the input ids and the in-memory coords."""
    d, out = files
    model = load_model(out / "model")
    new = pq.read_table(d / "new.parquet")
    expected = model.transform(np.column_stack([new.column(c).to_numpy() for c in "xyz"]))
    got = pq.read_table(out_dir / "embedding.parquet")
    assert got.column_names == ["id", "dc1", "dc2", "dc3", "u"]
    assert got.column("id").to_pylist() == new.column("name").to_pylist()
    np.testing.assert_allclose(np.column_stack([got.column(f"dc{i}").to_numpy()
                                                for i in (1, 2, 3)]), expected, atol=atol)


def test_transform_streams_parquet_in_blocks(files):
    d, out = files
    result = runner.invoke(app, ["transform", str(out / "model"), str(d / "new.parquet"),
                                 "--id", "name", "--label", "u", "--block-size", "700",
                                 "-o", str(d / "tr")])
    assert result.exit_code == 0, result.output
    _check_output(files, d / "tr", atol=1e-12)
    manifest = json.loads((d / "tr" / "manifest.json").read_text())
    assert manifest["input"]["streamed"] is True
    assert manifest["input"]["n_samples"] == 3000


def test_transform_on_a_local_dask_cluster_equals_the_streamed_result(files):
    pytest.importorskip("distributed")
    d, out = files
    result = runner.invoke(app, ["transform", str(out / "model"), str(d / "new.parquet"),
                                 "--id", "name", "--label", "u", "--dask-scheduler", "local",
                                 "-o", str(d / "tr_dask")])
    assert result.exit_code == 0, result.output
    _check_output(files, d / "tr_dask", atol=1e-10)


def test_bad_landmark_options_are_clear(files):
    d, _ = files
    result = runner.invoke(app, ["map", str(d / "fit.parquet"), "--label", "u", "--id", "name",
                                 "--landmarks", "800", "--landmark-method", "grid",
                                 "-o", str(d / "bad")])
    assert result.exit_code != 0
    assert "landmark-method" in " ".join(result.output.split())
    assert not (d / "bad").exists()
    pq.write_table(pa.table({"x": [0.0, 1.0], "y": [1.0, 2.0]}), d / "two_columns.parquet")
    for extra in ([], ["--dask-scheduler", "local"]):
        result = runner.invoke(app, ["transform", str(d / "map" / "model"),
                                     str(d / "two_columns.parquet"), *extra, "-o", str(d / "bad2")])
        assert result.exit_code != 0
        assert "lacks the column(s) z" in " ".join(result.output.split())
        assert not (d / "bad2").exists()
