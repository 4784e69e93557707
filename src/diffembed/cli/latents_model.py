"""``diffembed latents train`` and ``diffembed latents sample``: the small text-conditioned DDPM.

``train`` generates the captioned shapes dataset, trains :func:`diffembed.latents.train_ddpm`
and writes the model directory atomically (an existing one is refused unless
``--overwrite``):

=================  ===========================================================================
``unet/``          diffusers U-Net (config.json + safetensors); loads with ``from_pretrained``
``scheduler/``     diffusers DDPMScheduler config
``classifier/``    the AttributeClassifier fitted on real images (labels generated ones)
``diffembed.json`` format version, prompt-encoder, dataset (planted associations included) and
                   training configuration, loss summary, versions
``loss.csv``       ``step, loss`` of every training step
``samples.png``    one sample per prompt "a large <colour> <shape> in the centre" (rows:
                   shapes, columns: colours), upscaled 4×
``manifest.json``  command, parameters, results, timings, versions, outputs
=================  ===========================================================================

``sample`` loads such a directory and writes, for every prompt and ``--n`` seeds, one PNG
(nearest-neighbour upscaled ``--scale`` times), ``samples.npy`` (``n, 3, H, W`` float32 in
[0, 1]), ``samples.csv`` (file, prompt, prompt_index, seed and, when the model has a
classifier, the predicted ``shape``, ``colour``, ``size``, ``position``) and ``manifest.json``.
Seeds are ``--random-state, --random-state + 1, ...`` for every prompt, so image ``k`` of two
prompts starts from the same noise.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .. import _progress
from ..exceptions import InputError
from .common import (
    Debug,
    Json,
    Overwrite,
    Quiet,
    manifest_head,
    versions,
    write_manifest,
)
from .console import UI, format_seconds
from .guards import check_seed

__all__ = ["sample_command", "train_command"]

#: Seconds per (image × denoising step) with guidance, same machine.
SECONDS_PER_IMAGE_SAMPLE_STEP = 0.004
#: A denoising step of one guided image costs about this fraction of a training step of one
#: image (two forward passes against a forward and a backward pass, measured).
SAMPLE_TO_TRAIN_COST = 0.5
#: Seconds of the work after the estimate that does not scale with the steps (saving the
#: model, writing the manifest), measured on the development machine.
FIXED_SECONDS = 5.0
#: Captions the adherence check draws: every shape × colour × size × position.
N_CHECK_PROMPTS = 4 * 4 * 2 * 3
_DATASETS = ("shapes",)


class _Bar:
    """A rich progress bar on a terminal; plain lines every 10 % elsewhere (or nothing)."""

    def __init__(self, ui: UI, label: str) -> None:
        self.ui, self.label = ui, label
        self.progress: Any = None
        self.task: Any = None
        self.next_line = 0.1
        self.start = time.perf_counter()
        self.first: tuple[float, int] | None = None

    def __enter__(self) -> _Bar:
        if not self.ui.quiet and self.ui.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn(f"[bold]{self.label}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.ui.console,
                transient=True,
            )
            self.progress.start()
        return self

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        elapsed = now - self.start
        if self.first is None:  # the rate leaves out what ran before the first step
            self.first = (now, done)
        steps, since = done - self.first[1], now - self.first[0]
        per_step = since / steps if steps else elapsed / max(done, 1)
        rate = f"{per_step:.3f} s/step"
        if self.progress is not None:
            if self.task is None:
                self.task = self.progress.add_task(self.label, total=total, rate=rate)
            self.progress.update(self.task, completed=done, rate=rate)
        elif not self.ui.quiet and done >= self.next_line * total:
            eta = per_step * (total - done)
            self.ui.info(
                f"{self.label} {done}/{total} · {format_seconds(elapsed)} · {rate} · "
                f"eta {format_duration(eta)}"
            )
            while self.next_line * total <= done:
                self.next_line += 0.1

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.ui.timings[self.label] = time.perf_counter() - self.start
        if not self.ui.quiet and exc[0] is None:
            self.ui.info(f"{self.label} … {format_seconds(self.ui.timings[self.label])}")


def _upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """``(3, h, w)`` floats in [0, 1] → ``(h·scale, w·scale, 3)`` uint8, nearest neighbour."""
    rgb = (np.clip(image, 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def _png(rgb: np.ndarray, path: Path) -> None:
    from ..io.writers import atomic_path
    from ..plotting.latents_report import png_bytes

    with atomic_path(path) as tmp:
        tmp.write_bytes(png_bytes(rgb))


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out = versions()
    for package in ("torch", "diffusers", "sentence-transformers"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def _check_positive(value: int, flag: str) -> None:
    if value < 1:
        msg = f"{flag} {value} is not valid: give a positive integer."
        raise InputError(msg)


# ----------------------------------------------------------------------------- train
def train_command(
    out: Annotated[Path, typer.Option("-o", "--out", help="Model directory to create.")] = ...,  # type: ignore[assignment]
    dataset: Annotated[str, typer.Option(help="Training data: shapes (captioned).")] = "shapes",
    n: Annotated[int, typer.Option("--n", help="Images in the dataset.")] = 20000,
    size: Annotated[int, typer.Option(help="Pixels per side (16, 24, 32, 48, 64).")] = 16,
    associations: Annotated[
        Path | None,
        typer.Option(help="JSON file of planted associations, e.g. plant.json."),
    ] = None,
    mention: Annotated[
        float,
        typer.Option(
            help="Probability that a caption names each attribute (>= 1 always named): partial "
            "captions teach the model to fill in what a prompt leaves out, which decoding reads."
        ),
    ] = 0.6,
    steps: Annotated[int, typer.Option(help="Training steps.")] = 3000,
    batch_size: Annotated[int, typer.Option(help="Images per training step.")] = 32,
    learning_rate: Annotated[float, typer.Option(help="Peak AdamW learning rate.")] = 2e-3,
    caption_dropout: Annotated[
        float, typer.Option(help="Probability of training on the empty prompt (guidance).")
    ] = 0.1,
    seed: Annotated[
        int,
        typer.Option(
            "--random-state", "--seed", help="Seed of the data, weights and noise.",
            callback=check_seed,
        ),
    ] = 0,
    threads: Annotated[
        int, typer.Option(help="Torch CPU threads (1 on a machine busy with other jobs).")
    ] = 2,
    preview_steps: Annotated[
        int, typer.Option(help="Denoising steps of the samples.png preview (0: no preview).")
    ] = 50,
    check_steps: Annotated[
        int,
        typer.Option(
            help="Denoising steps of the adherence check after training: every shape × colour "
            "× size × position caption drawn once and read by the model's classifier "
            "(adherence.csv; a warning below 0.8). 0: no check."
        ),
    ] = 25,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Train a small text-conditioned DDPM on captioned shapes and save it to a directory."""
    ui = UI(quiet=quiet, debug=debug, json_output=json_output)
    with ui.errors():
        _run_train(
            ui,
            out=out,
            dataset=dataset,
            n=n,
            size=size,
            associations=associations,
            mention=mention,
            steps=steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            caption_dropout=caption_dropout,
            seed=seed,
            threads=threads,
            preview_steps=preview_steps,
            check_steps=check_steps,
            overwrite=overwrite,
        )


def _run_train(ui: UI, *, out: Path, dataset: str, n: int, size: int, associations: Path | None,
               mention: float, steps: int, batch_size: int, learning_rate: float,
               caption_dropout: float, seed: int, threads: int, preview_steps: int,
               check_steps: int, overwrite: bool) -> None:  # fmt: skip
    from ..io import writers
    from ..latents import ddpm
    from ..latents.adherence import check_prompt_adherence
    from ..latents.shapes import (
        COLOURS,
        SHAPES,
        canonical_caption,
        read_associations,
        shapes_dataset,
    )
    from ..latents.text import PromptEncoder

    start = time.perf_counter()
    if dataset not in _DATASETS:
        msg = f"Unknown --dataset {dataset!r}; choose one of: {', '.join(_DATASETS)}."
        raise InputError(msg)
    for value, flag in ((n, "--n"), (steps, "--steps"), (batch_size, "--batch-size"),
                        (threads, "--threads")):  # fmt: skip
        _check_positive(value, flag)
    for value, flag, off in ((preview_steps, "--preview-steps", "no preview"),
                             (check_steps, "--check-steps", "no adherence check")):
        if value < 0:
            msg = f"{flag} {value} is not valid: give 0 ({off}) or more."
            raise InputError(msg)
    planted = read_associations(associations) if associations is not None else None
    inputs = [] if associations is None else [associations]
    with writers.output_directory(out, overwrite, inputs=inputs) as tmp:
        with ui.stages() as timings:
            with _progress.stage("data"):
                data = shapes_dataset(n, size, associations=planted, mention=mention, seed=seed)
            with _progress.stage("encoder"):
                encoder = PromptEncoder(layer=ddpm.ENCODER_LAYER)
        ui.info(
            f"training a DDPM on {n} shapes images ({size}×{size}"
            + (f", {len(planted)} planted associations" if planted else "")
            + f"): {steps} steps × {batch_size} images on {threads} "
            f"thread{'s' if threads > 1 else ''}"
        )
        n_preview = len(SHAPES) * len(COLOURS) if preview_steps else 0
        n_check = N_CHECK_PROMPTS if check_steps else 0
        estimate = _Estimate(ui, steps, batch_size,
                             n_preview * preview_steps + n_check * check_steps)  # fmt: skip
        with _Bar(ui, "train") as bar:
            model = ddpm.train_ddpm(
                data,
                encoder=encoder,
                steps=steps,
                batch_size=batch_size,
                learning_rate=learning_rate,
                caption_dropout=caption_dropout,
                seed=seed,
                progress=bar,
                num_threads=threads,
                estimate=estimate,
            )
        model.config["training"]["estimated_seconds"] = estimate.seconds
        model.config["dataset"].update(
            {
                "name": dataset,
                "size": size,
                "seed": seed,
                "mention": mention,
                "associations": [[a, b, p] for (a, b), p in (planted or {}).items()],
                "associations_file": None if associations is None else str(associations),
            }
        )
        with ui.stages(), _progress.stage("save"):
            ddpm.write_model(model, tmp)
        outputs = ["unet/", "scheduler/", "diffembed.json", "loss.csv"]
        outputs += ["classifier/"] if model.classifier is not None else []
        rates = None
        if check_steps and model.classifier is not None:
            with _Bar(ui, "adherence check") as bar:
                table = check_prompt_adherence(model, num_inference_steps=check_steps, seed=seed,
                                               progress=bar, num_threads=threads)  # fmt: skip
            writers.write_csv_atomic(table, tmp / "adherence.csv")
            outputs.append("adherence.csv")
            rates = {r["family"]: r["rate"] for r in table.to_pylist()}
            ui.info("prompt adherence (every caption drawn once): " + ", ".join(
                f"{family} {100 * rate:.0f} %" for family, rate in rates.items()))
            low = [r for r in table.to_pylist() if not r["reliable"]]
            if low:
                names = [f"{r['family']} ({100 * r['rate']:.0f} %)" for r in low]
                listed = " and ".join([", ".join(names[:-1]), names[-1]] if names[1:] else names)
                ui.warn(
                    f"the model looks undertrained for {listed}: the share of the "
                    f"{low[0]['n_samples']} check samples that show the prompted word is below "
                    f"{100 * low[0]['threshold']:.0f} %, so decode would mark those families' "
                    f"associations unreliable. Train longer (--steps {2 * steps}) or with another "
                    "--seed."
                )
        if preview_steps:
            prompts = [
                canonical_caption(
                    {"shape": shape, "colour": colour, "size": "large", "position": "centre"}
                )
                for shape in SHAPES
                for colour in COLOURS
            ]
            with _Bar(ui, "preview") as bar:
                images = ddpm.sample(
                    model, prompts, seeds=seed, num_inference_steps=preview_steps,
                    progress=bar, num_threads=threads,
                )  # fmt: skip
            _png(_grid(images, len(COLOURS), 4), tmp / "samples.png")
            outputs.append("samples.png")
        outputs.append("manifest.json")
        training = model.config["training"]
        manifest = {
            **manifest_head("latents train"),
            "parameters": {
                "dataset": dataset,
                "n": n,
                "size": size,
                "associations": model.config["dataset"]["associations"],
                "mention": mention,
                "steps": steps,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "caption_dropout": caption_dropout,
                "seed": seed,
                "threads": threads,
                "preview_steps": preview_steps,
                "check_steps": check_steps,
            },
            "results": {
                "estimated_seconds": estimate.seconds,
                "seconds_per_step_timed": estimate.per_step,
                "loss_first": training["loss_first"],
                "loss_last": training["loss_last"],
                "train_seconds": training["seconds"],
                "unet_parameters": sum(p.numel() for p in model.unet.parameters()),
                "adherence": rates,
            },
            "versions": _versions(),
            "outputs": outputs,
        }
        write_manifest(manifest, tmp, {**timings, **ui.timings}, start)
    ui.info(
        f"model saved to {out}: loss {training['loss_first']:.3f} → {training['loss_last']:.3f}, "
        f"{format_seconds(time.perf_counter() - start)} in total. Sample it with: diffembed "
        f'latents sample {out} "a small red circle" -o samples/'
    )
    from .skeleton import summary_from_manifest

    ui.summary(summary_from_manifest(manifest, out))


class _Estimate:
    """Prints the time estimate of ``train`` from the seconds of a few timed steps."""

    def __init__(self, ui: UI, steps: int, batch_size: int, preview_image_steps: int) -> None:
        self.ui, self.steps, self.batch_size = ui, steps, batch_size
        self.preview_image_steps = preview_image_steps
        self.per_step: float | None = None
        self.seconds: float | None = None

    def __call__(self, per_step: float) -> None:
        train = per_step * self.steps
        per_image = per_step / self.batch_size
        preview = per_image * SAMPLE_TO_TRAIN_COST * self.preview_image_steps
        self.per_step, self.seconds = per_step, train + preview + FIXED_SECONDS
        self.ui.info(
            f"estimate: {per_step:.3f} s per step (timed now) × {self.steps} steps = "
            f"{format_duration(train)} of training; about {format_duration(self.seconds)} "
            + ("until the preview is drawn" if self.preview_image_steps else "until it is saved")
            + ". Other work on this machine slows it down."
        )


def format_duration(seconds: float) -> str:
    """``75`` → ``"1 min 15 s"``, ``8.2`` → ``"8 s"``."""
    seconds = max(0, round(seconds))
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _grid(images: np.ndarray, cols: int, scale: int, pad: int = 1) -> np.ndarray:
    """Images in rows of ``cols``, upscaled ``scale`` times, grey gaps: ``(H, W, 3)`` uint8."""
    n, _, h, w = images.shape
    rows = -(-n // cols)
    hh, ww = h * scale, w * scale
    sheet = np.full((rows * (hh + pad) + pad, cols * (ww + pad) + pad, 3), 96, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (hh + pad), pad + c * (ww + pad)
        sheet[y : y + hh, x : x + ww] = _upscale(images[i], scale)
    return sheet


# ----------------------------------------------------------------------------- sample
def sample_command(
    model_dir: Annotated[
        Path, typer.Argument(metavar="MODEL", help="Model directory from `latents train`.")
    ],
    prompts: Annotated[
        list[str], typer.Argument(metavar="PROMPT...", help='Prompts ("" is unconditional).')
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output directory to create.")] = ...,  # type: ignore[assignment]
    n: Annotated[int, typer.Option("--n", help="Samples per prompt.")] = 8,
    seed: Annotated[
        int,
        typer.Option(
            "--random-state", "--seed", help="Seed of the first sample of every prompt.",
            callback=check_seed,
        ),
    ] = 0,
    steps: Annotated[int, typer.Option(help="Denoising steps.")] = 50,
    guidance: Annotated[
        float, typer.Option(help="Classifier-free guidance scale (1: none).")
    ] = 3.0,
    batch_size: Annotated[int, typer.Option(help="Images per U-Net call.")] = 64,
    scale: Annotated[int, typer.Option(help="Nearest-neighbour upscaling of the PNGs.")] = 8,
    threads: Annotated[int, typer.Option(help="Torch CPU threads.")] = 1,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
    json_output: Json = False,
) -> None:
    """Generate images from prompts with a trained model: PNGs, samples.csv, samples.npy."""
    ui = UI(quiet=quiet, debug=debug, json_output=json_output)
    with ui.errors():
        _run_sample(ui, model_dir=model_dir, prompts=prompts, out=out, n=n, seed=seed,
                    steps=steps, guidance=guidance, batch_size=batch_size, scale=scale,
                    threads=threads, overwrite=overwrite)  # fmt: skip


def _run_sample(ui: UI, *, model_dir: Path, prompts: list[str], out: Path, n: int, seed: int,
                steps: int, guidance: float, batch_size: int, scale: int, threads: int,
                overwrite: bool) -> None:  # fmt: skip
    from ..io import writers
    from ..latents import ddpm

    start = time.perf_counter()
    for value, flag in ((n, "--n"), (batch_size, "--batch-size"), (scale, "--scale"),
                        (threads, "--threads")):  # fmt: skip
        _check_positive(value, flag)
    if not prompts:
        msg = 'Give at least one PROMPT after MODEL, e.g. "a small red circle".'
        raise InputError(msg)
    if not ddpm.is_model_directory(model_dir):
        ddpm.load_model(model_dir)  # raises the detailed error (missing, pipeline, ...)
        msg = (
            f"{model_dir} is a diffusers pipeline folder, not a diffembed model: its prompts go "
            "through the pipeline's own text encoder, which `latents sample` does not run. "
            "Train a model with `diffembed latents train -o MODEL/`, or decode the pipeline "
            "with `diffembed latents decode`."
        )
        raise InputError(msg)
    with writers.output_directory(out, overwrite, inputs=[model_dir]) as tmp:
        with ui.stages() as timings, _progress.stage("load"):
            model = ddpm.load_model(model_dir)
        all_prompts = [p for p in prompts for _ in range(n)]
        seeds = [seed + k for _ in prompts for k in range(n)]
        total = len(all_prompts) * steps
        ui.info(
            f"sampling {len(all_prompts)} images ({len(prompts)} prompt"
            f"{'s' if len(prompts) > 1 else ''} × {n}), {steps} steps, guidance {guidance}; "
            f"estimated {format_seconds(total * SECONDS_PER_IMAGE_SAMPLE_STEP / threads)}"
        )
        with _Bar(ui, "sample") as bar:
            images = ddpm.sample(
                model, all_prompts, seeds=seeds, num_inference_steps=steps,
                guidance_scale=guidance, batch_size=batch_size, progress=bar,
                num_threads=threads,
            )  # fmt: skip
        with ui.stages(), _progress.stage("write"):
            files = []
            for i, image in enumerate(images):
                name = f"p{i // n:03d}_s{seeds[i]}.png"
                _png(_upscale(image, scale), tmp / name)
                files.append(name)
            writers.write_npy_atomic(images, tmp / "samples.npy")
            table: dict[str, Any] = {
                "file": files,
                "prompt": all_prompts,
                "prompt_index": np.repeat(np.arange(len(prompts), dtype=np.int64), n),
                "seed": np.asarray(seeds, dtype=np.int64),
            }
            if model.classifier is not None:
                for family, values in model.classifier.predict(images).items():
                    table[family] = [str(v) for v in values]
            writers.write_csv_atomic(table, tmp / "samples.csv")
        outputs = [*files, "samples.npy", "samples.csv", "manifest.json"]
        manifest = {
            **manifest_head("latents sample"),
            "model": {"path": str(model_dir), "config": model.config.get("training", {})},
            "parameters": {
                "prompts": list(prompts),
                "n": n,
                "seed": seed,
                "steps": steps,
                "guidance": guidance,
                "batch_size": batch_size,
                "scale": scale,
                "threads": threads,
            },
            "results": {"n_images": len(files), "classifier": model.classifier is not None},
            "versions": _versions(),
            "outputs": outputs,
        }
        write_manifest(manifest, tmp, {**timings, **ui.timings}, start)
    ui.info(f"{len(files)} images written to {out} (samples.csv lists them)")
    from .skeleton import summary_from_manifest

    ui.summary(summary_from_manifest(manifest, out))
