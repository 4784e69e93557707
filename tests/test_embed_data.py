"""Offline data readers and evaluations on small files written by the tests."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from diffembed.embed import KeyedVectors, data, evaluate
from diffembed.exceptions import InputError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(value: int) -> str:
    out = ""
    while True:
        out = ALPHABET[value % 64] + out
        value //= 64
        if value == 0:
            return out


def test_dictd_entries_are_cleaned(tmp_path):
    entries = {
        "00-database-info": "This is the GCIDE database.\n",
        "cat": "Cat \\Cat\\, n. [AS. cat.]\n   1. A small {domesticated} carnivore. --Shak.\n\n"
        "   2. A whip.\n",
        "dog": "Dog \\Dog\\, n.\n   A loyal animal [1913 Webster]\n",
    }
    body, index = b"", []
    for word, text in entries.items():
        raw = text.encode()
        index.append(f"{word}\t{b64(len(body))}\t{b64(len(raw))}\n")
        body += raw
    with gzip.open(tmp_path / "toy.dict.dz", "wb") as handle:
        handle.write(body)
    (tmp_path / "toy.index").write_text("".join(index))
    segments = [" ".join(s.split()) for s in data.dictd_segments(tmp_path / "toy.dict.dz")]
    assert segments == ["1. A small domesticated carnivore.", "2. A whip.", "A loyal animal"]


def test_word_pairs_and_analogies(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("# header\nCat\tdog\t8.0\ncat\tbank\t1.0\ndog\tbank\t2.0\nzebra\tcat\t5\n")
    kv = KeyedVectors(["cat", "dog", "bank"], np.array([[1, 0.1], [1, 0.3], [0, 1.0]]))
    score = evaluate.word_similarity(kv, str(pairs))
    assert score["n_pairs"] == 3
    assert score["n_oov"] == 1
    assert score["spearman"] == pytest.approx(1.0)
    questions = tmp_path / "questions.txt"
    questions.write_text(": capital\nman king woman queen\nman king woman zebra\n: gram1\n")
    keys = ["king", "queen", "man", "woman", "apple"]
    V = np.array([[1, 1, 0, 0.1], [1, -1, 0, 0.1], [0, 1, 1, 0], [0, -1, 1, 0], [0, 0, 0, 1.0]])
    result = evaluate.analogy(KeyedVectors(keys, V), str(questions))
    assert result["accuracy"] == 1.0
    assert result["n_covered"] == 1
    assert result["n_total"] == 2
    with pytest.raises(InputError, match="Unknown evaluation set"):
        data.load_word_pairs("men3000")


def test_wordnet_graph_from_data_files(tmp_path):
    wn = tmp_path / "debian" / "usr" / "share" / "wordnet"
    wn.mkdir(parents=True)
    (wn / "data.noun").write_text(
        "  1 This software and database is being provided\n"
        "00001740 03 n 01 entity 0 001 ~ 00002000 n 0000 | that which exists\n"
        "00002000 05 n 01 cat 0 002 @ 00001740 n 0000 + 00003000 v 0000 | a feline\n"
        "00002500 05 n 01 dog 0 001 @ 00001740 n 0000 | a canine\n"
    )
    A, labels, names = data.wordnet_graph("n", data_dir=tmp_path)
    assert names == ["00001740-n", "00002000-n", "00002500-n"]
    assert labels.tolist() == ["noun.Tops", "noun.animal", "noun.animal"]
    assert A.toarray().tolist() == [[0, 1, 1], [1, 0, 0], [1, 0, 0]]
    with pytest.raises(InputError, match="pos="):
        data.wordnet_graph("x", data_dir=tmp_path)


def test_missing_data_says_how_to_fetch_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIFFEMBED_DATA", raising=False)
    with pytest.raises(InputError, match=r"scripts/fetch_data\.sh"):
        data.find_data_file("usr/share/dictd/nothing.dict.dz", data_dir=tmp_path)


def test_node_classification_scores_separable_vectors():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    X = np.eye(3)[y] + 0.05 * rng.standard_normal((90, 3))
    scores = evaluate.node_classification(X, y)
    assert scores["micro_f1"] == 1.0
    assert scores["nmi"] == pytest.approx(1.0)


def test_node_classification_averages_nmi_over_kmeans_runs():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(8), 20)
    X = np.eye(8)[y] + 0.6 * rng.standard_normal((160, 8))  # overlapping: k-means varies
    one = [evaluate.node_classification(X, y, random_state=s)["nmi"] for s in range(4)]
    pooled = evaluate.node_classification(X, y, kmeans_runs=4)
    assert pooled["nmi"] == pytest.approx(np.mean(one))
    assert pooled["nmi_sd"] == pytest.approx(np.std(one, ddof=1))
    assert "nmi_sd" not in evaluate.node_classification(X, y)
    with pytest.raises(InputError, match="kmeans_runs"):
        evaluate.node_classification(X, y, kmeans_runs=0)
