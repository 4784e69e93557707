"""Choosing feature columns: --columns / --exclude, and id-like columns left out (issue 16)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_swiss_roll
from typer.testing import CliRunner

from diffembed.cli.app import app
from diffembed.cli.embed import embed_app
from diffembed.exceptions import InputError
from diffembed.io.readers import IdColumnsWarning, read_table

runner = CliRunner()
N = 300


def invoke(*args: object, command=app):
    return runner.invoke(command, [str(a) for a in args])


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def roll() -> np.ndarray:
    X, _ = make_swiss_roll(N, noise=0.05, random_state=0)
    return X


@pytest.fixture(scope="module")
def files(tmp_path_factory, roll) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("columns")
    xyz = {"x": roll[:, 0], "y": roll[:, 1], "z": roll[:, 2]}
    paths = {"plain": d / "plain.parquet", "with_id": d / "with_id.parquet"}
    pq.write_table(pa.table(xyz), paths["plain"])
    pq.write_table(pa.table({"id": np.arange(N), **xyz}), paths["with_id"])
    return paths


def embedding(out: Path) -> np.ndarray:
    table = pq.read_table(out / "embedding.parquet")
    return np.column_stack([table.column(c).to_numpy() for c in table.column_names
                            if c.startswith("dc")])


# ------------------------------------------------------------------------- the reader
def _read(table: pa.Table, tmp_path: Path, **kwargs):
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, _, _, names = read_table(path, **kwargs)
    found = [w.message for w in caught if isinstance(w.message, IdColumnsWarning)]
    return X, names, (found[0] if found else None)


def test_id_column_range_is_left_out_with_a_warning(tmp_path, roll):
    table = pa.table({"id": np.arange(N), "x": roll[:, 0], "y": roll[:, 1], "z": roll[:, 2]})
    X, names, warning = _read(table, tmp_path)
    assert names == ["x", "y", "z"]
    np.testing.assert_array_equal(X, roll)
    assert warning is not None
    assert "'id'" in str(warning)
    assert "columns=" in str(warning)
    assert list(warning.columns) == ["id"]


@pytest.mark.parametrize(
    ("name", "values", "dropped"),
    [
        ("ID", np.arange(N) * 7 + 3, True),  # named like an id, unique integers
        ("customer_id", np.random.default_rng(0).permutation(N) + 10_000, True),
        ("row", np.arange(N)[::-1].copy(), True),
        ("index", np.arange(N).astype(float), True),  # integer-valued floats
        ("Unnamed: 0", np.arange(N), True),  # pandas.to_csv's index
        ("rank", np.arange(1, N + 1), True),  # a 1..n row number under any name
        ("id_score", np.random.default_rng(1).normal(size=N), False),
        ("counts", np.random.default_rng(2).integers(0, 20, N), False),  # repeats
        ("id", np.random.default_rng(3).integers(0, 5, N), False),  # not unique
        ("id", np.random.default_rng(4).normal(size=N), False),  # not integers
        ("year", np.random.default_rng(5).permutation(N) + 1900, False),  # unique, not a range
    ],
)
def test_which_columns_count_as_ids(tmp_path, roll, name, values, dropped):
    table = pa.table({name: values, "x": roll[:, 0], "y": roll[:, 1]})
    X, names, warning = _read(table, tmp_path)
    if dropped:
        assert names == ["x", "y"]
        assert warning is not None
        assert list(warning.columns) == [name]
    else:
        assert names == [name, "x", "y"]
        assert warning is None
        np.testing.assert_array_equal(X[:, 0], values)


def test_unique_strings_are_left_out_but_repeated_strings_still_refused(tmp_path, roll):
    keys = np.array([f"cell-{i}" for i in range(N)], dtype=object)
    _X, names, warning = _read(pa.table({"barcode": keys, "x": roll[:, 0]}), tmp_path)
    assert names == ["x"]
    assert list(warning.columns) == ["barcode"]
    assert "unique strings" in warning.columns["barcode"]
    groups = np.array(["a", "b", "c"] * (N // 3), dtype=object)
    with pytest.raises(InputError, match=r"non-numeric column\(s\) 'group'"):
        _read(pa.table({"group": groups, "x": roll[:, 0]}), tmp_path)


def test_pandas_index_in_parquet_is_left_out(tmp_path, roll):
    frame = pd.DataFrame(roll, columns=["x", "y", "z"], index=pd.Index(np.arange(N) + 5))
    path = tmp_path / "pandas.parquet"
    frame.to_parquet(path)  # a non-range index is written as __index_level_0__
    assert "__index_level_0__" in pq.read_schema(path).names
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, _, _, names = read_table(path)
    assert names == ["x", "y", "z"]
    np.testing.assert_array_equal(X, roll)
    (warning,) = [w.message for w in caught if isinstance(w.message, IdColumnsWarning)]
    assert "pandas" in warning.columns["__index_level_0__"]


def test_columns_keeps_an_id_like_column_and_exclude_drops_any(tmp_path, roll):
    table = pa.table({"id": np.arange(N), "x": roll[:, 0], "y": roll[:, 1]})
    X, names, warning = _read(table, tmp_path, columns=["id", "x"])
    assert names == ["id", "x"]
    assert warning is None
    np.testing.assert_array_equal(X[:, 0], np.arange(N))
    X, names, warning = _read(table, tmp_path, exclude=["y"])
    assert names == ["x"]  # id detected, y excluded
    X, names, warning = _read(table, tmp_path, id_column="id")
    assert names == ["x", "y"]
    assert warning is None


def test_reader_refuses_unknown_names_and_both_options(tmp_path, roll):
    table = pa.table({"id": np.arange(N), "x": roll[:, 0]})
    with pytest.raises(InputError, match=r"lacks the column\(s\) 'nope'.*Available columns: "
                       r"'id', 'x'"):
        _read(table, tmp_path, exclude=["nope"])
    with pytest.raises(InputError, match=r"columns= and exclude= together"):
        _read(table, tmp_path, columns=["x"], exclude=["id"])


# ---------------------------------------------------------------------- the commands
def test_map_with_an_id_column_equals_the_map_without(files, tmp_path):
    a = invoke("map", files["plain"], "--out", tmp_path / "a", "--no-report")
    b = invoke("map", files["with_id"], "--out", tmp_path / "b", "--no-report")
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    np.testing.assert_allclose(embedding(tmp_path / "b"), embedding(tmp_path / "a"), atol=1e-10)
    stderr = flat(b.stderr)
    assert "left out the id-like column 'id'" in stderr
    assert "--columns" in stderr
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    excluded = manifest["input"]["excluded_columns"]
    assert list(excluded) == ["id"]
    assert "unique integers" in excluded["id"]
    assert manifest["input"]["n_features"] == 3
    # transform with that model reads the fitted columns only, so the id is no coordinate
    c = invoke("transform", tmp_path / "b" / "model", files["with_id"],
               "--out", tmp_path / "c")
    assert c.exit_code == 0, c.output
    d = invoke("transform", tmp_path / "b" / "model", files["plain"], "--out", tmp_path / "d")
    assert d.exit_code == 0, d.output
    np.testing.assert_array_equal(embedding(tmp_path / "c"), embedding(tmp_path / "d"))
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["model"]["feature_names"] == ["x", "y", "z"]
    # the fitted points placed again by Nystrom: the leading coordinate agrees with the fit
    lead = np.corrcoef(embedding(tmp_path / "c")[:, 0], embedding(tmp_path / "b")[:, 0])[0, 1]
    assert abs(lead) > 0.99


def test_map_columns_and_exclude_options(files, tmp_path):
    kept = invoke("map", files["with_id"], "--out", tmp_path / "k", "--no-report",
                  "--columns", "x,y")
    assert kept.exit_code == 0, kept.output
    manifest = json.loads((tmp_path / "k" / "manifest.json").read_text())
    assert manifest["input"]["n_features"] == 2
    assert manifest["input"]["excluded_columns"] == {}
    excl = invoke("map", files["with_id"], "--out", tmp_path / "e", "--no-report",
                  "--exclude", "z")
    assert excl.exit_code == 0, excl.output
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    assert manifest["input"]["n_features"] == 2
    assert set(manifest["input"]["excluded_columns"]) == {"id", "z"}


@pytest.mark.parametrize("command", [["map"], ["tree"], ["embed", "pca"]])
def test_unknown_columns_and_both_options_exit_2(files, tmp_path, command):
    cli = embed_app if command[0] == "embed" else app
    args = command[1:] if command[0] == "embed" else command
    bad = invoke(*args, files["with_id"], "--out", tmp_path / "o", "--columns", "x,nope",
                 command=cli)
    assert bad.exit_code == 2, bad.output
    text = flat(bad.output)
    assert "'nope'" in text
    assert "Available columns: 'id', 'x', 'y', 'z'" in text
    both = invoke(*args, files["with_id"], "--out", tmp_path / "o", "--columns", "x",
                  "--exclude", "y", command=cli)
    assert both.exit_code == 2, both.output
    assert "--columns and --exclude" in flat(both.output)


def test_embed_pca_leaves_the_id_out(files, tmp_path):
    res = invoke("pca", files["with_id"], "--out", tmp_path / "p", "--no-report",
                 "--n-components", 2, command=embed_app)
    assert res.exit_code == 0, res.output
    assert "left out the id-like column 'id'" in flat(res.stderr)
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["results"]["feature_names"] == ["x", "y", "z"]


@pytest.mark.parametrize("command", [["map"], ["transform"], ["tree"], ["embed", "pca"]])
def test_help_of_every_table_command_shows_columns_and_exclude(command):
    cli = embed_app if command[0] == "embed" else app
    args = command[1:] if command[0] == "embed" else command
    res = runner.invoke(cli, [*args, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    text = flat(res.output.replace("│", " "))  # rich draws the options in a box
    assert "--columns A,B,C" in text
    assert "--exclude X,Y" in text
    assert "row numbers 0..n-1 or 1..n" in text


def test_empty_name_in_columns_exits_2(files, tmp_path):
    res = invoke("map", files["with_id"], "--out", tmp_path / "o", "--columns", "x,,y")
    assert res.exit_code == 2, res.output
    assert "--columns 'x,,y' has an empty column name" in flat(res.output)


def test_transform_exclude_clashing_with_the_fitted_columns_exits_2(files, tmp_path):
    fit = invoke("map", files["with_id"], "--out", tmp_path / "m", "--no-report")
    assert fit.exit_code == 0, fit.output
    res = invoke("transform", tmp_path / "m" / "model", files["with_id"], "--out",
                 tmp_path / "t", "--exclude", "z")
    assert res.exit_code == 2, res.output
    assert "--exclude z: the model was fitted on these columns (x, y, z)" in flat(res.output)


def test_id_columns_warning_survives_copy_pickle_and_other_processes():
    """Warnings are re-created from their ``args`` when they cross a process boundary (pytest-xdist
    and multiprocessing rebuild them as ``cls(*args)``) and when they are pickled or copied:
    the warning must come back with the same columns and message."""
    import copy
    import pickle

    w = IdColumnsWarning({"id": "named like an id", "row": "row numbers"}, source="x.csv")
    for back in (IdColumnsWarning(*w.args), pickle.loads(pickle.dumps(w)), copy.copy(w)):
        assert isinstance(back, IdColumnsWarning)
        assert back.columns == w.columns
        assert back.source == "x.csv"
        assert str(back) == str(w)
    assert str(w).startswith("x.csv: left out the id-like columns 'id' (named like an id)")
