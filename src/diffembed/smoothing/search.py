"""The stability search of :class:`~diffembed.smoothing.DiffusionSmoother` (``mode="stability"``).

Every setting of the grid (PPR at :data:`~.smoother.ALPHA_GRID`, heat at
:data:`~.smoother.T_GRID`) smooths every perturbed run; the setting whose runs agree most
(kNN overlap across runs) is chosen among those that keep the effective rank, the mean cosine
and any ``quality`` score close to the unsmoothed runs'.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import _progress
from ..exceptions import InputError
from .graphs import align_rows, knn_adjacency

__all__ = ["stability_search"]

Score = Callable[[dict[str, Any] | None], dict[str, Any]]


def stability_search(
    self: Any, resolved: dict[str, Any], alphas: tuple[float, ...], times: tuple[float, ...]
) -> dict[str, Any]:
    """The chosen ``{"operator", "alpha", "t"}``; every setting's scores go to ``self.search_``.

    ``self`` is the smoother being fitted (its ``runs``, ``run_indexes``, graph options and
    ``quality``); ``alphas`` and ``times`` are the PPR and heat grids. The settings are scored
    as one ``"stability search"`` progress task (settings per second, ETA).
    """
    from ..metrics import effective_rank, mean_cosine, pairwise_overlap

    if self.runs is None or len(self.runs) < 2:
        msg = (
            "mode='stability' needs runs= (at least 2 perturbed runs of the same items, "
            "e.g. word vectors from bootstrap-resampled corpora)."
        )
        raise InputError(msg)
    R = len(self.runs)
    if self.run_indexes is not None and len(self.run_indexes) != R:
        msg = f"run_indexes has {len(self.run_indexes)} entries for {R} runs; give one each."
        raise InputError(msg)
    rows = np.arange(len(self.index_))
    taken = []
    for r in range(R):
        Xr = self._prepare(self.runs[r], name=f"runs[{r}]")
        labels = self.index_ if self.run_indexes is None else self.run_indexes[r]
        labels = self._index(labels, Xr.shape[0])
        mine, theirs = align_rows(self.index_, labels)
        where = np.full(len(self.index_), -1)
        where[mine] = theirs
        taken.append((Xr, where))
        rows = rows[where[rows] >= 0]
    if rows.size < 20:
        msg = f"Only {rows.size} rows are shared by the fitted data and every run; need >= 20."
        raise InputError(msg)
    runs = [Xr[where[rows]] for Xr, where in taken]
    index = [self.index_[i] for i in rows]
    own = isinstance(self.graph, str) and self.graph == "knn"
    A_fixed = None if own else sp.csr_matrix(self.graph_[rows][:, rows])
    rng = np.random.default_rng(self.random_state)
    queries = np.sort(rng.choice(rows.size, min(rows.size, 2000), replace=False))
    k = min(10, rows.size - 1)

    def score(params: dict[str, Any] | None) -> dict[str, Any]:
        if params is None:
            Ys = runs
        else:
            Ys = []
            for Xr in runs:
                A = (
                    A_fixed
                    if A_fixed is not None
                    else knn_adjacency(
                        Xr,
                        self.n_neighbors,
                        metric=self.metric,
                        symmetrize=self.symmetrize,
                        weights=self.weights,
                        knn=self.knn,
                    )
                )
                Ys.append(self._apply(Xr, A, params))
        out = {
            "overlap": pairwise_overlap(Ys, k, queries=queries)["overlap"],
            "effective_rank": float(np.mean([effective_rank(Y) for Y in Ys])),
            "mean_cosine": float(np.mean([mean_cosine(Y) for Y in Ys])),
        }
        if self.quality is not None:
            q = [self.quality(Y, index) for Y in Ys]
            for name in q[0]:
                out[f"quality:{name}"] = float(np.mean([d[name] for d in q]))
        return out

    grid = [{"operator": "ppr", "alpha": a, "t": 0.0} for a in alphas]
    grid += [{"operator": "heat", "alpha": 1.0, "t": t} for t in times]
    with _progress.task("stability search", len(grid) + 1, unit="settings") as running:
        base = score(None)
        running.advance()
        table = [{"operator": "none", "alpha": 1.0, "t": 0.0, **base, "feasible": True}]
        for params in _progress.counted(grid, running):
            table.append({**params, **_judged(score(params), base)})
    feasible = [row for row in table if row["feasible"]]
    best = max(feasible, key=lambda row: row["overlap"])
    self.search_ = table
    if best["operator"] == "none":
        warnings.warn(
            "mode='stability': no smoothing setting on the grid raised the overlap across "
            "runs within the quality constraints; the identity (alpha=1) was chosen.",
            UserWarning,
            stacklevel=4,
        )
        return {"operator": "ppr", "alpha": 1.0, "t": 0.0}
    return {"operator": best["operator"], "alpha": best["alpha"], "t": best["t"]}


def _judged(s: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """A setting's scores and whether they keep rank, cosine and quality near ``base``."""
    ok = s["effective_rank"] >= 0.9 * base["effective_rank"]
    ok &= s["mean_cosine"] <= base["mean_cosine"] + 0.1
    for key, v in base.items():
        if key.startswith("quality:"):
            ok &= s[key] >= v - 0.02
    return {**s, "feasible": bool(ok)}
