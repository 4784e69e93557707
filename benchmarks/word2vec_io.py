"""word2vec text/binary files: our writer and reader against gensim's, on the same vectors.

    PYTHONPATH=src python benchmarks/word2vec_io.py [n_keys] [dim]

Prints one line per format: seconds to write and read with each library, and whether the two
files are byte-identical. Needs gensim.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np
from gensim.models import KeyedVectors as GensimKeyedVectors

from diffembed.embed.keyed import KeyedVectors


def main(n: int = 20_000, dim: int = 100) -> None:
    rng = np.random.default_rng(0)
    keys = [f"w{i}" for i in range(n)]
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    ours = KeyedVectors(keys, vectors)
    theirs = GensimKeyedVectors(dim, count=0)
    theirs.add_vectors(keys, vectors)
    with tempfile.TemporaryDirectory() as tmp:
        for binary in (False, True):
            p_ours, p_theirs = os.path.join(tmp, f"ours{binary}"), os.path.join(tmp, f"g{binary}")
            steps = (
                (ours.save_word2vec_format, p_ours),
                (theirs.save_word2vec_format, p_theirs),
                (KeyedVectors.load_word2vec_format, p_ours),
                (GensimKeyedVectors.load_word2vec_format, p_theirs),
            )
            times = []
            for step, path in steps:
                start = time.perf_counter()
                step(path, binary=binary)
                times.append(time.perf_counter() - start)
            with open(p_ours, "rb") as a, open(p_theirs, "rb") as b:
                same = a.read() == b.read()
            print(
                f"{n} x {dim}, binary={binary}: write ours {times[0]:.2f} s, gensim "
                f"{times[1]:.2f} s | read ours {times[2]:.2f} s, gensim {times[3]:.2f} s | "
                f"byte-identical: {same}"
            )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
