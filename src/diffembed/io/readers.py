"""Read data tables (``.npy``, ``.csv``, ``.tsv``, ``.parquet``) into a float64 matrix.

Numeric columns become the data matrix; a label column and an id column may be kept alongside
as metadata. Anything else that is not numeric is refused with a message that names the
columns and the fix, and so are missing, infinite or NaN values (with their row numbers).
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..exceptions import InputError

__all__ = [
    "SUPPORTED_SUFFIXES", "IdColumnsWarning", "check_npy_header", "detect_separator",
    "file_sha256", "read_table",
]

#: File name endings understood by :func:`read_table`.
SUPPORTED_SUFFIXES = (".npy", ".csv", ".tsv", ".parquet", ".pq", ".csv.gz", ".tsv.gz", ".h5ad")

ReadResult = tuple[np.ndarray, np.ndarray | None, np.ndarray | None, list[str]]


def file_sha256(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 digest of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    """An exception's text without a trailing full stop (it is embedded in a sentence).

    Unprintable characters (binary data quoted by a parser) become ``?`` and the text is
    shortened to 300 characters.
    """
    text = "".join(ch if ch.isprintable() else " " if ch.isspace() else "?" for ch in str(exc))
    text = " ".join(text.split()).rstrip(". ") or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def read_table(
    path: str | os.PathLike[str],
    *,
    label: str | None = None,
    id_column: str | None = None,
    columns: list[str] | None = None,
    exclude: list[str] | None = None,
    sep: str | None = None,
) -> ReadResult:
    """Read a data file into a finite float64 matrix plus optional label and id columns.

    Parameters
    ----------
    path
        A ``.npy`` file holding a 2-D numeric array, or a ``.csv`` / ``.tsv`` (optionally
        gzipped) or ``.parquet`` table with named columns.
    label
        Name of a column kept as metadata (any dtype), e.g. to colour plots; it is not part of
        the data matrix.
    id_column
        Name of a column of row identifiers (any dtype), kept as metadata.
    columns
        Feature columns to use, in this order (an id-like column named here is kept). By
        default every column other than ``label``, ``id_column``, ``exclude`` and the id-like
        columns is used, and all of them must be numeric.
    exclude
        Columns to leave out of the features (not with ``columns``).
    sep
        Field separator of a CSV/TSV file. By default it is detected from the header line
        (comma, semicolon, tab or ``|``; the suffix's own separator wins a tie); with a
        semicolon, a decimal comma (``1,5``) is read as a number.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    labels : ndarray of shape (n_samples,) or None
    ids : ndarray of shape (n_samples,) or None
    feature_names : list of str
        Column names of ``X`` (``x0, x1, ...`` for ``.npy`` files).

    Warns
    -----
    IdColumnsWarning
        When ``columns`` is not given and columns that hold row identifiers rather than
        features were left out: an index written by pandas (``__index_level_0__``,
        ``Unnamed: 0``), unique integers in a column named ``id``, ``*_id``, ``index`` or
        ``row``, the row numbers ``0..n-1`` or ``1..n`` under any name, or unique strings.
        Its ``columns`` attribute maps each name to the reason.

    Raises
    ------
    InputError
        Missing, unreadable or unsupported file; unknown or non-numeric columns; an empty
        table; NaN or infinite values.
    """
    path = Path(path).expanduser()
    if not path.exists():
        msg = (
            f"Input file {path} does not exist. Check the path (relative paths start at "
            f"{Path.cwd()})."
        )
        raise InputError(msg)
    if path.is_dir():
        msg = f"Input {path} is a directory; give a data file ({', '.join(SUPPORTED_SUFFIXES)})."
        raise InputError(msg)
    suffix = _suffix(path)
    if suffix == ".h5ad":  # AnnData: obsm["X_pca"] or X, see io/anndata.py
        from .anndata import read_h5ad_table

        if columns is not None or exclude is not None:
            msg = f"{path.name} is AnnData: it has no columns to pick; use --use-rep (map)."
            raise InputError(msg)
        return read_h5ad_table(path, label=label, id_column=id_column)
    if suffix == ".npy":
        picked = label or id_column or columns or exclude
        if picked is not None:
            msg = (
                f"{path.name} is a .npy array without column names, so label/id/columns "
                f"({picked!r}) cannot be selected. Save the data as "
                ".csv or .parquet with named columns, or drop those options."
            )
            raise InputError(msg)
        X = _read_npy(path)
        return X, None, None, [f"x{j}" for j in range(X.shape[1])]
    if suffix in (".csv", ".tsv", ".csv.gz", ".tsv.gz"):
        table = _read_csv(path, suffix=suffix, sep=sep)
    elif suffix in (".parquet", ".pq"):
        table = _read_parquet(path)
    else:
        msg = (
            f"Unknown file type {suffix or '(no extension)'!r} for {path}. Supported: "
            f"{', '.join(SUPPORTED_SUFFIXES)}. Rename the file or convert it."
        )
        raise InputError(msg)
    return table_to_arrays(
        table, label=label, id_column=id_column, columns=columns, exclude=exclude,
        source=path.name,
    )


def _looks_like(head: bytes) -> str:
    """What a file's first bytes suggest it is, for a message."""
    if head.startswith(_GZIP_MAGIC):
        return "gzip-compressed data"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (an .npz file?)"
    if head.startswith(b"PAR1"):
        return "a Parquet file (name it .parquet)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data of another format"
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if text and printable / len(text) > 0.95:
        return "text (a CSV? name it .csv)"
    return "binary data of another format"


def check_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a ``.npy`` file from its header, checked against the file's size.

    Raises
    ------
    InputError
        The file does not start with NumPy's header, or is shorter than its header declares.
    """
    from .._memory import format_bytes, npy_header

    header = npy_header(path)
    if header is None:
        with open(path, "rb") as handle:
            head = handle.read(512)
        if head.startswith(b"\x93NUMPY"):
            msg = (
                f"{path.name} could not be read as a .npy array (its NumPy header is damaged). "
                "Is the file corrupt? Save the array again with np.save(path, X)."
            )
            raise InputError(msg)
        kind = f"it does not start with NumPy's header; it looks like {_looks_like(head)}"
        msg = (
            f"{path.name} is not a NumPy .npy file ({kind}). Save the data with "
            "np.save(path, X), or give a .csv/.tsv/.parquet table with a matching name."
        )
        raise InputError(msg)
    shape, dtype, offset = header
    if dtype.hasobject:
        return shape, dtype
    declared = int(np.prod(shape, dtype=np.float64) * dtype.itemsize)
    size = path.stat().st_size
    if size < offset + declared:
        msg = (
            f"{path.name} is truncated or damaged: its header declares an array of shape "
            f"{shape} ({dtype}, {format_bytes(declared)}) but the file holds only "
            f"{format_bytes(size)}. Save the array again (np.save)."
        )
        raise InputError(msg)
    return shape, dtype


def _read_npy(path: Path) -> np.ndarray:
    check_npy_header(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            msg = (
                f"{path.name} holds Python objects (an object array); diffembed never unpickles "
                "files. Save a numeric array instead, e.g. np.save(path, X.astype(float))."
            )
        else:
            msg = f"{path.name} could not be read as a .npy array ({_reason(exc)}). Is it corrupt?"
        raise InputError(msg) from exc
    except (OSError, EOFError) as exc:
        msg = (
            f"{path.name} could not be read as a .npy array ({_reason(exc)}). Is the file corrupt?"
        )
        raise InputError(msg) from exc
    if not isinstance(arr, np.ndarray):  # np.load of an .npz archive renamed .npy
        msg = f"{path.name} is not a single .npy array (it looks like an .npz archive)."
        raise InputError(msg)
    if arr.dtype.names is not None or arr.dtype.kind not in "biuf":
        msg = (
            f"{path.name} has dtype {arr.dtype}, which is not a plain numeric type. Save the "
            "data as a 2-D float or integer array."
        )
        raise InputError(msg)
    if arr.ndim != 2:
        hint = (
            " Use X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for one sample."
            if arr.ndim == 1
            else ""
        )
        msg = (
            f"{path.name} holds a {arr.ndim}-D array of shape {arr.shape}; a 2-D array "
            f"(n_samples, n_features) is needed.{hint}"
        )
        raise InputError(msg)
    if arr.shape[0] == 0:
        msg = f"{path.name} has 0 rows; there is nothing to embed."
        raise InputError(msg)
    if arr.shape[1] == 0:
        msg = f"{path.name} has 0 columns; at least one numeric feature is needed."
        raise InputError(msg)
    X = np.asarray(arr, dtype=np.float64)
    _check_finite(X, [f"x{j}" for j in range(X.shape[1])], path.name)
    return X


_GZIP_MAGIC = b"\x1f\x8b"
_SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _first_bytes(path: Path, size: int = 65_536) -> bytes:
    """The first ``size`` bytes of the text (decompressed for a gzip file)."""
    if path.name.lower().endswith(".gz"):
        import gzip

        try:
            with gzip.open(path, "rb") as handle:
                return handle.read(size)
        except (OSError, EOFError) as exc:
            msg = f"{path.name} could not be decompressed as gzip ({_reason(exc)}). Is it damaged?"
            raise InputError(msg) from exc
    with open(path, "rb") as handle:
        return handle.read(size)


def detect_separator(head: bytes, default: str) -> str:
    """The field separator of a table whose first bytes are ``head``.

    The candidate (comma, semicolon, tab, pipe) that occurs most often in the header line,
    ``default`` when it ties for the most or none occurs.
    """
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    line = text.splitlines()[0] if text else ""
    counts = {sep: line.count(sep) for sep in _SEPARATORS}
    best = max(counts.values())
    if best == 0 or counts[default] == best:
        return default
    return max(counts, key=lambda sep: counts[sep])


def _read_csv(path: Path, *, suffix: str, sep: str | None) -> pa.Table:
    import re

    import pyarrow.csv as pacsv

    kind = "TSV" if suffix.startswith(".tsv") else "CSV"
    head = _first_bytes(path)
    if not suffix.endswith(".gz") and head.startswith(_GZIP_MAGIC):
        msg = (
            f"{path.name} is gzip-compressed: decompress it (gunzip -c {path.name} > "
            f"{path.stem}.plain{suffix}) or name it {path.name}.gz, which is read directly."
        )
        raise InputError(msg)
    if head.startswith(b"\x93NUMPY"):
        msg = f"{path.name} is a NumPy .npy array, not {kind} text: rename it to {path.stem}.npy."
        raise InputError(msg)
    if sep is not None and len(sep) != 1:
        msg = f"--sep {sep!r} must be one character (',', ';', a tab or '|')."
        raise InputError(msg)
    delimiter = sep or detect_separator(head, "\t" if kind == "TSV" else ",")
    convert = pacsv.ConvertOptions()
    if delimiter == ";" and re.search(rb"(^|;)\s*-?\d+,\d+\s*(;|$)", head, re.MULTILINE):
        convert = pacsv.ConvertOptions(decimal_point=",")  # the ;-separated style of 1,5
    try:
        table = pacsv.read_csv(
            path, parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=convert,
        )
        table.column_names  # noqa: B018 -- decodes the header: binary data fails here
        return table
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        name = _SEPARATORS.get(delimiter, repr(delimiter))
        msg = (
            f"{path.name} could not be read as {kind} ({name}-separated): {_reason(exc)}. Check "
            "that it is UTF-8 text with a header row; give the separator with --sep if it is "
            "another."
        )
        raise InputError(msg) from exc


def _read_parquet(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        msg = (
            f"{path.name} could not be read as Parquet: {_reason(exc)}. Is the file corrupt or "
            "mis-named?"
        )
        raise InputError(msg) from exc


def _is_numeric(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_boolean(dtype)
        or pa.types.is_decimal(dtype)
    )


def _listing(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def table_to_arrays(
    table: pa.Table,
    *,
    label: str | None = None,
    id_column: str | None = None,
    columns: list[str] | None = None,
    exclude: list[str] | None = None,
    source: str = "the table",
) -> ReadResult:
    """Split a :class:`pyarrow.Table` into a data matrix, labels, ids and feature names.

    See :func:`read_table` for the parameters and checks; ``source`` names the table in
    error messages.
    """
    names = [str(n) for n in table.column_names]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        msg = f"{source} has duplicated column names {_listing(duplicated)}; rename them."
        raise InputError(msg)
    for role, name in (("label", label), ("id", id_column)):
        if name is not None and name not in names:
            msg = (
                f"The {role} column {name!r} is not in {source}. Available columns: "
                f"{_listing(names)}."
            )
            raise InputError(msg)
    if table.num_rows == 0:
        msg = f"{source} is empty (0 rows); there is nothing to embed."
        raise InputError(msg)
    metadata = {n for n in (label, id_column) if n is not None}
    if columns is not None and exclude is not None:
        msg = (
            "Give columns= (the features to use) or exclude= (the columns to leave out), not "
            "columns= and exclude= together (on the command line: --columns and --exclude)."
        )
        raise InputError(msg)
    missing = [c for c in (columns if columns is not None else exclude or []) if c not in names]
    if missing:
        role = "feature column(s)" if columns is not None else "column(s)"
        msg = (
            f"{source} lacks the {role} {_listing(missing)}. Available columns: "
            f"{_listing(names)}."
        )
        raise InputError(msg)
    if columns is not None:
        features = list(columns)
    else:
        features = [n for n in names if n not in metadata and n not in set(exclude or [])]
        found = id_like_columns(table, features)
        if found:
            features = [n for n in features if n not in found]
            warnings.warn(IdColumnsWarning(found, source), stacklevel=3)
    bad = [
        (n, table.schema.field(n).type)
        for n in features
        if not _is_numeric(table.schema.field(n).type)
    ]
    if bad:
        described = ", ".join(f"{n!r} ({t})" for n, t in bad[:20])
        msg = (
            f"{source} has non-numeric column(s) {described}; a diffusion map needs numbers only. "
            "Keep one as metadata with --label NAME (or --id NAME), or drop those columns "
            "from the file."
        )
        raise InputError(msg)
    if not features:
        msg = (
            f"{source} has no numeric feature columns (columns: {_listing(names)}). At least one "
            "numeric column besides the label/id is needed."
        )
        raise InputError(msg)
    X = np.empty((table.num_rows, len(features)), dtype=np.float64)
    for j, name in enumerate(features):
        X[:, j] = _to_float(table.column(name))
    _check_finite(X, features, source)
    labels = None if label is None else _to_numpy(table.column(label))
    ids = None if id_column is None else _to_numpy(table.column(id_column))
    return X, labels, ids, features


class IdColumnsWarning(UserWarning):
    """Columns that look like row identifiers were left out of the features.

    Attributes
    ----------
    columns : dict of str to str
        Each column left out, with the reason it looks like an identifier.
    """

    def __init__(self, columns: dict[str, str], source: str = "the table") -> None:
        self.columns = dict(columns)
        self.source = source
        # args are the constructor's: copies, pickles and pytest-xdist / multiprocessing
        # rebuild a warning as cls(*args); the message is __str__'s
        super().__init__(self.columns, source)

    def __str__(self) -> str:
        listed = "; ".join(f"{name!r} ({why})" for name, why in self.columns.items())
        plural = "s" if len(self.columns) > 1 else ""
        return (
            f"{self.source}: left out the id-like column{plural} {listed}: identifiers are no "
            "coordinates. To use them as features, name the features with columns= "
            "(--columns a,b,c on the command line); --id NAME keeps one as the row id."
        )


#: Fewest rows for the rules that look at values only (row numbers, unique strings): in a
#: tiny table every column is easily unique.
_MIN_ROWS_BY_VALUE = 10
_ID_NAME = re.compile(r"^(id|index|row|.*_id)$", re.IGNORECASE)
_PANDAS_INDEX = re.compile(r"^(__index_level_\d+__|Unnamed: 0)$")


def _pandas_index_names(table: pa.Table) -> set[str]:
    """Columns that pandas' Parquet metadata marks as its index."""
    import json

    raw = (table.schema.metadata or {}).get(b"pandas")
    if not raw:
        return set()
    try:
        index = json.loads(raw).get("index_columns", [])
    except (ValueError, AttributeError):
        return set()
    return {name for name in index if isinstance(name, str)}


def id_like_columns(table: pa.Table, candidates: list[str]) -> dict[str, str]:
    """The ``candidates`` of ``table`` that hold row identifiers rather than features.

    Returns
    -------
    dict
        Column name → the reason, in table order: an index written by pandas, unique
        integers under a name like ``id``/``*_id``/``index``/``row``, the row numbers
        ``0..n-1`` or ``1..n`` (any name), or unique strings; the last two need 10 rows
        or more.
    """
    n = table.num_rows
    pandas_index = _pandas_index_names(table)
    found: dict[str, str] = {}
    for name in candidates:
        column = table.column(name)
        kind = column.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if name in pandas_index or _PANDAS_INDEX.match(name):
            found[name] = "an index written by pandas"
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            if (n >= _MIN_ROWS_BY_VALUE and column.null_count == 0
                    and pc.count_distinct(column).as_py() == n):
                found[name] = "unique strings"
        elif (pa.types.is_integer(kind) or pa.types.is_floating(kind)) and n >= 3:
            values = _to_float(column)
            if not np.isfinite(values).all() or not np.array_equal(values, np.round(values)):
                continue
            start = values[0]
            if (n >= _MIN_ROWS_BY_VALUE and start in (0, 1)
                    and np.array_equal(values, np.arange(start, start + n))):
                found[name] = f"the row numbers {int(start)}..{int(values[-1])}, unique integers"
            elif _ID_NAME.match(name) and np.unique(values).size == n:
                found[name] = "named like an id, unique integers"
    return found


def _to_float(column: pa.ChunkedArray) -> np.ndarray:
    """Numeric column → float64 with nulls as NaN."""
    return np.asarray(
        pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
    )


def _to_numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A metadata column as numpy (object dtype for strings; nulls become None or NaN)."""
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    return np.asarray(column.to_numpy(zero_copy_only=False))


def _check_finite(X: np.ndarray, names: list[str], source: str) -> None:
    finite = np.isfinite(X)
    if finite.all():
        return
    problems = []
    for j in np.flatnonzero(~finite.all(axis=0))[:5]:
        rows = np.flatnonzero(~finite[:, j])
        kind = "infinite" if np.isinf(X[rows, j]).all() else "missing/NaN/infinite"
        shown = ", ".join(str(r) for r in rows[:5])
        more = f" and {rows.size - 5} more" if rows.size > 5 else ""
        problems.append(f"{names[j]!r} has {rows.size} {kind} value(s) (rows {shown}{more})")
    n_bad = int((~finite.all(axis=1)).sum())
    msg = (
        f"{source} contains NaN, missing or infinite values in {n_bad} row(s): "
        f"{'; '.join(problems)}. Rows count from 0, header excluded. Drop or impute those rows "
        "before running diffembed."
    )
    raise InputError(msg)
