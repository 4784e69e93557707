"""LandmarkDiffusionMap: a fit on m landmarks, extended to all n points by Nyström."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
from sklearn.datasets import make_swiss_roll

import diffembed as de
from diffembed.exceptions import InputError
from diffembed.landmarks import choose_landmarks, generator_eigenvalues


@pytest.fixture(scope="module")
def roll():
    X, u = make_swiss_roll(20_000, random_state=0)
    return X, u


@pytest.fixture(scope="module")
def full(roll):
    return de.DiffusionMap(n_components=5, random_state=0).fit(roll[0])


@pytest.fixture(scope="module")
def landmark(roll):
    return de.LandmarkDiffusionMap(n_components=5, landmarks=5000, random_state=0).fit(roll[0])


def test_landmark_fit_recovers_the_roll_parameter(landmark, roll):
    assert landmark.embedding_.shape == (20_000, 5)
    assert abs(ss.spearmanr(landmark.embedding_[:, 0], roll[1])[0]) >= 0.99


def test_generator_eigenvalues_agree_with_the_full_fit(landmark, full):
    # -log(λ)/ε does not depend on the bandwidth: the landmark operator (larger ε) and the full
    # one estimate the same Laplace–Beltrami eigenvalues. Measured ratios 1.01–1.08 at m = n/4.
    ratio = landmark.generator_eigenvalues_ / generator_eigenvalues(full)
    assert np.all(np.abs(ratio - 1) < 0.15), ratio
    # the raw eigenvalues do differ (another ε): the comparison above is not vacuous
    assert landmark.bandwidth_ > 1.5 * full.bandwidth_


def test_landmarks_keep_their_fitted_coordinates_and_others_are_nystrom(landmark, roll):
    inner = landmark.landmark_model_
    idx = landmark.landmark_indices_
    np.testing.assert_allclose(landmark.eigenvectors_[idx], inner.eigenvectors_, atol=0)
    rest = np.setdiff1d(np.arange(len(roll[0])), idx)[:500]
    np.testing.assert_allclose(landmark.embedding_[rest], inner.transform(roll[0][rest]),
                               rtol=1e-10, atol=1e-12)


def test_transform_streams_in_blocks_and_matches_one_shot(landmark, roll):
    X_new = roll[0][:1234] + 0.01
    small_blocks = de.LandmarkDiffusionMap(**{**landmark.get_params(), "block_size": 100})
    small_blocks.landmark_model_ = landmark.landmark_model_  # same fitted model
    np.testing.assert_allclose(small_blocks.transform(X_new),
                               landmark.landmark_model_.transform(X_new), rtol=0, atol=1e-12)


def test_landmarks_above_n_is_a_full_fit(roll):
    X = roll[0][:600]
    lm = de.LandmarkDiffusionMap(n_components=3, landmarks=10_000, random_state=0).fit(X)
    dm = de.DiffusionMap(n_components=3, random_state=0).fit(X)
    np.testing.assert_allclose(lm.eigenvalues_, dm.eigenvalues_, rtol=1e-10)
    assert lm.landmark_indices_.size == 600


@pytest.mark.parametrize("method", ["random", "kmeans++"])
def test_choose_landmarks_is_seeded_sorted_and_unique(roll, method):
    a = choose_landmarks(roll[0], 300, method=method, random_state=1)
    b = choose_landmarks(roll[0], 300, method=method, random_state=1)
    np.testing.assert_array_equal(a, b)
    assert np.all(np.diff(a) > 0)
    assert a.size <= 300


def test_kmeans_plus_plus_spreads_landmarks_more_evenly_than_random(roll):
    X = roll[0]
    from sklearn.neighbors import NearestNeighbors

    def coverage(idx):  # the largest distance from a point to its nearest landmark
        d, _ = NearestNeighbors(n_neighbors=1).fit(X[idx]).kneighbors(X)
        return d.max()

    assert coverage(choose_landmarks(X, 200, method="kmeans++", random_state=0)) < coverage(
        choose_landmarks(X, 200, method="random", random_state=0))


def test_bad_parameters_have_clear_errors(roll):
    X = roll[0][:100]
    with pytest.raises(InputError, match="too few landmarks"):
        de.LandmarkDiffusionMap(landmarks=10, n_neighbors=15).fit(X)
    with pytest.raises(InputError, match="landmark_method"):
        choose_landmarks(X, 10, method="grid")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="more than the 100 rows"):
        choose_landmarks(X, 101)
    with pytest.raises(InputError, match="dense feature vectors"):
        de.LandmarkDiffusionMap(metric="precomputed").fit(X)
    with pytest.raises(InputError, match="block_size"):
        de.LandmarkDiffusionMap(block_size=0).fit(X)
    Xn = X.copy()
    Xn[5, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        de.LandmarkDiffusionMap(n_components=2, landmarks=50, n_neighbors=5).fit(Xn)


def test_saved_landmark_model_is_small_and_transforms_identically(landmark, roll, tmp_path):
    from diffembed.io.persistence import load_model, save_model

    save_model(landmark, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    X_new = roll[0][:300]
    np.testing.assert_allclose(loaded.transform(X_new), landmark.transform(X_new), atol=1e-12)
    size = sum(p.stat().st_size for p in (tmp_path / "m").iterdir())
    assert size < 5000 * 12 * 8  # landmarks + eigenpairs + vectors; the 20k rows are not stored


def test_approximate_search_reports_a_measured_recall():
    from diffembed.neighbors import sample_recall

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 20))
    dm = de.DiffusionMap(n_components=3, knn="approximate", random_state=0).fit(X)
    assert 0.9 <= dm.knn_recall_ <= 1.0
    exact = de.DiffusionMap(n_components=3, knn="exact", random_state=0).fit(X)
    assert exact.knn_recall_ is None
    # the measure can fail: distances of the 15 *farthest* points are not the nearest ones
    from sklearn.neighbors import NearestNeighbors

    far = NearestNeighbors(n_neighbors=3000).fit(X).kneighbors(X)[0][:, -15:]
    assert sample_recall(X, far) < 0.05


@pytest.fixture(scope="module")
def cloud20():
    # a 2-D sheet with small noise in 20 dimensions: "auto" would search it approximately
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 1, (4000, 2))
    X = np.zeros((4000, 20))
    X[:, :2] = t * [10.0, 3.0]
    X[:, 2:] = 0.02 * rng.standard_normal((4000, 18))
    return X


def test_nystrom_pass_with_approximate_search_reports_recall_and_matches_exact(cloud20):
    params = dict(n_components=3, landmarks=600, random_state=0)
    approx = de.LandmarkDiffusionMap(knn="approximate", **params).fit(cloud20)
    exact = de.LandmarkDiffusionMap(knn="exact", **params).fit(cloud20)
    assert approx.nystrom_knn_method_ == "approximate"
    assert 0.95 <= approx.nystrom_knn_recall_ <= 1.0
    assert approx.nystrom_ef_search_ == 32
    assert exact.nystrom_knn_method_ == "exact"
    assert exact.nystrom_knn_recall_ is None
    # against the exact Nyström extension of the same landmark model (its transform searches
    # exactly): equal wherever the two searches find the same landmarks
    reference = approx.landmark_model_.transform(cloud20)
    reference[approx.landmark_indices_] = approx.embedding_[approx.landmark_indices_]
    close = np.all(np.abs(approx.embedding_ - reference) < 1e-8, axis=1)
    assert close.mean() > 0.97
    rho = abs(ss.spearmanr(approx.embedding_[:, 0], cloud20[:, 0])[0])
    assert rho > 0.99


def test_nystrom_search_widens_its_beam_until_the_recall_target(cloud20, monkeypatch):
    import diffembed.landmarks as landmarks_module

    monkeypatch.setattr(landmarks_module, "NYSTROM_MIN_RECALL", 1.01)  # never reached
    lm = de.LandmarkDiffusionMap(n_components=2, landmarks=600, knn="approximate",
                                 random_state=0).fit(cloud20)
    assert lm.nystrom_ef_search_ == landmarks_module.NYSTROM_EF_SEARCH[-1]


def test_out_of_range_rows_outside_the_landmarks_are_refused():
    X = np.random.default_rng(0).normal(size=(400, 3))
    X[-1] *= 1e154  # finite, but its squared distances overflow
    lm = de.LandmarkDiffusionMap(3, landmarks=100, random_state=0)
    with pytest.raises(InputError, match=r"squared distances overflow float64"):
        lm.fit(X)
