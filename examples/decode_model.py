"""Decode a diffusion model's h-space with prompts: which words its inner states encode.

Run: ``python decode_model.py``. Trains a tiny text-conditioned DDPM on 16 x 16 captioned shapes
(under a minute on one CPU thread; the docs' 3,000-step model draws the prompts well, this one
only sketches them), records the U-Net mid-block while it samples, and scores concept x attribute
associations. One association is planted (square -> blue); at this budget it comes out as the
largest effect, though not yet significant (the 3,000-step recipe in docs/latents.md finds it).
The same from the shell: ``diffembed latents train`` then ``diffembed latents decode``.
"""

# docs-test: slow   (about 30-50 s on one CPU thread)
import torch

from diffembed.latents import extract_hspace, score_associations, shapes_dataset, train_ddpm
from diffembed.latents.shapes import ATTRIBUTES, SHAPES

torch.set_num_threads(1)
data = shapes_dataset(1000, associations=[("square", "blue", 0.9)], mention=0.6, seed=0)
model = train_ddpm(
    data,
    steps=150,
    batch_size=32,
    learning_rate=2e-3,
    seed=0,
    num_threads=1,
    unet_config={"block_out_channels": (16, 32), "attention_heads": 2},
    classifier_samples=1000,
)
# several phrasings per shape: the permutation test shuffles whole prompts
prompts = [p + s for s in SHAPES for p in ("a ", "a picture of a ", "one ", "the ")]
res = extract_hspace(model, prompts, seeds=6, num_inference_steps=10, batch_size=32)
print("h-space:", res.h.shape, "(samples x timesteps x channels)")
print("captions of the first samples:", list(res.table["caption"])[:4])

table = score_associations(res, families=ATTRIBUTES, method="ridge", n_permutations=200)
rows = table.to_pylist()
print(f"{len(rows)} concept x attribute tests; strongest effects:")
for r in sorted(rows, key=lambda r: -abs(r["effect"]))[:3]:
    pair = f"{r['concept']:>8} -> {r['attribute']:<8}"
    print(f"  {pair} effect {r['effect']:+.2f}  q {r['q_value']:.3f}")
res.save("hspace/")
print("saved h-space to hspace/")
