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
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError
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
    try:
        document = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = (
            f"{json_path} is not valid JSON ({exc}); the model file is damaged. Save the "
            "model again."
        )
        raise InputError(msg) from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        msg = f"{json_path} has format {found!r}, not {FORMAT!r}; it is not a diffembed model file."
        raise InputError(msg)
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        msg = f"{json_path} has an invalid format_version {version!r}; the file is damaged."
        raise InputError(msg)
    if version > FORMAT_VERSION:
        msg = (
            f"{json_path} uses model format_version {version}, written by diffembed "
            f"{document.get('diffembed_version', '?')}; this diffembed ({_version()}) reads up to "
            f"format_version {FORMAT_VERSION}. Upgrade diffembed to load it."
        )
        raise InputError(msg)
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
        ``format_version``, a damaged file or a missing array.
    """
    from ..diffusion_map import DiffusionMap

    directory = Path(path).expanduser()
    document = read_model_info(directory)
    meta = dict(document["meta"])
    for key in _FLOAT_META:
        if key in meta and meta[key] is None:
            meta[key] = math.nan
    for key in getattr(DiffusionMap, "_SCALAR_ATTRIBUTES", ()):
        if key not in _V1_SCALARS:
            meta.setdefault(key, None)
    arrays = _load_arrays(directory / _ARRAYS)
    required = (
        *DiffusionMap._ARRAY_ATTRIBUTES,
        "bandwidth_sweep_epsilons",
        "bandwidth_sweep_slopes",
    )
    missing = [name for name in required if name not in arrays]
    if missing:
        msg = (
            f"{directory / _ARRAYS} lacks the array(s) {', '.join(missing)}; the model file is "
            "incomplete or damaged. Save the model again."
        )
        raise InputError(msg)
    try:
        return DiffusionMap.from_fitted_state(meta, arrays)
    except InputError:
        raise
    except KeyError as exc:
        msg = (
            f"{directory / _MODEL_JSON} lacks the entry {exc.args[0]!r} in 'meta'; the file is "
            "damaged. Save the model again."
        )
        raise InputError(msg) from exc
    except (TypeError, ValueError) as exc:
        msg = f"{directory} could not be turned back into a model: {exc}. The file may be damaged."
        raise InputError(msg) from exc


def _load_arrays(npz_path: Path) -> dict[str, np.ndarray]:
    if not npz_path.is_file():
        msg = f"The model directory {npz_path.parent} has no {_ARRAYS}; save the model again."
        raise InputError(msg)
    try:
        archive = np.load(npz_path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            msg = f"{npz_path} is not an .npz archive; the model file is damaged."
            raise InputError(msg)
        with archive:
            return {name: archive[name] for name in archive.files}
    except InputError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        msg = (
            f"{npz_path} could not be read ({exc}); the model file is damaged or holds object "
            "arrays, which are never unpickled. Save the model again."
        )
        raise InputError(msg) from exc
