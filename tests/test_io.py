"""Readers and atomic writers: what is accepted, what is refused and with which message."""

from __future__ import annotations

import gzip
import hashlib
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diffembed.exceptions import InputError
from diffembed.io.readers import file_sha256, read_table
from diffembed.io.writers import (
    atomic_path,
    output_directory,
    write_csv_atomic,
    write_json_atomic,
    write_npy_atomic,
    write_parquet_atomic,
)

CSV = "x,y,name,score\n1,2,a,0.5\n3,4.5,b,1.5\n5,6,c,2.5\n"


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _flat(exc_info) -> str:
    return " ".join(str(exc_info.value).split())


# --------------------------------------------------------------------------------- readers
def test_csv_label_and_id_are_metadata(tmp_path):
    X, labels, ids, names = read_table(
        _write(tmp_path / "d.csv", CSV), label="score", id_column="name"
    )
    assert X.dtype == np.float64
    np.testing.assert_array_equal(X, [[1, 2], [3, 4.5], [5, 6]])
    assert names == ["x", "y"]
    np.testing.assert_array_equal(labels, [0.5, 1.5, 2.5])
    assert list(ids) == ["a", "b", "c"]


def test_string_label_is_kept_verbatim(tmp_path):
    _X, labels, ids, names = read_table(_write(tmp_path / "d.csv", CSV), label="name")
    assert names == ["x", "y", "score"]
    assert ids is None
    assert list(labels) == ["a", "b", "c"]


def test_tsv_and_gzipped_csv(tmp_path):
    tsv = _write(tmp_path / "d.tsv", CSV.replace(",", "\t"))
    X, *_ = read_table(tsv, label="name")
    assert X.shape == (3, 3)
    gz = tmp_path / "d.csv.gz"
    gz.write_bytes(gzip.compress(CSV.encode()))
    X2, *_ = read_table(gz, label="name")
    np.testing.assert_array_equal(X, X2)


def test_parquet_round_trip_and_column_selection(tmp_path):
    path = tmp_path / "d.parquet"
    write_parquet_atomic(
        {
            "a": np.arange(4.0),
            "b": np.arange(4) * 2,
            "c": [True, False, True, True],
            "s": list("wxyz"),
        },
        path,
    )
    X, _labels, _ids, names = read_table(path, columns=["b", "a"])
    assert names == ["b", "a"]
    np.testing.assert_array_equal(X[:, 0], [0, 2, 4, 6])
    with pytest.raises(InputError, match=r"'s' \(string\)"):
        read_table(path)
    X, *_ = read_table(path, label="s")
    assert X.shape == (4, 3)  # booleans count as numeric


def test_npy_integer_matrix_becomes_float(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.arange(12, dtype=np.int32).reshape(4, 3))
    X, labels, ids, names = read_table(path)
    assert X.dtype == np.float64
    assert X.shape == (4, 3)
    assert labels is None
    assert ids is None
    assert names == ["x0", "x1", "x2"]


def test_file_sha256_matches_hashlib(tmp_path):
    path = _write(tmp_path / "d.csv", CSV)
    assert file_sha256(path) == hashlib.sha256(CSV.encode()).hexdigest()


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "words"),
    [
        ("missing.csv", None, {}, ["does not exist"]),
        ("d.xlsx", "x\n1\n", {}, ["Unknown file type", ".xlsx", ".parquet"]),
        ("d.parquet", "x,y\n1,2\n", {}, ["could not be read as Parquet"]),
        ("d.csv", "", {}, ["could not be read as CSV"]),
        ("d.csv", CSV, {}, ["non-numeric", "'name'", "--label NAME", "drop"]),
        ("d.csv", CSV, {"label": "nope"}, ["label column 'nope'", "'x', 'y', 'name', 'score'"]),
        ("d.csv", CSV, {"id_column": "nope", "label": "name"}, ["id column 'nope'"]),
        ("d.csv", CSV, {"columns": ["x", "zz"]}, ["lacks", "'zz'"]),
        ("d.csv", "name,kind\na,b\n", {"label": "name", "id_column": "kind"}, ["no numeric"]),
        ("d.csv", "x,y\n", {}, ["empty", "0 rows"]),
        ("d.csv", "x,y\n1,2\n3,\n5,inf\n7,8\n", {}, ["NaN", "rows 1, 2", "'y'"]),
    ],
)
def test_table_errors_name_the_problem(tmp_path, name, content, kwargs, words):
    path = tmp_path / name
    if content is not None:
        _write(path, content)
    with pytest.raises(InputError) as exc_info:
        read_table(path, **kwargs)
    message = _flat(exc_info)
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.arange(5.0), ["1-D", "reshape(-1, 1)"]),
        (np.zeros((2, 2, 2)), ["3-D", "2-D array"]),
        (np.array([[1.0, np.nan], [np.inf, 2.0], [1.0, 1.0]]), ["NaN", "rows 0", "rows 1"]),
        (np.zeros((0, 3)), ["0 rows"]),
        (np.array([["a", "b"], ["c", "d"]]), ["not a plain numeric type"]),
    ],
)
def test_npy_errors(tmp_path, array, words):
    path = tmp_path / "d.npy"
    np.save(path, array)
    with pytest.raises(InputError) as exc_info:
        read_table(path)
    for word in words:
        assert word in _flat(exc_info)


def test_object_npy_is_never_unpickled(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="never unpickles"):
        read_table(path)


def test_corrupt_npy_and_npy_options(tmp_path):
    path = tmp_path / "d.npy"
    path.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InputError, match=r"could not be read as a \.npy"):
        read_table(path)
    np.save(path, np.ones((3, 2)))
    with pytest.raises(InputError, match="without column names"):
        read_table(path, label="y")


# --------------------------------------------------------------------------------- writers
def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_atomic_writers_produce_readable_files(tmp_path):
    write_parquet_atomic({"id": np.arange(3), "v": [0.5, 1.5, np.nan]}, tmp_path / "t.parquet")
    assert pq.read_table(tmp_path / "t.parquet").column("id").to_pylist() == [0, 1, 2]
    write_csv_atomic(
        {"component": [1, 2], "eigenvalue": [0.25, 1 / 3], "timescale": [np.inf, 0.5]},
        tmp_path / "s.csv",
    )
    text = (tmp_path / "s.csv").read_text()
    assert text.splitlines() == [
        "component,eigenvalue,timescale",
        "1,0.25,inf",
        f"2,{1 / 3!r},0.5",
    ]
    write_json_atomic(
        {"a": np.float64(np.nan), "b": [np.inf, 1], "c": np.arange(2)}, tmp_path / "m.json"
    )
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": None, "b": [None, 1], "c": [0, 1]}
    write_npy_atomic(np.eye(2), tmp_path / "a.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy", allow_pickle=False), np.eye(2))
    with pytest.raises(InputError, match="object array"):
        write_npy_atomic(np.array([None]), tmp_path / "o.npy")
    assert _leftovers(tmp_path) == []
    assert not (tmp_path / "o.npy").exists()


class _Boom(Exception):
    """Raised on purpose in the middle of a write."""


def _fail_inside(context, name: str | None = "x.txt") -> None:
    """Enter ``context``, write into what it yields, then fail."""
    with context as tmp:
        if name is None:
            tmp.write_text("half")
        else:
            _write(tmp / name, "new")
        raise _Boom


def test_failed_atomic_write_keeps_old_file(tmp_path):
    target = _write(tmp_path / "f.txt", "old")
    with pytest.raises(_Boom):
        _fail_inside(atomic_path(target), name=None)
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_output_directory_builds_then_renames(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    with output_directory(out) as tmp:
        assert tmp.parent.parent == out.parent  # .out.tmp-PID-XXXX/out, beside out
        assert tmp.name == "out"
        assert out.is_dir()
        assert not any(out.iterdir())
        _write(tmp / "x.txt", "1")
    assert (out / "x.txt").read_text() == "1"
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0o700


def test_output_directory_failure_leaves_nothing(tmp_path):
    out = tmp_path / "new" / "out"
    with pytest.raises(_Boom):
        _fail_inside(output_directory(out))
    assert list(tmp_path.iterdir()) == []


def test_output_directory_refuses_existing_without_overwrite(tmp_path):
    out = tmp_path / "out"
    with output_directory(out) as tmp:
        _write(tmp / "old.txt", "old")
    with pytest.raises(InputError, match="Pass --overwrite to replace it"), output_directory(out):
        pass
    # overwrite: a failure keeps the old directory intact
    with pytest.raises(_Boom):
        _fail_inside(output_directory(out, overwrite=True), name="new.txt")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "old.txt"]
    with output_directory(out, overwrite=True) as tmp:
        _write(tmp / "new.txt", "new")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "new.txt"]
    assert _leftovers(tmp_path) == []


def test_output_directory_accepts_empty_existing_dir(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with output_directory(out) as tmp:
        _write(tmp / "x.txt", "1")
    assert (out / "x.txt").exists()


def test_output_directory_never_contains_inputs(tmp_path):
    data = _write(tmp_path / "data.csv", CSV)
    with (
        pytest.raises(InputError, match="input"),
        output_directory(tmp_path, overwrite=True, inputs=[data]),
    ):
        pass
    with (
        pytest.raises(InputError, match="input"),
        output_directory(data, overwrite=True, inputs=[data]),
    ):
        pass
    with pytest.raises(InputError, match="not a directory"), output_directory(data, overwrite=True):
        pass
    assert data.read_text() == CSV


def test_parquet_writer_accepts_tables(tmp_path):
    table = pa.table({"a": [1, 2]})
    write_parquet_atomic(table, tmp_path / "t.parquet")
    assert pq.read_table(tmp_path / "t.parquet").equals(table)
