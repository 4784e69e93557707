"""``DiffusionSmoother``: smooth an embedding over a graph, with an over-smoothing guard.

What was measured (research note ``stability_hierarchy.md``, tables A-1/A-2; this repository's
``benchmarks/results/smoothing.md``): smoothing PPMI-SVD word vectors over a graph that the
runs **share** — WordNet synonyms, or the kNN graph of a reference run — makes bootstrap runs
agree more (NN-overlap@10 0.324 → 0.403 with WordNet at α = ½; 0.33 → 0.52 with a reference
run's graph). Smoothing each run over **its own** kNN graph did not raise overlap in any setting
measured, and strong settings collapse the space: use ``graph="knn"`` for denoising, not for
stability.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

from .. import _progress
from .._api import SaveLoadMixin, check_feature_names, record_feature_names
from .._graph_input import graph_index, smoother_graph
from .._repr import SummaryReprMixin
from .._validation import check_data_matrix
from ..exceptions import InputError
from . import filters
from .graphs import (
    align_rows,
    check_adjacency,
    consensus_adjacency,
    knn_adjacency,
    lexicon_adjacency,
    read_pairs,
    reference_adjacency,
    wordnet_synonyms,
)
from .search import stability_search

__all__ = [
    "DiffusionSmoother",
    "OverSmoothingWarning",
    "collapse_diagnostics",
    "smooth",
]

OPERATORS = ("ppr", "heat", "lazy_walk", "retrofit")
GRAPHS = ("knn", "lexicon", "reference", "consensus")
#: The grid of ``mode="stability"`` (research note A.4).
ALPHA_GRID = (0.5, 0.3, 0.2, 0.1)
T_GRID = (0.5, 1.0, 2.0, 3.0)


class OverSmoothingWarning(UserWarning):
    """Smoothing shrank the effective rank or pulled the vectors together (collapse)."""


def _unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1.0, norms)


def smooth(
    X: np.ndarray,
    adjacency: sp.spmatrix,
    *,
    operator: str = "ppr",
    alpha: float = 0.5,
    t: float = 1.0,
    normalization: str = "rw",
    self_loops: float = 0.0,
    n_iter: int = 10,
    solver: str = "cg",
    tol: float = 1e-8,
    op: filters.GraphOperator | None = None,
) -> np.ndarray:
    """Apply one filter of the family to the rows of ``X`` over a fixed ``adjacency``.

    ``operator``: ``"ppr"`` (α), ``"heat"`` (t), ``"lazy_walk"`` (t whole steps) or
    ``"retrofit"`` (``n_iter`` Gauss–Seidel sweeps). ``op`` reuses a prebuilt operator.
    """
    if operator == "retrofit":
        return filters.retrofit(adjacency, X, n_iter=n_iter)
    if operator not in OPERATORS:
        msg = f"operator={operator!r} is not supported; choose one of {', '.join(OPERATORS)}."
        raise InputError(msg)
    if op is None:
        op = filters.graph_operator(adjacency, normalization=normalization, self_loops=self_loops)
    if operator == "ppr":
        return filters.ppr_filter(op, X, alpha, solver=solver, tol=tol)[0]
    if operator == "heat":
        return filters.heat_filter(op, X, t)
    return filters.lazy_walk_filter(op, X, int(filters.check_t(t, integer=True)))


def collapse_diagnostics(
    X0: np.ndarray,
    Y: np.ndarray,
    *,
    max_rows: int = 20_000,
    random_state: int = 0,
    laplacian: sp.spmatrix | None = None,
) -> dict[str, float]:
    """Effective rank, mean cosine and Dirichlet energy before and after smoothing.

    On more than ``max_rows`` rows the rank is computed on a seeded sample of rows.
    ``laplacian`` (``I − T_sym``) adds the Dirichlet-energy ratio
    ``[tr(YᵀLY)/tr(YᵀY)] / [tr(X₀ᵀLX₀)/tr(X₀ᵀX₀)]``.
    """
    from ..metrics import effective_rank, mean_cosine

    rows = np.arange(X0.shape[0])
    if X0.shape[0] > max_rows:
        rows = np.sort(np.random.default_rng(random_state).choice(X0.shape[0], max_rows, False))
    out = {
        "effective_rank_before": effective_rank(X0[rows]),
        "effective_rank_after": effective_rank(Y[rows]),
        "mean_cosine_before": mean_cosine(X0, random_state=random_state),
        "mean_cosine_after": mean_cosine(Y, random_state=random_state),
    }
    out["effective_rank_ratio"] = out["effective_rank_after"] / max(
        out["effective_rank_before"], 1e-300
    )
    out["mean_cosine_rise"] = out["mean_cosine_after"] - out["mean_cosine_before"]
    if laplacian is not None:

        def energy(Z: np.ndarray) -> float:
            den = float(np.sum(Z * Z))
            return float(np.sum(Z * (laplacian @ Z))) / den if den > 0 else 0.0

        e0 = energy(X0)
        out["dirichlet_ratio"] = energy(Y) / e0 if e0 > 0 else float("nan")
    return out


def _warn_collapse(diag: dict[str, float], what: str) -> list[str]:
    said = []
    if diag["effective_rank_ratio"] < 0.8:
        said.append(
            f"{what}: the effective rank fell from {diag['effective_rank_before']:.1f} to "
            f"{diag['effective_rank_after']:.1f} (< 0.8x): the space is collapsing. Raise alpha, "
            "lower t, or set min_gain."
        )
    if diag["mean_cosine_rise"] > 0.2:
        said.append(
            f"{what}: the mean cosine of random pairs rose from "
            f"{diag['mean_cosine_before']:.3f} to {diag['mean_cosine_after']:.3f} (> +0.2): the "
            "vectors are being pulled together. Raise alpha, lower t, or set min_gain."
        )
    for text in said:
        warnings.warn(text, OverSmoothingWarning, stacklevel=3)
    return said


class DiffusionSmoother(
    SummaryReprMixin, SaveLoadMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator
):
    """Smooth row vectors over a graph with a diffusion filter (PPR, heat, lazy walk, retrofit).

    Parameters
    ----------
    graph
        What to smooth over:

        - ``"lexicon"``: synonym pairs (``lexicon=``; default WordNet synonyms from Debian
          ``wordnet-base``) over the row labels ``index``. **Stabilises** (measured).
        - ``"reference"``: the kNN graph of another run, ``reference=`` (rows matched by
          ``reference_index`` labels). **Stabilises** (measured).
        - ``"consensus"``: edges in at least half of the kNN graphs of ``runs=``.
        - ``"knn"``: the kNN graph of the data given to :meth:`fit`. Denoises; it does **not**
          make independent runs agree (measured), because each run brings its own graph.
        - a sparse symmetric (n, n) adjacency, or ``(edges, weights)``.
        - a networkx graph (weights from ``weight``; rows are its nodes in ``G.nodes()``
          order, or the nodes named by ``index``).
    operator
        ``"ppr"`` (default; ``α (I − (1−α)T)⁻¹``), ``"heat"`` (``exp(−t(I − T))``),
        ``"lazy_walk"`` (``((I + T)/2)^t``) or ``"retrofit"`` (Faruqui et al.'s sweeps).
    alpha
        PPR teleport in (0, 1]; 1 is the identity, 0.5 retrofitting's fixed point (default).
    t
        Heat time (>= 0) or lazy-walk steps (whole number); 0 is the identity.
    min_gain
        Instead of ``alpha``/``t``: the smallest gain any graph frequency may get, in (0, 1].
        Sets ``α = 2g/(1+g)`` (PPR) or ``t = −ln(g)/2`` (heat).
    n_neighbors, metric, symmetrize, weights, knn
        kNN graph options (``"knn"``, ``"reference"``, ``"consensus"``).
    normalization, self_loops
        ``"rw"`` (``D⁻¹A``, default) or ``"sym"``; weight added to the diagonal.
    lexicon
        For ``graph="lexicon"``: a list of pairs ``(a, b[, weight])``, a mapping word → words,
        or the path of a ``word neighbour ...`` file. Words not in ``index`` are skipped and
        counted in ``graph_info_``.
    reference, reference_index
        For ``graph="reference"``: the other run's vectors and its row labels.
    runs, run_indexes
        For ``graph="consensus"`` and ``mode="stability"``: perturbed runs and their labels.
    mode
        ``"fixed"`` (use ``alpha``/``t``) or ``"stability"``: on ``runs``, pick the operator and
        α/t of the grid (α ∈ 0.5, 0.3, 0.2, 0.1; t ∈ 0.5, 1, 2, 3) with the highest NN-overlap@10
        across runs such that every ``quality`` score ≥ its unsmoothed value − 0.02, the
        effective rank ≥ 0.9× and the mean cosine ≤ +0.1 of the unsmoothed runs.
    quality
        For ``mode="stability"``: ``quality(Y, index) -> {name: score}`` (higher is better),
        e.g. WS353 Spearman.
    normalize
        L2-normalise rows before smoothing (default; as in the measurements and retrofit.py).
    renormalize
        L2-normalise the smoothed rows.
    n_iter
        Retrofitting sweeps (10 as released).
    solver, tol
        PPR solver (``"cg"`` or ``"power"``) and its relative tolerance.
    monitor
        Compute collapse diagnostics in :meth:`fit_transform` and warn
        (:class:`OverSmoothingWarning`) when the effective rank drops below 0.8× or the mean
        cosine rises by more than 0.2.
    random_state
        Seed of the diagnostic samples and query sets.
    verbose
        0 (default): silent. 1: a line per stage on stderr (graph, stability search, smooth)
        with its time and rate, and progress lines with rate and ETA while the stability
        search runs. 2: nested stages too.

    Attributes
    ----------
    graph_ : scipy.sparse.csr_matrix
        The adjacency used, over the fitted rows.
    graph_info_ : dict
        Edges, rows with edges, lexicon words skipped, ...
    index_ : list
        Row labels of the fitted rows.
    params_resolved_ : dict
        ``operator``, ``alpha``, ``t`` actually used (after ``min_gain`` / ``mode``).
    gain_floor_ : float
        Smallest gain of the filter over any graph frequency.
    search_ : list of dict
        ``mode="stability"``: every grid setting with its scores and feasibility.
    embedding_ : ndarray
        Set by :meth:`fit_transform`: the smoothed input.
    diagnostics_ : dict
        Set by :meth:`fit_transform` when ``monitor``: collapse monitors.
    """

    def __init__(
        self,
        *,
        graph: Any = "knn",
        operator: str = "ppr",
        alpha: float = 0.5,
        t: float = 1.0,
        min_gain: float | None = None,
        n_neighbors: int = 10,
        metric: str = "cosine",
        symmetrize: str = "union",
        weights: str = "connectivity",
        knn: str = "auto",
        normalization: str = "rw",
        self_loops: float = 0.0,
        lexicon: Any = None,
        reference: Any = None,
        reference_index: Sequence[Hashable] | None = None,
        runs: Sequence[Any] | None = None,
        run_indexes: Sequence[Sequence[Hashable]] | None = None,
        mode: str = "fixed",
        quality: Callable[[np.ndarray, list[Hashable]], dict[str, float]] | None = None,
        normalize: bool = True,
        renormalize: bool = False,
        n_iter: int = 10,
        solver: str = "cg",
        tol: float = 1e-8,
        monitor: bool = True,
        random_state: int = 0,
        verbose: int = 0,
    ) -> None:
        self.graph = graph
        self.operator = operator
        self.alpha = alpha
        self.t = t
        self.min_gain = min_gain
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.symmetrize = symmetrize
        self.weights = weights
        self.knn = knn
        self.normalization = normalization
        self.self_loops = self_loops
        self.lexicon = lexicon
        self.reference = reference
        self.reference_index = reference_index
        self.runs = runs
        self.run_indexes = run_indexes
        self.mode = mode
        self.quality = quality
        self.normalize = normalize
        self.renormalize = renormalize
        self.n_iter = n_iter
        self.solver = solver
        self.tol = tol
        self.monitor = monitor
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ parameters
    def _resolve(self) -> dict[str, Any]:
        _progress.check_verbose(self.verbose)
        if self.operator not in OPERATORS:
            allowed = ", ".join(OPERATORS)
            msg = f"operator={self.operator!r} is not supported; choose one of {allowed}."
            raise InputError(msg)
        if self.mode not in ("fixed", "stability"):
            msg = f"mode={self.mode!r} is not supported; choose 'fixed' or 'stability'."
            raise InputError(msg)
        if self.solver not in ("cg", "power"):
            msg = f"solver={self.solver!r} is not supported; choose 'cg' or 'power'."
            raise InputError(msg)
        alpha = filters.check_alpha(self.alpha)
        t = filters.check_t(self.t, integer=self.operator == "lazy_walk")
        if self.min_gain is not None:
            if self.operator == "ppr":
                alpha = filters.alpha_for_gain(self.min_gain)
            elif self.operator == "heat":
                t = filters.t_for_gain(self.min_gain)
            else:
                msg = (
                    f"min_gain applies to operator='ppr' or 'heat', not {self.operator!r} "
                    "(the lazy walk has no gain floor; retrofitting's is fixed at 1/3)."
                )
                raise InputError(msg)
        return {"operator": self.operator, "alpha": alpha, "t": t}

    # ------------------------------------------------------------------ graph
    def _build_graph(
        self, X: np.ndarray, index: list[Hashable]
    ) -> tuple[sp.csr_matrix, dict[str, Any]]:
        g = self.graph
        kw = {
            "metric": self.metric,
            "symmetrize": self.symmetrize,
            "weights": self.weights,
            "knn": self.knn,
        }
        if isinstance(g, str):
            if g not in GRAPHS:
                msg = (
                    f"graph={g!r} is not supported; choose one of {', '.join(GRAPHS)}, or give "
                    "a sparse (n, n) adjacency."
                )
                raise InputError(msg)
            if g == "knn":
                A = knn_adjacency(X, self.n_neighbors, **kw)
                return A, {"source": "knn", "n_edges": int(A.nnz // 2)}
            if g == "lexicon":
                lex = self.lexicon
                source = "user lexicon"
                if lex is None:
                    lex, source = wordnet_synonyms(), "WordNet synonyms (wordnet-base)"
                elif isinstance(lex, str) or hasattr(lex, "__fspath__"):
                    source = f"lexicon file {lex}"
                    lex = read_pairs(lex)
                A, info = lexicon_adjacency(index, lex)
                return A, {"source": source, **info}
            if g == "reference":
                if self.reference is None:
                    msg = "graph='reference' needs reference= (the vectors of another run)."
                    raise InputError(msg)
                ref = check_data_matrix(self.reference, name="reference")
                A, info = reference_adjacency(
                    index, ref, self.reference_index, n_neighbors=self.n_neighbors, **kw
                )
                return A, {"source": "reference run", **info}
            if self.runs is None:
                msg = "graph='consensus' needs runs= (at least 2 runs of the same items)."
                raise InputError(msg)
            runs = [check_data_matrix(r, name=f"runs[{i}]") for i, r in enumerate(self.runs)]
            A, info = consensus_adjacency(
                index, runs, self.run_indexes, n_neighbors=self.n_neighbors, **kw
            )
            return A, {"source": "consensus of runs", **info}
        A = check_adjacency(smoother_graph(g, index), X.shape[0])
        return A, {"source": "user graph", "n_edges": int(A.nnz // 2)}

    @staticmethod
    def _index(index: Sequence[Hashable] | None, n: int) -> list[Hashable]:
        if index is None:
            return list(range(n))
        index = list(index)
        if len(index) != n:
            msg = f"index has {len(index)} labels but X has {n} rows; give one label per row."
            raise InputError(msg)
        return index

    def _prepare(self, X: Any, name: str = "X") -> np.ndarray:
        X = check_data_matrix(X, name=name)
        return _unit_rows(X) if self.normalize else X

    # ------------------------------------------------------------------ API
    def fit(self, X: Any, y: Any = None, *, index: Sequence[Hashable] | None = None):
        """Build the graph over the rows of ``X`` (labelled by ``index``) and fix the filter.

        Parameters
        ----------
        X
            Embedding, shape (n, d); NaN or infinite values are an error.
        y
            Ignored.
        index
            Row labels (e.g. the vocabulary); default ``0 .. n−1``.

        Returns
        -------
        self
        """
        resolved = self._resolve()
        with _progress.verbosity(self.verbose):
            return self._fit(X, resolved, index)

    def _fit(self, X: Any, resolved: dict[str, Any], index: Sequence[Hashable] | None):
        record_feature_names(self, X)
        X = self._prepare(X)
        self.index_ = self._index(graph_index(self.graph, index, X.shape[0]), X.shape[0])
        self.n_features_in_ = X.shape[1]
        with _progress.task("graph", X.shape[0], unit="rows") as running:
            self.graph_, self.graph_info_ = self._build_graph(X, self.index_)
            running.advance(X.shape[0])
        self.search_ = []
        if self.mode == "stability":
            with _progress.stage("stability search"):
                resolved = self._search(resolved)
        self.params_resolved_ = resolved
        self.gain_floor_ = filters.gain_floor(
            resolved["operator"], alpha=resolved["alpha"], t=resolved["t"]
        )
        if resolved["operator"] == "lazy_walk" and resolved["t"] > 0:
            warnings.warn(
                "The lazy walk has no gain floor (its gain reaches 0 at the highest graph "
                "frequency): watch the collapse monitors, or use operator='ppr' / 'heat' with "
                "min_gain.",
                OverSmoothingWarning,
                stacklevel=2,
            )
        self._op = None
        if resolved["operator"] != "retrofit":
            self._op = filters.graph_operator(
                self.graph_, normalization=self.normalization, self_loops=self.self_loops
            )
        return self

    def _apply(self, X: np.ndarray, A: sp.spmatrix, params: dict[str, Any], op=None) -> np.ndarray:
        Y = smooth(
            X,
            A,
            operator=params["operator"],
            alpha=params["alpha"],
            t=params["t"],
            normalization=self.normalization,
            self_loops=self.self_loops,
            n_iter=self.n_iter,
            solver=self.solver,
            tol=self.tol,
            op=op,
        )
        return _unit_rows(Y) if self.renormalize else Y

    def transform(self, X: Any, *, index: Sequence[Hashable] | None = None) -> np.ndarray:
        """Smooth ``X`` over the fitted graph (never rebuilt from ``X``).

        Parameters
        ----------
        X
            Vectors of the fitted rows, shape (n, d); or of other rows labelled by ``index``:
            rows whose label was fitted are smoothed over the graph, others are returned as
            they are (after ``normalize``).
        index
            Row labels of ``X``; default: the fitted rows in the fitted order.

        Returns
        -------
        ndarray, shape (len(X), d)
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "graph_")
        check_feature_names(self, X)
        X = self._prepare(X)
        if index is None:
            if X.shape[0] != len(self.index_):
                msg = (
                    f"X has {X.shape[0]} rows but the smoother was fitted on {len(self.index_)}; "
                    "pass index= (the row labels) to smooth a different set of rows."
                )
                raise InputError(msg)
            return self._apply(X, self.graph_, self.params_resolved_, self._op)
        labels = self._index(index, X.shape[0])
        mine, theirs = align_rows(self.index_, labels)
        full = np.zeros((len(self.index_), X.shape[1]))
        full[mine] = X[theirs]
        known = np.zeros(len(self.index_), dtype=bool)
        known[mine] = True
        A = self.graph_
        if not known.all():  # cut the edges of fitted rows that X does not have
            keep = sp.diags(known.astype(np.float64))
            A = sp.csr_matrix(keep @ A @ keep)
        Yfull = self._apply(full, A, self.params_resolved_)
        Y = X.copy()
        Y[theirs] = Yfull[mine]
        return Y

    def fit_transform(
        self, X: Any, y: Any = None, *, index: Sequence[Hashable] | None = None
    ) -> np.ndarray:
        """Fit on ``X`` and smooth it; records ``embedding_`` and ``diagnostics_``."""
        with _progress.verbosity(self.verbose):
            return self._fit_transform(X, index)

    def _fit_transform(self, X: Any, index: Sequence[Hashable] | None) -> np.ndarray:
        self.fit(X, index=index)
        X0 = self._prepare(X)
        with _progress.stage("smooth"):
            Y = np.asarray(self.transform(X))  # an array, whatever set_output asks for
        self.embedding_ = Y
        self.diagnostics_ = {"gain_floor": self.gain_floor_}
        if self.monitor:
            lap = None
            if self._op is not None:
                lap = sp.identity(self._op.n, format="csr") - self._op.S
            diag = collapse_diagnostics(X0, Y, random_state=self.random_state, laplacian=lap)
            self.diagnostics_.update(diag)
            self.diagnostics_["warnings"] = _warn_collapse(diag, "DiffusionSmoother")
        return Y

    def _search(self, resolved: dict[str, Any]) -> dict[str, Any]:
        return stability_search(self, resolved, ALPHA_GRID, T_GRID)
