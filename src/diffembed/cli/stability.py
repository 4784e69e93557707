"""``diffembed stability``: how much do word vectors move under perturbation, raw vs smoothed?

Trains PPMI-SVD word vectors on ``--runs`` perturbed copies of a corpus (``--perturb``
bootstrap / swap / seed), keeps the words every run has, smooths each run over ``--graph``
(``lexicon``: WordNet synonyms or ``--lexicon FILE``; ``reference``: the kNN graph of one more,
independent run; ``knn``: each run's own graph) and writes, atomically:

=====================  ======================================================================
``metrics.csv``        one row per method (``raw``, ``smoothed``, and — unless
                       ``--no-own-knn`` — the same filter over each run's own kNN graph,
                       reported for honesty): NN-overlap@k, Jaccard, s.d. over pairs,
                       frequency bands, fidelity, EIS, Procrustes, WS353, SimLex, supersense
                       accuracy and disagreement, effective rank, mean cosine, seconds, and
                       ``delta_*`` = smoothed − raw.
``overlap_at_k.csv``   ``method, k, overlap`` (the report's overlap-vs-k plot).
``sweep.csv``          overlap@10 and quality against α (PPR) or t (heat) on the same graph.
``words.parquet``      one row per shared word (``id``: the word, ``rank``: its frequency rank in
                       run 1): ``overlap@10_raw`` and ``overlap@10_smoothed`` (the share of its
                       10 cosine neighbours two runs agree on, mean over the pairs of runs),
                       ``delta_overlap@10`` (smoothed − raw), ``kept@10`` (share of run 1's
                       raw neighbours still among its smoothed ones) and, for a shared graph,
                       ``graph_degree`` (its edges in the smoothing graph).
``vectors_raw.parquet``, ``vectors_smoothed.parquet``
                       run 1's word vectors before and after smoothing (rows L2-normalised,
                       ``id`` and ``v1``…``vD``, float32), as ``diffembed embed`` writes them:
                       the report's explorers, ``diffembed export`` and ``diffembed map
                       OUT/vectors_smoothed.parquet --id id`` read them.
``manifest.json``      inputs, parameters, vocabulary sizes and the shared words, graph facts,
                       timings, versions, outputs.
``report.html``        the offline report (:mod:`diffembed.plotting.stability_report`), with an
                       embedding explorer of the smoothed and of the raw vectors.
``atlas.parquet``,     with ``--format atlas`` / ``--format projector``: the smoothed vectors
``projector/``         for Embedding Atlas or the TensorFlow Projector (also later, with
                       ``diffembed export OUT --format ...``).
=====================  ======================================================================

Register it with ``app.command("stability")(stability_command)``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .. import _progress
from ..exceptions import InputError
from .common import Assets, Debug, Json, NoReport, Overwrite, Quiet, manifest_head, versions
from .console import UI
from .extras import EXPORT_HINTS, parse_formats
from .guards import check_seed
from .skeleton import CommandRun

__all__ = ["read_segments", "stability_command", "word_stability"]

GRAPHS = ("lexicon", "reference", "knn")


def _check_stability_memory(n_bytes: int, params: dict[str, Any]) -> None:
    """Refuse a stability run whose estimated peak exceeds the memory available.

    One PPMI-SVD fit at a time (:func:`diffembed._memory.words_bytes`) plus every run's
    vectors and the smoothed copies the metrics compare.
    """
    from .. import _memory

    tokens = _memory.text_tokens(n_bytes)
    vocab = _memory.vocabulary_size(tokens, params["max_vocab"])
    nbytes = _memory.words_bytes(tokens, dim=params["dim"], max_vocab=params["max_vocab"])
    nbytes += 3.0 * params["runs"] * vocab * params["dim"] * 8
    _memory.check_memory(
        nbytes, f"{params['runs']} runs of word vectors from ~{tokens / 1e6:.1f}M tokens",
        "Use a smaller --fraction, --max-vocab, --dim or fewer --runs.",
    )


def read_segments(corpus: str, fraction: float, seed: int) -> tuple[list[str], dict[str, Any]]:
    """Segments (lines) of a corpus file, or of the offline Debian corpus for ``debian``.

    ``fraction`` < 1 keeps each segment with that probability (seeded).
    """
    if corpus == "debian":
        from ..embed.data import debian_corpus

        segments = [s for s in debian_corpus() if s.strip()]
        info: dict[str, Any] = {"path": None, "corpus": "debian (offline)"}
    else:
        path = Path(corpus)
        if not path.is_file():
            msg = (
                f"The corpus {corpus} does not exist. Give a text file with one segment per "
                "line, or 'debian' for the offline Debian corpus (scripts/fetch_data.sh)."
            )
            raise InputError(msg)
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"{corpus} is not UTF-8 text ({exc}); convert it first (iconv -t utf-8)."
            raise InputError(msg) from exc
        segments = [line for line in text.splitlines() if line.strip()]
        info = {"path": str(path), "sha256": hashlib.sha256(data).hexdigest()}
    if not 0 < fraction <= 1:
        msg = f"--fraction {fraction} is out of range: give a share of segments in (0, 1]."
        raise InputError(msg)
    if fraction < 1:
        keep = np.random.default_rng(seed).random(len(segments)) < fraction
        segments = [s for s, k in zip(segments, keep, strict=True) if k]
    if not segments:
        msg = f"The corpus {corpus} has no non-empty line (segment) to train on."
        raise InputError(msg)
    info.update({"n_segments": len(segments), "fraction": fraction})
    return segments, info


def stability_command(
    corpus: Annotated[
        str,
        typer.Argument(
            metavar="CORPUS",
            help="Text file, one segment per line (or 'debian': the offline Debian corpus).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output directory to create.")] = ...,  # type: ignore[assignment]
    runs: Annotated[int, typer.Option(help="Perturbed runs compared pairwise (>= 2).")] = 4,
    perturb: Annotated[
        str,
        typer.Option(
            metavar="[bootstrap|swap|seed]",
            help="bootstrap (resample lines), swap (local word swaps) or seed.",
        ),
    ] = "bootstrap",
    graph: Annotated[
        str,
        typer.Option(help="lexicon (shared: WordNet or --lexicon), reference (shared), knn (own)."),
    ] = "lexicon",
    lexicon: Annotated[
        Path | None,
        typer.Option(help="Lexicon file 'word neighbour ...' per line (default: WordNet)."),
    ] = None,
    operator: Annotated[
        str,
        typer.Option(
            metavar="[ppr|heat|lazy_walk|retrofit]", help="ppr, heat, lazy_walk or retrofit."
        ),
    ] = "ppr",
    alpha: Annotated[float, typer.Option(help="PPR teleport in (0, 1]; 0.5 = retrofit.")] = 0.5,
    t: Annotated[float, typer.Option("--time", "-t", help="Heat time / lazy-walk steps.")] = 1.0,
    n_neighbors: Annotated[int, typer.Option(help="Neighbours of kNN graphs.")] = 10,
    dim: Annotated[int, typer.Option(help="Dimensions of the word vectors.")] = 100,
    max_vocab: Annotated[int, typer.Option(help="Most frequent words kept per run.")] = 10_000,
    window: Annotated[int, typer.Option(help="Co-occurrence window.")] = 5,
    min_count: Annotated[int, typer.Option(help="Least count of a kept word.")] = 1,
    fraction: Annotated[
        float, typer.Option(help="Share of corpus lines used (seeded), e.g. 0.25.")
    ] = 1.0,
    own_knn: Annotated[
        bool,
        typer.Option("--own-knn/--no-own-knn", help="Also report each run's own-kNN smoothing."),
    ] = True,
    sweep: Annotated[bool, typer.Option("--sweep/--no-sweep", help="Overlap against α/t.")] = True,
    random_state: Annotated[
        int, typer.Option(help="Seed of every random step.", callback=check_seed)
    ] = 0,
    overwrite: Overwrite = False,
    no_report: NoReport = False,
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            help="Viewer export of the smoothed vectors: atlas (atlas.parquet for Embedding "
            "Atlas) or projector (projector/ for the TensorFlow Projector). Repeatable.",
        ),
    ] = None,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Train word vectors on perturbed corpora; report every stability metric raw vs smoothed."""
    ui = UI(quiet=quiet, debug=debug, json_output=json_output)
    with ui.errors():
        _run(
            ui,
            corpus,
            out,
            overwrite=overwrite,
            report=not no_report,
            formats=formats,
            params={
                "runs": runs,
                "perturb": perturb,
                "graph": graph,
                "lexicon": None if lexicon is None else str(lexicon),
                "operator": operator,
                "alpha": alpha,
                "t": t,
                "n_neighbors": n_neighbors,
                "dim": dim,
                "max_vocab": max_vocab,
                "window": window,
                "min_count": min_count,
                "fraction": fraction,
                "own_knn": own_knn,
                "sweep": sweep,
                "random_state": random_state,
            },
        )


def _check(params: dict[str, Any]) -> None:
    from ..smoothing import filters
    from ..smoothing.protocol import PERTURBATIONS
    from ..smoothing.smoother import OPERATORS

    if params["runs"] < 2:
        msg = f"--runs {params['runs']} is too few: stability compares pairs, give --runs >= 2."
        raise InputError(msg)
    if params["perturb"] not in PERTURBATIONS:
        msg = (
            f"--perturb {params['perturb']!r} is not supported; choose {', '.join(PERTURBATIONS)}."
        )
        raise InputError(msg)
    if params["graph"] not in GRAPHS:
        msg = f"--graph {params['graph']!r} is not supported; choose {', '.join(GRAPHS)}."
        raise InputError(msg)
    if params["operator"] not in OPERATORS:
        msg = f"--operator {params['operator']!r} is not supported; choose {', '.join(OPERATORS)}."
        raise InputError(msg)
    if params["lexicon"] is not None and params["graph"] != "lexicon":
        msg = "--lexicon is used with --graph lexicon only."
        raise InputError(msg)
    try:
        filters.check_alpha(params["alpha"])
        filters.check_t(params["t"], integer=params["operator"] == "lazy_walk")
    except InputError as exc:
        name = "--alpha" if "alpha" in str(exc) else "--time"
        msg_0 = f"{name}: {exc}"
        raise InputError(msg_0) from exc
    for key, low in (
        ("dim", 1),
        ("max_vocab", 2),
        ("window", 1),
        ("min_count", 1),
        ("n_neighbors", 1),
    ):
        if params[key] < low:
            flag = "--" + key.replace("_", "-")
            msg = f"{flag} {params[key]} is out of range: it must be >= {low}."
            raise InputError(msg)


def _run(
    ui: UI,
    corpus: str,
    out: Path,
    *,
    overwrite: bool,
    report: bool,
    params: dict[str, Any],
    formats: list[str] | None = None,
) -> None:
    from ..smoothing import protocol
    from ..smoothing.graphs import read_pairs, wordnet_synonyms

    _check(params)
    chosen = parse_formats(formats, "stability")
    lex = None if params["lexicon"] is None else read_pairs(params["lexicon"])
    inputs = [] if corpus == "debian" else [corpus]
    inputs += [params["lexicon"]] if params["lexicon"] else []
    run = CommandRun(ui, "stability", out, inputs=inputs, overwrite=overwrite)
    with run.output() as tmp:
        with _progress.stage("read"):
            segments, input_info = read_segments(corpus, params["fraction"], params["random_state"])
        _check_stability_memory(sum(len(seg) for seg in segments), params)
        ui.info(
            f"stability of PPMI-SVD word vectors: {params['runs']} {params['perturb']} runs of "
            f"{len(segments):,} segments · graph {params['graph']} · {params['operator']}"
        )
        if lex is None and params["graph"] == "lexicon":
            with _progress.stage("lexicon"):
                lex = wordnet_synonyms()  # read once: the metrics and the word table share it
        with ui.capture_warnings():
            runs = protocol.train_runs(
                segments,
                runs=params["runs"],
                perturb=params["perturb"],
                reference=params["graph"] == "reference",
                dim=params["dim"],
                max_vocab=params["max_vocab"],
                window=params["window"],
                min_count=params["min_count"],
                seed=params["random_state"],
            )
            with _progress.stage("tasks"):
                tasks = protocol.load_tasks(runs.words)
            result = protocol.run_stability(
                runs,
                graph=params["graph"],
                operator=params["operator"],
                alpha=params["alpha"],
                t=params["t"],
                lexicon=lex,
                n_neighbors=params["n_neighbors"],
                own_knn=params["own_knn"],
                sweep=params["sweep"],
                tasks=tasks,
                random_state=params["random_state"],
            )
            with _progress.stage("words"):
                words, vectors = word_stability(
                    runs,
                    graph=params["graph"],
                    lexicon=lex,
                    operator=params["operator"],
                    alpha=params["alpha"],
                    t=params["t"],
                    n_neighbors=params["n_neighbors"],
                )
        with _progress.stage("write"):
            _write_tables(result, tmp)
            _write_words(words, vectors, tmp)
        outputs = ["metrics.csv", "overlap_at_k.csv", "sweep.csv", *_WORD_FILES, "manifest.json"]
        outputs += ["report.html"] if report else []
        outputs += ["atlas.parquet" if f == "atlas" else "projector/" for f in chosen]
        manifest = {
            **manifest_head("stability"),
            "input": input_info,
            "parameters": params,
            "results": {
                "n_shared_words": len(runs.words),
                "vocabulary_sizes": runs.info["vocabulary_sizes"],
                "n_tokens": runs.info["n_tokens"],
                "n_queries": result["n_queries"],
                "graph": result["graph_info"],
                "tasks": {
                    "similarity_pairs": {k: int(v[0].size) for k, v in tasks.sim.items()},
                    "supersense_nouns": 0 if tasks.cls_rows is None else int(tasks.cls_rows.size),
                },
                "summary": _summary(result["rows"]),
            },
            "versions": versions(),
            "outputs": outputs,
        }
        run.finish(manifest, report=_report_writer(out) if report else None, exports=chosen)
    run.summary(_summary_lines(result["rows"]))
    for fmt in chosen:
        ui.info(f"open the {fmt} export: {EXPORT_HINTS[fmt].format(dir=out)}")
    ui.info(f"wrote {out} ({run.seconds:.1f} s)")


def _report_writer(out: Path) -> Any:
    """``write_stability_report`` for the build directory, naming ``out`` as the source."""
    from ..plotting.stability_report import write_stability_report

    return lambda directory: write_stability_report(directory, source=str(out))


#: The per-word outputs (:func:`word_stability`), read by the report and ``diffembed export``.
_WORD_FILES = ("words.parquet", "vectors_raw.parquet", "vectors_smoothed.parquet")


def word_stability(
    runs: Any,
    *,
    graph: str = "lexicon",
    lexicon: Any = None,
    operator: str = "ppr",
    alpha: float = 0.5,
    t: float = 1.0,
    n_neighbors: int = 10,
    k: int = 10,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Per-word stability, raw vs smoothed, and run 1's vectors before and after smoothing.

    The runs are smoothed as :func:`~diffembed.smoothing.protocol.run_stability` smooths them
    (same graph and filter, rows L2-normalised first).

    Parameters
    ----------
    runs
        :class:`~diffembed.smoothing.protocol.StabilityRuns` (R >= 2 aligned runs).
    graph, lexicon, operator, alpha, t, n_neighbors
        The smoothing, as given to ``run_stability``.
    k
        Neighbours compared per word (capped at the words - 1).

    Returns
    -------
    table : dict
        ``id`` (word), ``rank`` (1 = most frequent), ``overlap@10_raw``,
        ``overlap@10_smoothed`` (mean over pairs of runs of the share of the ``k`` cosine
        neighbours they agree on), ``delta_overlap@10``, ``kept@10`` (share of run 1's raw
        neighbours kept by its smoothed vectors) and, for a shared graph, ``graph_degree``.
    vectors : dict
        ``{"raw": (n, d), "smoothed": (n, d)}`` float32, rows L2-normalised.
    """
    import scipy.sparse as sp

    from .. import metrics
    from ..smoothing import protocol

    raw = [_unit_rows(X) for X in runs.runs]
    smoothed, info = protocol.smooth_runs(
        raw,
        graph,
        words=runs.words,
        reference=runs.reference,
        lexicon=lexicon,
        operator=operator,
        alpha=alpha,
        t=t,
        n_neighbors=n_neighbors,
    )
    n = len(runs.words)
    k = int(min(k, n - 1))
    nn_raw = [metrics.knn_indices(X, k) for X in raw]  # one search per run and space
    nn_smoothed = [metrics.knn_indices(Y, k) for Y in smoothed]
    pairs = [(a, b) for a in range(len(raw)) for b in range(a + 1, len(raw))]

    def per_word(nn: list[np.ndarray]) -> np.ndarray:  # as metrics.pairwise_overlap
        return np.mean([metrics.neighbor_overlap(nn[a], nn[b]) for a, b in pairs], axis=0)

    before, after = per_word(nn_raw), per_word(nn_smoothed)
    kept = metrics.neighbor_overlap(nn_raw[0], nn_smoothed[0])
    table: dict[str, Any] = {
        "id": list(runs.words),
        "rank": np.arange(1, n + 1, dtype=np.int64),
        "overlap@10_raw": before.astype(np.float64),
        "overlap@10_smoothed": after.astype(np.float64),
        "delta_overlap@10": (after - before).astype(np.float64),
        "kept@10": kept.astype(np.float64),
    }
    shared = info.get("graph_for_reuse")
    if sp.issparse(shared):
        A = sp.csr_matrix(shared, copy=True)
        A.setdiag(0)
        A.eliminate_zeros()
        table["graph_degree"] = np.diff(A.indptr).astype(np.int64)
    vectors = {
        "raw": raw[0].astype(np.float32),
        "smoothed": _unit_rows(smoothed[0]).astype(np.float32),
    }
    return table, vectors


def _unit_rows(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norm == 0, 1.0, norm)


def _write_words(table: dict[str, Any], vectors: dict[str, np.ndarray], tmp: Path) -> None:
    import pyarrow as pa

    from ..io import writers

    writers.write_parquet_atomic(table, tmp / "words.parquet")
    for name, V in vectors.items():
        columns: dict[str, Any] = {"id": pa.array(table["id"], type=pa.string())}
        columns.update({f"v{j + 1}": pa.array(V[:, j]) for j in range(V.shape[1])})
        writers.write_parquet_atomic(columns, tmp / f"vectors_{name}.parquet")


def _write_tables(result: dict[str, Any], tmp: Path) -> None:
    from ..io import writers

    rows = result["rows"]
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    table = {k: [_cell(row.get(k)) for row in rows] for k in keys}
    writers.write_csv_atomic(table, tmp / "metrics.csv")
    curve: dict[str, list[Any]] = {"method": [], "k": [], "overlap": []}
    for row in rows:
        for key, value in row.items():
            if key.startswith("overlap@") and key[8:].isdigit():
                curve["method"].append(row["method"])
                curve["k"].append(int(key[8:]))
                curve["overlap"].append(float(value))
    writers.write_csv_atomic(curve, tmp / "overlap_at_k.csv")
    sweep = result["sweep"]
    skeys: list[str] = []
    for row in sweep:
        skeys += [k for k in row if k not in skeys]
    writers.write_csv_atomic(
        {k: [_cell(r.get(k)) for r in sweep] for k in skeys} if sweep else {"operator": []},
        tmp / "sweep.csv",
    )


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return float(value)
    return value


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    raw = rows[0]
    for row in rows[1:]:
        key = "own_knn" if row["method"].startswith("own") else "smoothed"
        out[key] = {
            "graph": row["graph"],
            "overlap@10": row["overlap@10"],
            "delta_overlap@10": row["overlap@10"] - raw["overlap@10"],
            "sd_pairs_raw": raw["overlap@10_sd_pairs"],
            **{
                f"delta_{m}": row[m] - raw[m]
                for m in ("ws353", "simlex", "disagreement", "supersense_accuracy")
                if m in row
            },
            "stabilises": bool(
                row["overlap@10"] - raw["overlap@10"] > 3 * max(raw["overlap@10_sd_pairs"], 0.001)
            ),
        }
    out["raw_overlap@10"] = raw["overlap@10"]
    return out


def _summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    raw = rows[0]
    lines = [
        f"raw: overlap@10 {raw['overlap@10']:.3f} (s.d. over pairs "
        f"{raw['overlap@10_sd_pairs']:.3f})"
    ]
    for row in rows[1:]:
        d = row["overlap@10"] - raw["overlap@10"]
        extra = "".join(
            f", {m} {row[m] - raw[m]:+.3f}" for m in ("ws353", "simlex", "disagreement") if m in row
        )
        stable = d > 3 * max(raw["overlap@10_sd_pairs"], 0.001)
        verdict = "stabilises" if stable else "does not stabilise (measured change only)"
        lines.append(
            f"{row['method']} over {row['graph']}: overlap@10 {row['overlap@10']:.3f} "
            f"({d:+.3f}){extra} → {verdict}"
        )
    return lines
