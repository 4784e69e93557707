"""Known results on real offline data (slow; skipped when `scripts/fetch_data.sh` was not run).

PPMI-SVD on the Debian corpus (GCIDE + WordNet glosses + FOLDOC + Jargon + Devil + fortunes +
Lee, about 6.8M tokens; 50k words, window 5, 300 dimensions) against the anchors measured with
the reference numpy implementation on the 7.25M-token corpus: WS353 ρ 0.704, SimLex-999 ρ 0.387
(W + C: 0.714 / 0.418).
"""

from __future__ import annotations

import pytest

from diffembed.embed import data, evaluate, word_vectors
from diffembed.exceptions import InputError


def _missing() -> str | None:
    try:
        data.find_data_file("usr/share/dictd/gcide.dict.dz")
        data.find_data_file("wordsim353.tsv")
        data.find_data_file("simlex999.txt")
    except InputError as exc:
        return f"offline data not fetched (run `bash scripts/fetch_data.sh`): {exc}"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_ppmi_svd_reaches_the_anchors_on_the_debian_corpus():
    corpus = list(data.debian_corpus())
    wv = word_vectors(corpus, dim=300, window=5, min_count=5, max_vocab=50_000, threads=1)
    ws = evaluate.word_similarity(wv, "ws353")
    simlex = evaluate.word_similarity(wv, "simlex")
    assert wv.info["n_tokens"] > 5_000_000
    assert ws["n_oov"] <= 10
    assert ws["spearman"] >= 0.69
    assert simlex["spearman"] >= 0.38
    assert evaluate.word_similarity(wv.with_context(), "simlex")["spearman"] >= 0.41
