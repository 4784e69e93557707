"""A captioned shapes dataset with plantable attribute associations, and its classifier.

Every image shows one filled shape on a black background, described by four attribute
families, drawn in this order:

==========  ==========================================
family      values
==========  ==========================================
shape       circle, square, triangle, cross
colour      red, green, blue, yellow
size        small, large
position    left, centre, right
==========  ==========================================

All families are independent and uniform unless an association is planted. An association
``(a, b, p)``, with ``a`` a value of an earlier family and ``b`` a value of a later family,
means: when a sample has ``a``, its ``b``-family value is ``b`` with probability ``p`` and
otherwise uniform over the *other* values of that family (so ``p = 1 / n_values`` plants
nothing, ``p = 0`` forbids the pair). Two associations from the same ``a`` into the same
family conflict and are refused. When associations from values of *different* families target
the same family (``("circle", "left", .9)`` and ``("large", "right", .9)``), a sample that has
both sources follows the one whose source family is drawn first (here shape, so a large circle
is on the left with probability 0.9).

Images are rendered from signed distance fields with one pixel of anti-aliasing, a random
jitter of ±1 pixel (scaled with the image size) and a slight colour jitter, so no two images
are identical. Captions vary their phrasing ("a small red circle on the left", "red circle,
small, left side", "a picture of a large blue square in the centre", ...) but always contain
every attribute value verbatim, so each word of a caption names one attribute value.

:class:`AttributeClassifier` predicts all four families of a real or generated image (a small
multilayer perceptron per family on pixels and simple colour/shape features, trained with
noise and blur augmentation); it captions generated images for the decoding experiments.

This module needs numpy and scikit-learn only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import check_int, check_real
from ..exceptions import InputError
from .shapes_plants import check_associations, read_associations
from .shapes_vocabulary import ATTRIBUTES, COLOURS, FAMILIES, FAMILY_OF, POSITIONS, SHAPES, SIZES

if TYPE_CHECKING:
    import pyarrow as pa

    from .shapes_classifier import AttributeClassifier

__all__ = [
    "ATTRIBUTES",
    "COLOURS",
    "FAMILIES",
    "POSITIONS",
    "SHAPES",
    "SIZES",
    "SUPPORTED_SIZES",
    "AttributeClassifier",
    "ShapesDataset",
    "canonical_caption",
    "make_caption",
    "read_associations",
    "render",
    "shapes_dataset",
]

#: Image sizes (pixels per side) the renderer supports.
SUPPORTED_SIZES = (16, 24, 32, 48, 64)


_BASE_RGB = {
    "red": (0.92, 0.12, 0.10),
    "green": (0.10, 0.80, 0.20),
    "blue": (0.15, 0.30, 0.95),
    "yellow": (0.95, 0.88, 0.10),
}
# Half extents in pixels at 16 px, horizontal centres as fractions of the side.
_RADIUS = {"small": 2.9, "large": 4.6}
_CENTRE_X = {"left": 0.3, "centre": 0.5, "right": 0.7}

_POSITION_PHRASES = {
    "left": ("on the left", "at the left", "to the left", "on the left side"),
    "centre": ("in the centre", "at the centre", "in the centre of the image"),
    "right": ("on the right", "at the right", "to the right", "on the right side"),
}
_POSITION_SHORT = {
    "left": ("left side", "left"),
    "centre": ("centre",),
    "right": ("right side", "right"),
}
_PREFIXES = ("a ", "a picture of a ", "an image of a ", "a drawing of a ")


# ---------------------------------------------------------------------------- rendering


def _box(qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Signed distance of a centred box given |p| - half sizes."""
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0)


def _sdf(shape: np.ndarray, x: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Signed distance (pixels) of every pixel to its image's shape; arrays broadcast (n,h,w)."""
    ax, ay = np.abs(x), np.abs(y)
    d = np.empty(np.broadcast_shapes(x.shape, y.shape), dtype=np.float64)
    for code, name in enumerate(SHAPES):
        sel = shape == code
        if not sel.any():
            continue
        xs, ys, axs, ays, rs = x[sel], y[sel], ax[sel], ay[sel], r[sel]
        if name == "circle":
            d[sel] = np.hypot(xs, ys) - rs
        elif name == "square":
            b = 0.86 * rs
            d[sel] = _box(axs - b, ays - b)
        elif name == "triangle":
            # apex up at -1.15 r, base at +0.85 r, half-width 1.1 r
            top, base, half = -1.15 * rs, 0.85 * rs, 1.1 * rs
            nx, ny = base - top, half  # outward normal of the right edge ∝ (height, -half width)
            norm = np.hypot(nx, ny)
            side = (nx * axs - ny * (ys - top)) / norm
            d[sel] = np.maximum(side, ys - base)
        else:  # cross
            t = 0.36 * rs
            d[sel] = np.minimum(_box(axs - rs, ays - t), _box(axs - t, ays - rs))
    return d


def _render_codes(
    codes: Mapping[str, np.ndarray], size: int, rng: np.random.Generator | None
) -> np.ndarray:
    """Render images from integer attribute codes; ``rng=None`` renders without jitter."""
    n = len(codes["shape"])
    scale = size / 16.0
    out = np.empty((n, 3, size, size), dtype=np.float32)
    grid = np.arange(size, dtype=np.float64) + 0.5
    radius = np.array([_RADIUS[s] for s in SIZES]) * scale
    centre_x = np.array([_CENTRE_X[p] for p in POSITIONS]) * size
    base = np.array([_BASE_RGB[c] for c in COLOURS])
    chunk = max(1, 2_000_000 // (size * size))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        m = stop - start
        shape = codes["shape"][start:stop]
        r = radius[codes["size"][start:stop]]
        cx = centre_x[codes["position"][start:stop]]
        cy = np.full(m, size / 2.0)
        rgb = base[codes["colour"][start:stop]]
        if rng is not None:
            cx = cx + rng.uniform(-1.0, 1.0, m) * scale
            cy = cy + rng.uniform(-1.0, 1.0, m) * scale
            r = r * rng.uniform(0.94, 1.06, m)
            rgb = rgb * rng.uniform(0.85, 1.0, (m, 1)) + rng.normal(0.0, 0.035, (m, 3))
        x = grid[None, None, :] - cx[:, None, None]
        y = grid[None, :, None] - cy[:, None, None]
        x, y = np.broadcast_arrays(x, y)
        rr = np.broadcast_to(r[:, None, None], x.shape)
        ss = np.broadcast_to(shape[:, None, None], x.shape)
        alpha = np.clip(0.5 - _sdf(ss, x, y, rr), 0.0, 1.0)
        img = alpha[:, None, :, :] * np.clip(rgb, 0.0, 1.0)[:, :, None, None]
        out[start:stop] = img.astype(np.float32)
    return out


def _check_size(size: Any) -> int:
    size = check_int(size, "size", low=1)
    if size not in SUPPORTED_SIZES:
        msg = (
            f"size={size} is not supported; choose one of {', '.join(map(str, SUPPORTED_SIZES))} "
            "pixels per side."
        )
        raise InputError(msg)
    return size


def _code(family: str, value: str) -> int:
    values = ATTRIBUTES[family]
    if value not in values:
        msg = f"{family}={value!r} is not a known {family}; choose one of {', '.join(values)}."
        raise InputError(msg)
    return values.index(value)


def render(
    shape: str,
    colour: str,
    size_name: str,
    position: str,
    *,
    size: int = 16,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Render one shapes image.

    Parameters
    ----------
    shape, colour, size_name, position
        Attribute values (see :data:`ATTRIBUTES`).
    size
        Pixels per side, one of :data:`SUPPORTED_SIZES`.
    rng
        Random generator for the position, size and colour jitter; ``None`` renders the
        exact template (centred, base colour).

    Returns
    -------
    ndarray of shape (3, size, size), float32 in [0, 1]
    """
    size = _check_size(size)
    values = {"shape": shape, "colour": colour, "size": size_name, "position": position}
    codes = {f: np.array([_code(f, v)]) for f, v in values.items()}
    return _render_codes(codes, size, rng)[0]


# ---------------------------------------------------------------------------- captions


def _check_families(families: Sequence[str] | None) -> tuple[str, ...]:
    if families is None:
        return FAMILIES
    if isinstance(families, str):
        families = [families]
    unknown = [f for f in families if f not in ATTRIBUTES]
    if unknown:
        msg = f"Unknown attribute families {unknown}; choose among {', '.join(FAMILIES)}."
        raise InputError(msg)
    return tuple(f for f in FAMILIES if f in families)


def _caption_values(attributes: Mapping[str, str], families: tuple[str, ...]) -> dict[str, str]:
    missing = [f for f in families if f not in attributes]
    if missing:
        msg = f"attributes has no value for the families {missing}; give {', '.join(families)}."
        raise InputError(msg)
    return {f: str(attributes[f]) for f in families if _code(f, str(attributes[f])) >= 0}


def canonical_caption(
    attributes: Mapping[str, str], *, families: Sequence[str] | None = None
) -> str:
    """The canonical caption, e.g. ``"a small red circle on the left"``.

    ``families`` limits it to some families: ``{"shape": "square"}`` with
    ``families=["shape"]`` gives ``"a square"``; ``families=["colour"]`` gives ``"a red shape"``.
    """
    v = _caption_values(attributes, _check_families(families))
    words = [v[f] for f in ("size", "colour") if f in v] + [v.get("shape", "shape")]
    text = "a " + " ".join(words)
    if "position" in v:
        text += " " + _POSITION_PHRASES[v["position"]][0]
    return text


def make_caption(
    attributes: Mapping[str, str],
    rng: np.random.Generator,
    *,
    families: Sequence[str] | None = None,
) -> str:
    """A caption of an image's attributes in one of several phrasings.

    Parameters
    ----------
    attributes
        Family → value, e.g. ``{"shape": "circle", "colour": "red", "size": "small",
        "position": "left"}``.
    rng
        Random generator choosing the phrasing.
    families
        The families to mention (``None``: all). A subset gives prompts such as ``"a square"``
        or ``"a picture of a red shape"``; the noun is ``"shape"`` when the shape is left out.

    Returns
    -------
    str
        E.g. ``"a small red circle on the left"``, ``"red circle, small, left side"``,
        ``"on the right, a picture of a large blue square"``. Every mentioned value appears
        verbatim.
    """
    v = _caption_values(attributes, _check_families(families))
    noun = v.get("shape", "shape")
    position = v.get("position")
    style = int(rng.integers(3))
    if style == 1 and "size" in v and position is not None:
        # comma list: "red circle, small, left side"
        head = " ".join([v[f] for f in ("colour",) if f in v] + [noun])
        short = _POSITION_SHORT[position]
        return f"{head}, {v['size']}, {short[int(rng.integers(len(short)))]}"
    prefix = _PREFIXES[int(rng.integers(len(_PREFIXES)))]
    body = prefix + " ".join([v[f] for f in ("size", "colour") if f in v] + [noun])
    if position is None:
        return body
    phrases = _POSITION_PHRASES[position]
    phrase = phrases[int(rng.integers(len(phrases)))]
    if style == 2:
        return f"{phrase}, {body}"
    return f"{body} {phrase}"


# ---------------------------------------------------------------------------- dataset


@dataclass(frozen=True, eq=False)
class ShapesDataset:
    """Captioned shapes images (see :func:`shapes_dataset`).

    Attributes
    ----------
    images : ndarray of shape (n, 3, size, size), float32 in [0, 1]
        Channels first (the torch convention).
    captions : list of str
        One caption per image, in varied phrasings.
    attributes : dict of str to ndarray of shape (n,)
        Family → the value (a str) of every image.
    associations : dict of (str, str) to float
        What was planted, ``{(a, b): p}``.
    size : int
        Pixels per side.
    seed : int
        The seed it was generated with.
    """

    images: np.ndarray
    captions: list[str]
    attributes: dict[str, np.ndarray]
    associations: dict[tuple[str, str], float] = field(default_factory=dict)
    size: int = 16
    seed: int = 0

    def __len__(self) -> int:
        return len(self.captions)

    def __repr__(self) -> str:
        planted = ", ".join(f"{a}->{b}: {p:g}" for (a, b), p in self.associations.items())
        return (
            f"ShapesDataset(n={len(self)}, size={self.size}, seed={self.seed}, "
            f"associations={{{planted}}})"
        )

    def to_table(self) -> pa.Table:
        """A pyarrow table: ``id``, ``caption`` and one column per attribute family."""
        import pyarrow as pa

        columns: dict[str, Any] = {
            "id": pa.array(np.arange(len(self), dtype=np.int64)),
            "caption": pa.array(self.captions, type=pa.string()),
        }
        for family in FAMILIES:
            columns[family] = pa.array([str(v) for v in self.attributes[family]], type=pa.string())
        return pa.table(columns)


def _draw_codes(
    n: int, associations: dict[tuple[str, str], float], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    codes: dict[str, np.ndarray] = {}
    for family in FAMILIES:
        k = len(ATTRIBUTES[family])
        drawn = rng.integers(k, size=n)
        claimed = np.zeros(n, dtype=bool)
        # associations into this family, earliest source family first (precedence rule)
        rules = sorted(
            ((a, b, p) for (a, b), p in associations.items() if FAMILY_OF[b] == family),
            key=lambda t: FAMILIES.index(FAMILY_OF[t[0]]),
        )
        for a, b, p in rules:
            fa = FAMILY_OF[a]
            sel = (codes[fa] == ATTRIBUTES[fa].index(a)) & ~claimed
            m = int(sel.sum())
            if m == 0:
                continue
            target = ATTRIBUTES[family].index(b)
            hit = rng.random(m) < p
            # otherwise uniform over the k - 1 other values
            other = rng.integers(k - 1, size=m)
            other = other + (other >= target)
            drawn[sel] = np.where(hit, target, other)
            claimed |= sel
        codes[family] = drawn
    return codes


def _mentioned(mention: float, rng: np.random.Generator) -> list[str] | None:
    """The families one caption names: each with probability ``mention``, at least one."""
    if mention >= 1:
        return None
    chosen = [f for f in FAMILIES if rng.random() < mention]
    return chosen or [FAMILIES[int(rng.integers(len(FAMILIES)))]]


def shapes_dataset(
    n: int,
    size: int = 16,
    *,
    associations: Mapping[tuple[str, str], float] | Sequence[tuple[str, str, float]] | None = None,
    mention: float = 1.0,
    seed: int = 0,
) -> ShapesDataset:
    """Generate captioned shapes images, optionally with planted attribute associations.

    Families are drawn in the order shape, colour, size, position, independent and uniform
    unless planted. An association ``(a, b, p)`` (``a`` a value of an earlier family, ``b`` of a
    later one) means: when a sample has ``a``, its ``b``-family value is ``b`` with probability
    ``p``, otherwise uniform over the other values of that family. When associations from
    values of different families target the same family and a sample has both sources, the
    one whose source family is drawn first applies.

    Parameters
    ----------
    n
        Number of images (>= 1).
    size
        Pixels per side, one of :data:`SUPPORTED_SIZES` (16 is the training size of the
        small DDPM).
    associations
        ``{(a, b): p}`` or a list of ``(a, b, p)``, e.g. ``[("circle", "red", 0.9)]``.
    mention
        Probability that a caption names each family (at least one family is always named).
        1 (default) names all four; below 1 gives partial captions such as ``"a square"`` or
        ``"a small red shape"``, so that a model trained on them learns to fill in what a prompt
        leaves out — which is what decoding reads (0.6 is the recipe of ``diffembed latents
        train --mention``).
    seed
        Seed of the attributes, the rendering jitter and the caption phrasing.

    Returns
    -------
    ShapesDataset

    Raises
    ------
    InputError
        ``n < 1``, an unsupported size, an unknown attribute value, an association within
        one family or against the drawing order, a probability outside [0, 1], or two
        associations from the same value into the same family; ``mention`` outside (0, 1].

    Examples
    --------
    >>> data = shapes_dataset(100, associations=[("circle", "red", 1.0)], seed=0)
    >>> data.images.shape
    (100, 3, 16, 16)
    >>> bool((data.attributes["colour"][data.attributes["shape"] == "circle"] == "red").all())
    True
    """
    n = check_int(n, "n", low=1, fix="Ask for at least one image.")
    size = _check_size(size)
    seed = check_int(seed, "seed", low=0)
    planted = check_associations(associations)
    mention = check_real(mention, "mention", low=0.0, high=1.0, low_inclusive=False)
    rng = np.random.default_rng(seed)
    codes = _draw_codes(n, planted, rng)
    images = _render_codes(codes, size, rng)
    attributes = {f: np.asarray(ATTRIBUTES[f], dtype=object)[codes[f]] for f in FAMILIES}
    captions = [
        make_caption(
            {f: attributes[f][i] for f in FAMILIES}, rng, families=_mentioned(mention, rng)
        )
        for i in range(n)
    ]
    return ShapesDataset(
        images=images,
        captions=captions,
        attributes=attributes,
        associations=planted,
        size=size,
        seed=seed,
    )


def __getattr__(name: str) -> Any:
    # the classifier lives in its own module; it is served here too, where users look for it
    # (lazily: shapes_classifier imports this module)
    if name == "AttributeClassifier":
        from .shapes_classifier import AttributeClassifier

        return AttributeClassifier
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
