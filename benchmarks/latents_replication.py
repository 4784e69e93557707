"""Replication of ``latents decode`` over independent seed sets: one command → a table.

The models of ``benchmarks/latents_associations.py`` (5 plant sets, 10 null models, the
default budget) decoded on several disjoint sets of seeds (``--first-seeds 0 16 32``: seeds
0–15, 16–31 and 32–47 with the default 16 seeds per prompt). Each set of seeds is an
independent draw of the images, so the spread between them is the sampling noise of one
``decode`` run, and an association found in one and not the others is noise of the decoder,
while one found in all is a property of the model.

Reported:

* per set of seeds and pooled over them: recall of planted pairs (pooled with its Wilson 95 %
  interval), significant pairs that were not planted (all / not implied by a plant / not an
  association of the training data), null-model pairs called significant;
* every planted pair: found in which sets, with its caption and h-space d in each;
* every unplanted pair called significant in a plant set: how it relates to the plants, its d
  in the training data and whether the other sets find it too;
* the **null models**: for each two sets, the correlation of the pairs' caption d and h-space
  d between them, and how often a pair with p < 0.05 in one set has p < 0.05 in the other
  (against the pairs with p ≥ 0.05). A test whose p < 0.05 calls were noise would show ~0
  correlation and ~5 % in both columns; a large correlation means that the null models (trained
  on data without any association) have concept × attribute biases of their own, which the
  tests measure reproducibly.

Models and h-spaces are cached in ``--workdir`` exactly as the main benchmark caches them (a
model or an h-space missing there is trained or sampled; a whole run from nothing takes hours
on 2 cores), and so are the analyses, keyed by their settings and the source of
``diffembed.latents``.

Usage::

    nice -n 10 .venv/bin/python benchmarks/latents_replication.py --workers 2 \\
        --workdir /tmp/latents-bench --first-seeds 0 16 32

The table goes to ``benchmarks/results/latents_replication.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import latents_associations as bench  # the benchmark beside this file


def run_job(planted_run: bool, index: int, seed: int, cfg: dict[str, Any], workdir: Path,
            first_seeds: list[int]) -> dict[str, Any]:
    """Load (or train) one model and decode it on every set of seeds; prints one line."""
    import torch

    torch.set_num_threads(cfg["threads"])
    planted = bench.draw_plant_set(seed) if planted_run else []
    model, _, model_dir = bench.train(planted, cfg, seed, workdir)
    data_d = bench.data_effects(planted, cfg, seed)
    evals = []
    for first in first_seeds:
        analysis, _ = bench.decode(model, {**cfg, "first_seed": first}, model_dir)
        ev = bench.evaluate(analysis, planted, data_d)
        del ev["warnings"]
        evals.append(ev)
    print(f"{'plant set' if planted else 'null'} {index + 1} (seed {seed}): found "
          + " | ".join(bench._pairs(ev["found"]) for ev in evals), flush=True)
    return {"planted": planted, "index": index + 1, "seed": seed, "evals": evals}


def _name(run: dict[str, Any]) -> str:
    return f"{'plant set' if run['planted'] else 'null'} {run['index']}"


def _d(value: Any) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.2f}"


def per_seed_set(runs: list[dict[str, Any]], k: int) -> dict[str, int]:
    """Counts of one set of seeds (k: its position), over the plant sets and the nulls: those of
    :func:`latents_associations.evidence_counts` with the decode's evidence (``both``), plus
    ``significant`` (found + unplanted)."""
    out = bench.evidence_counts([(r["planted"], r["evals"][k]) for r in runs], "both")
    out["significant"] = out["found"] + out["unplanted"]
    return out


def null_concordance(runs: list[dict[str, Any]], a: int, b: int, test: str) -> dict[str, float]:
    """Between sets of seeds a and b, over the pairs of the null models tested in both: the
    correlation of the effects, the shares with p < 0.05, and P(p_b < 0.05 | p_a < 0.05)
    against P(p_b < 0.05 | p_a ≥ 0.05)."""
    ea, eb, pa, pb = [], [], [], []
    for run in runs:
        if run["planted"]:
            continue
        rows_a, rows_b = run["evals"][a]["rows"], run["evals"][b]["rows"]
        for pair, ra in rows_a.items():
            rb = rows_b.get(pair)
            if rb is None or not (np.isfinite(ra[f"p_{test}"]) and np.isfinite(rb[f"p_{test}"])):
                continue
            ea.append(ra[f"effect_{test}"])
            eb.append(rb[f"effect_{test}"])
            pa.append(ra[f"p_{test}"])
            pb.append(rb[f"p_{test}"])
    ea, eb, pa, pb = map(np.asarray, (ea, eb, pa, pb))
    hit = pa < 0.05
    return {
        "n": int(ea.size),
        "corr": float(np.corrcoef(ea, eb)[0, 1]) if ea.size > 2 else float("nan"),
        "p05_a": float(hit.mean()) if ea.size else float("nan"),
        "p05_b": float((pb < 0.05).mean()) if ea.size else float("nan"),
        "n_hit": int(hit.sum()),
        "again": float((pb[hit] < 0.05).mean()) if hit.any() else float("nan"),
        "again_else": float((pb[~hit] < 0.05).mean()) if (~hit).any() else float("nan"),
    }


def markdown(cfg: dict[str, Any], runs: list[dict[str, Any]], first_seeds: list[int],
             load: str, seconds: float) -> str:
    k_sets = len(first_seeds)
    label = [f"{f}–{f + cfg['seeds'] - 1}" for f in first_seeds]
    counts = [per_seed_set(runs, k) for k in range(k_sets)]
    total = {key: sum(c[key] for c in counts) for key in counts[0]}
    lines = [
        "# Replication of `latents decode` over independent sets of seeds",
        "",
        "`python benchmarks/latents_replication.py " + " ".join(sys.argv[1:]) + "`",
        "",
        f"The models of `benchmarks/latents_associations.py` (budget {cfg['budget']}: "
        f"{cfg['steps']} training steps × batch {cfg['batch_size']} on {cfg['n_train']} images), "
        f"each decoded on {k_sets} disjoint sets of {cfg['seeds']} seeds per prompt "
        f"({', '.join(label)}), {cfg['inference_steps']} denoising steps, evidence "
        f"{cfg['evidence']}, q < {cfg['q']}, d ≥ {cfg['min_effect']}. "
        f"{bench.machine(load, seconds)} (cached models, h-spaces and analyses are re-read, not "
        "redone).",
        "",
        "| seeds | recall of planted pairs | significant pairs not planted: all / not implied by "
        "a plant / not in the training data (d < 0.2) | null-model pairs called significant |",
        "|---|---|---|---|",
    ]
    for name, c in [*zip(label, counts, strict=True), ("**pooled**", total)]:
        sig = max(c["significant"], 1)
        lines.append(
            f"| {name} | {c['found']}/{c['planted']} = {c['found'] / max(c['planted'], 1):.2f} | "
            f"{c['unplanted']}/{c['significant']} = {c['unplanted'] / sig:.2f} / "
            f"{c['not_implied']}/{c['significant']} / {c['not_in_data']}/{c['significant']} | "
            + (f"{c['null_called']}/{c['null_pairs']} |" if c["null_pairs"] else "— |")
        )
    low, high = bench.wilson(total["found"], total["planted"])
    nlow, nhigh = bench.wilson(total["null_called"], total["null_pairs"])
    nulls = (f"null-model pairs called significant {total['null_called']}/{total['null_pairs']} "
             f"(Wilson 95 % [{nlow:.3f}, {nhigh:.3f}])" if total["null_pairs"]
             else "no null model decoded")
    lines += [
        "",
        f"Pooled recall {total['found']}/{total['planted']} = "
        f"{total['found'] / max(total['planted'], 1):.2f} (Wilson 95 % [{low:.2f}, {high:.2f}]); "
        f"{nulls}. The sets of seeds share the models, so the "
        "intervals treat the decodes of one model as independent draws of its images, not of "
        "its training.",
        "",
        "What each choice of `--evidence` calls, pooled over the sets of seeds (read from the "
        "same tests: `captions` alone, `hspace` alone, or `both`, where the captions decide when "
        "there is no h-space test):",
        "",
        *bench.evidence_table([(r["planted"], ev) for r in runs for ev in r["evals"]]),
        "",
        "## Planted pairs",
        "",
        "| model | pair | found in | d captions (" + " / ".join(label) + ") | d h-space ("
        + " / ".join(label) + ") |",
        "|---|---|---|---|---|",
    ]
    for run in (r for r in runs if r["planted"]):
        for a, b, _ in run["planted"]:
            pair = (a, b)
            found = [pair in ev["found"] for ev in run["evals"]]
            rows = [ev["rows"].get(pair, {}) for ev in run["evals"]]
            lines.append(
                f"| {_name(run)} | {a}→{b} | {sum(found)} of {k_sets} | "
                + " / ".join(_d(r.get("effect_captions")) for r in rows) + " | "
                + " / ".join(_d(r.get("effect_hspace")) for r in rows) + " |"
            )
    lines += [
        "",
        "— in the h-space column: no h-space test (the concept's prompts lack the within-prompt "
        "contrast; the captions decide).",
        "",
        "## Significant pairs that were not planted (plant sets)",
        "",
        "| model | pair | relation to the plants | d in the training data | significant in | "
        "d captions (" + " / ".join(label) + ") |",
        "|---|---|---|---|---|---|",
    ]
    for run in (r for r in runs if r["planted"]):
        pairs = sorted({pair for ev in run["evals"] for pair in ev["false"]})
        for pair in pairs:
            where = [label[k] for k, ev in enumerate(run["evals"]) if pair in ev["false"]]
            ev0 = next(ev for ev in run["evals"] if pair in ev["false"])
            rows = [ev["rows"].get(pair, {}) for ev in run["evals"]]
            lines.append(
                f"| {_name(run)} | {pair[0]}→{pair[1]} | {bench.relation(ev0, pair) or 'none'} | "
                f"{ev0['data_d'].get(pair, 0.0):.3f} | {', '.join(where)} | "
                + " / ".join(_d(r.get("effect_captions")) for r in rows) + " |"
            )
    if not any(ev["false"] for r in runs if r["planted"] for ev in r["evals"]):
        lines.append("| — | — | — | — | — | — |")
    if not any(not r["planted"] for r in runs):
        lines += ["", "No null model was decoded (`--nulls 0`): no calibration here.", ""]
        return "\n".join(lines)
    lines += [
        "",
        "## Null models: are their p < 0.05 calls noise or biases of the model?",
        "",
        f"Over the concept × attribute pairs of the {sum(not r['planted'] for r in runs)} null "
        "models tested in both sets of seeds.",
        "",
        "| test | sets of seeds | pairs | correlation of d | share p < 0.05 (first / second) | "
        "p < 0.05 in the second, given p < 0.05 in the first | … given p ≥ 0.05 in the first |",
        "|---|---|---|---|---|---|---|",
    ]
    for test in ("captions", "hspace"):
        for a, b in itertools.combinations(range(k_sets), 2):
            c = null_concordance(runs, a, b, test)
            lines.append(
                f"| {'captions' if test == 'captions' else 'h-space'} | {label[a]} vs {label[b]} "
                f"| {c['n']} | {c['corr']:.2f} | {c['p05_a']:.3f} / {c['p05_b']:.3f} | "
                f"{c['again']:.2f} (of {c['n_hit']}) | {c['again_else']:.3f} |"
            )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first-seeds", type=int, nargs="+", default=[0, 16, 32],
                        help="first seed of every set (each set: --seeds consecutive seeds)")
    parser.add_argument("--budget", default="default",
                        help="default (the library's training steps) or training steps, as the "
                        "association benchmark's --budget (e.g. 2000 for the earlier default)")
    parser.add_argument("--plant-sets", type=int, default=5)
    parser.add_argument("--nulls", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="first draw seed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1,
                        help="models handled at once, each in its own process")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/latents-bench"))
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "latents_replication.md")
    args = parser.parse_args()
    seeds_per_set = bench.defaults()["seeds"]
    firsts = sorted(set(args.first_seeds))
    if len(firsts) < 2:
        parser.error("give at least two --first-seeds: a replication needs two sets of seeds")
    if any(b - a < seeds_per_set for a, b in itertools.pairwise(firsts)):
        parser.error(f"the sets of seeds overlap: each holds {seeds_per_set} seeds, so first "
                     f"seeds must be at least {seeds_per_set} apart (e.g. 0 16 32)")
    cfg = {**bench.defaults(), "budget": args.budget, "threads": args.threads,
           "evidence": "both", "first_seed": 0}  # fmt: skip
    if args.budget != "default":
        if not args.budget.isdigit():
            parser.error(f"--budget {args.budget!r}: give 'default' or a number of training steps")
        cfg["steps"] = int(args.budget)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    args.workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    jobs = [(True, i, args.seed + i) for i in range(args.plant_sets)]
    jobs += [(False, i, 100 + args.seed + i) for i in range(args.nulls)]
    runs = bench.run_jobs(run_job, jobs, args.workers, cfg, args.workdir, firsts)
    text = markdown(cfg, runs, firsts, load, time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
