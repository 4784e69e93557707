"""Streamed transform: memmaps and Parquet row groups, constant memory, atomic output."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_swiss_roll

import diffembed as de
from diffembed.distributed import iter_parquet_blocks, transform_array, transform_parquet
from diffembed.exceptions import InputError


@pytest.fixture(scope="module")
def model():
    X, _ = make_swiss_roll(3000, random_state=0)
    return de.LandmarkDiffusionMap(n_components=6, landmarks=800, random_state=0).fit(
        X).landmark_model_


def _write_rows(path, n, seed=2, chunk=100_000):
    schema = pa.schema([("id", pa.int64()), ("x", pa.float64()), ("y", pa.float64()),
                        ("z", pa.float64())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            X, _ = make_swiss_roll(m, random_state=seed + start)
            writer.write_table(pa.table({"id": np.arange(start, start + m), "x": X[:, 0],
                                         "y": X[:, 1], "z": X[:, 2]}, schema=schema),
                               row_group_size=20_000)


def test_memmap_in_and_out_matches_in_memory(model, tmp_path):
    X, _ = make_swiss_roll(7000, random_state=3)
    np.save(tmp_path / "X.npy", X)
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    out = np.lib.format.open_memmap(tmp_path / "Y.npy", mode="w+", dtype=np.float64,
                                    shape=(7000, 6))
    transform_array(model, mm, block_size=1000, out=out)
    out.flush()
    np.testing.assert_allclose(np.load(tmp_path / "Y.npy"), model.transform(X), atol=1e-12)


def test_parquet_stream_matches_in_memory_and_keeps_ids(model, tmp_path):
    _write_rows(tmp_path / "in.parquet", 50_000)
    n = transform_parquet(model, tmp_path / "in.parquet", tmp_path / "out.parquet",
                          columns=["x", "y", "z"], id_column="id", block_size=7_000)
    assert n == 50_000
    got = pq.read_table(tmp_path / "out.parquet")
    assert got.column_names == ["id", *[f"dc{i}" for i in range(1, 7)]]
    src = pq.read_table(tmp_path / "in.parquet")
    X = np.column_stack([src[c].to_numpy() for c in "xyz"])
    np.testing.assert_array_equal(got["id"].to_numpy(), src["id"].to_numpy())
    np.testing.assert_allclose(np.column_stack([got[f"dc{i}"].to_numpy() for i in range(1, 7)]),
                               model.transform(X), atol=1e-12)


def _peak_bytes(model, path, out):
    tracemalloc.start()
    tracemalloc.reset_peak()
    transform_parquet(model, path, out, columns=["x", "y", "z"], id_column="id",
                      block_size=10_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def test_streamed_memory_stays_flat_as_the_input_grows(model, tmp_path):
    _write_rows(tmp_path / "small.parquet", 200_000)
    _write_rows(tmp_path / "large.parquet", 1_000_000)
    small = _peak_bytes(model, tmp_path / "small.parquet", tmp_path / "o1.parquet")
    large = _peak_bytes(model, tmp_path / "large.parquet", tmp_path / "o2.parquet")
    # 1M rows × 6 coordinates alone would be 48 MB; a block is 10k rows
    assert large < 16e6, large
    assert large < 1.5 * small + 2e6, (small, large)
    assert pq.ParquetFile(tmp_path / "o2.parquet").metadata.num_rows == 1_000_000


def test_failure_leaves_no_partial_output(model, tmp_path):
    schema = pa.schema([("x", pa.float64()), ("y", pa.float64()), ("z", pa.float64())])
    with pq.ParquetWriter(tmp_path / "bad.parquet", schema) as writer:
        writer.write_table(pa.table({"x": [1.0] * 5, "y": [1.0] * 5, "z": [0.0] * 5}))
        writer.write_table(pa.table({"x": [np.nan], "y": [1.0], "z": [0.0]}))
    with pytest.raises(InputError, match="NaN or infinite"):
        transform_parquet(model, tmp_path / "bad.parquet", tmp_path / "out.parquet",
                          block_size=5)
    assert not (tmp_path / "out.parquet").exists()
    assert not list(tmp_path.glob(".out.parquet*"))


def test_parquet_errors_name_the_problem(model, tmp_path):
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(InputError, match=r"Cannot read .* as Parquet"):
        list(iter_parquet_blocks(tmp_path / "junk.parquet"))
    _write_rows(tmp_path / "ok.parquet", 10)
    with pytest.raises(InputError, match="lacks the column"):
        list(iter_parquet_blocks(tmp_path / "ok.parquet", ["x", "w"]))
    with pytest.raises(InputError, match="block_size"):
        transform_array(model, np.zeros((3, 3)), block_size=0)
