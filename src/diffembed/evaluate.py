"""Evaluation of embeddings on offline benchmarks: ``de.evaluate.word_similarity(...)``.

* :func:`word_similarity` — Spearman ρ of cosine similarity with WS353 or SimLex-999 judgements,
  with the number of pairs scored and of out-of-vocabulary pairs;
* :func:`analogy` — 3CosAdd accuracy on the Google analogy questions;
* :func:`node_classification` — Micro/Macro-F1 of a logistic regression on node vectors
  (50 % train, repeated random splits).

The evaluation files come from the gensim wheel via ``make data``. These are the functions of
:mod:`diffembed.embed.evaluate`, exposed at the top level.
"""

from __future__ import annotations

from .embed.evaluate import analogy, node_classification, word_similarity

__all__ = ["analogy", "node_classification", "word_similarity"]
