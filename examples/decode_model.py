"""Decode a diffusion model's h-space with prompts: which words its inner states encode.

Run: ``python decode_model.py``. Trains a tiny text-conditioned DDPM on 16 x 16 captioned shapes
(a few seconds; the docs' 3,000-step model draws the prompts well, this one only sketches them),
records the U-Net mid-block while it samples, and scores concept x attribute associations.
The same from the shell: ``diffembed latents train`` then ``diffembed latents decode``.
"""

import torch

from diffembed.latents import extract_hspace, score_associations, shapes_dataset, train_ddpm
from diffembed.latents.shapes import ATTRIBUTES, SHAPES

torch.set_num_threads(1)
data = shapes_dataset(200, associations=[("square", "blue", 0.9)], mention=0.6, seed=0)
model = train_ddpm(
    data, steps=40, batch_size=16, learning_rate=3e-3, seed=0, num_threads=1,
    unet_config={"block_out_channels": (8, 16), "norm_num_groups": 4, "attention_heads": 2},
    classifier_samples=200,
)
# several phrasings per shape: the permutation test shuffles whole prompts
prompts = [p + s for s in SHAPES for p in ("a ", "a picture of a ", "one ", "the ")]
res = extract_hspace(model, prompts, seeds=4, num_inference_steps=5, batch_size=32)
print("h-space:", res.h.shape, "(samples x timesteps x channels)")
print("captions of the first samples:", list(res.table["caption"])[:4])

table = score_associations(res, families=ATTRIBUTES, method="ridge", n_permutations=200)
rows = table.to_pylist()
print(f"{len(rows)} concept x attribute tests; strongest effects:")
for r in sorted(rows, key=lambda r: -abs(r["effect"]))[:3]:
    print(f"  {r['concept']:>8} -> {r['attribute']:<8} effect {r['effect']:+.2f}  q {r['q']:.3f}")
res.save("hspace/")
print("saved h-space to hspace/")
