"""``diffembed latents decode``: generate from prompts, read h-space, score associations.

``diffembed latents decode MODEL --prompts prompts.txt -o OUT/`` generates every prompt (one
per line) with ``--seeds`` seeds, records the U-Net's mid-block output at ``--timesteps``
(:class:`~diffembed.latents.hspace.HSpaceRecorder`), captions the images with the model's
attribute classifier, and scores every concept (prompt word) × attribute (caption word) pair
(:func:`~diffembed.latents.associations.score_associations`). It writes, atomically (a failed
run leaves nothing; an existing directory is refused unless ``--overwrite``):

=====================  =======================================================================
``associations.csv``   ``concept, attribute, effect, p_value, q_value`` then ``n_concept,
                       n_rest, n_prompts_concept, n_prompts_rest, caption_rate_concept,
                       caption_rate_rest, caption_p_value, direction_sd, significant``: one
                       row per pair tested, by q then p.
``hspace.npy``         ``(n_samples, n_timesteps, d)`` float32 h-vectors.
``samples.parquet``    ``prompt, seed, prompt_id, caption`` and the predicted attribute of
                       every family (``shape, colour, size, position``), one row per sample.
``samples.png``        contact sheet: one row per prompt (up to 32), one column per seed
                       (up to 12).
``manifest.json``      command, model, prompts file (SHA-256), parameters, truncated prompts,
                       results (significant pairs), timings, versions, outputs.
``report.html``        the offline report (:mod:`diffembed.plotting.latents_report`).
=====================  =======================================================================
"""

from __future__ import annotations

import hashlib
import re
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import _progress
from ..exceptions import InputError
from .common import (
    Assets,
    Debug,
    Overwrite,
    Quiet,
    flag_hint,
    manifest_command,
    manifest_head,
    versions,
    write_manifest,
)
from .console import UI, format_seconds
from .guards import check_seed

__all__ = [
    "decode_command",
    "is_decode_output",
    "parse_timesteps",
    "read_prompts",
    "rebuild_decode_report",
]

METHODS = ("mean_difference", "ridge")
ALTERNATIVES = ("greater", "two-sided")
_FLAGS = {
    "seeds": "--seeds",
    "timesteps": "--timesteps",
    "num_inference_steps": "--steps",
    "guidance_scale": "--guidance",
    "n_permutations": "--permutations",
    "q_threshold": "--q",
    "min_effect": "--min-effect",
    "batch_size": "--batch-size",
}


def _hint(exc: BaseException, message: str) -> str:
    return flag_hint(message, _FLAGS)


def read_prompts(path: Path) -> list[str]:
    """Prompts of a text file: one per line, blank lines and ``#`` comments skipped.

    Raises
    ------
    InputError
        A missing or unreadable file, or one without any prompt.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"The prompts file {path} does not exist. Give a text file with one prompt per line."
        raise InputError(msg)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"Cannot read the prompts file {path} as UTF-8 text ({exc})."
        raise InputError(msg) from exc
    prompts = [line.strip() for line in text.splitlines()]
    prompts = [p for p in prompts if p and not p.startswith("#")]
    if not prompts:
        msg = (
            f"The prompts file {path} has no prompt (it is empty or only blank lines and # "
            "comments). Write one prompt per line, e.g. 'a square', 'a circle', ..."
        )
        raise InputError(msg)
    return prompts


def parse_timesteps(value: str | None) -> list[int] | None:
    """``"980,500,20"`` → ``[980, 500, 20]``; ``None``/``"all"`` → None (every timestep)."""
    if value is None or value.strip().lower() in ("", "all"):
        return None
    out = []
    for part in re.split(r"[,\s]+", value.strip()):
        if not re.fullmatch(r"\d+", part):
            msg = (
                f"--timesteps {value!r} is not valid: give integers separated by commas "
                "(e.g. 980,500,20) or 'all'."
            )
            raise InputError(msg)
        out.append(int(part))
    return out


def decode_command(
    model: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL",
            help="Model directory (diffembed latents train) or a local diffusers pipeline folder.",
            show_default=False,
        ),
    ],
    prompts_file: Annotated[
        Path, typer.Option("--prompts", help="Text file: one prompt per line.", show_default=False)
    ] = ...,  # type: ignore[assignment]
    out: Annotated[Path, typer.Option("-o", "--out", help="Output directory to create.")] = ...,  # type: ignore[assignment]
    seeds: Annotated[int, typer.Option("--seeds", help="Samples (seeds 0..k-1) per prompt.")] = 8,
    timesteps: Annotated[
        str | None,
        typer.Option("--timesteps", help="Timesteps to record, e.g. 980,500,20 (default: all)."),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Denoising steps.")] = 50,
    guidance: Annotated[
        float, typer.Option("--guidance", help="Classifier-free guidance scale (1: none).")
    ] = 3.0,
    method: Annotated[
        str, typer.Option("--method", help="Attribute directions: mean_difference or ridge.")
    ] = "mean_difference",
    alpha: Annotated[float, typer.Option("--alpha", help="Ridge penalty (--method ridge).")] = 1.0,
    permutations: Annotated[
        int, typer.Option("--permutations", help="Prompt-level permutations per pair.")
    ] = 2000,
    q: Annotated[float, typer.Option("--q", help="False-discovery rate threshold.")] = 0.05,
    min_effect: Annotated[
        float, typer.Option("--min-effect", help="Least Cohen's d called significant.")
    ] = 0.5,
    alternative: Annotated[
        str, typer.Option("--alternative", help="greater (positive associations) or two-sided.")
    ] = "greater",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Samples per U-Net batch.")] = 64,
    random_state: Annotated[
        int, typer.Option(help="Seed of the permutations.", callback=check_seed)
    ] = 0,
    overwrite: Overwrite = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip report.html.")] = False,
    allow_pickle_weights: Annotated[
        bool,
        typer.Option(
            "--allow-pickle-weights",
            help="Load pickled weights (*.bin, *.ckpt) when a folder has no safetensors. "
            "Unpickling runs code: only for a source you trust.",
        ),
    ] = False,
    quiet: Quiet = False,
    assets: Assets = "inline",
    debug: Debug = False,
) -> None:
    """Decode a diffusion model's h-space: associations between prompt and caption words."""
    ui = UI(quiet=quiet, debug=debug)
    with ui.errors(hint=_hint):
        params = {
            "seeds": seeds,
            "timesteps": parse_timesteps(timesteps),
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "method": method,
            "alpha": alpha,
            "n_permutations": permutations,
            "q_threshold": q,
            "min_effect": min_effect,
            "alternative": alternative,
            "batch_size": batch_size,
            "random_state": random_state,
        }
        _check_params(params)
        prompts = read_prompts(prompts_file)
        _run_decode(ui, model, prompts_file, prompts, out, overwrite, not no_report, params,
                    allow_pickle_weights=allow_pickle_weights)  # fmt: skip


def _check_params(p: dict[str, Any]) -> None:
    if p["method"] not in METHODS:
        msg = f"--method {p['method']!r} is not valid: choose mean_difference or ridge."
        raise InputError(msg)
    if p["alternative"] not in ALTERNATIVES:
        msg = f"--alternative {p['alternative']!r} is not valid: choose greater or two-sided."
        raise InputError(msg)
    for name, low in (("seeds", 1), ("n_permutations", 1), ("batch_size", 1),
                      ("num_inference_steps", 1)):  # fmt: skip
        if p[name] < low:
            msg = f"{name}={p[name]} must be at least {low}."
            raise InputError(msg)
    if not 0 < p["q_threshold"] < 1:
        msg = f"q_threshold={p['q_threshold']} must lie in (0, 1); 0.05 is usual."
        raise InputError(msg)
    if not p["guidance_scale"] >= 1:
        msg = f"guidance_scale={p['guidance_scale']} must be >= 1 (1: no guidance)."
        raise InputError(msg)


def _truncated(obj: Any, prompts: list[str]) -> tuple[list[int], int | None]:
    """Indices of prompts longer than the text encoder's limit, and that limit."""
    encoder = getattr(obj, "encoder", None)
    if encoder is not None and hasattr(encoder, "encode"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            encoder.encode(prompts)  # cached: sampling reuses the embeddings
        return list(getattr(encoder, "truncated_", []) or []), getattr(encoder, "max_length", None)
    tokenizer = getattr(obj, "tokenizer", None)
    if tokenizer is not None:
        limit = int(tokenizer.model_max_length)
        ids = tokenizer(prompts, truncation=False)["input_ids"]
        return [i for i, t in enumerate(ids) if len(t) > limit], limit
    return [], None


def _run_decode(
    ui: UI,
    model_path: Path,
    prompts_file: Path,
    prompts: list[str],
    out: Path,
    overwrite: bool,
    report: bool,
    params: dict[str, Any],
    *,
    allow_pickle_weights: bool = False,
) -> None:
    from ..io import writers
    from ..latents.analysis import analyse
    from ..latents.hspace import _resolve, extract_hspace

    start = time.perf_counter()
    with ui.stages() as timings, writers.output_directory(
        out, overwrite, inputs=[model_path, prompts_file]
    ) as tmp:
        with _progress.stage("load"):
            kind, obj = _resolve(model_path, allow_pickle_weights)
        classifier = getattr(obj, "classifier", None)
        if classifier is None:
            msg = (
                f"{model_path} has no attribute classifier, so the generated images cannot be "
                "captioned and there are no attribute words to score. Decode a model trained "
                "with `diffembed latents train` (it carries its classifier), or call "
                "diffembed.latents.extract_hspace and score_associations(h, prompts, captions) "
                "in Python with captions of your own."
            )
            raise InputError(msg)
        truncated, limit = _truncated(obj, prompts)
        if truncated:
            shown = "; ".join(repr(prompts[i]) for i in truncated[:3])
            ui.warn(
                f"{len(truncated)} prompt{'s' if len(truncated) > 1 else ''} longer than the "
                f"text encoder's {limit} tokens {'were' if len(truncated) > 1 else 'was'} "
                f"truncated: {shown}{' ...' if len(truncated) > 3 else ''}"
            )
        n = len(prompts) * params["seeds"]
        ui.info(
            f"decoding {Path(model_path).name}: {len(prompts)} prompts × {params['seeds']} seeds "
            f"= {n} samples, {params['num_inference_steps']} steps, guidance "
            f"{params['guidance_scale']:g}"
        )
        with _progress.stage("sample"), ui.capture_warnings(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*were truncated")  # reported above
            result = extract_hspace(
                obj, prompts, seeds=params["seeds"], timesteps=params["timesteps"],
                num_inference_steps=params["num_inference_steps"],
                guidance_scale=params["guidance_scale"], batch_size=params["batch_size"],
            )  # fmt: skip
        families = _families(obj)
        with _progress.stage("associations"):
            analysis = analyse(
                result, families=families, method=params["method"], alpha=params["alpha"],
                n_permutations=params["n_permutations"], alternative=params["alternative"],
                q_threshold=params["q_threshold"], min_effect=params["min_effect"],
                random_state=params["random_state"],
            )  # fmt: skip
        for message in analysis.warnings:
            ui.warn(message)
        table = analysis.tables["associations"]
        with _progress.stage("write"):
            for name, extra in analysis.tables.items():
                writers.write_csv_atomic(extra, tmp / f"{name}.csv")
            writers.write_npy_atomic(result.h, tmp / "hspace.npy")
            from ..io.writers import write_parquet_atomic
            from ..latents.hspace import _arrow_columns

            write_parquet_atomic(_arrow_columns(result.table), tmp / "samples.parquet")
            outputs = [f"{name}.csv" for name in analysis.tables]
            outputs += ["hspace.npy", "samples.parquet"]
            if result.images is not None:
                from ..plotting.latents_report import contact_sheet, png_bytes

                sheet = contact_sheet(result.images, result.table["prompt_id"])
                with writers.atomic_path(tmp / "samples.png") as path:
                    path.write_bytes(png_bytes(sheet))
                outputs.append("samples.png")
        outputs += ["manifest.json"] + (["report.html"] if report else [])
        rows = table.to_pylist()
        manifest = {
            **manifest_head("latents decode"),
            "input": {
                "model": str(model_path),
                "model_kind": kind,
                "prompts_file": str(prompts_file),
                "prompts_sha256": hashlib.sha256(Path(prompts_file).read_bytes()).hexdigest(),
                "n_prompts": len(prompts),
            },
            "parameters": {**params, "timesteps_recorded": result.timesteps},
            "truncated_prompts": [prompts[i] for i in truncated],
            "encoder_max_tokens": limit,
            "results": {
                "n_samples": len(result),
                "h_shape": list(result.h.shape),
                **analysis.summary,
                "families": families,
                "model_config": _model_summary(obj),
            },
            "timings": {},
            "versions": {**versions(), **_torch_versions()},
            "outputs": outputs,
        }
        write_manifest(manifest, tmp, timings, start)
        if report:
            from ..plotting.latents_report import write_latents_report

            with _progress.stage("report"):
                write_latents_report(tmp, source=str(out))
            write_manifest(manifest, tmp, timings, start)
    ui.show(_summary(rows, out, outputs, len(result), time.perf_counter() - start))


def _families(obj: Any) -> dict[str, list[str]] | None:
    """The attribute families of the model's classifier (the shapes families by default)."""
    classifier = getattr(obj, "classifier", None)
    families = getattr(classifier, "families", None) or getattr(classifier, "attributes", None)
    if isinstance(families, dict) and all(not isinstance(v, str) for v in families.values()):
        return {str(k): [str(x) for x in v] for k, v in families.items()}
    from ..latents.shapes import ATTRIBUTES

    return {k: list(v) for k, v in ATTRIBUTES.items()}


def _model_summary(obj: Any) -> dict[str, Any]:
    config = getattr(obj, "config", None)
    if isinstance(config, dict):
        keep = {k: config[k] for k in ("dataset", "training", "image_size") if k in config}
        return keep
    return {}


def _torch_versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for package in ("torch", "diffusers"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def _summary(rows: list[dict], out: Path, outputs: list[str], n: int, seconds: float) -> Table:
    table = Table(title="h-space associations", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("samples", str(n))
    table.add_row("pairs tested", str(len(rows)))
    sig = [r for r in rows if r["significant"]]
    table.add_row(
        "significant",
        ", ".join(f"{r['concept']} → {r['attribute']} (d={r['effect']:.2f}, q={r['q_value']:.3g})"
                  for r in sig[:8]) or "none",
    )  # fmt: skip
    for name in outputs:
        table.add_row("output", str(out / name))
    table.add_row("total time", format_seconds(seconds))
    return table


def is_decode_output(out: Path) -> bool:
    """Whether ``out/manifest.json`` names the command ``latents decode``."""
    return manifest_command(out) == "latents decode"




def rebuild_decode_report(ui: UI, out: Path) -> None:
    """``diffembed report OUT/`` for a decode directory: rewrite ``OUT/report.html``, no rerun."""
    import json

    from ..io.writers import write_json_atomic
    from ..plotting.latents_report import write_latents_report

    with ui.stages(), _progress.stage("report"):
        write_latents_report(out)
    path = Path(out) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if "report.html" not in manifest.get("outputs", []):
        manifest.setdefault("outputs", []).append("report.html")
        write_json_atomic(manifest, path)
    ui.info(f"wrote {Path(out) / 'report.html'}")
