"""Attribute classifier of shapes images: labels and captions real or generated images.

:class:`AttributeClassifier` predicts the four attribute families of
:mod:`diffembed.latents.shapes` (shape, colour, size, position). Colour, size and position are
multinomial logistic regressions on the foreground colour, area and centroid; shape is a small
ReLU perceptron on the brightness map re-centred on the foreground. It trains on real images
plus degraded copies (noise, blur, contrast and background shifts) so that it tolerates the
imperfections of generated images, and it is saved as ``classifier.json`` +
``classifier.npz`` (no pickle). Import it from :mod:`diffembed.latents.shapes` or
:mod:`diffembed.latents`.

numpy and scikit-learn only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_int
from ..exceptions import InputError
from .shapes import ATTRIBUTES, FAMILIES, canonical_caption

__all__ = ["AttributeClassifier"]

_CLASSIFIER_FORMAT = "diffembed.shapes_classifier"
_CLASSIFIER_VERSION = 1


def _check_images(images: Any, size: int | None = None) -> np.ndarray:
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1] != 3 or arr.shape[2] != arr.shape[3]:
        msg = f"images must have shape (n, 3, size, size) (channels first), got {arr.shape}."
        raise InputError(msg)
    if size is not None and arr.shape[2] != size:
        msg = (
            f"The classifier was fitted on {size}x{size} images, got {arr.shape[2]}x"
            f"{arr.shape[3]}; resize them or fit a classifier at that size."
        )
        raise InputError(msg)
    if len(arr) == 0:
        msg = "images is empty; give at least one image."
        raise InputError(msg)
    if not np.isfinite(arr).all():
        msg = "images contain NaN or infinite values."
        raise InputError(msg)
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -0.25 or hi > 1.25:
        msg = (
            f"images must hold values in [0, 1], got [{lo:.3g}, {hi:.3g}]; map model outputs "
            "in [-1, 1] with (x + 1) / 2 first (small overshoots are clipped)."
        )
        raise InputError(msg)
    return arr


def _blur(images: np.ndarray) -> np.ndarray:
    """3x3 binomial blur of (n, c, h, w) images, edges replicated."""
    pad = np.pad(images, ((0, 0), (0, 0), (1, 1), (0, 0)), mode="edge")
    out = 0.25 * pad[:, :, :-2] + 0.5 * pad[:, :, 1:-1] + 0.25 * pad[:, :, 2:]
    pad = np.pad(out, ((0, 0), (0, 0), (0, 0), (1, 1)), mode="edge")
    return 0.25 * pad[..., :-2] + 0.5 * pad[..., 1:-1] + 0.25 * pad[..., 2:]


def _shift(maps: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Translate every (h, w) map by integer offsets, filling with zeros."""
    n, h, w = maps.shape
    rows = np.arange(h)[None, :] + dy[:, None]  # source row of every target row
    cols = np.arange(w)[None, :] + dx[:, None]
    valid_r = (rows >= 0) & (rows < h)
    valid_c = (cols >= 0) & (cols < w)
    out = maps[
        np.arange(n)[:, None, None],
        np.clip(rows, 0, h - 1)[:, :, None],
        np.clip(cols, 0, w - 1)[:, None, :],
    ]
    return out * (valid_r[:, :, None] & valid_c[:, None, :])


def _features(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per-family features: foreground colour, area, centroid, and a centred shape map.

    The foreground is where the brightest channel of the lightly blurred image exceeds 0.3
    (soft ramp up to 0.7), robust to the background noise of generated images. The shape map
    is each pixel's projection on the mean foreground colour (1 inside the shape), translated
    so that the foreground centroid is centred.
    """
    n, _, h, w = images.shape
    x = np.clip(images, 0.0, 1.0).astype(np.float64)
    smooth = _blur(x).max(axis=1)  # 3x3 binomial blur: background noise / 2.7
    weight = np.clip((smooth - 0.3) / 0.4, 0.0, 1.0)
    mass = weight.sum(axis=(1, 2)) + 1e-6
    rgb = (x * weight[:, None]).sum(axis=(2, 3)) / mass[:, None]  # mean foreground colour
    chroma = rgb / (rgb.sum(axis=1, keepdims=True) + 1e-6)
    ys = (np.arange(h) + 0.5) / h
    xs = (np.arange(w) + 0.5) / w
    px = weight.sum(axis=1)  # (n, w)
    py = weight.sum(axis=2)  # (n, h)
    mx = px @ xs / mass
    my = py @ ys / mass
    vx = np.maximum(px @ xs**2 / mass - mx**2, 0.0)
    vy = np.maximum(py @ ys**2 / mass - my**2, 0.0)
    area = mass / (h * w)
    # brightness along the foreground colour: 1 inside the shape, noise averaged over channels
    colour_norm = np.linalg.norm(rgb, axis=1) + 1e-3
    along = np.einsum("nchw,nc->nhw", x, rgb / colour_norm[:, None] ** 2)
    dy = np.rint((my - 0.5) * h).astype(np.int64)
    dx = np.rint((mx - 0.5) * w).astype(np.int64)
    centred = _shift(np.clip(along, -0.5, 1.5), dy, dx).reshape(n, -1)
    moments = np.column_stack(
        [np.sqrt(area), vx / (area + 1e-3), vy / (area + 1e-3), (vx + vy) / (area + 1e-3), my]
    )
    return {
        "shape": np.hstack([centred, moments]),
        "colour": np.column_stack([rgb, chroma]),
        "size": np.column_stack([area, np.sqrt(area), vx + vy, np.sqrt(vx + vy)]),
        "position": np.column_stack([mx, my]),
    }


def _augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Degraded copies, to stand in for imperfect generated images.

    Half are blurred (3x3 binomial kernel); every copy gets a contrast change (x0.8-1.1), a
    small colour shift, a background offset (up to 0.06) and Gaussian noise (sigma up to 0.12).
    """
    out = images.astype(np.float32).copy()
    n = len(out)
    blur = rng.random(n) < 0.5
    if blur.any():
        out[blur] = _blur(out[blur])
    contrast = rng.uniform(0.8, 1.1, (n, 1, 1, 1)) + rng.normal(0.0, 0.03, (n, 3, 1, 1))
    offset = rng.uniform(0.0, 0.06, (n, 1, 1, 1))
    sigma = rng.uniform(0.0, 0.12, (n, 1, 1, 1))
    out = out * contrast.astype(np.float32) + offset.astype(np.float32)
    out += sigma.astype(np.float32) * rng.standard_normal(out.shape, dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def _forward(layers: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray) -> np.ndarray:
    """Class probabilities of a ReLU perceptron (or a linear model) stored as layers."""
    h = X
    for weights, bias in layers[:-1]:
        h = np.maximum(h @ weights + bias, 0.0)
    weights, bias = layers[-1]
    z = h @ weights + bias
    if z.shape[1] == 1:  # binary: logistic output for the second class
        p1 = 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -500, 500)))
        return np.column_stack([1.0 - p1, p1])
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class AttributeClassifier:
    """Predicts every attribute family of a shapes image; fitted on real dataset images.

    Each family has its own model on its own features: colour, size and position a
    multinomial logistic regression on the foreground colour, the area and the centroid;
    shape a small ReLU perceptron (scikit-learn's ``MLPClassifier``) on the brightness map
    translated to the foreground centroid, plus moments. It is trained on the images and on
    noisy, blurred copies of them so that it tolerates the imperfections of generated images.
    Prediction is a plain numpy forward pass over the stored weights, so a loaded classifier
    predicts exactly as the fitted one.

    Parameters
    ----------
    hidden : int
        Hidden units of the shape perceptron.
    augment : int
        Augmented (noisy, half of them blurred) copies of the training set added to it.
    max_iter : int
        Training epochs of the shape perceptron.
    random_state : int or None
        Seed of the augmentation and the perceptron's initialisation.

    Attributes
    ----------
    image_size_ : int
        Pixels per side of the images it was fitted on.
    classes_ : dict of str to tuple of str
        Family → the values, in :data:`ATTRIBUTES` order (``predict_proba`` columns).

    Examples
    --------
    >>> from diffembed.latents import shapes_dataset
    >>> train = shapes_dataset(2000, seed=1)
    >>> clf = AttributeClassifier().fit(train.images, train.attributes)  # doctest: +SKIP
    >>> clf.captions(train.images[:1])  # doctest: +SKIP
    ['a large yellow circle on the right']
    """

    def __init__(
        self,
        *,
        hidden: int = 64,
        augment: int = 1,
        max_iter: int = 20,
        random_state: int | None = 0,
    ) -> None:
        self.hidden = hidden
        self.augment = augment
        self.max_iter = max_iter
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------------------

    def fit(self, images: np.ndarray, attributes: Mapping[str, np.ndarray]) -> AttributeClassifier:
        """Fit one model per family.

        Parameters
        ----------
        images : ndarray of shape (n, 3, size, size)
            Real dataset images (e.g. ``shapes_dataset(...).images``).
        attributes : dict of str to array of shape (n,)
            Family → value of every image (``shapes_dataset(...).attributes``).

        Returns
        -------
        self
        """
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier

        check_int(self.hidden, "hidden", low=1)
        check_int(self.augment, "augment", low=0)
        check_int(self.max_iter, "max_iter", low=1)
        X_img = _check_images(images)
        n = len(X_img)
        labels = self._check_labels(attributes, n)
        rng = np.random.default_rng(self.random_state)
        stacked = [X_img] + [_augment(X_img, rng) for _ in range(self.augment)]
        features = _features(np.concatenate(stacked))
        seed = None if self.random_state is None else int(self.random_state)
        self.image_size_ = int(X_img.shape[2])
        self.mean_: dict[str, np.ndarray] = {}
        self.scale_: dict[str, np.ndarray] = {}
        self.layers_: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.present_: dict[str, np.ndarray] = {}
        for family in FAMILIES:
            X = features[family]
            mean = X.mean(axis=0)
            scale = X.std(axis=0)
            scale[scale < 1e-8] = 1.0
            Xs = (X - mean) / scale
            y = np.tile(labels[family], len(stacked))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                if family == "shape":
                    model = MLPClassifier(
                        hidden_layer_sizes=(self.hidden,),
                        alpha=1e-3,
                        batch_size=200,
                        learning_rate_init=3e-3,
                        max_iter=self.max_iter,
                        n_iter_no_change=self.max_iter,
                        random_state=seed,
                    ).fit(Xs, y)
                    layers = list(zip(model.coefs_, model.intercepts_, strict=True))
                else:
                    model = LogisticRegression(C=10.0, max_iter=2000).fit(Xs, y)
                    layers = [(model.coef_.T, model.intercept_)]
            self.layers_[family] = [
                (np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
                for w, b in layers
            ]
            self.mean_[family] = mean
            self.scale_[family] = scale
            self.present_[family] = np.asarray(model.classes_, dtype=np.int64)
        self.classes_ = dict(ATTRIBUTES)
        return self

    @staticmethod
    def _check_labels(attributes: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        missing = [f for f in FAMILIES if f not in attributes]
        if missing:
            msg = f"attributes lacks the families {missing}; give all of {', '.join(FAMILIES)}."
            raise InputError(msg)
        labels = {}
        for family in FAMILIES:
            values = np.asarray(attributes[family]).astype(str)
            if values.shape != (n,):
                msg = (
                    f"attributes[{family!r}] has shape {values.shape}; it needs one value per "
                    f"image, shape ({n},)."
                )
                raise InputError(msg)
            unknown = sorted(set(values) - set(ATTRIBUTES[family]))
            if unknown:
                msg = (
                    f"attributes[{family!r}] has unknown values {unknown}; known: "
                    f"{', '.join(ATTRIBUTES[family])}."
                )
                raise InputError(msg)
            codes = np.array([ATTRIBUTES[family].index(v) for v in values], dtype=np.int64)
            if len(np.unique(codes)) < 2:
                msg = (
                    f"attributes[{family!r}] has a single value; the classifier needs images "
                    "of at least two values per family."
                )
                raise InputError(msg)
            labels[family] = codes
        return labels

    def _check_fitted(self) -> None:
        if not hasattr(self, "layers_"):
            msg = "This AttributeClassifier is not fitted yet; call fit(images, attributes) first."
            raise InputError(msg)

    # -- prediction ----------------------------------------------------------------------

    def predict_proba(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Family → class probabilities of shape (n, n_values), columns in ATTRIBUTES order.

        A value absent from the training images gets probability 0.
        """
        self._check_fitted()
        features = _features(_check_images(images, self.image_size_))
        out = {}
        for family in FAMILIES:
            X = (features[family] - self.mean_[family]) / self.scale_[family]
            p = _forward(self.layers_[family], X)
            full = np.zeros((len(X), len(ATTRIBUTES[family])))
            full[:, self.present_[family]] = p
            out[family] = full
        return out

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Family → predicted value (an object array of str) of every image."""
        return {
            family: np.asarray(ATTRIBUTES[family], dtype=object)[p.argmax(axis=1)]
            for family, p in self.predict_proba(images).items()
        }

    def captions(self, images: np.ndarray) -> list[str]:
        """Canonical captions of the predictions, e.g. ``"a small red circle on the left"``."""
        pred = self.predict(images)
        n = len(pred["shape"])
        return [canonical_caption({f: pred[f][i] for f in FAMILIES}) for i in range(n)]

    def score(self, images: np.ndarray, attributes: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Accuracy per family."""
        pred = self.predict(images)
        out = {}
        for family in FAMILIES:
            if family not in attributes:
                msg = f"attributes lacks the family {family!r}; give all of {', '.join(FAMILIES)}."
                raise InputError(msg)
            truth = np.asarray(attributes[family]).astype(str)
            if truth.shape != pred[family].shape:
                msg = (
                    f"attributes[{family!r}] has shape {truth.shape}; expected "
                    f"{pred[family].shape}, one value per image."
                )
                raise InputError(msg)
            out[family] = float(np.mean(pred[family].astype(str) == truth))
        return out

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``classifier.json`` and ``classifier.npz`` (no pickle) into ``directory``.

        The directory is created if needed; both files are written atomically.
        """
        from ..io.writers import atomic_path, write_json_atomic

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        layout: dict[str, Any] = {}
        for family in FAMILIES:
            layout[family] = {
                "n_layers": len(self.layers_[family]),
                "present": [int(c) for c in self.present_[family]],
            }
            arrays[f"{family}.mean"] = self.mean_[family]
            arrays[f"{family}.scale"] = self.scale_[family]
            for i, (w, b) in enumerate(self.layers_[family]):
                arrays[f"{family}.w{i}"] = w
                arrays[f"{family}.b{i}"] = b
        with atomic_path(directory / "classifier.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        meta = {
            "format": _CLASSIFIER_FORMAT,
            "format_version": _CLASSIFIER_VERSION,
            "params": {
                "hidden": self.hidden,
                "augment": self.augment,
                "max_iter": self.max_iter,
                "random_state": self.random_state,
            },
            "image_size": self.image_size_,
            "attributes": {f: list(v) for f, v in ATTRIBUTES.items()},
            "families": layout,
        }
        write_json_atomic(meta, directory / "classifier.json")

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> AttributeClassifier:
        """Load a classifier written by :meth:`save`, checking the files as untrusted input.

        ``classifier.json`` is size- and depth-capped and its parameters checked; every array
        header of ``classifier.npz`` is checked against the layout the JSON declares (feature
        widths follow from ``image_size``, the output width from the classes present) before
        any data is read, and the values must be finite. Anything else raises
        :class:`InputError` "model file tampered or from another tool: ...".
        """
        from ..io.safe_files import read_json_capped, refuse

        directory = Path(directory)
        meta_path = directory / "classifier.json"
        if not meta_path.is_file() or not (directory / "classifier.npz").is_file():
            msg = (
                f"{str(directory)!r} holds no classifier.json + classifier.npz; save a "
                "classifier there first (AttributeClassifier.save)."
            )
            raise InputError(msg)
        meta = read_json_capped(meta_path)
        if not isinstance(meta, dict) or meta.get("format") != _CLASSIFIER_FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            msg = f"{str(meta_path)!r} is not a shapes classifier (format {found!r})."
            raise InputError(msg)
        version = meta.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            refuse(f"invalid format_version {version!r}", meta_path)
        if version > _CLASSIFIER_VERSION:
            msg = (
                f"{str(meta_path)!r} has format_version {version}, newer than this "
                f"diffembed reads ({_CLASSIFIER_VERSION}); upgrade diffembed."
            )
            raise InputError(msg)
        if meta.get("attributes") != {f: list(v) for f, v in ATTRIBUTES.items()}:
            msg = (
                f"{str(meta_path)!r} was fitted on different attribute values "
                f"({meta.get('attributes')}) than this diffembed knows ({dict(ATTRIBUTES)})."
            )
            raise InputError(msg)
        self = cls(**_checked_params(meta.get("params"), meta_path))
        try:
            size = check_int(meta.get("image_size"), "image_size", low=4, high=1024)
        except InputError as exc:
            refuse(str(exc).rstrip("."), meta_path)
        arrays = _read_layers(directory / "classifier.npz", meta.get("families"), size, meta_path)
        self.mean_, self.scale_, self.layers_, self.present_ = {}, {}, {}, {}
        for family in FAMILIES:
            n_layers, present = arrays[family]
            self.mean_[family] = arrays[f"{family}.mean"]
            self.scale_[family] = arrays[f"{family}.scale"]
            self.layers_[family] = [
                (arrays[f"{family}.w{i}"], arrays[f"{family}.b{i}"]) for i in range(n_layers)
            ]
            self.present_[family] = np.asarray(present, dtype=np.int64)
        self.image_size_ = size
        self.classes_ = dict(ATTRIBUTES)
        return self


_PARAMS = {"hidden": 1, "augment": 0, "max_iter": 1, "random_state": 0}


def _checked_params(params: Any, meta_path: Path) -> dict[str, Any]:
    """The constructor parameters stored in ``classifier.json``, each checked."""
    from ..io.safe_files import refuse

    if not isinstance(params, dict):
        refuse("'params' is missing", meta_path)
    unknown = sorted(set(params) - set(_PARAMS))
    if unknown:
        refuse(f"unknown parameter(s) {', '.join(map(repr, unknown))}", meta_path)
    try:
        for name, value in params.items():
            if not (name == "random_state" and value is None):
                check_int(value, name, low=_PARAMS[name])
    except InputError as exc:
        refuse(str(exc).rstrip("."), meta_path)
    return params


def _read_layers(npz_path: Path, families: Any, size: int, meta_path: Path) -> dict[str, Any]:
    """Every array of ``classifier.npz``, each header checked against the declared layout."""
    from ..io.safe_files import check_header, npz_headers, read_npz_members, refuse

    if not isinstance(families, dict) or set(families) != set(FAMILIES):
        refuse(f"'families' must describe exactly {', '.join(FAMILIES)}", meta_path)
    widths = {"shape": size * size + 5, "colour": 6, "size": 4, "position": 2}
    layout: dict[str, Any] = {}
    allowed: list[str] = []
    for family in FAMILIES:
        info = families[family]
        n_values = len(ATTRIBUTES[family])
        n_layers = info.get("n_layers") if isinstance(info, dict) else None
        present = info.get("present") if isinstance(info, dict) else None
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or not 1 <= n_layers <= 8:
            refuse(f"{family}: n_layers={n_layers!r} (1 to 8 layers)", meta_path)
        if (
            not isinstance(present, list)
            or not 2 <= len(present) <= n_values
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in present)
            or present != sorted(set(present))
            or present[0] < 0
            or present[-1] >= n_values
        ):
            refuse(f"{family}: present={present!r} must list 2 to {n_values} distinct class "
                   f"indices in [0, {n_values})", meta_path)  # fmt: skip
        layout[family] = (n_layers, present)
        allowed += [f"{family}.mean", f"{family}.scale"]
        allowed += [f"{family}.{p}{i}" for i in range(n_layers) for p in "wb"]
    headers = npz_headers(npz_path, tuple(allowed))
    for family in FAMILIES:
        n_layers, present = layout[family]
        width = widths[family]
        check_header(headers, f"{family}.mean", (width,), "f", npz_path)
        check_header(headers, f"{family}.scale", (width,), "f", npz_path)
        for i in range(n_layers):
            last = i == n_layers - 1
            out = (len(present) if len(present) > 2 else 1) if last else None
            width_out = check_header(headers, f"{family}.w{i}", (width, out), "f", npz_path)
            width = width_out.shape[1]
            check_header(headers, f"{family}.b{i}", (width,), "f", npz_path)
    arrays: dict[str, Any] = dict(read_npz_members(npz_path, headers))
    for name, arr in arrays.items():
        if not np.isfinite(arr).all() or (name.endswith(".scale") and not (arr > 0).all()):
            refuse(f"{name} holds NaN, infinite{' or non-positive' * name.endswith('.scale')} "
                   "values", npz_path)  # fmt: skip
    arrays.update(layout)
    return arrays
