"""Mixins that complete the scikit-learn estimator API of diffembed's transformers.

- :class:`DiffusionFeaturesOutMixin`: ``get_feature_names_out`` → ``dc1 … dcK`` and, through
  scikit-learn's ``TransformerMixin``, ``set_output(transform="pandas")``.
- :class:`ResultTransformerMixin`: the same for result objects that transform new rows
  (:class:`~diffembed.embed.PCAResult` → ``pc1 …``, :class:`~diffembed.embed.LSAResult` →
  ``lsa1 …``), which are not estimators (they have no ``fit``).
- :class:`SaveLoadMixin`: ``model.save(path)`` and ``Model.load(path)`` in the safe format of
  :mod:`diffembed.io.persistence` (JSON + ``.npz``, never a pickle).

Output names follow the columns ``diffembed`` writes to its files (``dc1`` … in
``embedding.parquet``, ``pc1`` … in ``embed pca``), numbered from 1 because ``dc1`` is the first
non-trivial eigenvector ψ₁ (ψ₀, the constant, is dropped): a frame from ``transform`` and a
file from the command line have the same columns, and ``de.plot(..., color="dc3")`` names
the same coordinate. scikit-learn's own transformers use ``<classname>0 …``; its estimator
checks only require distinct strings, one per output column.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils._set_output import _SetOutputMixin
from sklearn.utils.validation import (
    _check_feature_names_in,
    _get_feature_names,
    check_is_fitted,
    validate_data,
)

__all__ = [
    "DiffusionFeaturesOutMixin",
    "LSAOutputMixin",
    "PCAOutputMixin",
    "ResultTransformerMixin",
    "SaveLoadMixin",
    "check_feature_names",
    "feature_names_of",
    "named",
    "record_feature_names",
]


def feature_names_of(X: Any) -> np.ndarray | None:
    """The string column names of a data frame ``X`` as an object array, else None."""
    return _get_feature_names(X)


def record_feature_names(estimator: Any, X: Any) -> None:
    """Set (or clear) ``estimator.feature_names_in_`` from the columns of ``X`` (fit time)."""
    validate_data(estimator, X, skip_check_array=True, ensure_2d=False, reset=True)


def check_feature_names(estimator: Any, X: Any) -> None:
    """Check the columns of ``X`` against ``feature_names_in_`` (transform time).

    Raises scikit-learn's ``ValueError`` naming the unexpected and the missing columns.
    """
    validate_data(estimator, X, skip_check_array=True, ensure_2d=False, reset=False)


def _numbered(prefix: str, n: int) -> np.ndarray:
    return np.asarray([f"{prefix}{j + 1}" for j in range(n)], dtype=object)


class DiffusionFeaturesOutMixin:
    """``get_feature_names_out()`` → ``["dc1", …, "dcK"]`` for a fitted diffusion map.

    Placed before scikit-learn's ``TransformerMixin`` in the bases, it also enables
    ``set_output(transform="pandas" | "polars")``: ``transform`` and ``fit_transform`` then
    return a frame with these columns and the input frame's index.
    """

    _features_out_prefix = "dc"

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output coordinates: ``dc1`` … ``dcK``.

        Parameters
        ----------
        input_features
            Only checked against ``feature_names_in_`` (as scikit-learn does).

        Returns
        -------
        ndarray of str objects, shape (n_components,)
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features, generate_names=False)
        return _numbered(self._features_out_prefix, int(np.shape(self.eigenvalues_)[0]))


class ResultTransformerMixin(_SetOutputMixin):
    """``set_output`` and ``get_feature_names_out`` for a result object with ``transform``.

    The subclass sets ``_features_out_prefix`` and the property ``_n_features_out``.
    """

    _features_out_prefix = "v"

    @property
    def _n_features_out(self) -> int:  # pragma: no cover - defined by every subclass
        raise NotImplementedError

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns (``<prefix>1`` … ``<prefix>K``).

        Parameters
        ----------
        input_features
            Only checked against ``feature_names_in_`` when there is one.

        Returns
        -------
        ndarray of str objects
        """
        if hasattr(self, "n_features_in_"):
            _check_feature_names_in(self, input_features, generate_names=False)
        return _numbered(self._features_out_prefix, self._n_features_out)


class SaveLoadMixin:
    """``save(path)`` and ``load(path)`` as methods (see :func:`diffembed.load`)."""

    #: The class a saved model of this class loads as (a landmark map: its DiffusionMap).
    _loads_as: str | None = None

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Save the fitted estimator to the directory ``path`` (JSON + ``.npz``, no pickle).

        Parameters
        ----------
        path
            Directory to create; it must not exist (or be empty) unless ``overwrite``.
        overwrite
            Replace a directory written by an earlier ``save``, once the new one is complete.

        Returns
        -------
        Path
            ``path``; read it back with ``type(model).load(path)`` or :func:`diffembed.load`.
        """
        from ._state import save_estimator

        return save_estimator(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Any:
        """Load an estimator saved by :meth:`save` (no code is run, nothing is unpickled).

        Parameters
        ----------
        path
            The directory :meth:`save` wrote.

        Returns
        -------
        estimator
            The fitted estimator. A saved :class:`~diffembed.LandmarkDiffusionMap` loads as
            the :class:`~diffembed.DiffusionMap` of its landmarks, whose ``transform`` gives
            the same coordinates.
        """
        from ._load import load
        from .exceptions import InputError

        obj = load(path)
        expected = cls._loads_as or cls.__name__
        if type(obj).__name__ != expected:
            msg = (
                f"{path} holds a saved {type(obj).__name__}, not a {expected}; load it with "
                f"{type(obj).__name__}.load(path) or diffembed.load(path)."
            )
            raise InputError(msg)
        return obj


class PCAOutputMixin(ResultTransformerMixin):
    """Output names ``pc1`` … ``pcK`` and ``n_features_in_`` of a :class:`PCAResult`."""

    _features_out_prefix = "pc"

    @property
    def _n_features_out(self) -> int:
        return int(self.components.shape[0])  # type: ignore[attr-defined]

    @property
    def n_features_in_(self) -> int:
        """Number of input columns."""
        return int(self.components.shape[1])  # type: ignore[attr-defined]


class LSAOutputMixin(ResultTransformerMixin):
    """Output names ``lsa1`` … ``lsaK`` of an :class:`LSAResult` (its input is text)."""

    _features_out_prefix = "lsa"

    @property
    def _n_features_out(self) -> int:
        return int(self.document_vectors.shape[1])  # type: ignore[attr-defined]


def named(X: Any, checked: Any) -> Any:
    """``X`` itself when it is a data frame with string column names, else ``checked``.

    Estimators check their input with their own messages first, then hand scikit-learn's
    ``validate_data`` the frame so that it records (at fit) or checks (at transform) the names.
    """
    return X if feature_names_of(X) is not None else checked
