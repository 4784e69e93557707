"""Diffusion pseudotime: a dense textbook reference, and the known time of simulated
trajectories (linear and branching, noisy, 30-D) whatever the number of components kept."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

import diffembed as de
from diffembed.exceptions import InputError
from diffembed.pseudotime import (
    dpt,
    dpt_distances,
    dpt_truncation,
    dpt_weights,
    root_from_label,
)

from .trajectories import branching_trajectory, linear_trajectory


def _reference_dpt(K: np.ndarray, alpha: float, root: int) -> np.ndarray:
    """DPT from the fundamental matrix: rows of Z − I, Z = (I − P + 1πᵀ)⁻¹, in the 1/π norm."""
    q = K.sum(axis=1)
    Ka = K / np.outer(q**alpha, q**alpha)
    d = Ka.sum(axis=1)
    P = Ka / d[:, None]
    pi = d / d.sum()
    n = K.shape[0]
    Z = np.linalg.inv(np.eye(n) - P + np.outer(np.ones(n), pi))
    M = Z - np.eye(n)
    diff = (M - M[root]) / np.sqrt(pi)[None, :]
    return np.sqrt((diff**2).sum(axis=1))


def test_dpt_matches_the_fundamental_matrix_reference(small_cloud):
    n = small_cloud.shape[0]
    dm = de.DiffusionMap(n - 2, n_neighbors=8, eigen_solver="dense", random_state=0)
    dm.fit(small_cloud)
    got = dpt(dm, root=5, normalize=False)
    ref = _reference_dpt(dm.affinity_.toarray(), 1.0, 5)
    # one non-trivial pair (the smallest eigenvalue) is left out: n - 2 of n - 1 are kept
    lam_left = dm.eigenvalues_[-1]
    assert got[5] == 0.0
    np.testing.assert_allclose(got, ref, rtol=2e-3, atol=1e-6 * ref.max())
    assert abs(lam_left) < 0.5


@pytest.mark.parametrize("n_comps", [2, 5, 10, 20, 30])
def test_linear_trajectory_ordered_by_true_time(n_comps):
    X, time = linear_trajectory(1500, dim=30, noise=0.03, seed=1)
    dm = de.DiffusionMap(n_comps, random_state=0).fit(X)
    pt = dpt(dm, root=int(np.argmin(time)))
    assert spearmanr(pt, time)[0] >= 0.95  # measured 0.999
    assert pt.min() == 0.0
    assert pt.max() == 1.0


@pytest.mark.parametrize("bandwidth", ["auto", "adaptive"])
@pytest.mark.parametrize("n_comps", [2, 5, 10, 20, 30])
def test_thin_branching_trajectory_ordered_by_true_time(n_comps, bandwidth):
    # noise 0.01 per coordinate: scanpy's tl.dpt gives Spearman -0.24 on this kind of data
    # (docs/scanpy.md): its slowest eigenvalues exceed its 0.9994 cut-off
    X, time, _ = branching_trajectory(1500, dim=30, noise=0.01, seed=2)
    dm = de.DiffusionMap(n_comps, bandwidth=bandwidth, random_state=0).fit(X)
    pt = dpt(dm, root=int(np.argmin(time)))
    assert spearmanr(pt, time)[0] >= 0.95  # measured 0.998


@pytest.mark.parametrize("n_comps", [3, 10, 30])
def test_three_branches_need_three_components(n_comps):
    # a stem and three arms span three directions: n_comps >= tips - 1 = 3
    X, time, _ = branching_trajectory(2000, dim=30, noise=0.06, n_branches=3, seed=3)
    dm = de.DiffusionMap(n_comps, random_state=0).fit(X)
    assert spearmanr(dpt(dm, root=int(np.argmin(time))), time)[0] >= 0.95  # measured 0.984


def test_root_label_picks_the_tip_of_the_group():
    X, time, branch = branching_trajectory(1500, dim=30, noise=0.03, seed=4)
    dm = de.DiffusionMap(10, random_state=0).fit(X)
    labels = np.where(branch == 0, "stem", np.where(branch == 1, "left", "right"))
    root = root_from_label(labels, "stem", dm.eigenvectors_, dm.eigenvalues_)
    assert time[root] < 0.05  # the stem's far end, not an arbitrary stem cell
    pt = dpt(dm, labels=labels, root_label="stem")
    assert pt[root] == 0.0
    assert spearmanr(pt, time)[0] >= 0.95


def test_truncation_is_reported():
    info = dpt_truncation(np.array([0.99, 0.9, 0.5]))
    assert info["n_eigenpairs"] == 3
    assert info["smallest_eigenvalue"] == 0.5
    assert info["max_omitted_weight"] == pytest.approx(1.0)
    assert info["max_omitted_weight_ratio"] == pytest.approx(1.0 / 99.0**2)
    np.testing.assert_allclose(dpt_weights([0.5, -0.5]), [1.0, -1.0 / 3.0])


def test_dpt_errors_name_the_problem(small_cloud):
    dm = de.DiffusionMap(3, n_neighbors=8, random_state=0).fit(small_cloud)
    with pytest.raises(InputError, match=r"root=60 is out of range: it must be between 0 and 59"):
        dpt(dm, root=60)
    with pytest.raises(InputError, match=r"Give exactly one of root= .* neither was given"):
        dpt(dm)
    with pytest.raises(InputError, match="root_label= needs labels="):
        dpt(dm, root_label="a")
    with pytest.raises(InputError,
                       match=r"No fitted point has the label 'c'; the labels are 'a', 'b'"):
        dpt(dm, labels=np.array(["a", "b"] * 30), root_label="c")
    with pytest.raises(InputError, match=r"Eigenvalue 1.0 is outside \[-1, 1\)"):
        dpt_distances(np.ones((4, 2)), np.array([1.0, 0.5]), 0)
    with pytest.raises(InputError, match="2 eigenvalues for 3 eigenvectors"):
        dpt_distances(np.ones((4, 3)), np.array([0.9, 0.5]), 0)
    with pytest.raises(InputError, match="not fitted"):
        dpt(de.DiffusionMap(), root=0)


def test_points_left_out_get_nan_and_root_must_be_fitted():
    psi = np.array([[0.0], [1.0], [np.nan], [2.0]])
    out = dpt_distances(psi, np.array([0.5]), 0)
    np.testing.assert_allclose(out[[0, 1, 3]], [0.0, 1.0, 2.0])
    assert np.isnan(out[2])
    with pytest.raises(InputError, match="root point 2 has no diffusion coordinates"):
        dpt_distances(psi, np.array([0.5]), 2)
    comps = np.array([0, 0, 1, 1])
    assert np.isinf(dpt_distances(np.nan_to_num(psi), np.array([0.5]), 0,
                                  component_labels=comps)[3])


def test_tl_is_lazy_and_names_the_extra_without_anndata():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['anndata'] = None\n"
        "import diffembed as de\n"
        "assert de.pseudotime.dpt is not None and de.tl.diffmap is not None\n"
        "try:\n"
        "    de.tl.diffmap(object())\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == (
        "diffembed.tl needs the optional package anndata: pip install 'diffembed[anndata]'."
    )
