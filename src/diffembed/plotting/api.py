"""``de.report(obj, "report.html")``: the CLI's explorer page from a fitted object in Python.

The page is built by the same pure builder as ``diffembed map`` / ``diffembed report``
(:func:`diffembed.plotting.report.build_report_html`), from the same columns the CLI saves
(``id``, ``dc1``…``dcK``, a label column), the spectrum and a manifest of the parameters and
results, and written atomically (:func:`diffembed.plotting.page.write_page`). Every user string
is escaped by that builder; nothing is loaded from the network.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError

__all__ = ["report", "report_inputs"]

_RESULTS = (
    "bandwidth_", "intrinsic_dimension_", "n_duplicates_", "n_connected_components_",
    "knn_method_", "knn_recall_", "eigen_solver_",
)  # fmt: skip


def _plain(value: Any) -> Any:
    """JSON-ready parameters: numbers, strings, lists, dicts; anything else as a short repr."""
    import reprlib

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value[:50]]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return reprlib.repr(value)


def _neighbors(X: Any, k: int, model: Any) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    from ..neighbors import knn_graph

    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    k = min(int(k), n - 1)
    metric = str(getattr(model, "metric", "euclidean")) if model is not None else "euclidean"
    used = getattr(getattr(model, "landmark_model_", model), "knn_method_", None)
    method = used if used in ("exact", "approximate") else "auto"  # as the model searched
    graph, _ = knn_graph(X, k, method=method, metric=metric)
    graph = graph.tocsr()
    if np.any(np.diff(graph.indptr) != k):
        msg = "The neighbour search returned rows with fewer than k neighbours (duplicates?)."
        raise InputError(msg)
    ind, dist = graph.indices.reshape(n, k), graph.data.reshape(n, k)
    order = np.argsort(dist, axis=1, kind="stable")
    ind = np.take_along_axis(ind, order, axis=1).astype(np.int32)
    dist = np.take_along_axis(dist, order, axis=1).astype(np.float32)
    info = {"k": k, "space": "input", "metric": metric, "method": method}
    return ind, dist, info


def report_inputs(
    obj: Any,
    *,
    color: Any = None,
    X: Any = None,
    n_neighbors: int = 10,
    basis: str | None = None,
) -> dict[str, Any]:
    """The arguments of ``build_report_html`` for ``obj``: columns, spectrum, manifest."""
    from ..plot import _values, view_of

    view = view_of(obj, basis)
    coords, model = view["coords"], view["model"]
    n, k = coords.shape
    ids = view["ids"]
    columns: dict[str, Any] = {"id": np.arange(n) if ids is None else np.array(ids, dtype=object)}
    for j in range(k):
        columns[f"dc{j + 1}"] = coords[:, j]
    label = None
    if color is not None:
        label, values = _values(view, color, "color")
        if label in columns:
            label = f"{label} (colour)"
        columns[label] = values
    for name, values in view["columns"].items():  # AnnData obs columns
        if name not in columns:
            columns[name] = np.asarray(values, dtype=object)
    spectrum = None
    if view["eigenvalues"] is not None:
        lam = np.asarray(view["eigenvalues"], dtype=np.float64)
        tau = view["timescales"]
        tau = np.full(lam.shape, math.nan) if tau is None else np.asarray(tau, dtype=np.float64)
        spectrum = [
            {"component": float(i + 1), "eigenvalue": float(v), "timescale": float(t)}
            for i, (v, t) in enumerate(zip(lam, tau, strict=True))
        ]
    results: dict[str, Any] = {}
    manifest: dict[str, Any] = {
        "command": "report (Python)",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "input": {"dataset": view["name"], "n_samples": n},
        "label_column": label,
        "results": results,
    }
    if model is not None:
        from ..io.writers import json_safe

        inner = getattr(model, "landmark_model_", model)
        manifest["parameters"] = _plain(json_safe(model.get_params(deep=False)))
        for attr in _RESULTS:
            value = getattr(inner, attr, None)
            if value is not None:
                results[attr.rstrip("_")] = _plain(json_safe(value))
        if getattr(model, "bandwidth_", None) is not None:
            results["bandwidth"] = float(model.bandwidth_)
        if getattr(model, "n_features_in_", None) is not None:
            manifest["input"]["n_features"] = int(model.n_features_in_)
    out = {"embedding": columns, "spectrum": spectrum, "manifest": manifest,
           "neighbors": None, "neighbor_distances": None}  # fmt: skip
    if X is not None and n_neighbors > 0:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] != n:
            msg = f"X has shape {X.shape} but the embedding has {n} rows; give the fitted data."
            raise InputError(msg)
        ind, dist, info = _neighbors(X, n_neighbors, model)
        out["neighbors"], out["neighbor_distances"] = ind, dist
        manifest["neighbors"] = info
    return out


def report(
    obj: Any,
    path: str | os.PathLike[str] = "report.html",
    *,
    color: Any = None,
    X: Any = None,
    n_neighbors: int = 10,
    basis: str | None = None,
) -> Path:
    """Write the self-contained explorer page of ``obj``, as ``diffembed map`` writes it.

    Parameters
    ----------
    obj
        A fitted DiffusionMap / LandmarkDiffusionMap / DiffusionHierarchy /
        DiffusionSmoother (``fit_transform``), a KeyedVectors, an AnnData (``obsm[basis]``, its
        ``obs`` columns as metadata) or a 2-D array.
    path
        The HTML file to write (atomically; its directory is created).
    color
        Per-point labels or values (or a column name) to colour by, shown as the label column.
    X
        The data ``obj`` was fitted on: the explorer then lists each point's ``n_neighbors``
        nearest neighbours in the input space, as the CLI's report does.
    n_neighbors
        Neighbours per point when ``X`` is given.
    basis
        AnnData ``obsm`` key (default: the first of X_diffembed, X_diffmap, X_umap, X_pca).

    Returns
    -------
    pathlib.Path
        The page written: plotly.js inline, no network access, every user string escaped.
    """
    from .page import write_page
    from .report import build_report_html

    parts = report_inputs(obj, color=color, X=X, n_neighbors=n_neighbors, basis=basis)
    page = build_report_html(
        parts["embedding"], parts["spectrum"], parts["manifest"],
        source="Python session", neighbors=parts["neighbors"],
        neighbor_distances=parts["neighbor_distances"],
    )  # fmt: skip
    return write_page(page, Path(path))
