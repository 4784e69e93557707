"""The arithmetic of benchmarks/latents_replication.py and the analysis store of
benchmarks/latents_associations.py (the runs themselves take hours: see their docstrings)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def replication():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("latents_replication")
    finally:
        sys.path.remove(str(BENCHMARKS))


def _ev(rows: dict, found=(), false=(), **classes) -> dict:
    ev = {"rows": rows, "found": list(found), "false": list(false), "n_pairs": len(rows),
          "not_in_data": [], "reverse": [], "linked": [], "conservation": [], "data_d": {}}
    ev.update(classes)
    return ev


def _row(agreement: str, significant: bool, rate: float = 0.9, rest: float = 0.2) -> dict:
    tested = "no h-space test" not in agreement
    return {"agreement": agreement, "significant": significant,
            "p_hspace": 0.01 if tested else float("nan"),
            "caption_rate_concept": rate, "caption_rate_rest": rest}


def _null_runs(effects_a, effects_b, p_a, p_b) -> list[dict]:
    pairs = [(f"c{i}", f"a{i}") for i in range(len(effects_a))]
    rows = [{pair: {"effect_captions": e, "p_captions": p, "effect_hspace": np.nan,
                    "p_hspace": np.nan} for pair, e, p in zip(pairs, es, ps, strict=True)}
            for es, ps in ((effects_a, p_a), (effects_b, p_b))]
    return [{"planted": [], "index": 1, "seed": 100, "evals": [_ev(rows[0]), _ev(rows[1])]}]


def test_null_concordance_tells_reproducible_biases_from_noise(replication):
    rng = np.random.default_rng(0)
    bias = rng.normal(size=400)
    # a model with biases of its own: both sets of seeds see them, plus their own noise
    a, b = bias + 0.3 * rng.normal(size=400), bias + 0.3 * rng.normal(size=400)
    runs = _null_runs(a, b, np.where(a > 1.6, 0.01, 0.5), np.where(b > 1.6, 0.01, 0.5))
    c = replication.null_concordance(runs, 0, 1, "captions")
    assert c["n"] == 400
    assert c["corr"] > 0.8
    assert c["again"] > 0.5 > 0.05 > c["again_else"]
    # noise only: no correlation, a call in one set says nothing about the other
    a, b = rng.normal(size=400), rng.normal(size=400)
    runs = _null_runs(a, b, np.where(a > 1.6, 0.01, 0.5), np.where(b > 1.6, 0.01, 0.5))
    c = replication.null_concordance(runs, 0, 1, "captions")
    assert abs(c["corr"]) < 0.15
    assert c["again"] < 0.25
    # pairs without a test (NaN p) in either set are left out
    assert replication.null_concordance(runs, 0, 1, "hspace")["n"] == 0


def test_per_seed_set_counts_recall_and_the_kinds_of_unplanted_pairs(replication):
    plant_rows = [
        {("circle", "green"): _row("captions (no h-space test)", True),
         ("square", "right"): _row("neither", False),
         ("green", "circle"): _row("both", True),  # reverse of a plant
         ("red", "left"): _row("both", True)},  # not implied, not in the data
        {("circle", "green"): _row("both", True), ("square", "right"): _row("both", True),
         ("green", "circle"): _row("captions only", False),
         ("red", "left"): _row("neither", False)},
    ]  # fmt: skip
    data_d = {("green", "circle"): 1.4, ("red", "left"): 0.05}
    plant = {"planted": [("circle", "green", 0.9), ("square", "right", 0.9)], "index": 1,
             "seed": 0, "evals": [{"rows": rows, "n_pairs": 4, "data_d": data_d}
                                  for rows in plant_rows]}  # fmt: skip
    null = {"planted": [], "index": 1, "seed": 100,
            "evals": [{"rows": {("a", "b"): _row("both", True)}, "n_pairs": 1, "data_d": {}},
                      {"rows": {("a", "b"): _row("neither", False)}, "n_pairs": 1,
                       "data_d": {}}]}  # fmt: skip
    first = replication.per_seed_set([plant, null], 0)
    assert first == {"planted": 2, "found": 1, "significant": 3, "unplanted": 2,
                     "null_pairs": 1, "null_called": 1, "not_implied": 1, "not_in_data": 1}
    second = replication.per_seed_set([plant, null], 1)
    assert (second["found"], second["unplanted"], second["null_called"]) == (2, 0, 0)


def test_a_stored_analysis_reads_back_the_same(replication, tmp_path):
    from diffembed.latents.analysis import DecodeAnalysis

    bench = replication.bench
    table = pa.table({"concept": ["circle"], "attribute": ["green"], "q_value": [0.01]})
    analysis = DecodeAnalysis(tables={"associations": table}, summary={"n_pairs": 1},
                              warnings=["undertrained for shape"])
    folder = tmp_path / "analysis-abc"
    assert bench._load_analysis(folder) is None
    bench._save_analysis(analysis, folder)
    back = bench._load_analysis(folder)
    assert back.tables["associations"].equals(table)
    assert back.summary == {"n_pairs": 1}
    assert back.warnings == ["undertrained for shape"]
    assert [p.name for p in tmp_path.iterdir()] == ["analysis-abc"]  # no partial folder left
    key = bench._analysis_key({"q": 0.05})
    assert key == bench._analysis_key({"q": 0.05}) != bench._analysis_key({"q": 0.1})


def test_unplanted_pairs_show_whether_the_model_draws_them_above_every_other_word(replication):
    bench = replication.bench

    def row(rate: float) -> dict:
        return {"caption_rate_concept": rate, "effect_hspace": 0.8, "p_hspace": 0.01,
                "effect_captions": 1.2}

    # plant green → small: the other colours are relatively large (a conservation pair), and this
    # model also draws blue large more than red and yellow (a bias of its own)
    rows = {("green", "large"): row(0.06), ("red", "large"): row(0.63),
            ("blue", "large"): row(1.0), ("yellow", "large"): row(0.88),
            ("red", "left"): row(0.30), ("green", "left"): row(0.10),
            ("blue", "left"): row(0.35), ("yellow", "left"): row(0.20)}
    ev = _ev(rows, false=[("blue", "large"), ("red", "left")],
             conservation=[("blue", "large")], data_d={("blue", "large"): 0.196})
    assert bench.family_rates(ev, ("blue", "large")) == {
        "blue": 1.0, "red": 0.63, "green": 0.06, "yellow": 0.88}
    lines = bench._unplanted_detail([{"index": 4, "eval": ev}])
    blue = next(line for line in lines if "blue→large" in line)
    assert "conservation pair of a plant" in blue
    assert "| 0.20 |" in blue
    assert "blue 1.00 · red 0.63 · green 0.06 · yellow 0.88" in blue
    assert blue.endswith("| yes |")
    ev["not_in_data"] = [("blue", "large")]
    assert "| 0.196 (not in data) |" in bench._unplanted_detail([{"index": 4, "eval": ev}])[5]
    # red is above the pooled rest (0.22) but below blue: not the model's own association of red
    red = next(line for line in lines if "red→left" in line)
    assert red.endswith("| no |")
    assert "| no |" in red.split("red→left")[1][:8]
    assert bench._unplanted_detail([{"index": 1, "eval": _ev({})}])[-1] == "| — | none |||||||"


def test_a_replication_without_null_models_says_so_instead_of_printing_nan(replication):
    cfg = {**replication.bench.defaults(), "budget": "default", "evidence": "both"}
    plant = {"planted": [("circle", "green", 0.9)], "index": 1, "seed": 0,
             "evals": [_ev({("circle", "green"): _row("both", True)}, found=[("circle", "green")]),
                       _ev({("circle", "green"): _row("neither", False)})]}  # fmt: skip
    text = replication.markdown(cfg, [plant], [0, 16], "0.1, 0.1, 0.1", 1.0)
    assert "1/2 = 0.50" in text
    first = next(line for line in text.splitlines() if line.startswith("| 0–15 |"))
    assert first.endswith("| — |")
    assert "no null model decoded" in text
    assert "No null model was decoded" in text
    assert "## Null models" not in text
    assert "nan" not in text


def test_each_choice_of_evidence_is_read_from_the_agreement_of_the_same_tests(replication):
    bench = replication.bench
    rows = {
        ("circle", "green"): _row("captions (no h-space test)", True),  # planted
        ("square", "right"): _row("captions only", False),  # planted, vetoed by h-space
        ("green", "circle"): _row("both", True),  # reverse of a plant
        ("red", "left"): _row("hspace only", False),  # not implied
        ("blue", "small"): _row("hspace only", False, rate=0.1, rest=0.3),  # rates disagree
        ("cross", "large"): _row("neither", False),
    }
    ev = {"rows": rows, "n_pairs": len(rows),
          "data_d": {("green", "circle"): 1.4, ("red", "left"): 0.05}}
    planted = [("circle", "green", 0.9), ("square", "right", 0.9)]
    null = {("a", "b"): _row("captions only", False), ("c", "d"): _row("hspace only", False)}
    decodes = [(planted, ev), ([], {"rows": null, "n_pairs": 2, "data_d": {}})]
    captions = bench.evidence_counts(decodes, "captions")
    assert captions == {"planted": 2, "found": 2, "unplanted": 1, "not_implied": 0,
                        "not_in_data": 0, "null_pairs": 2, "null_called": 1}
    hspace = bench.evidence_counts(decodes, "hspace")
    assert (hspace["found"], hspace["unplanted"], hspace["not_implied"],
            hspace["not_in_data"], hspace["null_called"]) == (0, 2, 1, 1, 1)
    both = bench.evidence_counts(decodes, "both")  # the decode's own column
    assert (both["found"], both["unplanted"], both["null_called"]) == (1, 1, 0)
    # read from the tests, not from the run's own choice: the same rows of a run made with
    # --evidence captions (no renamed agreement, every caption call significant)
    recaptioned = {pair: {**row, "significant": row["agreement"] in bench.HOLDS["captions"],
                          "agreement": row["agreement"].replace(" (no h-space test)", " only")}
                   for pair, row in rows.items()}  # fmt: skip
    again = bench.evidence_counts([(planted, {**ev, "rows": recaptioned})], "both")
    assert (again["found"], again["unplanted"]) == (1, 1)
    table = "\n".join(bench.evidence_table(decodes))
    assert "| captions | 2/2 = 1.00 | 1/3 = 0.33 / 0/3 / 0/3 | 1/2 |" in table
    assert "| both (default) | 1/2 = 0.50 |" in table


def test_unplanted_pairs_are_classified_by_how_they_follow_from_the_plants(replication):
    follows = replication.bench.follows
    plants = {("cross", "blue"), ("cross", "centre"), ("square", "small")}
    assert follows(("blue", "cross"), plants) == "reverse"
    assert follows(("blue", "centre"), plants) == "linked"
    assert follows(("circle", "large"), plants) == "conservation"
    assert follows(("red", "left"), plants) is None
    assert follows(("small", "left"), plants) is None
    # the plant's own concept with another colour: less red because blue, not by conservation
    assert follows(("cross", "red"), plants) is None
