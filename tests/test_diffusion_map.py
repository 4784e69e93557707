from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import spearmanr
from sklearn.datasets import make_moons, make_swiss_roll
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import KNeighborsTransformer

import diffembed as de
from diffembed.exceptions import DisconnectedGraphError, InputError, NumericalError
from tests import reference


@pytest.fixture(scope="module")
def swiss_roll():
    X, t = make_swiss_roll(5000, random_state=0)
    return X, t


@pytest.fixture(scope="module")
def swiss_roll_fit(swiss_roll):
    X, _ = swiss_roll
    return de.DiffusionMap(n_components=4, random_state=0).fit(X)


# ------------------------------------------------------------------ dense reference
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("solver", ["dense", "arpack", "shift_invert"])
def test_matches_textbook_reference(small_cloud, alpha, solver):
    eps, k, m, t = 0.4, 6, 5, 2.0
    dm = de.DiffusionMap(
        m,
        n_neighbors=k,
        alpha=alpha,
        bandwidth=eps,
        t=t,
        knn="exact",
        eigen_solver=solver,
        random_state=0,
    ).fit(small_cloud)
    vals, psi, coords, pi, P = reference.diffusion_map(small_cloud, k, eps, alpha, m, t)
    np.testing.assert_allclose(dm.eigenvalues_, vals, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dm.stationary_distribution_, pi, rtol=1e-8)
    np.testing.assert_allclose(
        dm.eigenvectors_, reference.align_signs(dm.eigenvectors_, psi), atol=1e-8
    )
    np.testing.assert_allclose(
        dm.embedding_, reference.align_signs(dm.embedding_, coords), atol=1e-8
    )
    np.testing.assert_allclose(
        dm.affinity_.toarray(), reference.knn_gaussian_kernel(small_cloud, k, eps), rtol=1e-12
    )
    # spectral identities: P psi = lambda psi, pi P = pi, sum(pi psi^2) = 1, lambda in (-1, 1)
    np.testing.assert_allclose(P @ dm.eigenvectors_, dm.eigenvectors_ * dm.eigenvalues_, atol=1e-8)
    np.testing.assert_allclose(pi @ P, pi, atol=1e-14)
    np.testing.assert_allclose((pi[:, None] * dm.eigenvectors_**2).sum(axis=0), 1.0, rtol=1e-8)
    assert np.all(np.abs(dm.eigenvalues_) < 1)


def test_adaptive_bandwidth_matches_reference(small_cloud):
    dm = de.DiffusionMap(4, n_neighbors=6, bandwidth="adaptive", knn="exact", random_state=0).fit(
        small_cloud
    )
    K = reference.knn_adaptive_kernel(small_cloud, 6)
    P = reference.markov_from_kernel(K, 1.0)
    vals, vecs = reference.right_eigenpairs(P, 4)
    np.testing.assert_allclose(dm.eigenvalues_, vals[1:], rtol=1e-8)
    np.testing.assert_allclose(
        dm.eigenvectors_, reference.align_signs(dm.eigenvectors_, vecs[:, 1:]), atol=1e-8
    )
    assert dm.local_scales_.shape == (60,)
    assert dm.bandwidth_ == pytest.approx(np.median(dm.local_scales_) ** 2)


def test_auto_bandwidth_is_reported_and_used(small_cloud):
    dm = de.DiffusionMap(3, n_neighbors=6, bandwidth="bgh", random_state=0).fit(small_cloud)
    fixed = de.DiffusionMap(3, n_neighbors=6, bandwidth=dm.bandwidth_, random_state=0).fit(
        small_cloud
    )
    np.testing.assert_allclose(dm.eigenvalues_, fixed.eigenvalues_, rtol=1e-12)
    assert dm.bandwidth_ > 0


def test_time_t_without_refit(small_cloud):
    dm = de.DiffusionMap(4, n_neighbors=6, t=1, random_state=0).fit(small_cloud)
    np.testing.assert_allclose(dm.transform_at(0), dm.eigenvectors_)
    np.testing.assert_allclose(dm.transform_at(3.5), dm.eigenvectors_ * dm.eigenvalues_**3.5)
    np.testing.assert_allclose(dm.transform_at(1), dm.embedding_)
    np.testing.assert_allclose(dm.timescales_, -1 / np.log(dm.eigenvalues_))
    with pytest.raises(InputError, match=r"t=-1\.0 is out of range"):
        dm.transform_at(-1)


def test_named_constructors():
    assert de.DiffusionMap.laplace_beltrami(3).alpha == 1.0
    assert de.DiffusionMap.fokker_planck(3).alpha == 0.5
    assert de.DiffusionMap.graph_laplacian(3, n_neighbors=7).get_params()["n_neighbors"] == 7
    assert de.DiffusionMap.graph_laplacian(3).alpha == 0.0


# ------------------------------------------------------------------- known answers
def test_swiss_roll_recovers_roll_parameter(swiss_roll, swiss_roll_fit):
    _, t = swiss_roll
    rho = spearmanr(swiss_roll_fit.embedding_[:, 0], t)[0]
    assert abs(rho) >= 0.99
    assert 1.7 < swiss_roll_fit.intrinsic_dimension_ < 2.3


def test_nystrom_reproduces_training_points(swiss_roll, swiss_roll_fit):
    X, _ = swiss_roll
    again = swiss_roll_fit.transform(X[:1000])
    for j in range(2):
        r = np.corrcoef(again[:, j], swiss_roll_fit.embedding_[:1000, j])[0, 1]
        assert r >= 0.999


def test_nystrom_held_out_points(swiss_roll, swiss_roll_fit):
    X, t = swiss_roll
    train, test = np.arange(4000), np.arange(4000, 5000)
    dm = de.DiffusionMap(n_components=4, random_state=0).fit(X[train])
    out = dm.transform(X[test])
    for j in range(2):
        r = np.corrcoef(out[:, j], swiss_roll_fit.embedding_[test, j])[0, 1]
        assert abs(r) >= 0.99, (j, r)
    assert abs(spearmanr(out[:, 0], t[test])[0]) >= 0.99


def test_nystrom_far_point_is_finite(small_cloud):
    dm = de.DiffusionMap(3, n_neighbors=6, random_state=0).fit(small_cloud)
    far = small_cloud[:1] + 1e4
    out = dm.transform(far)
    assert np.all(np.isfinite(out))


def test_circle_gives_eigenvalue_pairs():
    theta = np.linspace(0, 2 * np.pi, 600, endpoint=False)
    X = np.c_[np.cos(theta), np.sin(theta)]
    dm = de.DiffusionMap(6, n_neighbors=10, random_state=0).fit(X)
    lam = dm.eigenvalues_
    np.testing.assert_allclose(lam[0], lam[1], rtol=1e-8)
    np.testing.assert_allclose(lam[2], lam[3], rtol=1e-8)
    np.testing.assert_allclose(lam[4], lam[5], rtol=1e-8)
    assert lam[1] - lam[2] > 100 * abs(lam[0] - lam[1])
    # first pair is (cos, sin) of the angle: the 2-D embedding is a circle
    radius = np.linalg.norm(dm.eigenvectors_[:, :2], axis=1)
    assert radius.std() / radius.mean() < 1e-3
    # Laplace-Beltrami eigenvalues on the circle go as m^2: (1 - lambda) ratios 1 : 4 : 9
    decay = 1 - lam[[0, 2, 4]]
    np.testing.assert_allclose(decay / decay[0], [1, 4, 9], rtol=0.05)


def test_clusters_recover_moons():
    X, y = make_moons(600, noise=0.1, random_state=0)  # connected graph
    # A global bandwidth: the sweep's ε nearly cuts the moons apart (ARI 1.0). The self-tuning
    # default keeps the touching tips joined, and k-means on 2 coordinates scores ARI 0.64.
    labels = de.diffusion_clusters(X, 2, n_neighbors=10, random_state=0, bandwidth="bgh")
    assert adjusted_rand_score(y, labels) > 0.95
    # plain k-means on the raw coordinates cannot separate the moons
    from sklearn.cluster import KMeans

    raw = KMeans(2, n_init=10, random_state=0).fit_predict(X)
    assert adjusted_rand_score(y, raw) < 0.6


def test_clusters_from_fitted_model(small_cloud):
    dm = de.DiffusionMap(3, n_neighbors=6, random_state=0).fit(small_cloud)
    labels = de.diffusion_clusters(dm, 3, random_state=0)
    assert set(labels) == {0, 1, 2}


def test_same_random_state_same_output(swiss_roll):
    X, _ = swiss_roll
    a = de.DiffusionMap(3, random_state=7).fit_transform(X[:3000])
    b = de.DiffusionMap(3, random_state=7).fit_transform(X[:3000])
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ input formats
def test_precomputed_dense_and_sparse_match_features(small_cloud):
    common = {"n_neighbors": 6, "bandwidth": 0.4, "random_state": 0}
    base = de.DiffusionMap(4, **common).fit(small_cloud)
    D = reference.pairwise_distances(small_cloud)
    dense = de.DiffusionMap(4, metric="precomputed", **common).fit(D)
    G = KNeighborsTransformer(n_neighbors=6, mode="distance").fit_transform(small_cloud)
    sparse = de.DiffusionMap(4, metric="precomputed", **common).fit(G)
    for other in (dense, sparse):
        np.testing.assert_allclose(other.eigenvalues_, base.eigenvalues_, rtol=1e-10)
        np.testing.assert_allclose(other.embedding_, base.embedding_, atol=1e-10)
    # out-of-sample with distances to the training points
    new = small_cloud[:5] + 0.01
    D_new = np.sqrt(((new[:, None, :] - small_cloud[None]) ** 2).sum(-1))
    np.testing.assert_allclose(dense.transform(D_new), base.transform(new), atol=1e-10)


def test_sparse_feature_input(small_cloud):
    a = de.DiffusionMap(3, n_neighbors=6, random_state=0).fit_transform(small_cloud)
    b = de.DiffusionMap(3, n_neighbors=6, random_state=0).fit_transform(sp.csr_matrix(small_cloud))
    # scikit-learn computes sparse Euclidean distances through dot products (~1e-8 rounding)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_duplicates_are_reported_and_kept(small_cloud):
    X = np.vstack([small_cloud, small_cloud[:4]])
    # a global ε: with the self-tuning kernel, a point whose k-th neighbour ties between a point
    # and its duplicate keeps only one of them, which moves the pair apart by up to ~2 %
    # (the same tie moves them by ~2e-8 with the sweep's ε)
    with pytest.warns(UserWarning, match="8 points have exact duplicates"):
        dm = de.DiffusionMap(3, n_neighbors=6, bandwidth="bgh", random_state=0).fit(X)
    assert dm.n_duplicates_ == 8
    np.testing.assert_allclose(dm.embedding_[:4], dm.embedding_[60:], atol=1e-7)


# ----------------------------------------------------------------- disconnected
@pytest.fixture
def two_blobs(rng):
    return np.vstack([rng.normal(0, 1, (80, 2)), rng.normal(100, 1, (50, 2))])


def test_disconnected_raises_with_sizes(two_blobs):
    with pytest.raises(
        DisconnectedGraphError, match=r"2 connected components \(sizes 80, 50\)"
    ) as info:
        de.DiffusionMap(3, n_neighbors=5, disconnected="raise").fit(two_blobs)
    assert info.value.component_sizes == [80, 50]
    assert "disconnected='largest'" in str(info.value)
    assert "disconnected='auto'" in str(info.value)


def test_disconnected_auto_is_the_default_and_says_so(two_blobs):
    with pytest.warns(UserWarning, match=r"2 connected components \(sizes 80, 50\); each is "):
        dm = de.DiffusionMap(3, n_neighbors=5, random_state=0).fit(two_blobs)
    assert np.isfinite(dm.embedding_).all()  # every row, so the next sklearn step works
    assert dm.component_trivial_eigenvalues_.shape == (2,)
    np.testing.assert_allclose(dm.component_trivial_eigenvalues_, 1.0, atol=1e-10)
    assert (dm.eigenvalues_ < 1 - 1e-6).all()  # the trivial pairs are dropped
    explicit = de.DiffusionMap(3, n_neighbors=5, disconnected="components", random_state=0)
    np.testing.assert_array_equal(explicit.fit_transform(two_blobs), dm.embedding_)
    # each coordinate lives on one component and is 0 on the other
    on_first = np.abs(dm.embedding_[:80]).sum(axis=0) > 0
    on_second = np.abs(dm.embedding_[80:]).sum(axis=0) > 0
    assert not (on_first & on_second).any()


def test_disconnected_largest(two_blobs):
    with pytest.warns(UserWarning, match="embedding the largest"):
        dm = de.DiffusionMap(3, n_neighbors=5, disconnected="largest", random_state=0).fit(
            two_blobs
        )
    assert np.isnan(dm.embedding_[80:]).all()
    assert np.isfinite(dm.embedding_[:80]).all()
    alone = de.DiffusionMap(3, n_neighbors=5, random_state=0).fit(two_blobs[:80])
    np.testing.assert_allclose(dm.eigenvalues_, alone.eigenvalues_, rtol=1e-10)
    np.testing.assert_allclose(dm.stationary_distribution_[:80], alone.stationary_distribution_)
    out = dm.transform(two_blobs[:5] + 0.01)
    np.testing.assert_allclose(out, alone.transform(two_blobs[:5] + 0.01), atol=1e-10)


def test_disconnected_components_merges_spectra(two_blobs):
    dm = de.DiffusionMap(
        4, n_neighbors=5, bandwidth="bgh", disconnected="components", random_state=0
    ).fit(two_blobs)
    a = de.DiffusionMap(4, n_neighbors=5, bandwidth=dm.bandwidth_, random_state=0).fit(
        two_blobs[:80]
    )
    b = de.DiffusionMap(4, n_neighbors=5, bandwidth=dm.bandwidth_, random_state=0).fit(
        two_blobs[80:]
    )
    expected = np.sort(np.r_[a.eigenvalues_, b.eigenvalues_])[::-1][:4]
    np.testing.assert_allclose(dm.eigenvalues_, expected, rtol=1e-8)
    assert dm.n_connected_components_ == 2
    np.testing.assert_allclose(dm.stationary_distribution_.sum(), 1.0)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), "NaN or infinite values in 1 row"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), "NaN or infinite"),
        (np.empty((0, 3)), "0 sample"),
        (np.ones((1, 3)), "1 sample"),
        (np.array([["a", "b"], ["c", "d"]]), "must be numeric"),
        (np.arange(5.0), "must be 2-D"),
    ],
)
def test_bad_input_messages(X, message):
    with pytest.raises(InputError, match=message):
        de.DiffusionMap(1, n_neighbors=1).fit(X)


def test_constant_column_is_refused():
    model = de.DiffusionMap(2, n_neighbors=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the duplicate warning comes first
        with pytest.raises(InputError, match="duplicates of each other"):
            model.fit(np.ones((20, 1)))


def test_neighbors_and_components_bounds(small_cloud):
    with pytest.raises(
        InputError, match=r"n_neighbors=60 must be smaller than the number of samples \(60\)"
    ):
        de.DiffusionMap(3, n_neighbors=60).fit(small_cloud)
    with pytest.raises(InputError, match="n_components=59 is too large for 60 samples"):
        de.DiffusionMap(59, n_neighbors=5).fit(small_cloud)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"alpha": 1.5}, "alpha=1.5 is out of range"),
        ({"bandwidth": -2.0}, "bandwidth=-2.0 is not valid"),
        ({"bandwidth": "silverman"}, "bandwidth='silverman' is not supported"),
        ({"n_components": 0}, "n_components=0 is out of range"),
        ({"n_neighbors": 2.5}, "n_neighbors must be an integer"),
        ({"disconnected": "ignore"}, "disconnected='ignore' is not supported"),
        ({"eigen_solver": "magic"}, "eigen_solver='magic' is not supported"),
    ],
)
def test_bad_parameters(small_cloud, params, message):
    with pytest.raises(InputError, match=message):
        de.DiffusionMap(**{"n_components": 2, "n_neighbors": 5, **params}).fit(small_cloud)


def test_tiny_bandwidth_is_a_numerical_error(small_cloud):
    with pytest.raises(NumericalError, match="underflow"):
        de.DiffusionMap(2, n_neighbors=5, bandwidth=1e-12).fit(small_cloud)


def test_transform_checks_features(small_cloud):
    dm = de.DiffusionMap(2, n_neighbors=5, random_state=0).fit(small_cloud)
    with pytest.raises(ValueError, match="X has 2 features, but DiffusionMap is expecting 3"):
        dm.transform(small_cloud[:, :2])
    with pytest.raises(InputError, match="NaN"):
        dm.transform(np.full((1, 3), np.nan))


def test_approximate_neighbours_give_the_same_spectrum(rng):
    s = rng.uniform(0, 4 * np.pi, 3000)
    X = np.c_[np.cos(s), np.sin(s), 0.2 * s, rng.normal(0, 0.02, (3000, 20))]
    exact = de.DiffusionMap(5, knn="exact", random_state=0).fit(X)
    approx = de.DiffusionMap(5, knn="approximate", random_state=0).fit(X)
    assert approx.knn_method_ == "approximate"
    np.testing.assert_allclose(1 - approx.eigenvalues_, 1 - exact.eigenvalues_, rtol=0.02)


def test_low_dimensional_data_uses_shift_invert(swiss_roll_fit):
    # the swiss roll is 2-D: eigenvalues crowd against 1, shift-invert separates them
    from diffembed.spectral import top_eigenpairs

    assert swiss_roll_fit.eigen_solver_ == "shift_invert"
    S = de.DiffusionMap(3, random_state=0).fit(swiss_roll_fit._X_fit[:3000])
    assert S.eigen_solver_ == "shift_invert"
    vals_arpack = top_eigenpairs(_operator_of(S), 4, solver="arpack", random_state=0)[0]
    np.testing.assert_allclose(1 - S.eigenvalues_, 1 - vals_arpack[1:], rtol=1e-6)


def _operator_of(dm):
    from diffembed.operators import diffusion_operator

    return diffusion_operator(dm.affinity_, dm.alpha).S


# ------------------------------------------------------------- numeric range, 1-D
def test_one_dimensional_data_fits_with_the_defaults():
    X = np.random.default_rng(0).normal(size=(2000, 1))
    dm = de.DiffusionMap(random_state=0).fit(X)
    assert np.isfinite(dm.embedding_).all()
    assert dm.eigenvalues_[0] < 1 - 1e-6
    # the first coordinate orders the line (a 1-D manifold)
    assert abs(spearmanr(dm.embedding_[:, 0], X[:, 0])[0]) > 0.999
    bgh = de.DiffusionMap(random_state=0, bandwidth="bgh").fit(X)
    assert abs(spearmanr(bgh.embedding_[:, 0], X[:, 0])[0]) > 0.999


def test_huge_values_are_refused_in_fit_and_transform(small_cloud):
    with pytest.raises(InputError, match=r"magnitude up to 2\.77e\+154: their squared distances "
                       r"overflow float64.*Divide the data by a constant"):
        de.DiffusionMap(3, n_neighbors=6).fit(small_cloud * 1e154)
    dm = de.DiffusionMap(3, n_neighbors=6, random_state=0).fit(small_cloud)
    with pytest.raises(InputError, match=r"fitted data's values are at most 2\.77: check the"):
        dm.transform(small_cloud * 1e154)


def test_tiny_values_are_refused_with_the_reason(small_cloud):
    with pytest.raises(InputError, match=r"magnitude at most 2\.77e-300: their squared distances "
                       r"underflow to zero.*Multiply the data by a constant"):
        de.DiffusionMap(3, n_neighbors=6).fit(small_cloud * 1e-300)


def test_moderate_scales_give_the_same_embedding(small_cloud):
    base = de.DiffusionMap(3, n_neighbors=6, random_state=0).fit_transform(small_cloud)
    for c in (1e-120, 1e120):
        scaled = de.DiffusionMap(3, n_neighbors=6, random_state=0).fit_transform(small_cloud * c)
        np.testing.assert_allclose(scaled, base, atol=1e-8)


def test_numerically_split_kernel_warns_and_names_the_fix():
    # two clusters 1 apart with one point between them: with epsilon 0.005 its edges weigh
    # about exp(-50) ~ 2e-22, so two non-trivial eigenvalues are 1 to machine precision
    rng = np.random.default_rng(0)
    X = np.r_[rng.uniform(0, 1, (150, 1)), rng.uniform(2, 3, (150, 1))]
    X = np.r_[X, [[1.5]]]
    with pytest.warns(UserWarning, match=r"2 non-trivial eigenvalue\(s\) equal 1 within 1e-09 on "
                      r"a connected graph.*Fix: use bandwidth='auto'"):
        dm = de.DiffusionMap(3, n_neighbors=10, bandwidth=0.005, random_state=0).fit(X)
    assert dm.n_connected_components_ == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default has no degenerate pair
        auto = de.DiffusionMap(3, n_neighbors=10, random_state=0).fit(X)
    assert auto.eigenvalues_[0] < 1 - 1e-6


def test_a_fixed_bandwidth_that_splits_the_kernel_names_a_fix_other_than_itself(small_cloud):
    with pytest.raises(NumericalError, match=r"With bandwidth=1e-06 \(epsilon 1e-06\) the kernel "
                       r"weights underflow to zero and split the graph into \d+ pieces\. Use "
                       r"bandwidth='auto' \(the self-tuning kernel, scale-free\)"):
        de.DiffusionMap(3, n_neighbors=6, bandwidth=1e-6).fit(small_cloud)


@pytest.mark.parametrize("scale", [1e-300, 1e150])
def test_precomputed_distances_of_any_scale_give_the_same_default_embedding(small_cloud, scale):
    G = KNeighborsTransformer(n_neighbors=6, mode="distance").fit_transform(small_cloud)
    base = de.DiffusionMap(3, n_neighbors=6, metric="precomputed", random_state=0).fit(G)
    scaled = de.DiffusionMap(3, n_neighbors=6, metric="precomputed", random_state=0).fit(G * scale)
    np.testing.assert_allclose(scaled.embedding_, base.embedding_, atol=1e-10)
    D_new = reference.pairwise_distances(small_cloud)[:5] + 0.01
    np.testing.assert_allclose(scaled.transform(D_new * scale), base.transform(D_new), atol=1e-8)
    with pytest.raises(InputError, match="bandwidth='adaptive', which is scale-free"):
        de.DiffusionMap(3, n_neighbors=6, metric="precomputed", bandwidth="bgh").fit(G * 1e-300)
