"""Read saved model files as untrusted input: bounded JSON and ``.npz`` headers before data.

A model folder may come from anyone (a colleague, a download, a tampered copy), so nothing in
it is trusted before it is checked:

* JSON is read only up to :data:`MAX_JSON_BYTES` and :data:`MAX_JSON_DEPTH` levels of nesting
  (checked on the raw text, before :func:`json.loads` can recurse), and ``NaN`` / ``Infinity``
  literals are refused (diffembed writes strict JSON).
* An ``.npz`` archive is opened with :mod:`zipfile`; every member's ``.npy`` header (dtype,
  shape) is read **before** any data is decompressed, members the format does not define are
  refused, and each member's uncompressed size in the zip directory must equal what its header
  declares. The caller compares the headers with what the JSON declares (number of samples,
  components, features) and only then reads the arrays, with ``allow_pickle=False``.

Every problem raises :class:`~diffembed.exceptions.InputError` through :func:`tampered`:
"model file tampered or from another tool: <what> (<file>)".
"""

from __future__ import annotations

import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from numpy.lib import format as npy_format

from .._memory import available_memory
from ..exceptions import InputError

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "NpyHeader",
    "check_header",
    "npz_headers",
    "read_json_capped",
    "read_model_document",
    "read_npy_checked",
    "read_npz_members",
    "refuse",
    "tampered",
]

#: Largest JSON file read from a model folder (feature names of ~100k columns fit easily).
MAX_JSON_BYTES = 32 * 2**20
#: Deepest nesting of ``[`` / ``{`` accepted in a model folder's JSON (diffembed writes < 6).
MAX_JSON_DEPTH = 32
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def tampered(what: str, file: str | os.PathLike[str]) -> InputError:
    """The :class:`InputError` for a model file that does not hold what its format defines."""
    return InputError(
        f"model file tampered or from another tool: {what} ({file}). A damaged or foreign "
        "file is never loaded; save the model again from its data."
    )


def _refuse_constant(name: str) -> Any:
    msg = f"the non-standard number {name}"
    raise ValueError(msg)


def read_json_capped(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """Parse a JSON file of a model folder with its size and nesting bounded before parsing.

    Raises
    ------
    InputError
        Too large, too deeply nested, not UTF-8, not valid JSON, or holding ``NaN``.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        refuse(f"{size} bytes of JSON, more than the {max_bytes} a model file has", path)
    raw = path.read_bytes()
    bare = _STRINGS.sub(b"", raw)  # brackets inside strings do not nest
    steps = np.frombuffer(bare, dtype=np.uint8)
    delta = np.isin(steps, (ord("["), ord("{"))).astype(np.int64)
    delta -= np.isin(steps, (ord("]"), ord("}")))
    depth = int(np.cumsum(delta).max()) if delta.size else 0
    if depth > max_depth:
        refuse(f"JSON nested {depth} levels deep (a model file has at most {max_depth})",
                       path)
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        refuse(f"the JSON is not UTF-8 text ({exc.reason} at byte {exc.start})",
                       path)
    except (ValueError, RecursionError) as exc:
        refuse(f"not valid JSON ({exc})", path)


def read_model_document(
    json_path: str | os.PathLike[str], *, fmt: str, max_version: int, reader_version: str
) -> dict[str, Any]:
    """Read a model folder's JSON (:func:`read_json_capped`) and check its format and version.

    Parameters
    ----------
    json_path
        The folder's ``model.json``.
    fmt
        The ``format`` string the document must carry (e.g. ``"diffembed.model"``).
    max_version
        The newest ``format_version`` this diffembed reads.
    reader_version
        This diffembed's version, quoted when the file is newer.

    Raises
    ------
    InputError
        Not a JSON object of that format, or an invalid or too new ``format_version``.
    """
    document = read_json_capped(json_path)
    if not isinstance(document, dict) or document.get("format") != fmt:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        msg = f"{json_path} has format {found!r}, not {fmt!r}; it is not a diffembed model file."
        raise InputError(msg)
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        msg = f"{json_path} has an invalid format_version {version!r}; the file is damaged."
        raise InputError(msg)
    if version > max_version:
        msg = (
            f"{json_path} uses model format_version {version}, written by diffembed "
            f"{document.get('diffembed_version', '?')}; this diffembed ({reader_version}) reads "
            f"up to format_version {max_version}. Upgrade diffembed to load it."
        )
        raise InputError(msg)
    return document


@dataclass(frozen=True)
class NpyHeader:
    """What one ``.npy`` member of an archive declares, read before its data."""

    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int


def npz_headers(path: str | os.PathLike[str], allowed: tuple[str, ...]) -> dict[str, NpyHeader]:
    """The ``.npy`` headers of an ``.npz`` archive whose members must all be in ``allowed``.

    Reads only the zip directory and each member's first bytes; no array is decompressed.

    Parameters
    ----------
    path
        The archive.
    allowed
        Array names the format defines (without ``.npy``).

    Raises
    ------
    InputError
        Not a zip archive, an unknown or duplicated member, an encrypted or oddly compressed
        member, an object or structured dtype, or a header that disagrees with the zip's size.
    """
    path = Path(path)
    headers: dict[str, NpyHeader] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                if not info.filename.endswith(".npy") or name not in allowed:
                    refuse(
                        f"unknown member {info.filename!r} (the format holds "
                        f"{', '.join(allowed)})", path)
                if name in headers:
                    refuse(f"member {info.filename!r} appears twice", path)
                if info.flag_bits & 0x1 or info.compress_type not in (
                    zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
                ):
                    refuse(f"member {info.filename!r} is encrypted or uses an unknown "
                                   "compression", path)
                headers[name] = _member_header(archive, info, path)
    except InputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error,
            NotImplementedError, ValueError) as exc:  # fmt: skip
        refuse(f"not a readable .npz archive ({exc})", path)
    return headers


def _member_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> NpyHeader:
    with archive.open(info) as handle:
        try:
            version = npy_format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(handle)
            else:
                refuse(f"member {info.filename!r} uses .npy version {version}", path)
        except InputError:
            raise
        except (ValueError, EOFError, SyntaxError) as exc:
            refuse(f"member {info.filename!r} has no valid .npy header ({exc})",
                           path)
        header_size = handle.tell()
    del fortran  # either order is read the same way
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        refuse(f"member {info.filename!r} has dtype {dtype} (only plain numbers are "
                       "stored; objects are never unpickled)", path)
    if any(int(s) < 0 for s in shape):
        refuse(f"member {info.filename!r} declares the shape {shape}", path)
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if info.file_size != header_size + nbytes:
        refuse(
            f"member {info.filename!r} declares {nbytes} bytes of data (shape {shape}, "
            f"{dtype}) but the archive holds {info.file_size - header_size}", path)
    return NpyHeader(tuple(int(s) for s in shape), dtype, nbytes)


def read_npy_checked(
    path: str | os.PathLike[str],
    shape: tuple[int | None, ...],
    kinds: str = "f",
) -> np.ndarray:
    """Read a saved ``.npy`` file after checking its header against the file size and ``shape``.

    ``shape`` gives the expected length of each axis (None: any). The header is read first, so
    a small file whose header claims a huge array is refused before anything is allocated.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            version = npy_format.read_magic(handle)
            if version not in ((1, 0), (2, 0)):
                refuse(f".npy version {version}", path)
            read = (npy_format.read_array_header_1_0 if version == (1, 0)
                    else npy_format.read_array_header_2_0)  # fmt: skip
            header_shape, _, dtype = read(handle)
            header_size = handle.tell()
    except (ValueError, EOFError, SyntaxError) as exc:
        refuse(f"no valid .npy header ({exc})", path)
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        refuse(f"dtype {dtype} (only plain numbers are stored; objects are never unpickled)",
               path)  # fmt: skip
    nbytes = int(np.prod(header_shape, dtype=object)) * dtype.itemsize
    size = path.stat().st_size
    if size != header_size + nbytes:
        refuse(f"the header declares {nbytes} bytes of data (shape {header_shape}, {dtype}) "
               f"but the file holds {size - header_size}", path)  # fmt: skip
    headers = {path.stem: NpyHeader(tuple(int(s) for s in header_shape), dtype, nbytes)}
    check_header(headers, path.stem, shape, kinds, path)
    arr = np.load(path, allow_pickle=False)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        refuse(f"{path.name} holds NaN or infinite values", path)
    return arr


def check_header(
    headers: dict[str, NpyHeader],
    name: str,
    shape: tuple[int | None, ...],
    kinds: str,
    path: str | os.PathLike[str],
) -> NpyHeader:
    """Check one member's declared shape (``None``: any length) and dtype kind; return it."""
    if name not in headers:
        refuse(f"the array {name!r} is missing", path)
    header = headers[name]
    if len(header.shape) != len(shape) or any(
        want is not None and got != want for got, want in zip(header.shape, shape, strict=True)
    ):
        expected = "(" + ", ".join("any" if s is None else str(s) for s in shape) + (
            ",)" if len(shape) == 1 else ")")
        refuse(f"the array {name!r} has shape {header.shape}, expected {expected}", path)
    if header.dtype.kind not in kinds or header.dtype.itemsize > 8:
        names = {"f": "float", "i": "integer", "u": "unsigned integer", "b": "boolean"}
        allowed = " or ".join(names[k] for k in kinds)
        refuse(f"the array {name!r} has dtype {header.dtype}, expected {allowed}", path)
    return header


def read_npz_members(
    path: str | os.PathLike[str], headers: dict[str, NpyHeader]
) -> dict[str, np.ndarray]:
    """Read the members whose headers were checked, refusing an archive larger than memory."""
    path = Path(path)
    total = sum(h.nbytes for h in headers.values())
    free, _ = available_memory()  # the same figure the memory guard uses
    if free is not None and total > free:
        refuse(f"its arrays declare {total / 2**30:.1f} GiB, more than the "
                       f"{free / 2**30:.1f} GiB of memory available", path)
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name, header in headers.items():
                with archive.open(name + ".npy") as handle:
                    arr = npy_format.read_array(handle, allow_pickle=False)
                if arr.shape != header.shape or arr.dtype != header.dtype:
                    refuse(f"the array {name!r} changed while it was read", path)
                out[name] = arr
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError) as exc:
        refuse(f"the arrays could not be read ({exc})", path)
    return out


def refuse(what: str, file: str | os.PathLike[str]) -> NoReturn:
    """Raise :func:`tampered` (inside an ``except`` block the cause is chained implicitly)."""
    raise tampered(what, file)
