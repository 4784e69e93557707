"""``diffembed tree``: outputs, nesting, linkage, nodes, manifest, report, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
import typer
from scipy.cluster.hierarchy import fcluster, is_valid_linkage
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

import diffembed as de
from diffembed.cli.console import UI
from diffembed.cli.tree import is_tree_output, rebuild_tree_report, tree_command
from diffembed.exceptions import InputError
from diffembed.io.readers import file_sha256
from diffembed.plotting.tree_report import build_tree_report_html, write_tree_report

HOSTILE = "</script><img src=x onerror=alert(1)>"
OUTPUTS = {
    "levels.parquet",
    "linkage.npy",
    "nodes.parquet",
    "coordinates.npy",
    "manifest.json",
    "report.html",
}

app = typer.Typer()
app.command("tree")(tree_command)


@app.command("other")
def _other() -> None:  # a second command keeps `tree` a subcommand, as in the real app
    """Placeholder."""


runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, ["tree", *(str(a) for a in args)])


def flat(text: str) -> str:
    return " ".join(text.split())


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three groups of two sub-blobs (60 points each) in 3-D: a two-level hierarchy."""
    rng = np.random.default_rng(seed)
    X, group = [], []
    for i, centre in enumerate(([0, 0, 0], [10, 0, 0], [0, 10, 0])):
        for s in range(2):
            X.append(rng.normal(np.add(centre, [0, 0, 2.5 * s]), 0.4, (60, 3)))
            group += [i] * 60
    return np.vstack(X), np.array(group)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    X, group = blobs()
    names = np.array(["alpha", "beta", HOSTILE])
    path = tmp_path_factory.mktemp("data") / "blobs.parquet"
    pq.write_table(
        pa.table(
            {
                "name": [f"p{i}" for i in range(len(X))],
                "x": X[:, 0],
                "y": X[:, 1],
                "z": X[:, 2],
                "kind": names[group],
            }
        ),
        path,
    )
    return {"X": X, "group": group, "path": path}


@pytest.fixture(scope="module")
def run(data: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("runs") / "tree"
    result = invoke(data["path"], "--label", "kind", "--id", "name", "-o", out)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out / "levels.parquet")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {"out": out, "result": result, "table": table, "manifest": manifest}


def level_columns(table: pa.Table) -> list[str]:
    return [c for c in table.column_names if re.fullmatch(r"level_\d+", c)]


def test_outputs_exist_and_parse(run: dict) -> None:
    out, manifest = run["out"], run["manifest"]
    assert {p.name for p in out.iterdir()} == OUTPUTS
    assert set(manifest["outputs"]) == OUTPUTS
    assert run["result"].stdout == ""  # progress and summary go to stderr
    assert "diffusion hierarchy" in run["result"].stderr
    table = run["table"]
    assert table.column_names[:2] == ["id", "kind"]
    assert table.column("id").to_pylist()[:2] == ["p0", "p1"]
    assert np.load(out / "coordinates.npy").shape == (360, manifest["results"]["embedding_dims"])
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in page


def test_levels_are_nested_and_match_the_estimator(run: dict, data: dict) -> None:
    table = run["table"]
    cols = level_columns(table)
    levels = np.column_stack([table.column(c).to_numpy() for c in cols])
    assert levels.dtype == np.int32
    assert np.unique(levels[:, 0]).size == 360
    assert np.all(levels[:, -1] == 0)
    for j in range(levels.shape[1] - 1):  # every fine cluster lies inside one coarse cluster
        pairs = np.unique(levels[:, [j, j + 1]], axis=0)
        assert np.unique(pairs[:, 0]).size == pairs.shape[0]
    model = de.DiffusionHierarchy(random_state=0).fit(data["X"])
    for c in cols:
        np.testing.assert_array_equal(table.column(c).to_numpy(), model.level(int(c[6:])))
    three = [c for c in cols if table.column(c).to_numpy().max() == 2]
    assert adjusted_rand_score(data["group"], table.column(three[0]).to_numpy()) == 1.0


def test_linkage_is_a_valid_scipy_linkage(run: dict, data: dict) -> None:
    Z = np.load(run["out"] / "linkage.npy", allow_pickle=False)
    assert Z.shape == (359, 4)
    assert is_valid_linkage(Z)
    assert Z[-1, 3] == 360
    assert np.all(np.diff(Z[:, 2]) >= 0)
    flat_cut = fcluster(Z, 3, criterion="maxclust")
    assert adjusted_rand_score(data["group"], flat_cut) == 1.0


def test_nodes_sizes_parents_and_positions(run: dict) -> None:
    out, table = run["out"], run["table"]
    t = pq.read_table(out / "nodes.parquet")
    nodes = {c: t.column(c).to_numpy() for c in t.column_names}
    coords = np.load(out / "coordinates.npy")
    written = sorted(int(c[6:]) for c in level_columns(table))
    assert sorted(np.unique(nodes["level"]).tolist()) == written[1:]  # level 0 (points) left out
    np.testing.assert_array_equal(nodes["node"], np.arange(nodes["node"].size))
    for level in written[1:]:
        at = nodes["level"] == level
        labels = table.column(f"level_{level}").to_numpy()
        np.testing.assert_array_equal(nodes["cluster"][at], np.arange(labels.max() + 1))
        np.testing.assert_array_equal(nodes["size"][at], np.bincount(labels))
        assert np.all(nodes["n_clusters"][at] == at.sum())
        pos = np.column_stack([nodes[f"dc{d + 1}"][at] for d in range(coords.shape[1])])
        np.testing.assert_allclose(pos[0], coords[labels == 0].mean(axis=0))
    root = np.flatnonzero(nodes["parent"] == -1)
    assert root.size == 1
    assert nodes["size"][root[0]] == 360
    child = nodes["parent"] >= 0
    sums = np.bincount(nodes["parent"][child], weights=nodes["size"][child])
    has = np.flatnonzero(sums > 0)
    np.testing.assert_array_equal(nodes["size"][has], sums[has])  # a parent holds its children
    parent_level = nodes["level"][nodes["parent"][child]]
    assert np.all(parent_level > nodes["level"][child])


def test_manifest(run: dict, data: dict) -> None:
    manifest, table = run["manifest"], run["table"]
    assert manifest["command"] == "tree"
    assert manifest["format_version"] == 1
    assert manifest["input"]["sha256"] == file_sha256(data["path"])
    assert manifest["input"]["n_samples"] == 360
    assert manifest["label_column"] == "kind"
    assert manifest["parameters"]["engine"] == "ward"
    assert manifest["parameters"]["random_state"] == 0
    res = manifest["results"]
    assert res["n_levels"] == res["n_levels_written"] == len(manifest["levels"])
    assert [m["column"] for m in manifest["levels"]] == level_columns(table)
    for m in manifest["levels"]:
        assert m["n_clusters"] == table.column(m["column"]).to_numpy().max() + 1
    by_level = {m["level"]: m for m in manifest["levels"]}
    assert res["salient_levels"], "the 3 groups should stand out from the null"
    assert [by_level[j]["n_clusters"] for j in res["salient_levels"]] == res["salient_n_clusters"]
    assert 3 in res["salient_n_clusters"]
    assert all(by_level[j]["salient"] for j in res["salient_levels"])
    assert {"neighbors", "ward", "null", "write", "report", "total"} <= set(manifest["timings"])
    assert {"python", "numpy", "diffembed"} <= set(manifest["versions"])


def test_hostile_label_is_escaped(run: dict) -> None:
    page = (run["out"] / "report.html").read_text(encoding="utf-8")
    assert "<img" not in page
    assert "<script>alert" not in page
    n_scripts = len(re.findall(r"<script[ >]", page))
    assert page.count("</script>") == n_scripts  # the label closes no script element
    assert "&amp;lt;/script&amp;gt;&amp;lt;img" not in page  # escaped once, not twice
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page.replace("\\u0026", "&")


def test_hostile_label_column_name_is_escaped() -> None:
    labels = np.repeat(np.arange(3), 20)
    levels = {
        "id": np.arange(60),
        HOSTILE: np.array(["a", "b", "c"])[labels],
        "level_0": np.arange(60, dtype=np.int32),
        "level_1": labels.astype(np.int32),
        "level_2": np.zeros(60, dtype=np.int32),
    }
    manifest = {"command": "tree", "label_column": HOSTILE, "input": {"path": f"/d/{HOSTILE}.csv"}}
    coords = np.random.default_rng(0).normal(size=(60, 3))
    page = build_tree_report_html(levels, coords, manifest, source=HOSTILE)
    assert "<img" not in page
    assert page.count("</script>") == len(re.findall(r"<script[ >]", page))


def test_report_is_rebuilt_without_refit(run: dict, tmp_path: Path) -> None:
    out = run["out"]
    assert is_tree_output(out)
    (out / "report.html").unlink()
    rebuild_tree_report(UI(quiet=True), out, color_by="kind")
    assert (out / "report.html").stat().st_size > 100_000
    assert "report.html" in json.loads((out / "manifest.json").read_text())["outputs"]
    with pytest.raises(InputError, match="level_999"):
        write_tree_report(out, tmp_path / "x.html", color_by="level_999")
    assert not is_tree_output(tmp_path)
    (tmp_path / "manifest.json").write_text('{"command": "map"}')
    assert not is_tree_output(tmp_path)
    with pytest.raises(InputError, match=r"levels\.parquet is missing"):
        write_tree_report(tmp_path)


def test_condensation_engine_on_a_dataset(tmp_path: Path) -> None:
    out = tmp_path / "digits"
    args = ["--dataset", "digits", "--n-samples", 300, "--engine", "condensation"]
    result = invoke(*args, "--n-null", 0, "--n-neighbors", 10, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # --quiet
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["engine"] == "condensation"
    assert manifest["parameters"]["n_neighbors"] == 10
    assert manifest["input"]["dataset"] == "digits"
    assert manifest["label_column"] == "digit"
    table = pq.read_table(out / "levels.parquet")
    assert "digit" in table.column_names
    cols = level_columns(table)
    levels = np.column_stack([table.column(c).to_numpy() for c in cols])
    for j in range(levels.shape[1] - 1):
        pairs = np.unique(levels[:, [j, j + 1]], axis=0)
        assert np.unique(pairs[:, 0]).size == pairs.shape[0]
    assert is_valid_linkage(np.load(out / "linkage.npy"))
    assert "ARI vs digit" in (out / "report.html").read_text(encoding="utf-8")


def test_overwrite(run: dict, data: dict, tmp_path: Path) -> None:
    out = tmp_path / "again"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = [data["path"], "--label", "kind", "--id", "name", "-o", out, "--no-report"]
    result = invoke(*args)
    assert result.exit_code == 2
    assert "--overwrite would be refused too" in flat(result.stderr)
    assert (out / "keep.txt").read_text() == "mine"
    result = invoke(*args, "--overwrite", "-q")  # keep.txt is not diffembed's: refused
    assert result.exit_code == 2
    assert "Refusing --overwrite" in flat(result.stderr)
    assert "keep.txt" in flat(result.stderr)
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    assert invoke(*args, "-q").exit_code == 0
    result = invoke(*args, "--overwrite", "-q")  # its own output: replaced
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == OUTPUTS - {"report.html"}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    (d / "nan.csv").write_text("x,y\n1,2\n3,nan\n4,5\n")
    (d / "one.csv").write_text("x,y\n1,2\n")
    (d / "same.csv").write_text("x,y\n" + "1,2\n" * 10)
    (d / "ok.csv").write_text("x,y,kind\n" + "".join(f"{i},{i % 3},a\n" for i in range(20)))
    return {p.name: p for p in d.iterdir()}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["missing.csv"], ["missing.csv", "does not exist"]),
        (["nan.csv"], ["NaN", "row"]),
        (["one.csv"], ["1 row", "at least 2"]),
        (["same.csv"], ["constant", "identical"]),
        ([], ["exactly one data source", "neither"]),
        (["ok.csv", "--dataset", "digits"], ["exactly one data source", "both"]),
        (["--dataset", "mnist"], ["Unknown dataset", "swiss-roll, s-curve, digits"]),
        (["ok.csv", "--engine", "kmeans"], ["--engine", "ward or condensation"]),
        (["ok.csv", "--label", "nope"], ["nope"]),
        (["ok.csv", "--label", "level_3"], ["level_3", "Rename"]),
        (["ok.csv", "--n-neighbors", 0], ["n_neighbors", "--n-neighbors"]),
        (["ok.csv", "--n-samples", 10], ["--n-samples applies to --dataset"]),
        (["--dataset", "digits", "--label", "kind"], ["--label and --id"]),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    args: list, words: list[str], bad_files: dict[str, Path], tmp_path: Path
) -> None:
    resolved = [str(bad_files.get(a, tmp_path / a)) if str(a).endswith(".csv") else a for a in args]
    out = tmp_path / "runs" / "out"
    result = invoke(*resolved, "-o", out)
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert "error:" in message
    for word in words:
        assert word in message, (word, message)
    assert not (tmp_path / "runs").exists()  # not even the parent, nor a temporary sibling


def _levels(n: int = 90) -> dict:
    """Three nested levels over n points: singletons, 3 groups, the root."""
    groups = np.arange(n) * 3 // n
    return {
        "id": np.arange(n),
        "level_0": np.arange(n, dtype=np.int32),
        "level_1": groups.astype(np.int32),
        "level_2": np.zeros(n, dtype=np.int32),
    }


def _figure(page: str) -> dict:
    from .browser import figures

    return figures(page)["fig-tree"]


def test_builder_draws_input_space_as_pca_and_samples_large_runs() -> None:
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(90, 5)) * [5, 3, 1, 1, 1]
    manifest = {"command": "tree", "parameters": {"space": "input", "random_state": 0}}
    page = build_tree_report_html(_levels(), coords, manifest, max_points=40)
    fig = _figure(page)
    scatter = fig["data"][1]
    assert fig["layout"]["xaxis"]["title"]["text"] == "PC1"
    assert len(scatter["x"]) == 40
    assert "random sample of 40 of the 90 points" in page
    centred = coords - coords.mean(axis=0)
    pc1 = np.linalg.svd(centred, full_matrices=False)[2][0]
    drawn = np.asarray(scatter["customdata"], dtype=int)
    corr = np.corrcoef(centred[drawn] @ pc1, scatter["x"])[0, 1]
    assert abs(corr) > 0.999


def test_builder_tiles_components_and_colours_by_a_numeric_label() -> None:
    levels = _levels()
    levels["component"] = (np.arange(90) * 3 // 90).astype(np.int32)
    levels["score"] = np.linspace(0.0, 1.0, 90)
    coords = np.random.default_rng(1).normal(size=(90, 4))
    manifest = {"command": "tree", "label_column": "score"}
    page = build_tree_report_html(levels, coords, manifest, color_by="score")
    fig = _figure(page)
    assert "each part in its own tile" in page
    xy = np.column_stack([fig["data"][1]["x"], fig["data"][1]["y"]])
    centres = np.array([np.median(xy[levels["component"] == g], axis=0) for g in range(3)])
    gaps = np.hypot(*(centres[:, None, :] - centres[None, :, :]).transpose(2, 0, 1))
    assert np.all(gaps[np.triu_indices(3, 1)] > 2.0)  # one tile per component
    scatter = fig["data"][1]
    assert scatter["marker"]["colorscale"] == "Viridis"
    assert scatter["marker"]["showscale"] is True
    assert fig["layout"]["updatemenus"][0]["active"] == 0  # the label option


def test_builder_without_coordinates_still_shows_the_tree() -> None:
    page = build_tree_report_html(_levels(), None, {"command": "tree"})
    fig = _figure(page)
    assert "the points are not drawn" in page
    assert len(fig["data"][1]["x"]) == 0
    assert fig["data"][0]["type"] == "icicle"
    assert fig["data"][0]["ids"][0] == "2:0"  # the root
    with pytest.raises(InputError, match="no level columns"):
        build_tree_report_html({"id": np.arange(3)}, None, {})


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ([[1.5e308], [-0.13]], ["magnitude up to 1.5e+308", "Divide the data by a constant"]),
        ([[1e-300, 0.0], [0.0, 3e-300]], ["magnitude at most 3e-300", "Multiply the data"]),
    ],
)
def test_out_of_range_values_exit_2_naming_the_fix(
    values: list, words: list[str], tmp_path: Path
) -> None:
    """Issue 15 fuzz find: 2 rows near 1e308 exited 1 ('cannot reshape ... this is a bug')."""
    np.save(tmp_path / "x.npy", np.array(values))
    out = tmp_path / "out"
    result = invoke(tmp_path / "x.npy", "-o", out, "--n-neighbors", 2, "--n-components", 1,
                    "--n-null", 2, "--no-report")  # fmt: skip
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    for word in words:
        assert word in message, (word, message)
    assert "bug" not in message
    assert not out.exists()


@pytest.mark.parametrize("max_nodes", [None, 20])  # None: the plain path; 20: pre-partitioned
def test_hierarchy_refuses_values_whose_distances_overflow(max_nodes) -> None:
    X = np.random.default_rng(0).normal(size=(40, 2)) * 1e160
    kwargs = {} if max_nodes is None else {"max_nodes": max_nodes}
    with pytest.raises(InputError, match=r"X has values of magnitude up to \d\.\d+e\+160"):
        de.DiffusionHierarchy(random_state=0, **kwargs).fit(X)
    with pytest.raises(InputError, match=r"magnitude up to .*Divide the data by a constant"):
        de.DiffusionHierarchy(random_state=0, **kwargs).fit(sp.csr_matrix(X))


def test_h5ad_export_is_refused_before_the_fit(tmp_path: Path) -> None:
    """--format h5ad was accepted and failed at export time, after the whole fit."""
    out = tmp_path / "runs" / "out"
    result = invoke("--dataset", "swiss-roll", "--n-samples", 200, "-o", out, "--format",
                    "atlas,h5ad", "--no-report")  # fmt: skip
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert "--format h5ad is for `diffembed map` outputs only" in message, message
    assert "`tree` exports atlas or projector" in message, message
    assert "neighbors" not in message  # refused before any work
    assert not (tmp_path / "runs").exists()
