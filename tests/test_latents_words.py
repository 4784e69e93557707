"""Words read back out of h-space: directions, rankings against a dense reference, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from diffembed.exceptions import InputError
from diffembed.latents.words import WordDirections, rank_words, word_cosines, word_directions

FAMILIES = {
    "shape": ["circle", "square", "triangle", "cross"],
    "colour": ["red", "green", "blue", "yellow"],
    "size": ["small", "large"],
}
PROMPTS = (
    [f"a {s}" for s in FAMILIES["shape"]]
    + [f"a {c} shape" for c in FAMILIES["colour"]]
    + [f"a {c} {s}" for c in ("red", "green") for s in FAMILIES["shape"]]
)


class Result:
    """What word_directions reads of an HSpaceResult: h and the samples table."""

    def __init__(self, h: np.ndarray, table: dict[str, np.ndarray]) -> None:
        self.h, self.table = h, table


def synthetic_decode(
    prompts=PROMPTS, seeds=6, d=12, T=2, noise=0.3, plant=("square", "blue", 0.9), seed=0,
    concept_equals_attribute=False,
):  # fmt: skip
    """h = sum of the image attributes' vectors + a prompt component + noise, with captions.

    Unspecified families are drawn uniformly; a sample whose shape is ``plant[0]`` is
    ``plant[1]`` with probability ``plant[2]``. With ``concept_equals_attribute`` the colours
    are independent of the prompt and the prompt ``plant[0]`` adds exactly
    ``A[plant[1]] - mean(A[colours])`` to h (its direction *is* the attribute's).
    """
    rng = np.random.default_rng(seed)
    A = {w: rng.normal(size=(T, d)) for ws in FAMILIES.values() for w in ws}
    colour_mean = np.mean([A[c] for c in FAMILIES["colour"]], axis=0)
    H, rows = [], []
    for pi, p in enumerate(prompts):
        words = set(p.split())
        P = rng.normal(scale=0.2, size=(T, d))
        if concept_equals_attribute and plant[0] in words:
            P = 3 * (A[plant[1]] - colour_mean)
        for s in range(seeds):
            att = {}
            for fam, ws in FAMILIES.items():
                given = [w for w in ws if w in words]
                att[fam] = given[0] if given else ws[rng.integers(len(ws))]
            if (
                not concept_equals_attribute
                and att["shape"] == plant[0]
                and not any(c in words for c in FAMILIES["colour"])
                and rng.random() < plant[2]
            ):
                att["colour"] = plant[1]
            image = sum(A[w] for w in att.values())
            if concept_equals_attribute:
                image = image - A[att["shape"]]  # the prompt alone carries the concept
            H.append(image + P + rng.normal(scale=noise, size=(T, d)))
            caption = f"a {att['size']} {att['colour']} {att['shape']}"
            rows.append({"prompt": p, "seed": s, "prompt_id": pi, "caption": caption, **att})
    table = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return Result(np.asarray(H, dtype=np.float32), table)


# ----------------------------------------------------------------- a dense reference
def reference(h, prompts, captions, families, source, min_count=2):
    """Every direction by explicit loops, written from the module docstring, not the code."""
    h = np.asarray(h, dtype=np.float64)
    n, T, _d = h.shape
    scale = np.array([np.sqrt(np.mean([np.sum((h[i, t] - h[:, t].mean(0)) ** 2)
                                       for i in range(n)])) for t in range(T)])  # fmt: skip
    X = np.concatenate([h[:, t] / scale[t] for t in range(T)], axis=1)
    fam = {w: f for f, ws in families.items() for w in ws}
    distinct = list(dict.fromkeys(prompts))
    mean = {p: X[[i for i in range(n) if prompts[i] == p]].mean(0) for p in distinct}
    pdirs = {}
    for w in fam:
        with_w = [p for p in distinct if w in p.split()]
        if sum(prompts.count(p) for p in with_w) < min_count or len(with_w) == len(distinct):
            continue
        contributions = []
        for p in with_w:
            swapped = [" ".join(v if t == w else t for t in p.split())
                       for v in families[fam[w]] if v != w]  # fmt: skip
            matched = [q for q in swapped if q in distinct]
            if not matched:
                matched = [q for q in distinct if w not in q.split()
                           and any(fam.get(t) == fam[w] for t in q.split())]  # fmt: skip
            contributions.append(mean[p] - np.mean([mean[q] for q in matched], axis=0))
        v = np.mean(contributions, axis=0)
        pdirs[w] = v / np.linalg.norm(v)
    cdirs = {}
    if captions is not None:
        Xc = X.copy()
        for p in distinct:
            idx = [i for i in range(n) if prompts[i] == p]
            Xc[idx] -= X[idx].mean(0)
        for w in fam:
            has = np.array([w in c.split() for c in captions])
            if has.sum() < min_count or (~has).sum() < min_count:
                continue
            v = Xc[has].mean(0) - Xc[~has].mean(0)
            if np.linalg.norm(v) > 1e-9:
                cdirs[w] = v / np.linalg.norm(v)
    targets = {}
    for w in sorted(set(pdirs) | set(cdirs)):
        parts = ([pdirs[w]] if w in pdirs and source != "captions" else []) + (
            [cdirs[w]] if w in cdirs and source != "prompts" else [])  # fmt: skip
        if parts:
            v = np.sum(parts, axis=0)
            targets[w] = v / np.linalg.norm(v)
    return X, pdirs, targets


@pytest.mark.parametrize(
    ("source", "drop"),
    [("prompts", ()), ("captions", ()), ("both", ()),
     ("both", ("a green circle", "a blue shape", "a cross"))],  # fallbacks to the family
)  # fmt: skip
def test_cosines_match_a_dense_reference(source, drop):
    r = synthetic_decode(prompts=[p for p in PROMPTS if p not in drop])
    prompts, captions = list(r.table["prompt"]), list(r.table["caption"])
    X, pdirs, targets = reference(r.h, prompts, captions, FAMILIES, source)
    dirs = word_directions(r, vocabulary=FAMILIES, source=source)
    assert dirs.words == sorted(targets)
    assert dirs.concepts == sorted(pdirs)
    T = np.array([targets[w] for w in dirs.words])
    queries, cos = word_cosines(dirs)
    assert queries == dirs.concepts
    want = np.array([pdirs[c] for c in dirs.concepts]) @ T.T
    np.testing.assert_allclose(cos, want, atol=1e-10)
    # h-vectors: cosine of h - mean h with every word direction
    queries, cos_h = word_cosines(dirs, r.h[[0, 7, 30]])
    Xc = X[[0, 7, 30]] - X.mean(0)
    want_h = (Xc @ T.T) / np.linalg.norm(Xc, axis=1)[:, None]
    assert queries == ["h[0]", "h[1]", "h[2]"]
    np.testing.assert_allclose(cos_h, want_h, atol=1e-10)
    # the ranking is the reference's order, the concept and its family left out
    ranking = rank_words(dirs, concept="square", top=None)
    keep = [j for j, w in enumerate(dirs.words) if w not in FAMILIES["shape"]]
    order = sorted(keep, key=lambda j: -want[dirs.concepts.index("square"), j])
    assert ranking.words[0] == [dirs.words[j] for j in order]
    np.testing.assert_allclose(ranking.cosines[0], want[dirs.concepts.index("square"), order])


def test_both_sources_recorded_per_word():
    r = synthetic_decode()
    dirs = word_directions(r, vocabulary=FAMILIES, source="both")
    by_word = dict(zip(dirs.words, dirs.sources, strict=True))
    # sizes are never prompted (captions only); every colour and shape is in both
    assert by_word["small"] == by_word["large"] == "captions"
    assert {by_word[w] for w in FAMILIES["colour"] + FAMILIES["shape"]} == {"both"}
    assert dirs.concept_counts[dirs.concepts.index("square")] == 18  # 3 prompts x 6 seeds
    in_captions = sum("square" in c.split() for c in r.table["caption"])
    assert in_captions > 18  # "a <colour> shape" prompts gave squares too
    assert dirs.counts[dirs.words.index("square")] == in_captions  # the larger of the two
    np.testing.assert_allclose(np.linalg.norm(dirs.vectors, axis=1), 1.0)


def test_matched_share_and_fallback():
    r = synthetic_decode()
    dirs = word_directions(r, vocabulary=FAMILIES, source="prompts")
    matched = dict(zip(dirs.concepts, dirs.matched.tolist(), strict=True))
    # "a blue shape" is matched with the other "a <colour> shape" prompts: all matched
    assert matched["blue"] == 1.0
    # "a red square", "a red circle", ... are matched with "a green ..."; "a red shape" too
    assert matched["red"] == 1.0
    # every shape prompt ("a square", "a red square", "a green square") has a matched prompt
    assert matched["square"] == 1.0
    # drop "a green circle": "a red circle" falls back to all circle-free shape prompts
    keep = [p != "a green circle" for p in r.table["prompt"]]
    r2 = Result(r.h[keep], {k: v[keep] for k, v in r.table.items()})
    d2 = word_directions(r2, vocabulary=FAMILIES, source="prompts")
    m2 = dict(zip(d2.concepts, d2.matched.tolist(), strict=True))
    assert m2["red"] == pytest.approx(4 / 5)
    assert m2["circle"] == pytest.approx(1.0)  # "a red circle" still has "a red square"


def test_planted_concept_equal_to_attribute_ranks_it_first():
    r = synthetic_decode(concept_equals_attribute=True, noise=0.05, seeds=8)
    dirs = word_directions(r, vocabulary=FAMILIES, source="captions")
    ranking = rank_words(dirs, concept="square", top=3)
    assert ranking.words[0][0] == "blue"
    assert ranking.cosines[0][0] > 0.95
    assert ranking.cosines[0][1] < 0.5
    # an h-vector pushed along blue's direction decodes as blue
    x = (
        r.h[0].astype(np.float64)
        + 5 * dirs.vector("blue").reshape(r.h.shape[1:]) * dirs.scale[:, None]
    )
    top = rank_words(dirs, h=x, top=1)
    assert top.words[0] == ["blue"]


def test_planted_association_ranks_first_from_captions():
    r = synthetic_decode(prompts=PROMPTS[:8], seeds=40, noise=0.2)
    dirs = word_directions(r, vocabulary=FAMILIES, source="captions")
    ranking = rank_words(dirs, concept=["square", "circle"], top=None)
    square = dict(zip(ranking.words[0], ranking.cosines[0], strict=True))
    circle = dict(zip(ranking.words[1], ranking.cosines[1], strict=True))
    assert ranking.words[0][0] == "blue"
    assert square["blue"] > 0.4
    assert circle["blue"] < 0.1
    assert "square" not in square
    assert "circle" not in square
    wide = rank_words(dirs, concept="square", top=None, same_family=True)
    assert "circle" in wide.words[0]
    assert "square" not in wide.words[0]


def test_timestep_uses_one_block():
    r = synthetic_decode()
    one = word_directions(r, vocabulary=FAMILIES, timestep=1)
    alone = word_directions(
        r.h[:, 1, :], list(r.table["prompt"]), list(r.table["caption"]), vocabulary=FAMILIES
    )
    np.testing.assert_allclose(one.vectors, alone.vectors, atol=1e-12)
    assert one.transform(r.h[:2]).shape == (2, r.h.shape[2])


def test_without_vocabulary_every_content_word():
    r = synthetic_decode()
    dirs = word_directions(r, source="prompts")
    assert "shape" in dirs.concepts
    assert "a" not in dirs.concepts
    assert dirs.concept_families[0] is None


def test_errors_name_the_problem():
    r = synthetic_decode()
    with pytest.raises(InputError, match="source='words' is not valid: choose 'prompts'"):
        word_directions(r, vocabulary=FAMILIES, source="words")  # type: ignore[arg-type]
    no_caps = Result(r.h, {k: v for k, v in r.table.items() if k != "caption"})
    with pytest.raises(InputError, match=r"needs captions .* use source='prompts'"):
        word_directions(no_caps, vocabulary=FAMILIES, source="captions")
    assert word_directions(no_caps, vocabulary=FAMILIES).sources[0] == "prompts"
    with pytest.raises(InputError, match="h has 96 samples, but there are 3 prompts"):
        word_directions(r.h, ["a", "b", "c"])
    dirs = word_directions(r, vocabulary=FAMILIES)
    with pytest.raises(InputError, match=r"Unknown concept 'hexagon'.*Known concepts: blue, circ"):
        rank_words(dirs, concept="hexagon")
    with pytest.raises(InputError, match=r"shape \(5,\).*\(2, 12\)"):
        rank_words(dirs, h=np.zeros(5))
    with pytest.raises(InputError, match="top=0 must be a positive integer"):
        rank_words(dirs, concept="square", top=0)
    with pytest.raises(InputError, match="No vocabulary word has a direction"):
        word_directions(r, vocabulary={"animal": ["cat", "dog"]})
    assert isinstance(dirs, WordDirections)


# -------------------------------------------------------------------------------- CLI
def write_decode_folder(path, r, families=FAMILIES, *, captions=True):
    """A decode output folder written by hand: hspace.npy, samples.parquet, manifest.json."""
    path.mkdir()
    np.save(path / "hspace.npy", r.h)
    cols = {k: v for k, v in r.table.items() if captions or k not in ("caption", *families)}
    pq.write_table(pa.table({k: pa.array(v.tolist()) for k, v in cols.items()}),
                   path / "samples.parquet")  # fmt: skip
    manifest = {"command": "latents decode", "results": {"families": families}, "outputs": []}
    (path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return path


def invoke(*args):
    from diffembed.cli.latents_words import words_command

    app = typer.Typer()
    app.command("words")(words_command)
    app.command("other")(lambda: None)  # keeps `words` a subcommand, as in the real app
    return CliRunner().invoke(app, ["words", *(str(a) for a in args)])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    r = synthetic_decode(prompts=PROMPTS[:8], seeds=40, noise=0.2)
    return write_decode_folder(tmp_path_factory.mktemp("w") / "out", r), r


def test_cli_json_top_words(folder):
    out, r = folder
    before = sorted(p.name for p in out.iterdir())
    res = invoke(out, "--concept", "square", "--top", "3", "--json", "--sample", "5")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    words = data["concepts"]["square"]["words"]
    assert [w["rank"] for w in words] == [1, 2, 3]
    assert words[0]["word"] == "blue"
    assert words[0]["family"] == "colour"
    assert words[0]["source"] == "both"
    dirs = word_directions(r, vocabulary=FAMILIES)
    want = rank_words(dirs, concept="square", top=3)
    assert [w["word"] for w in words] == want.words[0]
    np.testing.assert_allclose([w["cosine"] for w in words], want.cosines[0], atol=1e-6)
    sample = data["samples"]["5"]
    assert sample["prompt"] == r.table["prompt"][5]
    assert sample["caption"] == r.table["caption"][5]
    assert [w["word"] for w in sample["words"]] == rank_words(dirs, h=r.h[5], top=3).words[0]
    assert sorted(p.name for p in out.iterdir()) == before  # writes nothing


def test_cli_table_and_sources(folder):
    out, r = folder
    res = invoke(out, "-c", "square", "--source", "captions")
    assert res.exit_code == 0, res.output
    assert "words of 'square' (shape" in res.stdout
    lines = [line for line in res.stdout.splitlines() if "│" in line and "blue" in line]
    assert lines
    assert "captions" in lines[0]
    assert lines[0].split("│")[1].strip() == "1"
    one = invoke(out, "-c", "square", "--timestep", "1", "--json")
    want = rank_words(word_directions(r, vocabulary=FAMILIES, timestep=1), concept="square")
    got = json.loads(one.stdout)["concepts"]["square"]
    assert [w["word"] for w in got["words"]] == want.words[0]
    assert got["matched"] == 1.0
    assert got["n_samples"] == 40
    every = invoke(out, "--json")  # no --concept: every concept
    assert sorted(json.loads(every.stdout)["concepts"]) == [
        "blue", "circle", "cross", "green", "red", "square", "triangle", "yellow"]  # fmt: skip


def test_cli_prints_texts_verbatim(tmp_path):
    r = synthetic_decode(prompts=PROMPTS[:8], seeds=4)
    r.table["prompt"] = np.array([p.replace("a ", "[bold]a ") for p in r.table["prompt"]])
    out = write_decode_folder(tmp_path / "o", r)
    res = invoke(out, "--sample", "0")
    assert res.exit_code == 0, res.output
    assert "sample 0: '[bold]a circle'" in res.stdout  # rich markup in a prompt is not applied


def test_cli_user_errors_exit_2(folder, tmp_path):
    out, r = folder
    res = invoke(out, "--concept", "hexagon")
    assert res.exit_code == 2
    assert "Unknown concept 'hexagon'" in res.output
    assert "square" in res.output
    res = invoke(out, "--concept", "small")
    assert res.exit_code == 2
    assert "'small' has a direction from the captions only" in " ".join(res.output.split())
    res = invoke(out, "--concept", "square", "--top", "0")
    assert res.exit_code == 2
    assert "--top 0 must be at least 1" in res.output
    res = invoke(out, "--timestep", "2")
    assert res.exit_code == 2
    assert "--timestep 2 is not valid: hspace.npy has 2 timesteps" in " ".join(res.output.split())
    res = invoke(out, "--sample", "999")
    assert res.exit_code == 2
    assert "--sample 999 is not a sample" in res.output
    assert "(0 to 319)" in res.output
    res = invoke(out, "--source", "pixels")
    assert res.exit_code == 2
    assert "--source 'pixels' is not valid" in res.output
    res = invoke(tmp_path / "nowhere")
    assert res.exit_code == 2
    assert "is not a folder" in res.output
    bare = write_decode_folder(tmp_path / "bare", r, captions=False)
    res = invoke(bare, "--concept", "square", "--source", "captions")
    assert res.exit_code == 2
    assert "needs captions" in res.output
    res = invoke(bare, "--concept", "square", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["concepts"]["square"]["words"][0]["source"] == "prompts"
    assert "word directions from the prompts only" in res.stderr
