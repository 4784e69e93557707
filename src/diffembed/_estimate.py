"""A rough time and memory estimate printed before a long fit.

The rates are measured on the 2-core machine the benchmarks run on (``benchmarks/scale.py``,
``docs/scale.md``) and are meant to say "seconds, minutes or an hour", not to be precise:
neighbour search dominates at high dimension, the eigensolve at large n.
"""

from __future__ import annotations

__all__ = ["fit_estimate", "fit_estimate_numbers"]

#: below this many rows nothing is printed (a fit takes seconds)
ESTIMATE_MIN_ROWS = 100_000


def fit_estimate_numbers(
    n: int, d: int, n_neighbors: int = 15, landmarks: int | None = None
) -> tuple[float, float]:
    """(seconds, bytes) expected for a fit of n × d data on 2 cores."""
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
    seconds = knn + solve + nystrom
    # X (float64) + kNN graph and kernel (≈ 6 copies of n·k values + indices) + eigenvectors
    data = 8.0 * n * d
    graph = 8 * 12.0 * m * k
    # eigenvectors, plus LOBPCG's ~12 blocks of (m, 11) above 50,000 rows (measured peak:
    # 3.9 GiB for the 1M x 50 full fit, 0.6 GiB at 100k)
    vectors = 8.0 * n * 12 + 8.0 * m * 40 + (8.0 * m * 12 * 11 if m > 50_000 else 0.0)
    return seconds, data + graph + vectors


def fit_estimate(n: int, d: int, n_neighbors: int = 15, landmarks: int | None = None) -> str | None:
    """One line for the CLI, or None for small inputs."""
    if n < ESTIMATE_MIN_ROWS:
        return None
    seconds, nbytes = fit_estimate_numbers(n, d, n_neighbors, landmarks)
    how = "full fit" if landmarks is None or landmarks >= n else f"{landmarks} landmarks"
    minutes = seconds / 60
    when = f"~{seconds:.0f} s" if seconds < 120 else f"~{minutes:.0f} min"
    return (f"estimate ({how}, 2 cores): {when} and ~{nbytes / 2**30:.1f} GiB peak; "
            "a rough guide measured on the benchmark machine (docs/scale.md)")
