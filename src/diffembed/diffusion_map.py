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
from .diffusion_checks import (
    check_kernel_split,
    check_magnitude,
    disconnected_mask,
    warn_degenerate,
)
from .diffusion_state import FittedStateMixin
from .diffusion_transform import NystromTransformMixin, diffusion_coordinates, timescales
from .dimension import mle_dimension
from .exceptions import InputError, NumericalError
from .kernels import BandwidthEstimate, DistanceScaleError, estimate_bandwidth, rule_kernel
from .knn_recall import sample_recall
from .neighbors import (
    build_index,
    count_duplicates,
    graph_components,
    graph_from_arrays,
    graph_from_precomputed,
    resolve_knn_method,
)
from .operators import diffusion_operator
from .spectral import SOLVERS, component_eigenpairs, resolve_solver, top_eigenpairs

__all__ = ["DiffusionMap", "diffusion_coordinates", "timescales"]

Bandwidth = Literal["auto", "adaptive", "bgh", "knn"] | float
Disconnected = Literal["auto", "raise", "largest", "components"]
#: The bandwidth rules accepted by name.
BANDWIDTH_RULES = ("auto", "adaptive", "bgh", "knn")
#: The rule ``bandwidth="auto"`` stands for (chosen on the real-data panel, README
#: "Defaults on real data").
AUTO_BANDWIDTH = "adaptive"


class DiffusionMap(
    SummaryReprMixin,
    SaveLoadMixin,
    DiffusionFeaturesOutMixin,
    FittedStateMixin,
    NystromTransformMixin,
    TransformerMixin,
    BaseEstimator,
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
        ``"auto"`` (default): the rule that won the real-data panel (README, "Defaults on real
        data"), today ``"adaptive"``. ``"adaptive"``: self-tuning per-point scales,
        ``exp(-d_ij^2 / (σ_i σ_j))`` with σ_i the distance to the ``n_neighbors``-th
        neighbour; scale-free, and it keeps every point's own neighbourhood at weight ≈ e^{-1},
        so sparse spots never fall off the graph. ``"bgh"``: a global ε chosen by the
        Berry–Giannakis–Harlim sweep (steepest slope of log Σ K against log ε on the kNN
        distances; the default before version 0.2), never below the ε at which the kernel
        would split the graph (:func:`~diffembed.kernels.connectivity_epsilon`). ``"knn"``: a
        global ε, the squared median of σ_i (see :func:`~diffembed.kernels.knn_bandwidth`).
        A float: ε itself, in squared distance units. The value used is in ``bandwidth_``.
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
        What to do when the neighbour graph has several connected components (data with
        separated clusters, such as iris): ``"auto"`` (default) diagonalise each component
        separately, as ``"components"`` does, and warn naming the component sizes;
        ``"components"`` the same without the warning; ``"raise"`` a
        :class:`~diffembed.exceptions.DisconnectedGraphError` naming them; ``"largest"`` fit
        the largest component only (other rows get NaN coordinates). With ``"auto"`` and
        ``"components"`` every row gets finite coordinates. What the eigenvalues mean then:
        each component is a Markov chain of its own, with its own trivial eigenvalue 1
        (reported in ``component_trivial_eigenvalues_``, dropped from ``eigenvalues_``);
        ``eigenvalues_`` are the largest non-trivial eigenvalues of all components together,
        and the matching coordinates are 0 outside their own component.
    n_jobs
        Threads for the neighbour search.
    random_state
        Seed for the eigensolver start vector and the bandwidth sweep's row sample.
    verbose
        0 (default): silent. 1: a line per fitting stage on stderr (neighbours, bandwidth,
        kernel, operator, eigensolve) with its time, count and rate, and while a long stage
        runs a progress line with its rate and ETA (the eigensolver's products or
        iterations and residual). 2: nested stages too.

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
        The eigensolver used (what ``"auto"`` resolved to), and any fallback taken: e.g.
        ``"dense (fallback: shift_invert did not converge in 100 restarts, 3/11 pairs)"``
        (see :mod:`diffembed.spectral`).
    component_trivial_eigenvalues_ : ndarray of shape (n_connected_components_,)
        The trivial eigenvalue (1 up to rounding) of each connected component that was
        diagonalised; one value for a connected graph.
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
        disconnected: Disconnected = "auto",
        n_jobs: int | None = None,
        random_state: int | None = None,
        verbose: int = 0,
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
        self.verbose = verbose

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
        check_in(self.disconnected, "disconnected", ("auto", "raise", "largest", "components"))
        _progress.check_verbose(self.verbose)
        bw = self.bandwidth
        if isinstance(bw, str):
            check_in(bw, "bandwidth", BANDWIDTH_RULES)
        elif isinstance(bw, bool) or not isinstance(bw, Real) or not (np.isfinite(bw) and bw > 0):
            msg = (
                f"bandwidth={bw!r} is not valid: use 'auto', 'adaptive', 'bgh', 'knn' or a "
                "positive float epsilon (the kernel is exp(-d^2/epsilon))."
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
            check_magnitude(X)
            return validate_data(self, X, accept_sparse="csr", dtype=np.float64)
        arr = check_data_matrix(X)
        check_magnitude(arr)
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
        with _progress.verbosity(self.verbose):
            return self._fit(X)

    def _fit(self, X: Any) -> DiffusionMap:
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

        with _progress.task("neighbors", n, unit="rows", timings=timings) as running:
            distances = self._fit_neighbors(X)
            running.advance(n)
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
            fitted = disconnected_mask(
                self.disconnected, labels, self.n_neighbors, self.n_components
            )
            if not fitted.all() and self._X_fit is not None:
                self._X_fit = self._X_fit[fitted]
                self._index = build_index(
                    self._X_fit, method=self.knn_method_, metric=self.metric, n_jobs=self.n_jobs
                )

        with _progress.stage("bandwidth", timings):
            sub = distances[fitted][:, fitted] if not fitted.all() else distances
            try:
                sweep = estimate_bandwidth(
                    sub,
                    random_state=self.random_state,
                    connectivity_floor=self.bandwidth == "bgh",
                )
            except DistanceScaleError:
                if self.bandwidth == "bgh":
                    raise
                # the sweep is only a diagnostic here; the self-tuning kernel is scale-free
                sweep = BandwidthEstimate(float("nan"), float("nan"), np.empty(0), np.empty(0))
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
        with _progress.task("eigensolve", timings=timings):
            per_component = n_comp > 1 and self.disconnected in ("auto", "components")
            vals, vecs = self._eigenpairs(op.S, labels[fitted] if per_component else None)
        warn_degenerate(vals, self.bandwidth, self.n_neighbors)
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
        rule = AUTO_BANDWIDTH if self.bandwidth == "auto" else self.bandwidth
        value = auto_epsilon if rule == "bgh" else rule
        K, self.bandwidth_, self.local_scales_ = rule_kernel(distances, value, self.n_neighbors)
        expected = n_comp if self.disconnected in ("auto", "components") else 1
        check_kernel_split(K, expected, self.bandwidth, self.bandwidth_)
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
            self.component_trivial_eigenvalues_ = np.asarray(vals[:1], dtype=np.float64)
            if abs(vals[0] - 1.0) > 1e-6:
                msg = (
                    f"The top eigenvalue of the Markov operator is {vals[0]:.8f}, not 1; the "
                    "eigensolver did not converge. Try eigen_solver='dense' or 'lobpcg'."
                )
                raise NumericalError(msg)
            return vals[1:], vecs[:, 1:]
        info = {}
        vals, vecs = component_eigenpairs(
            S,
            labels,
            m,
            solver=self.eigen_solver,
            tol=self.eigen_tol,
            random_state=self.random_state,
            info=info,
        )
        self.eigen_solver_ = info["solver"]
        self.component_trivial_eigenvalues_ = np.asarray(info["trivial"], dtype=np.float64)
        return vals, vecs

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
        return self._nystrom_transform(X, t)

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
