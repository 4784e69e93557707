"""Named, timed stages that the CLI (or any caller) can listen to.

Numeric code wraps each long step in :func:`stage`; it costs nothing when nobody listens.
A listener receives ``(event, name, seconds)`` with ``event`` in ``{"start", "end"}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Listener = Callable[[str, str, float], None]

_listeners: ContextVar[tuple[Listener, ...]] = ContextVar("diffembed_progress", default=())


@contextmanager
def stage(name: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    """Run a block as a named stage, record its wall time in ``timings`` and tell listeners."""
    for listener in _listeners.get():
        listener("start", name, 0.0)
    start = time.perf_counter()
    try:
        yield
    finally:
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
