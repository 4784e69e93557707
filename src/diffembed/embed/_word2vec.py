"""The word2vec text and binary formats, byte for byte as gensim writes and reads them.

Both start with a header line ``"n_keys dim\\n"`` (UTF-8). Then, per key:

- text: ``key v1 v2 … vdim\\n``, the values float32 written with ``str`` (the shortest
  decimal that reads back to the same float32, as gensim's ``save_word2vec_format``);
- binary: ``key`` in UTF-8, one space, then ``dim`` float32 little-endian (``4·dim`` bytes),
  with no separator before the next key (gensim 4). Files from the original C tool put a
  newline after every vector; it is skipped on reading, as gensim does.

gensim splits a line on ASCII spaces and a binary record at the first space, so a key may hold
any character except the space and the newline (tabs, no-break spaces and any Unicode are
kept). Keys are written with ``str`` and read back as ``str``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np

from ..exceptions import InputError

__all__ = ["read_word2vec", "write_word2vec"]

_CHUNK = 1 << 20
_TEXT_BYTES = frozenset(b"0123456789.-+eEinfaINFA \n")


def _check_keys(keys: Sequence[Hashable]) -> list[str]:
    names = [str(k) for k in keys]
    bad = [k for k in names if not k or " " in k or "\n" in k]
    if bad:
        msg = (
            f"{len(bad)} key(s) are empty or contain whitespace the word2vec format splits on "
            f"(a space or a line break; e.g. {bad[0]!r}), so neither gensim nor diffembed could "
            "read the file back. Rename them first, e.g. with key.replace(' ', '_')."
        )
        raise InputError(msg)
    return names


def write_word2vec(
    keys: Sequence[Hashable],
    vectors: np.ndarray,
    path: str | os.PathLike[str],
    *,
    binary: bool = False,
) -> Path:
    """Write ``vectors`` (one row per key) in word2vec format, atomically; return the path."""
    from ..io.writers import atomic_path

    names = _check_keys(keys)
    values = np.asarray(vectors, dtype=np.float32)
    if values.ndim != 2 or values.shape[0] != len(names):
        msg = f"Expected one vector per key ({len(names)}), got an array of shape {values.shape}."
        raise InputError(msg)
    if not np.isfinite(values).all():
        msg = (
            "The vectors hold NaN or infinite values (after conversion to float32, the type of "
            "the word2vec format); fix or drop those rows first."
        )
        raise InputError(msg)
    n, dim = values.shape
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(f"{n} {dim}\n".encode())
        little = values.astype("<f4", copy=False)
        for start in range(0, n, 4096):
            block = range(start, min(start + 4096, n))
            if binary:
                parts = [names[i].encode("utf-8") + b" " + little[i].tobytes() for i in block]
                handle.write(b"".join(parts))
            else:
                lines = [names[i] + " " + " ".join(map(str, values[i])) + "\n" for i in block]
                handle.write("".join(lines).encode("utf-8"))
    return Path(path)


def _header(handle, path: Path, encoding: str) -> tuple[int, int]:
    raw = handle.readline()
    try:
        fields = raw.decode(encoding).split()
    except UnicodeDecodeError:
        fields = []
    if len(fields) != 2 or not all(f.isdigit() for f in fields):
        shown = raw[:60].decode("utf-8", errors="replace")
        msg = (
            f"{path} does not start with a word2vec header line 'n_keys dim' (got {shown!r}). "
            "Give a word2vec file (text or binary) with its header."
        )
        raise InputError(msg)
    n, dim = int(fields[0]), int(fields[1])
    if dim < 1:
        msg = f"{path} announces vectors of {dim} dimensions; the header must give dim >= 1."
        raise InputError(msg)
    return n, dim


def read_word2vec(
    path: str | os.PathLike[str],
    *,
    binary: bool = False,
    encoding: str = "utf-8",
    unicode_errors: str = "strict",
    limit: int | None = None,
) -> tuple[list[str], np.ndarray]:
    """Read a word2vec file; return ``(keys, float32 vectors)``.

    A repeated key keeps its first vector, with a warning (as gensim). Bad files raise
    :class:`~diffembed.exceptions.InputError` naming the line or record and the fix.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"{path} is not a file; give the path of a word2vec file."
        raise InputError(msg)
    with open(path, "rb") as handle:
        n, dim = _header(handle, path, encoding)
        if limit is not None:
            n = min(n, int(limit))
        reader = _read_binary if binary else _read_text
        keys, rows = reader(handle, path, n, dim, encoding, unicode_errors)
    if len(keys) != n:
        msg = (
            f"{path} announces {n} vectors but holds {len(keys)}; the file is truncated "
            "(or the header count is wrong)."
        )
        raise InputError(msg)
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        seen.setdefault(key, i)
    if len(seen) != len(keys):
        warnings.warn(
            f"{path}: {len(keys) - len(seen)} repeated key(s); kept the first vector of each, "
            "as gensim does.",
            stacklevel=3,
        )
        order = sorted(seen.values())
        keys, rows = [keys[i] for i in order], rows[order]
    return keys, rows


def _read_text(handle, path: Path, n: int, dim: int, encoding: str, errors: str):
    keys: list[str] = []
    rows = np.empty((n, dim), dtype=np.float32)
    for i in range(n):
        raw = handle.readline()
        if not raw:
            break
        try:
            parts = raw.decode(encoding, errors=errors).rstrip().split(" ")
        except UnicodeDecodeError as exc:
            msg = (
                f"{path}, line {i + 2}: not {encoding} text ({exc.reason}). If this is a binary "
                "word2vec file, pass binary=True; for a damaged text file, "
                "unicode_errors='replace'."
            )
            raise InputError(msg) from exc
        if len(parts) != dim + 1:
            msg = (
                f"{path}, line {i + 2}: expected a key and {dim} numbers separated by single "
                f"spaces, got {len(parts)} fields. A key may not contain a space; if this is a "
                "binary word2vec file, pass binary=True."
            )
            raise InputError(msg)
        try:
            rows[i] = np.asarray(parts[1:], dtype=np.float32)
        except ValueError as exc:
            msg = f"{path}, line {i + 2}: a value is not a number ({exc})."
            raise InputError(msg) from exc
        keys.append(parts[0])
    return keys, rows[: len(keys)]


def _read_binary(handle, path: Path, n: int, dim: int, encoding: str, errors: str):
    keys: list[str] = []
    rows = np.empty((n, dim), dtype=np.float32)
    width = 4 * dim
    chunk = b""
    start = 0
    eof = False
    while len(keys) < n:
        space = chunk.find(b" ", start)
        if space == -1 or len(chunk) - space - 1 < width:
            if eof:
                break
            more = handle.read(_CHUNK)
            eof = len(more) < _CHUNK
            chunk = chunk[start:] + more
            start = 0
            continue
        try:
            key = chunk[start:space].decode(encoding, errors=errors).lstrip("\n")
        except UnicodeDecodeError as exc:
            msg = (
                f"{path}, record {len(keys) + 1}: the key is not {encoding} ({exc.reason}); "
                "pass unicode_errors='replace' (files of the C tool may cut keys mid-character)."
            )
            raise InputError(msg) from exc
        body = chunk[space + 1 : space + 1 + width]
        if not keys and set(body) <= _TEXT_BYTES:
            msg = (
                f"{path} looks like the word2vec text format (its first vector is printable "
                "digits); pass binary=False."
            )
            raise InputError(msg)
        rows[len(keys)] = np.frombuffer(body, dtype="<f4")
        keys.append(key)
        start = space + 1 + width
    return keys, rows[: len(keys)]
