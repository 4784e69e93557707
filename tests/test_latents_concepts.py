"""The model's defaults, concept clustering by h-direction, and the decode word tables."""

from __future__ import annotations

import numpy as np
import pytest

from diffembed.exceptions import InputError
from diffembed.latents.concepts import (
    CONCEPT_COLUMNS,
    DEFAULT_COLUMNS,
    WORD_COLUMNS,
    concept_clusters,
    decode_tables,
    model_defaults,
    skipped_reason,
)
from diffembed.latents.words import WordDirections, rank_words, word_directions
from tests.test_latents_words import FAMILIES, PROMPTS, Result, synthetic_decode

SMALL = {"shape": ["square", "circle"], "colour": ["red", "blue"], "size": ["small", "large"]}


# ------------------------------------------------------------------------------ defaults
def test_defaults_count_the_unspecified_samples():
    table = {
        "prompt": ["a square"] * 3 + ["a red shape"] * 2 + ["a blue circle"],
        "shape": ["square", "square", "square", "circle", "square", "circle"],
        "colour": ["blue", "blue", "red", "red", "red", "blue"],
        "size": ["small", "large", "large", "large", "large", "small"],
    }  # fmt: skip
    rows = model_defaults(table, SMALL).to_pylist()
    by = {(r["family"], r["word"]): (r["rate"], r["n_samples"]) for r in rows}
    # shape unspecified: the two "a red shape" samples, one circle and one square
    assert by[("shape", "circle")] == (0.5, 2)
    assert by[("shape", "square")] == (0.5, 2)
    # colour unspecified: the three "a square" samples, blue twice
    assert by[("colour", "blue")] == (pytest.approx(2 / 3), 3)
    assert by[("colour", "red")] == (pytest.approx(1 / 3), 3)
    # size never prompted: all six samples, large 4 times
    assert by[("size", "large")] == (pytest.approx(4 / 6), 6)
    assert [r["family"] for r in rows] == ["shape"] * 2 + ["colour"] * 2 + ["size"] * 2
    assert [r["word"] for r in rows[2:4]] == ["blue", "red"]  # by decreasing rate
    assert tuple(model_defaults(table, SMALL).column_names) == DEFAULT_COLUMNS


def test_defaults_from_captions_without_family_columns():
    table = {
        "prompt": ["a square", "a square", "a circle", "a circle"],
        "caption": ["a small blue square", "a large red square", "a small blue circle",
                    "a small blue circle"],
    }  # fmt: skip
    rows = model_defaults(table, SMALL).to_pylist()
    by = {(r["family"], r["word"]): r["rate"] for r in rows}
    assert by[("colour", "blue")] == 0.75
    assert by[("size", "small")] == 0.75
    assert ("shape", "square") not in by  # every prompt names a shape


def test_defaults_empty_with_a_reason():
    uncaptioned = {"prompt": ["a square", "a circle"]}
    t = model_defaults(uncaptioned, SMALL)
    assert t.num_rows == 0
    assert skipped_reason(t) == "the images were not captioned"
    t = model_defaults({"prompt": ["a square"], "caption": ["a red square"]}, None)
    assert skipped_reason(t) == "no attribute families: defaults are per family"
    with pytest.raises(InputError, match="needs an HSpaceResult or a samples table"):
        model_defaults({"caption": ["x"]}, SMALL)


def test_planted_default_read_from_a_decode_run():
    r = synthetic_decode(prompts=PROMPTS[:8], seeds=40)
    rows = model_defaults(r, FAMILIES).to_pylist()
    colour = {x["word"]: x for x in rows if x["family"] == "colour"}
    shape_prompts = np.isin(r.table["prompt"], PROMPTS[:4])
    assert colour["blue"]["n_samples"] == shape_prompts.sum() == 160
    want = np.mean(r.table["colour"][shape_prompts] == "blue")
    assert colour["blue"]["rate"] == pytest.approx(want)
    assert want > 0.4  # squares are blue 90 % of the time: blue is the default colour
    assert rows[[x["family"] for x in rows].index("colour")]["word"] == "blue"


# ------------------------------------------------------------------------------ clusters
def planted_directions(groups=((0, 4), (4, 8)), d=10, noise=0.05, seed=0) -> WordDirections:
    """Concepts whose unit vectors lie near one axis per group."""
    rng = np.random.default_rng(seed)
    n = groups[-1][1]
    V = rng.normal(scale=noise, size=(n, d))
    for g, (a, b) in enumerate(groups):
        V[a:b, g] += 1.0
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    names = [f"c{i}" for i in range(n)]
    fams = [f"f{g}" for g, (a, b) in enumerate(groups) for _ in range(a, b)]
    return WordDirections(
        words=names, vectors=V, sources=["prompts"] * n, families=fams,
        counts=np.full(n, 8), concepts=names, concept_vectors=V, concept_families=fams,
        concept_counts=np.full(n, 8), matched=np.ones(n), center=np.zeros(d),
        scale=np.ones(1), h_shape=(1, d),
    )  # fmt: skip


def test_concepts_cluster_by_direction():
    dirs = planted_directions(groups=((0, 5), (5, 10), (10, 14)), d=12)
    table = concept_clusters(dirs, n_clusters=3)
    assert tuple(table.column_names) == CONCEPT_COLUMNS
    labels = np.array(table.column("cluster").to_pylist())
    groups = [labels[:5], labels[5:10], labels[10:]]
    assert all(np.unique(g).size == 1 for g in groups)
    assert len({int(g[0]) for g in groups}) == 3
    # the diffusion coordinates separate the groups: between-group gaps beat within-group spread
    Y = np.c_[table.column("dc1").to_numpy(), table.column("dc2").to_numpy()]
    centres = np.array([Y[:5].mean(0), Y[5:10].mean(0), Y[10:].mean(0)])
    bounds = ((0, 5), (5, 10), (10, 14))
    spread = max(
        np.linalg.norm(Y[a:b] - c, axis=1).max() for (a, b), c in zip(bounds, centres, strict=True)
    )
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 3 * spread
    # default n_clusters: the number of families
    default = concept_clusters(dirs)
    assert np.unique(default.column("cluster").to_pylist()).size == 3
    assert default.column("family").to_pylist()[:6] == ["f0"] * 5 + ["f1"]


def test_few_concepts_skip_with_a_reason():
    dirs = planted_directions(groups=((0, 2), (2, 3)))
    table = concept_clusters(dirs)
    assert table.num_rows == 0
    assert skipped_reason(table) == (
        "3 concepts with a prompt direction (c0, c1, c2); clustering needs at least 4: give "
        "prompts with more concept words"
    )
    with pytest.raises(InputError, match=r"n_clusters=9 must be an integer in \[1, 8\]"):
        concept_clusters(planted_directions(), n_clusters=9)
    with pytest.raises(InputError, match=r"n_neighbors=8 must be an integer in \[1, 7\]"):
        concept_clusters(planted_directions(), n_neighbors=8)


# -------------------------------------------------------------------------------- tables
def test_decode_tables_on_a_planted_run():
    r = synthetic_decode(prompts=PROMPTS[:8], seeds=40, noise=0.2)
    tables = decode_tables(r, FAMILIES, top=4)
    assert set(tables) == {"words", "defaults", "concepts"}
    words = tables["words"]
    assert tuple(words.column_names) == WORD_COLUMNS
    rows = words.to_pylist()
    square = [x for x in rows if x["concept"] == "square"]
    assert [x["rank"] for x in square] == [1, 2, 3, 4]
    assert square[0]["word"] == "blue"
    assert square[0]["source"] == "both"
    assert not {x["family"] for x in square} & {"shape"}  # its own family is left out
    want = rank_words(word_directions(r, vocabulary=FAMILIES), concept="square", top=4)
    np.testing.assert_allclose([x["cosine"] for x in square], want.cosines[0])
    assert sorted({x["concept"] for x in rows}) == sorted(FAMILIES["shape"] + FAMILIES["colour"])
    assert skipped_reason(words) is None
    assert tables["defaults"].num_rows == 10  # 4 shapes + 4 colours + 2 sizes
    concepts = tables["concepts"]
    assert concepts.num_rows == 8
    assert skipped_reason(concepts) is None
    assert set(concepts.column("cluster").to_pylist()) == {0, 1}  # two families → 2 clusters


def test_decode_tables_uncaptioned_and_degenerate():
    r = synthetic_decode(prompts=PROMPTS[:8], seeds=4)
    bare = Result(r.h, {k: r.table[k] for k in ("prompt", "seed", "prompt_id")})
    tables = decode_tables(bare, FAMILIES, source="captions")
    assert set(tables["words"].column("source").to_pylist()) == {"prompts"}
    assert skipped_reason(tables["defaults"]) == "the images were not captioned"
    assert tables["concepts"].num_rows == 8
    one = Result(r.h[:4], {k: v[:4] for k, v in r.table.items()})  # one prompt only
    tables = decode_tables(one, FAMILIES)
    assert tables["words"].num_rows == 0
    assert skipped_reason(tables["words"]).startswith("no prompt word has a direction: a")
    assert skipped_reason(tables["concepts"]).startswith("0 concepts with a prompt direction")
    few = Result(r.h[:4], {k: v[:4] for k, v in r.table.items() if k != "caption"})
    tables = decode_tables(few, {"animal": ["cat"]})
    assert "No vocabulary word has a direction" in skipped_reason(tables["words"])
    assert "No vocabulary word has a direction" in skipped_reason(tables["concepts"])
    with pytest.raises(InputError, match="top=0 must be a positive integer"):
        decode_tables(r, FAMILIES, top=0)


def test_an_engine_failure_skips_the_clusters_with_its_message(monkeypatch):
    from diffembed.diffusion_map import DiffusionMap
    from diffembed.exceptions import NumericalError

    def fail(self, X, y=None):
        msg = "the eigensolver did not converge"
        raise NumericalError(msg)

    monkeypatch.setattr(DiffusionMap, "fit_transform", fail)
    table = concept_clusters(planted_directions())
    assert table.num_rows == 0
    assert skipped_reason(table) == (
        "the concept directions could not be embedded: the eigensolver did not converge"
    )
