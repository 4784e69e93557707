"""Pointwise mutual information of a co-occurrence matrix, kept sparse.

For counts ``C`` (rows: words, columns: contexts) with total ``N = Σ C``, ``P(w, c) = C[w, c] / N``,
``P(w) = C[w, ·] / N`` and the smoothed context distribution
``P_α(c) = C[·, c]^α / Σ_c' C[·, c']^α``:

    PMI(w, c) = log P(w, c) − log P(w) − log P_α(c) − log k,

with context-distribution smoothing
``α`` (``cds``, 0.75 by default: Levy, Goldberg & Dagan 2015) and shift ``k`` (the number of
negative samples that SGNS implicitly uses; Levy & Goldberg 2014). Only observed pairs are
stored: PPMI keeps ``max(PMI, 0)``, so unobserved pairs (PMI = −∞) are 0 as they should be;
plain ``"pmi"`` stores the observed values of either sign and leaves unobserved pairs at 0.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

import numpy as np
import scipy.sparse as sp

from .._validation import check_real
from ..exceptions import InputError

__all__ = ["pmi_matrix"]

PMIKind = Literal["pmi", "ppmi", "shifted_ppmi"]

#: Stored entries computed at once (float64 temporaries of about 8 bytes × this, a few MB).
_BLOCK_NNZ = 1 << 20


def _row_blocks(indptr: np.ndarray, block_nnz: int) -> list[tuple[int, int]]:
    """Row ranges ``[r0, r1)`` holding about ``block_nnz`` stored entries each."""
    n = indptr.size - 1
    bounds = np.searchsorted(indptr, np.arange(0, int(indptr[-1]), block_nnz), side="right") - 1
    bounds = np.unique(np.r_[bounds, n].clip(0, n))
    if bounds[0] != 0:
        bounds = np.r_[0, bounds]
    return [(int(a), int(b)) for a, b in pairwise(bounds) if b > a]


def pmi_matrix(
    counts: sp.spmatrix | sp.sparray | np.ndarray,
    *,
    kind: PMIKind = "ppmi",
    cds: float = 0.75,
    shift: float | None = None,
    dtype: type = np.float32,
    copy: bool = True,
) -> sp.csr_matrix:
    """(Positive, shifted) PMI of a non-negative co-occurrence matrix.

    Parameters
    ----------
    counts
        Non-negative counts, shape (n_words, n_contexts), dense or sparse.
    kind
        ``"ppmi"``: ``max(PMI − log k, 0)``; ``"shifted_ppmi"``: the same with ``k`` = 5 unless
        ``shift`` is given; ``"pmi"``: ``PMI − log k`` on the observed pairs.
    cds
        Context-distribution smoothing exponent α in (0, 1]; 1 means none.
    shift
        ``k`` ≥ 1 (default 1, or 5 for ``"shifted_ppmi"``).
    dtype
        Float type of the result. Values are computed in float64 either way, in blocks of
        rows, so the working memory beyond the result is a few MB.
    copy
        ``False`` lets the function reuse the arrays of ``counts`` for the result when
        ``counts`` is a CSR matrix of type ``dtype``: ``counts`` is then overwritten (do not
        use it afterwards), and no second matrix of its size is allocated.

    Returns
    -------
    scipy.sparse.csr_matrix
        Same shape as ``counts``; zero entries are not stored.

    Examples
    --------
    >>> import numpy as np
    >>> M = pmi_matrix(np.array([[0, 2], [2, 1]]), cds=1.0).toarray()
    >>> np.round(M, 3).tolist()
    [[0.0, 0.511], [0.511, 0.0]]
    """
    if kind not in ("pmi", "ppmi", "shifted_ppmi"):
        msg = f"kind={kind!r} is not supported; choose 'pmi', 'ppmi' or 'shifted_ppmi'."
        raise InputError(msg)
    cds = check_real(cds, "cds", low=0.0, high=1.0, low_inclusive=False)
    if shift is None:
        shift = 5.0 if kind == "shifted_ppmi" else 1.0
    shift = check_real(shift, "shift", low=1.0)
    dtype = np.dtype(dtype)
    if sp.issparse(counts) and counts.format == "csr" and counts.dtype.kind == "f":
        C = counts if isinstance(counts, sp.csr_matrix) else sp.csr_matrix(counts, copy=False)
    else:
        C = sp.csr_matrix(counts, dtype=np.float64)
    C.sum_duplicates()
    if C.nnz and C.data.min() < 0:
        msg = "Co-occurrence counts must be non-negative; found negative entries."
        raise InputError(msg)
    C.eliminate_zeros()
    total = float(C.data.sum(dtype=np.float64))
    if total <= 0:
        msg = (
            "The co-occurrence matrix is all zeros: no two vocabulary words ever occur within "
            "the window. Use a larger window, a lower min_count or a larger corpus."
        )
        raise InputError(msg)
    blocks = _row_blocks(C.indptr, _BLOCK_NNZ)
    row_sum = np.zeros(C.shape[0])
    col_sum = np.zeros(C.shape[1])
    for r0, r1 in blocks:  # marginals in float64, whatever the dtype of the counts
        a, b = C.indptr[r0], C.indptr[r1]
        data = C.data[a:b]
        cumulative = np.r_[0.0, np.cumsum(data, dtype=np.float64)]
        row_sum[r0:r1] = np.diff(cumulative[C.indptr[r0 : r1 + 1] - a])
        col_sum += np.bincount(C.indices[a:b], weights=data, minlength=C.shape[1])
    col_smooth = col_sum**cds
    # log P(w,c) − log P(w) − log P_α(c) − log k
    # = log C − log C[w,·] − log C[·,c]^α + log Σ C[·,c']^α − log k
    log_row = np.log(np.where(row_sum > 0, row_sum, 1.0))
    log_col = np.log(np.where(col_smooth > 0, col_smooth, 1.0))
    constant = np.log(col_smooth.sum()) - np.log(shift)
    reuse = not copy and C.data.dtype == dtype
    values = C.data if reuse else np.empty(C.nnz, dtype=dtype)
    for r0, r1 in blocks:
        a, b = C.indptr[r0], C.indptr[r1]
        block = np.log(C.data[a:b], dtype=np.float64)
        block -= np.repeat(log_row[r0:r1], np.diff(C.indptr[r0 : r1 + 1]))
        block -= log_col[C.indices[a:b]]
        block += constant
        if kind != "pmi":
            np.maximum(block, 0.0, out=block)
        values[a:b] = block
    indices = C.indices if reuse else C.indices.copy()
    indptr = C.indptr if reuse else C.indptr.copy()
    out = sp.csr_matrix((values, indices, indptr), shape=C.shape, copy=False)
    out.eliminate_zeros()  # in place: PPMI drops the pairs at or below chance
    if reuse:  # leave ``counts`` empty rather than aliasing the result
        counts.data = np.empty(0, dtype=dtype)
        counts.indices = np.empty(0, dtype=np.int32)
        counts.indptr = np.zeros(counts.shape[0] + 1, dtype=np.int32)
    return out
