"""Checks the commands make before they spend anything: memory, seeds.

The memory estimates are :mod:`diffembed._memory`'s; a refusal is an
:class:`~diffembed.exceptions.InputError` (exit 2) naming the estimate, the memory available
and the option that fixes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = [
    "DEBIAN_BYTES",
    "SEED_MAX",
    "SepOpt",
    "check_map_memory",
    "check_nodes_memory",
    "check_read_memory",
    "check_seed",
    "check_text_memory",
    "text_bytes",
]

#: ``--sep`` of the commands that read a CSV/TSV table (default: detected from the header).
SepOpt = Annotated[
    str | None,
    typer.Option(
        "--sep",
        help="Field separator of a CSV/TSV input (default: detected from the header line: "
        "comma, semicolon, tab or |).",
        show_default=False,
    ),
]

#: Largest seed every random step accepts (NumPy's legacy and scikit-learn's bound).
SEED_MAX = 2**32 - 1


def check_seed(value: int) -> int:
    """Typer callback of ``--random-state`` / ``--seed``: a seed in ``[0, 2**32 - 1]``."""
    if value is not None and not 0 <= value <= SEED_MAX:
        msg = f"{value} is not a seed: give an integer from 0 to {SEED_MAX} (2**32 - 1)."
        raise typer.BadParameter(msg)
    return value


def check_read_memory(path: Path) -> None:
    """Refuse, before reading, a data file whose float64 matrix would not fit in memory.

    ``.npy`` sizes come from the header and Parquet sizes from the metadata (nothing else is
    read); CSV/TSV from the file size.
    """
    from .. import _memory

    if path.name.lower().endswith(".npy") and path.is_file():
        from ..io.readers import check_npy_header

        check_npy_header(path)  # not a .npy file, or shorter than its header says
    nbytes, shape = _memory.read_bytes(path)
    what = f"reading {path.name}" + (f" ({shape[0]} x {shape[1]} values)" if shape else "")
    _memory.check_memory(
        nbytes, what,
        "Subsample the rows or keep fewer columns; `diffembed transform` streams a Parquet "
        "file block by block.",
    )


def check_map_memory(
    shape: tuple[int, int], params: dict[str, Any], landmarks: int | None, explorer_k: int,
    report: bool, input_path: Path | None = None,
) -> dict[str, float]:
    """Estimate every stage of ``map`` and refuse the run if one would not fit in memory.

    Returns :func:`diffembed._memory.map_bytes` (its ``"peak"`` is the printed estimate).
    """
    from .. import _memory

    n, d = shape
    k = params["n_components"]
    memory = _memory.map_bytes(
        n, d, n_neighbors=params["n_neighbors"], n_components=k, knn=params["knn"],
        eigen_solver=params["eigen_solver"], landmarks=landmarks, explorer_k=explorer_k,
        report=report, read=0.0 if input_path is None else _memory.read_bytes(input_path)[0],
    )
    m = n if landmarks is None or landmarks >= n else landmarks
    _, solver = _memory.resolve_fit_methods(m, d, k, params["knn"], params["eigen_solver"])
    how = f"{landmarks} landmarks of " if m < n else ""
    _memory.check_memory(
        memory["fit"],
        f"the fit ({how}{n} x {d} points, --n-components {k}, eigensolver {solver})",
        _memory.fit_fix(n, k, solver, landmarks),
    )
    _memory.check_memory(
        memory["explorer"],
        f"--explorer-neighbors {explorer_k} ({n} points x {min(explorer_k, n - 1)} neighbours)",
        "Use a smaller --explorer-neighbors (the report shows 10; 0 saves none).",
    )
    _memory.check_memory(memory["report"], f"the report of {n} points",
                         "Pass --no-report (build it later with `diffembed report OUT`), or a "
                         "smaller --explorer-neighbors.")
    return memory


#: Text bytes of the Debian corpus (6.8M tokens).
DEBIAN_BYTES = 41_000_000


def text_bytes(path: Path) -> float:
    """Bytes of text in a corpus file (a gzip file holds ~3x its size)."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0.0
    return 3.0 * size if path.name.lower().endswith(".gz") else float(size)


def check_text_memory(
    recipe: str, n_bytes: float, dim: int, n_docs: int = 0, max_vocab: int | None = None
) -> None:
    """Refuse word vectors / LSA whose estimated peak exceeds the memory available."""
    from .. import _memory

    tokens = _memory.text_tokens(n_bytes)
    if recipe == "words":
        nbytes = _memory.words_bytes(tokens, dim=dim, max_vocab=max_vocab)
        what = f"word vectors of ~{tokens / 1e6:.1f}M tokens (--dim {dim})"
        fix = "Use --max-vocab (e.g. 50000), a smaller --dim, or a part of the corpus."
    else:
        nbytes = _memory.lsa_bytes(n_docs, tokens, dim)
        what = f"LSA of {n_docs} documents (--n-components {dim})"
        fix = "Use a smaller --n-components, a larger --min-df, or fewer documents."
    _memory.check_memory(nbytes, what, fix)


def check_nodes_memory(
    g: Any, method: str, netmf_method: str, dim: int | None, window: int, num_walks: int,
    walk_length: int,
) -> None:
    """Refuse a NetMF / DeepWalk-matrix run whose estimated peak exceeds the memory available."""
    from .. import _memory

    n, nnz = g.adjacency.shape[0], g.adjacency.nnz
    k = 128 if dim is None else dim
    if method == "netmf":
        nbytes = _memory.netmf_bytes(n, nnz, netmf_method, dim=k, window=window)
        resolved = netmf_method if netmf_method != "auto" else (
            "dense" if n <= 12_000 else "sparse")
        what = f"NetMF ({resolved}) on {n} nodes"
        fix = _memory.netmf_fix(netmf_method)
    else:  # a lower bound: the walks (int32, and their shuffled copy) and the SVD's blocks;
        # the distinct node-context pairs depend on the graph and are not counted
        steps = float(n) * num_walks * walk_length
        nbytes = _memory.BASELINE + steps * 4 * 2 + n * (k + 10) * 8 * 6
        what = f"the DeepWalk matrix of {n} nodes ({num_walks} x {walk_length}-step walks each)"
        fix = "Use fewer --num-walks, a smaller --walk-length or --window."
    _memory.check_memory(nbytes, what, fix)
