"""AnnData in, AnnData out: de.tl writes where scanpy does, and scanpy reads it back."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr

import diffembed as de
from diffembed.exceptions import InputError

from .trajectories import branching_trajectory

ad = pytest.importorskip(
    "anndata", reason="anndata is not installed (pip install 'diffembed[anndata]')"
)
sc = pytest.importorskip("scanpy", reason="scanpy is not installed (a test dependency)")


@pytest.fixture(scope="module")
def pbmc():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sc.datasets.pbmc68k_reduced()  # ships inside scanpy, no download
    adata.uns["iroot"] = int(np.flatnonzero(adata.obs["bulk_labels"] == "CD34+")[0])
    return adata


@pytest.fixture(scope="module")
def thin_branches():
    X, time, branch = branching_trajectory(1500, dim=30, noise=0.01, seed=5)
    adata = ad.AnnData(X.astype(np.float32))
    adata.obs["branch"] = np.where(branch == 0, "stem", np.where(branch == 1, "a", "b"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # exact kNN and the Gaussian kernel of the original DPT: the default UMAP weights
        # spend a minute compiling on first use
        sc.pp.neighbors(adata, transformer="sklearn", method="gauss")
    return adata, time


def _snapshot(adata):
    return {
        "X": adata.X.copy(),
        "obs": adata.obs.copy(),
        "var": adata.var.copy(),
        "obsm": {k: np.asarray(v).copy() for k, v in adata.obsm.items()},
        "obsp": {k: v.copy() for k, v in adata.obsp.items()},
        "varm": {k: np.asarray(v).copy() for k, v in adata.varm.items()},
        "uns": set(adata.uns.keys()),
    }


def _assert_kept(before, after):
    np.testing.assert_array_equal(after.X, before["X"])
    for col in before["obs"].columns:
        assert after.obs[col].equals(before["obs"][col]), col
    assert after.var.equals(before["var"])
    for k, v in before["obsm"].items():
        np.testing.assert_array_equal(np.asarray(after.obsm[k]), v)
    for k, v in before["obsp"].items():
        assert (after.obsp[k] != v).nnz == 0, k
    for k, v in before["varm"].items():
        np.testing.assert_array_equal(np.asarray(after.varm[k]), v)
    assert before["uns"] <= set(after.uns.keys())


def test_round_trip_keeps_every_field_and_survives_h5ad(pbmc, tmp_path):
    adata = pbmc.copy()
    before = _snapshot(adata)
    assert de.tl.diffmap(adata) is None
    de.tl.dpt(adata)
    _assert_kept(before, adata)
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    _assert_kept(before, back)
    np.testing.assert_array_equal(back.obsm["X_diffmap"], adata.obsm["X_diffmap"])
    np.testing.assert_array_equal(back.obs["dpt_pseudotime"], adata.obs["dpt_pseudotime"])
    assert back.uns["diffembed"]["source"] == "obsp['distances']"
    assert back.uns["diffembed"]["bandwidth_method"] == "adaptive"
    np.testing.assert_allclose(back.uns["diffembed"]["eigenvalues"], adata.uns["diffmap_evals"][1:])


def test_layout_is_scanpys(pbmc):
    adata = pbmc.copy()
    model = de.tl.diffmap(adata, n_comps=8, use_rep="X_pca", return_model=True)
    B, evals = adata.obsm["X_diffmap"], adata.uns["diffmap_evals"]
    assert B.shape == (adata.n_obs, 8)
    assert evals.shape == (8,)
    assert evals[0] == 1.0
    pi = adata.uns["diffembed"]["stationary_distribution"]
    np.testing.assert_allclose(B[:, 0], np.sqrt(pi))  # trivial column 0, as scanpy
    np.testing.assert_allclose(B.T @ B, np.eye(8), atol=1e-8)  # unit-norm, orthogonal
    np.testing.assert_allclose(B[:, 1:] / B[:, [0]], model.eigenvectors_, rtol=1e-10)
    np.testing.assert_allclose(adata.obsm["X_diffembed"], model.embedding_)
    assert adata.uns["diffembed"]["source"] == "obsm['X_pca']"


def test_scanpy_plots_our_output(pbmc):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adata = pbmc.copy()
    de.tl.diffmap(adata)
    ax = sc.pl.diffmap(adata, components="2,3", color="bulk_labels", show=False)
    ax = ax[0] if isinstance(ax, list) else ax
    offsets = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    assert offsets.shape == (adata.n_obs, 2)
    got = np.sort(offsets, axis=0)
    np.testing.assert_allclose(got, np.sort(adata.obsm["X_diffmap"][:, [1, 2]], axis=0),
                               rtol=1e-6)
    ax2 = sc.pl.embedding(adata, "X_diffembed", color="louvain", show=False)
    assert len(np.vstack([c.get_offsets() for c in ax2.collections])) >= adata.n_obs
    plt.close("all")


def test_use_rep_and_graph_paths_fit_what_they_say(pbmc):
    a = pbmc.copy()
    de.tl.diffmap(a, n_comps=6, use_rep="X_pca", n_neighbors=12)
    ref = de.DiffusionMap(5, n_neighbors=12, bandwidth="adaptive", random_state=0)
    ref.fit(pbmc.obsm["X_pca"])
    np.testing.assert_allclose(a.uns["diffmap_evals"][1:], ref.eigenvalues_, rtol=1e-10)

    b = pbmc.copy()
    with pytest.warns(UserWarning, match=r"n_neighbors=30 is ignored: the scanpy graph fixes "
                                         r"the neighbours \(9 per cell, self excluded\)"):
        de.tl.diffmap(b, n_comps=6, n_neighbors=30)
    ref = de.DiffusionMap(5, n_neighbors=9, metric="precomputed", bandwidth="adaptive",
                          random_state=0).fit(pbmc.obsp["distances"])
    np.testing.assert_allclose(b.uns["diffmap_evals"][1:], ref.eigenvalues_, rtol=1e-10)
    assert b.uns["diffembed"]["source"] == "obsp['distances']"
    assert b.uns["diffembed"]["knn_method"] == "precomputed"


def test_copy_returns_a_new_object_and_leaves_the_input(pbmc):
    adata = pbmc.copy()
    out = de.tl.diffmap(adata, copy=True)
    assert out is not adata
    assert "X_diffmap" in out.obsm
    assert "X_diffmap" not in adata.obsm


def test_dpt_agrees_with_scanpy_on_pbmc68k(pbmc):
    ref = pbmc.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.diffmap(ref)
        sc.tl.dpt(ref)
    # same diffusion map (scanpy's), our DPT formula: measured Spearman 0.966
    ours = ref.copy()
    de.tl.dpt(ours)
    rho = spearmanr(ref.obs["dpt_pseudotime"], ours.obs["dpt_pseudotime"])[0]
    assert rho >= 0.93
    assert ours.uns["iroot"] == ref.uns["iroot"]
    assert ours.uns["diffembed"]["dpt"]["n_eigenpairs"] == 14
    # whole pipeline (our kernel on scanpy's graph): medians per cell type, measured 0.53;
    # scanpy against itself with method='gauss' or n_neighbors=30 gives 0.73 (docs/scanpy.md)
    full = pbmc.copy()
    de.tl.diffmap(full)
    de.tl.dpt(full)
    df = full.obs.assign(ref=ref.obs["dpt_pseudotime"]).groupby("bulk_labels", observed=True)
    med = df[["ref", "dpt_pseudotime"]].median()
    assert spearmanr(med["ref"], med["dpt_pseudotime"])[0] >= 0.45
    cd34 = full.obs["bulk_labels"] == "CD34+"
    assert full.obs["dpt_pseudotime"][cd34].median() < 0.1  # the root's own group starts


def test_dpt_on_thin_branches_follows_true_time(thin_branches):
    adata, time = thin_branches
    root = int(np.argmin(time))
    for n_comps in (3, 10, 20):
        a = adata.copy()
        de.tl.diffmap(a, n_comps=n_comps)
        de.tl.dpt(a, root=root)
        assert spearmanr(a.obs["dpt_pseudotime"], time)[0] >= 0.95, n_comps  # measured 0.999
    b = adata.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.diffmap(b)
    de.tl.dpt(b, root=root)  # our DPT on scanpy's own diffusion map
    assert spearmanr(b.obs["dpt_pseudotime"], time)[0] >= 0.95  # measured 0.999


def test_dpt_root_by_label_and_scanpy_iroot(thin_branches):
    adata, time = thin_branches
    a = adata.copy()
    de.tl.dpt(a, root_label="stem", groupby="branch")  # runs de.tl.diffmap first
    assert time[a.uns["iroot"]] < 0.05
    assert spearmanr(a.obs["dpt_pseudotime"], time)[0] >= 0.95
    b = a.copy()
    b.uns["iroot"] = int(np.argmin(time))
    de.tl.dpt(b)
    assert b.obs["dpt_pseudotime"].iloc[int(np.argmin(time))] == 0.0


def test_tree_and_smooth_write_obs_and_obsm(pbmc):
    a = pbmc.copy()
    de.tl.tree(a, n_clusters=(2, 5), use_rep="X_pca")
    assert a.obs["diffembed_tree_2"].nunique() == 2
    assert a.obs["diffembed_tree_5"].nunique() == 5
    assert a.uns["diffembed_tree"]["linkage"].shape == (a.n_obs - 1, 4)
    de.tl.smooth(a, use_rep="X_pca")
    Y = a.obsm["X_pca_smoothed"]
    assert Y.shape == a.obsm["X_pca"].shape
    assert a.uns["diffembed_smooth"]["graph"] == "obsp['connectivities']"
    # smoothing over the cell graph pulls every cell towards its neighbours
    assert np.linalg.norm(Y - Y.mean(0)) < np.linalg.norm(a.obsm["X_pca"] - a.obsm["X_pca"].mean(0))


def test_errors_name_the_problem_and_the_fix(pbmc):
    a = pbmc.copy()
    with pytest.raises(InputError, match=r"use_rep='X_foo' is not in adata.obsm \(it holds: "
                                         r"X_pca, X_umap\)"):
        de.tl.diffmap(a, use_rep="X_foo")
    with pytest.raises(InputError, match=r"Give use_rep= .* or neighbors_key= .*, not both"):
        de.tl.diffmap(a, use_rep="X_pca", neighbors_key="neighbors")
    with pytest.raises(InputError, match=r"adata.uns has no 'nbrs' entry: run "
                                         r"sc.pp.neighbors\(adata, key_added='nbrs'\) first"):
        de.tl.diffmap(a, neighbors_key="nbrs")
    with pytest.raises(InputError, match="expects an AnnData as first argument, got ndarray"):
        de.tl.diffmap(np.zeros((5, 2)))
    with pytest.raises(InputError, match=r"n_comps=1 is out of range: it must be >= 2"):
        de.tl.diffmap(a, n_comps=1)
    b = pbmc.copy()
    del b.uns["iroot"]
    de.tl.diffmap(b, n_comps=4)
    with pytest.raises(InputError, match=r"No root cell: pass root= .* adata.uns\['iroot'\]"):
        de.tl.dpt(b)
    with pytest.raises(InputError, match="groupby='nope' is not an obs column"):
        de.tl.dpt(b, root_label="CD34+", groupby="nope")
    with pytest.raises(InputError, match=r"n_dcs=9 is out of range: it must be between 2 and 4"):
        de.tl.dpt(b, n_dcs=9, root=0)


# ------------------------------------------------------------------------------ CLI .h5ad
def _cells_file(path):
    X, time, branch = branching_trajectory(500, dim=60, noise=0.02, seed=6)
    adata = ad.AnnData(X.astype(np.float32))
    adata.obs_names = [f"cell{i}" for i in range(500)]
    adata.obs["cell_type"] = np.where(branch == 0, "stem", np.where(branch == 1, "a", "b"))
    adata.obs["time"] = time
    U, S, _ = np.linalg.svd(X - X.mean(0), full_matrices=False)
    adata.obsm["X_pca"] = U[:, :10] * S[:10]
    adata.uns["note"] = "kept"
    adata.write_h5ad(path)
    return adata


def _invoke(*args):
    from typer.testing import CliRunner

    from diffembed.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_reads_h5ad_and_writes_h5ad_with_pseudotime(tmp_path):
    src = _cells_file(tmp_path / "cells.h5ad")
    out = tmp_path / "out"
    result = _invoke("map", tmp_path / "cells.h5ad", "--use-rep", "X_pca", "--label",
                     "cell_type", "--root-label", "stem", "--format", "h5ad", "--no-report",
                     "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    back = ad.read_h5ad(out / "embedding.h5ad")
    assert back.uns["note"] == "kept"  # started from the input file: its fields are kept
    np.testing.assert_array_equal(back.obsm["X_pca"], src.obsm["X_pca"])
    assert list(back.obs_names[:2]) == ["cell0", "cell1"]
    assert back.obsm["X_diffmap"].shape == (500, 11)
    assert back.uns["diffmap_evals"][0] == 1.0
    assert back.uns["diffembed"]["source"] == "obsm['X_pca']"
    assert back.uns["iroot"] == back.uns["diffembed"]["dpt"]["root"]
    assert src.obs["time"].iloc[back.uns["iroot"]] < 0.05
    assert spearmanr(back.obs["dpt_pseudotime"], src.obs["time"])[0] >= 0.95
    from diffembed.io import load_model

    model = load_model(out / "model")
    np.testing.assert_allclose(back.obsm["X_diffmap"][:, 1:] / back.obsm["X_diffmap"][:, [0]],
                               model.eigenvectors_, rtol=1e-9)
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input"]["use_rep"] == "X_pca"
    assert manifest["dpt"]["root_label"] == "stem"
    assert "embedding.h5ad" in manifest["outputs"]


def test_cli_h5ad_default_representation_and_errors(tmp_path):
    _cells_file(tmp_path / "cells.h5ad")
    result = _invoke("map", tmp_path / "cells.h5ad", "--root", 3, "--no-report", "-o",
                     tmp_path / "o1", "--quiet", "--n-components", 4)
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "o1" / "embedding.parquet")
    assert table.column("id").to_pylist()[:1] == ["cell0"]
    assert table.column("dpt_pseudotime").to_pylist()[3] == 0.0
    assert json_load(tmp_path / "o1" / "manifest.json")["input"]["n_features"] == 10  # X_pca

    bad = _invoke("map", tmp_path / "cells.h5ad", "--use-rep", "X_umap", "-o", tmp_path / "o2")
    assert bad.exit_code == 2
    assert "--use-rep 'X_umap' is not in obsm of cells.h5ad (obsm keys: X_pca; or X)" in \
        " ".join(bad.output.split())
    bad = _invoke("map", tmp_path / "cells.h5ad", "--root-label", "stem", "-o", tmp_path / "o3")
    assert bad.exit_code == 2
    assert "--root-label needs --label COLUMN" in " ".join(bad.output.split())
    bad = _invoke("map", "--dataset", "swiss-roll", "--use-rep", "X_pca", "-o", tmp_path / "o4")
    assert bad.exit_code == 2
    assert "--use-rep selects an obsm entry of an .h5ad INPUT" in " ".join(bad.output.split())


def test_cli_h5ad_export_without_anndata_input(tmp_path):
    out = tmp_path / "roll"
    result = _invoke("map", "--dataset", "swiss-roll", "--n-samples", 300, "--no-report",
                     "--format", "h5ad", "-o", out, "--quiet", "--n-components", 3)
    assert result.exit_code == 0, result.output
    back = ad.read_h5ad(out / "embedding.h5ad")
    assert back.n_obs == 300
    assert back.n_vars == 0
    assert back.obsm["X_diffembed"].shape == (300, 3)
    assert "X_diffmap" in back.obsm
    assert "dpt_pseudotime" not in back.obs


def json_load(path):
    import json

    return json.loads(path.read_text())


def test_cli_h5ad_export_of_a_landmark_run(tmp_path):
    _cells_file(tmp_path / "cells.h5ad")
    out = tmp_path / "lm"
    result = _invoke("map", tmp_path / "cells.h5ad", "--use-rep", "X_pca", "--landmarks", 200,
                     "--format", "h5ad", "--no-report", "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    back = ad.read_h5ad(out / "embedding.h5ad")
    assert back.uns["diffembed"]["method"] == "LandmarkDiffusionMap"
    assert back.uns["diffembed"]["n_landmarks"] == 200
    B, lam = back.obsm["X_diffmap"], back.uns["diffmap_evals"][1:]
    np.testing.assert_allclose(B[:, 0], 1 / np.sqrt(500))  # π unknown off the landmarks: 1/n
    # ψ recovered from the layout reproduces the run's coordinates ψ λ^t (t = 1)
    np.testing.assert_allclose(B[:, 1:] / B[:, [0]] * lam, back.obsm["X_diffembed"], rtol=1e-9)


def test_read_table_dispatches_h5ad(tmp_path):
    from diffembed.io.readers import read_table

    src = _cells_file(tmp_path / "cells.h5ad")
    X, labels, ids, names = read_table(tmp_path / "cells.h5ad", label="cell_type")
    np.testing.assert_allclose(X, src.obsm["X_pca"], rtol=1e-6)  # 60 genes > 50: X_pca
    assert names[:2] == ["X_pca_1", "X_pca_2"]
    assert list(labels[:3]) == list(src.obs["cell_type"][:3])
    assert ids[0] == "cell0"
    with pytest.raises(InputError, match=r"cells\.h5ad is AnnData: it has no columns to pick"):
        read_table(tmp_path / "cells.h5ad", columns=["a"])
