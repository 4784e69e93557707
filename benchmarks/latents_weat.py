"""WEAT on MiniLM word vectors: diffembed.latents.weat side by side with WEFE's WEAT metric.

    .venv/bin/python benchmarks/latents_weat.py --wefe-python .venv-wefe/bin/python
    python benchmarks/latents_weat.py          # one env where diffembed[text] and wefe import

WEFE (``pip install wefe``) pins numpy <= 1.26.4 and scipy < 1.13, so it usually lives in its
own venv (``benchmarks/setup_bench_env.sh`` builds ``.venv-wefe``; by hand:
``python3 -m venv .venv-wefe && .venv-wefe/bin/pip install wefe``). The script runs itself in
that interpreter for the WEFE side only (``--stage sets`` / ``--stage wefe``, which import wefe,
gensim and numpy but not diffembed) and exchanges word lists and vectors through JSON and
``.npy`` files in ``--workdir``.

Word sets: the ten tests of Caliskan, Bryson & Narayanan (2017), from WEFE's
``wefe.datasets.load_weat()``. Every word is embedded on its own with
``diffembed.embed.encode`` (all-MiniLM-L6-v2, unit vectors, float32); both sides get the same
vectors (WEFE through a float64 gensim ``KeyedVectors`` wrapped in ``WordEmbeddingModel``).
A word listed twice in one set is kept once (WEFE stores sets as dicts).

Compared: the effect size (WEFE divides by the population standard deviation, so ours is run
with ``ddof=0`` for the comparison; our default ``ddof=1`` is shown too) must agree to 1e-6;
the statistic likewise. p-values are compared loosely: ours is exact or 10,000 random
partitions (seeded), WEFE's draws ``--wefe-iterations`` orderings of the pool with replacement
(unseeded), one-sided right-tailed. Writes ``benchmarks/results/latents_weat.md``.
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

RESULTS = Path(__file__).resolve().parent / "results"

#: (name, X, Y, A, B): the ten WEAT tests of Caliskan et al. (2017), WEFE's set names.
TESTS = [
    (
        "WEAT1 flowers/insects × pleasant/unpleasant",
        "flowers",
        "insects",
        "pleasant_5",
        "unpleasant_5a",
    ),
    (
        "WEAT2 instruments/weapons × pleasant/unpleasant",
        "instruments",
        "weapons",
        "pleasant_5",
        "unpleasant_5a",
    ),
    (
        "WEAT3 EA/AA names × pleasant/unpleasant",
        "european_american_names_5",
        "african_american_names_5",
        "pleasant_5",
        "unpleasant_5b",
    ),
    (
        "WEAT4 EA/AA names (Bertrand) × pleasant/unpleasant",
        "european_american_names_7",
        "african_american_names_7",
        "pleasant_5",
        "unpleasant_5b",
    ),
    (
        "WEAT5 EA/AA names (Bertrand) × pleasant/unpleasant (Nosek)",
        "european_american_names_7",
        "african_american_names_7",
        "pleasant_9",
        "unpleasant_9",
    ),
    ("WEAT6 male/female names × career/family", "male_names", "female_names", "career", "family"),
    ("WEAT7 math/arts × male/female terms", "math", "arts", "male_terms", "female_terms"),
    (
        "WEAT8 science/arts × male/female terms",
        "science",
        "arts_2",
        "male_terms_2",
        "female_terms_2",
    ),
    (
        "WEAT9 mental/physical disease × temporary/permanent",
        "mental_disease",
        "physical_disease",
        "temporary",
        "permanent",
    ),
    (
        "WEAT10 young/old names × pleasant/unpleasant",
        "young_people_names",
        "old_people_names",
        "pleasant_9",
        "unpleasant_9",
    ),
]


def _unique(words: list[str]) -> list[str]:
    return list(dict.fromkeys(words))


# ------------------------------------------------------------------ WEFE side (wefe env)


def stage_sets(workdir: Path) -> None:
    from wefe.datasets import load_weat

    sets = {k: list(v) for k, v in load_weat().items()}
    (workdir / "sets.json").write_text(json.dumps(sets), encoding="utf-8")


def stage_wefe(workdir: Path, iterations: int) -> None:
    import wefe
    from gensim.models import KeyedVectors
    from wefe.metrics import WEAT
    from wefe.query import Query
    from wefe.word_embedding_model import WordEmbeddingModel

    words = json.loads((workdir / "words.json").read_text(encoding="utf-8"))
    vectors = np.load(workdir / "vectors.npy").astype(np.float64)
    kv = KeyedVectors(vectors.shape[1], count=len(words), dtype=np.float64)
    kv.add_vectors(words, vectors)
    model = WordEmbeddingModel(kv, "all-MiniLM-L6-v2")
    tests = json.loads((workdir / "tests.json").read_text(encoding="utf-8"))
    metric = WEAT()
    out = {"wefe_version": wefe.__version__, "iterations": iterations, "tests": []}
    for test in tests:
        query = Query(
            [test["X"], test["Y"]],
            [test["A"], test["B"]],
            [test["x_name"], test["y_name"]],
            [test["a_name"], test["b_name"]],
        )
        t0 = time.perf_counter()
        res = metric.run_query(query, model, lost_vocabulary_threshold=0.0)
        t1 = time.perf_counter()
        pres = metric.run_query(
            query,
            model,
            calculate_p_value=True,
            p_value_iterations=iterations,
            lost_vocabulary_threshold=0.0,
        )
        t2 = time.perf_counter()
        out["tests"].append(
            {
                "name": test["name"],
                "effect_size": float(res["effect_size"]),
                "weat": float(res["weat"]),
                "p_value": float(pres["p_value"]),
                "seconds_effect": t1 - t0,
                "seconds_p": t2 - t1,
            }
        )
    (workdir / "wefe.json").write_text(json.dumps(out, indent=1), encoding="utf-8")


# ------------------------------------------------------------------ our side (diffembed env)


def _run_stage(python: str, stage: str, workdir: Path, iterations: int) -> None:
    cmd = [python, str(Path(__file__).resolve()), "--stage", stage, "--workdir", str(workdir)]
    cmd += ["--wefe-iterations", str(iterations)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(cmd, check=True, env=env)


def main(args: argparse.Namespace) -> int:
    from diffembed.embed import encode
    from diffembed.latents.weat import weat_words

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="latents_weat_"))
    workdir.mkdir(parents=True, exist_ok=True)
    python = args.wefe_python or sys.executable
    load = os.getloadavg()[0]
    _run_stage(python, "sets", workdir, args.wefe_iterations)
    sets = json.loads((workdir / "sets.json").read_text(encoding="utf-8"))
    tests, deduped = [], 0
    for name, x, y, a, b in TESTS:
        entry = {"name": name, "x_name": x, "y_name": y, "a_name": a, "b_name": b}
        for key, set_name in zip("XYAB", (x, y, a, b), strict=True):
            entry[key] = _unique(sets[set_name])
            deduped += len(sets[set_name]) - len(entry[key])
        tests.append(entry)
    words = _unique([w for t in tests for key in "XYAB" for w in t[key]])
    t0 = time.perf_counter()
    vectors = encode(words)
    t_encode = time.perf_counter() - t0
    (workdir / "words.json").write_text(json.dumps(words), encoding="utf-8")
    np.save(workdir / "vectors.npy", vectors)
    (workdir / "tests.json").write_text(json.dumps(tests), encoding="utf-8")
    lookup = {w: v.astype(np.float64) for w, v in zip(words, vectors, strict=True)}
    ours = []
    for t in tests:
        sets4 = [t[k] for k in "XYAB"]
        t1 = time.perf_counter()
        r0 = weat_words(lookup, *sets4, ddof=0, n_permutations=args.n_permutations)
        dt = time.perf_counter() - t1
        r1 = weat_words(lookup, *sets4, ddof=1, n_permutations=args.n_permutations)
        ours.append((r0, r1, dt))
    _run_stage(python, "wefe", workdir, args.wefe_iterations)
    wefe = json.loads((workdir / "wefe.json").read_text(encoding="utf-8"))

    lines = [
        f"<!-- load average at start {load:.1f}, {os.cpu_count()} cpus -->",
        f"WEAT on all-MiniLM-L6-v2 word vectors ({len(words)} words, encoded in {t_encode:.1f} s)"
        f": diffembed.latents.weat vs WEFE {wefe['wefe_version']} `WEAT` metric, same vectors.",
        "",
        "d = effect size with the population std (ddof=0, WEFE's definition); d₁ = ours with "
        "the sample std (ddof=1, our default). Our p: one-sided, "
        f"exact or {args.n_permutations} seeded random partitions; WEFE p: "
        f"{wefe['iterations']} orderings drawn with replacement, unseeded.",
        "",
        "| test | n X/Y/A/B | ours d | WEFE d | abs diff d | abs diff stat | ours d₁ | ours p "
        "| WEFE p | ours s | WEFE s (p) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    max_diff = max_stat = 0.0
    for t, (r0, r1, dt), w in zip(tests, ours, wefe["tests"], strict=True):
        diff = abs(r0.effect_size - w["effect_size"])
        sdiff = abs(r0.statistic - w["weat"])
        max_diff, max_stat = max(max_diff, diff), max(max_stat, sdiff)
        sizes = "/".join(str(len(t[k])) for k in "XYAB")
        exact = " (exact)" if r0.exact else ""
        lines.append(
            f"| {t['name']} | {sizes} | {r0.effect_size:.6f} | {w['effect_size']:.6f} | "
            f"{diff:.1e} | {sdiff:.1e} | {r1.effect_size:.4f} | {r0.p_value:.4g}{exact} | "
            f"{w['p_value']:.4g} | {dt:.2f} | {w['seconds_p']:.1f} |"
        )
    ok = max_diff <= 1e-6 and max_stat <= 1e-6
    lines += [
        "",
        f"Max |d difference| = {max_diff:.2e}, max |statistic difference| = {max_stat:.2e}: "
        f"{'PASS' if ok else 'FAIL'} (tolerance 1e-6). Words listed twice in a set and dropped: "
        f"{deduped}. Times: ours s = effect size + p-value, WEFE s = its p-value run alone.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latents_weat.md").write_text(text, encoding="utf-8")
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wefe-python", help="interpreter where wefe imports (default: this one)")
    parser.add_argument("--workdir", help="folder for the exchanged files (default: a temp dir)")
    parser.add_argument("--n-permutations", type=int, default=10_000)
    parser.add_argument("--wefe-iterations", type=int, default=1_000)
    parser.add_argument(
        "--stage", choices=["main", "sets", "wefe"], default="main", help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    if args.stage == "sets":
        stage_sets(Path(args.workdir))
    elif args.stage == "wefe":
        stage_wefe(Path(args.workdir), args.wefe_iterations)
    else:
        sys.exit(main(args))
