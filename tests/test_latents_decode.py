"""``diffembed latents decode``: the command, its outputs, its report, planted associations."""

from __future__ import annotations

import json
import re
from typing import ClassVar

import numpy as np
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from diffembed.cli.latents_decode import decode_command, parse_timesteps, read_prompts  # noqa: E402
from diffembed.exceptions import InputError  # noqa: E402
from diffembed.latents.associations import COLUMNS  # noqa: E402
from diffembed.plotting.latents_report import (  # noqa: E402
    build_latents_report_html,
    contact_sheet,
    png_bytes,
    read_latents_outputs,
)

HOSTILE = "</script><img src=x onerror=alert(1)>"
CROSS = 12

app = typer.Typer()
app.command("decode")(decode_command)


@app.command("other")
def _other() -> None:  # a second command keeps `decode` a subcommand, as in the real app
    """Placeholder."""


runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, ["decode", *(str(a) for a in args)])


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------- a tiny model, for plumbing
class WordEncoder:
    """Deterministic stand-in for the prompt encoder, with a token limit of 6 words."""

    max_length = 6

    def __init__(self) -> None:
        self.truncated_: list[int] = []

    def encode(self, prompts):
        self.truncated_ = [i for i, p in enumerate(prompts) if len(p.split()) > self.max_length]
        out = np.zeros((len(prompts), 4, CROSS), dtype=np.float32)
        for i, p in enumerate(prompts):
            for j, w in enumerate(p.split()[: self.max_length]):
                rng = np.random.default_rng(sum(map(ord, w)))
                out[i, j % 4] += rng.normal(size=CROSS)
        return out


class MeanColourClassifier:
    """Names an image's dominant channel and its brightness: captions that vary with the image."""

    families: ClassVar[dict[str, list[str]]] = {
        "colour": ["red", "green", "blue"], "size": ["small", "large"]
    }

    def predict(self, images):
        m = images.mean(axis=(2, 3))
        colour = np.array(["red", "green", "blue"], dtype=object)[m.argmax(axis=1)]
        bright = m.mean(axis=1)
        size = np.where(bright > np.median(bright), "large", "small").astype(object)
        return {"colour": colour, "size": size}

    def captions(self, images):
        p = self.predict(images)
        return [f"a {s} {c} shape" for c, s in zip(p["colour"], p["size"], strict=True)]


@pytest.fixture(scope="module")
def tiny_model():
    from diffembed.latents.ddpm import DDPMModel

    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=3, out_channels=3, layers_per_block=1,
        block_out_channels=(8, 16), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=CROSS,
        attention_head_dim=4, norm_num_groups=4,
    ).eval()  # fmt: skip
    return DDPMModel(unet, diffusers.DDPMScheduler(num_train_timesteps=100), WordEncoder(),
                     MeanColourClassifier(), {"training": {"steps": 0}})  # fmt: skip


@pytest.fixture
def patched(tiny_model, monkeypatch, tmp_path):
    """MODEL resolves to the tiny model; returns (model dir, prompts file)."""
    import diffembed.latents.hspace as hs

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    monkeypatch.setattr(hs, "_resolve", lambda path, *_: ("ddpm", tiny_model))
    prompts = tmp_path / "prompts.txt"
    lines = ["a red thing", "a green thing", "a blue thing", "# a comment", "",
             f"a {HOSTILE} thing", "a thing that is described with far too many words"]
    prompts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return model_dir, prompts


def test_decode_writes_everything(patched, tmp_path):
    model_dir, prompts = patched
    out = tmp_path / "out"
    r = invoke(model_dir, "--prompts", prompts, "-o", out, "--seeds", 3, "--steps", 4,
               "--timesteps", "75,25", "--permutations", 99, "--guidance", 2)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert {p.name for p in out.iterdir()} == {
        "associations.csv", "adherence.csv", "words.csv", "defaults.csv", "hspace.npy",
        "samples.parquet", "samples.png", "manifest.json", "report.html", "images",
    }  # fmt: skip
    words_header = (out / "words.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert words_header == ["concept", "rank", "word", "family", "cosine", "source"]
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{i:06d}.png" for i in range(15)]
    assert not (tmp_path / "out.partial").exists()  # the checkpoint is gone once committed
    header = (out / "associations.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:5] == list(COLUMNS)
    assert "significant" in header
    assert "caption_rate_concept" in header
    h = np.load(out / "hspace.npy")
    assert h.shape == (5 * 3, 2, 16 * 2 * 2)  # 16 mid-block channels, pooled to 2 × 2
    assert h.dtype == np.float32
    samples = pq.read_table(out / "samples.parquet").to_pydict()
    assert list(samples)[:3] == ["prompt", "seed", "prompt_id"]
    assert {"caption", "colour", "size"} <= set(samples)
    assert samples["seed"][:3] == [0, 1, 2]
    assert samples["prompt"][9] == f"a {HOSTILE} thing"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["command"] == "latents decode"
    assert manifest["parameters"]["timesteps_recorded"] == [75, 25]
    assert manifest["results"]["n_samples"] == 15
    assert manifest["truncated_prompts"] == ["a thing that is described with far too many words"]
    assert manifest["results"]["families"] == MeanColourClassifier.families
    assert manifest["outputs"][-1] == "report.html"
    text = flat(r.output)
    assert "1 prompt longer than the text encoder's 6 tokens was truncated" in text
    png = (out / "samples.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    # the report: offline, escaped
    page = (out / "report.html").read_text(encoding="utf-8")
    assert HOSTILE not in page
    assert "<img src=x" not in page
    assert not re.search(r"<(?:script|link|iframe|object|embed)[^>]*\b(?:src|href)\s*=", page, re.I)
    imgs = re.findall(r"<img[^>]*\bsrc=\"([^\"]*)\"", page)
    assert len(imgs) == 1
    assert imgs[0].startswith("data:image/png;base64,")
    assert "default-src &#x27;none&#x27;" in page  # the CSP (escaped attribute): nothing fetched
    assert 'id="explorer"' in page
    assert 'data-plot="fig-bars"' in page
    # refused without --overwrite, replaced with it
    r = invoke(model_dir, "--prompts", prompts, "-o", out, "--seeds", 2, "--steps", 2)
    assert r.exit_code == 2
    assert "--overwrite" in flat(r.output)
    r = invoke(model_dir, "--prompts", prompts, "-o", out, "--seeds", 2, "--steps", 2,
               "--permutations", 20, "--overwrite", "--no-report")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert not (out / "report.html").exists()
    # `diffembed report OUT/` rebuilds the page from the saved outputs
    from diffembed.cli.console import UI
    from diffembed.cli.latents_decode import is_decode_output, rebuild_decode_report

    assert is_decode_output(out)
    assert not is_decode_output(tmp_path)
    rebuild_decode_report(UI(quiet=True), out)
    assert (out / "report.html").is_file()
    assert "report.html" in json.loads((out / "manifest.json").read_text())["outputs"]


def test_decode_errors(patched, tmp_path):
    model_dir, prompts = patched
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# nothing\n\n", encoding="utf-8")
    r = invoke(model_dir, "--prompts", empty, "-o", tmp_path / "o1")
    assert r.exit_code == 2
    assert "has no prompt (it is empty or only blank lines" in flat(r.output)
    assert not (tmp_path / "o1").exists()
    r = invoke(model_dir, "--prompts", tmp_path / "missing.txt", "-o", tmp_path / "o2")
    assert r.exit_code == 2
    assert "does not exist" in flat(r.output)
    r = invoke(model_dir, "--prompts", prompts, "-o", tmp_path / "o3", "--method", "pca")
    assert r.exit_code == 2
    assert "--method 'pca' is not valid" in flat(r.output)
    r = invoke(model_dir, "--prompts", prompts, "-o", tmp_path / "o4", "--steps", 4,
               "--timesteps", "70")  # fmt: skip
    assert r.exit_code == 2
    assert "Timestep 70 is not visited with num_inference_steps=4" in flat(r.output)
    assert "--timesteps" in flat(r.output) or "75, 50, 25, 0" in flat(r.output)
    assert not (tmp_path / "o4").exists()
    r = invoke(model_dir, "--prompts", prompts, "-o", tmp_path / "o5", "--timesteps", "7a")
    assert r.exit_code == 2
    assert "--timesteps '7a' is not valid" in flat(r.output)


def test_decode_without_classifier_runs_prompt_only(tiny_model, monkeypatch, tmp_path):
    """--captioner auto on a model without a classifier: prompt-only, every sample written."""
    import dataclasses

    import diffembed.latents.hspace as hs

    bare = dataclasses.replace(tiny_model, classifier=None)
    monkeypatch.setattr(hs, "_resolve", lambda path, *_: ("ddpm", bare))
    prompts = tmp_path / "p.txt"
    prompts.write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "model").mkdir()  # -o never lies inside an input directory
    r = invoke(tmp_path / "model", "--prompts", prompts, "-o", tmp_path / "o", "--seeds", 2,
               "--steps", 2)  # fmt: skip
    assert r.exit_code == 0, r.output
    text = flat(r.output)
    assert "model has no attribute classifier: prompt-only run (--captioner none)" in text
    assert "prompt-only run (no captioner): concept × attribute associations need captions" in text
    assert "no report.html: the report shows associations, and there are none" in text
    out = tmp_path / "o"
    assert {p.name for p in out.iterdir()} == {
        "hspace.npy", "samples.parquet", "samples.png", "manifest.json", "images"
    }
    assert np.load(out / "hspace.npy").shape == (4, 2, 16 * 2 * 2)
    assert list(pq.read_table(out / "samples.parquet").column_names) == [
        "prompt", "seed", "prompt_id"
    ]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["results"]["captioner"] == "none"
    assert manifest["results"]["families"] is None
    assert manifest["results"]["n_pairs"] == 0
    # --captioner classifier on the same model names the fix
    r = invoke(tmp_path / "model", "--prompts", prompts, "-o", tmp_path / "o2", "--captioner",
               "classifier")  # fmt: skip
    assert r.exit_code == 2
    assert "this model has no attribute classifier" in flat(r.output)
    assert "--captioner clip:DIR" in flat(r.output)
    assert not (tmp_path / "o2").exists()
    assert not (tmp_path / "o2.partial").exists()


def test_helpers(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a\nb\n", encoding="utf-8")
    assert parse_timesteps("980, 500,20") == [980, 500, 20]
    assert parse_timesteps("all") is None
    assert read_prompts(prompts) == ["a", "b"]
    with pytest.raises(InputError, match="does not exist"):
        read_prompts(tmp_path / "none.txt")


def test_report_pieces(tmp_path):
    sheet = contact_sheet(np.random.default_rng(0).random((6, 3, 4, 4)), [0, 0, 0, 1, 1, 2])
    assert sheet.shape == (3 * 5 + 1, 3 * 5 + 1, 3)
    assert sheet.dtype == np.uint8
    png = png_bytes(sheet)
    import zlib

    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    # decode our own PNG: filter byte 0 then raw RGB rows
    idat = png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8]
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(sheet.shape[0], -1)
    np.testing.assert_array_equal(raw[:, 1:].reshape(sheet.shape), sheet)
    with pytest.raises(InputError, match=r"associations\.csv is missing"):
        read_latents_outputs(tmp_path)
    rows = [{"concept": HOSTILE, "attribute": "blue", "effect": 1.2, "p_value": 0.001,
             "q_value": 0.01, "caption_rate_concept": 0.9, "caption_rate_rest": 0.2,
             "caption_p_value": 0.001, "n_concept": 10, "n_rest": 30,
             "significant": True}]  # fmt: skip
    page = build_latents_report_html({"associations": rows, "manifest": {
        "parameters": {"min_effect": 0.5, "q_threshold": 0.05}, "input": {"model": HOSTILE},
        "truncated_prompts": [HOSTILE]}})  # fmt: skip
    assert HOSTILE not in page
    assert "&lt;/script&gt;" in page
    assert "No hspace.npy" in page


# ------------------------------------------------------------ planted associations, end to end
#: Three shape → colour associations (what the small DDPM learns first); crosses stay uniform.
PLANTED = [("square", "blue", 0.9), ("circle", "red", 0.9), ("triangle", "green", 0.9)]
PHRASINGS = ("a {}", "a picture of a {}", "an image of a {}", "a drawing of a {}",
             "one {}", "the {}", "a single {}", "a {} shape")  # fmt: skip
#: The smallest budget that learns the planted colours (benchmarks/latents_associations.py).
E2E = {"n_train": 2000, "steps": 300, "batch_size": 32, "lr": 2e-3, "channels": (16, 32),
       "seeds": 12, "inference_steps": 10}  # fmt: skip


def _train_and_decode(planted):
    from diffembed.latents import extract_hspace, score_associations, shapes_dataset, train_ddpm
    from diffembed.latents.shapes import ATTRIBUTES, SHAPES

    data = shapes_dataset(E2E["n_train"], associations=planted or None, mention=0.6, seed=0)
    model = train_ddpm(
        data, steps=E2E["steps"], batch_size=E2E["batch_size"], learning_rate=E2E["lr"],
        unet_config={"block_out_channels": E2E["channels"], "attention_heads": 2},
        classifier_samples=E2E["n_train"], seed=0, num_threads=1,
    )  # fmt: skip
    prompts = [p.format(s) for s in SHAPES for p in PHRASINGS]
    res = extract_hspace(model, prompts, seeds=E2E["seeds"], batch_size=128,
                         num_inference_steps=E2E["inference_steps"])  # fmt: skip
    table = score_associations(res, families=ATTRIBUTES, method="ridge", n_permutations=1000)
    return {(r["concept"], r["attribute"]): r for r in table.to_pylist()}


def test_hspace_explorer_draws_every_sample_of_a_disconnected_graph():
    """Samples of different shapes can sit in separate clusters of h-space: the neighbour graph
    of the walk-through's 384 samples had 6 components, and the explorer drew 184 of them
    (the largest), printing a raw UserWarning under --quiet. Every sample is drawn (each
    component diagonalised on its own) and the page says the graph is in pieces."""
    import warnings

    from diffembed.plotting.latents_report import _hspace_explorer

    rng = np.random.default_rng(0)
    shapes = ["circle", "square", "triangle", "cross"]
    h = np.concatenate([100.0 * i + rng.normal(size=(24, 6)) for i in range(4)])
    samples = {"prompt": np.array([f"a {s}" for s in shapes for _ in range(24)], dtype=object),
               "seed": np.tile(np.arange(24), 4)}  # fmt: skip
    notices: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        section = _hspace_explorer(h, samples, shapes, notices)
    assert section is not None
    assert len(section.rows) == 96
    assert any("4 connected components" in n for n in notices)
    # the first two coordinates lay the pieces side by side, each with its own two axes:
    # no piece is collapsed onto a line or a point (the global coordinates are 0 outside
    # their own piece, which drew the triangles of the walk-through as one dot at the origin)
    from .browser import decode

    xy = np.column_stack([decode(c) for c in section.data["coords"][:2]]).astype(float)
    labels = np.repeat(np.arange(4), 24)
    for c in range(4):
        spread = xy[labels == c].std(axis=0)
        assert np.all(spread > 0.05), (c, spread)
    centres = np.array([xy[labels == c].mean(axis=0) for c in range(4)])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2)[np.triu_indices(4, 1)]
    extent = max(np.ptp(xy[labels == c], axis=0).max() for c in range(4))
    assert gaps.min() > extent  # pieces do not overlap


@pytest.mark.slow
def test_planted_associations_recovered_end_to_end():
    """Train on shapes with 3 planted shape → colour associations, decode with shape prompts.

    At this CPU budget (300 steps, ~1 min on one quiet core) the current model (v-prediction,
    MiniLM layer 4, pooled text, coordinates) and statistics (within-prompt h-space test, seed
    noise, evidence both) find the 3 planted pairs, both tests holding (q 0.007 each). The
    300-step model also really draws triangles small (caption rate 0.98 vs 0.41, both tests
    agree): an association of this undertrained model, not of the statistic — so at most one
    unplanted pair is allowed, and only one the images plainly show.
    """
    rows = _train_and_decode(PLANTED)
    planted = {(c, a) for c, a, _ in PLANTED}
    found = {k for k, r in rows.items() if r["significant"]}
    assert planted <= found, sorted(planted - found)
    for pair in planted:
        r = rows[pair]
        assert r["caption_rate_concept"] > r["caption_rate_rest"] + 0.3
        if r["caption_rate_concept"] < 1.0:  # a concept prompt with the contrast: both tests
            assert r["agreement"] == "both"
            assert r["effect_hspace"] > 0.5  # h agrees, within prompt
        else:  # every sample of the concept shows it: no h-space test, the captions decide
            assert r["agreement"] == "captions (no h-space test)"
    extra = found - planted
    assert len(extra) <= 1, sorted(extra)
    for pair in extra:  # in the images, not made up by the statistic
        r = rows[pair]
        assert r["caption_rate_concept"] - r["caption_rate_rest"] > 0.4, (pair, r)


@pytest.mark.slow
def test_unbiased_model_has_no_association_end_to_end():
    rows = _train_and_decode([])
    assert not [k for k, r in rows.items() if r["significant"]]


def test_decode_default_budget_is_16_seeds_as_documented():
    """A seed is one draw of a concept's images (its phrasings give nearly the same picture),
    so 8 seeds left plants of 1.00 against 0.69 beyond the caption test's reach (the
    association benchmark: 12/15 planted pairs at 8 seeds, 13/15 and 15/15 on two independent
    16-seed decodes). The default is 16 and the guide says so."""
    import inspect
    from pathlib import Path

    default = inspect.signature(decode_command).parameters["seeds"].default
    assert default == 16
    guide = (Path(__file__).parents[1] / "docs" / "latents.md").read_text(encoding="utf-8")
    assert "`--seeds K` (samples per prompt, default 16," in guide


def test_python_api_samples_as_the_command_does_by_default():
    """``extract_hspace`` is what ``decode`` runs: called with its defaults it must sample the
    same budget (seeds per prompt, denoising steps, guidance, h reduction), or a Python user
    gets a quarter of the draws the command's statistics were calibrated on."""
    import inspect

    from diffembed.latents import extract_hspace

    api = inspect.signature(extract_hspace).parameters
    cli = inspect.signature(decode_command).parameters
    assert api["seeds"].default == cli["seeds"].default
    assert api["num_inference_steps"].default == cli["steps"].default
    assert api["guidance_scale"].default == cli["guidance"].default
    assert api["reduce"].default == cli["reduce"].default


def test_summary_names_the_pairs_the_h_space_test_did_not_confirm(tmp_path):
    """A plant the captions show plainly (0.92 vs 0.17) but whose h-space test ran and did not
    hold is not significant with the default evidence; the terminal summary names it beside
    the significant pairs, so a user sees it without opening the CSV."""
    from rich.console import Console

    from diffembed.cli.latents_decode import _summary

    base = {"effect": 2.1, "q_value": 0.01, "effect_hspace": float("nan"),
            "effect_captions": 2.1, "q_captions": 0.01}  # fmt: skip
    rows = [
        {**base, "concept": "cross", "attribute": "blue", "significant": True,
         "agreement": "captions (no h-space test)",
         "caption_rate_concept": 1.0, "caption_rate_rest": 0.03},
        {**base, "concept": "blue", "attribute": "right", "significant": False,
         "agreement": "captions only", "effect_hspace": 0.06,
         "caption_rate_concept": 0.92, "caption_rate_rest": 0.17},
        {**base, "concept": "red", "attribute": "small", "significant": False,
         "agreement": "neither", "q_captions": 0.4,
         "caption_rate_concept": 0.3, "caption_rate_rest": 0.2},
        # --evidence hspace: no h-space test at all is not a test that failed
        {**base, "concept": "circle", "attribute": "large", "significant": False,
         "agreement": "captions only",
         "caption_rate_concept": 1.0, "caption_rate_rest": 0.4},
    ]  # fmt: skip
    console = Console(width=200, record=True)
    console.print(_summary(rows, tmp_path, [], 48, 1.0))
    text = console.export_text()
    assert "cross → blue" in text
    line = next(x for x in text.splitlines() if "not confirmed in h-space" in x)
    assert "blue → right (captions 0.92 vs 0.17, h-space d=0.06)" in line
    assert "red → small" not in text
    assert "circle → large" not in text


def test_summary_says_when_a_significant_pair_is_also_significant_the_other_way(tmp_path):
    """A plant cross → blue makes blue shapes mostly crosses: blue → cross is the same
    association read the other way, and the summary says so instead of listing it as a second
    finding."""
    from rich.console import Console

    from diffembed.cli.latents_decode import _summary

    base = {"q_value": 0.0117, "effect_hspace": float("nan"), "significant": True,
            "agreement": "captions (no h-space test)", "caption_rate_concept": 1.0,
            "caption_rate_rest": 0.1}  # fmt: skip
    rows = [{**base, "concept": "cross", "attribute": "blue", "effect": 2.88},
            {**base, "concept": "circle", "attribute": "small", "effect": 2.30},
            {**base, "concept": "blue", "attribute": "cross", "effect": 3.28},
            {**base, "concept": "small", "attribute": "left", "effect": 1.0,
             "significant": False}]  # fmt: skip
    console = Console(width=300, record=True)
    console.print(_summary(rows, tmp_path, [], 48, 1.0))
    text = console.export_text()
    assert "cross → blue (d=2.88, q=0.0117)," in text
    assert "blue → cross (d=3.28, q=0.0117; the reverse of cross → blue)" in text
    assert "circle → small (d=2.30, q=0.0117)," in text
    assert "reverse of circle" not in text
    assert "small → left" not in text


def test_report_summary_says_when_a_significant_pair_is_the_reverse_of_another():
    base = {"effect": 2.0, "p_value": 0.001, "q_value": 0.01, "caption_rate_concept": 1.0,
            "caption_rate_rest": 0.1, "caption_p_value": 0.001, "n_concept": 10, "n_rest": 30,
            "significant": True}  # fmt: skip
    rows = [{**base, "concept": "cross", "attribute": "blue"},
            {**base, "concept": "blue", "attribute": "cross"},
            {**base, "concept": "circle", "attribute": "small"}]
    page = build_latents_report_html({"associations": rows, "manifest": {
        "parameters": {"min_effect": 0.5, "q_threshold": 0.05}, "input": {}}})  # fmt: skip
    assert "cross → blue, blue → cross (reverse of cross → blue), circle → small" in page


def test_reverses_pairs_each_pair_with_the_earlier_one_it_mirrors():
    from diffembed.latents.associations import reverses

    pairs = [("cross", "blue"), ("blue", "cross"), ("circle", "small"), ("blue", "cross"),
             ("small", "circle"), ("left", "red")]
    assert reverses(pairs) == [None, ("cross", "blue"), None, ("cross", "blue"),
                               ("circle", "small"), None]
    assert reverses([]) == []
