"""Planted-association recovery by h-space decoding: one command → a markdown table.

Trains the small text-conditioned DDPM (:func:`diffembed.latents.train_ddpm`) twice on the
captioned shapes dataset: once with three planted attribute associations (one into each
attribute family, the rest independent), once unbiased. Training captions mention a random
subset of the families (``make_caption(..., families=...)``), so that a prompt such as
``"a square"`` asks for the *marginal* distribution of the other attributes given the shape,
which carries the planted bias. Each model is then decoded with shape-only prompts (4 shapes ×
4 phrasings × ``--seeds`` seeds): h-space is recorded at every denoising step, the classifier
captions the generated images, and :func:`diffembed.latents.score_associations` scores every
shape × attribute pair. Acceptance (issue 7): the biased model's three planted pairs are found
(recall 1) with at most one false association; the unbiased model gives none.

Usage::

    nice -n 10 .venv/bin/python benchmarks/latents_associations.py            # full
    nice -n 10 .venv/bin/python benchmarks/latents_associations.py --quick    # smoke

The table goes to ``benchmarks/results/latents_associations.md`` (``--out``); trained models
are cached in ``--workdir`` and reused when their configuration matches.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: Three planted associations, shape → colour (what the small DDPM learns first). The fourth
#: shape stays uniform, so its conservation effect (crosses look relatively yellow: the other
#: shapes are rarely yellow) is the one secondary association the acceptance allows.
PLANTED_SETS = {
    "colour": [("square", "blue", 0.9), ("circle", "red", 0.9), ("triangle", "green", 0.9)],
    # one association into each attribute family: the smallest conservation effects
    "mixed": [("square", "blue", 0.9), ("circle", "large", 0.9), ("triangle", "left", 0.9)],
}
PLANTED = PLANTED_SETS["colour"]
PHRASINGS = (
    "a {}", "a picture of a {}", "an image of a {}", "a drawing of a {}",
    "one {}", "the {}", "a single {}", "a {} shape",
)


def train(planted: list, cfg: dict[str, Any], workdir: Path, name: str) -> Any:
    """Train (or load the cached) model for ``planted`` with the settings of ``cfg``."""

    from diffembed.latents import load_model, save_model, shapes_dataset, train_ddpm

    key = json.dumps({"planted": planted, **{k: cfg[k] for k in ("n_train", "steps", "batch_size",
                      "unet", "lr", "seed")}}, sort_keys=True)  # fmt: skip
    target = workdir / name
    if (target / "bench.json").is_file() and (target / "bench.json").read_text() == key:
        return load_model(target), 0.0
    data = shapes_dataset(cfg["n_train"], associations=[tuple(p) for p in planted] or None,
                          mention=0.6, seed=cfg["seed"])  # fmt: skip
    start = time.perf_counter()
    model = train_ddpm(
        data, steps=cfg["steps"], batch_size=cfg["batch_size"], learning_rate=cfg["lr"],
        unet_config=cfg["unet"], seed=cfg["seed"], num_threads=cfg["threads"],
        classifier_samples=min(cfg["n_train"], 4000),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    save_model(model, target, overwrite=True)
    (target / "bench.json").write_text(key)
    return model, seconds


def decode(model: Any, cfg: dict[str, Any]) -> tuple[Any, Any, float]:
    from diffembed.latents import extract_hspace, score_associations
    from diffembed.latents.shapes import ATTRIBUTES, SHAPES

    prompts = [p.format(s) for s in SHAPES for p in PHRASINGS]
    start = time.perf_counter()
    result = extract_hspace(
        model, prompts, seeds=cfg["seeds"], num_inference_steps=cfg["inference_steps"],
        guidance_scale=cfg["guidance"], batch_size=cfg["sample_batch"],
    )  # fmt: skip
    table = score_associations(
        result, families=ATTRIBUTES, method=cfg["method"], n_permutations=cfg["permutations"],
        q_threshold=0.05, min_effect=cfg["min_effect"], random_state=0,
    )  # fmt: skip
    return result, table, time.perf_counter() - start


def evaluate(table: Any, planted: list) -> dict[str, Any]:
    rows = table.to_pylist()
    pairs = {(c, a) for c, a, _ in planted}
    found = [(r["concept"], r["attribute"]) for r in rows if r["significant"]]
    q_only = [(r["concept"], r["attribute"]) for r in rows if r["q_value"] < 0.05]
    cap_only = [(r["concept"], r["attribute"]) for r in rows
                if r["caption_p_value"] * len(rows) < 0.05 and r["caption_rate_concept"]
                - r["caption_rate_rest"] > 0.2]  # fmt: skip
    by = {(r["concept"], r["attribute"]): r for r in rows}
    return {
        "rows": rows,
        "by": by,
        "recall": len(pairs & set(found)) / len(pairs) if pairs else None,
        "false": [f for f in found if f not in pairs],
        "q_only_false": [f for f in q_only if f not in pairs],
        "caption_found": cap_only,
    }


def accuracy(model: Any, result: Any) -> dict[str, float]:
    """How often the generated image has the prompt's shape (classifier)."""
    words = [str(p).split()[-1] for p in result.table["prompt"]]
    return {"shape": float(np.mean(np.asarray(result.table["shape"]) == np.asarray(words)))}


def markdown(cfg, runs, load: str, planted: list) -> str:
    lines = [
        "# Planted-association recovery by h-space decoding",
        "",
        "`python benchmarks/latents_associations.py " + " ".join(sys.argv[1:]) + "`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs "
        f"(load average at start: {load}); torch threads {cfg['threads']}.",
        "",
        f"Training: shapes dataset, {cfg['n_train']} images 16×16, captions naming a random "
        f"subset of the families; DDPM U-Net {cfg['unet']}, {cfg['steps']} steps × batch "
        f"{cfg['batch_size']}, lr {cfg['lr']}. Decoding: 4 shapes × {len(PHRASINGS)} phrasings "
        f"× {cfg['seeds']} seeds = {4 * len(PHRASINGS) * cfg['seeds']} samples, "
        f"{cfg['inference_steps']} "
        f"denoising steps, guidance {cfg['guidance']}, h at every step (spatial mean); "
        f"`{cfg['method']}` directions, {cfg['permutations']} prompt-level permutations, "
        f"significant = q < 0.05 and d ≥ {cfg['min_effect']}.",
        "",
        "Planted (biased model): " + ", ".join(f"{c} → {a} ({p:.0%})" for c, a, p in planted)
        + "; everything else independent and uniform.",
        "",
        "| model | planted pair | effect d | q | caption rate (concept vs baseline) | found |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        ev = run["eval"]
        if ev is None:
            lines.append(f"| {name} | — | — | — | — | {run['error']} |")
            continue
        for c, a, _ in planted:
            r = ev["by"].get((c, a))
            if r is None:
                lines.append(f"| {name} | {c} → {a} | — | — | — | not tested |")
                continue
            lines.append(
                f"| {name} | {c} → {a} | {r['effect']:.2f} | {r['q_value']:.3g} | "
                f"{r['caption_rate_concept']:.2f} vs {r['caption_rate_rest']:.2f} | "
                f"{'yes' if r['significant'] else 'no'} |"
            )
    lines += ["", "| model | recall | false (q<0.05, d≥floor) | false at q<0.05 alone | "
              "largest other d | caption check finds | shape accuracy | train s | decode s |",
              "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, run in runs.items():
        ev = run["eval"]
        if ev is None:
            continue
        planted_pairs = {(c, a) for c, a, _ in planted}
        others = [r["effect"] for k, r in ev["by"].items() if k not in planted_pairs]
        recall = "—" if name == "unbiased" else f"{ev['recall']:.2f}"
        found = [k for k, r in ev["by"].items() if r["significant"]]
        false = ev["false"] if name != "unbiased" else found
        lines.append(
            f"| {name} | {recall} | {len(false)} {_pairs(false)} | {len(ev['q_only_false'])} | "
            f"{max(others):.2f} | {_pairs(ev['caption_found'])} | {run['acc']['shape']:.2f} | "
            f"{run['train_s']:.0f} | {run['decode_s']:.0f} |"
        )
    lines += [
        "",
        "Effect d: Cohen's d of the projections on the attribute's h-space direction, samples "
        "of the concept's prompts against the other shapes' prompts. The \"false at q<0.05 "
        "alone\" column counts what the significance test alone would report: mostly secondary "
        "effects of conservation (circles are rarely small, so the other shapes look relatively "
        "small), which the effect-size floor removes. Caption check: pairs whose caption rates "
        "differ by > 0.2 with Bonferroni-corrected caption p < 0.05 (no h-space involved).",
        "",
    ]
    return "\n".join(lines)


def _pairs(pairs) -> str:
    return "(" + ", ".join(f"{c}→{a}" for c, a in pairs) + ")" if pairs else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget (smoke test)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--channels", default="16,32", help="U-Net block_out_channels")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--inference-steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--method", default="ridge")
    parser.add_argument("--planted", choices=sorted(PLANTED_SETS), default="colour")
    parser.add_argument("--biased-model", type=Path, default=None,
                        help="decode this trained model instead of training the biased one")
    parser.add_argument("--unbiased-model", type=Path, default=None,
                        help="decode this trained model instead of training the unbiased one")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/latents-bench"))
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "latents_associations.md")
    args = parser.parse_args()
    cfg = {
        "quick": args.quick,
        "planted": args.planted,
        "n_train": 600 if args.quick else args.n_train,
        "steps": args.steps or (20 if args.quick else 300),
        "batch_size": args.batch_size,
        "lr": args.lr,
        "unet": {"block_out_channels": [int(c) for c in args.channels.split(",")],
                 "attention_heads": 2},
        "seed": 0,
        "threads": args.threads,
        "seeds": args.seeds or (2 if args.quick else 12),
        "inference_steps": 5 if args.quick else args.inference_steps,
        "guidance": 3.0,
        "sample_batch": 128,
        "method": args.method,
        "permutations": 200 if args.quick else 2000,
        "n_phrasings": len(PHRASINGS),
        "min_effect": 0.5,
    }
    import torch

    torch.set_num_threads(args.threads)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    args.workdir.mkdir(parents=True, exist_ok=True)
    runs = {}
    from diffembed.exceptions import InputError

    planted_set = PLANTED_SETS[args.planted]
    runs_note: list[str] = []
    for name, planted in (("biased", planted_set), ("unbiased", [])):
        given = args.biased_model if name == "biased" else args.unbiased_model
        if given is not None:
            from diffembed.latents import load_model

            model, train_s = load_model(given), float("nan")
            runs_note.append(f"{name}: model {given} (trained beforehand, "
                             f"{model.config.get('training', {}).get('steps')} steps)")
        else:
            model, train_s = train(planted, cfg, args.workdir, f"{name}-{args.planted}")
        try:
            result, table, decode_s = decode(model, cfg)
        except InputError as exc:  # e.g. a model too little trained to vary its images
            runs[name] = {"eval": None, "error": str(exc)[:120], "train_s": train_s}
            print(name, "failed:", exc, flush=True)
            continue
        runs[name] = {"eval": evaluate(table, planted_set), "train_s": train_s,
                      "decode_s": decode_s, "acc": accuracy(model, result)}  # fmt: skip
        print(name, "found", [(r["concept"], r["attribute"]) for r in runs[name]["eval"]["rows"]
                              if r["significant"]], flush=True)  # fmt: skip
    text = markdown(cfg, runs, load, planted_set)
    if runs_note:
        text += "\n" + "\n".join(f"* {n}" for n in runs_note) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
