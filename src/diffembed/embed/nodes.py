"""Node vectors of a graph: NetMF (Qiu et al. 2018) and the DeepWalk matrix from random walks.

NetMF factorises the matrix that DeepWalk (skip-gram on random walks, window T, b negative
samples) implicitly factorises. With adjacency ``A``, degrees ``D``, ``P = D⁻¹A`` and
``vol(G) = Σ_ij A_ij``:

    M = vol(G) / (b T) · (Σ_{r=1..T} P^r) D⁻¹,     X = log(max(M, 1)),

and the node vectors are ``U_d Σ_d^{1/2}`` from the truncated SVD of ``X``. Three ways to
compute ``X``:

- ``"dense"``: exact, ``T`` sparse × dense products on an ``n × n`` array (memory ``~2 n²``
  floats: fine up to ~12k nodes);
- ``"sparse"``: exact, ``Σ P^r`` kept sparse (good for small ``T`` on sparse graphs, e.g.
  ``window=2`` on the WordNet noun graph); refused when it would exceed ``max_nnz``;
- ``"eig"``: NetMF's approximation for large ``T``: the top ``rank`` eigenpairs ``U Λ Uᵀ`` of
  ``D^{-1/2} A D^{-1/2}``, ``M ≈ vol/b · D^{-1/2} U F(Λ) Uᵀ D^{-1/2}`` with
  ``F(λ) = max(0, (1/T) Σ_{r=1..T} λ^r)``, built in row blocks; each row keeps at most
  ``max_per_row`` largest entries above 1 (a bound on memory: on tree-like graphs almost all
  n² entries exceed 1). Its cost grows as ``n² · rank`` (~12 s at 10k nodes, ~9 minutes at
  100k on one loaded core), and the eigenpairs come from 6 power iterations of a randomized
  SVD of ``(I + N)/2``, approximate when the spectrum has no clear gap after ``rank``.

``weighting="dynamic"`` weights ``P^r`` by ``(T − r + 1)`` instead of 1 (normalised to sum to
one, so ``1/T`` becomes ``w_r``): the expected weights of word2vec's randomly shrunk window,
which gensim — and so the DeepWalk reference — uses. ``F`` above becomes ``Σ_r w_r λ^r``.

``method="auto"`` takes ``"sparse"`` for ``window=1``, and for ``window`` 2 or 3 when the
graph's walks of that length fit in ``max_nnz``; otherwise ``"dense"`` up to 12,000 nodes,
else ``"sparse"`` if ``Σ P^r`` fits in ``max_nnz`` non-zeros, else ``"eig"``.

The defaults (``window``, ``negative`` and ``propagate`` set to ``"auto"``) are read from the
graph by :func:`auto_parameters`: one setting for every graph of the real-graph panel of
``benchmarks/realdata_nodes.py`` (docs/embed.md has the table and the shortfalls).

``propagate=K`` (both routes) then diffuses the factorised vectors over the graph: each node's
vector becomes the mean of ``P^{hk} E`` over ``k = 0..K`` (``h = propagate_hops``: 2 for
:func:`netmf`, whose default diffuses along even steps, 1 for :func:`deepwalk_matrix`), the
walk-window average of its neighbourhood's vectors, at the cost of ``K h`` sparse products
with an ``n × dim`` array (seconds on 100k nodes). It is the spectral propagation of ProNE
(Zhang et al. 2019) with the filter of a random-walk window instead of ProNE's band-pass: it
brings in the long-range context that a short exact window leaves out, which matters on
tree-like graphs (on the WordNet noun graph, 10 steps after the sampled DeepWalk matrix,
2 × 40 walks, raised Micro-F1 from 0.907 to 0.920; ``benchmarks/results/embed_nodes.md``).
On graphs whose communities a short window already separates (LFR) long diffusion blurs them,
hence the automatic number of steps falls with the mean degree.

The DeepWalk-matrix route (:func:`deepwalk_matrix`) samples the walks instead: ``num_walks``
uniform (weight-proportional) random walks of ``walk_length`` steps from every node, counts
node–context pairs within ``window`` steps, and factorises their shifted PPMI
``log(max(vol · #(w,c) / (b · #(w) · #(c)), 1))`` the same way; as the walks grow it tends to
NetMF's matrix.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from .. import _progress
from .._validation import check_int, check_real
from ..exceptions import InputError
from ._factorize import check_dim, truncated_svd, weighted_factors
from .cooccurrence import Weighting, count_id_chunks, window_weights
from .graphs import Graph, as_graph
from .keyed import NodeVectors
from .pmi import pmi_matrix

__all__ = ["auto_parameters", "deepwalk_matrix", "netmf", "netmf_matrix", "random_walks"]

NetMFMethod = Literal["auto", "dense", "sparse", "eig"]
_DENSE_MAX = 12_000
_EXACT_EIG_MAX = 2_000
# propagate="auto": ⌈_PROPAGATE_REACH / mean degree⌉ even steps, within [MIN, MAX]
_PROPAGATE_REACH, _PROPAGATE_MIN, _PROPAGATE_MAX = 100.0, 2, 40


def _walks(A: sp.csr_matrix, steps: int) -> float:
    """``1ᵀ C^steps 1`` (``C``: the 0/1 adjacency): the walks of ``steps`` steps, a bound on the
    non-zeros of ``Σ_{r ≤ steps} P^r`` (2 steps: ``Σ_k c_k²``, ``c_k`` neighbours of k)."""
    C = sp.csr_matrix((np.ones(A.nnz), A.indices, A.indptr), shape=A.shape)
    v = np.ones(A.shape[0])
    for _ in range(steps):
        v = C @ v
    return float(v.sum())


def auto_parameters(
    graph: Graph,
    *,
    window: int | Literal["auto"] = "auto",
    negative: float | Literal["auto"] = "auto",
    propagate: int | Literal["auto"] = "auto",
    max_nnz: int = 50_000_000,
) -> dict[str, Any]:
    """NetMF's default ``window``, ``negative`` and ``propagate``, read from the graph.

    Values given as numbers are kept. The rules (measured on the panel of
    ``benchmarks/realdata_nodes.py``; docs/embed.md):

    - ``window``: the largest of 3 and 2 whose exact sparse matrix fits, i.e. whose walks
      (``Σ_k c_k²`` for 2 steps, ``c_k`` neighbours of node ``k``) are at most ``max_nnz``;
      else 1 (graphs with hubs: on the Debian package graph ``libc6`` alone has 21,840
      neighbours). Sparse tree-like graphs get 3 (WordNet nouns: 0.909 Micro-F1 against 0.889
      with 2); dense clustered ones 2 (LFR 10k: 2 · 10⁸ three-step walks).
    - ``negative``: with window 2, ``b = max(1, vol / (2 d̃³))`` with ``vol = Σ_k c_k`` and
      ``d̃ = Σ c_k² / Σ c_k`` (the degree of a random edge's end): a pair of typical nodes
      joined by a single 2-step path is then not counted as above chance, which removes the
      chance 2-hop pairs that blur the communities of dense clustered graphs (LFR 10k:
      ``b ≈ 5``) and is 1 on small graphs (karate club). With window 1 or 3: 1.
    - ``propagate``: ``⌈100 / (d̄ (T − 1))⌉`` even steps (``propagate_hops=2``) for window
      ``T ≥ 2``, within ``[2, 40]``, with ``d̄`` the mean number of neighbours: a sparse graph
      carries little context per step, so it is diffused further, and a longer window needs
      less (WordNet nouns, ``d̄ = 2.8``, window 3: 18 steps; LFR 10k, ``d̄ ≈ 26``, window 2: 4,
      where long diffusion blurs the communities). Where the automatic window is 1 (hubs,
      whose two steps already reach most of the graph): 2 steps (the Debian package graph
      lost 0.016 Micro-F1 with 10). Even steps keep the two sides of a bipartite graph apart
      (Davis southern women: 1.000 Micro-F1 with even steps, 0.75 with every step).

    Returns
    -------
    dict
        ``window``, ``negative``, ``propagate`` and ``rules``: which ones were automatic and
        the graph numbers they read.
    """
    for name, value in (("window", window), ("negative", negative), ("propagate", propagate)):
        if isinstance(value, str) and value != "auto":
            msg = f"{name}={value!r} is neither 'auto' nor a number; e.g. {name}='auto' or 2."
            raise InputError(msg)
    A = graph.adjacency
    rules: dict[str, Any] = {}
    if window == "auto":
        walks = {steps: _walks(A, steps) for steps in (2, 3)}
        window = next((t for t in (3, 2) if walks[t] <= max_nnz), 1)
        rules["window"] = {"two_step_walks": walks[2], "three_step_walks": walks[3],
                           "max_nnz": max_nnz}  # fmt: skip
    if negative == "auto":
        counts = np.diff(A.indptr).astype(np.float64)
        vol = float(counts.sum())
        edge_degree = float(counts @ counts) / vol
        negative = 1.0
        if window == 2:
            negative = float(f"{max(1.0, vol / (2 * edge_degree**3)):.3g}")
        rules["negative"] = {"vol": vol, "edge_end_degree": edge_degree}
    if propagate == "auto":
        mean_degree = A.nnz / A.shape[0]
        steps = int(np.ceil(_PROPAGATE_REACH / (mean_degree * max(1, window - 1))))
        propagate = min(_PROPAGATE_MAX, max(_PROPAGATE_MIN, steps))
        if window == 1 and "window" in rules:  # hubs: 2 steps already reach most of the graph
            propagate = _PROPAGATE_MIN
        rules["propagate"] = {"mean_degree": mean_degree}
    return {"window": window, "negative": negative, "propagate": propagate, "rules": rules}


def _resolve_dim(dim: int | None, n: int) -> int:
    if dim is None:
        return min(128, n - 1)
    return check_dim(dim, n, what="nodes")


def netmf_matrix(
    graph: Graph,
    *,
    window: int = 10,
    negative: float = 1.0,
    weighting: Weighting = "uniform",
    method: NetMFMethod = "auto",
    rank: int = 256,
    max_nnz: int = 50_000_000,
    max_per_row: int = 1024,
    random_state: int | None = 0,
) -> tuple[np.ndarray | sp.csr_matrix, dict[str, Any]]:
    """The NetMF matrix ``log(max(M, 1))`` of a :class:`~diffembed.embed.graphs.Graph`.

    Returns the matrix (dense for ``"dense"``, CSR otherwise) and facts about the computation
    (``method`` used, ``nnz``, eigenvalue range for ``"eig"``). See the module description.
    """
    window = check_int(window, "window", low=1)
    negative = check_real(negative, "negative", low=0.0, low_inclusive=False)
    if method not in ("auto", "dense", "sparse", "eig"):
        msg = f"method={method!r} is not supported; choose 'auto', 'dense', 'sparse' or 'eig'."
        raise InputError(msg)
    weights = window_weights(window, weighting)
    weights = weights / weights.sum()  # w_r; uniform: 1/T
    A = graph.adjacency
    n = A.shape[0]
    degree = np.asarray(A.sum(axis=1)).ravel()
    vol = float(degree.sum())
    scale = vol / negative
    facts: dict[str, Any] = {"vol": vol}
    if method == "auto":  # a short window on a sparse graph: the exact sparse matrix is cheap
        short = window == 1 or (window in (2, 3) and _walks(A, window) <= max_nnz)
        method = "sparse" if short or n > _DENSE_MAX else "dense"
    if method == "dense":
        facts["method"] = "dense"
        return _dense(A, degree, weights, scale), facts
    if method == "sparse":
        S = _sparse_powers(A, degree, weights, max_nnz)
        if S is not None:
            S = sp.csr_matrix(S @ sp.diags(scale / degree))
            big = S.data > 1
            S.data = np.where(big, np.log(np.where(big, S.data, 1.0)), 0.0)
            S.eliminate_zeros()
            facts.update(method="sparse", nnz=int(S.nnz))
            return S.astype(np.float32), facts
        warnings.warn(
            f"Σ P^r for window={window} would exceed max_nnz={max_nnz} non-zeros on this "
            f"graph ({n} nodes); using the eigen-approximation (method='eig', rank={rank}), "
            f"whose row blocks cost n² · rank (about {_eig_minutes(n, rank):.1f} min on one "
            "core). A smaller window keeps the exact sparse form; see also propagate= "
            "and deepwalk_matrix.",
            stacklevel=3,
        )
    X, eig_facts = _eig(A, degree, weights, scale, rank, max_per_row, random_state)
    facts.update(method="eig", nnz=int(X.nnz), **eig_facts)
    return X, facts


def _eig_minutes(n: int, rank: int) -> float:
    """Rough minutes of the eig route's row blocks: ~9 min at 100k nodes, rank 256 (measured)."""
    return 9.0 * (n / 100_000) ** 2 * (rank / 256)


def _dense(A: sp.csr_matrix, degree: np.ndarray, weights: np.ndarray, scale: float) -> np.ndarray:
    n = A.shape[0]
    dtype = np.float64 if n <= 2000 else np.float32
    P = sp.csr_matrix(sp.diags(1.0 / degree) @ A).astype(dtype)
    X = P.toarray()
    S = X * dtype(weights[0])
    for w in weights[1:]:
        X = P @ X
        S += dtype(w) * X
    del X
    S *= dtype(scale)
    S /= degree[None, :].astype(dtype)
    np.maximum(S, 1, out=S)
    np.log(S, out=S)
    return S


def _sparse_powers(
    A: sp.csr_matrix, degree: np.ndarray, weights: np.ndarray, max_nnz: int
) -> sp.csr_matrix | None:
    """``Σ_r w_r P^r``, or None once a power exceeds ``max_nnz`` non-zeros."""
    P = sp.csr_matrix(sp.diags(1.0 / degree) @ A)
    X, S = P, P * weights[0]
    for w in weights[1:]:
        # Σ_k nnz(column k of X) · nnz(row k of P) bounds nnz(X P): don't try what cannot fit
        col_counts = np.bincount(X.indices, minlength=X.shape[1]).astype(np.float64)
        if col_counts @ np.diff(P.indptr) > 10 * max_nnz:
            return None
        X = sp.csr_matrix(X @ P)
        if X.nnz > max_nnz:
            return None
        S = S + w * X
    return S if S.nnz <= max_nnz else None


def _eig(
    A: sp.csr_matrix,
    degree: np.ndarray,
    weights: np.ndarray,
    scale: float,
    rank: int,
    max_per_row: int,
    random_state: int | None,
) -> tuple[sp.csr_matrix, dict[str, Any]]:
    n = A.shape[0]
    rank = check_int(rank, "rank", low=1)
    max_per_row = check_int(max_per_row, "max_per_row", low=1)
    h = min(rank, n - 2)
    dr = 1.0 / np.sqrt(degree)
    N = sp.csr_matrix(sp.diags(dr) @ A @ sp.diags(dr))
    if n <= _EXACT_EIG_MAX:  # small: every eigenpair, exactly
        lam, U = np.linalg.eigh(N.toarray())
        lam, U = lam[::-1][:h], U[:, ::-1][:, :h]
    else:  # (I + N)/2 is PSD with the same eigenvectors: a randomized SVD finds the top ones
        # (ARPACK's eigsh for 256 eigenpairs of a 10k-node graph is ~50× slower)
        from sklearn.utils.extmath import randomized_svd

        half = (sp.identity(n, format="csr") + N) * 0.5
        U, sig, _ = randomized_svd(half, h, n_oversamples=32, n_iter=6, random_state=random_state)
        lam = 2 * sig - 1
    powers = lam[:, None] ** np.arange(1, weights.size + 1)[None, :]
    filtered = np.maximum(powers @ weights, 0.0)  # F(λ) = Σ_r w_r λ^r, clipped at 0
    L = (dr[:, None] * U * np.sqrt(filtered)[None, :]).astype(np.float32)
    keep = min(max_per_row, n)
    rows, cols, vals = [], [], []
    block = max(1, min(n, 2**24 // max(n, 1)))
    for start in range(0, n, block):
        Mb = (L[start : start + block] @ L.T) * np.float32(scale)
        if keep < n:
            top = np.argpartition(-Mb, keep - 1, axis=1)[:, :keep]
            part = np.take_along_axis(Mb, top, axis=1)
            r = np.repeat(np.arange(Mb.shape[0]), keep)
            c, v = top.ravel(), part.ravel()
        else:
            r, c = np.nonzero(Mb > 1)
            v = Mb[r, c]
        big = v > 1
        rows.append(r[big] + start)
        cols.append(c[big])
        vals.append(np.log(v[big]))
    X = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    return X.astype(np.float32), {
        "rank": h,
        "eig_min": float(lam.min()),
        "eig_max": float(lam.max()),
    }


@_progress.verbose_function
def netmf(
    graph: Any,
    dim: int | None = None,
    *,
    window: int | Literal["auto"] = "auto",
    negative: float | Literal["auto"] = "auto",
    weighting: Weighting = "uniform",
    method: NetMFMethod = "auto",
    rank: int = 256,
    eig: float = 0.5,
    max_nnz: int = 50_000_000,
    max_per_row: int = 1024,
    propagate: int | Literal["auto"] = "auto",
    propagate_hops: Literal[1, 2] = 2,
    weighted: bool = True,
    isolated: Literal["raise", "drop"] = "raise",
    n_iter: int = 2,
    random_state: int | None = 0,
    threads: int | None = None,
    verbose: int = 0,
) -> NodeVectors:
    """NetMF node vectors: the matrix DeepWalk factorises, factorised directly.

    Parameters
    ----------
    graph
        An edge-list path (CSV/TSV, weighted or not), a networkx graph, a square scipy
        sparse or numpy adjacency, or a :class:`~diffembed.embed.graphs.Graph`.
    dim
        Dimensions; default ``min(128, n_nodes − 1)``. An explicit value must be smaller than
        the number of nodes.
    window
        Window size ``T`` of the implied random-walk skip-gram. ``"auto"`` (default): 3, 2 or
        1, the longest whose exact sparse matrix fits ``max_nnz`` (see
        :func:`auto_parameters`).
        DeepWalk's 10 is slower and not better on the panel of
        ``benchmarks/realdata_nodes.py`` (Davis southern women: 0.52 Micro-F1 against 1.00).
    negative
        Negative samples ``b``: pairs are kept when ``M`` is above ``1``, i.e. ``b`` times more
        frequent than chance. ``"auto"`` (default): with window 2, ``max(1, vol / (2 d̃³))``,
        which removes the 2-hop pairs that chance alone produces in dense clustered graphs
        (LFR 10k: ``b ≈ 5``); else 1. Recipes: ``b = 250`` at LFR 100k
        (``benchmarks/results/embed_nodes.md``).
    weighting
        Weight of the walk distance ``r = 1..window``: ``"uniform"`` (NetMF's ``1/T``),
        ``"dynamic"`` (word2vec's shrunk window, ``∝ T − r + 1``; what gensim's skip-gram sees)
        or ``"harmonic"`` (``∝ 1/r``).
    method, rank, max_nnz, max_per_row
        How the matrix is computed (see the module description).
    eig
        Eigenvalue weighting ``p`` of ``U Σ^p`` (½ as in NetMF).
    propagate
        Steps ``K`` of diffusion applied to the vectors after the factorisation (0: none); see
        the module description. ``"auto"`` (default): ``⌈100 / (mean degree · (T − 1))⌉``
        within ``[2, 40]`` (see :func:`auto_parameters`).
    propagate_hops
        Walk steps per diffusion step: 2 (default; ``P²``, even steps, which keep the two
        sides of a bipartite graph apart) or 1 (``P``).
    weighted, isolated
        See :func:`~diffembed.embed.graphs.as_graph`.
    n_iter, random_state, threads
        Randomized SVD power iterations (2: more did not help on the panel, and on the WordNet
        noun graph 5 scored lower), seed, BLAS-thread cap.
    verbose
        0 (default): silent. 1: a line per step on stderr (graph, NetMF matrix, SVD,
        propagation) with its time, and progress lines while a long step runs.

    Returns
    -------
    NodeVectors
        Keyed by node id, with ``info`` holding the graph report, the parameters as resolved
        (``info["auto"]["rules"]``: the graph numbers the automatic ones read), the method
        used and timings.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with _progress.stage("graph", timings):
        g = as_graph(graph, weighted=weighted, isolated=isolated)
    n = g.n_nodes
    dim = _resolve_dim(dim, n)
    auto = auto_parameters(g, window=window, negative=negative, propagate=propagate,
                           max_nnz=max_nnz)  # fmt: skip
    window, negative, propagate = auto.pop("window"), auto.pop("negative"), auto.pop("propagate")
    propagate = check_int(propagate, "propagate", low=0)
    _check_hops(propagate_hops)
    with _progress.task("netmf matrix", timings=timings):
        X, facts = netmf_matrix(
            g,
            window=window,
            negative=negative,
            weighting=weighting,
            method=method,
            rank=rank,
            max_nnz=max_nnz,
            max_per_row=max_per_row,
            random_state=random_state,
        )
    vectors, s = _factorize(X, dim, eig, n_iter, random_state, threads, timings)
    vectors = _propagate(g, vectors, propagate, timings, hops=propagate_hops)
    timings["total"] = time.perf_counter() - start
    info = {
        "method": "netmf",
        "parameters": {
            "dim": dim, "window": window, "negative": negative, "weighting": weighting,
            "method": method, "rank": rank, "eig": eig, "propagate": propagate,
            "propagate_hops": propagate_hops, "n_iter": n_iter, "random_state": random_state,
        },
        "auto": auto,
        "matrix": facts,
        "graph": g.report,
        "singular_values": s,
        "timings": timings,
    }  # fmt: skip
    return NodeVectors(g.nodes, vectors, info=info)


def _factorize(
    X: Any,
    dim: int,
    eig: float,
    n_iter: int,
    seed: int | None,
    threads: int | None,
    timings: dict[str, float],
) -> tuple[np.ndarray, np.ndarray]:
    with _progress.task("svd", timings=timings):
        if sp.issparse(X) and X.nnz == 0:
            msg = (
                "The node–context matrix is all zeros (no pair above chance): the graph is too "
                "small or too dense for this window. Use a larger window or more walks."
            )
            raise InputError(msg)
        if min(X.shape) <= 500:  # an exact LAPACK SVD in milliseconds: capping threads (a
            threads = None  # threadpoolctl scan of the loaded libraries) would cost more
        U, s, Vt = truncated_svd(X, dim, n_iter=n_iter, random_state=seed, threads=threads)
        W, _ = weighted_factors(U, s, Vt, eig)
    return W.astype(np.float64), s


def _check_hops(hops: Any) -> None:
    if hops not in (1, 2) or isinstance(hops, bool):
        msg = f"propagate_hops={hops!r} is not supported; use 1 (P) or 2 (P², even steps)."
        raise InputError(msg)


def _propagate(
    graph: Graph, vectors: np.ndarray, steps: int, timings: dict[str, float], *, hops: int = 1
) -> np.ndarray:
    """``(1/(K+1)) Σ_{k=0..K} P^{hk} E`` with ``P = D⁻¹A``: the vectors averaged along the walk.

    ``hops = h`` is the walk length of one step: 1 (every step) or 2 (even steps only, which
    keep the two sides of a bipartite graph apart).
    """
    _check_hops(hops)
    steps = check_int(steps, "propagate", low=0)
    if steps == 0:
        return vectors
    with _progress.task("propagate", steps, unit="steps", timings=timings) as running:
        A = graph.adjacency
        degree = np.asarray(A.sum(axis=1)).ravel()
        P = sp.csr_matrix(sp.diags(1.0 / degree) @ A)
        total, current = vectors.copy(), vectors
        for _ in _progress.counted(range(steps), running):
            for _ in range(hops):
                current = P @ current
            total += current
        return total / (steps + 1)


def random_walks(
    graph: Graph, *, num_walks: int = 10, walk_length: int = 80, random_state: int | None = 0
) -> np.ndarray:
    """Random walks from every node, all walkers stepping together (weight-proportional).

    Returns an int32 array of shape (num_walks × n_nodes, walk_length) of node rows; the
    starting nodes are every node ``num_walks`` times, shuffled.
    """
    num_walks = check_int(num_walks, "num_walks", low=1)
    walk_length = check_int(walk_length, "walk_length", low=2)
    A = graph.adjacency
    n = A.shape[0]
    rng = np.random.default_rng(random_state)
    indptr, indices = A.indptr, A.indices
    cumulative = np.cumsum(A.data)
    before = np.concatenate([[0.0], cumulative])[indptr[:-1]]
    strength = np.asarray(A.sum(axis=1)).ravel()
    walks = np.empty((num_walks * n, walk_length), dtype=np.int32)
    current = np.tile(np.arange(n, dtype=np.int64), num_walks)
    rng.shuffle(current)
    walks[:, 0] = current
    for step in range(1, walk_length):
        target = before[current] + rng.random(current.size) * strength[current]
        pos = np.searchsorted(cumulative, target, side="right")
        pos = np.clip(pos, indptr[current], indptr[current + 1] - 1)
        current = indices[pos].astype(np.int64)
        walks[:, step] = current
    return walks


@_progress.verbose_function
def deepwalk_matrix(
    graph: Any,
    dim: int | None = None,
    *,
    window: int = 10,
    negative: float = 1.0,
    weighting: Weighting = "uniform",
    num_walks: int = 10,
    walk_length: int = 80,
    eig: float = 0.5,
    propagate: int = 0,
    propagate_hops: Literal[1, 2] = 1,
    weighted: bool = True,
    isolated: Literal["raise", "drop"] = "raise",
    n_iter: int = 5,
    random_state: int | None = 0,
    threads: int | None = None,
    verbose: int = 0,
) -> NodeVectors:
    """Node vectors from sampled random walks: co-occurrence → shifted PPMI → SVD.

    Parameters
    ----------
    graph
        As for :func:`netmf`.
    dim
        Dimensions; default ``min(128, n_nodes − 1)``.
    window
        Context window along the walks.
    weighting
        Weight of a pair at distance ``1..window`` (every distance equally by default); see
        :func:`~diffembed.embed.cooccurrence.window_weights`.
    negative
        Shift ``b`` of the PMI (``log b`` subtracted).
    num_walks, walk_length
        Walks per node and their length (DeepWalk: 10 × 80).
    eig, propagate, propagate_hops, weighted, isolated, n_iter, random_state, threads, verbose
        As for :func:`netmf`, with this builder's defaults: no propagation (``propagate=0``,
        ``propagate_hops=1`` when set) and 5 power iterations.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with _progress.stage("graph", timings):
        g = as_graph(graph, weighted=weighted, isolated=isolated)
    n = g.n_nodes
    dim = _resolve_dim(dim, n)
    window = check_int(window, "window", low=1)
    negative = check_real(negative, "negative", low=0.0, low_inclusive=False)
    propagate = check_int(propagate, "propagate", low=0)
    _check_hops(propagate_hops)
    with _progress.stage("walks", timings):
        walks = random_walks(
            g, num_walks=num_walks, walk_length=walk_length, random_state=random_state
        )
    with _progress.task("count", unit="tokens", timings=timings):
        pad = np.full((walks.shape[0], window), -1, dtype=np.int32)
        padded = np.hstack([walks, pad])
        # about 4M pairs per counting step (~70 MB), whatever the window
        per_chunk = max(1, 2_000_000 // (window * padded.shape[1]))
        chunks = (padded[i : i + per_chunk].ravel() for i in range(0, len(padded), per_chunk))
        counts = count_id_chunks(chunks, n, window_weights(window, weighting))
        del walks, padded
    with _progress.stage("pmi", timings):
        X = pmi_matrix(counts, kind="ppmi", cds=1.0, shift=negative)
    vectors, s = _factorize(X, dim, eig, n_iter, random_state, threads, timings)
    vectors = _propagate(g, vectors, propagate, timings, hops=propagate_hops)
    timings["total"] = time.perf_counter() - start
    info = {
        "method": "deepwalk-matrix",
        "parameters": {
            "dim": dim, "window": window, "negative": negative, "weighting": weighting,
            "num_walks": num_walks, "walk_length": walk_length, "eig": eig,
            "propagate": propagate, "propagate_hops": propagate_hops,
            "random_state": random_state,
        },
        "matrix": {"nnz": int(X.nnz), "pairs": float(counts.sum())},
        "graph": g.report,
        "singular_values": s,
        "timings": timings,
    }  # fmt: skip
    return NodeVectors(g.nodes, vectors, info=info)
