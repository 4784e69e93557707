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

from typing import Literal

import numpy as np
import scipy.sparse as sp

from .._validation import check_real
from ..exceptions import InputError

__all__ = ["pmi_matrix"]

PMIKind = Literal["pmi", "ppmi", "shifted_ppmi"]


def pmi_matrix(
    counts: sp.spmatrix | sp.sparray | np.ndarray,
    *,
    kind: PMIKind = "ppmi",
    cds: float = 0.75,
    shift: float | None = None,
    dtype: type = np.float32,
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
        Float type of the result.

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
    C = sp.csr_matrix(counts, dtype=np.float64)  # no copy for float64 CSR input
    C.sum_duplicates()
    if C.nnz and C.data.min() < 0:
        msg = "Co-occurrence counts must be non-negative; found negative entries."
        raise InputError(msg)
    C.eliminate_zeros()
    total = float(C.data.sum())
    if total <= 0:
        msg = (
            "The co-occurrence matrix is all zeros: no two vocabulary words ever occur within "
            "the window. Use a larger window, a lower min_count or a larger corpus."
        )
        raise InputError(msg)
    row_sum = np.asarray(C.sum(axis=1)).ravel()
    col_smooth = np.asarray(C.sum(axis=0)).ravel() ** cds
    # log P(w,c) − log P(w) − log P_α(c) − log k, computed in place on a copy of the data:
    # log C − log C[w,·] − log C[·,c]^α + log Σ C[·,c']^α − log k
    log_row = np.log(np.where(row_sum > 0, row_sum, 1.0))
    log_col = np.log(np.where(col_smooth > 0, col_smooth, 1.0))
    values = np.log(C.data)
    values -= np.repeat(log_row, np.diff(C.indptr))
    values -= log_col[C.indices]
    values += np.log(col_smooth.sum()) - np.log(shift)
    indices, indptr = C.indices, C.indptr
    if kind != "pmi":
        positive = values > 0
        kept_before = np.concatenate([[0], np.cumsum(positive)])
        indptr = kept_before[indptr]
        indices, values = indices[positive], values[positive]
    out = sp.csr_matrix((values.astype(dtype), indices, indptr), shape=C.shape)
    out.eliminate_zeros()
    return out
