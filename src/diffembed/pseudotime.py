"""Diffusion pseudotime (Haghverdi, Büttner, Wolf, Buettner and Theis 2016).

The DPT distance between two points is the distance between their rows of the accumulated
transition matrix ``M = Σ_{t≥1} P^t = P (I − P)⁻¹`` (the trivial, stationary part removed).
In the eigenbasis of the Markov matrix ``P`` (right eigenvectors ψ_k, normalised so that
``Σ_i π_i ψ_k(i)² = 1``) it is

.. math::

    \\mathrm{dpt}(x, y)^2 = \\sum_{k \\ge 1} \\Big(\\frac{\\lambda_k}{1 - \\lambda_k}\\Big)^2
    \\big(\\psi_k(x) - \\psi_k(y)\\big)^2 ,

a diffusion distance in which every time scale is summed, so no diffusion time has to be
chosen. The pseudotime of a point is its DPT distance from a root point.

**Truncation.** The sum runs over the non-trivial eigenpairs that were computed (the fitted
``DiffusionMap``'s ``n_components``); the trivial pair (λ₀ = 1, constant ψ₀) contributes
nothing to a difference and is never used. Every omitted pair has ``|λ| ≤ λ_m`` (the smallest
kept), so it enters with a weight at most ``(λ_m / (1 − λ_m))²``; :func:`dpt_truncation`
reports that weight relative to the first pair's. Because the weight falls steeply with λ the
result barely moves once a few slow components are kept (``tests/test_pseudotime.py`` checks
the ordering of simulated trajectories for 2 to 30 components).

Branch detection (scanpy's ``n_branchings``) is not implemented.

Differences from scanpy's ``tl.dpt``: scanpy sums over the eigenvectors φ of the *symmetric*
conjugate of ``P`` (``φ = √π ψ`` up to scale), which weights each point's coordinates by its
stationary probability, and it adds the (non-constant) trivial vector √π as if it had weight 1;
here the right eigenvectors ψ of ``P`` are used, which is the formula above. scanpy also gives
every eigenvalue ≥ 0.9994 (a float32 guard) weight 1 instead of λ/(1 − λ) ≥ 1666: on thin,
densely sampled trajectories the slowest components, the ones that span the trajectory, have
λ above that cut-off, and scanpy's pseudotime then follows faster components (Spearman −0.23
with the true time on the 1,500-cell branching trajectory of ``tests/test_tl_anndata.py``;
0.999 here, and 0.999 with this formula on scanpy's own ``X_diffmap``; ``docs/scanpy.md``).
Both normalise the pseudotime by its largest finite value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_int
from .exceptions import InputError

if TYPE_CHECKING:
    from .diffusion_map import DiffusionMap

__all__ = ["dpt", "dpt_distances", "dpt_truncation", "dpt_weights", "root_from_label"]


def dpt_weights(eigenvalues: np.ndarray) -> np.ndarray:
    """The DPT weights ``λ / (1 − λ)`` of non-trivial eigenvalues.

    Parameters
    ----------
    eigenvalues
        Non-trivial eigenvalues of the Markov matrix, each in [-1, 1).

    Returns
    -------
    ndarray
        One weight per eigenvalue.

    Raises
    ------
    InputError
        If an eigenvalue is 1 or more (a trivial pair, or a second connected component: its
        weight would be infinite).
    """
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if lam.size == 0:
        msg = "No eigenvalues given: DPT needs at least one non-trivial eigenpair."
        raise InputError(msg)
    if not np.all(np.isfinite(lam)) or np.any(lam >= 1.0 - 1e-12) or np.any(lam < -1.0 - 1e-12):
        bad = lam[~np.isfinite(lam) | (lam >= 1.0 - 1e-12) | (lam < -1.0 - 1e-12)][0]
        msg = (
            f"Eigenvalue {float(bad)!r} is outside [-1, 1): DPT weights λ/(1 − λ) need the "
            "non-trivial eigenvalues only. Drop the trivial pair (λ = 1); a second λ = 1 means a "
            "disconnected graph (fit with disconnected='components' or more neighbours)."
        )
        raise InputError(msg)
    return lam / (1.0 - lam)


def dpt_truncation(eigenvalues: np.ndarray) -> dict[str, Any]:
    """What the truncated DPT sum leaves out.

    Parameters
    ----------
    eigenvalues
        The non-trivial eigenvalues used, decreasing.

    Returns
    -------
    dict
        ``n_eigenpairs`` (pairs summed), ``smallest_eigenvalue`` (λ_m),
        ``max_omitted_weight`` (``(λ_m / (1 − λ_m))²``, the most any omitted pair can weigh)
        and ``max_omitted_weight_ratio`` (that bound over the first pair's weight).
    """
    w = dpt_weights(eigenvalues) ** 2
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    last = float(lam[-1])
    bound = float((max(last, 0.0) / (1.0 - last)) ** 2) if last > 0 else 0.25
    return {
        "n_eigenpairs": int(lam.size),
        "smallest_eigenvalue": last,
        "max_omitted_weight": bound,
        "max_omitted_weight_ratio": float(bound / w.max()) if w.max() > 0 else float("nan"),
        "rule": "sum over the computed non-trivial eigenpairs, weights (lambda/(1-lambda))^2",
    }


def dpt_distances(
    eigenvectors: np.ndarray,
    eigenvalues: np.ndarray,
    root: int,
    *,
    component_labels: np.ndarray | None = None,
) -> np.ndarray:
    """DPT distance of every point from ``root``.

    Parameters
    ----------
    eigenvectors
        Non-trivial right eigenvectors ψ of the Markov matrix, shape (n_samples, m), normalised
        so that ``Σ π ψ² = 1`` (``DiffusionMap.eigenvectors_``). Rows of NaN (points left out
        of the fit) get NaN.
    eigenvalues
        The matching eigenvalues, shape (m,).
    root
        Index of the root point.
    component_labels
        Connected component of every point; points outside the root's component get ``inf``
        (as in scanpy).

    Returns
    -------
    ndarray of shape (n_samples,)
        ``sqrt(Σ_k (λ_k/(1−λ_k))² (ψ_k(x) − ψ_k(root))²)``; 0 at the root.
    """
    psi = np.asarray(eigenvectors, dtype=np.float64)
    if psi.ndim != 2:
        msg = f"eigenvectors must be a 2-D array (n_samples, m), got shape {psi.shape}."
        raise InputError(msg)
    w = dpt_weights(eigenvalues)
    if w.size != psi.shape[1]:
        msg = (
            f"{w.size} eigenvalues for {psi.shape[1]} eigenvectors: give one eigenvalue per "
            "column."
        )
        raise InputError(msg)
    n = psi.shape[0]
    root = check_int(root, "root", low=0, high=n - 1,
                     fix="Give the row index of a point (0-based).")
    if not np.all(np.isfinite(psi[root])):
        msg = (
            f"The root point {root} has no diffusion coordinates (it was left out of the fit, "
            "e.g. by disconnected='largest'). Choose a root in the fitted component."
        )
        raise InputError(msg)
    diff = (psi - psi[root]) * w[None, :]
    dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    if component_labels is not None:
        labels = np.asarray(component_labels)
        dist[labels != labels[root]] = np.inf
    return dist


def root_from_label(
    labels: Any, label: Any, eigenvectors: np.ndarray, eigenvalues: np.ndarray
) -> int:
    """The root point of a group: its point farthest, in DPT distance, from all other points.

    scanpy leaves the root to the user (its docs suggest the first cell of a group,
    ``np.flatnonzero(adata.obs[key] == label)[0]``, which is arbitrary within the group).
    Here the DPT distance is the Euclidean distance of the points ``z = (λ/(1−λ)) ψ``, and the
    root is the group's point farthest from the mean ``z`` of the points outside the group
    (of the group itself when it holds every point). For a group at one end of a trajectory
    (progenitors) this is its tip, where a pseudotime should start; it costs O(n m).

    Parameters
    ----------
    labels
        One label per point.
    label
        The group holding the root.
    eigenvectors, eigenvalues
        Non-trivial ψ (n_samples, m) and λ (m,) of the Markov matrix; NaN rows are skipped.

    Returns
    -------
    int
        Index of the root point.
    """
    values = np.asarray(labels)
    z = np.asarray(eigenvectors, dtype=np.float64) * dpt_weights(eigenvalues)[None, :]
    if values.shape[0] != z.shape[0]:
        msg = f"{values.shape[0]} labels for {z.shape[0]} points: give one label per point."
        raise InputError(msg)
    as_str = values.astype(str)
    fitted = np.isfinite(z).all(axis=1)
    inside = (as_str == str(label)) & fitted
    members = np.flatnonzero(inside)
    if members.size == 0:
        present = sorted(set(as_str.tolist()))
        shown = ", ".join(repr(v) for v in present[:20])
        more = f", ... ({len(present)} in all)" if len(present) > 20 else ""
        msg = f"No fitted point has the label {label!r}; the labels are {shown}{more}."
        raise InputError(msg)
    others = fitted & ~inside
    centre = z[others].mean(axis=0) if others.any() else z[members].mean(axis=0)
    far = np.einsum("ij,ij->i", z[members] - centre, z[members] - centre)
    return int(members[np.argmax(far)])


def dpt(
    model: DiffusionMap,
    root: int | None = None,
    *,
    labels: Any = None,
    root_label: Any = None,
    normalize: bool = True,
) -> np.ndarray:
    """Diffusion pseudotime of the points a :class:`~diffembed.DiffusionMap` was fitted on.

    Parameters
    ----------
    model
        A fitted ``DiffusionMap`` (or ``LandmarkDiffusionMap``). Its ``n_components``
        eigenpairs are summed (see the module's note on truncation): keep at least the slow
        components that span the trajectory (10 is plenty for the data in the tests).
    root
        Index of the root point; or give ``labels`` and ``root_label``.
    labels, root_label
        Choose the root within the group ``root_label`` of ``labels`` by
        :func:`root_from_label` (the group's point farthest from the other points).
    normalize
        Divide by the largest finite distance, so the pseudotime runs from 0 to 1 (as
        scanpy's ``obs["dpt_pseudotime"]``); ``False`` returns the DPT distances.

    Returns
    -------
    ndarray of shape (n_samples,)
        Pseudotime; NaN for points left out of the fit, ``inf`` for points in another
        connected component than the root (``disconnected="components"``).

    Examples
    --------
    >>> import numpy as np, diffembed as de
    >>> from diffembed.pseudotime import dpt
    >>> rng = np.random.default_rng(0)
    >>> s = np.sort(rng.uniform(0, 1, 400))
    >>> X = np.c_[np.cos(3 * s), np.sin(3 * s), s] + rng.normal(0, 0.01, (400, 3))
    >>> dm = de.DiffusionMap(5, random_state=0).fit(X)
    >>> pt = dpt(dm, root=0)
    >>> from scipy.stats import spearmanr
    >>> round(float(spearmanr(pt, s)[0]), 3)
    1.0
    """
    if not hasattr(model, "eigenvalues_"):
        msg = "The model is not fitted: call model.fit(X) before dpt(model, root)."
        raise InputError(msg)
    psi = np.asarray(model.eigenvectors_)
    lam = np.asarray(model.eigenvalues_)
    if (root is None) == (root_label is None):
        msg = (
            "Give exactly one of root= (a row index) or root_label= (with labels=): "
            f"{'both were given' if root is not None else 'neither was given'}."
        )
        raise InputError(msg)
    if root is None:
        if labels is None:
            msg = "root_label= needs labels= (one label per fitted point)."
            raise InputError(msg)
        root = root_from_label(labels, root_label, psi, lam)
    comps = None
    if getattr(model, "disconnected", "raise") == "components" and getattr(
        model, "n_connected_components_", 1
    ) > 1:
        comps = model.component_labels_
    dist = dpt_distances(psi, lam, root, component_labels=comps)
    if not normalize:
        return dist
    finite = np.isfinite(dist)
    top = dist[finite].max() if finite.any() else 0.0
    return dist / top if top > 0 else dist
