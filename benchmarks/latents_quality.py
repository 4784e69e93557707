"""Quality of the small text-conditioned DDPM: does it draw the prompted shape and colour?

    nice -n 10 .venv/bin/python benchmarks/latents_quality.py                  # the full run
    nice -n 10 .venv/bin/python benchmarks/latents_quality.py --label small \\
        --n 4000 --steps 400 --batch-size 32 --no-save                          # a small budget

Trains :func:`diffembed.latents.train_ddpm` on ``--n`` shapes images (16 px, no planted
association) with one torch thread, then samples ``--per-prompt`` images for each of the
4 × 4 shape × colour prompts in two phrasings:

- ``full``: a training-style caption naming all four attributes, e.g.
  ``"a small red circle on the left"`` (size and position cycle over the samples);
- ``short``: ``"a red circle"``, a phrasing never seen in training.

The model's own :class:`~diffembed.latents.AttributeClassifier` (fitted on real images)
labels every sample; the table reports the fraction labelled with the prompted shape, the
prompted colour, both, and (``full``) the prompted size and position. The row is appended
to ``benchmarks/results/latents_quality.md`` (rows with the same ``--label`` are replaced),
and the model is saved to ``benchmarks/data/latents_model/`` unless ``--no-save``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "latents_quality.md"
MODEL_DIR = ROOT / "data" / "latents_model"
READY = ROOT.parent / ".helpers" / "latents_model_ready.txt"
THREADS = 1


def evaluate(
    model, per_prompt: int, steps: int, guidance: float, seed: int = 1000, forms=("full", "short")
) -> dict:
    from diffembed.latents import ddpm
    from diffembed.latents.shapes import COLOURS, POSITIONS, SHAPES, SIZES, canonical_caption

    out = {}
    for form in forms:
        prompts, truth = [], {"shape": [], "colour": [], "size": [], "position": []}
        for shape in SHAPES:
            for colour in COLOURS:
                for j in range(per_prompt):
                    attrs = {
                        "shape": shape,
                        "colour": colour,
                        "size": SIZES[j % len(SIZES)],
                        "position": POSITIONS[(j // len(SIZES)) % len(POSITIONS)],
                    }
                    prompts.append(
                        canonical_caption(attrs) if form == "full" else f"a {colour} {shape}"
                    )
                    for family, value in attrs.items():
                        truth[family].append(value)
        start = time.perf_counter()
        images = ddpm.sample(
            model, prompts, seeds=seed, num_inference_steps=steps, guidance_scale=guidance,
            num_threads=THREADS,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        pred = model.classifier.predict(images)
        ok = {f: np.asarray(pred[f]).astype(str) == np.asarray(truth[f]) for f in truth}
        row = {
            "n_samples": len(prompts),
            "sample_seconds": seconds,
            "shape": float(ok["shape"].mean()),
            "colour": float(ok["colour"].mean()),
            "both": float((ok["shape"] & ok["colour"]).mean()),
        }
        if form == "full":
            row["size"] = float(ok["size"].mean())
            row["position"] = float(ok["position"].mean())
        out[form] = row
    return out


def write_row(label: str, record: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    records_path = RESULTS.with_suffix(".json")
    records = json.loads(records_path.read_text()) if records_path.exists() else {}
    records[label] = record
    records_path.write_text(json.dumps(records, indent=2) + "\n")
    lines = [
        "# Small text-conditioned DDPM: prompted attributes in the samples",
        "",
        "Fraction of generated 16 × 16 images that the model's AttributeClassifier (fitted on "
        "real images) labels with the prompted value. `full` prompts are training-style "
        "captions naming all four attributes; `short` prompts are `a <colour> <shape>`, a "
        "phrasing never seen in training. 16 shape × colour prompts, guidance 3, ancestral "
        "DDPM sampling. One torch thread; the machine was shared (load in the table), so "
        "times are upper bounds.",
        "",
        "| run | images | steps × batch | train s | load | loss first → last | sample steps "
        "| full: shape | colour | both | size | position | short: shape | colour | both |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in records.items():
        f, s = r["eval"]["full"], r["eval"]["short"]
        lines.append(
            f"| {name} | {r['n']} | {r['steps']} × {r['batch_size']} | {r['train_seconds']:.0f} "
            f"| {r['load']:.1f} | {r['loss_first']:.3f} → {r['loss_last']:.3f} "
            f"| {r['sample_steps']} | {f['shape']:.2f} | {f['colour']:.2f} | {f['both']:.2f} "
            f"| {f['size']:.2f} | {f['position']:.2f} | {s['shape']:.2f} | {s['colour']:.2f} "
            f"| {s['both']:.2f} |"
        )
    for name, r in records.items():
        if r.get("curve"):
            lines += [
                "",
                f"Learning curve of `{name}` (constant learning rate after warm-up, EMA "
                "weights; each row is the model as it stood after that many steps, "
                f"{r['curve'][0]['n_samples']} samples of the `full` prompts, "
                f"{r['sample_steps']} sampling steps):",
                "",
                "| steps | images seen | train s (wall) | train CPU s | loss | shape | colour "
                "| both | size | position |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for c in r["curve"]:
                lines.append(
                    f"| {c['step']} | {c['step'] * r['batch_size']} | {c['wall']:.0f} "
                    f"| {c['cpu']:.0f} | {c['loss']:.3f} | {c['shape']:.2f} | {c['colour']:.2f} "
                    f"| {c['both']:.2f} | {c['size']:.2f} | {c['position']:.2f} |"
                )
    lines += ["", "Commands:", ""]
    lines += [f"- `{r['command']}`" for r in records.values()]
    RESULTS.write_text("\n".join(lines) + "\n")


def _ready(args, step, wall, cpu, ev, command, *, final, curve=()) -> None:
    """Tell the other helpers where a usable model is (and the smallest good budget)."""
    small = next((c for c in curve if c["colour"] >= 0.8), None)
    lines = [
        f"model: {args.out.resolve()}",
        f"status: {'final' if final else 'intermediate (training continues; will be replaced)'}",
        f"trained: {step} steps x batch {args.batch_size} on {args.n} shapes images (16 px), "
        f"{wall:.0f} s wall / {cpu:.0f} s CPU on {THREADS} threads of a heavily shared machine",
        f"quality ({ev['n_samples']} samples of full prompts): shape {ev['shape']:.2f} colour "
        f"{ev['colour']:.2f} both {ev['both']:.2f}",
        f"command: {command}",
        "load: diffembed.latents.load_model(path); sample(model, prompts, seeds=...)",
    ]
    if small is not None:
        lines.append(
            f"smallest budget with colour >= 0.8 in this run: {small['step']} steps x "
            f"{args.batch_size} ({small['cpu']:.0f} s CPU, {small['wall']:.0f} s wall here); "
            f"shape {small['shape']:.2f} there"
        )
    READY.parent.mkdir(parents=True, exist_ok=True)
    READY.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", default="full")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--per-prompt", type=int, default=16)
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="Stop training after this wall time (constant LR makes it a run).",
    )
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--lr-schedule", default="constant")
    args = parser.parse_args(argv)

    import torch

    from diffembed.latents import PromptEncoder, ddpm, shapes_dataset

    torch.set_num_threads(THREADS)
    command = "nice -n 10 .venv/bin/python benchmarks/latents_quality.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    data = shapes_dataset(args.n, seed=args.seed)
    encoder = PromptEncoder()
    start = time.perf_counter()
    last = [start]

    def progress(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            now = time.perf_counter()
            print(
                f"step {done}/{total}  {now - start:.0f} s  ({(now - last[0]) / 100:.2f} s/step)",
                flush=True,
            )
            last[0] = now

    curve: list[dict] = []
    cpu0 = time.process_time()
    saved_decent = [False]

    def callback(step: int, snapshot) -> bool:
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        ev = evaluate(snapshot, 4, args.sample_steps, args.guidance, forms=("full",))["full"]
        loss = float(np.mean(snapshot.loss_history[-50:]))
        curve.append({"step": step, "wall": wall, "cpu": cpu, "loss": loss, **ev})
        print(f"eval at step {step}: {json.dumps(curve[-1])}", flush=True)
        if not args.no_save and ev["colour"] >= 0.8 and ev["shape"] >= 0.6:
            ddpm.save_model(snapshot, args.out, overwrite=True)
            _ready(args, step, wall, cpu, ev, command, final=False, curve=curve)
            saved_decent[0] = True
        return args.max_minutes is not None and wall > 60 * args.max_minutes

    model = ddpm.train_ddpm(
        data,
        encoder=encoder,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_schedule=args.lr_schedule,
        seed=args.seed,
        progress=progress,
        callback=callback,
        callback_every=args.eval_every,
        num_threads=THREADS,
    )
    train_seconds = time.perf_counter() - start
    training = model.config["training"]
    print(
        f"trained in {train_seconds:.0f} s; loss {training['loss_first']:.3f} → "
        f"{training['loss_last']:.3f}",
        flush=True,
    )
    if not args.no_save:
        ddpm.save_model(model, args.out, overwrite=True)
        print(f"saved {args.out}", flush=True)
    result = evaluate(model, args.per_prompt, args.sample_steps, args.guidance)
    print(json.dumps(result, indent=2), flush=True)
    record = {
        "command": command,
        "n": args.n,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "train_seconds": train_seconds,
        "model_train_seconds": training["seconds"],
        "load": os.getloadavg()[0],
        "loss_first": training["loss_first"],
        "loss_last": training["loss_last"],
        "sample_steps": args.sample_steps,
        "eval": result,
        "saved": None if args.no_save else str(args.out),
        "curve": curve,
        "threads": THREADS,
    }
    write_row(args.label, record)
    if not args.no_save:
        last = curve[-1]
        _ready(
            args,
            last["step"],
            last["wall"],
            last["cpu"],
            result["full"],
            command,
            final=True,
            curve=curve,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
