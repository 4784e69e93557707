"""The free-space guard: refuse to write a file the disk cannot hold, before any of it is written.

The twin of :func:`diffembed._memory.check_memory` for disk: ``decode`` preallocates
``hspace.npy`` (``--reduce flatten`` can ask for gigabytes), and a memory map written past a
full disk kills the process with SIGBUS instead of an error.
"""

from __future__ import annotations

import os

from ._memory import format_bytes
from .exceptions import InputError

__all__ = ["check_disk"]


def check_disk(directory: str | os.PathLike[str], need_bytes: float, what: str, fix: str) -> None:
    """Refuse to write ``need_bytes`` into ``directory`` when its file system has less free.

    Parameters
    ----------
    directory
        Where the file will be written (an existing directory).
    need_bytes
        Bytes the file will take.
    what
        The file, as a user reads it, e.g. ``"hspace.npy (640 samples x 50 x 4096 float32)"``.
    fix
        The options that shrink it.

    Raises
    ------
    InputError
        With the size, the free space and ``fix``.
    """
    import shutil

    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return  # nothing could be read: nothing is refused
    if need_bytes <= free:
        return
    msg = (
        f"Not enough disk space: {what} needs {format_bytes(need_bytes)}, but the file system "
        f"of {directory} has {format_bytes(free)} free. {fix}"
    )
    raise InputError(msg)
