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


# ------------------------------------------------------------------ tree, embed, stability
def _export(out: Path, *args: str) -> str:
    from typer.testing import CliRunner

    from diffembed.cli.app import app

    result = CliRunner().invoke(app, ["export", str(out), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _distances(X: np.ndarray, metric: str) -> np.ndarray:
    """Dense reference distances between all rows (self: inf)."""
    if metric == "cosine":
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        D = 1.0 - U @ U.T
    else:
        D = np.linalg.norm(X[:, None, :] - X[None, :, :], axis=2)
    np.fill_diagonal(D, np.inf)
    return D


def _assert_neighbours(table: pa.Table, X: np.ndarray, metric: str) -> None:
    """The listed neighbours are the 10 nearest: tie-robust (their true distances are the 10
    smallest, in order, and equal the listed ones)."""
    rows = table.column("neighbors").to_pylist()
    D = _distances(X, metric)
    smallest = np.sort(D, axis=1)[:, :10]
    for i, row in enumerate(rows):
        assert len(row["ids"]) == 10
        assert i not in row["ids"]
        true = D[i, row["ids"]]
        np.testing.assert_allclose(true, smallest[i], atol=2e-5)
        np.testing.assert_allclose(row["distances"], true, atol=2e-5)
    assert table.schema.field("neighbors").type == pa.struct(
        [("ids", pa.list_(pa.int32())), ("distances", pa.list_(pa.float32()))]
    )


def _metadata_rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").split("\n")[:-1]]


def test_export_a_tree_output(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(c, 0.6, (40, 2)) for c in ([0, 0], [6, 0], [0, 6])])
    kinds = np.array(["tab\there", "new\nline", XSS_LABEL])[np.repeat(np.arange(3), 40)]
    names = np.array([f"pt{i:03d}" for i in range(X.shape[0])])
    data = tmp_path / "blobs.parquet"
    pq.write_table(pa.table({"name": names, "x": X[:, 0], "y": X[:, 1], "kind": kinds}), data)
    out = tmp_path / "tree"
    from typer.testing import CliRunner

    from diffembed.cli.app import app

    args = ["tree", str(data), "--label", "kind", "--id", "name", "-o", str(out), "-q",
            "--format", "projector", "--no-report"]  # fmt: skip
    assert CliRunner().invoke(app, args).exit_code == 0
    assert (out / "projector" / "metadata.tsv").is_file()  # --format on the command itself
    printed = _export(out, "--format", "atlas")
    assert "embedding-atlas" in printed
    coords = np.load(out / "coordinates.npy")
    table = pq.read_table(out / "atlas.parquet")
    levels = pq.read_table(out / "levels.parquet")
    k = coords.shape[1]
    names_out = table.column_names
    assert names_out[: 3 + k] == ["id", "x", "y", *(f"dc{j + 1}" for j in range(k))]
    assert names_out[-1] == "neighbors"
    assert [c for c in levels.column_names if c != "id"] == names_out[3 + k : -1]
    assert table.column("id").to_pylist() == names.tolist()
    assert table.column("kind").to_pylist() == kinds.tolist()  # data as they are
    np.testing.assert_allclose(table.column("dc1").to_numpy(), coords[:, 0])
    if np.unique(levels.column("component").to_numpy()).size == 1:
        np.testing.assert_allclose(table.column("x").to_numpy(), coords[:, 0])
        _assert_neighbours(table, coords, "euclidean")
    np.testing.assert_allclose(
        np.loadtxt(out / "projector" / "vectors.tsv", delimiter="\t"), coords, rtol=1e-8
    )
    meta = _metadata_rows(out / "projector" / "metadata.tsv")
    assert meta[0][:2] == ["id", "kind"]
    assert len(meta) == 1 + X.shape[0]  # a tab or newline in a label never adds a row
    assert all(len(row) == len(meta[0]) for row in meta)  # ... nor a column
    assert [row[1] for row in meta[1:4]] == ["tab here"] * 3
    assert meta[41][1] == "new line"
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"atlas.parquet", "projector/"} <= set(manifest["outputs"])


DOCS = [
    "the cat sat on the mat",
    "a cat chased a mouse across the mat",
    "dogs bark at the\tmailman",
    "the dog chased the cat",
    "stocks fell as markets slid",
    "markets rallied and stocks rose",
    "investors sold shares in the market",
    "the mouse hid from the cat",
    "bond yields rose as stocks fell",
] * 3


def test_export_an_embed_output(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from diffembed.cli.embed import embed_app

    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(f"{d} {i}" for i, d in enumerate(DOCS)) + "\n", encoding="utf-8")
    out = tmp_path / "lsa"
    args = ["lsa", str(docs), "-o", str(out), "--n-components", "4", "--stop-words", "none"]
    assert CliRunner().invoke(embed_app, args).exit_code == 0
    _export(out, "--format", "atlas", "--format", "projector")
    V = pq.read_table(out / "vectors.parquet")
    vectors = np.column_stack([V.column(f"v{j}").to_numpy() for j in range(1, 5)])
    table = pq.read_table(out / "atlas.parquet")
    assert table.column_names == ["id", "x", "y", "PC1", "PC2", "PC3", "PC4", "text", "neighbors"]
    assert table.num_rows == len(DOCS)
    texts = docs.read_text(encoding="utf-8").splitlines()
    assert table.column("text").to_pylist() == texts
    _assert_neighbours(table, vectors, "cosine")
    # x, y: a 2-D PCA of the vectors (signs aside)
    C = vectors - vectors.mean(axis=0)
    pc1 = C @ np.linalg.svd(C, full_matrices=False)[2][0]
    assert abs(np.corrcoef(pc1, table.column("x").to_numpy())[0, 1]) > 0.9999
    np.testing.assert_allclose(
        np.loadtxt(out / "projector" / "vectors.tsv", delimiter="\t"), vectors, rtol=1e-7
    )
    meta = _metadata_rows(out / "projector" / "metadata.tsv")
    assert meta[0] == ["id", "text"]
    assert meta[3] == ["2", "dogs bark at the mailman 2"]  # the tab became a space
    assert len(meta) == 1 + len(DOCS)


def test_export_a_stability_output_and_the_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from diffembed.cli.app import app

    rng = np.random.default_rng(0)
    topics = ["ani", "veh", "foo", "col", "wea", "mus"]
    lines = [
        " ".join(t + "abcdefghij"[j] for j in rng.integers(0, 10, 8))
        for t in (topics[i % 6] for i in range(600))
    ]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "stab"
    args = ["stability", str(corpus), "--runs", "2", "--dim", "5", "--graph", "knn",
            "--no-sweep", "--no-own-knn", "--no-report", "--format", "projector",
            "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "projector" / "vectors.tsv").is_file()  # --format on the command itself
    _export(out, "--format", "atlas")
    S = pq.read_table(out / "vectors_smoothed.parquet")
    words = S.column("id").to_pylist()
    smoothed = np.column_stack([S.column(f"v{j}").to_numpy() for j in range(1, 6)])
    table = pq.read_table(out / "atlas.parquet")
    assert table.column_names == [
        "id", "x", "y", "PC1", "PC2", "PC3", "PC4", "PC5", "rank", "overlap@10_raw",
        "overlap@10_smoothed", "delta_overlap@10", "kept@10", "neighbors",
    ]  # fmt: skip
    assert table.column("id").to_pylist() == words
    _assert_neighbours(table, smoothed, "cosine")
    np.testing.assert_allclose(
        np.loadtxt(out / "projector" / "vectors.tsv", delimiter="\t"), smoothed, rtol=1e-6
    )
    assert _metadata_rows(out / "projector" / "metadata.tsv")[0][:2] == ["id", "rank"]
    # errors: a --time for an output without diffusion time; a directory of nothing
    result = CliRunner().invoke(app, ["export", str(out), "--format", "atlas", "--time", "2"])
    assert result.exit_code == 2
    assert "moves diffusion-map coordinates only" in " ".join(result.output.split())
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"nothing to export: run `diffembed map`, `tree`"):
        export_run(tmp_path / "empty", "atlas")


def test_h5ad_is_refused_up_front_for_stability_and_embed_outputs(tmp_path: Path) -> None:
    """--format h5ad is only for map outputs: other commands refuse it before any work."""
    from typer.testing import CliRunner

    from diffembed.cli.app import app
    from diffembed.cli.embed import embed_app
    from diffembed.cli.extras import parse_formats

    assert parse_formats(["atlas,h5ad"], "map") == ["atlas", "h5ad"]
    with pytest.raises(InputError, match=r"h5ad is for `diffembed map` outputs only.*`embed` exp"):
        parse_formats(["h5ad"], "embed")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c\n" * 50, encoding="utf-8")
    out = tmp_path / "runs" / "stab"
    result = CliRunner().invoke(app, ["stability", str(corpus), "-o", str(out), "--format",
                                      "h5ad", "--no-report"])  # fmt: skip
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "--format h5ad is for `diffembed map` outputs only" in text, text
    assert "`stability` exports atlas or projector" in text, text
    assert not (tmp_path / "runs").exists()
    # an embed output: the export command refuses h5ad before writing the atlas export
    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(f"{d} {i}" for i, d in enumerate(DOCS)) + "\n", encoding="utf-8")
    lsa = tmp_path / "lsa"
    args = ["lsa", str(docs), "-o", str(lsa), "--n-components", "4", "--stop-words", "none"]
    assert CliRunner().invoke(embed_app, args).exit_code == 0
    result = CliRunner().invoke(app, ["export", str(lsa), "--format", "atlas,h5ad"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "`embed` exports atlas or projector" in text, text
    assert not (lsa / "atlas.parquet").exists()
