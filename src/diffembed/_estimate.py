"""A rough time and memory estimate printed before a long fit.

The time rates are measured on the 2-core machine the benchmarks run on (``benchmarks/scale.py``,
``docs/scale.md``) and are meant to say "seconds, minutes or an hour", not to be precise:
neighbour search dominates at high dimension, the eigensolve at large n. The memory figure is
:func:`diffembed._memory.map_bytes`, the same estimate the memory guard checks.
"""

from __future__ import annotations

from typing import Any

from ._memory import format_bytes

__all__ = ["fit_estimate", "fit_seconds"]

#: below this many rows nothing is printed (a fit takes seconds)
ESTIMATE_MIN_ROWS = 100_000


def fit_seconds(n: int, d: int, n_neighbors: int = 15, landmarks: int | None = None) -> float:
    """Seconds expected for a fit of n × d data on 2 cores."""
    m = n if landmarks is None or landmarks >= n else int(landmarks)
    k = n_neighbors + 1
    # kNN: ~12 µs per point and 10 dimensions at 100k (faiss HNSW, 2 threads), growing slowly
    # with m (benchmarks/results/scale.md: 6 s at 100k x 50, 98 s at 1M x 50)
    growth = max(1.0, (m / 1e5) ** 0.2)
    knn = 1.2e-5 * max(d, 10) / 10 * m * (k / 16) * growth
    # kernel, operator, AMG-preconditioned eigensolve: ~0.1 ms per graph row at 100k
    # (10 s), 0.16 ms at 1M (158 s)
    solve = 1e-4 * m * growth
    # Nyström of the other rows: a kNN query against the landmarks (HNSW above 10 dimensions:
    # 12.9 s for 300k x 50 at load ~4, docs/scale.md) plus the sparse weights
    nystrom = 0.0 if m == n else 8e-6 * max(d, 10) / 10 * (n - m)
    return knn + solve + nystrom


def fit_estimate(n: int, d: int, memory: dict[str, Any], landmarks: int | None = None,
                 n_neighbors: int = 15) -> str | None:
    """One line for the CLI, or None for small inputs.

    ``memory`` is :func:`diffembed._memory.map_bytes` of the run (its ``"peak"`` is printed).
    """
    if n < ESTIMATE_MIN_ROWS:
        return None
    seconds = fit_seconds(n, d, n_neighbors, landmarks)
    how = "full fit" if landmarks is None or landmarks >= n else f"{landmarks} landmarks"
    when = f"~{seconds:.0f} s" if seconds < 120 else f"~{seconds / 60:.0f} min"
    return (f"estimate ({how}, 2 cores): {when} and ~{format_bytes(memory['peak'])} peak "
            "memory; a rough guide measured on the benchmark machine (docs/scale.md, "
            "benchmarks/results/memory.md)")
