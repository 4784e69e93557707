"""The peak-memory estimator and the guard that refuses, at once and with exit 2, what won't fit."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from diffembed import _memory
from diffembed._estimate import fit_estimate
from diffembed.cli.app import app
from diffembed.cli.console import UI
from diffembed.exceptions import InputError

runner = CliRunner()
GiB = 2**30


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def roll_npy(tmp_path):
    rng = np.random.default_rng(0)
    t = rng.uniform(1.5 * np.pi, 4.5 * np.pi, 2000)
    X = np.c_[t * np.cos(t), 20 * rng.uniform(size=2000), t * np.sin(t)]
    path = tmp_path / "roll.npy"
    np.save(path, X)
    return path


# ----------------------------------------------------------------------------- sizes
def test_parse_size_and_format_bytes():
    assert _memory.parse_size("2G") == 2 * GiB
    assert _memory.parse_size("512MiB") == 512 * 2**20
    assert _memory.parse_size("1.5 GB") == int(1.5 * GiB)
    assert _memory.parse_size("1234") == 1234
    with pytest.raises(InputError, match=r"DIFFEMBED_MEMORY_LIMIT='lots' is not a memory size"):
        _memory.parse_size("lots")
    assert _memory.format_bytes(3 * GiB) == "3.0 GiB"
    assert _memory.format_bytes(320 * 2**20) == "320 MiB"
    assert _memory.format_bytes(512) == "512 bytes"


def test_available_memory_reads_the_machine_or_the_override(monkeypatch):
    monkeypatch.delenv(_memory.ENV_LIMIT, raising=False)
    nbytes, source = _memory.available_memory()
    assert source in ("MemAvailable", "cgroup limit", "sysconf")
    assert nbytes is not None
    assert 2**26 < nbytes < 2**50
    monkeypatch.setenv(_memory.ENV_LIMIT, "3G")
    assert _memory.available_memory() == (3 * GiB, _memory.ENV_LIMIT)


def test_check_memory_message_names_estimate_available_and_fix(monkeypatch):
    monkeypatch.setenv(_memory.ENV_LIMIT, "1G")
    _memory.check_memory(0.9 * GiB, "a small stage", "never shown")
    with pytest.raises(InputError) as info:
        _memory.check_memory(5 * GiB, "the fit (x)", "Use --landmarks 100.")
    assert str(info.value) == (
        "Not enough memory: the fit (x) needs about 5.0 GiB at its peak, but only 1.0 GiB is "
        "available (DIFFEMBED_MEMORY_LIMIT). Use --landmarks 100. Nothing was computed."
    )


# --------------------------------------------------------------------------- headers
def test_npy_header_and_parquet_metadata_are_read_without_the_data(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((300, 7), dtype=np.float32))
    shape, dtype, offset = _memory.npy_header(path)
    assert (shape, dtype, offset) == ((300, 7), np.dtype(np.float32), 128)
    nbytes, found = _memory.read_bytes(path)
    assert found == (300, 7)
    assert nbytes == _memory.BASELINE + 300 * 7 * (4 + 8 + 1)
    table = pa.table({"x": np.arange(50.0), "y": np.arange(50), "name": ["a"] * 50})
    pq.write_table(table, tmp_path / "t.parquet")
    assert _memory.parquet_shape(tmp_path / "t.parquet") == (50, 2)
    assert _memory.npy_header(tmp_path / "t.parquet") is None


def test_compressed_model_arrays_count_what_they_declare(tmp_path):
    np.savez_compressed(tmp_path / "arrays.npz", big=np.zeros((4000, 5000)), small=np.ones(3))
    assert (tmp_path / "arrays.npz").stat().st_size < 1_000_000
    declared = 4000 * 5000 * 8 + 3 * 8
    assert _memory.model_load_bytes(tmp_path) == _memory.BASELINE + 2.0 * declared


# -------------------------------------------------------------- the cases of the issue
def test_estimates_of_the_reported_runs():
    # printed "~0.3 GiB peak" while it grew past 8 GiB
    assert _memory.map_bytes(100_000, 3, n_components=5000)["fit"] > 8 * GiB
    assert _memory.map_bytes(100_000, 3, eigen_solver="dense")["fit"] > 74 * GiB
    assert _memory.map_bytes(100_000, 3, explorer_k=99_999)["explorer"] > 100 * GiB
    assert _memory.netmf_bytes(100_000, 1_000_000, "dense") > 3 * 4 * 1e10
    # the default fit of the 1M x 50 benchmark measured 3.9 GiB
    assert 2 * GiB < _memory.map_bytes(1_000_000, 50)["peak"] < 7.8 * GiB


def test_printed_estimate_is_the_guards_figure():
    memory = _memory.map_bytes(100_000, 3, n_components=5000)
    line = fit_estimate(100_000, 3, memory)
    assert f"~{_memory.format_bytes(memory['peak'])} peak memory" in line
    assert _memory.format_bytes(memory["peak"]).endswith("GiB")
    assert fit_estimate(1000, 3, _memory.map_bytes(1000, 3)) is None


def test_fit_fix_names_the_options():
    fix = _memory.fit_fix(100_000, 5000, "dense", None)
    assert "another --eigen-solver" in fix
    assert "a smaller --n-components" in fix
    assert "--landmarks 10000" in fix
    assert "subsample" in _memory.fit_fix(100_000, 10, "amg", None, can_landmark=False)


# ------------------------------------------------------------------------ the CLI guard
def _limit_between(low: float, high: float) -> str:
    assert low < high
    return str(int((low + high) / 2))


def test_map_dense_solver_refused_at_once(tmp_path, roll_npy, monkeypatch):
    dense = _memory.map_bytes(2000, 3, eigen_solver="dense", n_components=10)["fit"]
    auto = _memory.map_bytes(2000, 3, n_components=10)["fit"]
    monkeypatch.setenv(_memory.ENV_LIMIT, _limit_between(auto, dense))
    start = time.perf_counter()
    result = invoke("map", roll_npy, "-o", tmp_path / "out", "--eigen-solver", "dense")
    assert time.perf_counter() - start < 20
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert ("Not enough memory: the fit (2000 x 3 points, --n-components 10, eigensolver "
            "dense)") in out
    assert f"needs about {_memory.format_bytes(dense)}" in out
    assert "another --eigen-solver" in out
    assert not (tmp_path / "out").exists()
    ok = invoke("map", roll_npy, "-o", tmp_path / "ok", "--no-report", "--explorer-neighbors", "0")
    assert ok.exit_code == 0, ok.output


def test_map_n_components_refused(tmp_path, roll_npy, monkeypatch):
    big = _memory.map_bytes(2000, 3, n_components=1500)["fit"]
    small = _memory.map_bytes(2000, 3, n_components=10)["peak"]
    monkeypatch.setenv(_memory.ENV_LIMIT, _limit_between(small, big))
    result = invoke("map", roll_npy, "-o", tmp_path / "out", "--n-components", "1500")
    assert result.exit_code == 2, result.output
    assert "a smaller --n-components" in flat(result.output)


def test_map_explorer_neighbors_refused(tmp_path, roll_npy, monkeypatch):
    memory = _memory.map_bytes(2000, 3, explorer_k=1999, report=False)
    assert memory["explorer"] > memory["fit"]
    monkeypatch.setenv(_memory.ENV_LIMIT, _limit_between(memory["fit"], memory["explorer"]))
    result = invoke("map", roll_npy, "-o", tmp_path / "out", "--explorer-neighbors", "1999",
                    "--no-report")
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert "--explorer-neighbors 1999 (2000 points x 1999 neighbours) needs about" in out
    assert "Use a smaller --explorer-neighbors" in out


def test_npy_too_large_for_memory_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "wide.npy"
    np.save(path, np.zeros((2000, 500)))
    monkeypatch.setenv(_memory.ENV_LIMIT, str(_memory.BASELINE + 2000 * 500 * 4))
    result = invoke("map", path, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "Not enough memory: reading wide.npy (2000 x 500 values)" in flat(result.output)


def test_netmf_dense_refused_with_the_sparse_route(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 3000
    src = np.arange(n)
    edges = np.r_[np.c_[src, (src + 1) % n], np.c_[src, rng.integers(0, n, n)]]
    path = tmp_path / "edges.csv"
    np.savetxt(path, edges, fmt="%d", delimiter=",", header="source,target", comments="")
    dense = _memory.netmf_bytes(n, 4 * n, "dense")
    monkeypatch.setenv(_memory.ENV_LIMIT, str(int(dense * 0.7)))
    result = invoke("embed", "nodes", path, "-o", tmp_path / "out", "--netmf-method", "dense")
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert f"Not enough memory: NetMF (dense) on {n} nodes needs about" in out
    assert "Use --netmf-method sparse" in out


def _allocate_too_much() -> None:
    msg = "Unable to allocate 74.5 GiB"
    raise MemoryError(msg)


def test_stray_memory_error_exits_2_with_the_fix(capsys):
    ui = UI(quiet=False, debug=False)
    with pytest.raises(typer.Exit) as info, ui.errors():
        _allocate_too_much()
    assert info.value.exit_code == 2
    err = flat(capsys.readouterr().err)
    assert "out of memory (Unable to allocate 74.5 GiB)" in err
    assert "--landmarks" in err
    assert "--netmf-method sparse" in err
    assert "bug" not in err


def test_transform_checks_the_model_and_the_input(tmp_path, roll_npy, monkeypatch):
    fitted = tmp_path / "fit"
    ok = invoke("map", roll_npy, "-o", fitted, "--no-report", "--explorer-neighbors", "0",
                "--n-components", "3")
    assert ok.exit_code == 0, ok.output
    model = fitted / "model"
    load = _memory.model_load_bytes(model)
    assert load > _memory.BASELINE + 2000 * 3 * 8  # the landmarks and eigenvectors at least
    monkeypatch.setenv(_memory.ENV_LIMIT, str(int(load) - 1))
    result = invoke("transform", model, roll_npy, "-o", tmp_path / "t1")
    assert result.exit_code == 2, result.output
    assert f"Not enough memory: loading the model {model} needs about" in flat(result.output)
    need, shape = _memory.transform_bytes(model, roll_npy, 15, 3)
    assert shape == (2000, 3)
    monkeypatch.setenv(_memory.ENV_LIMIT, str(int((load + need) / 2)))
    assert load < need
    result = invoke("transform", model, roll_npy, "-o", tmp_path / "t2")
    assert result.exit_code == 2, result.output
    assert "Not enough memory: transforming roll.npy (2000 rows)" in flat(result.output)
    assert "streams it block by block" in flat(result.output)
