"""Exports for Embedding Atlas and the TensorFlow Projector, and coordinates at another time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_swiss_roll

from diffembed import DiffusionMap
from diffembed.exceptions import InputError
from diffembed.io.exporters import (
    coordinates_at,
    export_run,
    read_run,
    write_atlas,
    write_projector,
)

from .browser import XSS_LABEL, write_outputs


@pytest.fixture(scope="module")
def fitted() -> DiffusionMap:
    X, _ = make_swiss_roll(300, random_state=0)
    return DiffusionMap(n_components=4, n_neighbors=10, t=1, random_state=0).fit(X)


@pytest.mark.parametrize("t", [0.0, 0.5, 2.0, 7.0])
def test_coordinates_at_another_time_match_the_estimator(fitted: DiffusionMap, t: float) -> None:
    moved = coordinates_at(fitted.embedding_, fitted.eigenvalues_, 1.0, t)
    np.testing.assert_allclose(moved, fitted.transform_at(t), rtol=1e-12, atol=1e-15)
    back = coordinates_at(moved, fitted.eigenvalues_, t, 1.0)
    np.testing.assert_allclose(back, fitted.embedding_, rtol=1e-10, atol=1e-15)


def test_coordinates_at_keeps_signs_and_refuses_what_it_cannot_do() -> None:
    psi = np.array([[1.0, 2.0], [-1.0, 0.5]])
    lam = np.array([0.5, -0.25])
    at1 = psi * lam  # t = 1
    signed = np.sign(lam) * np.abs(lam) ** 2  # the estimator's sign(λ)|λ|^t
    np.testing.assert_allclose(coordinates_at(at1, lam, 1, 2), psi * signed)
    np.testing.assert_allclose(coordinates_at(at1, lam, 1, 0), psi)
    np.testing.assert_allclose(coordinates_at(psi, lam, 0, 3), psi * lam**3)
    with pytest.raises(InputError, match="eigenvalue 0"):
        coordinates_at(at1, [0.5, 0.0], 1, 2)
    with pytest.raises(InputError, match=r"t_to=-1 is not a valid diffusion time"):
        coordinates_at(at1, lam, 1, -1)
    with pytest.raises(InputError, match="do not match"):
        coordinates_at(at1, [0.5], 1, 2)


def _run_with_neighbors(tmp_path: Path, **kwargs) -> tuple[Path, np.ndarray, np.ndarray]:
    out = write_outputs(tmp_path / "out", **kwargs)
    n = pq.read_metadata(out / "embedding.parquet").num_rows
    rng = np.random.default_rng(1)
    nb = np.array([rng.choice(np.delete(np.arange(n), i), 4, replace=False) for i in range(n)])
    dist = np.sort(rng.random((n, 4)), axis=1).astype(np.float32)
    np.save(out / "neighbors.npy", nb.astype(np.int32))
    np.save(out / "neighbor_distances.npy", dist)
    return out, nb, dist


def test_atlas_parquet_has_xy_metadata_and_renumbered_neighbours(tmp_path: Path) -> None:
    out, nb, dist = _run_with_neighbors(tmp_path, n=60, k=3, n_nan=5, cluster=True)
    path = write_atlas(out)
    assert path == out / "atlas.parquet"
    table = pq.read_table(path)
    assert table.column_names == [
        "id",
        "x",
        "y",
        "dc1",
        "dc2",
        "dc3",
        "kind",
        "cluster",
        "neighbors",
    ]
    assert table.num_rows == 55  # the 5 rows that were not embedded are dropped
    saved = pq.read_table(out / "embedding.parquet")
    assert table.column("id").to_pylist() == list(range(5, 60))
    np.testing.assert_array_equal(table.column("x").to_numpy(), saved.column("dc1").to_numpy()[5:])
    np.testing.assert_array_equal(table.column("y").to_numpy(), saved.column("dc2").to_numpy()[5:])
    assert table.column("kind").to_pylist() == saved.column("kind").to_pylist()[5:]
    assert XSS_LABEL in table.column("kind").to_pylist()  # data, written as it is
    field = table.schema.field("neighbors").type
    assert field == pa.struct(
        [("ids", pa.list_(pa.int32())), ("distances", pa.list_(pa.float32()))]
    )
    rows = table.column("neighbors").to_pylist()
    for new, row in enumerate(rows):
        old = new + 5
        keep = nb[old] >= 5  # neighbours among the dropped rows are removed
        assert row["ids"] == (nb[old][keep] - 5).tolist()
        np.testing.assert_array_equal(row["distances"], dist[old][keep])
    assert max(max(r["ids"], default=0) for r in rows) < 55  # zero-based rows of this file


def test_atlas_without_neighbours_and_with_clashing_names(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", n=20, k=1, label_column="x", labels=["a", "b"] * 10)
    table = pq.read_table(write_atlas(out, tmp_path / "elsewhere.parquet", t=1.0))
    assert table.column_names == ["id", "x", "y", "dc1", "x_"]
    assert table.column("y").to_pylist() == [0.0] * 20  # one coordinate: y is 0
    assert table.column("x_").to_pylist() == ["a", "b"] * 10


def test_projector_tsvs(tmp_path: Path) -> None:
    labels = ["tab\there", "new\nline", None, "plain"] * 10
    out = write_outputs(tmp_path / "out", n=40, k=3, n_nan=2, labels=labels, string_ids=True)
    vectors, meta = write_projector(out, t=3.0)
    assert (vectors, meta) == (
        out / "projector" / "vectors.tsv",
        out / "projector" / "metadata.tsv",
    )
    run = read_run(out)
    expected = coordinates_at(run.coords, run.eigenvalues, 1.0, 3.0)[2:]
    np.testing.assert_allclose(np.loadtxt(vectors, delimiter="\t"), expected, rtol=1e-8)
    lines = meta.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "id\tkind"
    assert lines[1:5] == ["pt-2\t", "pt-3\tplain", "pt-4\ttab here", "pt-5\tnew line"]
    assert len(lines) == 1 + 38 + 1  # header, rows, final newline
    assert "nan" not in meta.read_text().lower()


def test_projector_single_column_has_no_header(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", n=12, k=2, label_column=None)
    _, meta = write_projector(out, tmp_path / "p")
    assert meta.read_text().split("\n")[:3] == ["0", "1", "2"]


def test_read_run_and_export_errors(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", n=30, k=2)
    (out / "manifest.json").write_text(json.dumps({"label_column": "kind"}))  # no t
    run = read_run(out)
    assert run.t is None
    assert run.metadata == ["kind"]
    np.testing.assert_array_equal(run.coords_at(None), run.coords)
    with pytest.raises(InputError, match="Cannot move the coordinates to t=2"):
        run.coords_at(2.0)
    with pytest.raises(InputError, match="Unknown export format 'svg'"):
        export_run(out, "svg")
    with pytest.raises(InputError, match=r"embedding\.parquet is missing"):
        read_run(tmp_path / "nowhere")
    assert [p.name for p in export_run(out, "projector")] == ["vectors.tsv", "metadata.tsv"]
