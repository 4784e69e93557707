"""``diffembed latents words``: the words read back out of a decode run's h-space.

``diffembed latents words OUT/ --concept square`` reads the folder written by ``diffembed
latents decode`` (``hspace.npy``, ``samples.parquet``, ``manifest.json`` with the attribute
families in ``results.families``), reads a direction for every vocabulary word
(:func:`~diffembed.latents.words.word_directions`) and prints, for each ``--concept`` (a word
of the prompts) and each ``--sample`` (a row of ``hspace.npy``), the vocabulary ranked by
cosine (:func:`~diffembed.latents.words.rank_words`). With neither, every concept is ranked.
The ranking is a table on stdout, or with ``--json`` one JSON object; messages go to stderr.
Nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..exceptions import InputError
from .common import Debug, Quiet
from .console import UI

__all__ = ["read_decode_folder", "words_command"]

SOURCES = ("prompts", "captions", "both")


def read_decode_folder(out: Path) -> tuple[np.ndarray, dict[str, np.ndarray], dict | None]:
    """``(h, samples table, families)`` of a ``diffembed latents decode`` output folder.

    Every file is checked before its data is read (``.npy`` header against the file size,
    Parquet row count against h, a size-capped manifest).

    Raises
    ------
    InputError
        A missing folder or file, or a file that is not what decode writes.
    """
    import pyarrow.parquet as pq

    from ..io.safe_files import read_json_capped, read_npy_checked

    out = Path(out)
    if not out.is_dir():
        msg = f"{out} is not a folder: give the output folder of `diffembed latents decode`."
        raise InputError(msg)
    for name in ("hspace.npy", "samples.parquet", "manifest.json"):
        if not (out / name).is_file():
            msg = (
                f"{out} has no {name}, so it is not the output folder of `diffembed latents "
                "decode` (which writes hspace.npy, samples.parquet and manifest.json)."
            )
            raise InputError(msg)
    manifest = read_json_capped(out / "manifest.json")
    command = manifest.get("command") if isinstance(manifest, dict) else None
    if command != "latents decode":
        msg = (
            f"{out / 'manifest.json'} records the command {command!r}, not 'latents decode': "
            "give the output folder of `diffembed latents decode`."
        )
        raise InputError(msg)
    h = read_npy_checked(out / "hspace.npy", (None, None, None))
    try:
        table = pq.read_table(out / "samples.parquet")
    except (OSError, ValueError) as exc:
        msg = f"{out / 'samples.parquet'} is not a readable Parquet file ({exc})."
        raise InputError(msg) from exc
    if table.num_rows != h.shape[0]:
        msg = (
            f"{out / 'samples.parquet'} has {table.num_rows} rows but hspace.npy "
            f"{h.shape[0]} samples: the folder is incomplete; run decode again."
        )
        raise InputError(msg)
    if "prompt" not in table.column_names:
        msg = f"{out / 'samples.parquet'} has no 'prompt' column; run decode again."
        raise InputError(msg)
    columns = {
        c: np.asarray(table.column(c).to_numpy(zero_copy_only=False)) for c in table.column_names
    }
    families = (manifest.get("results") or {}).get("families")
    if not (
        isinstance(families, dict)
        and all(isinstance(v, list) and all(isinstance(w, str) for w in v)
                for v in families.values())
    ):  # fmt: skip
        families = None
    return h, columns, families


class _Result:
    """The minimum of an HSpaceResult that word_directions reads."""

    def __init__(self, h: np.ndarray, table: dict[str, np.ndarray]) -> None:
        self.h, self.table = h, table


def words_command(
    out: Annotated[
        Path,
        typer.Argument(
            metavar="OUT", help="Output folder of `diffembed latents decode`.", show_default=False
        ),
    ],
    concept: Annotated[
        list[str] | None,
        typer.Option(
            "--concept",
            "-c",
            help="A word of the prompts to decode (repeat for several). Default: every "
            "concept, unless --sample is given.",
            show_default=False,
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Words shown per concept or sample.")] = 10,
    sample: Annotated[
        list[int] | None,
        typer.Option(
            "--sample",
            help="Rank the words for this sample (row of hspace.npy; repeat for several).",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="Word directions from prompts, captions or both (both: prompts alone "
            "when the run has no captions).",
        ),
    ] = "both",
    timestep: Annotated[
        int | None,
        typer.Option(
            "--timestep",
            help="Use one recorded timestep (index into hspace.npy's second axis). Default: "
            "all, each weighted equally.",
            show_default=False,
        ),
    ] = None,
    same_family: Annotated[
        bool,
        typer.Option("--same-family", help="Also rank the other words of a concept's own family."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")
    ] = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Print the vocabulary words closest to a concept's (or a sample's) h-space direction."""
    ui = UI(quiet=quiet, debug=debug)
    with ui.errors():
        if source not in SOURCES:
            msg = f"--source {source!r} is not valid: choose prompts, captions or both."
            raise InputError(msg)
        if top < 1:
            msg = f"--top {top} must be at least 1."
            raise InputError(msg)
        payload = _decode_words(ui, out, concept, top, sample, source, timestep, same_family)
        if as_json:
            typer.echo(json.dumps(payload, indent=2, allow_nan=False))
        else:
            _print_tables(payload)


def _decode_words(
    ui: UI,
    out: Path,
    concepts: list[str] | None,
    top: int,
    samples: list[int] | None,
    source: str,
    timestep: int | None,
    same_family: bool,
) -> dict[str, Any]:
    from ..latents.words import rank_words, word_directions

    h, table, families = read_decode_folder(out)
    n = h.shape[0]
    for s in samples or []:
        if not 0 <= s < n:
            msg = f"--sample {s} is not a sample of {out}: it has {n} (0 to {n - 1})."
            raise InputError(msg)
    if timestep is not None and not -h.shape[1] <= timestep < h.shape[1]:
        msg = f"--timestep {timestep} is not valid: hspace.npy has {h.shape[1]} timesteps."
        raise InputError(msg)
    captioned = "caption" in table
    if not captioned and source == "both":
        ui.info("the run has no captions: word directions from the prompts only")
    if families is None:
        ui.info("the manifest has no attribute families: every non-stop word is a word")
    dirs = word_directions(
        _Result(h, table),
        vocabulary=families,
        source=source,
        timestep=timestep,  # type: ignore[arg-type]
    )
    wanted = [c.lower() for c in concepts or []]
    if not wanted and not samples:
        wanted = list(dirs.concepts)
    payload: dict[str, Any] = {
        "folder": str(out),
        "source": source,
        "n_samples": int(n),
        "timestep": timestep,
        "concepts": {},
        "samples": {},
    }
    if wanted:
        ranking = rank_words(dirs, concept=wanted, top=top, same_family=same_family)
        for q, rows in _by_query(ranking).items():
            i = dirs.concept_index[q]
            payload["concepts"][q] = {
                "family": dirs.concept_families[i],
                "n_samples": int(dirs.concept_counts[i]),
                "matched": float(dirs.matched[i]),
                "words": rows,
            }
    if samples:
        ranking = rank_words(dirs, h=h[samples], top=top)
        for s, rows in zip(samples, _by_query(ranking).values(), strict=True):
            payload["samples"][str(s)] = {
                "prompt": str(table["prompt"][s]),
                "caption": str(table["caption"][s]) if captioned else None,
                "words": rows,
            }
    return payload


def _by_query(ranking: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in ranking.rows("query"):
        q = row.pop("query")
        c = row["cosine"]
        row["cosine"] = round(c, 6) if np.isfinite(c) else None
        out.setdefault(q, []).append(row)
    return out


def _print_tables(payload: dict[str, Any]) -> None:
    console = Console(highlight=False)
    titled = [
        (f"{c!r} ({v['family'] or 'no family'}, {v['n_samples']} samples, "
         f"{v['matched']:.0%} of its prompts matched)", v["words"])
        for c, v in payload["concepts"].items()
    ] + [
        (f"sample {s}: {v['prompt']!r}" + (f" → {v['caption']!r}" if v["caption"] else ""),
         v["words"])
        for s, v in payload["samples"].items()
    ]  # fmt: skip
    for title, rows in titled:
        table = Table(title=escape(f"words of {title}"), title_justify="left")
        for name, justify in (("rank", "right"), ("word", "left"), ("family", "left"),
                              ("cosine", "right"), ("source", "left")):  # fmt: skip
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for r in rows:
            cos = "nan" if r["cosine"] is None else f"{r['cosine']:+.3f}"
            table.add_row(str(r["rank"]), escape(r["word"]), escape(r["family"] or ""), cos,
                          r["source"])  # fmt: skip
        console.print(table)
