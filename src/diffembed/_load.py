"""``diffembed.load(path)``: read back any saved object, choosing the reader from the folder.

==============================================  ==========================================
the folder holds                                loaded as
==============================================  ==========================================
``model.json`` (class ``DiffusionMap``)         :class:`~diffembed.DiffusionMap` (a saved
                                                landmark map too, as its landmark model)
``model.json`` (class ``DiffusionHierarchy``)   :class:`~diffembed.DiffusionHierarchy`
``model.json`` (class ``DiffusionSmoother``)    :class:`~diffembed.smoothing.DiffusionSmoother`
``manifest.json`` and ``model/model.json``      the model of a ``diffembed map`` output
``diffembed.json`` and ``unet/``                a text-conditioned DDPM (``latents``)
``hspace.npy`` and ``samples.parquet``          :class:`~diffembed.latents.HSpaceResult`
``classifier.json`` and ``classifier.npz``      :class:`~diffembed.latents.AttributeClassifier`
==============================================  ==========================================

Every reader is the object's own (``load_model``, ``Class.load``): nothing is unpickled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import InputError

__all__ = ["load"]

_MODEL_CLASSES = ("DiffusionMap", "DiffusionHierarchy", "DiffusionSmoother")


def _load_model_folder(directory: Path) -> Any:
    from ._state import load_hierarchy, load_smoother, read_document

    document = read_document(directory)
    name = document.get("class")
    if name == "DiffusionMap":
        from .io.persistence import load_model

        model = load_model(directory)
        names = document.get("feature_names")  # a landmark map's, or given to save_model
        if (
            isinstance(names, list)
            and not hasattr(model, "feature_names_in_")
            and len(names) == model.n_features_in_
            and all(isinstance(c, str) for c in names)
        ):
            model.feature_names_in_ = np.asarray(names, dtype=object)
        return model
    if name == "DiffusionHierarchy":
        return load_hierarchy(directory, document)
    if name == "DiffusionSmoother":
        return load_smoother(directory, document)
    msg = (
        f"{directory / 'model.json'} holds a {name!r} model; this version of diffembed loads "
        f"{', '.join(_MODEL_CLASSES)} models."
    )
    raise InputError(msg)


def load(path: str | os.PathLike[str]) -> Any:
    """Load any object diffembed saved, from its folder (no code is run, nothing unpickled).

    Parameters
    ----------
    path
        A folder written by ``model.save(path)`` (:class:`~diffembed.DiffusionMap`,
        :class:`~diffembed.LandmarkDiffusionMap`, :class:`~diffembed.DiffusionHierarchy`,
        :class:`~diffembed.smoothing.DiffusionSmoother`), by
        :func:`diffembed.io.persistence.save_model`, the output folder of ``diffembed map``
        (its ``model/``), or a latents folder (a trained DDPM, an h-space result, an attribute
        classifier).

    Returns
    -------
    object
        The fitted estimator or result.

    Raises
    ------
    InputError
        The folder does not exist, holds none of these, or its files are damaged.

    Examples
    --------
    >>> import numpy as np, diffembed as de, tempfile, os
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> dm = de.DiffusionMap(n_components=2, random_state=0).fit(X)
    >>> folder = dm.save(os.path.join(tempfile.mkdtemp(), "model"))
    >>> de.load(folder).eigenvalues_.shape
    (2,)
    """
    directory = Path(path).expanduser()
    if not directory.exists():
        msg = f"{directory} does not exist. Give the folder that model.save(path) wrote."
        raise InputError(msg)
    if not directory.is_dir():
        msg = (
            f"{directory} is a file; diffembed saves objects as folders (model.json + "
            "arrays.npz). Give the folder."
        )
        raise InputError(msg)
    if (directory / "model.json").is_file():
        return _load_model_folder(directory)
    if (directory / "manifest.json").is_file() and (directory / "model" / "model.json").is_file():
        return _load_model_folder(directory / "model")
    if (directory / "diffembed.json").is_file() and (directory / "unet").is_dir():
        from .latents.ddpm_io import load_model

        return load_model(directory)
    if (directory / "hspace.npy").is_file() and (directory / "samples.parquet").is_file():
        from .latents.hspace import HSpaceResult

        return HSpaceResult.load(directory)
    if (directory / "classifier.json").is_file() and (directory / "classifier.npz").is_file():
        from .latents.shapes_classifier import AttributeClassifier

        return AttributeClassifier.load(directory)
    found = sorted(p.name for p in directory.iterdir())[:8]
    listing = ", ".join(found) if found else "nothing"
    msg = (
        f"{directory} is not a saved diffembed object (it holds {listing}). diffembed.load "
        "reads a folder with model.json (model.save(path)), a `diffembed map` output (with "
        "model/), a DDPM folder (diffembed.json + unet/), an h-space result (hspace.npy) or an "
        "attribute classifier (classifier.json)."
    )
    raise InputError(msg)
