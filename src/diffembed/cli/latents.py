"""``diffembed latents``: train a small text-conditioned DDPM, sample it, decode its h-space.

The commands live in :mod:`.latents_model` (``train``, ``sample``) and :mod:`.latents_decode`
(``decode``); this module only gathers them into one sub-app, registered on the main app as
``app.add_typer(latents_app, name="latents")``.
"""

from __future__ import annotations

import typer

__all__ = ["latents_app"]

latents_app = typer.Typer(
    name="latents",
    help="Decode a diffusion model's latent (h-)space with natural-language prompts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

try:  # each command module is owned separately; a missing one leaves the others usable
    from .latents_model import sample_command, train_command

    latents_app.command("train")(train_command)
    latents_app.command("sample")(sample_command)
except ImportError:  # pragma: no cover - during development only
    pass
try:
    from .latents_decode import decode_command

    latents_app.command("decode")(decode_command)
except ImportError:  # pragma: no cover
    pass
