"""AnnData in, AnnData out: scanpy-style tools (``de.tl.diffmap``, ``dpt``, ``tree``, ``smooth``).

Each function takes an :class:`anndata.AnnData` first, writes into it (or into a copy with
``copy=True``, which it then returns) and stores results where scanpy does, so the rest of a
scanpy pipeline (``sc.pl.diffmap``, ``sc.pl.embedding``, ``sc.tl.dpt``...) works unchanged.

What is read, in this order:

- ``use_rep="X_pca"`` (any ``obsm`` key, or ``"X"``): diffembed builds its own kNN graph on it;
- ``neighbors_key``: scanpy's kNN distance graph ``obsp[uns[neighbors_key]["distances_key"]]``
  from ``sc.pp.neighbors`` (so the user's neighbour settings are kept), used as a precomputed
  sparse distance graph (``metric="precomputed"``);
- neither: scanpy's graph under ``uns["neighbors"]`` when ``sc.pp.neighbors`` has run, else
  ``obsm["X_pca"]`` when there are more than 50 variables and it exists (scanpy's choice),
  else ``X``.

What :func:`diffmap` writes (scanpy's layout exactly):

- ``obsm["X_diffmap"]``: column 0 is the trivial component √π (π the stationary distribution),
  column k ≥ 1 is √π ψ_k, i.e. the unit-norm eigenvectors of the symmetric conjugate of the
  Markov matrix, as scanpy stores them; ``n_comps`` counts the trivial column, as in scanpy.
  The right eigenvectors are ``ψ_k = X_diffmap[:, k] / X_diffmap[:, 0]``.
- ``uns["diffmap_evals"]``: ``[1, λ_1, ..., λ_{n_comps-1}]``.
- ``obsm["X_diffembed"]``: diffembed's diffusion coordinates ``ψ_k λ_k^t`` (trivial dropped).
- ``uns["diffembed"]``: parameters, source, bandwidth ε, α, t, eigenvalues, timescales,
  stationary distribution, intrinsic dimension, solver and timings.

anndata is an optional dependency: ``pip install 'diffembed[anndata]'``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ._validation import check_int
from .exceptions import InputError
from .pseudotime import dpt_distances, dpt_truncation, root_from_label

if TYPE_CHECKING:
    from anndata import AnnData

    from .diffusion_map import DiffusionMap

__all__ = ["diffmap", "dpt", "smooth", "tree"]

_LAYOUT = (
    "X_diffmap[:, 0] = sqrt(pi) (trivial, as scanpy); X_diffmap[:, k] = sqrt(pi) * psi_k; "
    "psi_k = X_diffmap[:, k] / X_diffmap[:, 0]; X_diffembed = psi_k * lambda_k**t"
)


def require_anndata() -> Any:
    """Import anndata, or raise an ImportError that names the extra to install."""
    try:
        import anndata
    except ImportError as exc:
        msg = (
            "diffembed.tl needs the optional package anndata: pip install 'diffembed[anndata]'."
        )
        raise ImportError(msg) from exc
    return anndata


def _check_adata(adata: Any, func: str) -> None:
    anndata = require_anndata()
    if not isinstance(adata, anndata.AnnData):
        msg = (
            f"de.tl.{func} expects an AnnData as first argument, got {type(adata).__name__}. "
            "For arrays use the estimators (de.DiffusionMap...) directly."
        )
        raise InputError(msg)


def _neighbors_entry(adata: AnnData, neighbors_key: str) -> dict[str, Any]:
    if neighbors_key not in adata.uns:
        msg = (
            f"adata.uns has no {neighbors_key!r} entry: run sc.pp.neighbors(adata"
            f"{'' if neighbors_key == 'neighbors' else f', key_added={neighbors_key!r}'}) first, "
            "or pass use_rep='X_pca' (any obsm key, or 'X') to let diffembed build its graph."
        )
        raise InputError(msg)
    return dict(adata.uns[neighbors_key])


def _graph(adata: AnnData, neighbors_key: str, kind: str) -> tuple[Any, str]:
    """scanpy's ``distances`` or ``connectivities`` graph under ``neighbors_key``."""
    entry = _neighbors_entry(adata, neighbors_key)
    key = str(entry.get(f"{kind}_key", kind))
    if key not in adata.obsp:
        msg = (
            f"adata.obsp has no {key!r} graph (named by uns[{neighbors_key!r}]); rerun "
            f"sc.pp.neighbors. obsp holds: {', '.join(adata.obsp.keys()) or 'nothing'}."
        )
        raise InputError(msg)
    return adata.obsp[key], f"obsp[{key!r}]"


def _representation(adata: AnnData, use_rep: str | None) -> tuple[Any, str]:
    if use_rep is None:
        use_rep = "X_pca" if adata.n_vars > 50 and "X_pca" in adata.obsm else "X"
    if use_rep == "X":
        if adata.X is None:
            msg = "adata.X is empty: pass use_rep= an obsm key holding the data."
            raise InputError(msg)
        return adata.X, "X"
    if use_rep not in adata.obsm:
        keys = ", ".join(adata.obsm.keys()) or "nothing"
        msg = (
            f"use_rep={use_rep!r} is not in adata.obsm (it holds: {keys}); use one of those, "
            "'X', or run sc.pp.pca(adata) for 'X_pca'."
        )
        raise InputError(msg)
    return np.asarray(adata.obsm[use_rep]), f"obsm[{use_rep!r}]"


def _input(
    adata: AnnData, use_rep: str | None, neighbors_key: str | None
) -> tuple[Any, str, bool]:
    """``(data, source, is_graph)``: what to fit on, by the rule in the module docstring."""
    if use_rep is not None and neighbors_key is not None:
        msg = (
            "Give use_rep= (diffembed builds the graph) or neighbors_key= (scanpy's graph), "
            f"not both (got use_rep={use_rep!r}, neighbors_key={neighbors_key!r})."
        )
        raise InputError(msg)
    if use_rep is None and (neighbors_key is not None or "neighbors" in adata.uns):
        D, source = _graph(adata, neighbors_key or "neighbors", "distances")
        return D, source, True
    X, source = _representation(adata, use_rep)
    return X, source, False


def _graph_neighbors(D: Any, params: dict[str, Any]) -> int:
    """Neighbours per row of a sparse kNN graph; a user's ``n_neighbors`` is overridden."""
    if not sp.issparse(D):  # a dense distance matrix: keep the k nearest as asked
        return int(params.pop("n_neighbors", 15))
    graph = sp.csr_matrix(D)
    counts = np.diff(graph.indptr) - (graph.diagonal() != 0)
    k = int(max(1, counts.min()))
    if "n_neighbors" in params and params["n_neighbors"] != k:
        warnings.warn(
            f"n_neighbors={params['n_neighbors']} is ignored: the scanpy graph fixes the "
            f"neighbours ({k} per cell, self excluded). Rerun sc.pp.neighbors(n_neighbors=...) "
            "or pass use_rep= to let diffembed build the graph.",
            UserWarning,
            stacklevel=4,
        )
    params.pop("n_neighbors", None)
    return k


def _plain(value: Any) -> Any:
    """A value h5ad can store: None dropped by the caller, numpy scalars as Python ones."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return np.asarray(value)
    return value


def fit_model(
    X: Any, n_components: int, *, is_graph: bool, landmarks: int | None,
    random_state: int | None, params: dict[str, Any],
) -> DiffusionMap:
    """Fit a DiffusionMap (or LandmarkDiffusionMap) with ``params`` on ``X``."""
    from .diffusion_map import DiffusionMap
    from .landmarks import LandmarkDiffusionMap

    params = dict(params)
    if is_graph:
        if landmarks is not None:
            msg = (
                "landmarks= needs points to place by Nyström, not scanpy's graph: pass "
                "use_rep='X_pca' with landmarks=."
            )
            raise InputError(msg)
        params["n_neighbors"] = _graph_neighbors(X, params)
        params["metric"] = "precomputed"
    if landmarks is not None:
        return LandmarkDiffusionMap(n_components, landmarks=landmarks,
                                    random_state=random_state, **params).fit(X)
    return DiffusionMap(n_components, random_state=random_state, **params).fit(X)


def model_summary(model: Any, source: str) -> dict[str, Any]:
    """What ``uns["diffembed"]`` holds for a fitted model read from ``source``."""
    bw = model.bandwidth
    inner = getattr(model, "landmark_model_", model)
    from . import __version__

    info = {
        "version": __version__,
        "method": type(model).__name__,
        "source": source,
        "params": _plain(model.get_params()),
        "bandwidth": float(model.bandwidth_),
        "bandwidth_method": bw if isinstance(bw, str) else "fixed",
        "alpha": float(model.alpha),
        "t": float(model.t),
        "eigenvalues": np.asarray(model.eigenvalues_, dtype=np.float64),
        "timescales": np.asarray(model.timescales_, dtype=np.float64),
        "intrinsic_dimension": float(model.intrinsic_dimension_),
        "n_connected_components": inner.n_connected_components_,
        "knn_method": inner.knn_method_,
        "eigen_solver": inner.eigen_solver_,
        "timings": {k: float(v) for k, v in model.timings_.items()},
        "layout": _LAYOUT,
    }
    if hasattr(model, "stationary_distribution_"):
        info["stationary_distribution"] = np.asarray(model.stationary_distribution_)
    if getattr(model, "landmark_indices_", None) is not None:
        info["landmark_indices"] = np.asarray(model.landmark_indices_)
    return _plain(info)


def scanpy_layout(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(X_diffmap, diffmap_evals)`` in scanpy's layout from a fitted model.

    Column 0 is √π, column k is √π ψ_k (unit-norm eigenvectors of the symmetric conjugate).
    With landmarks π is not known for every cell and the uniform 1/n is used, so
    ``ψ_k = X_diffmap[:, k] / X_diffmap[:, 0]`` holds in both cases. Rows left out of the fit
    are NaN.
    """
    pi = getattr(model, "stationary_distribution_", None)
    return layout_from_arrays(model.eigenvectors_, model.eigenvalues_, pi)


def layout_from_arrays(
    eigenvectors: np.ndarray, eigenvalues: np.ndarray, stationary: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """scanpy's ``(X_diffmap, diffmap_evals)`` from ψ, λ and π (uniform over rows with ψ)."""
    psi = np.asarray(eigenvectors, dtype=np.float64)
    fitted = np.isfinite(psi).all(axis=1)
    if stationary is None:
        pi = np.where(fitted, 1.0 / max(int(fitted.sum()), 1), 0.0)
    else:
        pi = np.asarray(stationary, dtype=np.float64)
    root_pi = np.sqrt(pi)
    out = np.column_stack([root_pi, root_pi[:, None] * psi])
    out[~fitted] = np.nan
    return out, np.r_[1.0, np.asarray(eigenvalues, dtype=np.float64)]


def diffmap(
    adata: AnnData,
    n_comps: int = 15,
    *,
    use_rep: str | None = None,
    neighbors_key: str | None = None,
    landmarks: int | None = None,
    random_state: int | None = 0,
    copy: bool = False,
    return_model: bool = False,
    **params: Any,
) -> Any:
    """Diffusion map of an AnnData, written where ``sc.tl.diffmap`` writes it.

    Parameters
    ----------
    adata
        The annotated data.
    n_comps
        Columns of ``obsm["X_diffmap"]``, the trivial one included (scanpy's meaning): the
        model keeps ``n_comps - 1`` non-trivial components.
    use_rep, neighbors_key
        What to read (see the module docstring): an ``obsm`` key or ``"X"``, or the
        ``uns`` key of a scanpy neighbour graph. Default: scanpy's graph if there is one.
    landmarks
        Fit on this many landmark cells and place the others by Nyström
        (:class:`~diffembed.LandmarkDiffusionMap`; for a million cells). Needs ``use_rep``.
    random_state
        Seed of the eigensolver and the bandwidth sweep.
    copy
        Work on a copy and return it.
    return_model
        Return the fitted estimator (for ``transform`` of new cells), or
        ``(adata_copy, model)`` with ``copy=True``.
    **params
        Any other :class:`~diffembed.DiffusionMap` parameter (``alpha``, ``bandwidth``,
        ``n_neighbors``, ``t``, ``eigen_solver``, ``disconnected``...). ``bandwidth``
        defaults to ``"adaptive"`` here (the local-width kernel of Haghverdi et al. 2016):
        cell data are clumpy, and on ``pbmc68k_reduced`` the automatic global ε resolves the
        tightest clumps and leaves a nearly disconnected kernel (λ₁ = 1 − 2·10⁻¹³). ``alpha``
        stays 1, scanpy's ``density_normalize=True``.

    Returns
    -------
    AnnData or None
        The copy with ``copy=True``, else None (see ``return_model``).

    Examples
    --------
    >>> import scanpy as sc, diffembed as de  # doctest: +SKIP
    >>> adata = sc.datasets.pbmc68k_reduced()  # doctest: +SKIP
    >>> de.tl.diffmap(adata)  # uses the graph of sc.pp.neighbors  # doctest: +SKIP
    >>> sc.pl.diffmap(adata, components="2,3", color="bulk_labels")  # doctest: +SKIP
    """
    _check_adata(adata, "diffmap")
    n_comps = check_int(n_comps, "n_comps", low=2,
                        fix="It counts the trivial column 0, as in scanpy.")
    adata = adata.copy() if copy else adata
    data, source, is_graph = _input(adata, use_rep, neighbors_key)
    params.setdefault("bandwidth", "adaptive")
    model = fit_model(data, n_comps - 1, is_graph=is_graph, landmarks=landmarks,
                      random_state=random_state, params=params)
    X_diffmap, evals = scanpy_layout(model)
    adata.obsm["X_diffmap"] = X_diffmap
    adata.uns["diffmap_evals"] = evals
    adata.obsm["X_diffembed"] = np.asarray(model.embedding_, dtype=np.float64)
    adata.uns["diffembed"] = model_summary(model, source)
    if return_model:
        return (adata, model) if copy else model
    return adata if copy else None


def _root(
    adata: AnnData, root: int | None, root_label: Any, groupby: str | None,
    psi: np.ndarray, evals: np.ndarray,
) -> int:
    if root is not None and root_label is not None:
        msg = "Give root= (a cell index) or root_label= (with groupby=), not both."
        raise InputError(msg)
    if root_label is not None:
        if groupby is None:
            msg = "root_label= needs groupby= (the obs column holding the labels)."
            raise InputError(msg)
        if groupby not in adata.obs:
            cols = ", ".join(map(str, adata.obs.columns)) or "nothing"
            msg = f"groupby={groupby!r} is not an obs column (obs holds: {cols})."
            raise InputError(msg)
        return root_from_label(adata.obs[groupby].to_numpy(), root_label, psi, evals)
    if root is None:
        if "iroot" not in adata.uns:
            msg = (
                "No root cell: pass root= (index), root_label= with groupby=, or set "
                "adata.uns['iroot'] (scanpy's convention)."
            )
            raise InputError(msg)
        root = adata.uns["iroot"]
    return check_int(root, "root", low=0, high=adata.n_obs - 1,
                     fix="Give the row index of a cell (0-based).")


def dpt(
    adata: AnnData,
    n_dcs: int | None = None,
    *,
    root: int | None = None,
    root_label: Any = None,
    groupby: str | None = None,
    copy: bool = False,
    **diffmap_params: Any,
) -> AnnData | None:
    """Diffusion pseudotime from a root cell, written to ``obs["dpt_pseudotime"]``.

    Reads ``obsm["X_diffmap"]`` and ``uns["diffmap_evals"]`` (from :func:`diffmap`, or from
    ``sc.tl.diffmap``: both layouts give ``ψ_k = X_diffmap[:, k] / X_diffmap[:, 0]``); runs
    :func:`diffmap` first when they are missing. The DPT sums every kept non-trivial pair with
    weight ``(λ/(1 − λ))²`` (:mod:`diffembed.pseudotime`); what the truncation leaves out is in
    ``uns["diffembed"]["dpt"]``. No branch detection.

    Parameters
    ----------
    adata
        The annotated data.
    n_dcs
        Columns of ``X_diffmap`` to use, the trivial one included (scanpy's meaning);
        default all.
    root
        Index of the root cell; default ``uns["iroot"]`` (scanpy's convention).
    root_label, groupby
        Alternatively the root's group: ``root_label`` in ``obs[groupby]``; the root is the
        group's cell farthest, in DPT distance, from the other cells
        (:func:`~diffembed.pseudotime.root_from_label`).
    copy
        Work on a copy and return it.
    **diffmap_params
        Passed to :func:`diffmap` when ``X_diffmap`` is missing.

    Returns
    -------
    AnnData or None
        Sets ``obs["dpt_pseudotime"]`` (0 at the root, 1 at the farthest cell; NaN for cells
        left out of the fit, inf for another connected component) and ``uns["iroot"]``.
    """
    _check_adata(adata, "dpt")
    adata = adata.copy() if copy else adata
    if "X_diffmap" not in adata.obsm or "diffmap_evals" not in adata.uns:
        diffmap(adata, **diffmap_params)
    elif diffmap_params:
        warnings.warn(
            f"{', '.join(diffmap_params)} ignored: X_diffmap exists. Run de.tl.diffmap with "
            "them first.",
            UserWarning,
            stacklevel=2,
        )
    basis = np.asarray(adata.obsm["X_diffmap"], dtype=np.float64)
    evals = np.asarray(adata.uns["diffmap_evals"], dtype=np.float64).ravel()
    total = min(basis.shape[1], evals.size)
    n_dcs = total if n_dcs is None else check_int(
        n_dcs, "n_dcs", low=2, high=total, fix="It counts the trivial column 0, as in scanpy."
    )
    if abs(evals[0] - 1.0) > 1e-3 or evals[1] >= 1.0 - 1e-9:
        msg = (
            f"diffmap_evals starts {evals[:2].tolist()}: DPT needs column 0 to be the single "
            "trivial component (eigenvalue 1) and the others below 1. A second eigenvalue "
            "within 1e-9 of 1 means a (nearly) disconnected kernel: use "
            "bandwidth='adaptive' or more neighbours, or disconnected='largest'."
        )
        raise InputError(msg)
    with np.errstate(divide="ignore", invalid="ignore"):
        psi = basis[:, 1:n_dcs] / basis[:, [0]]
    psi[~np.isfinite(psi).all(axis=1)] = np.nan
    root = _root(adata, root, root_label, groupby, psi, evals[1:n_dcs])
    dist = dpt_distances(psi, evals[1:n_dcs], root)
    finite = np.isfinite(dist)
    top = dist[finite].max() if finite.any() else 0.0
    adata.obs["dpt_pseudotime"] = dist / top if top > 0 else dist
    adata.uns["iroot"] = int(root)
    info = dict(adata.uns.get("diffembed", {}))
    info["dpt"] = _plain({"root": int(root), "n_dcs": int(n_dcs),
                          "max_distance": float(top), **dpt_truncation(evals[1:n_dcs])})
    adata.uns["diffembed"] = info
    return adata if copy else None


def tree(
    adata: AnnData,
    n_clusters: Sequence[int] = (2, 4, 8, 16),
    *,
    use_rep: str | None = None,
    neighbors_key: str | None = None,
    key_added: str = "diffembed_tree",
    random_state: int | None = 0,
    copy: bool = False,
    **params: Any,
) -> AnnData | None:
    """Diffusion hierarchy (:class:`~diffembed.DiffusionHierarchy`): one obs column per cut.

    Parameters
    ----------
    adata
        The annotated data.
    n_clusters
        Cuts written as categorical columns ``obs[f"{key_added}_{k}"]``.
    use_rep, neighbors_key
        What to read, as for :func:`diffmap`.
    key_added
        Prefix of the obs columns and the ``uns`` key of the tree.
    random_state
        Seed.
    copy
        Work on a copy and return it.
    **params
        Other :class:`~diffembed.DiffusionHierarchy` parameters; ``n_null`` defaults to 0
        here (no salience test, which would refit the pipeline ``n_null`` more times).

    Returns
    -------
    AnnData or None
        Sets the obs columns and ``uns[key_added]`` (``linkage``, ``n_clusters_per_level``,
        ``scale_per_level``, ``source``).
    """
    import pandas as pd

    from .hierarchy import DiffusionHierarchy

    _check_adata(adata, "tree")
    ks = [check_int(k, "n_clusters", low=1, high=adata.n_obs) for k in n_clusters]
    adata = adata.copy() if copy else adata
    data, source, is_graph = _input(adata, use_rep, neighbors_key)
    params.setdefault("n_null", 0)
    if is_graph:
        params["metric"] = "precomputed"
        params["n_neighbors"] = _graph_neighbors(data, params)
    h = DiffusionHierarchy(random_state=random_state, **params).fit(data)
    for k in ks:
        labels = h.cut(n_clusters=k)
        adata.obs[f"{key_added}_{k}"] = pd.Categorical(labels.astype(str))
    adata.uns[key_added] = _plain({
        "linkage": np.asarray(h.linkage_),
        "n_clusters_per_level": np.asarray(h.n_clusters_per_level_),
        "scale_per_level": np.asarray(h.scale_per_level_, dtype=np.float64),
        "source": source,
        "columns": np.asarray([f"{key_added}_{k}" for k in ks]),
    })
    return adata if copy else None


def smooth(
    adata: AnnData,
    *,
    use_rep: str = "X_pca",
    neighbors_key: str | None = None,
    key_added: str | None = None,
    copy: bool = False,
    **params: Any,
) -> AnnData | None:
    """Diffuse a representation over the cell graph (:class:`~diffembed.DiffusionSmoother`).

    Parameters
    ----------
    adata
        The annotated data.
    use_rep
        The ``obsm`` key (or ``"X"``) to smooth.
    neighbors_key
        Smooth over scanpy's ``connectivities`` graph under this ``uns`` key; default
        ``"neighbors"`` when ``sc.pp.neighbors`` has run (and no ``graph=`` is given), else
        the kNN graph of the representation itself.
    key_added
        The ``obsm`` key written; default ``f"{use_rep}_smoothed"``.
    copy
        Work on a copy and return it.
    **params
        Other :class:`~diffembed.DiffusionSmoother` parameters. Here ``normalize`` defaults to
        False (cell coordinates keep their scale) and ``metric`` to ``"euclidean"``.

    Returns
    -------
    AnnData or None
        Sets ``obsm[key_added]`` and ``uns["diffembed_smooth"]``.
    """
    from .smoothing import DiffusionSmoother

    _check_adata(adata, "smooth")
    adata = adata.copy() if copy else adata
    X, source = _representation(adata, use_rep)
    if sp.issparse(X):
        X = X.toarray()
    graph_source = "knn"
    if "graph" not in params and (neighbors_key is not None or "neighbors" in adata.uns):
        params["graph"], graph_source = _graph(adata, neighbors_key or "neighbors",
                                               "connectivities")
        params["graph"] = sp.csr_matrix(params["graph"])
    params.setdefault("normalize", False)
    params.setdefault("metric", "euclidean")
    model = DiffusionSmoother(**params)
    Y = model.fit_transform(np.asarray(X, dtype=np.float64))
    key = key_added or f"{use_rep}_smoothed"
    adata.obsm[key] = Y
    adata.uns["diffembed_smooth"] = _plain({
        "source": source,
        "graph": graph_source,
        "key_added": key,
        **{k: v for k, v in model.params_resolved_.items() if np.isscalar(v)},
    })
    return adata if copy else None
