"""The diffusion map (Coifman & Lafon 2006) as a scikit-learn estimator.

Pipeline: kNN distance graph (:mod:`~diffembed.neighbors`) → Gaussian kernel with an automatic,
fixed or adaptive bandwidth (:mod:`~diffembed.kernels`) → α-normalised Markov operator
(:mod:`~diffembed.operators`) → top eigenpairs of its symmetric conjugate
(:mod:`~diffembed.spectral`) → diffusion coordinates :math:`\\psi_k \\lambda_k^t`.
"""

from __future__ import annotations

import warnings
from numbers import Real
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _progress
from ._api import DiffusionFeaturesOutMixin, SaveLoadMixin, named
from ._repr import SummaryReprMixin
from ._validation import check_data_matrix, check_in, check_int, check_real
from .dimension import mle_dimension
from .exceptions import DisconnectedGraphError, InputError, NumericalError
from .kernels import (
    adaptive_gaussian_kernel,
    estimate_bandwidth,
    gaussian_kernel,
    knn_bandwidth,
    kth_neighbor_distances,
)
from .neighbors import (
    NeighborIndex,
    build_index,
    count_duplicates,
    graph_components,
    graph_from_arrays,
    graph_from_precomputed,
    precomputed_rows_to_graph,
    resolve_knn_method,
    sample_recall,
)
from .nystrom import nystrom_weights
from .operators import diffusion_operator
from .spectral import SOLVERS, component_eigenpairs, resolve_solver, top_eigenpairs

__all__ = ["DiffusionMap", "diffusion_coordinates", "timescales"]

Bandwidth = Literal["auto", "adaptive", "knn"] | float
Disconnected = Literal["raise", "largest", "components"]


def timescales(eigenvalues: np.ndarray) -> np.ndarray:
    """Relaxation times ``-1 / log(lambda)``: inf for λ >= 1, NaN for λ <= 0."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    out = np.full(lam.shape, np.nan)
    inside = (lam > 0) & (lam < 1)
    out[inside] = -1.0 / np.log(lam[inside])
    out[lam >= 1] = np.inf
    return out


def _power(eigenvalues: np.ndarray, t: float) -> np.ndarray:
    """``lambda ** t`` keeping the sign of negative eigenvalues (warns for fractional t)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if t == 0:
        return np.ones_like(lam)
    if np.any(lam < 0) and float(t) != int(t):
        warnings.warn(
            f"Negative eigenvalues raised to the fractional power t={t}; using "
            "sign(lambda) * |lambda|**t. Use an integer t or more neighbours.",
            RuntimeWarning,
            stacklevel=3,
        )
    return np.sign(lam) * np.abs(lam) ** t


def diffusion_coordinates(
    eigenvectors: np.ndarray, eigenvalues: np.ndarray, t: float
) -> np.ndarray:
    """Diffusion coordinates at time t: ``eigenvectors * eigenvalues ** t`` (column-wise)."""
    return np.asarray(eigenvectors) * _power(eigenvalues, t)[None, :]


class DiffusionMap(
    SummaryReprMixin, SaveLoadMixin, DiffusionFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Diffusion map embedding with a sparse kNN Gaussian kernel.

    The kernel is ``k(x, y) = exp(-||x - y||^2 / epsilon)`` evaluated on the ``n_neighbors``
    nearest neighbours of every point (union-symmetrised, self-affinity 1). After α-normalisation
    the Markov matrix ``P`` is diagonalised through its symmetric conjugate; the trivial pair
    (λ₀ = 1, constant ψ₀) is dropped and the coordinates at time ``t`` are ``ψ_k λ_k^t``.

    Parameters
    ----------
    n_components
        Number of non-trivial diffusion coordinates.
    n_neighbors
        Neighbours per point in the kNN graph (self not counted); must be < n_samples.
    alpha
        Density normalisation in [0, 1]: 0 graph Laplacian, 0.5 Fokker–Planck, 1
        Laplace–Beltrami (the default: the geometry, free of the sampling density). See the
        named constructors :meth:`graph_laplacian`, :meth:`fokker_planck` and
        :meth:`laplace_beltrami`.
    bandwidth
        ``"auto"`` (default): ε chosen by the Berry–Giannakis–Harlim sweep (steepest slope of
        log Σ K against log ε on the kNN distances). A float: ε itself, in squared distance
        units. ``"adaptive"``: self-tuning per-point scales, ``exp(-d_ij^2 / (σ_i σ_j))`` with
        σ_i the distance to the ``n_neighbors``-th neighbour. ``"knn"``: a global ε, the
        squared median of σ_i (for noisy high-dimensional data, where the sweep can pick an ε that
        nearly disconnects sparse spots; see :func:`~diffembed.kernels.knn_bandwidth`). The
        value used is in ``bandwidth_``.
    t
        Diffusion time (>= 0) of the coordinates returned by ``fit_transform``/``transform``;
        other times are available after fitting through :meth:`transform_at`.
    metric
        Distance for the kNN search (any scikit-learn metric for exact search), or
        ``"precomputed"``: ``X`` is then a square dense distance matrix or a sparse distance
        graph in :class:`~sklearn.neighbors.KNeighborsTransformer` format.
    knn
        ``"auto"``, ``"exact"`` (scikit-learn) or ``"approximate"`` (faiss HNSW).
    eigen_solver
        ``"auto"``, ``"dense"``, ``"arpack"``, ``"shift_invert"``, ``"lobpcg"`` or ``"amg"``
        (LOBPCG with an algebraic-multigrid preconditioner; see :mod:`diffembed.spectral`).
        ``"auto"`` picks by size and intrinsic dimension: ``"amg"`` above 50,000 points.
    eigen_tol
        Accuracy of the iterative eigensolvers; 0 means each solver's default (machine
        precision for ARPACK, a residual of 1e-8 for LOBPCG, and for ``"amg"`` a residual of
        1e-2 of the k-th eigenvalue of ``I - P``).
    disconnected
        What to do when the neighbour graph has several connected components: ``"raise"``
        (default) a :class:`~diffembed.exceptions.DisconnectedGraphError` naming them;
        ``"largest"`` fit the largest component only (other rows get NaN coordinates);
        ``"components"`` diagonalise each component separately and merge the spectra,
        dropping every component's trivial pair.
    n_jobs
        Threads for the neighbour search.
    random_state
        Seed for the eigensolver start vector and the bandwidth sweep's row sample.

    Attributes
    ----------
    eigenvalues_ : ndarray of shape (n_components,)
        Largest non-trivial eigenvalues of the Markov matrix, decreasing.
    eigenvectors_ : ndarray of shape (n_samples, n_components)
        Matching right eigenvectors ψ, normalised so that ``sum(pi * psi**2) == 1``.
    embedding_ : ndarray of shape (n_samples, n_components)
        Diffusion coordinates at time ``t``: ``eigenvectors_ * eigenvalues_ ** t``.
    stationary_distribution_ : ndarray of shape (n_samples,)
        π with ``π P = π``, summing to 1.
    timescales_ : ndarray of shape (n_components,)
        ``-1 / log(eigenvalues_)``.
    bandwidth_ : float
        ε used by the kernel; for ``bandwidth="adaptive"`` the median of σ_i².
    local_scales_ : ndarray of shape (n_samples,) or None
        σ_i for the adaptive kernel.
    intrinsic_dimension_ : float
        Manifold dimension, Levina–Bickel maximum-likelihood estimate on the kNN distances
        (see :mod:`diffembed.dimension`).
    bandwidth_sweep_ : dict
        ``{"epsilons", "slopes", "dimension"}`` of the Berry–Giannakis–Harlim sweep (its
        dimension, twice the steepest slope, is biased low by the kNN truncation).
    density_ : ndarray of shape (n_samples,)
        Kernel row sums q before α-normalisation (used by :meth:`transform`).
    affinity_ : scipy.sparse.csr_matrix
        The symmetric kernel matrix.
    n_duplicates_ : int
        Points that have an exact duplicate among their neighbours.
    n_connected_components_ : int
        Components of the neighbour graph.
    component_labels_ : ndarray of shape (n_samples,)
        Component of each point (0 is the largest).
    knn_method_ : str
        ``"exact"``, ``"approximate"`` or ``"precomputed"``.
    knn_recall_ : float or None
        Recall of the approximate search against brute force on 200 sampled rows.
    knn_retried_ : int
        Rows the approximate search lost (HNSW did not reach their own point, so their
        neighbours were wrong) and searched again, wider and then exactly
        (see :meth:`diffembed.neighbors.FaissHNSWIndex.self_neighbors`).
    eigen_solver_ : str
        The eigensolver used (what ``"auto"`` resolved to).
    timings_ : dict
        Wall seconds per stage.

    References
    ----------
    R. R. Coifman and S. Lafon, "Diffusion maps", Appl. Comput. Harmon. Anal. 21 (2006).
    T. Berry, D. Giannakis and J. Harlim, "Nonparametric forecasting of low-dimensional
    dynamical systems", Phys. Rev. E 91 (2015).

    Examples
    --------
    >>> import diffembed as de
    >>> from sklearn.datasets import make_swiss_roll
    >>> X, t = make_swiss_roll(1000, random_state=0)
    >>> dm = de.DiffusionMap(n_components=2, random_state=0)
    >>> dm.fit_transform(X).shape
    (1000, 2)
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        n_neighbors: int = 15,
        alpha: float = 1.0,
        bandwidth: Bandwidth = "auto",
        t: float = 1.0,
        metric: str = "euclidean",
        knn: Literal["auto", "exact", "approximate"] = "auto",
        eigen_solver: Literal["auto", "dense", "arpack", "shift_invert", "lobpcg", "amg"] = "auto",
        eigen_tol: float = 0.0,
        disconnected: Disconnected = "raise",
        n_jobs: int | None = None,
        random_state: int | None = None,
    ) -> None:
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.bandwidth = bandwidth
        self.t = t
        self.metric = metric
        self.knn = knn
        self.eigen_solver = eigen_solver
        self.eigen_tol = eigen_tol
        self.disconnected = disconnected
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ----------------------------------------------------------------- named constructors
    @classmethod
    def laplace_beltrami(cls, n_components: int = 10, **params: Any) -> DiffusionMap:
        """α = 1: the Laplace–Beltrami operator, independent of the sampling density."""
        return cls(n_components, alpha=1.0, **params)

    @classmethod
    def fokker_planck(cls, n_components: int = 10, **params: Any) -> DiffusionMap:
        """α = ½: the backward Fokker–Planck operator of a Langevin diffusion."""
        return cls(n_components, alpha=0.5, **params)

    @classmethod
    def graph_laplacian(cls, n_components: int = 10, **params: Any) -> DiffusionMap:
        """α = 0: the normalised graph Laplacian (random-walk normalisation)."""
        return cls(n_components, alpha=0.0, **params)

    # ------------------------------------------------------------------------- checks
    def _check_params(self) -> None:
        check_int(self.n_components, "n_components", low=1)
        check_int(self.n_neighbors, "n_neighbors", low=1)
        check_real(self.alpha, "alpha", low=0.0, high=1.0)
        check_real(self.t, "t", low=0.0)
        check_real(self.eigen_tol, "eigen_tol", low=0.0)
        check_in(self.knn, "knn", ("auto", "exact", "approximate"))
        check_in(self.eigen_solver, "eigen_solver", SOLVERS)
        check_in(self.disconnected, "disconnected", ("raise", "largest", "components"))
        bw = self.bandwidth
        if isinstance(bw, str):
            check_in(bw, "bandwidth", ("auto", "adaptive", "knn"))
        elif isinstance(bw, bool) or not isinstance(bw, Real) or not (np.isfinite(bw) and bw > 0):
            msg = (
                f"bandwidth={bw!r} is not valid: use 'auto', 'adaptive', 'knn' or a positive float "
                "epsilon (the kernel is exp(-d^2/epsilon))."
            )
            raise InputError(msg)

    def _validate_fit_input(self, X: Any) -> Any:
        if self.metric == "precomputed":
            if sp.issparse(X):
                validate_data(self, X, accept_sparse="csr", ensure_min_samples=2, dtype=np.float64)
                return X
            arr = check_data_matrix(X, name="the precomputed distance matrix")
            validate_data(self, arr, ensure_min_samples=2)
            return arr
        if sp.issparse(X):
            X = sp.csr_matrix(X, dtype=np.float64)
            if X.shape[0] < 2:
                msg = f"X has {X.shape[0]} sample(s); at least 2 are needed."
                raise InputError(msg)
            if not np.isfinite(X.data).all():
                msg = "X contains NaN or infinite values. Drop or impute those entries first."
                raise InputError(msg)
            return validate_data(self, X, accept_sparse="csr", dtype=np.float64)
        arr = check_data_matrix(X)
        return validate_data(self, named(X, arr), dtype=np.float64)  # keeps feature names

    # --------------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None) -> DiffusionMap:
        """Fit the diffusion map on ``X``.

        Parameters
        ----------
        X
            Data of shape (n_samples, n_features), dense or sparse; or distances when
            ``metric="precomputed"``.
        y
            Ignored.

        Returns
        -------
        self
        """
        self._check_params()
        X = self._validate_fit_input(X)
        n = X.shape[0]
        if self.n_neighbors >= n:
            msg = (
                f"n_neighbors={self.n_neighbors} must be smaller than the number of samples "
                f"({n}); use n_neighbors={max(1, min(15, n - 1))} or fewer."
            )
            raise InputError(msg)
        if self.n_components > n - 2:
            msg = (
                f"n_components={self.n_components} is too large for {n} samples: at most "
                f"n_samples - 2 = {n - 2} non-trivial coordinates exist. Use "
                f"n_components={max(1, min(10, n - 2))}."
            )
            raise InputError(msg)
        timings: dict[str, float] = {}

        with _progress.stage("neighbors", timings):
            distances = self._fit_neighbors(X)
        self.n_duplicates_ = count_duplicates(distances)
        if self.n_duplicates_:
            warnings.warn(
                f"{self.n_duplicates_} points have exact duplicates; they get affinity 1 with "
                "each other (kept, not dropped).",
                UserWarning,
                stacklevel=2,
            )
        n_comp, labels = graph_components(distances)
        self.n_connected_components_ = n_comp
        self.component_labels_ = labels
        fitted = np.ones(n, dtype=bool)
        if n_comp > 1:
            fitted = self._handle_disconnected(labels, n)

        with _progress.stage("bandwidth", timings):
            sub = distances[fitted][:, fitted] if not fitted.all() else distances
            sweep = estimate_bandwidth(sub, random_state=self.random_state)
        self.intrinsic_dimension_ = mle_dimension(sub)
        self.bandwidth_sweep_ = {
            "epsilons": sweep.epsilons,
            "slopes": sweep.slopes,
            "dimension": sweep.dimension,
        }

        with _progress.stage("kernel", timings):
            K = self._fit_kernel(sub, sweep.epsilon, n_comp)
        self.affinity_ = K

        with _progress.stage("operator", timings):
            op = diffusion_operator(K, self.alpha)

        # what "auto" resolves to; the single-component solve may still switch (see spectral)
        self.eigen_solver_ = resolve_solver(
            self.eigen_solver,
            op.S.shape[0],
            self.n_components + 1,
            sp.issparse(op.S),
            self.intrinsic_dimension_,
        )
        with _progress.stage("eigensolve", timings):
            sub_labels = labels[fitted] if self.disconnected == "components" else None
            vals, vecs = self._eigenpairs(op.S, sub_labels)
        psi = vecs / np.sqrt(op.stationary)[:, None]

        self.eigenvalues_ = vals
        self.eigenvectors_ = _expand(psi, fitted, fill=np.nan)
        self.stationary_distribution_ = _expand(op.stationary, fitted, fill=0.0)
        self.density_ = _expand(op.density, fitted, fill=np.nan)
        if self.local_scales_ is not None:
            self.local_scales_ = _expand(self.local_scales_, fitted, fill=np.nan)
        self.fitted_mask_ = fitted
        self.timescales_ = timescales(vals)
        self.embedding_ = diffusion_coordinates(self.eigenvectors_, vals, self.t)
        self.timings_ = timings
        return self

    def _fit_kernel(self, distances: sp.csr_matrix, auto_epsilon: float, n_comp: int):
        """Affinities on the fitted points; sets ``bandwidth_`` and ``local_scales_``."""
        self.local_scales_ = None
        if self.bandwidth == "adaptive":
            self.local_scales_ = kth_neighbor_distances(distances, self.n_neighbors)
            K = adaptive_gaussian_kernel(distances, self.local_scales_)
            self.bandwidth_ = float(np.median(self.local_scales_) ** 2)
        elif self.bandwidth == "knn":
            self.bandwidth_ = knn_bandwidth(distances, self.n_neighbors)
            K = gaussian_kernel(distances, self.bandwidth_)
        else:
            eps = auto_epsilon if self.bandwidth == "auto" else float(self.bandwidth)
            self.bandwidth_ = float(eps)
            K = gaussian_kernel(distances, self.bandwidth_)
        kernel_components = graph_components(K)[0]
        expected = n_comp if self.disconnected == "components" else 1
        if kernel_components > expected:
            msg = (
                f"With bandwidth {self.bandwidth_:.4g} the kernel weights underflow to zero "
                f"and split the graph into {kernel_components} pieces. Use a larger "
                "bandwidth, or bandwidth='auto' / 'adaptive'."
            )
            raise NumericalError(msg)
        return K

    def _fit_neighbors(self, X: Any) -> sp.csr_matrix:
        if self.metric == "precomputed":
            self.knn_method_ = "precomputed"
            self.knn_recall_ = None
            self.knn_retried_ = 0
            self._index = None
            self._X_fit = None
            return graph_from_precomputed(X, self.n_neighbors)
        n, d = X.shape
        self.knn_method_ = resolve_knn_method(self.knn, n, d, self.metric, sp.issparse(X))
        index = build_index(X, method=self.knn_method_, metric=self.metric, n_jobs=self.n_jobs)
        dist, ind = index.self_neighbors(self.n_neighbors)
        self._X_fit = X
        self._index = index
        self.knn_recall_ = None
        self.knn_retried_ = int(getattr(index, "n_retried_", 0))
        if self.knn_method_ == "approximate":  # measured, not assumed (200 rows, brute force)
            self.knn_recall_ = sample_recall(X, dist, metric=self.metric,
                                             random_state=self.random_state)
        return graph_from_arrays(dist, ind)

    def _handle_disconnected(self, labels: np.ndarray, n: int) -> np.ndarray:
        sizes = np.bincount(labels)
        if self.disconnected == "raise":
            shown = ", ".join(str(s) for s in sizes[:10])
            more = f", ... ({sizes.size} in all)" if sizes.size > 10 else ""
            msg = (
                f"The {self.n_neighbors}-nearest-neighbour graph has {sizes.size} connected "
                f"components (sizes {shown}{more}), so the diffusion has no unique stationary "
                "state. Fix: increase n_neighbors, or pass disconnected='largest' to embed the "
                "largest component only, or disconnected='components' to diagonalise each "
                "component separately (the sizes are in the exception's component_sizes)."
            )
            raise DisconnectedGraphError(msg, component_sizes=sizes.tolist())
        if self.disconnected == "largest":
            fitted = labels == 0
            warnings.warn(
                f"The neighbour graph has {sizes.size} components; embedding the largest "
                f"({sizes[0]} of {n} points). The other rows get NaN coordinates.",
                UserWarning,
                stacklevel=3,
            )
            if self.n_components > sizes[0] - 2 or self.n_neighbors >= sizes[0]:
                msg = (
                    f"The largest component has only {sizes[0]} points, too few for "
                    f"n_components={self.n_components} and n_neighbors={self.n_neighbors}."
                )
                raise InputError(msg)
            if self._X_fit is not None:
                self._X_fit = self._X_fit[fitted]
                self._index = build_index(
                    self._X_fit, method=self.knn_method_, metric=self.metric, n_jobs=self.n_jobs
                )
            return fitted
        return np.ones(n, dtype=bool)

    def _eigenpairs(self, S, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        m = self.n_components
        if labels is None:
            info: dict[str, str] = {}
            vals, vecs = top_eigenpairs(
                S,
                m + 1,
                solver=self.eigen_solver,
                tol=self.eigen_tol,
                random_state=self.random_state,
                intrinsic_dimension=self.intrinsic_dimension_,
                info=info,
            )
            self.eigen_solver_ = info["solver"]
            if abs(vals[0] - 1.0) > 1e-6:
                msg = (
                    f"The top eigenvalue of the Markov operator is {vals[0]:.8f}, not 1; the "
                    "eigensolver did not converge. Try eigen_solver='dense' or 'lobpcg'."
                )
                raise NumericalError(msg)
            return vals[1:], vecs[:, 1:]
        return component_eigenpairs(
            S,
            labels,
            m,
            solver=self.eigen_solver,
            tol=self.eigen_tol,
            random_state=self.random_state,
        )

    # --------------------------------------------------------------------- transforms
    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit and return the diffusion coordinates at time ``t`` (``embedding_``)."""
        return self.fit(X).embedding_.copy()

    def transform_at(self, t: float) -> np.ndarray:
        """Diffusion coordinates of the fitted points at another time ``t`` (no refit)."""
        check_is_fitted(self, "eigenvalues_")
        check_real(t, "t", low=0.0)
        return diffusion_coordinates(self.eigenvectors_, self.eigenvalues_, t)

    def transform(self, X: Any, t: float | None = None) -> np.ndarray:
        """Embed new points by the Nyström extension ``psi(x) = (P_x psi) / lambda``.

        Each new point's transition probabilities to its ``n_neighbors + 1`` nearest fitted
        points (as many as a fitted point's own row: itself and its neighbours) use the
        fitted bandwidth and density normalisation (``density_``), so a new point is placed
        where the fitted diffusion would put it.

        Parameters
        ----------
        X
            New data, shape (n_new, n_features); with ``metric="precomputed"``, distances
            from the new points to the fitted points, shape (n_new, n_samples_fit).
        t
            Diffusion time; defaults to the ``t`` given at construction.

        Returns
        -------
        ndarray of shape (n_new, n_components)
        """
        check_is_fitted(self, "eigenvalues_")
        t = self.t if t is None else check_real(t, "t", low=0.0)
        n_fit = int(self.fitted_mask_.sum())
        # A fitted row of P holds the point itself and its n_neighbors neighbours: a new point
        # gets the same number of fitted points, so a fitted point maps (nearly) onto itself.
        k = min(self.n_neighbors + 1, n_fit)
        if self.metric == "precomputed":
            Xv = X if sp.issparse(X) else check_data_matrix(X, name="X", min_samples=1)
            graph = precomputed_rows_to_graph(Xv, k, self.fitted_mask_.size)
            graph = graph[:, self.fitted_mask_] if not self.fitted_mask_.all() else graph
        else:
            if sp.issparse(X):
                Xv = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=False)
            else:
                Xv = check_data_matrix(X, name="X", min_samples=1)
                Xv = validate_data(self, named(X, Xv), dtype=np.float64, reset=False)
            dist, ind = self._get_index().query(Xv, k)
            graph = graph_from_arrays(dist, ind, n_index=n_fit)
        lam = self.eigenvalues_
        if np.any(np.abs(lam) < 1e-8):
            warnings.warn(
                "Some eigenvalues are ~0; the Nyström extension divides by them and the "
                "matching coordinates of new points are unreliable.",
                RuntimeWarning,
                stacklevel=2,
            )
        return diffusion_coordinates(self._nystrom_psi(graph), lam, t)

    def _nystrom_psi(self, graph: sp.csr_matrix) -> np.ndarray:
        """Nyström eigenfunctions ψ of new rows from their distance ``graph`` to the fitted rows.

        ``graph`` holds each new row's ``n_neighbors + 1`` nearest fitted rows (the columns are
        the fitted rows); the weights use the fitted bandwidth, α and densities.
        """
        mask = self.fitted_mask_
        P = nystrom_weights(
            graph,
            bandwidth=self.bandwidth_,
            alpha=self.alpha,
            density=self.density_[mask],
            local_scales=None if self.local_scales_ is None else self.local_scales_[mask],
            n_neighbors=self.n_neighbors,
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            return (P @ self.eigenvectors_[mask]) / np.asarray(self.eigenvalues_)[None, :]

    def _get_index(self) -> NeighborIndex:
        if getattr(self, "_index", None) is None:
            self._index = build_index(
                self._X_fit, method=self.knn_method_, metric=self.metric, n_jobs=self.n_jobs
            )
        return self._index

    # -------------------------------------------------------------------- persistence
    _ARRAY_ATTRIBUTES = (
        "eigenvalues_",
        "eigenvectors_",
        "stationary_distribution_",
        "density_",
        "component_labels_",
        "fitted_mask_",
    )
    _SCALAR_ATTRIBUTES = (
        "bandwidth_",
        "intrinsic_dimension_",
        "knn_method_",
        "eigen_solver_",
        "knn_recall_",
        "knn_retried_",
        "n_features_in_",
        "n_duplicates_",
        "n_connected_components_",
    )

    #: Results added after format version 1; files written before them load with None.
    _ADDED_SCALAR_ATTRIBUTES = ("eigen_solver_", "knn_recall_", "knn_retried_")

    def get_fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything a fitted model needs, as JSON-able metadata and plain arrays.

        The arrays hold no Python objects, so the model can be stored as ``.npz`` (or
        safetensors) + JSON and loaded without unpickling; see
        :func:`diffembed.io.persistence.save_model`. The affinity matrix is not included.
        """
        check_is_fitted(self, "eigenvalues_")
        arrays = {name: np.asarray(getattr(self, name)) for name in self._ARRAY_ATTRIBUTES}
        arrays["fitted_mask_"] = arrays["fitted_mask_"].astype(np.uint8)
        arrays["bandwidth_sweep_epsilons"] = np.asarray(self.bandwidth_sweep_["epsilons"])
        arrays["bandwidth_sweep_slopes"] = np.asarray(self.bandwidth_sweep_["slopes"])
        if self.local_scales_ is not None:
            arrays["local_scales_"] = np.asarray(self.local_scales_)
        if self._X_fit is not None:
            X_fit = self._X_fit  # the fitted rows only (see disconnected="largest")
            if sp.issparse(X_fit):
                X_fit = X_fit.toarray()
            arrays["X_fit"] = np.asarray(X_fit, dtype=np.float64)
        meta: dict[str, Any] = {
            "class": type(self).__name__,
            "params": self.get_params(),
            "bandwidth_sweep_dimension": float(self.bandwidth_sweep_["dimension"]),
            "timings": dict(self.timings_),
        }
        for name in self._SCALAR_ATTRIBUTES:
            value = getattr(self, name)
            meta[name] = value.item() if isinstance(value, np.generic) else value
        if hasattr(self, "feature_names_in_"):
            meta["feature_names_in_"] = [str(c) for c in self.feature_names_in_]
        return meta, arrays

    @classmethod
    def from_fitted_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> DiffusionMap:
        """Rebuild a fitted model from :meth:`get_fitted_state` output (no refit)."""
        model = cls(**meta["params"])
        for name in cls._ARRAY_ATTRIBUTES:
            setattr(model, name, np.asarray(arrays[name]))
        model.fitted_mask_ = model.fitted_mask_.astype(bool)
        for name in cls._SCALAR_ATTRIBUTES:
            # results added after format 1 was frozen may be missing from older files
            optional = name in cls._ADDED_SCALAR_ATTRIBUTES
            setattr(model, name, meta.get(name) if optional else meta[name])
        if "feature_names_in_" in meta:
            model.feature_names_in_ = np.asarray(meta["feature_names_in_"], dtype=object)
        model.local_scales_ = arrays.get("local_scales_")
        model._X_fit = arrays.get("X_fit")  # already restricted to the fitted rows
        model._index = None
        model.bandwidth_sweep_ = {
            "epsilons": arrays["bandwidth_sweep_epsilons"],
            "slopes": arrays["bandwidth_sweep_slopes"],
            "dimension": meta["bandwidth_sweep_dimension"],
        }
        model.timescales_ = timescales(model.eigenvalues_)
        model.embedding_ = diffusion_coordinates(model.eigenvectors_, model.eigenvalues_, model.t)
        model.timings_ = dict(meta.get("timings", {}))
        model.affinity_ = None
        return model

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_index"] = None  # rebuilt on demand from the fitted data
        return state

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.pairwise = self.metric == "precomputed"
        return tags


def _expand(values: np.ndarray, mask: np.ndarray, fill: float) -> np.ndarray:
    """Place per-fitted-point ``values`` into an array over all points."""
    if mask.all():
        return np.asarray(values)
    shape = (mask.size, *np.shape(values)[1:])
    out = np.full(shape, fill, dtype=np.float64)
    out[mask] = values
    return out
