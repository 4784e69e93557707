"""What the model does when not told, how its concepts group, and the decode tables of words.

``model_defaults``
    The model's *defaults* (Zeng, Chen & Wong 2024 report what a neutral prompt yields): for
    every attribute family, the samples whose prompt names no word of that family (``"a red
    shape"`` says nothing of shape, size or position) and the share of them whose image was
    captioned with each word of the family. Read from the captioned family columns of the
    samples table (one predicted word per family), or, without them, from the caption words.
``concept_clusters``
    The concepts' unit prompt directions (:func:`.words.word_directions`) embedded with a
    :class:`~diffembed.DiffusionMap` (two coordinates, ``dc1``, ``dc2``) and cut into
    clusters by a :class:`~diffembed.DiffusionHierarchy`: concepts whose prompts move h the
    same way land together. With fewer than :data:`MIN_CONCEPTS` concepts there is nothing to
    cluster: the table is empty and says why.
``decode_tables``
    The three tables ``words``, ``defaults`` and ``concepts`` of a decode run, for
    :func:`.analysis.analyse` to write. A table that could not be made is empty, with the
    reason in its schema metadata (:func:`skipped_reason`).

Only numpy (and our own engines) compute; the tables are :class:`pyarrow.Table`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import DiffembedError, InputError
from .directions import tokenize
from .words import Source, WordDirections, rank_words, word_directions

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CONCEPT_COLUMNS",
    "DEFAULT_COLUMNS",
    "MIN_CONCEPTS",
    "WORD_COLUMNS",
    "concept_clusters",
    "decode_tables",
    "model_defaults",
    "skipped_reason",
]

#: Columns of the ``words`` table.
WORD_COLUMNS = ("concept", "rank", "word", "family", "cosine", "source")
#: Columns of the ``defaults`` table.
DEFAULT_COLUMNS = ("family", "word", "rate", "n_samples")
#: Columns of the ``concepts`` table.
CONCEPT_COLUMNS = ("concept", "dc1", "dc2", "cluster", "family")
#: Fewest concepts that are clustered.
MIN_CONCEPTS = 4
_SKIPPED = b"skipped"


def _types() -> dict[str, Any]:
    import pyarrow as pa

    return {
        "concept": pa.string(), "rank": pa.int64(), "word": pa.string(),
        "family": pa.string(), "cosine": pa.float64(), "source": pa.string(),
        "rate": pa.float64(), "n_samples": pa.int64(), "dc1": pa.float64(),
        "dc2": pa.float64(), "cluster": pa.int64(),
    }  # fmt: skip


def _table(
    rows: list[dict[str, Any]], columns: Sequence[str], reason: str | None = None
) -> pa.Table:
    import pyarrow as pa

    types = _types()
    schema = pa.schema([(c, types[c]) for c in columns])
    if reason is not None:
        schema = schema.with_metadata({_SKIPPED: reason.encode("utf-8")})
    return pa.table({c: [r[c] for r in rows] for c in columns}, schema=schema)


def skipped_reason(table: pa.Table) -> str | None:
    """Why a table of :func:`decode_tables` is empty (None when it was made)."""
    meta = table.schema.metadata or {}
    value = meta.get(_SKIPPED)
    return None if value is None else value.decode("utf-8")


def _families(families: Mapping[str, Any] | None) -> dict[str, list[str]]:
    if families is None:
        return {}
    out: dict[str, list[str]] = {}
    for key, value in families.items():
        if isinstance(value, str):  # {word: family}
            out.setdefault(value, []).append(str(key).lower())
        else:
            out[str(key)] = [str(w).lower() for w in value]
    return out


def _column(table: Mapping[str, Any], name: str) -> list[str] | None:
    if name not in table:
        return None
    return [str(v).lower() for v in table[name]]


# ------------------------------------------------------------------------------ defaults
def model_defaults(
    result_or_table: Any,
    families: Mapping[str, Any] | None,
) -> pa.Table:
    """What the model yields, per attribute family, when the prompt does not name the family.

    Parameters
    ----------
    result_or_table
        An :class:`~.hspace.HSpaceResult` or its ``table`` (``{column: values}``): ``prompt``
        and the captioned columns (one per family, the predicted word) or ``caption``.
    families
        ``{family: [words]}``.

    Returns
    -------
    pyarrow.Table
        ``family, word, rate, n_samples``: for every family with unspecified samples, every
        word of the family with the share of those samples captioned with it (by decreasing
        rate) and their number. Empty, with a reason (:func:`skipped_reason`), without
        families or captions.

    Examples
    --------
    >>> table = {"prompt": ["a square", "a square", "a red shape", "a red shape"],
    ...          "shape": ["square", "square", "circle", "square"],
    ...          "colour": ["blue", "red", "red", "red"]}
    >>> model_defaults(table, {"shape": ["square", "circle"], "colour": ["red", "blue"]}
    ...                ).to_pylist()[:2]  # doctest: +NORMALIZE_WHITESPACE
    [{'family': 'colour', 'word': 'blue', 'rate': 0.5, 'n_samples': 2},
     {'family': 'colour', 'word': 'red', 'rate': 0.5, 'n_samples': 2}]
    """
    table = getattr(result_or_table, "table", result_or_table)
    if not isinstance(table, Mapping) or "prompt" not in table:
        msg = "model_defaults needs an HSpaceResult or a samples table with a 'prompt' column."
        raise InputError(msg)
    fams = _families(families)
    if not fams:
        return _table([], DEFAULT_COLUMNS, "no attribute families: defaults are per family")
    keys, inverse = np.unique(np.asarray(table["prompt"]).astype(str), return_inverse=True)
    prompt_words = [frozenset(tokenize(p)) for p in keys]  # each distinct prompt once
    captions = _column(table, "caption")
    if not any(f in table for f in fams) and captions is None:
        return _table([], DEFAULT_COLUMNS, "the images were not captioned")
    rows: list[dict[str, Any]] = []
    for family, words in fams.items():
        column = _column(table, family)
        if column is None and captions is None:
            continue
        unsaid = np.array([not ws & set(words) for ws in prompt_words], dtype=bool)[inverse]
        n = int(unsaid.sum())
        if n == 0:
            continue
        if column is not None:
            seen = np.asarray(column, dtype=object)[unsaid]
            hits = {w: int(np.sum(seen == w)) for w in words}
        else:
            texts = [set(tokenize(c)) for c, u in zip(captions, unsaid, strict=True) if u]  # type: ignore[arg-type]
            hits = {w: sum(w in t for t in texts) for w in words}
        rows += [{"family": family, "word": w, "rate": hits[w] / n, "n_samples": n} for w in words]
    if not rows:
        return _table([], DEFAULT_COLUMNS, "every prompt names a word of every family")
    order = {f: i for i, f in enumerate(fams)}
    rows.sort(key=lambda r: (order[r["family"]], -r["rate"], r["word"]))
    return _table(rows, DEFAULT_COLUMNS)


# ------------------------------------------------------------------------------ clusters
def concept_clusters(
    directions: WordDirections,
    *,
    n_clusters: int | None = None,
    n_neighbors: int | None = None,
    random_state: int | None = 0,
) -> pa.Table:
    """Concepts embedded and clustered by their h-directions, with our own engines.

    Parameters
    ----------
    directions
        From :func:`.words.word_directions`; its ``concept_vectors`` are used.
    n_clusters
        Clusters of the hierarchy's cut. Default: the number of families among the concepts
        when that is between 2 and n - 1, else ``round(sqrt(n))`` (at least 2).
    n_neighbors
        Neighbours of the kNN graph. Default ``min(15, n - 1)``: with a handful of concepts
        every pair is linked (the self-tuning kernel still weighs near pairs most), which
        separated planted groups best in two coordinates (a sparser graph breaks into
        pieces whose coordinates are zero outside them).
    random_state
        Seed of the engines.

    Returns
    -------
    pyarrow.Table
        ``concept, dc1, dc2, cluster, family``: the first two diffusion coordinates
        (:class:`~diffembed.DiffusionMap`) and the cluster
        (:class:`~diffembed.DiffusionHierarchy` cut into ``n_clusters``). Empty, with a
        reason (:func:`skipped_reason`), with fewer than :data:`MIN_CONCEPTS` concepts.
    """
    from ..diffusion_map import DiffusionMap
    from ..hierarchy import DiffusionHierarchy

    X = np.asarray(directions.concept_vectors, dtype=np.float64)
    n = X.shape[0]
    if n < MIN_CONCEPTS:
        return _table([], CONCEPT_COLUMNS, (
            f"{n} concept{'s' if n != 1 else ''} with a prompt direction "
            f"({', '.join(directions.concepts) or 'none'}); clustering needs at least "
            f"{MIN_CONCEPTS}: give prompts with more concept words"
        ))  # fmt: skip
    k = min(15, n - 1) if n_neighbors is None else n_neighbors
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k < n:
        msg = f"n_neighbors={n_neighbors!r} must be an integer in [1, {n - 1}] ({n} concepts)."
        raise InputError(msg)
    fams = {f for f in directions.concept_families if f is not None}
    if n_clusters is None:
        n_clusters = len(fams) if 2 <= len(fams) <= n - 1 else max(2, round(np.sqrt(n)))
    if (
        isinstance(n_clusters, bool)
        or not isinstance(n_clusters, int | np.integer)
        or not (1 <= n_clusters <= n)
    ):
        msg = f"n_clusters={n_clusters!r} must be an integer in [1, {n}] ({n} concepts)."
        raise InputError(msg)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small graphs: disconnected pieces are expected
            dm = DiffusionMap(n_components=2, n_neighbors=int(k), random_state=random_state)
            Y = dm.fit_transform(X)
            tree = DiffusionHierarchy(
                n_clusters=int(n_clusters), n_neighbors=int(k), n_components=min(20, n - 2),
                n_null=0, random_state=random_state,
            ).fit(X)  # fmt: skip
    except DiffembedError as exc:  # a degenerate set of directions: say so, do not fail decode
        return _table([], CONCEPT_COLUMNS, f"the concept directions could not be embedded: {exc}")
    labels = np.asarray(tree.labels_)
    rows = [
        {"concept": c, "dc1": float(Y[i, 0]), "dc2": float(Y[i, 1]), "cluster": int(labels[i]),
         "family": directions.concept_families[i]}
        for i, c in enumerate(directions.concepts)
    ]  # fmt: skip
    return _table(rows, CONCEPT_COLUMNS)


# -------------------------------------------------------------------------------- tables
def decode_tables(
    result: Any,
    families: Mapping[str, Any] | None,
    *,
    top: int = 10,
    source: Source = "both",
    timestep: int | None = None,
    n_clusters: int | None = None,
    random_state: int | None = 0,
) -> dict[str, pa.Table]:
    """The word tables of a decode run: ``words``, ``defaults`` and ``concepts``.

    Parameters
    ----------
    result
        An :class:`~.hspace.HSpaceResult` (h, prompts and, when captioned, captions and
        family columns).
    families
        ``{family: [words]}``: the vocabulary (None: every non-stop word of the texts).
    top
        Words per concept in ``words``.
    source, timestep
        See :func:`.words.word_directions`; ``source="captions"`` on an uncaptioned run uses
        the prompts (the ``source`` column says which).
    n_clusters, random_state
        See :func:`concept_clusters`.

    Returns
    -------
    dict of str to pyarrow.Table
        ``words`` (``concept, rank, word, family, cosine, source``: each concept's ``top``
        words, best first; its own family left out), ``defaults`` (:func:`model_defaults`)
        and ``concepts`` (:func:`concept_clusters`). A table that cannot be made is empty and
        :func:`skipped_reason` says why; a bad parameter raises :class:`InputError`.
    """
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or top < 1:
        msg = f"top={top!r} must be a positive integer (words per concept)."
        raise InputError(msg)
    has_captions = "caption" in (getattr(result, "table", None) or {})
    if source == "captions" and not has_captions:
        source = "prompts"
    try:
        dirs = word_directions(result, vocabulary=families, source=source, timestep=timestep)
    except InputError as exc:
        reason = str(exc)
        return {
            "words": _table([], WORD_COLUMNS, reason),
            "defaults": model_defaults(result, families),
            "concepts": _table([], CONCEPT_COLUMNS, reason),
        }
    if dirs.concepts:
        rows = rank_words(dirs, concept=dirs.concepts, top=int(top)).rows("concept")
        words = _table(rows, WORD_COLUMNS)
    else:
        words = _table([], WORD_COLUMNS, (
            "no prompt word has a direction: a concept needs prompts with it and prompts "
            "without it"
        ))  # fmt: skip
    return {
        "words": words,
        "defaults": model_defaults(result, families),
        "concepts": concept_clusters(dirs, n_clusters=n_clusters, random_state=random_state),
    }
