"""Embedding builders: turn raw items into vectors that flow into ``DiffusionMap``.

Every recipe is "choose a similarity, put it in a matrix, take a low-rank factorisation":

========================  ======================================================  ==========
function                  what                                                    module
========================  ======================================================  ==========
:func:`pca`               table → principal components, spectrum, error vs k      ``pca``
:func:`lsa`               documents → TF-IDF → truncated SVD (docs and terms)     ``lsa``
:func:`word_vectors`      corpus → co-occurrence → PPMI → SVD (``WordVectors``)   ``words``
:func:`sentence_vectors`  word vectors → mean / SIF / top-PC sentence vectors      ``sentences``
:func:`netmf`             graph → NetMF matrix → SVD (``NodeVectors``)            ``nodes``
:func:`deepwalk_matrix`   graph → random walks → PPMI → SVD                       ``nodes``
:func:`encode`            texts → a pretrained sentence encoder (extra ``text``)  ``encoders``
:func:`clip_vectors`      images and texts → one space, from a local CLIP folder  ``clip``
========================  ======================================================  ==========

Data loaders (``diffembed.embed.data``) and evaluations (``diffembed.embed.evaluate``) cover
the offline corpora, WS353 / SimLex-999 / Google analogies and node classification.
Importing this package loads numpy, scipy and scikit-learn only.
"""

from __future__ import annotations

from typing import Any

from .clip import ClipEncoder, ClipVectors, clip_vectors
from .cooccurrence import cooccurrence_counts
from .graphs import Graph, as_graph, read_edge_list
from .keyed import KeyedVectors, NodeVectors, WordVectors
from .lsa import LSAResult, lsa
from .nodes import deepwalk_matrix, netmf, netmf_matrix, random_walks
from .pca import PCAResult, pca
from .pmi import pmi_matrix
from .sentences import sentence_vectors
from .words import word_vectors

__all__ = [
    "ClipEncoder",
    "ClipVectors",
    "Graph",
    "KeyedVectors",
    "LSAResult",
    "NodeVectors",
    "PCAResult",
    "WordVectors",
    "as_graph",
    "clip_vectors",
    "cooccurrence_counts",
    "deepwalk_matrix",
    "encode",
    "lsa",
    "netmf",
    "netmf_matrix",
    "pca",
    "pmi_matrix",
    "random_walks",
    "read_edge_list",
    "sentence_vectors",
    "word_vectors",
]


def encode(texts: Any, model: str = "all-MiniLM-L6-v2", **kwargs: Any) -> Any:
    """Embed texts with a pretrained sentence encoder; see :func:`.encoders.encode`."""
    from .encoders import encode as _encode

    return _encode(texts, model, **kwargs)
