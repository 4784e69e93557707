"""Saving and loading fitted estimators as data: ``model.json`` + ``arrays.npz``, never a pickle.

:class:`~diffembed.DiffusionMap` (and a landmark map, as its landmark model) goes through
:func:`diffembed.io.persistence.save_model`. :class:`~diffembed.DiffusionHierarchy` and
:class:`~diffembed.smoothing.DiffusionSmoother` use the same layout and ``format``, with their
own ``class``: the JSON holds the parameters and scalar results, the ``.npz`` the arrays
(numbers only, read with ``allow_pickle=False``; sparse graphs as their CSR arrays).

A loaded file is checked like user input: the JSON's size, format and version; only the
arrays this class defines, each with the shape the JSON declares.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .exceptions import InputError

__all__ = ["load_hierarchy", "load_smoother", "save_estimator"]

FORMAT = "diffembed.model"
FORMAT_VERSION = 1
MODEL_JSON = "model.json"
ARRAYS = "arrays.npz"

_HIERARCHY_LEVEL_ARRAYS = (
    "level_merges_",
    "n_clusters_per_level_",
    "scale_per_level_",
    "persistence_",
    "null_persistence_",
    "salience_",
)
_HIERARCHY_POINT_ARRAYS = ("component_labels_", "labels_")
_HIERARCHY_SCALARS = (
    "n_features_in_",
    "n_connected_components_",
    "n_partitions_",
    "salience_threshold_",
)
_SMOOTHER_SCALARS = ("n_features_in_", "gain_floor_")
_SMOOTHER_DICTS = ("graph_info_", "params_resolved_", "search_", "diagnostics_")


def _version() -> str:
    from . import __version__

    return __version__


# ----------------------------------------------------------------------------- writing
def plain(value: Any) -> Any:
    """``value`` as JSON-able Python data; TypeError for anything else (objects, functions)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    msg = f"{type(value).__name__} is not data"
    raise TypeError(msg)


def _csr(prefix: str, matrix: Any, arrays: dict[str, np.ndarray]) -> None:
    m = sp.csr_matrix(matrix)
    arrays[f"{prefix}.data"] = np.asarray(m.data, dtype=np.float64)
    arrays[f"{prefix}.indices"] = np.asarray(m.indices, dtype=np.int64)
    arrays[f"{prefix}.indptr"] = np.asarray(m.indptr, dtype=np.int64)


def _hierarchy_state(model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    arrays = {name: np.asarray(getattr(model, name)) for name in _HIERARCHY_LEVEL_ARRAYS}
    for name in ("linkage_", "levels_", "salient_levels_", "embedding_",
                 *_HIERARCHY_POINT_ARRAYS):
        arrays[name] = np.asarray(getattr(model, name))
    if model._graph is not None:
        _csr("graph", model._graph, arrays)  # kept for markov_operator / coarse_operator
    points = model._points
    if points is not None:
        if sp.issparse(points):
            _csr("points", points, arrays)
        else:
            arrays["points"] = np.asarray(points, dtype=np.float64)
    if getattr(model, "_partition", None) is not None:
        arrays["partition"] = np.asarray(model._partition, dtype=np.int64)
    names = model.node_names_
    meta: dict[str, Any] = {
        "params": model.get_params(),
        "n_samples": int(model.linkage_.shape[0] + 1),
        "n_levels": int(model.level_merges_.size),
        "is_affinity": bool(model._is_affinity),
        "node_names_": None if names is None else plain(list(names)),
        "diagnostics_": plain(model.diagnostics_),
    }
    for name in _HIERARCHY_SCALARS:
        meta[name] = plain(getattr(model, name))
    return meta, arrays


def _smoother_state(model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    arrays: dict[str, np.ndarray] = {}
    _csr("graph_", model.graph_, arrays)
    if hasattr(model, "embedding_"):
        arrays["embedding_"] = np.asarray(model.embedding_, dtype=np.float64)
    params, not_saved = {}, []
    for key, value in model.get_params().items():
        try:
            params[key] = plain(value)
            json.dumps(params[key])
        except (TypeError, ValueError):
            params[key] = None
            not_saved.append(key)
    try:
        index = plain(list(model.index_))
    except TypeError as exc:
        msg = (
            "The smoother's row labels (index_) are not plain strings or numbers, so they "
            f"cannot be saved as data ({exc}). Fit it with index= a list of str or int."
        )
        raise InputError(msg) from exc
    meta: dict[str, Any] = {
        "params": params,
        "params_not_saved": not_saved,
        "n_samples": len(model.index_),
        "index_": index,
    }
    for name in _SMOOTHER_SCALARS:
        meta[name] = plain(getattr(model, name))
    for name in _SMOOTHER_DICTS:
        if hasattr(model, name):
            meta[name] = plain(getattr(model, name))
    return meta, arrays


def save_estimator(
    model: Any, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Save a fitted diffembed estimator to the directory ``path`` (see the module docs)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    name = type(model).__name__
    target = Path(path).expanduser()
    if not overwrite and target.exists() and (not target.is_dir() or any(target.iterdir())):
        msg = (
            f"{target} already exists. Pass overwrite=True to replace it (after the new files "
            "are complete), or choose another path."
        )
        raise InputError(msg)
    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        msg = f"The {name} is not fitted yet; call fit(X) before save(path)."
        raise InputError(msg) from exc
    names = getattr(model, "feature_names_in_", None)
    names = None if names is None else [str(c) for c in names]
    if hasattr(model, "get_fitted_state"):
        from .io.persistence import save_model

        return save_model(model, target, feature_names=names, overwrite=overwrite)
    states = {"DiffusionHierarchy": _hierarchy_state, "DiffusionSmoother": _smoother_state}
    if name not in states:
        msg = f"save() does not know how to store a {name}."
        raise InputError(msg)
    try:
        meta, arrays = states[name](model)
    except TypeError as exc:  # e.g. node names that are tuples or objects
        msg = (
            f"The fitted {name} holds values that are not plain data ({exc}), so it cannot be "
            "saved without a pickle. Name nodes and rows with str or int."
        )
        raise InputError(msg) from exc
    for key, value in meta["params"].items():
        try:
            json.dumps(value)
        except TypeError as exc:
            msg = (
                f"Parameter {key}={value!r} cannot be saved as JSON (a model file holds data, "
                "not Python objects). Use a plain value, e.g. an int random_state."
            )
            raise InputError(msg) from exc
    document: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": name,
        "diffembed_version": _version(),
        "meta": meta,
    }
    if names is not None:
        document["feature_names"] = names
    from .io.writers import atomic_path, output_directory, write_json_atomic

    with output_directory(target, overwrite=overwrite) as tmp:
        with atomic_path(tmp / ARRAYS) as npz, open(npz, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        write_json_atomic(document, tmp / MODEL_JSON)
    return Path(path)


# ----------------------------------------------------------------------------- reading
def read_document(directory: Path) -> dict[str, Any]:
    """Parse ``model.json`` of ``directory`` with a size cap; InputError when it is not one."""
    from .io.safe_files import read_model_document

    json_path = directory / MODEL_JSON
    document = read_model_document(
        json_path, fmt=FORMAT, max_version=FORMAT_VERSION, reader_version=_version()
    )
    meta = document.get("meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("params"), dict):
        msg = f"{json_path} lacks its 'meta' section with the parameters; the file is damaged."
        raise InputError(msg)
    return document


def _arrays(directory: Path, allowed: set[str], required: set[str]) -> dict[str, np.ndarray]:
    npz_path = directory / ARRAYS
    if not npz_path.is_file():
        msg = f"The model directory {directory} has no {ARRAYS}; save the model again."
        raise InputError(msg)
    from .io.safe_files import npz_headers, read_npz_members

    # every member's header is read (and unknown members refused) before any data is
    # decompressed, and the total is bounded by the memory available
    arrays = read_npz_members(npz_path, npz_headers(npz_path, tuple(sorted(allowed))))
    missing = sorted(required - set(arrays))
    if missing:
        msg = f"{npz_path} lacks the array(s) {', '.join(missing)}; save the model again."
        raise InputError(msg)
    for name, arr in arrays.items():
        if arr.dtype.kind not in "biuf":
            msg = f"{npz_path}: {name} has dtype {arr.dtype}; a model file holds numbers only."
            raise InputError(msg)
    return arrays


def _expect(arrays: dict[str, np.ndarray], name: str, shape: tuple[int | None, ...],
            where: Path) -> np.ndarray:
    arr = arrays[name]
    ok = arr.ndim == len(shape) and all(
        s is None or s == a for s, a in zip(shape, arr.shape, strict=False)
    )
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape)
        want += ",)" if len(shape) == 1 else ")"
        msg = (
            f"{where / ARRAYS}: {name} has shape {arr.shape}, expected {want}; the model "
            "file is tampered or damaged."
        )
        raise InputError(msg)
    return arr


def _int_meta(meta: dict[str, Any], key: str, where: Path, low: int = 0) -> int:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        msg = f"{where / MODEL_JSON}: meta.{key} is {value!r}, not an integer >= {low}."
        raise InputError(msg)
    return value


def _load_csr(arrays: dict[str, np.ndarray], prefix: str, shape: tuple[int, int],
              where: Path) -> sp.csr_matrix:
    try:
        m = sp.csr_matrix(
            (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]),
            shape=shape,
        )
        m.check_format(full_check=True)
    except (KeyError, ValueError, IndexError) as exc:
        msg = f"{where / ARRAYS}: the sparse matrix {prefix!r} is damaged ({exc})."
        raise InputError(msg) from exc
    return m


def _csr_names(prefix: str) -> set[str]:
    return {f"{prefix}.data", f"{prefix}.indices", f"{prefix}.indptr"}


def _construct(cls: type, params: dict[str, Any], where: Path) -> Any:
    try:
        return cls(**params)
    except TypeError as exc:
        msg = f"{where / MODEL_JSON} has parameters this {cls.__name__} does not take ({exc})."
        raise InputError(msg) from exc


def load_hierarchy(directory: Path, document: dict[str, Any]) -> Any:
    """A fitted :class:`~diffembed.DiffusionHierarchy` from a directory :func:`save_estimator`
    wrote."""
    from .hierarchy import DiffusionHierarchy

    meta = document["meta"]
    n = _int_meta(meta, "n_samples", directory, low=2)
    n_levels = _int_meta(meta, "n_levels", directory, low=1)
    required = {"linkage_", "levels_", "salient_levels_", "embedding_",
                *_HIERARCHY_LEVEL_ARRAYS, *_HIERARCHY_POINT_ARRAYS}
    allowed = required | _csr_names("graph") | _csr_names("points") | {"points", "partition"}
    arrays = _arrays(directory, allowed, required)
    model = _construct(DiffusionHierarchy, meta["params"], directory)
    try:
        model._check_params()
    except InputError as exc:
        msg = f"{directory / MODEL_JSON} holds an invalid parameter: {exc}"
        raise InputError(msg) from exc
    model.linkage_ = _expect(arrays, "linkage_", (n - 1, 4), directory).astype(np.float64)
    from scipy.cluster.hierarchy import is_valid_linkage

    if not is_valid_linkage(model.linkage_):
        msg = f"{directory / ARRAYS}: linkage_ is not a valid linkage; the file is damaged."
        raise InputError(msg)
    model.levels_ = _expect(arrays, "levels_", (n, None), directory)
    for name in _HIERARCHY_LEVEL_ARRAYS:
        setattr(model, name, _expect(arrays, name, (n_levels,), directory))
    for name in _HIERARCHY_POINT_ARRAYS:
        setattr(model, name, _expect(arrays, name, (n,), directory))
    model.embedding_ = _expect(arrays, "embedding_", (n, None), directory)
    salient = _expect(arrays, "salient_levels_", (None,), directory)
    if salient.size and (salient.min() < 0 or salient.max() >= n_levels):
        msg = f"{directory / ARRAYS}: salient_levels_ points outside the {n_levels} levels."
        raise InputError(msg)
    model.salient_levels_ = salient
    for name in _HIERARCHY_SCALARS:
        setattr(model, name, meta.get(name))
    if model.salience_threshold_ is None:
        model.salience_threshold_ = math.nan
    model.diagnostics_ = meta.get("diagnostics_") or {}
    model.node_names_ = meta.get("node_names_")
    model._is_affinity = bool(meta.get("is_affinity", False))
    model._graph = _load_csr(arrays, "graph", (n, n), directory) if "graph.data" in arrays else None
    if "points" in arrays:
        model._points = _expect(arrays, "points", (n, None), directory)
    elif "points.data" in arrays:
        n_cols = _int_meta(meta, "n_features_in_", directory, low=1)
        model._points = _load_csr(arrays, "points", (n, n_cols), directory)
    else:
        model._points = None
    if "partition" in arrays:
        model._partition = _expect(arrays, "partition", (n,), directory)
    model._null_curves = None
    if "feature_names" in document:
        model.feature_names_in_ = np.asarray(document["feature_names"], dtype=object)
    return model


def load_smoother(directory: Path, document: dict[str, Any]) -> Any:
    """A fitted :class:`~diffembed.smoothing.DiffusionSmoother` from a directory
    :func:`save_estimator` wrote."""
    from .smoothing import DiffusionSmoother, filters

    meta = document["meta"]
    n = _int_meta(meta, "n_samples", directory, low=1)
    d = _int_meta(meta, "n_features_in_", directory, low=1)
    arrays = _arrays(directory, _csr_names("graph_") | {"embedding_"}, _csr_names("graph_"))
    model = _construct(DiffusionSmoother, meta["params"], directory)
    index = meta.get("index_")
    if not isinstance(index, list) or len(index) != n:
        msg = f"{directory / MODEL_JSON}: index_ must list the {n} row labels."
        raise InputError(msg)
    model.index_ = index
    model.n_features_in_ = d
    model.gain_floor_ = meta.get("gain_floor_")
    for name in _SMOOTHER_DICTS:
        if name in meta:
            setattr(model, name, meta[name])
    resolved = getattr(model, "params_resolved_", None)
    if not isinstance(resolved, dict) or resolved.get("operator") not in (
        "ppr", "heat", "lazy_walk", "retrofit"
    ):
        msg = f"{directory / MODEL_JSON}: params_resolved_ does not name a known operator."
        raise InputError(msg)
    try:
        model._resolve()
        filters.check_alpha(resolved.get("alpha"))
        filters.check_t(resolved.get("t"), integer=resolved["operator"] == "lazy_walk")
        if model.normalization not in ("rw", "sym"):
            msg = f"normalization={model.normalization!r} is not 'rw' or 'sym'."
            raise InputError(msg)
    except (InputError, TypeError) as exc:
        msg = f"{directory / MODEL_JSON} holds an invalid parameter: {exc}"
        raise InputError(msg) from exc
    model.graph_ = _load_csr(arrays, "graph_", (n, n), directory)
    if not np.isfinite(model.graph_.data).all() or np.any(model.graph_.data < 0):
        msg = f"{directory / ARRAYS}: graph_ has negative or non-finite weights; it is damaged."
        raise InputError(msg)
    if "embedding_" in arrays:
        model.embedding_ = _expect(arrays, "embedding_", (n, d), directory)
    model._op = None
    if resolved["operator"] != "retrofit":
        model._op = filters.graph_operator(
            model.graph_, normalization=model.normalization, self_loops=model.self_loops
        )
    if "feature_names" in document:
        model.feature_names_in_ = np.asarray(document["feature_names"], dtype=object)
    return model
