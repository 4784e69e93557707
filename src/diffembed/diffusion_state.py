"""Saving a fitted :class:`~diffembed.DiffusionMap` as data: JSON metadata plus plain arrays.

The arrays hold no Python objects, so a model is stored as ``.npz`` (or safetensors) + JSON and
loaded without unpickling (:mod:`diffembed.io.persistence` writes and reads the files).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

__all__ = ["FittedStateMixin"]


class FittedStateMixin:
    """``get_fitted_state`` / ``from_fitted_state`` for :class:`~diffembed.DiffusionMap`."""

    _ARRAY_ATTRIBUTES = (
        "eigenvalues_",
        "eigenvectors_",
        "stationary_distribution_",
        "density_",
        "component_labels_",
        "fitted_mask_",
    )
    _SCALAR_ATTRIBUTES = (
        "bandwidth_",
        "intrinsic_dimension_",
        "knn_method_",
        "eigen_solver_",
        "knn_recall_",
        "knn_retried_",
        "n_features_in_",
        "n_duplicates_",
        "n_connected_components_",
    )

    #: Results added after format version 1; files written before them load with None.
    _ADDED_SCALAR_ATTRIBUTES = ("eigen_solver_", "knn_recall_", "knn_retried_")

    def get_fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything a fitted model needs, as JSON-able metadata and plain arrays.

        The arrays hold no Python objects, so the model can be stored as ``.npz`` (or
        safetensors) + JSON and loaded without unpickling; see
        :func:`diffembed.io.persistence.save_model`. The affinity matrix is not included.
        """
        check_is_fitted(self, "eigenvalues_")
        arrays = {name: np.asarray(getattr(self, name)) for name in self._ARRAY_ATTRIBUTES}
        arrays["fitted_mask_"] = arrays["fitted_mask_"].astype(np.uint8)
        arrays["bandwidth_sweep_epsilons"] = np.asarray(self.bandwidth_sweep_["epsilons"])
        arrays["bandwidth_sweep_slopes"] = np.asarray(self.bandwidth_sweep_["slopes"])
        if self.local_scales_ is not None:
            arrays["local_scales_"] = np.asarray(self.local_scales_)
        if self._X_fit is not None:
            X_fit = self._X_fit  # the fitted rows only (see disconnected="largest")
            if sp.issparse(X_fit):
                X_fit = X_fit.toarray()
            arrays["X_fit"] = np.asarray(X_fit, dtype=np.float64)
        meta: dict[str, Any] = {
            "class": type(self).__name__,
            "params": self.get_params(),
            "bandwidth_sweep_dimension": float(self.bandwidth_sweep_["dimension"]),
            "timings": dict(self.timings_),
        }
        for name in self._SCALAR_ATTRIBUTES:
            value = getattr(self, name)
            meta[name] = value.item() if isinstance(value, np.generic) else value
        meta["component_trivial_eigenvalues_"] = [
            float(v) for v in self.component_trivial_eigenvalues_
        ]
        if hasattr(self, "feature_names_in_"):
            meta["feature_names_in_"] = [str(c) for c in self.feature_names_in_]
        return meta, arrays

    @classmethod
    def from_fitted_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        """Rebuild a fitted model from :meth:`get_fitted_state` output (no refit)."""
        from .diffusion_map import diffusion_coordinates, timescales

        model = cls(**meta["params"])
        for name in cls._ARRAY_ATTRIBUTES:
            setattr(model, name, np.asarray(arrays[name]))
        model.fitted_mask_ = model.fitted_mask_.astype(bool)
        for name in cls._SCALAR_ATTRIBUTES:
            # results added after format 1 was frozen may be missing from older files
            optional = name in cls._ADDED_SCALAR_ATTRIBUTES
            setattr(model, name, meta.get(name) if optional else meta[name])
        if "feature_names_in_" in meta:
            model.feature_names_in_ = np.asarray(meta["feature_names_in_"], dtype=object)
        model.local_scales_ = arrays.get("local_scales_")
        model._X_fit = arrays.get("X_fit")  # already restricted to the fitted rows
        model._index = None
        model.bandwidth_sweep_ = {
            "epsilons": arrays["bandwidth_sweep_epsilons"],
            "slopes": arrays["bandwidth_sweep_slopes"],
            "dimension": meta["bandwidth_sweep_dimension"],
        }
        model.timescales_ = timescales(model.eigenvalues_)
        model.embedding_ = diffusion_coordinates(model.eigenvectors_, model.eigenvalues_, model.t)
        model.timings_ = dict(meta.get("timings", {}))
        trivial = meta.get("component_trivial_eigenvalues_")
        model.component_trivial_eigenvalues_ = (
            np.ones(1) if trivial is None else np.asarray(trivial, dtype=np.float64)
        )
        model.affinity_ = None
        return model
