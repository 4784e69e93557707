"""Named, timed stages and counted tasks that the CLI (or any caller) can listen to.

Numeric code wraps each long step in :func:`stage`, or in :func:`task` when it can count its
work (rows searched, solver iterations, null draws); both cost next to nothing when nobody
listens.

Listeners
---------
A listener is a callable ``listener(event, name, seconds)`` with ``event`` in
``{"start", "end"}``, subscribed with :func:`listen`; every stage and every task calls it at
its start and end. That contract is all the CLI's stage display relies on.

A listener may also have a ``progress(task)`` method: it then receives the running
:class:`Task` of every outermost task (at its start, on updates at most every
:data:`REFRESH_SECONDS`, and at its end) and renders it as it likes. For listeners without
one, this module renders the outermost task itself: a line on stderr after
:data:`REFRESH_SECONDS`, then at most every tenth of the elapsed time
(:data:`BACKOFF_FRACTION`), with the count, the rate, the ETA when the total is known, and the
solver's own figures (``eigensolve: 340 products · 1.2k products/s · ETA 3 s · residual
2e-05``); fast tasks print nothing. Nested tasks are counted but not rendered. A listener
that is quiet (a ``quiet`` attribute, or a ``ui.quiet`` one as the CLI's display has) gets no
such lines.

Estimators take ``verbose=`` (scikit-learn's convention) and run their fit inside
:func:`verbosity`: with ``verbose >= 1`` and nobody listening yet, a :class:`StderrListener`
prints one line per finished outermost stage (with count and rate for tasks) and the
progress lines above; ``verbose >= 2`` lists nested stages too.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, cast

__all__ = [
    "BACKOFF_FRACTION",
    "LIVE_REFRESH_SECONDS",
    "REFRESH_SECONDS",
    "StderrListener",
    "Task",
    "check_verbose",
    "counted",
    "current",
    "detached",
    "format_count",
    "format_duration",
    "listen",
    "stage",
    "task",
    "verbose_function",
    "verbosity",
]

Listener = Callable[[str, str, float], None]
F = TypeVar("F", bound=Callable[..., Any])

#: Seconds between two progress lines of a running task (and before the first one).
REFRESH_SECONDS = 2.0
#: Printed progress lines come at most every this fraction of the task's elapsed time.
BACKOFF_FRACTION = 0.1
#: Seconds between two updates of the spinner line on a terminal (``verbose >= 1``).
LIVE_REFRESH_SECONDS = 0.25

_listeners: ContextVar[tuple[Listener, ...]] = ContextVar("diffembed_progress", default=())
#: The open stages, innermost last: a Task for a counted one, its name for a plain one.
_open: ContextVar[tuple[Task | str, ...]] = ContextVar("diffembed_progress_open", default=())


def format_count(value: float) -> str:
    """``950`` → ``"950"``, ``12_345`` → ``"12.3k"``, ``4.2e6`` → ``"4.2M"``."""
    value = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else str(int(value))


def format_duration(seconds: float) -> str:
    """``0.042`` → ``"0.04 s"``, ``12.3`` → ``"12.3 s"``, ``125`` → ``"2 min 05 s"``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Task:
    """A running counted task: what :func:`task` yields.

    Parameters
    ----------
    name
        The stage name (also the name listeners see).
    total
        Units of work expected, or None when unknown (then no ETA is shown).
    unit
        What is counted, plural (``"rows"``, ``"iterations"``, ``"draws"``).
    """

    def __init__(self, name: str, total: float | None = None, unit: str = "it") -> None:
        self.name = name
        self.total = total
        self.unit = unit
        self.completed = 0.0
        self.info: dict[str, Any] = {}
        self.started = time.perf_counter()
        self.finished: float | None = None
        self._on_update: Callable[[Task], None] | None = None

    # ------------------------------------------------------------------ updates
    def advance(self, amount: float = 1, **info: Any) -> None:
        """Count ``amount`` more units done; keyword arguments are shown beside the rate."""
        self.completed += amount
        self._changed(info)

    def update(
        self, *, completed: float | None = None, total: float | None = None, **info: Any
    ) -> None:
        """Set the count or the total, and any figure to show (e.g. ``residual=1e-5``)."""
        if completed is not None:
            self.completed = float(completed)
        if total is not None:
            self.total = total
        self._changed(info)

    def _changed(self, info: dict[str, Any]) -> None:
        self.info.update(info)
        if self._on_update is not None:
            self._on_update(self)

    # ------------------------------------------------------------------ figures
    @property
    def elapsed(self) -> float:
        """Seconds since the task started (until it finished)."""
        end = self.finished if self.finished is not None else time.perf_counter()
        return end - self.started

    @property
    def rate(self) -> float | None:
        """Units per second so far, or None before any unit is done."""
        elapsed = self.elapsed
        if self.completed <= 0 or elapsed <= 0:
            return None
        return self.completed / elapsed

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far, or None without a total or a rate."""
        rate = self.rate
        if self.total is None or rate is None:
            return None
        return max(0.0, (float(self.total) - self.completed) / rate)

    def describe(self) -> str:
        """One line: ``name: 3/10 draws · 1.5 draws/s · ETA 4.7 s · residual 2e-05``."""
        count = format_count(self.completed)
        if self.total is not None:
            count = f"{count}/{format_count(self.total)}"
        counting = self.total is not None or self.completed > 0
        parts = [f"{count} {self.unit}"] if counting else []
        rate = self.rate
        if rate is not None:
            parts.append(f"{format_count(rate)} {self.unit}/s")
        eta = self.eta
        if self.finished is None:
            parts.append(
                f"ETA {format_duration(eta)}" if eta is not None
                else f"{format_duration(self.elapsed)} elapsed"
            )  # fmt: skip
        for key, value in self.info.items():
            shown = f"{value:.2g}" if isinstance(value, float) else str(value)
            parts.append(f"{key} {shown}")
        return f"{self.name}: " + " · ".join(parts)

    def summary(self) -> str:
        """What the end line adds: ``(2k rows, 40k rows/s)``; empty when nothing was counted."""
        if not self.completed:
            return ""
        text = f"{format_count(self.completed)} {self.unit}"
        rate = self.rate
        if rate is not None:
            text += f", {format_count(rate)} {self.unit}/s"
        return f"({text})"


# ---------------------------------------------------------------------- stages
@contextmanager
def stage(name: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    """Run a block as a named stage, record its wall time in ``timings`` and tell listeners."""
    for listener in _listeners.get():
        listener("start", name, 0.0)
    start = time.perf_counter()
    token = _open.set((*_open.get(), name))
    try:
        yield
    finally:
        _open.reset(token)
        elapsed = time.perf_counter() - start
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + elapsed
        for listener in _listeners.get():
            listener("end", name, elapsed)


@contextmanager
def listen(listener: Listener) -> Iterator[None]:
    """Subscribe ``listener`` to every stage started inside the ``with`` block."""
    token = _listeners.set((*_listeners.get(), listener))
    try:
        yield
    finally:
        _listeners.reset(token)


def _is_quiet(listener: Any) -> bool:
    quiet = getattr(listener, "quiet", None)
    if quiet is None:
        quiet = getattr(getattr(listener, "ui", None), "quiet", False)
    return bool(quiet)


class _LineRenderer:
    """Progress lines on stderr for listeners that do not render tasks themselves."""

    def progress(self, running: Task) -> None:
        if running.finished is None:
            _write_line(running.describe())


def _write_line(text: str) -> None:
    # sys.stderr at call time: pytest's capture and rich's live-display redirection see it
    stream = sys.stderr
    stream.write(text + "\n")
    stream.flush()


class _Throttle:
    """Calls the renderers at the start, at most every REFRESH_SECONDS, and at the end.

    A background thread repeats the last line when the task does not advance for a while
    (a dense eigensolve), so a long step still shows its elapsed time. Printed lines (pipes,
    logs) back off as the task runs, to one every tenth of its elapsed time, so a task of an
    hour writes about forty lines, not 1,800; a spinner keeps its own fast refresh.
    """

    def __init__(self, running: Task, renderers: list[Any]) -> None:
        self.task = running
        self.renderers = renderers
        # a renderer may ask for more frequent updates (a spinner on a terminal)
        fast = [r.refresh for r in renderers if getattr(r, "refresh", None)]
        self.interval = min([REFRESH_SECONDS, *fast])
        self.backoff = not fast
        self.last = running.started
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._heartbeat, daemon=True)

    def start(self) -> None:
        for renderer in self.renderers:
            if not isinstance(renderer, _LineRenderer):
                renderer.progress(self.task)
        self.thread.start()

    def _wait(self, now: float) -> float:
        if not self.backoff:
            return self.interval
        return max(self.interval, BACKOFF_FRACTION * (now - self.task.started))

    def __call__(self, running: Task, *, force: bool = False) -> None:
        now = time.perf_counter()
        with self.lock:
            if not force and now - self.last < self._wait(now):
                return
            self.last = now
            for renderer in self.renderers:
                renderer.progress(running)

    def _heartbeat(self) -> None:
        while not self.done.wait(max(self.interval, 0.05)):
            self(self.task)  # prints only when a line is due

    def stop(self) -> None:
        self.done.set()
        self.thread.join()
        with self.lock:
            for renderer in self.renderers:
                renderer.progress(self.task)


@contextmanager
def task(
    name: str,
    total: float | None = None,
    *,
    unit: str = "it",
    timings: dict[str, float] | None = None,
) -> Iterator[Task]:
    """Run a block as a stage whose work is counted; yields the :class:`Task` to advance.

    Parameters
    ----------
    name
        Stage name (listeners see ``"start"``/``"end"`` events with it, as for :func:`stage`).
    total
        Expected units of work, or None when unknown.
    unit
        What is counted, plural.
    timings
        As for :func:`stage`.

    Yields
    ------
    Task
        Call ``advance(n)`` / ``update(...)`` on it as work is done.
    """
    running = Task(name, total, unit)
    outer = any(isinstance(each, Task) for each in _open.get())
    throttle: _Throttle | None = None
    with stage(name, timings):
        token = _open.set((*_open.get()[:-1], running))
        try:
            running.started = time.perf_counter()
            listeners = _listeners.get()
            if not outer and listeners:  # only the outermost task is rendered
                renderers: list[Any] = [
                    each for each in listeners if callable(getattr(each, "progress", None))
                ]
                if not renderers and not all(_is_quiet(each) for each in listeners):
                    renderers = [_LineRenderer()]
                if renderers:
                    throttle = _Throttle(running, renderers)
                    running._on_update = throttle
                    throttle.start()
            try:
                yield running
            finally:
                running.finished = time.perf_counter()
                running._on_update = None
                if throttle is not None:
                    throttle.stop()
        finally:
            _open.reset(token)


def counted(iterable: Any, running: Task | None) -> Iterator[Any]:
    """Yield from ``iterable``, advancing ``running`` by one after each item."""
    for item in iterable:
        yield item
        if running is not None:
            running.advance()


# ---------------------------------------------------------------------- verbose
class StderrListener:
    """Stage lines and task progress on stderr, for estimators fitted with ``verbose >= 1``.

    Prints ``neighbors … 0.42 s (2k rows, 40k rows/s)`` when an outermost stage ends (every
    stage with ``verbose >= 2``, nested ones indented). While a task runs: on a terminal, a
    rich spinner line with its count, rate, ETA and the solver's figures, refreshed every
    :data:`LIVE_REFRESH_SECONDS`; in pipes, logs and notebooks' captured output, that line
    printed every :data:`REFRESH_SECONDS`.

    Parameters
    ----------
    verbose
        1: outermost stages; 2 or more: nested stages too.
    console
        A :class:`rich.console.Console` to write to (default: one on stderr).
    """

    def __init__(self, verbose: int = 1, console: Any = None) -> None:
        from rich.console import Console  # not at import: `import diffembed` stays light

        self.verbose = int(verbose)
        self.depth = 0
        self.summaries: dict[str, str] = {}
        self.console = console if console is not None else Console(stderr=True, highlight=False)
        self.status: Any = None
        self.refresh = LIVE_REFRESH_SECONDS if self.console.is_terminal else None

    def __call__(self, event: str, name: str, seconds: float) -> None:
        if event == "start":
            self.depth += 1
            return
        self.depth -= 1
        if self.depth > 0 and self.verbose < 2:
            return
        extra = self.summaries.pop(name, "")
        indent = "  " * self.depth
        if not self.console.is_terminal:
            tail = f" {extra}" if extra else ""
            _write_line(f"{indent}{name} … {format_duration(seconds)}{tail}")
            return
        from rich.text import Text

        line = Text.assemble(
            indent, ("✓ ", "green"), (name, "bold"), f" {format_duration(seconds)}",
            (f" {extra}" if extra else "", "dim"),
        )  # fmt: skip
        self.console.print(line, soft_wrap=True)

    def progress(self, running: Task) -> None:
        """Render a running task: a spinner or a line while it runs; its summary at the end."""
        if running.finished is not None:
            if running.completed:
                self.summaries[running.name] = running.summary()
            if self.status is not None:
                self.status.stop()
                self.status = None
            return
        if self.console.is_terminal:
            if self.status is None:
                self.status = self.console.status(running.describe(), spinner="dots")
                self.status.start()
            else:
                self.status.update(running.describe())
            return
        if time.perf_counter() - running.started >= REFRESH_SECONDS:
            _write_line(running.describe())


@contextmanager
def verbosity(verbose: int | bool) -> Iterator[None]:
    """Show stages and progress on stderr inside the block when ``verbose >= 1``.

    Nothing is added when someone listens already (the CLI, or an enclosing verbose fit):
    that listener shows the stages.
    """
    if not verbose or _listeners.get():
        yield
        return
    with listen(StderrListener(int(verbose))):
        yield


def check_verbose(verbose: Any) -> int:
    """``verbose`` as an int >= 0, or an InputError naming the value."""
    from .exceptions import InputError

    if isinstance(verbose, bool):
        return int(verbose)
    try:
        value = int(verbose)
    except (TypeError, ValueError):
        value = -1
    if value < 0 or value != verbose:
        msg = (
            f"verbose={verbose!r} is not valid: use 0 (silent, the default), 1 (stage lines "
            "with rate and ETA on stderr) or 2 (nested stages too)."
        )
        raise InputError(msg)
    return value


def current() -> Task | None:
    """The task of the innermost open stage, if it is a counted one and someone listens.

    None otherwise: inside a plain stage (its work is not the task's units) or when nobody
    listens (callers then skip the work of counting).
    """
    opened = _open.get()
    if not opened or not isinstance(opened[-1], Task) or not _listeners.get():
        return None
    return opened[-1]


@contextmanager
def detached() -> Iterator[None]:
    """Work inside the block is not counted on the enclosing task (no events either)."""
    token = _open.set((*_open.get(), "detached"))
    try:
        yield
    finally:
        _open.reset(token)


def verbose_function(func: F) -> F:
    """Decorator: check ``func``'s keyword ``verbose`` and run it inside :func:`verbosity`."""
    default = inspect.signature(func).parameters["verbose"].default

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = check_verbose(kwargs.get("verbose", default))
        with verbosity(verbose):
            return func(*args, **kwargs)

    return cast(F, wrapper)
