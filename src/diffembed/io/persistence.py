"""Save and load fitted models as data: ``model.json`` + ``arrays.npz``, never a pickle.

A model directory holds

``model.json``
    ``{"format": "diffembed.model", "format_version": 1, "class": "DiffusionMap",
    "diffembed_version": ..., "meta": {...}}`` where ``meta`` is the metadata part of
    :meth:`~diffembed.DiffusionMap.get_fitted_state` (parameters and scalar results), plus an
    optional ``"feature_names"`` list naming the input columns.
``arrays.npz``
    The fitted arrays (float and integer only), written with :func:`numpy.savez_compressed`
    and read with ``allow_pickle=False``.

Newer diffembed versions keep reading older ``format_version`` values; a file with a newer
``format_version`` than this version understands is refused with a message to upgrade.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_in, check_int, check_real
from ..exceptions import InputError
from .safe_files import (
    check_header,
    npz_headers,
    read_model_document,
    read_npz_members,
    refuse,
)
from .writers import atomic_path, output_directory, write_json_atomic

__all__ = ["FORMAT", "FORMAT_VERSION", "load_model", "read_model_info", "save_model"]

#: Value of the ``"format"`` key of ``model.json``.
FORMAT = "diffembed.model"
#: Newest ``format_version`` written and read by this version.
FORMAT_VERSION = 1

_MODEL_JSON = "model.json"
_ARRAYS = "arrays.npz"
_SUPPORTED_CLASSES = ("DiffusionMap",)
# Scalars that may be NaN: stored as null in the strict JSON file and restored as NaN.
_FLOAT_META = ("bandwidth_", "intrinsic_dimension_", "bandwidth_sweep_dimension")
# Scalar results every format_version 1 file has. Results added to the estimator later (e.g.
# ``eigen_solver_``) are optional: a file written before them loads with the value None.
_V1_SCALARS = (
    "bandwidth_",
    "intrinsic_dimension_",
    "knn_method_",
    "n_features_in_",
    "n_duplicates_",
    "n_connected_components_",
)


def _version() -> str:
    from .. import __version__

    return __version__


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    feature_names: list[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Save a fitted model to a directory (``model.json`` + ``arrays.npz``), atomically.

    Parameters
    ----------
    model
        A fitted :class:`~diffembed.DiffusionMap`.
    path
        Directory to create. It must not exist or be empty unless ``overwrite``.
    feature_names
        Names of the input columns, stored so that :func:`read_model_info` callers (such as
        ``diffembed transform``) can match new data by column name.
    overwrite
        Replace an existing directory (only after the new one is complete).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        The model is not fitted, or a parameter cannot be stored as JSON (e.g. a
        ``numpy.random.RandomState`` as ``random_state``: use an int).
    """
    if not hasattr(model, "get_fitted_state"):
        msg = f"save_model needs a diffembed estimator, got {type(model).__name__}."
        raise InputError(msg)
    from sklearn.exceptions import NotFittedError

    try:
        meta, arrays = model.get_fitted_state()
    except NotFittedError as exc:
        msg = f"The {type(model).__name__} is not fitted yet; call fit(X) before save_model."
        raise InputError(msg) from exc
    _check_jsonable(meta)
    for name, arr in arrays.items():
        if np.asarray(arr).dtype.kind not in "biuf":
            msg = (
                f"Array {name!r} has dtype {np.asarray(arr).dtype}; only numeric arrays are "
                "saved (no pickles)."
            )
            raise InputError(msg)
    document: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        # a LandmarkDiffusionMap stores (and loads as) the DiffusionMap of its landmarks
        "class": meta.get("class", type(model).__name__),
        "diffembed_version": _version(),
        "meta": meta,
    }
    if feature_names is not None:
        document["feature_names"] = [str(n) for n in feature_names]
    # what load_model checks each array header against before reading any data
    document["n_samples"] = int(np.asarray(arrays["fitted_mask_"]).shape[0])
    with output_directory(path, overwrite=overwrite) as tmp:
        with atomic_path(tmp / _ARRAYS) as npz, open(npz, "wb") as handle:
            np.savez_compressed(handle, **{k: np.asarray(v) for k, v in arrays.items()})
        write_json_atomic(document, tmp / _MODEL_JSON)
    return Path(path)


def _check_jsonable(meta: dict[str, Any]) -> None:
    for key, value in meta.get("params", {}).items():
        try:
            json.dumps(value)
        except TypeError as exc:
            msg = (
                f"Parameter {key}={value!r} cannot be saved as JSON (a model file holds data, "
                "not Python objects). Use a plain value, e.g. an int random_state."
            )
            raise InputError(msg) from exc


def read_model_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``model.json`` of a saved model directory (no arrays are loaded).

    Returns
    -------
    dict
        The parsed document (``format``, ``format_version``, ``class``,
        ``diffembed_version``, ``meta`` and optionally ``feature_names``).
    """
    directory = Path(path).expanduser()
    if not directory.exists():
        msg = (
            f"Model directory {directory} does not exist. Give the model/ folder written by "
            "save_model or `diffembed map`."
        )
        raise InputError(msg)
    if not directory.is_dir():
        msg = (
            f"{directory} is a file; a saved model is a directory holding {_MODEL_JSON} and "
            f"{_ARRAYS}."
        )
        raise InputError(msg)
    json_path = directory / _MODEL_JSON
    if not json_path.is_file():
        msg = (
            f"{directory} has no {_MODEL_JSON}, so it is not a saved diffembed model. If it is a "
            "`diffembed map` output directory, pass its model/ subdirectory."
        )
        raise InputError(msg)
    document = read_model_document(
        json_path, fmt=FORMAT, max_version=FORMAT_VERSION, reader_version=_version()
    )
    cls_name = document.get("class")
    if cls_name not in _SUPPORTED_CLASSES:
        msg = (
            f"{json_path} holds a {cls_name!r} model; this version of diffembed loads "
            f"{', '.join(_SUPPORTED_CLASSES)} models."
        )
        raise InputError(msg)
    if not isinstance(document.get("meta"), dict) or not isinstance(
        document["meta"].get("params"), dict
    ):
        msg = (
            f"{json_path} lacks its 'meta' section (parameters and fitted values); the file "
            "is damaged. Save the model again."
        )
        raise InputError(msg)
    return document


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a model saved by :func:`save_model` (no code is executed, nothing is unpickled).

    The folder is treated as untrusted input: ``model.json`` is size- and depth-capped and its
    parameters go through the estimator's own checks; only the arrays the format defines are
    read, each after its header (dtype, shape, size) has been checked against what the JSON
    declares, and the values are checked (finite, positive densities, eigenvalues in
    [-1, 1], a stationary distribution summing to 1, ...).

    Parameters
    ----------
    path
        The model directory.

    Returns
    -------
    DiffusionMap
        The fitted model, ready for ``transform`` and ``transform_at``.

    Raises
    ------
    InputError
        A missing directory or file, a file of another format or of a newer
        ``format_version``, or anything that is not what the format defines: "model file
        tampered or from another tool: <what> (<file>)".
    """
    from ..diffusion_map import DiffusionMap

    directory = Path(path).expanduser()
    document = read_model_info(directory)
    json_path = directory / _MODEL_JSON
    meta = dict(document["meta"])
    for key in _FLOAT_META:
        if key in meta and meta[key] is None:
            meta[key] = math.nan
    for key in getattr(DiffusionMap, "_SCALAR_ATTRIBUTES", ()):
        if key not in _V1_SCALARS:
            meta.setdefault(key, None)
    missing = [key for key in _V1_SCALARS if key not in meta]
    if missing:
        refuse(f"'meta' lacks the entry {missing[0]!r}", json_path)
    model = _checked_estimator(meta["params"], json_path)
    _check_scalars(meta, document, model, json_path)
    arrays = _load_arrays(directory / _ARRAYS, document, meta, model)
    return DiffusionMap.from_fitted_state(meta, arrays)


def _checked_estimator(params: dict[str, Any], json_path: Path) -> Any:
    """A DiffusionMap built from the stored parameters, after its own parameter checks."""
    from sklearn.neighbors import VALID_METRICS

    from ..diffusion_map import DiffusionMap

    known = set(DiffusionMap._get_param_names())
    unknown = sorted(set(params) - known)
    if unknown:
        refuse(f"unknown parameter(s) {', '.join(map(repr, unknown))}", json_path)
    model = DiffusionMap(**params)
    try:
        model._check_params()
        metric = model.metric
        if not isinstance(metric, str) or (
            metric != "precomputed" and metric not in VALID_METRICS["brute"]
        ):
            msg = f"metric={metric!r} is not a metric diffembed knows"
            raise InputError(msg)
        if model.random_state is not None:
            check_int(model.random_state, "random_state", low=0)
        if model.n_jobs is not None and check_int(model.n_jobs, "n_jobs", low=-4096) == 0:
            msg = "n_jobs=0 is not valid: use None, -1 (all cores) or a positive count"
            raise InputError(msg)
    except InputError as exc:
        refuse(str(exc).rstrip("."), json_path)
    return model


def _check_scalars(meta: dict[str, Any], document: dict[str, Any], model: Any,
                   json_path: Path) -> None:  # fmt: skip
    from ..spectral import SOLVERS

    checks: list[tuple[str, Any]] = [
        ("bandwidth_", lambda v: check_real(v, "bandwidth_", low=0.0, low_inclusive=False)),
        ("n_features_in_", lambda v: check_int(v, "n_features_in_", low=1)),
        ("n_duplicates_", lambda v: check_int(v, "n_duplicates_", low=0)),
        ("n_connected_components_", lambda v: check_int(v, "n_connected_components_", low=1)),
        ("knn_method_", lambda v: check_in(v, "knn_method_",
                                           ("exact", "approximate", "precomputed"))),
    ]
    optional: list[tuple[str, Any]] = [
        ("intrinsic_dimension_", lambda v: math.isnan(v) or check_real(v, "intrinsic_dimension_")),
        ("bandwidth_sweep_dimension",
         lambda v: math.isnan(v) or check_real(v, "bandwidth_sweep_dimension")),
        ("eigen_solver_", lambda v: check_in(v, "eigen_solver_", SOLVERS)),
        ("knn_recall_", lambda v: check_real(v, "knn_recall_", low=0.0, high=1.0)),
        ("knn_retried_", lambda v: check_int(v, "knn_retried_", low=0)),
    ]  # fmt: skip
    try:
        for key, check in checks:
            check(meta[key])
        for key, check in optional:
            if meta.get(key) is not None:
                if key in _FLOAT_META and not isinstance(meta[key], (int, float)):
                    check_real(meta[key], key)
                check(meta[key])
        if (meta["knn_method_"] == "precomputed") != (model.metric == "precomputed"):
            msg = f"knn_method_={meta['knn_method_']!r} does not match metric={model.metric!r}"
            raise InputError(msg)
        timings = meta.get("timings", {})
        if not isinstance(timings, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in timings.items()
        ):
            msg = "'timings' must map stage names to seconds"
            raise InputError(msg)
        n_features = meta["n_features_in_"]
        for where, names in (("meta", meta.get("feature_names_in_")),
                             ("document", document.get("feature_names"))):  # fmt: skip
            if names is None:
                continue
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                msg = f"the feature names ({where}) must be a list of strings"
                raise InputError(msg)
            if len(names) != n_features:
                msg = (f"{len(names)} feature names ({where}) for n_features_in_="
                       f"{n_features}")
                raise InputError(msg)
    except InputError as exc:
        refuse(str(exc).rstrip("."), json_path)


_REQUIRED = (
    "eigenvalues_",
    "eigenvectors_",
    "stationary_distribution_",
    "density_",
    "component_labels_",
    "fitted_mask_",
    "bandwidth_sweep_epsilons",
    "bandwidth_sweep_slopes",
)
_OPTIONAL = ("local_scales_", "X_fit")
#: Longest bandwidth sweep accepted (the estimator writes 64 values).
_MAX_SWEEP = 100_000


def _load_arrays(npz_path: Path, document: dict[str, Any], meta: dict[str, Any],
                 model: Any) -> dict[str, np.ndarray]:  # fmt: skip
    """Check every header against the JSON, then read and check the values."""
    if not npz_path.is_file():
        msg = f"The model directory {npz_path.parent} has no {_ARRAYS}; save the model again."
        raise InputError(msg)
    headers = npz_headers(npz_path, (*_REQUIRED, *_OPTIONAL))
    for name in _REQUIRED:
        if name not in headers:
            refuse(f"the array {name!r} is missing", npz_path)
    n = check_header(headers, "fitted_mask_", (None,), "bu", npz_path).shape[0]
    declared = document.get("n_samples", n)
    if isinstance(declared, bool) or not isinstance(declared, int) or declared != n:
        refuse(f"model.json declares n_samples={declared!r} but fitted_mask_ has "
                       f"{n} rows", npz_path)
    k = check_header(headers, "eigenvalues_", (None,), "f", npz_path).shape[0]
    if not 1 <= k <= model.n_components:
        refuse(f"{k} eigenvalues for n_components={model.n_components}", npz_path)
    check_header(headers, "eigenvectors_", (n, k), "f", npz_path)
    for name in ("stationary_distribution_", "density_"):
        check_header(headers, name, (n,), "f", npz_path)
    check_header(headers, "component_labels_", (n,), "iu", npz_path)
    g = check_header(headers, "bandwidth_sweep_epsilons", (None,), "f", npz_path).shape[0]
    if g > _MAX_SWEEP:
        refuse(f"a bandwidth sweep of {g} values (at most {_MAX_SWEEP})", npz_path)
    check_header(headers, "bandwidth_sweep_slopes", (g,), "f", npz_path)
    from ..diffusion_map import AUTO_BANDWIDTH

    rule = AUTO_BANDWIDTH if model.bandwidth == "auto" else model.bandwidth
    adaptive = rule == "adaptive"
    if adaptive or "local_scales_" in headers:
        if not adaptive:
            refuse("local_scales_ is stored but the bandwidth is not 'adaptive'", npz_path)
        check_header(headers, "local_scales_", (n,), "f", npz_path)
    d = meta["n_features_in_"]
    if model.metric == "precomputed":
        if "X_fit" in headers:
            refuse("X_fit is stored for metric='precomputed'", npz_path)
        if d != n:
            refuse(f"n_features_in_={d} but a precomputed model has {n} rows", npz_path)
    else:
        check_header(headers, "X_fit", (None, d), "f", npz_path)
    arrays = read_npz_members(npz_path, headers)
    _check_values(arrays, meta, model, npz_path)
    return arrays


def _check_values(arrays: dict[str, np.ndarray], meta: dict[str, Any], model: Any,
                  npz_path: Path) -> None:  # fmt: skip
    mask_values = arrays["fitted_mask_"]
    if not np.isin(mask_values, (0, 1)).all():
        refuse("fitted_mask_ holds values other than 0 and 1", npz_path)
    mask = mask_values.astype(bool)
    n, n_fit = mask.size, int(mask.sum())
    if n_fit < 2 or model.n_neighbors >= n_fit:
        refuse(f"{n_fit} fitted rows for n_neighbors={model.n_neighbors}", npz_path)
    if "X_fit" in arrays and arrays["X_fit"].shape[0] != n_fit:
        refuse(f"X_fit has {arrays['X_fit'].shape[0]} rows for {n_fit} fitted rows",
                       npz_path)
    if not meta["n_duplicates_"] <= n or not meta["n_connected_components_"] <= n:
        refuse("n_duplicates_ or n_connected_components_ exceeds the number of rows",
                       npz_path)
    lam = arrays["eigenvalues_"]
    if not np.isfinite(lam).all() or np.abs(lam).max() > 1 + 1e-6:
        refuse(f"eigenvalues {np.array2string(lam, precision=4, threshold=6)} outside "
                       "[-1, 1] (a Markov operator's)", npz_path)
    finite_on_fitted = ["eigenvectors_", "X_fit"]
    for name in finite_on_fitted:
        if name in arrays:
            rows = arrays[name] if name == "X_fit" else arrays[name][mask]
            if not np.isfinite(rows).all():
                refuse(f"{name} holds NaN or infinite values", npz_path)
    for name in ("density_", "local_scales_"):
        if name in arrays:
            values = arrays[name][mask]
            if not (np.isfinite(values).all() and (values > 0).all()):
                refuse(f"{name} must be finite and > 0 on the fitted rows", npz_path)
    pi = arrays["stationary_distribution_"]
    if not (np.isfinite(pi).all() and (pi >= 0).all() and abs(pi.sum() - 1) < 1e-6):
        refuse(f"the stationary distribution sums to {pi.sum():.6g}, not 1 (or holds "
                       "negative or non-finite values)", npz_path)
    labels = arrays["component_labels_"]
    if labels.size and (labels.min() < 0 or labels.max() >= meta["n_connected_components_"]):
        refuse("component_labels_ out of range for n_connected_components_="
                       f"{meta['n_connected_components_']}", npz_path)
    eps = arrays["bandwidth_sweep_epsilons"]
    if not (np.isfinite(eps).all() and (eps > 0).all()):
        refuse("bandwidth_sweep_epsilons must be finite and > 0", npz_path)
