"""``diffembed embed words``: word vectors by PPMI-SVD, with optional evaluation.

Writes ``vocabulary.csv``, the vector files ``--vectors-format`` names (``vectors.parquet``,
``vectors.txt`` / ``vectors.bin`` for gensim, ``vectors.npy``), ``manifest.json`` (with the
``evaluation`` scores of ``--evaluate``) and ``report.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from .. import _progress
from ..exceptions import InputError
from .common import Assets, Debug, Json, Overwrite, Quiet
from .console import UI
from .embed_common import NoReport, OutDir, Seed, Threads, run_embed, vector_columns
from .guards import DEBIAN_BYTES, check_text_memory, text_bytes

__all__ = ["words_command"]


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
        writers.write_parquet_atomic(vector_columns(wv.words, wv.vectors), tmp / "vectors.parquet")
    if fmt in ("word2vec", "word2vec-binary"):
        binary = fmt == "word2vec-binary"
        wv.save_word2vec_format(tmp / ("vectors.bin" if binary else "vectors.txt"), binary=binary)
    elif fmt == "npy":
        import numpy as np

        writers.write_npy_atomic(np.asarray(wv.vectors, dtype=np.float32), tmp / "vectors.npy")


def _analogy_line(name: str, s: dict[str, Any]) -> str:
    method = "3CosMul" if s.get("method") == "mul" else "3CosAdd"
    return (
        f"{name} analogies ({method}): {s['accuracy']:.3f} on {s['n_covered']} of "
        f"{s['n_total']} questions ({s['n_oov']} skipped with a word outside the vocabulary); "
        f"semantic {s['semantic']:.3f}, syntactic {s['syntactic']:.3f}"
    )


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
    json_output: Json = False,
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

    run_embed("words", out, overwrite=overwrite, quiet=quiet, debug=debug,
              json_output=json_output, report=not no_report, inputs=paths, body=body)
