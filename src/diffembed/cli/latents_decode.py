"""``diffembed latents decode``: generate from prompts, read h-space, score associations.

``diffembed latents decode MODEL --prompts prompts.txt -o OUT/`` generates every prompt (one
per line) with ``--seeds`` seeds on ``--device`` in ``--dtype``, records the U-Net's mid-block
output at ``--timesteps`` (:class:`~diffembed.latents.hspace.HSpaceRecorder`, reduced by
``--reduce mean|flatten|pool:K``), captions the images with ``--captioner`` (``auto``: the
model's attribute classifier, else none; ``classifier``; ``clip:DIR`` over ``--vocabulary``;
``none``: prompt-only) and writes every table of
:func:`~diffembed.latents.analysis.analyse`. MODEL is a diffembed model directory or any
local diffusers pipeline folder whose denoiser is a ``UNet2DConditionModel``
(:mod:`diffembed.latents.pipelines`; safetensors only unless ``--allow-pickle-weights``).

Sampling streams into the checkpoint ``OUT.partial/`` (:mod:`diffembed.latents.streaming`):
one batch of images in memory at a time; an interrupted run keeps its finished batches there
and ``--resume`` makes only the rest. The outputs are committed atomically (a failed run
leaves nothing in OUT; an existing directory is refused unless ``--overwrite``):

=====================  =======================================================================
``NAME.csv``           every table :func:`~diffembed.latents.analysis.analyse` returns
                       (``associations.csv`` at least, when the images were captioned).
``hspace.npy``         ``(n_samples, n_timesteps, d)`` float32 h-vectors.
``samples.parquet``    ``prompt, seed, prompt_id``, and with a captioner ``caption`` and the
                       predicted word of every family, one row per sample.
``images/NNNNNN.png``  every sample; ``NNNNNN`` is its row in ``samples.parquet``.
``samples.png``        contact sheet: one row per prompt (up to 32), one column per seed
                       (up to 12), read from ``images/``.
``manifest.json``      command, model, prompts file (SHA-256), parameters, truncated prompts,
                       results (significant pairs, captioner, families), timings, versions.
``report.html``        the offline report (:mod:`diffembed.plotting.latents_report`), when
                       there are associations.
=====================  =======================================================================
"""

from __future__ import annotations

import hashlib
import math
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
    Json,
    NoReport,
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
EVIDENCE = ("hspace", "captions", "both")
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
    "reduce": "--reduce",
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
    seeds: Annotated[int, typer.Option("--seeds", help="Samples (seeds 0..k-1) per prompt.")] = 16,
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
    captioner: Annotated[
        str,
        typer.Option(
            "--captioner",
            help="Captions of the images: auto (the model's classifier, else none), "
            "classifier, clip:DIR (zero-shot CLIP over --vocabulary) or none (prompt-only).",
        ),
    ] = "auto",
    vocabulary: Annotated[
        Path | None,
        typer.Option("--vocabulary", help="attributes.json (families → words) for clip:DIR."),
    ] = None,
    device: Annotated[
        str, typer.Option("--device", help="auto (CUDA when available), cpu, cuda or cuda:N.")
    ] = "auto",
    dtype: Annotated[
        str,
        typer.Option("--dtype", help="float32, float16 (CUDA only) or bfloat16."),
    ] = "float32",
    reduce: Annotated[
        str,
        typer.Option(
            "--reduce",
            help="Mid-block map → vector: pool:K (K×K cells; pool:2 keeps left/right and "
            "top/bottom), mean (spatial mean, 4× smaller, erases position) or flatten.",
        ),
    ] = "pool:2",
    evidence: Annotated[
        str, typer.Option("--evidence", help="Associations from hspace, captions or both.")
    ] = "both",
    adherence_threshold: Annotated[
        float,
        typer.Option("--adherence-threshold", help="Least prompt adherence of a usable prompt."),
    ] = 0.8,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted run from OUT.partial/ (same model, prompts, options).",
        ),
    ] = False,
    random_state: Annotated[
        int, typer.Option(help="Seed of the permutations.", callback=check_seed)
    ] = 0,
    overwrite: Overwrite = False,
    no_report: NoReport = False,
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
    json_output: Json = False,
) -> None:
    """Decode a diffusion model's h-space: associations between prompt and caption words."""
    ui = UI(quiet=quiet, debug=debug, json_output=json_output)
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
            "captioner": captioner.strip(),
            "vocabulary": None if vocabulary is None else str(vocabulary),
            "device": device,
            "dtype": dtype,
            "reduce": reduce,
            "evidence": evidence,
            "adherence_threshold": adherence_threshold,
        }
        _check_params(params)
        prompts = read_prompts(prompts_file)
        _run_decode(ui, model, prompts_file, prompts, out, overwrite, not no_report, params,
                    allow_pickle_weights=allow_pickle_weights, resume=resume)  # fmt: skip


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
    if p["evidence"] not in EVIDENCE:
        msg = f"--evidence {p['evidence']!r} is not valid: choose hspace, captions or both."
        raise InputError(msg)
    if not 0 <= p["adherence_threshold"] <= 1:
        msg = (
            f"--adherence-threshold {p['adherence_threshold']} must lie in [0, 1] (the share of "
            "a prompt's samples whose captions show what it asks for); 0.8 is the default."
        )
        raise InputError(msg)
    spec = p["captioner"]
    if spec not in ("auto", "classifier", "none") and not (
        spec.startswith("clip:") and spec[5:].strip()
    ):
        msg = (
            f"--captioner {spec!r} is not valid: choose auto, classifier, clip:DIR (a local "
            "CLIP folder, e.g. clip:models/clip) or none."
        )
        raise InputError(msg)
    if p["vocabulary"] is not None and not Path(p["vocabulary"]).is_file():
        msg = f"--vocabulary {p['vocabulary']} does not exist: give an attributes.json file."
        raise InputError(msg)
    from ..latents.hspace import parse_reduce

    parse_reduce(p["reduce"])


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
    resume: bool = False,
) -> None:
    from ..io import writers
    from ..latents import hspace
    from ..latents.streaming import Checkpoint, partial_path, stream_hspace
    from .latents_decode_steps import (
        _analyse,
        _checkpoint_kept,
        _progress_lines,
        _run_key,
        _setup,
        _write_sheet,
    )

    start = time.perf_counter()
    vocabulary = params.get("vocabulary")
    inputs = [model_path, prompts_file, *([vocabulary] if vocabulary else [])]
    if params["captioner"].startswith("clip:"):
        inputs.append(params["captioner"][5:])  # -o never replaces the CLIP folder either
    with ui.stages() as timings, writers.output_directory(out, overwrite, inputs=inputs) as tmp:
        setup = _setup(ui, model_path, prompts, params, allow_pickle_weights)
        obj, captioner = setup["obj"], setup["captioner"]
        n = len(prompts) * params["seeds"]
        key = _run_key(model_path, prompts, params, setup)
        ckpt = Checkpoint.open(partial_path(out), key, n, params["batch_size"], resume=resume)
        if resume:
            ui.info(
                f"resuming {ckpt.path}: {ckpt.resumed} of {n} samples already made"
                if ckpt.resumed else f"nothing to resume in {ckpt.path}: starting a new run"
            )  # fmt: skip
        ui.info(
            f"decoding {Path(model_path).name} on {setup['device']} ({params['dtype']}): "
            f"{len(prompts)} prompts × {params['seeds']} seeds = {n} samples, "
            f"{params['num_inference_steps']} steps, guidance {params['guidance_scale']:g}, "
            f"captioner {captioner.name if captioner is not None else 'none'}"
        )
        with _checkpoint_kept(ui, ckpt):
            with _progress.stage("sample"), ui.capture_warnings(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*were truncated")  # reported above
                result = stream_hspace(
                    setup["kind"], obj, prompts, ckpt, seeds=list(range(params["seeds"])),
                    timesteps=setup["timesteps"], num_inference_steps=params["num_inference_steps"],
                    guidance_scale=params["guidance_scale"], reduce=params["reduce"],
                    captioner=captioner, progress=_progress_lines(ui),
                )  # fmt: skip
            families = captioner.families if captioner is not None else None
            analysis = _analyse(ui, result, families, params)
            with _progress.stage("write"):
                for name, extra in analysis.tables.items():
                    writers.write_csv_atomic(extra, tmp / f"{name}.csv")
                outputs = [f"{name}.csv" for name in analysis.tables]
                outputs += ckpt.export(tmp)
                writers.write_parquet_atomic(hspace._arrow_columns(result.table),
                                             tmp / "samples.parquet")  # fmt: skip
                outputs.append("samples.parquet")
                if _write_sheet(tmp, result.table["prompt_id"]):
                    outputs.append("samples.png")
            if report and "associations" not in analysis.tables:
                ui.info("no report.html: the report shows associations, and there are none.")
                report = False
            outputs += ["manifest.json"] + (["report.html"] if report else [])
            manifest = {
                **manifest_head("latents decode"),
                "input": {
                    "model": str(model_path),
                    "model_kind": setup["kind"],
                    "prompts_file": str(prompts_file),
                    "prompts_sha256": hashlib.sha256(Path(prompts_file).read_bytes()).hexdigest(),
                    "n_prompts": len(prompts),
                },
                "parameters": {
                    **params,
                    "timesteps_recorded": result.timesteps,
                    "device_used": setup["device"],
                },
                "truncated_prompts": setup["truncated"],
                "encoder_max_tokens": setup["limit"],
                "results": {
                    "n_samples": len(result),
                    "h_shape": list(result.h.shape),
                    "resumed_samples": ckpt.resumed,
                    **analysis.summary,
                    "captioner": captioner.name if captioner is not None else "none",
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
            n_result = len(result)
            del result
    kept = ckpt.remove()
    if kept:
        ui.warn(f"{kept[0]} was left in place: it holds files diffembed did not write.")
    rows = analysis.tables["associations"].to_pylist() if "associations" in analysis.tables else []
    ui.show(_summary(rows, out, outputs, n_result, time.perf_counter() - start))
    from .skeleton import summary_from_manifest

    ui.summary(summary_from_manifest(manifest, out))


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
    table.add_row("significant", ", ".join(_significant(sig[:8])) or "none")
    # the caption test holds but the h-space test, run, does not: not significant with the
    # default evidence, yet what a user looking at the images would call an association
    unconfirmed = [r for r in rows if r.get("agreement") == "captions only"
                   and not r["significant"] and math.isfinite(r["effect_hspace"])]
    if unconfirmed:
        table.add_row(
            "captions only, not confirmed in h-space",
            ", ".join(f"{r['concept']} → {r['attribute']} (captions "
                      f"{r['caption_rate_concept']:.2f} vs {r['caption_rate_rest']:.2f}, "
                      f"h-space d={r['effect_hspace']:.2f})" for r in unconfirmed[:8]),
        )  # fmt: skip
    for name in outputs:
        table.add_row("output", str(out / name))
    table.add_row("total time", format_seconds(seconds))
    return table


def _significant(sig: list[dict]) -> list[str]:
    """``concept → attribute (d=…, q=…)`` for each significant pair; a pair whose reverse came
    earlier says so (:func:`~diffembed.latents.associations.reverses`)."""
    from ..latents.associations import reverses

    out = []
    for r, rev in zip(sig, reverses([(r["concept"], r["attribute"]) for r in sig]), strict=True):
        text = f"{r['concept']} → {r['attribute']} (d={r['effect']:.2f}, q={r['q_value']:.3g}"
        out.append(text + (f"; the reverse of {rev[0]} → {rev[1]})" if rev else ")"))
    return out


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
