"""``diffembed latents clip-train``: a small CLIP trained offline on captioned shapes.

It generates the shapes dataset, trains :func:`diffembed.latents.clip_train.train_clip`, measures
the zero-shot accuracy of every attribute family on held-out images (a second dataset drawn
with another seed) and writes the folder atomically (an existing one is refused unless
``--overwrite``):

=============================  ======================================================
``config.json``                transformers CLIPConfig
``model.safetensors``          the weights
``tokenizer.json``, ...        the tokenizer (MiniLM's WordPiece, see clip_train)
``preprocessor_config.json``   CLIPImageProcessor settings
``attributes.json``            the vocabulary it was evaluated with (the shapes one)
``loss.csv``                   ``step, loss`` of every training step
``manifest.json``              command, parameters, accuracy per family, timings
=============================  ======================================================

The folder is a plain transformers CLIP folder: ``--captioner clip:DIR`` of ``latents decode``
and :func:`diffembed.embed.clip_vectors` load it as they load any CLIP.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from .. import _progress
from ..exceptions import InputError
from .common import Debug, Json, Overwrite, Quiet, manifest_head, write_manifest
from .console import UI, format_seconds
from .guards import SEED_MAX, check_seed
from .latents_model import _Bar, _versions

__all__ = ["clip_train_command"]

#: Seconds per (image × training step) of the default CLIP at 16 px on one CPU thread,
#: measured on the development machine (0.12 s per step of 256 images, idle machine).
SECONDS_PER_IMAGE_STEP = 0.12 / 256
_DATASETS = ("shapes",)


def clip_train_command(
    out: Annotated[Path, typer.Option("-o", "--out", help="CLIP folder to create.")] = ...,  # type: ignore[assignment]
    dataset: Annotated[str, typer.Option(help="Training data: shapes (captioned).")] = "shapes",
    n: Annotated[int, typer.Option("--n", help="Training images.")] = 10000,
    size: Annotated[int, typer.Option(help="Pixels per side (16, 24, 32, 48, 64).")] = 16,
    steps: Annotated[int, typer.Option(help="Training steps.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Images (and captions) per step.")] = 256,
    learning_rate: Annotated[float, typer.Option(help="Peak AdamW learning rate.")] = 3e-3,
    mention: Annotated[
        float,
        typer.Option(help="Probability that a training caption names each attribute family."),
    ] = 0.5,
    augment: Annotated[
        float,
        typer.Option(
            help="Fraction of training images degraded (blur, contrast, noise) so that "
            "imperfect generated images are captioned too; 0: clean images only."
        ),
    ] = 0.5,
    eval_n: Annotated[
        int, typer.Option("--eval-n", help="Held-out images for the zero-shot accuracy.")
    ] = 2000,
    seed: Annotated[
        int,
        typer.Option(
            "--random-state", "--seed", help="Seed of the data, weights and captions.",
            callback=check_seed,
        ),
    ] = 0,
    device: Annotated[str, typer.Option(help="Torch device: cpu, cuda, cuda:N or auto.")] = "cpu",
    threads: Annotated[int, typer.Option(help="Torch CPU threads.")] = 1,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Train a small CLIP on captioned shapes and save it as a transformers CLIP folder."""
    ui = UI(quiet=quiet, debug=debug, json_output=json_output)
    with ui.errors():
        _run(ui, out=out, dataset=dataset, n=n, size=size, steps=steps, batch_size=batch_size,
             learning_rate=learning_rate, mention=mention, augment=augment, eval_n=eval_n,
             seed=seed, device=device, threads=threads, overwrite=overwrite)  # fmt: skip


def _run(ui: UI, *, out: Path, dataset: str, n: int, size: int, steps: int, batch_size: int,
         learning_rate: float, mention: float, augment: float, eval_n: int, seed: int,
         device: str, threads: int, overwrite: bool) -> None:  # fmt: skip
    from .._torch_device import resolve_device
    from ..io import writers
    from ..latents.clip import SHAPES_VOCABULARY, ClipCaptioner, zero_shot_accuracy
    from ..latents.clip_train import clip_config, minilm_tokenizer, save_clip, train_clip
    from ..latents.shapes import shapes_dataset

    start = time.perf_counter()
    if dataset not in _DATASETS:
        msg = f"Unknown --dataset {dataset!r}; choose one of: {', '.join(_DATASETS)}."
        raise InputError(msg)
    for value, flag, low in ((n, "--n", 2), (steps, "--steps", 1), (batch_size, "--batch-size", 2),
                             (eval_n, "--eval-n", 1), (threads, "--threads", 1)):  # fmt: skip
        if value < low:
            msg = f"{flag} {value} is not valid: give an integer of at least {low}."
            raise InputError(msg)
    if not 0 < mention <= 1:
        msg = f"--mention {mention} is not valid: give a probability in (0, 1]."
        raise InputError(msg)
    if not 0 <= augment <= 1:
        msg = f"--augment {augment} is not valid: give a fraction in [0, 1]."
        raise InputError(msg)
    if not learning_rate > 0:
        msg = f"--learning-rate {learning_rate} is not valid: give a positive number."
        raise InputError(msg)
    device = resolve_device(device, flag="--device")
    with writers.output_directory(out, overwrite) as tmp:
        with ui.stages() as timings:
            with _progress.stage("data"):
                data = shapes_dataset(n, size, seed=seed)
                held_out = shapes_dataset(eval_n, size, seed=(seed + 7919) % (SEED_MAX + 1))
            with _progress.stage("tokenizer"):
                tokenizer = minilm_tokenizer()
                config = clip_config(tokenizer, image_size=size)
        estimate = steps * min(batch_size, n) * SECONDS_PER_IMAGE_STEP / threads
        ui.info(
            f"training a CLIP on {n} shapes images ({size}×{size}): {steps} steps × "
            f"{min(batch_size, n)} image–caption pairs on {device}; estimated "
            f"{format_seconds(estimate)} on {threads} CPU thread{'s' if threads > 1 else ''} "
            "of an idle machine"
        )
        with _Bar(ui, "train") as bar:
            model, processor, history = train_clip(
                data, tokenizer=tokenizer, config=config, steps=steps, batch_size=batch_size,
                learning_rate=learning_rate, mention=mention, augment=augment, seed=seed,
                device=device,
                num_threads=threads, progress=bar,
            )  # fmt: skip
        with ui.stages(), _progress.stage("save"):
            files = save_clip(model, tokenizer, processor, tmp)
            writers.write_json_atomic(SHAPES_VOCABULARY, tmp / "attributes.json")
            losses = np.asarray(history["loss"])
            writers.write_csv_atomic(
                {"step": np.arange(1, len(losses) + 1, dtype=np.int64), "loss": losses},
                tmp / "loss.csv",
            )
        with ui.stages(), _progress.stage("evaluate"):
            # the saved folder, loaded as any CLIP folder is: the code path of --captioner clip:DIR
            captioner = ClipCaptioner(tmp, device=device)
            accuracy = zero_shot_accuracy(captioner, held_out.images, held_out.attributes)
        outputs = [*files, "attributes.json", "loss.csv", "manifest.json"]
        manifest = {
            **manifest_head("latents clip-train"),
            "parameters": {
                "dataset": dataset,
                "n": n,
                "size": size,
                "steps": steps,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "mention": mention,
                "augment": augment,
                "eval_n": eval_n,
                "seed": seed,
                "device": device,
                "threads": threads,
            },
            "results": {
                "zero_shot_accuracy": accuracy,
                "held_out": {"n": eval_n, "seed": held_out.seed},
                "loss_first": float(losses[0]),
                "loss_last": float(losses[-10:].mean()),
                "train_seconds": history["seconds"],
                "parameters": history["parameters"],
                "logit_scale": captioner.encoder.logit_scale,
            },
            "versions": _versions() | {"transformers": _version("transformers")},
            "outputs": sorted(set(outputs)),
        }
        write_manifest(manifest, tmp, {**timings, **ui.timings}, start)
    shown = ", ".join(f"{family} {value:.3f}" for family, value in accuracy.items())
    ui.info(
        f"CLIP saved to {out}: zero-shot accuracy on {eval_n} held-out images: {shown}; "
        f"{format_seconds(time.perf_counter() - start)} in total. Use it with: diffembed "
        f"latents decode MODEL --captioner clip:{out} -o OUT/"
    )
    from .skeleton import summary_from_manifest

    ui.summary(summary_from_manifest(manifest, out, results={"accuracy": accuracy}))


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
