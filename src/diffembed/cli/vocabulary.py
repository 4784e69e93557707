"""One option vocabulary for every command's ``--help``, and the deprecated ``--t`` alias.

Typer shows the Python type of an option (``<int>``, ``<str>``, ``<list[str]>``, ``<bool>``
even on flags). :class:`VocabularyGroup`, the class of the ``diffembed`` app, rewrites them
once, over the whole command tree, into the words users know from other tools: ``INTEGER``,
``FLOAT``, ``PATH``, ``TEXT``, a choice list ``[a|b|c]``, and nothing on a flag. A metavar a
command declares itself (``A,B,C``, ``[auto|exact|approximate]``) is kept.

Commands that take a diffusion time spell it ``--time`` / ``-t``; the old ``--t`` still works,
with a note on stderr, and is not shown in ``--help``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from typer.core import TyperGroup

__all__ = ["VocabularyGroup", "apply_vocabulary", "plain_metavar"]

_WORDS = {
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "FLOAT",
    "float range": "FLOAT",
    "str": "TEXT",
    "path": "PATH",
    "file": "PATH",
    "directory": "PATH",
    "bool": "",
}

#: Old spelling of an option -> the new one (accepted, with a note, never shown).
DEPRECATED_ALIASES = {"--t": "--time"}


def plain_metavar(shown: str) -> str:
    """The user-facing word of a type label Typer shows (``"<int>"`` -> ``"INTEGER"``).

    Parameters
    ----------
    shown
        Typer's label, e.g. ``"<int>"``, ``"<list[str]>"`` or ``"<inline|shared>"``.

    Returns
    -------
    str
        ``INTEGER``, ``FLOAT``, ``PATH``, ``TEXT``, ``[a|b|c]`` for a choice, ``""`` for a
        boolean, or the label upper-cased when it is none of these.
    """
    label = shown.strip()
    if label.startswith("<") and label.endswith(">"):
        label = label[1:-1]
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]
    if label in _WORDS:
        return _WORDS[label]
    if "|" in label:
        return f"[{label}]"
    return label.upper()


def _rename_types(command: Any) -> None:
    ctx = None
    for param in command.params:
        display_type = getattr(param, "display_type", None)
        if display_type is None:  # plain click: its metavars are already INTEGER, TEXT, ...
            continue
        if ctx is None:
            from typer.core import _click

            ctx = _click.Context(command, info_name=command.name)
        if param.param_type_name == "option":
            if getattr(param, "is_flag", False):
                param.metavar = ""
            elif param.metavar is None:
                param.metavar = plain_metavar(display_type(ctx))
        elif param.param_type_name == "argument":
            word = plain_metavar(display_type(ctx))
            param.display_type_rich = lambda ctx, _word=word: _word  # type: ignore[method-assign]


def _accept_deprecated(command: Any) -> None:
    spelled = {opt for param in command.params for opt in getattr(param, "opts", [])}
    aliases = {old: new for old, new in DEPRECATED_ALIASES.items() if new in spelled}
    if not aliases:
        return
    parse_args: Callable[[Any, list[str]], list[str]] = command.parse_args

    def parse_with_aliases(ctx: Any, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[i:])
                break
            old, eq, value = arg.partition("=")
            if old in aliases:
                print(f"note: {old} is deprecated: use {aliases[old]}.", file=sys.stderr)
                arg = f"{aliases[old]}{eq}{value}"
            rewritten.append(arg)
        return parse_args(ctx, rewritten)

    command.parse_args = parse_with_aliases


def _quiet_help_flag(command: Any) -> None:
    get_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = get_help_option(ctx)
        if option is not None and hasattr(option, "display_type"):
            option.metavar = ""  # --help is a flag: no <bool>
        return option

    command.get_help_option = help_option


def apply_vocabulary(command: Any) -> None:
    """Plain metavars, a quiet ``--help`` flag and the deprecated aliases on ``command`` and
    every subcommand (a command imported later is passed here when it is loaded)."""
    _rename_types(command)
    _quiet_help_flag(command)
    for sub in getattr(command, "commands", {}).values():
        apply_vocabulary(sub)
    if not hasattr(command, "commands"):
        _accept_deprecated(command)


class VocabularyGroup(TyperGroup):
    """The app's group: plain metavars and deprecated aliases over its whole command tree."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        apply_vocabulary(self)
