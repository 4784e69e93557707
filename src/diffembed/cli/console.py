"""Terminal output of the CLI: messages, stage progress and errors, all on stderr.

Stdout is left to data the user asked for (``diffembed datasets``, ``--version``, and the one
JSON object of ``--json``: :meth:`UI.summary`, or ``{"error": ..., "exit_code": 2}``). On a
terminal every stage shows a spinner and then a ``✓ neighbors 0.42 s`` line; in pipes and CI
only the plain lines ``neighbors … 0.42 s`` are printed. ``--quiet`` silences everything but
errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.text import Text

from .. import _progress
from ..exceptions import DiffembedError

if TYPE_CHECKING:
    import numpy as np
    from rich.status import Status
    from rich.table import Table

    from ..diffusion_map import DiffusionMap

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BUG",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "UI",
    "Terminated",
    "emit_json",
    "format_seconds",
    "handle_sigterm",
    "map_summary_table",
]

#: Exit code of every input, parameter, data or file problem.
EXIT_BAD_INPUT = 2
#: Exit code of an unexpected internal error (a bug).
EXIT_BUG = 1
#: Exit code after Ctrl-C (SIGINT).
EXIT_INTERRUPTED = 130
#: Exit code after SIGTERM.
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that it unwinds (and cleans up) like Ctrl-C."""


def handle_sigterm() -> None:
    """Make SIGTERM raise :class:`Terminated` (call from the main thread of the CLI process)."""

    def _raise(signum: int, frame: Any) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, _raise)


def format_seconds(seconds: float) -> str:
    """``0.042 s`` → ``"0.04 s"``, ``12.3456`` → ``"12.3 s"``."""
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def emit_json(payload: dict[str, Any]) -> None:
    """Print ``payload`` as one line of strict JSON on stdout (NaN and inf become ``null``)."""
    text = json.dumps(_plain(payload), allow_nan=False, ensure_ascii=False, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _plain(value: Any) -> Any:
    """``value`` in plain JSON types: numpy scalars and arrays, paths, NaN/inf (as None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # a numpy array or scalar
        return _plain(value.tolist())
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


#: ``diffembed --debug`` (before the command): every UI of the run shows tracebacks.
ROOT_DEBUG = {"on": False}


class UI:
    """Messages, progress and error reporting of one CLI command.

    Parameters
    ----------
    quiet
        Print nothing but errors.
    debug
        Show the traceback of errors (also when ``diffembed --debug`` set :data:`ROOT_DEBUG`).
    console
        The console to write to (default: a new one on stderr).
    json_output
        ``--json``: :meth:`summary` prints one JSON object on stdout and an error prints
        ``{"error": message, "exit_code": code}`` there too; every other line stays on stderr.
    """

    def __init__(
        self,
        *,
        quiet: bool = False,
        debug: bool = False,
        console: Console | None = None,
        json_output: bool = False,
    ) -> None:
        if console is None:
            console = Console(stderr=True, highlight=False)
            if not console.is_terminal and "COLUMNS" not in os.environ:
                console.width = 160  # logs and pipes: fewer wrapped table cells
        self.console = console
        self.quiet = quiet
        self.debug = debug or ROOT_DEBUG["on"]
        self.json_output = json_output
        self.timings: dict[str, float] = {}
        #: Every warning shown (``--json`` lists them in its summary).
        self.warnings: list[str] = []

    @property
    def is_terminal(self) -> bool:
        """Whether stderr is an interactive terminal (spinners and colours)."""
        return self.console.is_terminal

    def _print(self, text: Text | Any, *, force: bool = False) -> None:
        if self.quiet and not force:
            return
        # Pipes and logs get one line per message; a terminal wraps at its width.
        self.console.print(text, soft_wrap=not self.is_terminal)

    def info(self, message: str, style: str | None = None) -> None:
        """Print a plain message (unless quiet)."""
        self._print(Text(message, style=style or ""))

    def show(self, renderable: Any) -> None:
        """Print any rich renderable, e.g. a table (unless quiet).

        A table's cells fold onto further lines instead of being cropped with an ellipsis
        (rich's default): an output path must stay whole on a narrow terminal."""
        if self.quiet:
            return
        from rich.table import Table

        if isinstance(renderable, Table):
            for column in renderable.columns:
                if column.overflow == "ellipsis":
                    column.overflow = "fold"
        self.console.print(renderable)

    def warn(self, message: str) -> None:
        """Print a yellow warning (unless quiet) and keep it for the ``--json`` summary."""
        if message not in self.warnings:
            self.warnings.append(message)
        self._print(Text(f"warning: {message}", style="yellow"))

    def summary(self, payload: dict[str, Any]) -> None:
        """With ``--json``, print ``payload`` (plus ``warnings`` and ``exit_code`` 0) on stdout.

        Without ``--json`` nothing is printed: the command's human summary is on stderr.
        Build ``payload`` from the manifest with
        :func:`diffembed.cli.skeleton.summary_from_manifest`.
        """
        if not self.json_output:
            return
        warnings_ = [*payload.get("warnings", [])]
        warnings_ += [w for w in self.warnings if w not in warnings_]
        emit_json({**payload, "warnings": warnings_, "exit_code": 0})

    def _fail(self, message: str, code: int) -> None:
        """The red error on stderr, and with ``--json`` its JSON object on stdout."""
        self.error(message)
        if self.json_output:
            emit_json({"error": message, "exit_code": code})

    def error(self, message: str) -> None:
        """Print a red error paragraph (always, even when quiet)."""
        self._print(Text(f"error: {message}", style="bold red"), force=True)

    # ------------------------------------------------------------------ progress
    @contextlib.contextmanager
    def stages(self) -> Iterator[dict[str, float]]:
        """Show every :mod:`diffembed._progress` stage run inside the block.

        Yields
        ------
        dict
            ``self.timings``: wall seconds per stage name, filled as stages end.
        """
        display = _StageDisplay(self)
        with _progress.listen(display), contextlib.ExitStack() as stack:
            stack.callback(display.close)
            yield self.timings

    @contextlib.contextmanager
    def capture_warnings(self) -> Iterator[None]:
        """Show Python warnings raised in the block as one ``warning:`` line each."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                seen: set[str] = set()
                for item in caught:
                    text = str(item.message)
                    if text not in seen:
                        seen.add(text)
                        self.warn(text)

    # -------------------------------------------------------------------- errors
    @contextlib.contextmanager
    def errors(self, hint: Any = None) -> Iterator[None]:
        """Turn errors raised in the block into a red message and an exit code.

        :class:`~diffembed.exceptions.DiffembedError` (including ``InputError``) and
        :class:`OSError` exit with code 2; Ctrl-C exits with 130 and SIGTERM (see
        :func:`handle_sigterm`) with 143; anything else is a bug and exits with code 1. The
        traceback is shown only with ``--debug``.

        Parameters
        ----------
        hint
            Optional ``callable(exc, message) -> message`` that adds command-line advice.
        """
        try:
            yield
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt as exc:
            how, code = (
                ("terminated (SIGTERM)", EXIT_TERMINATED)
                if isinstance(exc, Terminated)
                else ("interrupted (Ctrl-C)", EXIT_INTERRUPTED)
            )
            self._fail(
                f"{how}; the unfinished outputs were removed and the -o path was left as it "
                "was.", code,
            )
            raise typer.Exit(code) from None
        except (DiffembedError, OSError) as exc:
            if self.debug:
                self.console.print_exception()
            message = describe_error(exc)
            if hint is not None:
                message = hint(exc, message)
            self._fail(message, EXIT_BAD_INPUT)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except MemoryError as exc:
            # the memory guard missed this stage: the machine, not diffembed, ran out
            if self.debug:
                self.console.print_exception()
            what = f" ({exc})" if str(exc) else ""
            self._fail(
                f"out of memory{what}: this run needs more memory than the machine has "
                "available. Use --landmarks M (fit on M landmarks), a smaller --n-components "
                "or --explorer-neighbors, --eigen-solver auto instead of dense, or "
                "--netmf-method sparse; nothing was written.", EXIT_BAD_INPUT,
            )
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except Exception as exc:
            if self.debug:
                self.console.print_exception()
            self._fail(
                f"unexpected {type(exc).__name__}: {exc}. This is a bug in diffembed; rerun "
                "with --debug for the traceback and report it.", EXIT_BUG,
            )
            raise typer.Exit(EXIT_BUG) from None


def describe_error(exc: BaseException) -> str:
    """One paragraph for an error: the message itself, or a readable form of an OSError."""
    if isinstance(exc, OSError) and not isinstance(exc, DiffembedError):
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        reason = exc.strerror or str(exc)
        return (
            f"cannot read or write{where}: {reason}. Check that the path exists, that you "
            "have permission, and that the disk is not full."
        )
    return " ".join(str(exc).split())


class _StageDisplay:
    """A :mod:`diffembed._progress` listener: one line per finished outermost stage."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.active: list[tuple[str, float]] = []
        self.status: Status | None = None

    def __call__(self, event: str, name: str, seconds: float) -> None:
        if event == "start":
            self.active.append((name, time.perf_counter()))
            if not self.ui.quiet and self.ui.is_terminal:
                text = f"{name} …"
                if self.status is None:
                    self.status = self.ui.console.status(text, spinner="dots")
                    self.status.start()
                else:
                    self.status.update(text)
            return
        for i in range(len(self.active) - 1, -1, -1):
            if self.active[i][0] == name:
                del self.active[i]
                break
        self.ui.timings[name] = self.ui.timings.get(name, 0.0) + seconds
        if self.ui.quiet or self.active:
            # A stage inside another (a hierarchy's null fits, a diffusion map fitted while
            # decoding) is timed, not listed: the enclosing stage's line reports it.
            if self.status is not None and self.active:
                self.status.update(f"{self.active[-1][0]} …")
            return
        if self.ui.is_terminal:
            line = Text.assemble(("✓ ", "green"), (f"{name:<12}", "bold"), format_seconds(seconds))
            if self.status is not None:
                if self.active:
                    self.status.update(f"{self.active[-1][0]} …")
                else:
                    self.close()
        else:
            line = Text(f"{name} … {format_seconds(seconds)}")
        self.ui.console.print(line, soft_wrap=True)

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def map_summary_table(
    model: DiffusionMap,
    out: Path,
    outputs: list[str],
    cluster_labels: np.ndarray | None,
    seconds: float,
) -> Table:
    """The end-of-run summary of ``diffembed map``: what was chosen, found and written."""
    import numpy as np
    from rich.table import Table

    def fmt(values: np.ndarray) -> str:
        return ", ".join("inf" if np.isinf(v) else f"{v:.4g}" for v in values[:5])

    bw = model.bandwidth
    method = bw if isinstance(bw, str) else "fixed"
    table = Table(title="diffusion map", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("points", f"{model.fitted_mask_.sum()} embedded of {model.fitted_mask_.size}")
    table.add_row("bandwidth ε", f"{model.bandwidth_:.4g} ({method})")
    table.add_row("intrinsic dimension", f"{model.intrinsic_dimension_:.2f}")
    table.add_row("graph components", str(model.n_connected_components_))
    table.add_row("eigenvalues", fmt(model.eigenvalues_))
    table.add_row("timescales", fmt(model.timescales_))
    if cluster_labels is not None:
        sizes = np.bincount(cluster_labels[cluster_labels >= 0])
        table.add_row("cluster sizes", ", ".join(str(s) for s in sizes))
    for name in outputs:
        table.add_row("output", str(out / name))
    table.add_row("total time", format_seconds(seconds))
    return table
