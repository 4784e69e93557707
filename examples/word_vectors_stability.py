"""Word vectors from a text corpus, and how stable they are from run to run.

Run: ``python word_vectors_stability.py [corpus.txt]``. Without an argument it uses the first
60,000 lines of the offline Debian corpus (fetch it once with ``make data`` in a diffembed
checkout, or point ``$DIFFEMBED_DATA`` at it). Two runs differ only in their random seed; the
second is then anchored to the first's neighbourhoods with a reference-graph smoother.
The same from the shell: ``diffembed stability corpus.txt --runs 4 --graph reference -o out/``.
"""

import sys
from itertools import islice

import diffembed as de
from diffembed import metrics

if len(sys.argv) > 1:
    corpus = sys.argv[1]
else:
    corpus = "corpus.txt"
    with open(corpus, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in islice(de.datasets.debian_corpus(), 60_000))

kw = {"dim": 50, "window": 5, "min_count": 5, "max_vocab": 5000}
run_a = de.embed.word_vectors(corpus, random_state=1, **kw)
run_b = de.embed.word_vectors(corpus, random_state=2, **kw)
print(f"vocabulary {len(run_a.keys)} words, {run_a.vectors.shape[1]} dimensions")
for word in ("water", "house"):
    if word in run_a.keys:
        print(f"nearest to {word!r}:", [w for w, _ in run_a.most_similar(word, topn=5)])

before = metrics.knn_overlap(run_a.vectors, run_b.vectors, k=10)
sm = de.DiffusionSmoother(graph="reference", reference=run_a.vectors, reference_index=run_a.keys)
b_smoothed = sm.fit_transform(run_b.vectors, index=run_b.keys)
after = metrics.knn_overlap(run_a.vectors, b_smoothed, k=10)
print(f"10-NN overlap between the two runs: {before:.3f} raw, {after:.3f} with run b anchored")
