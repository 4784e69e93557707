"""Figures and titles of the tree and decode reports (no browser)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from diffembed.plotting.latents_report import model_name
from diffembed.plotting.tree_figures import ICICLE_X, TreeLevels, tree_figure_spec


def _tree(n: int = 400) -> TreeLevels:
    rng = np.random.default_rng(0)
    fine = rng.integers(0, 8, n)
    return TreeLevels(labels={0: np.arange(n), 3: fine, 5: fine // 2, 7: fine // 4,
                              9: np.zeros(n, dtype=np.int64)}, salient=(5,))  # fmt: skip


def test_icicle_rows_are_named_by_level_beside_the_icicle() -> None:
    tree = _tree()
    xy = np.random.default_rng(1).normal(size=(400, 2))
    spec = tree_figure_spec(tree, xy, np.arange(400), ids=np.arange(400), menu=[5, 3],
                            icicle=[9, 7, 5, 3], active=5)  # fmt: skip
    rows = [a for a in spec["layout"]["annotations"] if a.get("name") == "icicle-row"]
    assert [a["text"] for a in rows] == [
        "<b>level 9</b><br>1 cluster",
        "<b>level 7</b><br>2 clusters",
        "<b>level 5</b> ★<br>4 clusters",
        "<b>level 3</b><br>8 clusters",
    ]
    assert [a["y"] for a in rows] == [0.875, 0.625, 0.375, 0.125]  # the rows' middles
    assert all(a["x"] == ICICLE_X[0] and a["xanchor"] == "right" for a in rows)
    assert spec["data"][0]["domain"]["x"] == list(ICICLE_X)
    assert spec["layout"]["meta"] == {"icicleRoot": "9:0"}  # the page hides them when zoomed


def test_scatter_has_a_legend_of_the_clusters_and_of_the_label() -> None:
    tree = _tree()
    xy = np.random.default_rng(1).normal(size=(400, 2))
    kinds = np.array(["north", "south"], dtype=object)[np.arange(400) % 2]
    spec = tree_figure_spec(tree, xy, np.arange(400), ids=np.arange(400), menu=[5, 3],
                            icicle=[9, 5], active=5, label=("kind", kinds))  # fmt: skip
    marker = spec["data"][1]["marker"]
    assert marker["showscale"] is True
    sizes = np.bincount(tree.labels[5], minlength=4)
    assert marker["colorbar"]["tickvals"] == [0, 1, 2, 3]
    assert marker["colorbar"]["ticktext"] == [f"{c} · {sizes[c]:,}" for c in range(4)]
    assert marker["colorbar"]["title"]["text"] == "cluster · points<br>(level 5)"
    menu = spec["layout"]["updatemenus"][0]["buttons"]
    by_label = menu[0]["args"][0]
    assert menu[0]["label"] == "kind (label)"
    assert by_label["marker.showscale"] == [False, True]
    assert by_label["marker.colorbar.ticktext"] == [None, ["north", "south"]]


def test_scatter_is_not_crushed_into_a_corner_by_far_points() -> None:
    tree = _tree()
    rng = np.random.default_rng(2)
    xy = rng.normal(size=(400, 2))
    xy[:3] = [[400.0, 0.0], [380.0, -1.0], [0.0, -900.0]]  # three far points
    spec = tree_figure_spec(tree, xy, np.arange(400), ids=np.arange(400), menu=[5], icicle=[9])
    layout = spec["layout"]
    for axis in ("xaxis", "yaxis"):
        lo, hi = layout[axis]["range"]
        assert -6 < lo < -2  # the bulk, padded: not -900
        assert 2 < hi < 6
    notes = [a["text"] for a in layout["annotations"] if "outside this view" in a["text"]]
    assert notes == ["3 far points outside this view: double-click the plot to show all"]
    spread = tree_figure_spec(tree, rng.normal(size=(400, 2)), np.arange(400),
                              ids=np.arange(400), menu=[5], icicle=[9])  # fmt: skip
    assert "range" not in spread["layout"]["xaxis"]  # nothing to zoom past
    assert not [a for a in spread["layout"]["annotations"] if "outside" in a["text"]]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("runs/shapes-ddpm/model", "shapes-ddpm"),
        ("/runs/shapes-ddpm/", "shapes-ddpm"),
        ("google/ddpm-cifar10-32", "google/ddpm-cifar10-32"),
        (
            "/cache/hub/models--google--ddpm-cifar10-32/snapshots/"
            "0123456789abcdef0123456789abcdef01234567",
            "google/ddpm-cifar10-32",
        ),
        ("weights/unet/diffusion_pytorch_model.safetensors", "diffusion_pytorch_model"),
        (None, "a model"),
    ],
)
def test_decode_title_names_the_model(model: str | None, expected: str) -> None:
    assert model_name(model) == expected


def test_decode_title_reads_a_pipelines_own_name(tmp_path: Path) -> None:
    pipe = tmp_path / "pipeline"
    pipe.mkdir()
    (pipe / "model_index.json").write_text(
        json.dumps({"_class_name": "DDPMPipeline", "_name_or_path": "org/butterflies-64"})
    )
    assert model_name(pipe) == "org/butterflies-64"
    (pipe / "model_index.json").write_text(json.dumps({"_class_name": "DDPMPipeline"}))
    assert model_name(pipe) == tmp_path.name  # "pipeline" is generic: its folder names it
