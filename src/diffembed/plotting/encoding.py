"""JSON for HTML pages: script-safe text, base64 typed arrays and figures with a shared store.

:func:`safe_json` writes JSON that cannot close its ``<script>`` element; :func:`typed_array`
encodes a numeric array as plotly's ``{"dtype", "bdata"}`` base64 spec (what plotly.js and the
explorer decode into typed arrays); :func:`figure_json` writes a plotly figure with its long
arrays moved into a shared, deduplicated store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["figure_json", "safe_json", "typed_array"]

_STORE_MIN = 256  # arrays at least this long are stored once by figure_json
_NONFINITE = re.compile(r"[:,\[]-?(?:NaN|Infinity)[,\]}]")
_DTYPES = ("i1", "u1", "i2", "u2", "i4", "u4", "f4", "f8")


def typed_array(values: Any, dtype: str) -> dict[str, str]:
    """A numeric array as a base64 typed-array spec ``{"dtype": dtype, "bdata": ...}``.

    Parameters
    ----------
    values
        1-D numeric array (cast to ``dtype``, little-endian).
    dtype
        One of ``i1 u1 i2 u2 i4 u4 f4 f8`` (JavaScript's ``Int8Array`` ... ``Float64Array``).

    Returns
    -------
    dict
    """
    if dtype not in _DTYPES:
        msg = f"dtype={dtype!r} is not a typed-array type; use one of {_DTYPES}."
        raise ValueError(msg)
    data = np.ascontiguousarray(np.asarray(values).ravel(), dtype="<" + dtype).tobytes()
    return {"dtype": dtype, "bdata": base64.b64encode(data).decode("ascii")}


def safe_json(obj: Any) -> str:
    """JSON text that is safe inside an HTML ``<script>`` element.

    Returns
    -------
    str
        ASCII JSON of ``obj`` (NaN and infinities as ``null``) in which ``<``, ``>`` and ``&``
        are ``\\u`` escapes, so ``</script>`` and ``<!--`` cannot appear; U+2028 and U+2029
        are escaped too (``ensure_ascii``).
    """
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    if _NONFINITE.search(text):  # a NaN or infinite number: write it as null
        text = json.dumps(_finite(obj), ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _b64(arr: np.ndarray) -> dict[str, str]:
    """A numeric array as a plotly typed-array spec ``{"dtype", "bdata"}``."""
    if arr.dtype.kind == "f":
        dtype = "f4" if arr.dtype.itemsize <= 4 else "f8"
    elif arr.dtype.kind in "iub" and arr.size and (arr.min() < -(2**31) or arr.max() >= 2**31):
        dtype = "f8"
    else:
        dtype = "i4"
    data = np.ascontiguousarray(arr, dtype="<" + dtype).tobytes()
    return {"dtype": dtype, "bdata": base64.b64encode(data).decode("ascii")}


def _pack(obj: Any, store: dict[str, Any]) -> Any:
    """Move the long arrays of a figure into ``store`` (deduplicated), leaving references."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "iufb" and obj.ndim == 1:
            spec = _b64(obj)
            return _ref(spec, store) if obj.size >= _STORE_MIN else spec
        obj = obj.tolist()
    if isinstance(obj, dict):
        if isinstance(obj.get("bdata"), str) and "dtype" in obj and "shape" not in obj:
            return _ref(obj, store) if len(obj["bdata"]) >= 4 * _STORE_MIN else obj
        return {k: _pack(v, store) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        if len(obj) < _STORE_MIN:
            return [_pack(v, store) for v in obj]
        return _ref(list(obj), store)  # a long list is data: stored as it is
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _ref(value: Any, store: dict[str, Any]) -> dict[str, str]:
    text = value["bdata"] if isinstance(value, dict) else safe_json(value)
    key = hashlib.sha1(text.encode("ascii"), usedforsecurity=False).hexdigest()[:16]
    store.setdefault(key, value)
    return {"__ref__": key}


def figure_json(
    fig: go.Figure | dict[str, Any], store: dict[str, Any], config: dict[str, Any] | None = None
) -> str:
    """A figure as ``{"data", "layout", "config"}`` JSON for an HTML data block.

    Parameters
    ----------
    fig
        A plotly figure, or a spec from :func:`embedding_spec` (faster: numpy arrays are
        encoded directly as base64 typed arrays, ``{"dtype", "bdata"}``).
    store
        Shared dict that receives every array of 256 entries or more, keyed by a hash of its
        content and replaced by ``{"__ref__": key}``: arrays shared by figures are written once.
    config
        plotly.js config of the figure.

    Returns
    -------
    str
    """
    import plotly.io as pio

    if isinstance(fig, dict):
        layout = dict(fig.get("layout", {}))
        if isinstance(layout.get("template"), str):
            layout["template"] = pio.templates[layout["template"]].to_plotly_json()
        spec = {"data": fig.get("data", []), "layout": layout}
    else:
        spec = json.loads(pio.to_json(fig, validate=False, engine="json"))
    spec = {"data": spec.get("data", []), "layout": spec.get("layout", {}), "config": config or {}}
    return safe_json(_pack(spec, store))
