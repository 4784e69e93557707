"""The top-level names that scripts and docs rely on: de.evaluate, de.datasets, de.distributed."""

from __future__ import annotations

import numpy as np
import pytest

import diffembed as de
from diffembed.embed import KeyedVectors


def test_evaluate_is_public_and_counts_oov(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("cat\tdog\t9.0\ncat\tcar\t1.0\ndog\tcar\t2.0\ncat\tzebra\t5.0\n")
    kv = KeyedVectors(["cat", "dog", "car"], np.array([[1.0, 0.1], [0.9, 0.2], [0.0, 1.0]]))
    res = de.evaluate.word_similarity(kv, str(pairs))
    assert res["n_pairs"] == 3
    assert res["n_oov"] == 1
    assert res["spearman"] == pytest.approx(1.0)
    assert de.evaluate.node_classification is de.embed.evaluate.node_classification


def test_dataset_aliases_point_to_the_offline_loaders():
    assert callable(de.datasets.debian_corpus)
    assert callable(de.datasets.wordnet_graph)
    assert "swiss-roll" in de.datasets.DATASETS
    assert {"LandmarkDiffusionMap", "DiffusionMap"} <= set(de.__all__)
    assert callable(de.distributed.transform_parquet)
