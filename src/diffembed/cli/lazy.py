"""The root group of ``diffembed``: commands imported on first use, and usage errors in JSON.

``diffembed --help`` lists every command but imports only the light ones: a command named in
:attr:`LazyGroup.lazy` (``tree``, ``stability``, ``embed``, ``latents``: their modules import
numpy, scipy, torch …) is listed from its one-line help and imported when it is run, or its
own ``--help`` is asked for. Under ``--json`` a usage error (an unknown option, a bad value)
also prints ``{"error": ..., "exit_code": 2}`` on stdout, like the command's own errors.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand
from typer.core import _click as click  # typer's own copy of click: its classes and errors

from .vocabulary import VocabularyGroup, apply_vocabulary

__all__ = ["LazyGroup", "load_command"]


def load_command(name: str, spec: str) -> click.Command:
    """Import ``"module:attr"`` (a Typer app or a command function) as the command ``name``."""
    module, _, attr = spec.partition(":")
    obj = getattr(importlib.import_module(module), attr)
    if not isinstance(obj, typer.Typer):
        single = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
        single.command(name)(obj)
        obj = single
    command = typer.main.get_command(obj)
    command.name = name
    apply_vocabulary(command)
    return command


class LazyGroup(VocabularyGroup):
    """A :class:`VocabularyGroup` whose :attr:`lazy` commands are imported on first use."""

    #: Command name -> ``("module:attr", one-line help)``; the help is what ``--help`` lists.
    lazy: ClassVar[dict[str, tuple[str, str]]] = {}
    #: The order ``--help`` lists the commands in (others follow).
    order: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False
        self._argv: list[str] = []

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = [*self.commands, *(n for n in self.lazy if n not in self.commands)]
        rank = {n: i for i, n in enumerate(self.order)}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            spec, help_text = self.lazy[cmd_name]
            if self._listing:  # the root --help: the one-line help, nothing imported
                return TyperCommand(cmd_name, help=help_text, short_help=help_text)
            self.add_command(load_command(cmd_name, spec), cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.UsageError as exc:  # suggest the lazy commands too
            if args and "Did you mean" not in exc.message:
                from difflib import get_close_matches

                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    shown = ", ".join(repr(m) for m in matches)
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {shown}?"
            raise

    def load_all(self) -> None:
        """Import every lazy command (to walk the whole tree, e.g. in tests)."""
        for name in self.lazy:
            self.get_command(None, name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def main(self, args: Sequence[str] | None = None, *a: Any, **kw: Any) -> Any:
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().main(args, *a, **kw)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            if "--json" in self._argv[: self._argv.index("--") if "--" in self._argv else None]:
                from .console import emit_json

                emit_json({"error": exc.format_message(), "exit_code": exc.exit_code})
            raise
