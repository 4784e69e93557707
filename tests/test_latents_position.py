"""The small DDPM learns where the prompt puts the shape (slow: trains a small model).

Known answer: in the training images a shape "on the left" has its centre at 4.8 px, "in the
centre" at 8 px and "on the right" at 11.2 px (± 1 px jitter) of 16. A model that follows
the prompt draws shapes whose x-centroids keep that order, far apart; a model that ignores
position (the mid-block-only U-Net without pixel coordinates: about 6.7 px for all three)
does not. The budget is the smallest measured to pass with margin on one CPU thread.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from diffembed.latents import ddpm  # noqa: E402
from diffembed.latents.shapes import POSITIONS, canonical_caption, shapes_dataset  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Got `batch_size` less than 1:UserWarning"),
]
#: Budget of the check: small U-Net, full captions, a few hundred steps.
BUDGET = {"n": 2000, "steps": 1000, "batch_size": 32, "channels": (16, 32), "seeds": 8}


def _x_centroids(images: np.ndarray) -> np.ndarray:
    ink = images.max(axis=1)  # the shape is bright on a black background
    xs = np.arange(ink.shape[-1])
    return (ink.sum(axis=1) * xs).sum(axis=1) / np.maximum(ink.sum(axis=(1, 2)), 1e-6)


@pytest.fixture(scope="module")
def trained():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = shapes_dataset(BUDGET["n"], mention=1.0, seed=0)
        model = ddpm.train_ddpm(
            data, steps=BUDGET["steps"], batch_size=BUDGET["batch_size"],
            unet_config={"block_out_channels": BUDGET["channels"], "attention_heads": 4},
            classifier_samples=BUDGET["n"], seed=0,
        )  # fmt: skip
        prompts = [
            canonical_caption({"shape": shape, "colour": "red", "size": "large", "position": p})
            for p in POSITIONS
            for shape in ("circle", "square")
            for _ in range(BUDGET["seeds"] // 2)
        ]
        images = ddpm.sample(model, prompts, seeds=100, num_inference_steps=25)
    finally:
        torch.set_num_threads(before)
    return model, prompts, images


def test_shapes_are_drawn_where_the_prompt_says(trained):
    model, _, images = trained
    cx = _x_centroids(images).reshape(len(POSITIONS), -1)
    left, centre, right = cx.mean(axis=1)
    # real images: 4.8 / 8 / 11.2 px; ignoring the prompt gives one value for all three
    assert left < centre - 1.5 < right - 3, (left, centre, right)
    assert cx[0].max() < cx[2].min(), cx  # every "left" sample left of every "right" one
    predicted = np.asarray(model.classifier.predict(images)["position"]).astype(str)
    wanted = np.repeat(POSITIONS, BUDGET["seeds"])
    assert np.mean(predicted == wanted) >= 0.8, list(zip(wanted, predicted, strict=True))
