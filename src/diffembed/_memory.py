"""Peak-memory estimates for every stage that scales, and a guard that refuses a run that won't fit.

One estimator serves both the figure ``diffembed map`` prints before a large fit and the check
that stops a run at once (exit 2) when that figure exceeds the memory available, naming the
option that fixes it. The formulas count the arrays each stage allocates (see the comments);
their constants are calibrated against measured peak resident memory by
``benchmarks/memory.py`` (``benchmarks/results/memory.md``: within 2x on every case, 1k to 1M
rows). This module does no numerics and imports only numpy (pyarrow lazily, for a Parquet
file's metadata).

The memory available is the smallest of ``MemAvailable`` in ``/proc/meminfo`` and the free part
of the cgroup limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``), else physical memory;
the environment variable ``DIFFEMBED_MEMORY_LIMIT`` (bytes, or ``2G``, ``512M`` …) overrides it
and is the peak the whole run may reach.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .exceptions import InputError

__all__ = [
    "BASELINE",
    "ENV_LIMIT",
    "available_memory",
    "check_memory",
    "eigensolver_bytes",
    "explorer_bytes",
    "fit_bytes",
    "fit_fix",
    "format_bytes",
    "knn_bytes",
    "lsa_bytes",
    "map_bytes",
    "model_load_bytes",
    "netmf_bytes",
    "netmf_fix",
    "npy_header",
    "parquet_shape",
    "parse_size",
    "read_bytes",
    "report_bytes",
    "resolve_fit_methods",
    "text_tokens",
    "transform_bytes",
    "vocabulary_size",
    "words_bytes",
]

#: Environment variable that overrides the available memory (bytes, or e.g. ``2G``).
ENV_LIMIT = "DIFFEMBED_MEMORY_LIMIT"
#: Resident memory of the command itself: Python, numpy, scipy, scikit-learn, pyarrow, rich
#: (measured: 190-230 MiB for ``diffembed map`` of 1,000 rows).
BASELINE = 200 * 2**20
_F8 = 8  # bytes of a float64 / int64
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}

# thresholds mirrored from neighbors.py / spectral.py / embed/nodes.py ("auto" choices)
_AUTO_EXACT_MAX_SAMPLES = 50_000
_AUTO_EXACT_MAX_DIMENSIONS = 10
_AUTO_DENSE_MAX = 500
_AUTO_AMG_MIN = 50_000
_NETMF_DENSE_MAX = 12_000


# ---------------------------------------------------------------------------- formatting
def parse_size(text: str | int) -> int:
    """Bytes from ``1234``, ``"2G"``, ``"512MiB"``, ``"1.5 GB"`` (binary multiples).

    Raises
    ------
    InputError
        For anything else, naming the accepted forms.
    """
    if isinstance(text, int | np.integer):
        return int(text)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*", str(text).upper())
    if match is None:
        msg = (
            f"{ENV_LIMIT}={text!r} is not a memory size: give bytes (2147483648) or a number "
            "with K, M, G or T (2G, 512M)."
        )
        raise InputError(msg)
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_bytes(nbytes: float) -> str:
    """``1.5 GiB``, ``320 MiB``, ``12 KiB``: the figure a message shows."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            value = nbytes / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(nbytes)} bytes"


# ------------------------------------------------------------------------------ available
def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text or text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if 0 < value < 2**60 else None  # v1 writes ~2**63 for "no limit"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_free() -> int | None:
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
         "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        cap = _read_int(limit)
        if cap is not None:
            used = _read_int(usage) or 0
            return max(cap - used, 0)
    return None


def _physical() -> int | None:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _resident() -> int:
    """Resident bytes of this process now (0 where /proc is not there)."""
    try:
        pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def available_memory() -> tuple[int | None, str]:
    """Bytes this process may still allocate, and where that figure comes from.

    Returns
    -------
    bytes : int or None
        ``None`` when nothing could be read (then nothing is refused).
    source : str
        ``"DIFFEMBED_MEMORY_LIMIT"``, ``"cgroup limit"``, ``"MemAvailable"`` or ``"sysconf"``.
    """
    override = os.environ.get(ENV_LIMIT)
    if override:
        return parse_size(override), ENV_LIMIT
    found = [(v, s) for v, s in ((_meminfo_available(), "MemAvailable"),
                                 (_cgroup_free(), "cgroup limit")) if v is not None]
    if found:
        return min(found)
    return _physical(), "sysconf"


def check_memory(estimate_bytes: float, what: str, fix: str) -> None:
    """Refuse a stage whose estimated peak exceeds the memory available.

    Parameters
    ----------
    estimate_bytes
        Estimated peak resident memory of the stage (the whole process), in bytes.
    what
        The stage, as a user reads it, e.g. ``"the fit of 100000 x 3 points"``.
    fix
        The option that brings it down, e.g. ``"Use --landmarks 10000."``.

    Raises
    ------
    InputError
        With the estimate, the memory available (and its source) and ``fix``.
    """
    available, source = available_memory()
    # the estimate is the whole process's peak; what it holds already is not asked for again
    # (DIFFEMBED_MEMORY_LIMIT is the peak the whole run may reach)
    held = 0 if source == ENV_LIMIT else _resident()
    if available is None or estimate_bytes - held <= available:
        return
    override = "" if source == ENV_LIMIT else f" (set {ENV_LIMIT} to override)"
    msg = (
        f"Not enough memory: {what} needs about {format_bytes(estimate_bytes)} at its peak, but "
        f"only {format_bytes(available)} is available ({source}){override}. {fix} Nothing was "
        "computed."
    )
    raise InputError(msg)


# ---------------------------------------------------------------------------------- reading
def npy_header(path: str | os.PathLike[str]) -> tuple[tuple[int, ...], np.dtype, int] | None:
    """Shape, dtype and data offset of a ``.npy`` file from its header (nothing else is read).

    Returns ``None`` when the file does not start with the NumPy magic bytes or its header
    cannot be parsed.
    """
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            return tuple(int(s) for s in shape), dtype, handle.tell()
    except (ValueError, OSError, EOFError, SyntaxError, TypeError):
        return None


def parquet_shape(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(rows, numeric columns) of a Parquet file from its metadata; None if unreadable."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path)
        schema = meta.schema_arrow
        numeric = sum(
            1 for field in schema
            if pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
            or pa.types.is_boolean(field.type) or pa.types.is_decimal(field.type)
        )
        return int(meta.metadata.num_rows), int(numeric)
    except Exception:  # any unreadable file: the reader says why
        return None


def read_bytes(path: str | os.PathLike[str]) -> tuple[float, tuple[int, int] | None]:
    """Peak bytes of reading a data file into float64, and its (rows, columns) if known.

    ``.npy``: the array as stored, its float64 copy and the finiteness mask. Parquet: the Arrow
    table and the float64 matrix (rows x numeric columns, from the metadata). CSV/TSV: about
    three times the file's size (the text, the Arrow table, the matrix); gzip about 12 times.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".npy"):
        header = npy_header(path)
        if header is None or len(header[0]) != 2:
            return BASELINE, None
        (n, d), dtype, _ = header
        stored = n * d * dtype.itemsize
        copy = 0 if dtype == np.float64 else n * d * _F8
        return BASELINE + stored + copy + n * d, (n, d)
    if name.endswith((".parquet", ".pq")):
        shape = parquet_shape(path)
        if shape is None:
            return BASELINE, None
        n, d = shape
        return BASELINE + 2 * n * d * _F8 + n * d, shape
    try:
        size = path.stat().st_size
    except OSError:
        return BASELINE, None
    return BASELINE + (12 if name.endswith(".gz") else 3) * size, None


# ---------------------------------------------------------------------------------- the fit
def resolve_fit_methods(
    n: int, d: int, n_components: int, knn: str = "auto", eigen_solver: str = "auto"
) -> tuple[str, str]:
    """The kNN method and eigensolver ``"auto"`` resolves to (mirrors the estimator's rules).

    ``"auto"`` solvers below :data:`_AUTO_AMG_MIN` rows are counted as ARPACK (shift-invert and
    Lanczos allocate the same blocks; shift-invert adds its factorisation, see
    :func:`eigensolver_bytes`).
    """
    if knn == "auto":
        cheap = n < _AUTO_EXACT_MAX_SAMPLES or d <= _AUTO_EXACT_MAX_DIMENSIONS
        knn = "exact" if cheap else "approximate"
    k = n_components + 1
    if eigen_solver == "auto":
        if n <= _AUTO_DENSE_MAX or k >= n - 1:
            eigen_solver = "dense"
        elif n > _AUTO_AMG_MIN:
            eigen_solver = "amg"
        else:
            eigen_solver = "arpack"
    elif k >= n - 1:
        eigen_solver = "dense"
    return knn, eigen_solver


def knn_bytes(n: int, d: int, k: int, method: str) -> float:
    """Transient bytes of a kNN search of ``n`` points for ``k`` neighbours (beyond the data).

    Exact: scikit-learn's tree (a float64 copy of the data) below 11 dimensions, else brute
    force in small tiles; the (n, k) distance and index arrays and the CSR graph built from
    them. HNSW (faiss): a float32 copy of the data and ~32 links of
    4 bytes per point and layer, plus the same result arrays.
    """
    results = 3 * n * k * 2 * _F8
    if method == "approximate":
        return n * d * 4 + n * 320 + results
    if d <= _AUTO_EXACT_MAX_DIMENSIONS:
        return n * d * _F8 + results
    return results  # brute force (scikit-learn's ArgKmin): 256 x 256 tiles and k-heaps


def eigensolver_bytes(n: int, k: int, solver: str, nnz: float) -> float:
    """Transient bytes of an eigensolve for ``k`` pairs of an ``n x n`` operator (``nnz`` stored).

    - dense: the operator as a dense array and LAPACK's copy of it (``2 n²``) plus the vectors;
    - arpack: ``ncv = max(2k + 1, 24)`` Lanczos vectors of length n, the returned vectors, and
      the ``ncv²`` work array;
    - shift_invert: as arpack, plus a sparse LU whose fill-in is counted as 30 times the
      operator's non-zeros (kNN graphs of low-dimensional manifolds);
    - lobpcg / amg: about 12 blocks of (n, k) and their Gram matrices; amg adds its
      multigrid hierarchy and the transients of its setup (~60 bytes per operator non-zero:
      the coarse operators fill in on graphs of high-dimensional data).
    """
    vectors = n * k * _F8
    if solver == "dense":
        return 2.0 * n * n * _F8 + 2 * vectors
    if solver in ("arpack", "shift_invert"):
        ncv = min(n, max(2 * k + 1, 24))
        lanczos = n * ncv * _F8 + ncv * ncv * _F8 * 2 + 2 * vectors
        return lanczos + (30 * nnz * 12 if solver == "shift_invert" else 0)
    block = 12 * vectors + (3 * k) ** 2 * _F8 * 4
    # amg: pyamg's smoothed-aggregation setup fills in on the graphs of high-dimensional data
    # (measured: 1.15 GiB for 100k 50-D Gaussian blobs against 0.5 GiB for a 100k swiss roll)
    return block + (60.0 * nnz if solver == "amg" else nnz * 12)


def _fit_parts(
    n: int, d: int, n_neighbors: int, n_components: int, knn: str, solver: str
) -> tuple[float, float, float, float]:
    """(graph, knn transient, eigensolve transient, outputs) bytes of one in-memory fit."""
    k = n_neighbors + 1
    nnz = 2.0 * n * k  # symmetrised kernel
    # the distance graph, the kernel, the operator and its symmetric form, each CSR
    # (float64 data, int32/int64 indices), plus their transient sums
    graph = 7 * nnz * 12
    eig = eigensolver_bytes(n, n_components + 1, solver, nnz)
    # eigenvectors_, embedding_, the sign-fixed and expanded copies
    outputs = 4.0 * n * (n_components + 1) * _F8
    return graph, knn_bytes(n, d, k, knn), eig, outputs


def fit_bytes(
    n: int,
    d: int,
    *,
    n_neighbors: int = 15,
    n_components: int = 10,
    knn: str = "auto",
    eigen_solver: str = "auto",
    landmarks: int | None = None,
) -> float:
    """Peak bytes of ``diffembed map`` (read data held, fit, outputs) for ``n x d`` data.

    With ``landmarks`` the graph and eigensolve are those of the ``m`` landmarks, and Nyström
    places the other rows in blocks (a kNN query against the landmarks plus their weights).
    """
    m = n if landmarks is None or landmarks >= n else int(landmarks)
    knn_m, solver = resolve_fit_methods(m, d, n_components, knn, eigen_solver)
    graph, search, eig, outputs = _fit_parts(m, d, n_neighbors, n_components, knn_m, solver)
    data = n * d * _F8
    nystrom = 0.0
    if m < n:
        # the full embedding, and one block of 100,000 rows of neighbours and weights
        k = n_neighbors + 1
        nystrom = 3.0 * n * (n_components + 1) * _F8 + 100_000 * k * 4 * _F8
    return BASELINE + data + graph + outputs + nystrom + max(search, eig)


def map_bytes(
    n: int,
    d: int,
    *,
    n_neighbors: int = 15,
    n_components: int = 10,
    knn: str = "auto",
    eigen_solver: str = "auto",
    landmarks: int | None = None,
    explorer_k: int = 0,
    report: bool = True,
    read: float = 0.0,
) -> dict[str, float]:
    """Peak bytes of each stage of ``diffembed map`` and of the whole command.

    ``read`` is :func:`read_bytes` of the input file (0 for a built-in dataset).

    Returns
    -------
    dict
        ``{"read", "fit", "explorer", "report", "peak"}``: the process's peak while reading,
        during the fit, during the explorer's neighbour search (the fitted model held), during
        the report, and the largest of them.
    """
    fit = fit_bytes(n, d, n_neighbors=n_neighbors, n_components=n_components, knn=knn,
                    eigen_solver=eigen_solver, landmarks=landmarks)
    m = n if landmarks is None or landmarks >= n else int(landmarks)
    # held after the fit: the data, the model's affinity and vectors
    held = (BASELINE + n * d * _F8 + 2 * m * (n_neighbors + 1) * 12
            + 2.0 * n * (n_components + 1) * _F8)
    explorer = held + explorer_bytes(n, d, explorer_k, knn) if explorer_k > 0 else 0.0
    rep = held - BASELINE + report_bytes(n, n_components, explorer_k) if report else 0.0
    return {"read": read, "fit": fit, "explorer": explorer, "report": rep,
            "peak": max(read, fit, explorer, rep)}


def fit_fix(n: int, n_components: int, solver: str, landmarks: int | None,
            *, can_landmark: bool = True) -> str:
    """The options that bring a fit's memory down, for :func:`check_memory`.

    ``can_landmark=False`` (a command without ``--landmarks``) suggests subsampling instead.
    """
    tips = []
    if solver == "dense":
        tips.append("another --eigen-solver (auto, amg or arpack: sparse, a few (n, k) blocks)")
    if n_components > 50:
        tips.append(f"a smaller --n-components (each costs ~{format_bytes(7 * n * 8)})")
    if not can_landmark:
        tips.append(f"a subsample of the rows (e.g. {max(n // 10, 2)})")
    elif landmarks is None or landmarks >= n:
        tips.append(f"--landmarks {min(10_000, max(n // 10, 2))} (fit on landmarks, Nyström "
                    "for the rest)")
    elif landmarks > 1000:
        tips.append(f"fewer --landmarks (e.g. {max(landmarks // 4, 1000)})")
    return "Use " + ", or ".join(tips) + "." if tips else "Use a machine with more memory."


# ----------------------------------------------------------------------- other stages
def explorer_bytes(n: int, d: int, k: int, knn: str = "auto") -> float:
    """Transient bytes of the explorer's ``k`` input-space neighbours per point.

    The search result and CSR graph (as :func:`knn_bytes`), the argsort and the sorted
    int32/float32 copies written as ``neighbors.npy`` / ``neighbor_distances.npy``.
    """
    if k <= 0:
        return 0.0
    knn, _ = resolve_fit_methods(n, d, 1, knn)
    return knn_bytes(n, d, k, knn) + n * k * (_F8 + 4 + 4)


def netmf_bytes(
    n: int, nnz: int, method: str = "auto", *, dim: int = 128, window: int = 10,
    rank: int = 256, max_nnz: int = 50_000_000, max_per_row: int = 1024,
) -> float:
    """Peak bytes of NetMF on a graph of ``n`` nodes with ``nnz`` stored adjacency entries.

    - dense: ``P`` densified, the running power and the sum (three ``n x n`` arrays, float32
      above 2,000 nodes) plus the randomized SVD's (n, dim + 10) blocks;
    - sparse: ``Σ P^r`` bounded by ``max_nnz`` non-zeros (the running power, the sum and the
      new sum: three CSR matrices of at most that size);
    - eig: ``rank`` eigenvectors, the (block, n) row blocks, and up to ``max_per_row`` kept
      entries per row (row, column, value arrays and their concatenation).
    """
    if method == "auto":
        method = "dense" if n <= _NETMF_DENSE_MAX else "sparse"
    graph = nnz * 12 * 4.0
    svd = n * (dim + 10) * _F8 * 6
    if method == "dense":
        item = 8 if n <= 2000 else 4
        return BASELINE + graph + 3.0 * n * n * item + svd
    if method == "sparse":
        degree = max(nnz / max(n, 1), 1.0)  # P^r has about n * degree^r non-zeros
        bound = min(float(max_nnz), float(n) * n, float(n) * degree ** max(window, 1))
        return BASELINE + graph + 3 * bound * 12 + svd
    keep = min(max_per_row, n)
    block = 3 * 2**24 * 4.0
    return BASELINE + graph + n * rank * (_F8 + 4) * 2 + block + 2 * n * keep * 20.0 + svd


def netmf_fix(method: str) -> str:
    """The option that brings NetMF's memory down."""
    if method in ("auto", "dense"):
        return ("Use --netmf-method sparse (exact for a short --window on a sparse graph) or "
                "--netmf-method eig, or --method deepwalk.")
    return "Use a smaller --window, --netmf-method eig, or --method deepwalk."


def text_tokens(n_bytes: float) -> float:
    """Tokens of a text of ``n_bytes`` bytes (~6 bytes per word and separator in English)."""
    return n_bytes / 6.0


def vocabulary_size(tokens: float, max_vocab: int | None = None) -> float:
    """Distinct words in ``tokens`` tokens (Heaps' law, ~20 sqrt(T)), at most ``max_vocab``."""
    vocab = 20.0 * np.sqrt(max(tokens, 1.0))
    return min(vocab, float(max_vocab)) if max_vocab else vocab


def words_bytes(tokens: float, *, dim: int = 300, max_vocab: int | None = None) -> float:
    """Peak bytes of PPMI-SVD word vectors from ``tokens`` tokens.

    The token ids (4 bytes each), the co-occurrence / PPMI matrix (~1.5 non-zeros per token,
    at most V², CSR with its COO and sum copies) and the randomized SVD's (V, dim + 10) blocks.
    Calibrated on the Debian corpus (6.8M tokens, 48,868 words, 9.3M PPMI non-zeros: 0.62 GiB
    measured, estimate 0.85 GiB).
    """
    vocab = vocabulary_size(tokens, max_vocab)
    nnz = min(1.5 * tokens, vocab * vocab)
    return BASELINE + 4 * tokens + 36 * nnz + 24 * vocab * (dim + 10)


def lsa_bytes(n_docs: int, tokens: float, n_components: int) -> float:
    """Peak bytes of LSA: the tf-idf matrix (~1 non-zero per token) and the SVD's blocks."""
    terms = vocabulary_size(tokens)
    return BASELINE + 36 * tokens + 24 * (n_docs + terms) * (n_components + 10)


def report_bytes(n: int, n_components: int = 10, explorer_k: int = 0) -> float:
    """Peak bytes of building ``report.html`` for ``n`` points (plotly's JSON of the traces).

    Calibrated: ~1.5 KiB per point with the explorer's neighbour lists, plus plotly itself.
    """
    return BASELINE + 100 * 2**20 + n * (800 + 60 * n_components + 40 * explorer_k)


def _npz_bytes(path: Path) -> float:
    """Bytes the arrays of an ``.npz`` archive take once loaded, from each member's header.

    A compressed archive can hold far more than its size (zeros compress 1000x), so the
    headers, not the file size, are counted. An unreadable archive counts its own size.
    """
    import zipfile

    total = 0.0
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                with archive.open(member) as handle:
                    try:
                        version = np.lib.format.read_magic(handle)
                        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                else np.lib.format.read_array_header_2_0)
                        shape, _, dtype = read(handle)
                    except (ValueError, OSError, EOFError, SyntaxError, TypeError):
                        total += member.file_size
                        continue
                total += float(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    except (OSError, zipfile.BadZipFile, ValueError):
        return float(path.stat().st_size)
    return total


def transform_bytes(
    model_dir: str | os.PathLike[str], input_path: str | os.PathLike[str], n_neighbors: int,
    n_components: int,
) -> tuple[float, tuple[int, int] | None]:
    """Peak bytes of an in-memory ``transform``: the model, the input, Nyström's kNN and weights.

    Returns the bytes and the input's (rows, columns) when its header or metadata gives them.
    """
    model = model_load_bytes(model_dir) - BASELINE
    nbytes, shape = read_bytes(input_path)
    if shape is not None:  # the coordinates, the kNN query and its weights
        nbytes += shape[0] * ((n_neighbors + 1) * 3 * 16 + 3 * _F8 * n_components)
    return nbytes + model, shape


def model_load_bytes(model_dir: str | os.PathLike[str]) -> float:
    """Peak bytes of loading a saved model: its arrays (from the ``.npz`` headers) and copies.

    Loading reads each array and converts it to float64 once, so ~2x the declared sizes.
    """
    total = 0.0
    for item in Path(model_dir).glob("*"):
        try:
            if item.suffix == ".npz" and item.is_file():
                total += _npz_bytes(item)
            elif item.is_file():
                total += item.stat().st_size
        except OSError:
            continue
    return BASELINE + 2.0 * total
