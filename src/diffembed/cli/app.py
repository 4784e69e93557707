"""The ``diffembed`` command line: ``map``, ``transform``, ``tree``, ``embed``, ``stability``,
``report``, ``export``, ``datasets``, ``latents``.

Every command validates its inputs before heavy work, writes its output directory atomically
(a failed run leaves nothing), records a ``manifest.json`` and keeps stdout clean: progress,
summaries and errors go to stderr, and ``--json`` prints one JSON object on stdout. Any input,
parameter or file problem exits with code 2 and one red paragraph that names the problem and
the fix. The stages every command shares are :mod:`diffembed.cli.skeleton`'s; each command
lives in its own module (:mod:`.map`, :mod:`.transform`, :mod:`.tree`, :mod:`.embed`,
:mod:`.stability`, :mod:`.report_cmd`, :mod:`.latents`), and the heavy ones are imported only
when run (:class:`~diffembed.cli.lazy.LazyGroup`), so ``diffembed --help`` and ``--version``
import neither numpy nor scipy.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, ClassVar

import typer

from .. import __version__
from .common import Debug
from .console import ROOT_DEBUG
from .lazy import LazyGroup
from .map import map_command
from .report_cmd import datasets_command, export_command, report_command
from .transform import transform_command

__all__ = ["app", "main"]


class RootGroup(LazyGroup):
    """The ``diffembed`` group: the commands below are imported when first run."""

    lazy: ClassVar[dict[str, tuple[str, str]]] = {
        "tree": ("diffembed.cli.tree:tree_command",
                 "Build a bottom-up diffusion hierarchy: levels, linkage, nodes, manifest and "
                 "report."),
        "embed": ("diffembed.cli.embed:embed_app",
                  "Build vectors: PCA, LSA, PPMI-SVD words, sentences, NetMF nodes, a pretrained "
                  "encoder."),
        "stability": ("diffembed.cli.stability:stability_command",
                      "Train word vectors on perturbed corpora; report every stability metric "
                      "raw vs smoothed."),
        "latents": ("diffembed.cli.latents:latents_app",
                    "Decode a diffusion model's latent (h-)space with natural-language prompts."),
    }
    order: ClassVar[tuple[str, ...]] = ("map", "transform", "tree", "embed", "stability",
                                        "report", "export", "datasets", "latents")


app = typer.Typer(
    name="diffembed",
    help="Diffusion maps for any table of vectors: embed, transform, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    cls=RootGroup,
)
app.command("map")(map_command)
app.command("transform")(transform_command)
app.command("report")(report_command)
app.command("export")(export_command)
app.command("datasets")(datasets_command)

#: scikit-learn's ``working_memory`` (MiB) for the commands: the chunk of its brute-force
#: distance computations (default 1024).
CLI_WORKING_MEMORY_MIB = 64


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"diffembed {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    debug: Debug = False,
) -> None:
    """Diffusion maps for any table of vectors: embed, transform, report."""
    ROOT_DEBUG["on"] = debug
    # scikit-learn's brute-force searches (the kNN repair, cosine neighbours of the reports)
    # compute distances in chunks of ``working_memory`` MiB, 1 GiB by default: that chunk was
    # the peak of `embed words --evaluate` (1.3 GiB against 0.6 GiB for the fit). Set without
    # importing scikit-learn (it reads the variable when first imported), so that
    # `diffembed map --help` stays light.
    if "sklearn" in sys.modules:
        import sklearn

        sklearn.set_config(working_memory=CLI_WORKING_MEMORY_MIB)
    else:
        os.environ["SKLEARN_WORKING_MEMORY"] = str(CLI_WORKING_MEMORY_MIB)


def main() -> None:
    """Entry point of the ``diffembed`` console script (SIGTERM stops a run like Ctrl-C)."""
    from .console import handle_sigterm

    handle_sigterm()
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
