"""The steps of ``diffembed latents decode`` (:mod:`.latents_decode`): setup, checkpoint, analysis.

Kept apart so that the command module stays a readable outline: :func:`_setup` resolves the
device, dtype, model and captioner; :func:`_run_key` is what a ``--resume`` must share with the
interrupted run; :func:`_checkpoint_kept` keeps (or drops) ``OUT.partial`` when a run fails;
:func:`_analyse` tolerates a prompt-only run; :func:`_write_sheet` builds ``samples.png`` from
the PNG shards.
"""

from __future__ import annotations

import contextlib
import hashlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import _progress
from ..exceptions import InputError
from .console import UI

__all__: list[str] = []


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


@contextlib.contextmanager
def _checkpoint_kept(ui: UI, ckpt: Any) -> Iterator[None]:
    """On any failure keep a checkpoint with finished batches (and say so), else remove it."""
    try:
        yield
    except BaseException:
        if not ckpt.done:
            ckpt.remove()
        elif len(ckpt.done) < ckpt.n_batches:
            ui.warn(
                f"{ckpt.n_done} of {ckpt.n_samples} samples are kept in {ckpt.path}: rerun the "
                "same command with --resume to continue from there."
            )
        else:
            ui.warn(
                f"all {ckpt.n_samples} samples are kept in {ckpt.path}: rerun with --resume to "
                "skip the sampling (the analysis options may change)."
            )
        raise


def _setup(
    ui: UI, model_path: Path, prompts: list[str], params: dict[str, Any], allow_pickle: bool
) -> dict[str, Any]:
    """Device, dtype, the model, the captioner, checked timesteps, truncated prompts."""
    from ..latents import hspace
    from ..latents.captioners import make_captioner
    from ..latents.pipelines import resolve_device, resolve_dtype

    device = resolve_device(params["device"])
    torch_dtype = resolve_dtype(params["dtype"], device)
    with _progress.stage("load"):
        kind, obj = hspace._resolve(model_path, allow_pickle, device, torch_dtype)
        spec = params["captioner"]
        if spec == "auto" and getattr(obj, "classifier", None) is None:
            ui.info(
                f"{Path(model_path).name} has no attribute classifier: prompt-only run "
                "(--captioner none). Pass --captioner clip:DIR --vocabulary attributes.json "
                "to caption the images."
            )
        if params["vocabulary"] and not spec.startswith("clip:"):
            ui.warn(f"--vocabulary is used only with --captioner clip:DIR; ignored with {spec}.")
        captioner = make_captioner(spec, obj, vocabulary=params["vocabulary"], device=device,
                                   dtype=params["dtype"])  # fmt: skip
    truncated, limit = _truncated(obj, prompts)
    if truncated:
        shown = "; ".join(repr(prompts[i]) for i in truncated[:3])
        ui.warn(
            f"{len(truncated)} prompt{'s' if len(truncated) > 1 else ''} longer than the "
            f"text encoder's {limit} tokens {'were' if len(truncated) > 1 else 'was'} "
            f"truncated: {shown}{' ...' if len(truncated) > 3 else ''}"
        )
    timesteps = hspace.check_timesteps(params["timesteps"], obj.scheduler,
                                       params["num_inference_steps"])  # fmt: skip
    return {"kind": kind, "obj": obj, "captioner": captioner, "device": device,
            "timesteps": timesteps, "truncated": [prompts[i] for i in truncated],
            "limit": limit}  # fmt: skip


def _sha256(path: str | None) -> str | None:
    return None if path is None else hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _fingerprint(folder: Path) -> str | None:
    """SHA-256 of the name, size and mtime of every file two levels deep: a retrained model
    (or another one moved to the same path) does not resume an old run."""
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted([*folder.glob("*"), *folder.glob("*/*")]):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}\n"
                          .encode())  # fmt: skip
    return digest.hexdigest()


def _run_key(
    model_path: Path, prompts: list[str], params: dict[str, Any], setup: dict[str, Any]
) -> dict[str, Any]:
    """What a resumed run must share with the interrupted one (the sampling, not the stats)."""
    same = ("seeds", "num_inference_steps", "guidance_scale", "batch_size", "reduce",
            "captioner", "dtype")  # fmt: skip
    return {
        "model": str(Path(model_path).expanduser().resolve()),
        "model_files": _fingerprint(Path(model_path)),
        "prompts_sha256": hashlib.sha256("\n".join(prompts).encode("utf-8")).hexdigest(),
        "timesteps": setup["timesteps"],
        "device": setup["device"],
        "vocabulary_sha256": _sha256(params["vocabulary"]),
        **{k: params[k] for k in same},
    }


def _progress_lines(ui: UI) -> Any:
    """``progress(done, total)`` that prints a line at every tenth of the samples."""
    shown = {"tenth": -1}

    def progress(done: int, total: int) -> None:
        tenth = 10 * done // max(total, 1)
        if tenth > shown["tenth"]:
            shown["tenth"] = tenth
            ui.info(f"sampled {done} of {total}")

    return progress


def _analyse(ui: UI, result: Any, families: dict[str, list[str]] | None,
             params: dict[str, Any]) -> Any:  # fmt: skip
    """:func:`~diffembed.latents.analysis.analyse`; a prompt-only run may have nothing to test."""
    from ..latents.analysis import DecodeAnalysis, analyse

    with _progress.stage("associations"):
        try:
            analysis = analyse(
                result, families=families, method=params["method"], alpha=params["alpha"],
                n_permutations=params["n_permutations"], alternative=params["alternative"],
                q_threshold=params["q_threshold"], min_effect=params["min_effect"],
                random_state=params["random_state"], evidence=params["evidence"],
                adherence_threshold=params["adherence_threshold"],
            )  # fmt: skip
        except InputError as exc:
            if result.captions is not None:
                raise
            analysis = DecodeAnalysis(tables={}, summary={"n_pairs": 0, "n_significant": 0})
            analysis.warnings.append(
                "prompt-only run (no captioner): no concept × attribute associations could be "
                f"scored ({exc}). hspace.npy, samples.parquet and images/ are written; caption "
                "the images with --captioner clip:DIR --vocabulary attributes.json to score "
                "associations."
            )
    for message in analysis.warnings:
        ui.warn(message)
    return analysis


def _write_sheet(build: Path, prompt_id: Any) -> bool:
    """``samples.png`` from the PNG shards in ``build/images`` (only the shown tiles read)."""
    from ..io.writers import atomic_path
    from ..latents.streaming import sheet_from_shards
    from ..plotting.latents_report import png_bytes

    sheet = sheet_from_shards(build, prompt_id)
    if sheet is None:
        return False
    with atomic_path(build / "samples.png") as path:
        path.write_bytes(png_bytes(sheet))
    return True
