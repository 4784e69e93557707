"""Landmark diffusion maps for very large n: fit on m landmarks, extend to every point.

The operator is built and diagonalised on ``m`` landmarks only (a :class:`DiffusionMap` of the
landmarks, with its own kNN graph, automatic bandwidth and α-normalisation); every other point is
then placed by the Nyström extension of that operator,

.. math:: \\psi_k(x) = \\frac{1}{\\lambda_k} \\sum_{j \\in L} p(x, \\ell_j)\\, \\psi_k(\\ell_j),

block by block, so memory beyond the output stays that of one block. For many rows in more
than 10 dimensions the search of each row's nearest landmarks is approximate (faiss HNSW, its
recall measured against brute force on a sample and reported as ``nystrom_knn_recall_``).
This is the landmark scheme of PHATE and of Nyström-based diffusion maps (Bengio et al. 2004;
Coifman & Lafon 2006 §4). The cost is one m-point fit plus an n × (k + 1) kNN query against
the landmarks: linear in n.

Landmark rule (``landmark_method``):

* ``"random"`` (default): a uniform random subset of the rows. It follows the sampling density,
  which α = 1 removes from the operator; it costs nothing.
* ``"kmeans++"``: rows picked by k-means++ seeding (scikit-learn's ``kmeans_plusplus``) on a
  random subset of ``min(n, 10 m)`` rows: spread-out landmarks that cover sparse regions better.
  Its cost grows like m² · d, so it suits m up to a few thousand.

Eigenvalues of the landmark operator belong to a kernel at the landmarks' bandwidth, which is
larger than a full fit's (the landmarks are sparser). The bandwidth-free quantities agree: the
generator eigenvalues ``-log(λ_k) / ε`` (``generator_eigenvalues_``), which estimate the same
Laplace–Beltrami eigenvalues for α = 1, and the coordinates' ordering along the manifold. The
agreement measured on the benchmark data is in ``docs/scale.md``.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import _progress
from ._api import (
    DiffusionFeaturesOutMixin,
    SaveLoadMixin,
    check_feature_names,
    record_feature_names,
)
from ._repr import SummaryReprMixin
from ._validation import check_data_matrix, check_in, check_int
from .diffusion_checks import check_magnitude
from .diffusion_map import Bandwidth, DiffusionMap, Disconnected, diffusion_coordinates
from .exceptions import InputError
from .knn_recall import query_recall
from .neighbors import FaissHNSWIndex, graph_from_arrays, resolve_knn_method

__all__ = ["LandmarkDiffusionMap", "choose_landmarks"]

LandmarkMethod = Literal["random", "kmeans++"]

#: HNSW beam widths tried, in order, for the Nyström queries against the landmarks.
NYSTROM_EF_SEARCH = (32, 64, 128, 256)
#: The Nyström search widens its beam until the measured recall reaches this.
NYSTROM_MIN_RECALL = 0.95
#: Rows of X sampled to measure the Nyström search's recall against brute force.
NYSTROM_RECALL_QUERIES = 200


def choose_landmarks(
    X: np.ndarray,
    n_landmarks: int,
    *,
    method: LandmarkMethod = "random",
    random_state: int | None = None,
) -> np.ndarray:
    """Row indices of ``n_landmarks`` landmarks of ``X``, sorted.

    Parameters
    ----------
    X
        Data, shape (n, d).
    n_landmarks
        m, at most n.
    method
        ``"random"`` (uniform without replacement) or ``"kmeans++"`` (k-means++ seeding on a
        random subset of ``min(n, 10 m)`` rows; returns rows of ``X``, not centroids).
    random_state
        Seed.

    Returns
    -------
    ndarray of int64, shape (m,)
    """
    n = X.shape[0]
    check_int(n_landmarks, "landmarks", low=2)
    check_in(method, "landmark_method", ("random", "kmeans++"))
    if n_landmarks > n:
        msg = f"landmarks={n_landmarks} is more than the {n} rows of X; use at most {n}."
        raise InputError(msg)
    rng = np.random.default_rng(random_state)
    if method == "random" or n_landmarks == n:
        return np.sort(rng.choice(n, size=n_landmarks, replace=False)).astype(np.int64)
    from sklearn.cluster import kmeans_plusplus

    pool = np.sort(rng.choice(n, size=min(n, 10 * n_landmarks), replace=False))
    seed = int(rng.integers(0, 2**31 - 1))
    _, picked = kmeans_plusplus(np.asarray(X[pool], dtype=np.float64), n_landmarks,
                                random_state=seed)
    return np.sort(pool[np.unique(picked)]).astype(np.int64)


class LandmarkDiffusionMap(
    SummaryReprMixin, SaveLoadMixin, DiffusionFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Diffusion map fitted on ``landmarks`` rows and extended to all rows by Nyström.

    Parameters
    ----------
    n_components
        Number of non-trivial diffusion coordinates.
    landmarks
        Number of landmarks m (capped at n: with m ≥ n this is a full fit).
    landmark_method
        ``"random"`` or ``"kmeans++"`` (see the module docstring).
    n_neighbors, alpha, bandwidth, t, metric, eigen_solver, disconnected, n_jobs
        As in :class:`~diffembed.DiffusionMap`, for the fit on the landmarks. The default
        ``bandwidth="auto"`` is the self-tuning kernel; with ``bandwidth="bgh"`` (the sweep) the
        ε is floored so that the sparser landmark graph cannot split numerically.
    knn
        Neighbour search, as in :class:`~diffembed.DiffusionMap`, for the landmarks' own graph
        (resolved for m rows) *and* for the Nyström pass of all n rows against the landmarks
        (resolved for n rows: ``"auto"`` uses faiss HNSW from 50,000 rows and 11 dimensions,
        with its recall measured on 200 sampled rows, ``nystrom_knn_recall_``).
    block_size
        Rows per Nyström block when embedding all points (memory ≈ block_size × (k + 1)).
    random_state
        Seed for the landmark choice and the eigensolver.

    Attributes
    ----------
    landmark_indices_ : ndarray (m,)
        Rows of the training data used as landmarks.
    landmark_model_ : DiffusionMap
        The diffusion map of the landmarks; it is what ``transform`` uses, and what
        :func:`diffembed.io.persistence.save_model` stores (small: landmarks, eigenpairs,
        normalisation vectors).
    eigenvalues_, bandwidth_, timescales_, intrinsic_dimension_
        Those of the landmark operator.
    knn_method_, knn_recall_
        Those of the landmarks' own kNN graph.
    nystrom_knn_method_ : str
        ``"exact"`` or ``"approximate"``: the search of every row's nearest landmarks.
    nystrom_knn_recall_ : float or None
        For approximate search, its recall against brute force on 200 random rows of ``X``
        (the HNSW beam ``nystrom_ef_search_`` is widened until it is >= 0.95). ``transform``
        of new rows searches exactly, as a saved model does.
    generator_eigenvalues_ : ndarray
        ``-log(λ_k) / ε``: bandwidth-free, comparable with a full fit's.
    embedding_ : ndarray (n, n_components)
        Coordinates of every training row at time ``t`` (landmarks: their fitted values; other
        rows: Nyström).
    eigenvectors_ : ndarray (n, n_components)
        ψ of every training row.

    Examples
    --------
    >>> import diffembed as de
    >>> from sklearn.datasets import make_swiss_roll
    >>> X, _ = make_swiss_roll(5000, random_state=0)
    >>> lm = de.LandmarkDiffusionMap(n_components=2, landmarks=500, random_state=0)
    >>> lm.fit_transform(X).shape
    (5000, 2)
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        landmarks: int = 10_000,
        landmark_method: LandmarkMethod = "random",
        n_neighbors: int = 15,
        alpha: float = 1.0,
        bandwidth: Bandwidth = "auto",
        t: float = 1.0,
        metric: str = "euclidean",
        knn: Literal["auto", "exact", "approximate"] = "auto",
        eigen_solver: Literal["auto", "dense", "arpack", "shift_invert", "lobpcg", "amg"] = "auto",
        disconnected: Disconnected = "auto",
        block_size: int = 100_000,
        n_jobs: int | None = None,
        random_state: int | None = None,
    ) -> None:
        self.n_components = n_components
        self.landmarks = landmarks
        self.landmark_method = landmark_method
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.bandwidth = bandwidth
        self.t = t
        self.metric = metric
        self.knn = knn
        self.eigen_solver = eigen_solver
        self.disconnected = disconnected
        self.block_size = block_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _inner(self) -> DiffusionMap:
        """The DiffusionMap of the landmarks, with every parameter the two classes share."""
        shared = DiffusionMap().get_params().keys()
        return DiffusionMap(**{k: v for k, v in self.get_params().items() if k in shared})

    def fit(self, X: Any, y: Any = None) -> LandmarkDiffusionMap:
        """Choose landmarks, fit their diffusion map, embed every row of ``X``.

        Parameters
        ----------
        X
            Dense data, shape (n_samples, n_features) (a numpy memmap works: only the landmark
            rows and one block at a time are read into memory).
        y
            Ignored.

        Returns
        -------
        self
        """
        check_int(self.landmarks, "landmarks", low=2)
        check_int(self.block_size, "block_size", low=1)
        if self.metric == "precomputed" or sp.issparse(X):
            msg = (
                "LandmarkDiffusionMap needs dense feature vectors (metric='precomputed' and "
                "sparse input are not supported); use DiffusionMap for those."
            )
            raise InputError(msg)
        record_feature_names(self, X)  # feature_names_in_ of a data frame
        X = X.to_numpy() if hasattr(X, "iloc") else X  # a pandas frame: rows by position
        if not hasattr(X, "shape") or getattr(X, "ndim", 0) != 2:
            X = check_data_matrix(X)
        n = X.shape[0]
        m = min(int(self.landmarks), n)
        if m < n and m <= self.n_neighbors + 1:
            msg = (
                f"landmarks={self.landmarks} leaves too few landmarks for "
                f"n_neighbors={self.n_neighbors}; use at least {self.n_neighbors + 2} landmarks."
            )
            raise InputError(msg)
        timings: dict[str, float] = {}
        with _progress.stage("landmarks", timings):
            idx = choose_landmarks(X, m, method=self.landmark_method,
                                   random_state=self.random_state)
            L = check_data_matrix(np.asarray(X[idx], dtype=np.float64), name="the landmarks")
        model = self._inner().fit(L)
        timings.update({f"landmark {k}": v for k, v in model.timings_.items()})
        self.landmark_indices_ = idx
        self.landmark_model_ = model
        self.n_features_in_ = model.n_features_in_
        psi = np.empty((n, self.n_components), dtype=np.float64)
        with _progress.stage("nystrom", timings):
            from .distributed.batch import psi_block

            index = self._nystrom_index(model, X)
            for start in range(0, n, self.block_size):
                stop = min(n, start + self.block_size)
                block = check_data_matrix(np.asarray(X[start:stop], dtype=np.float64),
                                          name=f"rows {start}:{stop} of X", min_samples=1)
                check_magnitude(block, name=f"rows {start}:{stop} of X")
                psi[start:stop] = (psi_block(model, block) if index is None
                                   else nystrom_psi(model, index, block))
        psi[idx] = model.eigenvectors_  # landmarks keep their fitted values
        self.eigenvectors_ = psi
        self.embedding_ = diffusion_coordinates(psi, model.eigenvalues_, self.t)
        self.fitted_mask_ = np.isfinite(psi).all(axis=1)
        # the landmark graph's diagnostics, under the names DiffusionMap uses
        for name in ("n_connected_components_", "n_duplicates_", "knn_method_",
                     "knn_recall_", "eigen_solver_"):
            setattr(self, name, getattr(model, name, None))
        self.timings_ = timings
        return self

    def _nystrom_index(self, model: DiffusionMap, X: Any) -> Any:
        """HNSW index of the landmarks for the Nyström pass, or None for exact search.

        Sets ``nystrom_knn_method_``, ``nystrom_knn_recall_`` and ``nystrom_ef_search_``. The
        beam width starts at :data:`NYSTROM_EF_SEARCH` [0] and is doubled until the recall
        measured on :data:`NYSTROM_RECALL_QUERIES` random rows of ``X`` (against brute force)
        reaches :data:`NYSTROM_MIN_RECALL`.
        """
        n, d = X.shape
        method = resolve_knn_method(self.knn, n, d, self.metric, False)
        self.nystrom_knn_method_ = method
        self.nystrom_knn_recall_ = None
        self.nystrom_ef_search_ = None
        if method != "approximate":
            return None
        L = model._X_fit  # the fitted landmark rows (all of them unless disconnected='largest')
        k = min(model.n_neighbors + 1, L.shape[0])
        index = FaissHNSWIndex(L, metric=self.metric, n_threads=self.n_jobs)
        rng = np.random.default_rng(self.random_state)
        rows = np.sort(rng.choice(n, size=min(n, NYSTROM_RECALL_QUERIES), replace=False))
        Q = np.asarray(X[rows], dtype=np.float64)
        for ef in NYSTROM_EF_SEARCH:
            index.ef_search = ef
            recall = query_recall(L, Q, index.query(Q, k)[0], metric=self.metric)
            if recall >= NYSTROM_MIN_RECALL:
                break
        self.nystrom_knn_recall_ = recall
        self.nystrom_ef_search_ = ef
        return index

    # fitted results of the landmark operator
    @property
    def eigenvalues_(self) -> np.ndarray:
        check_is_fitted(self, "landmark_model_")
        return self.landmark_model_.eigenvalues_

    @property
    def bandwidth_(self) -> float:
        check_is_fitted(self, "landmark_model_")
        return self.landmark_model_.bandwidth_

    @property
    def timescales_(self) -> np.ndarray:
        check_is_fitted(self, "landmark_model_")
        return self.landmark_model_.timescales_

    @property
    def intrinsic_dimension_(self) -> float:
        check_is_fitted(self, "landmark_model_")
        return self.landmark_model_.intrinsic_dimension_

    @property
    def generator_eigenvalues_(self) -> np.ndarray:
        check_is_fitted(self, "landmark_model_")
        return generator_eigenvalues(self.landmark_model_)

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit and return the coordinates of every row at time ``t``."""
        return self.fit(X).embedding_.copy()

    def transform_at(self, t: float) -> np.ndarray:
        """Coordinates of the training rows at another time ``t`` (no refit)."""
        check_is_fitted(self, "landmark_model_")
        return diffusion_coordinates(self.eigenvectors_, self.eigenvalues_, t)

    def transform(self, X: Any, t: float | None = None) -> np.ndarray:
        """Nyström coordinates of new rows, block by block (see ``block_size``)."""
        check_is_fitted(self, "landmark_model_")
        check_feature_names(self, X)
        X = X.to_numpy() if hasattr(X, "iloc") else X
        from .distributed.batch import transform_array

        return transform_array(self.landmark_model_, X, t=t, block_size=self.block_size)

    _loads_as = "DiffusionMap"  # load(path) returns the landmarks' DiffusionMap

    def get_fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The landmark model's state: a saved landmark fit loads as its :class:`DiffusionMap`."""
        check_is_fitted(self, "landmark_model_")
        return self.landmark_model_.get_fitted_state()

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


def nystrom_psi(model: DiffusionMap, index: Any, block: np.ndarray) -> np.ndarray:
    """Nyström eigenfunctions ψ of ``block`` through a given search ``index`` of the landmarks.

    The same extension as :meth:`DiffusionMap.transform` at ``t = 0`` (the ``n_neighbors + 1``
    nearest fitted points, the fitted bandwidth and densities), with the neighbour search done
    by ``index`` (built on ``model``'s fitted rows) instead of the model's own exact index.
    """
    n_fit = int(model.fitted_mask_.sum())
    dist, ind = index.query(block, min(model.n_neighbors + 1, n_fit))
    return model._nystrom_psi(graph_from_arrays(dist, ind, n_index=n_fit))


def generator_eigenvalues(model: DiffusionMap) -> np.ndarray:
    """``-log(λ_k) / ε`` of a fitted diffusion map: comparable across bandwidths.

    For α = 1 and small ε, ``P ≈ exp(ε Δ / 4)`` on the manifold, so this estimates a quarter of
    the Laplace–Beltrami eigenvalues whatever ε (and hence whatever the number of landmarks).
    Undefined (NaN) for the adaptive kernel, which has no single ε.
    """
    lam = np.asarray(model.eigenvalues_, dtype=np.float64)
    eps = model.bandwidth_
    if eps is None or not np.isfinite(eps):
        return np.full_like(lam, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -np.log(np.clip(lam, 1e-300, None)) / eps
    if np.any(lam <= 0):
        warnings.warn("Non-positive eigenvalues have no generator eigenvalue (set to inf).",
                      RuntimeWarning, stacklevel=2)
    return out
