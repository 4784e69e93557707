"""The estimator API a scikit-learn user expects: set_output, feature names, clusterer
protocol of the hierarchy, save/load methods, ``de.load`` and the package's ``dir()``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

import diffembed as de
from diffembed.exceptions import InputError
from diffembed.smoothing import DiffusionSmoother

SET_OUTPUT_CHECKS = (
    "check_set_output_transform",
    "check_set_output_transform_pandas",
    "check_global_output_transform_pandas",
    "check_transformer_get_feature_names_out",
    "check_transformer_get_feature_names_out_pandas",
)
TRANSFORMERS = (
    de.DiffusionMap(n_components=2, n_neighbors=5, disconnected="components", random_state=0),
    de.LandmarkDiffusionMap(n_components=2, n_neighbors=5, landmarks=20,
                            disconnected="components", random_state=0),
    DiffusionSmoother(n_neighbors=5),
)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    index = pd.Index([f"r{i}" for i in range(X.shape[0])], name="row")
    return pd.DataFrame(X, columns=["a", "b", "c"], index=index)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(c, 0.3, (50, 2)) for c in (0, 4, 8)])


# ------------------------------------------------------------------ feature names, set_output
@pytest.mark.parametrize("check", SET_OUTPUT_CHECKS)
@pytest.mark.parametrize("estimator", TRANSFORMERS, ids=lambda e: type(e).__name__)
def test_set_output_checks_of_scikit_learn(estimator, check):
    """scikit-learn's set_output and feature-name checks (not run by parametrize_with_checks)."""
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)


def test_diffusion_map_pandas_output_and_names(frame):
    dm = de.DiffusionMap(n_components=2, n_neighbors=8, random_state=0)
    dense = de.DiffusionMap(n_components=2, n_neighbors=8, random_state=0).fit_transform(frame)
    assert dm.set_output(transform="pandas") is dm
    out = dm.fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["dc1", "dc2"]
    assert list(out.index) == list(frame.index)
    np.testing.assert_allclose(out.to_numpy(), dense)
    assert dm.feature_names_in_.tolist() == ["a", "b", "c"]
    assert dm.get_feature_names_out().tolist() == ["dc1", "dc2"]
    assert dm.get_feature_names_out(["a", "b", "c"]).tolist() == ["dc1", "dc2"]
    new = dm.transform(frame.iloc[:5])
    assert list(new.columns) == ["dc1", "dc2"]
    assert list(new.index) == list(frame.index[:5])
    with pytest.raises(ValueError, match=r"input_features is not equal to feature_names_in_"):
        dm.get_feature_names_out(["x", "y", "z"])


def test_block_transforms_of_a_named_model_stay_quiet(frame):
    import warnings

    from diffembed.distributed.batch import transform_array

    dm = de.DiffusionMap(n_components=2, n_neighbors=8, random_state=0).fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = transform_array(dm, frame.to_numpy()[:10], block_size=4)
    np.testing.assert_allclose(out, dm.transform(frame.iloc[:10]))


def test_diffusion_map_names_without_frame_and_unfitted(frame):
    dm = de.DiffusionMap(n_components=3, n_neighbors=8, random_state=0)
    with pytest.raises(Exception, match="not fitted yet"):
        dm.get_feature_names_out()
    dm.fit(frame.to_numpy())
    assert not hasattr(dm, "feature_names_in_")
    assert dm.get_feature_names_out().tolist() == ["dc1", "dc2", "dc3"]


def test_landmark_map_records_and_checks_names(frame):
    lm = de.LandmarkDiffusionMap(n_components=2, landmarks=60, n_neighbors=8, random_state=0)
    out = lm.set_output(transform="pandas").fit_transform(frame)
    assert lm.feature_names_in_.tolist() == ["a", "b", "c"]
    assert list(out.columns) == ["dc1", "dc2"]
    assert out.shape == (120, 2)
    assert list(lm.transform(frame.iloc[:4]).index) == list(frame.index[:4])
    renamed = frame.rename(columns={"a": "z"})
    with pytest.raises(ValueError, match="feature names should match those that were passed"):
        lm.transform(renamed)


def test_smoother_keeps_input_names(frame):
    sm = DiffusionSmoother(graph="knn", n_neighbors=5, random_state=0)
    out = sm.set_output(transform="pandas").fit_transform(frame)
    assert sm.feature_names_in_.tolist() == ["a", "b", "c"]
    assert sm.get_feature_names_out().tolist() == ["a", "b", "c"]
    assert list(out.columns) == ["a", "b", "c"]
    assert list(out.index) == list(frame.index)
    plain = DiffusionSmoother(graph="knn", n_neighbors=5, random_state=0).fit(frame.to_numpy())
    assert plain.get_feature_names_out().tolist() == ["x0", "x1", "x2"]


def test_pca_result_is_a_transformer(frame):
    from diffembed.embed import pca

    res = pca(frame, 2)
    assert res.feature_names_in_.tolist() == ["a", "b", "c"]
    assert res.n_features_in_ == 3
    assert res.get_feature_names_out().tolist() == ["pc1", "pc2"]
    out = res.set_output(transform="pandas").transform(frame)
    assert list(out.columns) == ["pc1", "pc2"]
    assert list(out.index) == list(frame.index)
    np.testing.assert_allclose(out.to_numpy(), res.vectors, atol=1e-10)
    assert not hasattr(pca(frame.to_numpy(), 2), "feature_names_in_")


def test_lsa_result_is_a_transformer():
    from diffembed.embed import lsa

    docs = ["cats chase mice", "dogs chase cats", "stocks fell sharply", "markets fell"]
    res = lsa(docs, n_components=2, stop_words=None)
    assert res.get_feature_names_out().tolist() == ["lsa1", "lsa2"]
    out = res.set_output(transform="pandas").transform(docs)
    assert list(out.columns) == ["lsa1", "lsa2"]
    np.testing.assert_allclose(out.to_numpy(), res.document_vectors, atol=1e-10)


# ------------------------------------------------------------------ the hierarchy as a clusterer
@parametrize_with_checks([de.DiffusionHierarchy(n_null=0, random_state=0)])
def test_hierarchy_passes_the_clusterer_checks(estimator, check):
    check(estimator)


def test_hierarchy_n_clusters_labels_and_fit_predict(blobs):
    h = de.DiffusionHierarchy(n_clusters=3, n_null=0, random_state=0)
    labels = h.fit_predict(blobs)
    assert np.bincount(labels).tolist() == [50, 50, 50]
    np.testing.assert_array_equal(labels, h.labels_)
    np.testing.assert_array_equal(labels, h.cut(n_clusters=3))
    assert h.diagnostics_["labels"] == "cut at n_clusters=3"
    from sklearn.base import is_clusterer

    assert is_clusterer(h)


def test_hierarchy_records_and_saves_feature_names(tmp_path, frame):
    h = de.DiffusionHierarchy(n_clusters=2, n_null=0, random_state=0).fit(frame)
    assert h.feature_names_in_.tolist() == ["a", "b", "c"]
    h.save(tmp_path / "t")
    assert de.load(tmp_path / "t").feature_names_in_.tolist() == ["a", "b", "c"]
    assert not hasattr(h.fit(frame.to_numpy()), "feature_names_in_")


def test_hierarchy_default_labels_are_the_most_salient_level(blobs):
    h = de.DiffusionHierarchy(random_state=0).fit(blobs)
    assert h.salient_levels_.size > 0
    np.testing.assert_array_equal(h.labels_, h.level(int(h.salient_levels_[0])))
    assert np.unique(h.labels_).size == 3


def test_hierarchy_without_salient_level_is_one_cluster_and_fit_predict_warns(blobs):
    import warnings

    h = de.DiffusionHierarchy(n_null=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fit alone stays quiet: the tree is what most use
        h.fit(blobs)
    assert h.labels_.tolist() == [0] * 150
    assert h.diagnostics_["labels"] == "one cluster: the salience test is off (n_null=0)"
    with pytest.warns(UserWarning, match=r"labels_ is one cluster.*Pass n_clusters=k"):
        labels = h.fit_predict(blobs)
    assert labels.tolist() == [0] * 150


def test_hierarchy_n_clusters_is_checked(blobs):
    with pytest.raises(InputError, match=r"n_clusters=151 .* at most 150"):
        de.DiffusionHierarchy(n_clusters=151, n_null=0).fit(blobs)
    with pytest.raises(InputError, match="n_clusters"):
        de.DiffusionHierarchy(n_clusters=0, n_null=0).fit(blobs)


# ------------------------------------------------------------------ save / load
def test_diffusion_map_save_load_methods(tmp_path, frame):
    dm = de.DiffusionMap(n_components=2, n_neighbors=8, random_state=0).fit(frame)
    assert dm.save(tmp_path / "m") == tmp_path / "m"
    back = de.DiffusionMap.load(tmp_path / "m")
    np.testing.assert_allclose(back.transform(frame.iloc[:7]), dm.transform(frame.iloc[:7]))
    assert back.feature_names_in_.tolist() == ["a", "b", "c"]
    info = json.loads((tmp_path / "m" / "model.json").read_text())
    assert info["feature_names"] == ["a", "b", "c"]
    anything = de.load(tmp_path / "m")
    assert type(anything) is de.DiffusionMap
    np.testing.assert_allclose(anything.eigenvalues_, dm.eigenvalues_)


def test_landmark_map_saves_its_landmark_model(tmp_path, frame):
    lm = de.LandmarkDiffusionMap(n_components=2, landmarks=60, n_neighbors=8, random_state=0)
    lm.fit(frame)
    lm.save(tmp_path / "lm")
    back = de.load(tmp_path / "lm")
    assert type(back) is de.DiffusionMap
    np.testing.assert_allclose(back.transform(frame.iloc[:9]), lm.transform(frame.iloc[:9]))
    assert back.feature_names_in_.tolist() == ["a", "b", "c"]


def test_hierarchy_save_load(tmp_path, blobs):
    h = de.DiffusionHierarchy(n_clusters=3, n_null=2, random_state=0).fit(blobs)
    h.save(tmp_path / "tree")
    back = de.DiffusionHierarchy.load(tmp_path / "tree")
    assert de.load(tmp_path / "tree").get_params() == h.get_params()
    for name in ("linkage_", "levels_", "level_merges_", "n_clusters_per_level_",
                 "scale_per_level_", "persistence_", "salient_levels_", "null_persistence_",
                 "salience_", "embedding_", "component_labels_", "labels_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(h, name), err_msg=name)
    assert back.salience_threshold_ == h.salience_threshold_
    assert back.n_connected_components_ == h.n_connected_components_
    np.testing.assert_array_equal(back.cut(n_clusters=5), h.cut(n_clusters=5))
    P0, pi0 = h.coarse_operator(h.closest_level(3))
    P1, pi1 = back.coarse_operator(back.closest_level(3))
    np.testing.assert_allclose(P1, P0)
    np.testing.assert_allclose(pi1, pi0)
    np.testing.assert_allclose(back.coarse_level(-2).input_positions,
                               h.coarse_level(-2).input_positions)
    np.testing.assert_allclose(back.aggregate(blobs[:, 0], level=-2),
                               h.aggregate(blobs[:, 0], level=-2))


def test_smoother_save_load(tmp_path, frame):
    sm = DiffusionSmoother(graph="knn", n_neighbors=5, operator="heat", t=2.0).fit(frame)
    sm.save(tmp_path / "s")
    back = DiffusionSmoother.load(tmp_path / "s")
    np.testing.assert_allclose(back.transform(frame), sm.transform(frame))
    assert back.feature_names_in_.tolist() == ["a", "b", "c"]
    assert back.params_resolved_ == sm.params_resolved_
    assert type(de.load(tmp_path / "s")) is DiffusionSmoother


def test_smoother_with_a_matrix_graph_saves_the_graph_not_the_parameter(tmp_path):
    import scipy.sparse as sp

    rng = np.random.default_rng(1)
    A = sp.random(30, 30, density=0.2, random_state=1, format="csr")
    A = A + A.T
    X = rng.normal(size=(30, 4))
    sm = DiffusionSmoother(graph=A, alpha=0.3).fit(X)
    sm.save(tmp_path / "s")
    back = de.load(tmp_path / "s")
    np.testing.assert_allclose(back.transform(X), sm.transform(X))
    assert back.graph is None  # not data: fit needs it given again
    doc = json.loads((tmp_path / "s" / "model.json").read_text())
    assert doc["meta"]["params_not_saved"] == ["graph"]


def test_save_refuses_unfitted_and_existing(tmp_path, blobs):
    with pytest.raises(InputError, match="not fitted yet; call fit"):
        de.DiffusionHierarchy().save(tmp_path / "x")
    with pytest.raises(InputError, match="not fitted yet; call fit"):
        DiffusionSmoother().save(tmp_path / "y")
    h = de.DiffusionHierarchy(n_clusters=2, n_null=0, random_state=0).fit(blobs)
    h.save(tmp_path / "t")
    with pytest.raises(InputError, match="overwrite=True"):
        h.save(tmp_path / "t")
    h.save(tmp_path / "t", overwrite=True)


def test_de_load_explains_what_it_reads(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        de.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty.* is not a saved diffembed object.*model\.json"):
        de.load(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.json").write_text(json.dumps({"format": "diffembed.model",
                                                "format_version": 1, "class": "Foo",
                                                "meta": {"params": {}}}))
    with pytest.raises(InputError, match=r"'Foo'.*DiffusionHierarchy"):
        de.load(bad)


def test_de_load_reads_a_map_output_folder(tmp_path, frame):
    from diffembed.io.persistence import save_model

    dm = de.DiffusionMap(n_components=2, n_neighbors=8, random_state=0).fit(frame)
    out = tmp_path / "run"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    save_model(dm, out / "model")
    np.testing.assert_allclose(de.load(out).eigenvalues_, dm.eigenvalues_)


def test_de_load_reads_an_hspace_result(tmp_path):
    from diffembed.latents.hspace import HSpaceResult

    h = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    table = {"prompt": np.array(["a red disc", "a blue square"]), "seed": np.array([0, 1]),
             "prompt_id": np.array([0, 1])}
    HSpaceResult(h, [900, 500, 100], table).save(tmp_path / "hs")
    back = de.load(tmp_path / "hs")
    assert type(back) is HSpaceResult
    np.testing.assert_array_equal(back.h, h)
    assert back.prompts == ["a red disc", "a blue square"]


def test_hierarchy_load_refuses_tampered_arrays(tmp_path, blobs):
    h = de.DiffusionHierarchy(n_clusters=2, n_null=0, random_state=0).fit(blobs)
    h.save(tmp_path / "t")
    with np.load(tmp_path / "t" / "arrays.npz") as npz:
        arrays = dict(npz)
    arrays["linkage_"] = arrays["linkage_"][:10]
    np.savez(tmp_path / "t" / "arrays.npz", **arrays)
    with pytest.raises(InputError, match=r"linkage_ has shape \(10, 4\), expected \(149, 4\)"):
        de.load(tmp_path / "t")


def test_hierarchy_load_refuses_an_unknown_member_before_reading_it(tmp_path, blobs):
    """The hierarchy/smoother loader shares the model loader's header-first npz reader."""
    h = de.DiffusionHierarchy(n_clusters=2, n_null=0, random_state=0).fit(blobs)
    h.save(tmp_path / "t")
    with np.load(tmp_path / "t" / "arrays.npz") as npz:
        arrays = dict(npz)
    arrays["bomb"] = np.zeros((64, 2**18))  # 128 MiB of zeros, a few hundred KiB compressed
    np.savez_compressed(tmp_path / "t" / "arrays.npz", **arrays)
    with pytest.raises(InputError, match=r"model file tampered .*unknown member 'bomb.npy'"):
        de.load(tmp_path / "t")


def _edit_json(folder, change):
    path = folder / "model.json"
    doc = json.loads(path.read_text())
    change(doc["meta"])
    path.write_text(json.dumps(doc))


def test_tampered_parameters_are_refused(tmp_path, blobs, frame):
    h = de.DiffusionHierarchy(n_clusters=2, n_null=0, random_state=0).fit(blobs)
    h.save(tmp_path / "t")
    _edit_json(tmp_path / "t", lambda m: m["params"].update(n_neighbors="many"))
    with pytest.raises(InputError, match=r"parameter: n_neighbors must be an integer, got 'many'"):
        de.load(tmp_path / "t")
    sm = DiffusionSmoother(graph="knn", n_neighbors=5).fit(frame)
    sm.save(tmp_path / "s")
    _edit_json(tmp_path / "s", lambda m: m["params_resolved_"].update(alpha=7))
    with pytest.raises(InputError, match=r"holds an invalid parameter: .*alpha"):
        de.load(tmp_path / "s")
    sm.save(tmp_path / "s2")
    with pytest.raises(InputError, match="holds a saved DiffusionSmoother, not a DiffusionMap"):
        de.DiffusionMap.load(tmp_path / "s2")


# ------------------------------------------------------------------ the package namespace
def test_dir_lists_every_public_name():
    names = dir(de)
    for name in ("DiffusionSmoother", "embed", "metrics", "datasets", "evaluate", "latents",
                 "plot", "report", "load", "DiffusionMap", "__version__"):
        assert name in names, name
    for name in names:
        if not name.startswith("_"):
            getattr(de, name)


def test_weat_words_import_as_documented():
    from diffembed.latents import weat_words
    from diffembed.latents.weat import weat_words as original

    assert weat_words is original
    from diffembed.latents import weat

    rng = np.random.default_rng(0)
    words = ["x1", "x2", "y1", "y2", "a1", "a2", "b1", "b2"]
    vectors = {w: rng.normal(size=5) for w in words}
    got = weat_words(vectors, ["x1", "x2"], ["y1", "y2"], ["a1", "a2"], ["b1", "b2"])
    want = weat(*(np.array([vectors[w] for w in pair]) for pair in
                  (["x1", "x2"], ["y1", "y2"], ["a1", "a2"], ["b1", "b2"])))
    assert got.effect_size == pytest.approx(want.effect_size, abs=1e-12)
    import diffembed.latents as lat

    assert "weat_words" in lat.__all__
    assert "weat_words" in dir(lat)
