"""``diffembed latents``: train a small text-conditioned DDPM, sample it, decode its h-space.

The commands live in :mod:`.latents_model` (``train``, ``sample``) and :mod:`.latents_decode`
(``decode``); this module gathers them into one sub-app, registered on the main app as
``app.add_typer(latents_app, name="latents")``. Both modules import torch and diffusers only
inside the commands, so ``diffembed --help`` stays light.
"""

from __future__ import annotations

import typer

from .latents_clip import clip_train_command
from .latents_decode import decode_command
from .latents_model import sample_command, train_command
from .latents_words import words_command

__all__ = ["latents_app"]

latents_app = typer.Typer(
    name="latents",
    help="Decode a diffusion model's latent (h-)space with natural-language prompts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
latents_app.command("train")(train_command)
latents_app.command("sample")(sample_command)
latents_app.command("decode")(decode_command)
latents_app.command("clip-train")(clip_train_command)
latents_app.command("words")(words_command)
