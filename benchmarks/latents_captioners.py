"""The CLIP captioner against the shapes classifier: same planted associations, same words.

One command → a markdown table. On a shapes model trained with planted associations (concept →
attribute), ``diffembed latents decode`` runs twice on the same prompts and seeds: once with the
model's own attribute classifier as captioner, once zero-shot with a CLIP folder trained by
``diffembed latents clip-train`` (``--captioner clip:DIR``). It reports, per captioner, the
planted pairs found (recall), the false pairs, the agreement of the two captioners' words per
family on the same images, and whether each planted concept's decoded top words
(``diffembed latents words``) include its planted attribute.

Usage::

    python benchmarks/latents_captioners.py --model MODEL_DIR --clip CLIP_DIR --plant plant.json
    python benchmarks/latents_captioners.py --train        # trains both first (tens of minutes)

``plant.json`` is the file the model was trained with (``[["square", "blue", 0.9], ...]``).
Writes ``benchmarks/results/latents_captioners.md``. The prompts name the shape only (8
phrasings per shape), so every other family is left to the model — where a plant shows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
PHRASINGS = ("a %s", "a picture of a %s", "an image of a %s", "a drawing of a %s", "one %s",
             "the %s", "a single %s", "a %s shape")  # fmt: skip
SHAPES = ("circle", "square", "triangle", "cross")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "diffembed", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        msg = f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}"
        raise SystemExit(msg)
    return proc


def _plants(path: Path) -> set[tuple[str, str]]:
    return {(str(c), str(a)) for c, a, *_ in json.loads(path.read_text())}


def _significant(out: Path) -> set[tuple[str, str]]:
    rows = pv.read_csv(out / "associations.csv").to_pylist()
    return {(r["concept"], r["attribute"]) for r in rows if r["significant"]}


def _top_words(out: Path, concept: str, top: int) -> list[str]:
    proc = _cli("latents", "words", str(out), "--concept", concept, "--top", str(top), "--json")
    return [r["word"] for r in json.loads(proc.stdout)["concepts"][concept]["words"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--clip", type=Path)
    parser.add_argument("--plant", type=Path)
    parser.add_argument("--train", action="store_true", help="train the model and the CLIP first")
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--steps", type=int, default=10, help="denoising steps")
    parser.add_argument("--top", type=int, default=3, help="top decoded words checked")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks/results/latents_captioners.md")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="captioners-"))
    work.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    if args.train:
        args.plant = work / "plant.json"
        args.plant.write_text('[["square", "blue", 0.9], ["circle", "red", 0.9], '
                              '["triangle", "green", 0.9]]')  # fmt: skip
        args.model, args.clip = work / "model", work / "clip"
        t = time.perf_counter()
        _cli("latents", "train", "-o", str(args.model), "--associations", str(args.plant))
        times["train model"] = time.perf_counter() - t
        t = time.perf_counter()
        _cli("latents", "clip-train", "--dataset", "shapes", "-o", str(args.clip))
        times["train CLIP"] = time.perf_counter() - t
    if not (args.model and args.clip and args.plant):
        parser.error("give --model, --clip and --plant, or --train")
    plants = _plants(args.plant)
    prompts = work / "prompts.txt"
    prompts.write_text("\n".join(p % s for s in SHAPES for p in PHRASINGS) + "\n")
    outs = {}
    for name, spec in (("classifier", "classifier"), ("clip", f"clip:{args.clip}")):
        out = work / f"decoded-{name}"
        t = time.perf_counter()
        _cli("latents", "decode", str(args.model), "--prompts", str(prompts), "-o", str(out),
             "--seeds", str(args.seeds), "--steps", str(args.steps), "--captioner", spec,
             "--no-report", "--overwrite")  # fmt: skip
        times[f"decode ({name})"] = time.perf_counter() - t
        outs[name] = out
    samples = {k: pq.read_table(v / "samples.parquet").to_pydict() for k, v in outs.items()}
    families = ("shape", "colour", "size", "position")
    agree = {f: float(np.mean(np.asarray(samples["classifier"][f], dtype=object)
                              == np.asarray(samples["clip"][f], dtype=object)))
             for f in families if f in samples["classifier"] and f in samples["clip"]}  # fmt: skip
    lines = [
        "# CLIP captioner vs the shapes classifier",
        "",
        f"Model `{args.model}`, planted {sorted(plants)}; {len(SHAPES) * len(PHRASINGS)} prompts × "
        f"{args.seeds} seeds, {args.steps} denoising steps; reproduce with "
        "`python benchmarks/latents_captioners.py --model M --clip C --plant P`.",
        "",
        "| captioner | planted found | recall | false pairs | planted concept → top words "
        f"(top {args.top}) |",
        "|---|---|---|---|---|",
    ]
    for name, out in outs.items():
        found = _significant(out)
        words = {c: _top_words(out, c, args.top) for c, _ in sorted(plants)}
        hits = ", ".join(f"{c} → {'/'.join(words[c])} ({'✓' if a in words[c] else '✗'})"
                         for c, a in sorted(plants))  # fmt: skip
        lines.append(f"| {name} | {len(found & plants)}/{len(plants)} | "
                     f"{len(found & plants) / len(plants):.2f} | "
                     f"{sorted(found - plants) or 'none'} | {hits} |")  # fmt: skip
    lines += ["", "Agreement of the two captioners' words on the same images: "
              + ", ".join(f"{f} {v:.3f}" for f, v in agree.items()) + ".", "",
              "Times: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()) + "."]  # fmt: skip
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
