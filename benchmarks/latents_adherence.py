"""Prompt adherence of the small DDPM per attribute family, and its training time.

    nice -n 10 .venv/bin/python benchmarks/latents_adherence.py --label default   # CLI defaults
    nice -n 10 .venv/bin/python benchmarks/latents_adherence.py --label 2-level \\
        --channels 32,64 --no-pooled-text --steps 1500                          # another U-Net

Trains :func:`diffembed.latents.train_ddpm` on the data of ``diffembed latents train`` (``--n``
shapes images at 16 px, partial captions with ``mention=0.6``, no planted association) with
``--threads`` torch threads, then samples every one of the 4 × 4 × 2 × 3 = 96 full prompts
(``"a small red circle on the left"``) ``--per-prompt`` times and asks the model's own
AttributeClassifier (fitted on real images) what each sample shows. **Adherence** of a family
is the fraction of samples whose predicted value is the prompted one (chance: 1/4 for shape
and colour, 1/2 for size, 1/3 for position). The x-centroid of the drawn shape per prompted
position shows whether the layout follows the prompt (real images: 4.8 / 8 / 11.2 px ± 1).

With ``--eval-every`` the model is also evaluated during training (EMA weights as they stand;
a learning curve; the evaluation time is not counted as training time). The rate of a
training step is the median of the wall time between steps; ``train s`` is the wall time of
the loop, and the machine's 1-minute load average at the start and end is recorded, because
on a shared machine a step takes longer than on an idle one. The row is appended to
``benchmarks/results/latents_adherence.md`` (rows with the same ``--label`` are replaced).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "latents_adherence.md"
FAMILIES = ("shape", "colour", "size", "position")


def evaluate(model, per_prompt: int, steps: int, guidance: float, threads: int) -> dict:
    from diffembed.latents import ddpm
    from diffembed.latents.shapes import ATTRIBUTES, canonical_caption

    combos = list(itertools.product(*ATTRIBUTES.values()))
    truth = {f: np.array([c[i] for c in combos for _ in range(per_prompt)])
             for i, f in enumerate(ATTRIBUTES)}  # fmt: skip
    prompts = [canonical_caption(dict(zip(ATTRIBUTES, c, strict=True)))
               for c in combos for _ in range(per_prompt)]  # fmt: skip
    start = time.perf_counter()
    images = ddpm.sample(model, prompts, seeds=1000, num_inference_steps=steps,
                         guidance_scale=guidance, num_threads=threads)  # fmt: skip
    seconds = time.perf_counter() - start
    pred = model.classifier.predict(images)
    out = {f: float(np.mean(np.asarray(pred[f]).astype(str) == truth[f])) for f in FAMILIES}
    ink = images.max(axis=1)  # (n, H, W): the shape is bright, the background black
    xs = np.arange(ink.shape[-1])
    cx = (ink.sum(1) * xs).sum(1) / np.maximum(ink.sum((1, 2)), 1e-6)
    out["x_centroid"] = {p: round(float(cx[truth["position"] == p].mean()), 2)
                         for p in ATTRIBUTES["position"]}  # fmt: skip
    out["n_samples"] = len(prompts)
    out["sample_seconds"] = seconds
    return out


def write(label: str, record: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    path = RESULTS.with_suffix(".json")
    records = json.loads(path.read_text()) if path.exists() else {}
    records[label] = record
    path.write_text(json.dumps(records, indent=2) + "\n")
    lines = [
        "# Small DDPM: prompt adherence per attribute family, and training time",
        "",
        "Adherence: fraction of samples of the 96 full prompts (`a small red circle on the "
        "left`, every shape × colour × size × position) that the model's AttributeClassifier "
        "labels with the prompted value. Ancestral DDPM sampling, guidance 3. Data: the "
        "`diffembed latents train` dataset (partial captions, mention 0.6). `s/step` is the "
        "median wall time of a training step; the machine (2 cores) was shared with other "
        "jobs, its 1-minute load average is given (start → end).",
        "",
        "| run | U-Net | params | steps × batch | threads | s/step | train s | load "
        "| sample steps | samples | shape | colour | size | position | x-centroid L / C / R |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in records.items():
        if r.get("eval") is None:
            continue  # stopped before the end: its learning curve only
        e = r["eval"]
        c = e["x_centroid"]
        lines.append(
            f"| {name} | {r['unet_label']} | {r['params'] / 1e6:.2f} M | {r['steps']} × "
            f"{r['batch_size']} | {r['threads']} | {r['step_seconds']:.3f} "
            f"| {r['train_seconds']:.0f} | {r['load'][0]:.1f} → {r['load'][1]:.1f} "
            f"| {r['sample_steps']} | {e['n_samples']} | {e['shape']:.2f} | {e['colour']:.2f} "
            f"| {e['size']:.2f} | {e['position']:.2f} "
            f"| {c['left']:.1f} / {c['centre']:.1f} / {c['right']:.1f} |"
        )
    for name, r in records.items():
        if r.get("curve"):
            lines += ["", f"Learning curve of `{name}` ({r['unet_label']}"
                      + (f"; {r['note']}" if r.get("note") else "") + "):", "",
                      "| steps | loss | shape | colour | size | position |",
                      "|---|---|---|---|---|---|"]  # fmt: skip
            lines += [f"| {c['step']} | {c['loss']:.3f} | {c['shape']:.2f} | {c['colour']:.2f} "
                      f"| {c['size']:.2f} | {c['position']:.2f} |" for c in r["curve"]]  # fmt: skip
    lines += ["", "Commands:", ""] + [f"- `{r['command']}`" for r in records.values()]
    RESULTS.write_text("\n".join(lines) + "\n")


def evaluate_folder(args: argparse.Namespace, argv: list[str] | None) -> int:
    """Evaluate a model folder written by `diffembed latents train` (times from its manifest)."""
    import torch

    from diffembed.latents import ddpm

    torch.set_num_threads(args.threads)
    model = ddpm.load_model(args.model)
    manifest = json.loads((args.model / "manifest.json").read_text())
    params, results = manifest["parameters"], manifest["results"]
    cfg = model.config["unet"]
    ev = evaluate(model, args.per_prompt, args.sample_steps, args.guidance, args.threads)
    record = {
        "unet_label": f"{tuple(cfg['block_out_channels'])}, CLI defaults",
        "unet": cfg,
        "params": results["unet_parameters"],
        "n": params["n"], "steps": params["steps"], "batch_size": params["batch_size"],
        "threads": params["threads"],
        "step_seconds": results["train_seconds"] / params["steps"],
        "train_seconds": results["train_seconds"],
        "total_seconds": manifest.get("timings", {}).get("total", float("nan")),
        "load": [float("nan"), os.getloadavg()[0]],
        "sample_steps": args.sample_steps, "guidance": args.guidance,
        "loss_last": results["loss_last"], "eval": ev, "curve": [],
        "command": "nice -n 10 .venv/bin/python benchmarks/latents_adherence.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }  # fmt: skip
    print(json.dumps({k: record[k] for k in ("train_seconds", "eval")}))
    write(args.label, record)
    return 0


def main(argv: list[str] | None = None) -> int:
    from diffembed.latents import ddpm
    from diffembed.latents.shapes import shapes_dataset
    from diffembed.latents.text import PromptEncoder

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", default="default")
    parser.add_argument("--n", type=int, default=None, help="default: the CLI's --n")
    parser.add_argument("--steps", type=int, default=None, help="default: the CLI's --steps")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--channels", default=None, help="U-Net block_out_channels, e.g. 32,64")
    parser.add_argument("--no-pooled-text", action="store_true")
    parser.add_argument("--attention-blocks", action="store_true")
    parser.add_argument("--coordinates", choices=("yes", "no"), default=None)
    parser.add_argument("--prediction-type", default="v_prediction")
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--per-prompt", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=None,
                        help="evaluate this `diffembed latents train` folder instead of training")
    args = parser.parse_args(argv)
    if args.model is not None:
        return evaluate_folder(args, argv)

    import inspect

    import torch

    from diffembed.cli.latents_model import train_command

    cli = {k: p.default for k, p in inspect.signature(train_command).parameters.items()}
    n = args.n or cli["n"]
    steps = args.steps or cli["steps"]
    batch_size = args.batch_size or cli["batch_size"]
    unet: dict = {}
    if args.channels:
        unet["block_out_channels"] = tuple(int(c) for c in args.channels.split(","))
    if args.no_pooled_text:
        unet["pooled_text"] = False
    if args.attention_blocks:
        unet["attention_blocks"] = True
    if args.coordinates:
        unet["coordinates"] = args.coordinates == "yes"
    torch.set_num_threads(args.threads)
    data = shapes_dataset(n, 16, mention=0.6, seed=args.seed)
    encoder = PromptEncoder(layer=ddpm.ENCODER_LAYER)
    stamps: list[float] = []
    curve: list[dict] = []

    def callback(step: int, snapshot) -> None:
        if step < steps:
            ev = evaluate(snapshot, 1, args.sample_steps, args.guidance, args.threads)
            loss = float(snapshot.loss_history[-100:].mean())
            curve.append({"step": step, "loss": loss, **ev})
            print(json.dumps(curve[-1]), flush=True)

    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    model = ddpm.train_ddpm(
        data, encoder=encoder, steps=steps, batch_size=batch_size, unet_config=unet,
        seed=args.seed, num_threads=args.threads, prediction_type=args.prediction_type,
        progress=lambda done, total: stamps.append(time.perf_counter()),
        callback=callback if args.eval_every else None,
        callback_every=args.eval_every or steps,
    )  # fmt: skip
    wall = time.perf_counter() - start
    load1 = os.getloadavg()[0]
    gaps = np.diff(stamps)
    step_seconds = float(np.median(gaps))
    eval_seconds = sum(c["sample_seconds"] for c in curve)
    ev = evaluate(model, args.per_prompt, args.sample_steps, args.guidance, args.threads)
    cfg = model.config["unet"]
    record = {
        "unet_label": (
            f"{tuple(cfg['block_out_channels'])}"
            + (", pooled text" if cfg["pooled_text"] else "")
            + (", attention blocks" if cfg["attention_blocks"] else "")
            + (", coordinates" if cfg["coordinates"] else "")
            + f", {args.prediction_type}"
        ),
        "unet": cfg,
        "params": sum(p.numel() for p in model.unet.parameters()),
        "n": n, "steps": steps, "batch_size": batch_size, "threads": args.threads,
        "step_seconds": step_seconds,
        "train_seconds": float(gaps.sum()) - eval_seconds,
        "total_seconds": wall - eval_seconds,
        "load": [load0, load1],
        "sample_steps": args.sample_steps, "guidance": args.guidance,
        "loss_last": model.config["training"]["loss_last"],
        "eval": ev, "curve": curve,
        "command": "nice -n 10 .venv/bin/python benchmarks/latents_adherence.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }  # fmt: skip
    print(json.dumps({k: record[k] for k in ("step_seconds", "train_seconds", "eval")}))
    write(args.label, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
