"""A notebook summary of fitted estimators: parameters, spectrum, sizes (``_repr_html_``).

Mixed in front of scikit-learn's ``BaseEstimator`` (whose own ``_repr_html_`` /
``_repr_mimebundle_`` draw the estimator diagram), so Jupyter shows what a diffusion-map user
wants to see after ``fit``: how many points and coordinates, the eigenvalues with their
timescales, the bandwidth and the other learned facts, then the parameters. Every value is
escaped (``html.escape``), so hostile names or labels show as text.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

__all__ = ["SummaryReprMixin", "summary_html"]

_MAX_SPECTRUM = 20
_FACTS = (
    ("bandwidth_", "bandwidth ε"),
    ("intrinsic_dimension_", "intrinsic dimension"),
    ("n_connected_components_", "graph components"),
    ("n_duplicates_", "duplicate points"),
    ("knn_method_", "kNN search"),
    ("eigen_solver_", "eigensolver"),
    ("params_resolved_", "filter used"),
    ("gain_floor_", "gain floor"),
    ("graph_info_", "graph"),
    ("n_partitions_", "partitions"),
    ("salient_levels_", "salient levels"),
)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        v = float(value)
        return "∞" if math.isinf(v) else "—" if math.isnan(v) else f"{v:.6g}"
    if isinstance(value, np.ndarray):
        shown = ", ".join(_fmt(v) for v in value.ravel()[:8].tolist())
        return f"[{shown}{', …' if value.size > 8 else ''}]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in list(value.items())[:8])
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _sizes(est: Any) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    emb = getattr(est, "embedding_", None)
    levels = getattr(est, "levels_", None)
    n = emb.shape[0] if emb is not None else levels.shape[0] if levels is not None else None
    if n is not None:
        rows.append(("points", f"{n:,}"))
    if getattr(est, "n_features_in_", None) is not None:
        rows.append(("input features", est.n_features_in_))
    if emb is not None and getattr(emb, "ndim", 0) == 2:
        rows.append(("coordinates", emb.shape[1]))
    if levels is not None:
        rows.append(("levels", levels.shape[1]))
    landmarks = getattr(est, "landmark_indices_", None)
    if landmarks is not None:
        rows.append(("landmarks", f"{np.asarray(landmarks).size:,}"))
    names = getattr(est, "node_names_", None) or getattr(est, "index_", None)
    if names is not None and len(names):
        names = list(names)
        shown = ", ".join(_fmt(x) for x in names[:5])
        rows.append(("rows", f"{shown}{', …' if len(names) > 5 else ''}"))
    return rows


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{_e(k)}</th><td>{_e(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"


def summary_html(est: Any) -> str:
    """The HTML summary of an estimator (fitted or not)."""
    name = type(est).__name__
    fitted = any(
        getattr(est, attr, None) is not None
        for attr in ("embedding_", "eigenvalues_", "levels_", "graph_")
    )
    state = "fitted" if fitted else "not fitted"
    parts = [
        f"<div class='diffembed-summary'><b>{_e(name)}</b> "
        f"<span style='color:#7b8794'>{state}</span>"
    ]
    if fitted:
        sizes = _sizes(est)
        if sizes:
            parts.append(f"<h4 style='margin:.6em 0 .2em'>Sizes</h4>{_table(sizes)}")
        facts = [(label, _fmt(getattr(est, attr))) for attr, label in _FACTS
                 if getattr(est, attr, None) is not None]  # fmt: skip
        if facts:
            parts.append(f"<h4 style='margin:.6em 0 .2em'>Results</h4>{_table(facts)}")
        lam = getattr(est, "eigenvalues_", None)
        if lam is not None:
            lam = np.asarray(lam, dtype=np.float64)
            tau = getattr(est, "timescales_", None)
            tau = np.full(lam.shape, np.nan) if tau is None else np.asarray(tau, dtype=float)
            rows = "".join(
                f"<tr><td>dc{i + 1}</td><td>{_e(_fmt(v))}</td><td>{_e(_fmt(t))}</td></tr>"
                for i, (v, t) in enumerate(zip(lam[:_MAX_SPECTRUM], tau, strict=False))
            )
            more = lam.size - _MAX_SPECTRUM
            note = f"<p>… {more} more</p>" if more > 0 else ""
            parts.append(
                "<h4 style='margin:.6em 0 .2em'>Spectrum</h4><table><tr><th>component</th>"
                f"<th>eigenvalue λ</th><th>timescale −1/log λ</th></tr>{rows}</table>{note}"
            )
    params = [(k, _fmt(v)) for k, v in sorted(est.get_params(deep=False).items())]
    parts.append(f"<details><summary>Parameters</summary>{_table(params)}</details></div>")
    return "".join(parts)


class SummaryReprMixin:
    """Adds the notebook summary (:func:`summary_html`) in front of scikit-learn's diagram."""

    def _repr_html_(self) -> str:
        return summary_html(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": summary_html(self)}
