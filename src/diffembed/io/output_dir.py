"""Owned, atomically claimed and atomically committed output directories.

Every command writes its outputs through :func:`output_directory`. The rules, in order:

1. **Never certain directories.** The current working directory, a parent of it, the home
   directory, ``/``, an input, a directory that contains an input or lies inside an input
   directory are refused, with or without ``overwrite``.
2. **Claim at the start.** A lock file ``.NAME.diffembed-lock`` beside the output (created with
   ``O_EXCL``, holding pid, host and start time) refuses a second run into the same path at once,
   naming the first one's pid. A missing output path is claimed with an empty placeholder
   directory (``mkdir``), so a directory that appears meanwhile cannot be mistaken for ours.
3. **Build beside, commit by rename.** The outputs are written into
   ``.NAME.tmp-PID-XXXX/NAME`` (the wrapper carries a marker file) and renamed onto the empty
   placeholder at the end. Linux refuses to rename onto a non-empty directory, so a directory
   that got files meanwhile is never replaced: the run stops with a clear error and keeps its
   finished results beside it as ``NAME.finished-TIMESTAMP``.
4. **Own what you replace.** ``manifest.json`` lists every file a run wrote (``"files"``, with
   sizes). ``overwrite`` replaces only a directory whose manifest lists everything in it; the old
   directory is renamed aside, the new one renamed in, and only the listed files of the old one
   are deleted. Anything else found there is kept under a visible name and reported.
5. **Sweep what dead runs left.** Build wrappers, renamed-aside directories and lock files in the
   same parent whose marker names a process that no longer runs are removed (an old directory
   renamed aside is put back when its path is free again).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..exceptions import InputError
from .ownership import _count, _names, owned_files, record_files

__all__ = ["output_directory"]

_MARKER = ".diffembed-build"
_LOCK = ".{name}.diffembed-lock"
_STALE = re.compile(
    r"^\.(?P<name>.+)\.(?:(?P<kind>tmp|old)-(?P<pid>\d+)-[A-Za-z0-9_-]+|diffembed-lock)$"
)
#: A run whose liveness cannot be checked (another host, no /proc) is stale after this long.
MAX_AGE_S = 7 * 24 * 3600


# ----------------------------------------------------------------------- liveness, sweep
def _proc_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a reused pid apart); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _marker() -> dict[str, Any]:
    pid = os.getpid()
    return {"diffembed": "build", "pid": pid, "host": socket.gethostname(),
            "started": time.time(), "proc_start": _proc_start(pid)}  # fmt: skip


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(value, dict) and "diffembed" in value and isinstance(value.get("pid"), int):
        return value
    return None


def _alive(marker: dict[str, Any]) -> bool:
    """Whether the run that wrote ``marker`` may still be going."""
    started = marker.get("started")
    age = time.time() - started if isinstance(started, int | float) else MAX_AGE_S + 1
    if marker.get("host") != socket.gethostname():
        return age <= MAX_AGE_S
    pid = marker["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process with that pid
    except OSError:
        return age <= MAX_AGE_S
    token, now = marker.get("proc_start"), _proc_start(pid)
    if token is not None and now is not None:
        return bool(token == now)  # a different start time: the pid was reused
    return age <= MAX_AGE_S


def _sweep(parent: Path) -> None:
    """Remove what dead diffembed runs left in ``parent`` (only entries with its marker)."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _STALE.match(entry.name)
        if match is None:
            continue
        with contextlib.suppress(OSError):
            if match["kind"] is None:
                marker = _read_marker(entry) if entry.is_file() else None
                if marker is not None and not _alive(marker):
                    entry.unlink()
                continue
            if entry.is_symlink() or not entry.is_dir():
                continue
            marker = _read_marker(entry / _MARKER)
            if marker is None or _alive(marker):
                continue
            if match["kind"] == "tmp":
                shutil.rmtree(entry)
            else:
                _settle_old(entry, parent / match["name"])


def _settle_old(wrapper: Path, home: Path) -> Path | None:
    """Finish with an old output renamed aside into ``wrapper``: put back, or delete its files.

    Returns the visible path where files that were not diffembed's were kept, if any.
    """
    old = wrapper / home.name
    kept = None
    if old.is_dir() and not old.is_symlink():
        if not home.exists() and not home.is_symlink():
            os.rename(old, home)  # the run died between the two renames: put it back
        else:
            listed, _, _ = owned_files(old)
            inside = old.resolve()
            for rel in sorted(listed or (), key=lambda r: -r.count("/")):
                target = old / rel
                if target.parent.resolve() != inside / Path(rel).parent:
                    continue  # a listed folder became a link: never delete through it
                with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    target.unlink()
            for root, _, _ in sorted(os.walk(old), key=lambda w: -len(w[0])):
                with contextlib.suppress(OSError):
                    os.rmdir(root)
            if old.exists():
                kept = _visible(home, "leftover")
                os.rename(old, kept)
    (wrapper / _MARKER).unlink(missing_ok=True)
    os.rmdir(wrapper)
    return kept


def _restore_old(wrapper: Path, home: Path) -> None:
    """Put an old output renamed aside back (beside it if its path is taken); delete nothing."""
    old = wrapper / home.name
    if home.exists() or home.is_symlink():
        os.rename(old, _visible(home, "previous"))
    else:
        os.rename(old, home)
    (wrapper / _MARKER).unlink(missing_ok=True)
    os.rmdir(wrapper)


def _visible(home: Path, what: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = home.with_name(f"{home.name}.{what}-{stamp}")
    n = 1
    while path.exists() or path.is_symlink():
        n += 1
        path = home.with_name(f"{home.name}.{what}-{stamp}-{n}")
    return path


# ------------------------------------------------------------------------------ checks
def _contains(directory: Path, other: Path) -> bool:
    return other == directory or directory in other.parents


def _check_target(final: Path, real: Path, inputs: Iterable[str | os.PathLike[str]]) -> None:
    cwd = Path.cwd().resolve()
    try:
        home: Path | None = Path.home().resolve()
    except (RuntimeError, KeyError, OSError):  # no HOME and no password entry
        home = None
    reason = None
    if real == Path(real.anchor):
        reason = "the root directory"
    elif real == home:
        reason = "your home directory"
    elif real == cwd:
        reason = "the current working directory"
    elif real in cwd.parents:
        reason = "a parent of the current working directory"
    if reason is not None:
        msg = (
            f"Refusing to write to {final}: it is {reason}, and diffembed never writes into (or "
            "replaces) such a directory, with or without --overwrite. Give a new folder for the "
            f"outputs, e.g. -o {final / 'out'}."
        )
        raise InputError(msg)
    for item in inputs:
        item_path = Path(item).expanduser().resolve()
        if _contains(real, item_path):
            msg = (
                f"The output directory {final} would contain or replace the input {item}. "
                "Choose another output directory (-o) so that inputs are never overwritten."
            )
            raise InputError(msg)
        if item_path.is_dir() and _contains(item_path, real):
            msg = (
                f"The output directory {final} lies inside the input directory {item}; writing "
                "there would change an input. Choose an -o path outside it."
            )
            raise InputError(msg)


def _check_existing(final: Path, real: Path, overwrite: bool) -> bool:
    """Check an existing output path; return whether it holds files (to be replaced)."""
    if not real.is_dir():
        msg = f"The output path {final} exists and is not a directory. Choose another -o path."
        raise InputError(msg)
    if not any(real.iterdir()):
        return False
    listed, foreign, reason = owned_files(real)
    if not overwrite:
        if listed is not None and not foreign:
            msg = (
                f"The output directory {final} already exists (a diffembed output). Pass "
                f"--overwrite to replace it: only the {len(listed)} files its manifest.json "
                "lists are deleted, and only after the new run succeeds. Or choose another -o "
                "path."
            )
        else:
            why = (
                reason
                or f"it holds {_count(len(foreign), 'file or folder')} diffembed did not write"
            )
            msg = (
                f"The output directory {final} already exists and is not empty, and "
                f"--overwrite would be refused too: {why} ({_names(foreign)}). Choose another "
                "-o path (a new or empty folder)."
            )
        raise InputError(msg)
    if listed is None or foreign:
        why = reason or f"it holds {_count(len(foreign), 'file or folder')} diffembed did not write"
        msg = (
            f"Refusing --overwrite of {final}: {why}: {_names(foreign)}. --overwrite replaces "
            "only a directory made by diffembed and deletes only the files its manifest.json "
            "lists. Nothing was changed; move those files away or choose another -o path."
        )
        raise InputError(msg)
    return True


# ------------------------------------------------------------------------- claim, commit
class _Claim:
    """The lock file of one output path: created with O_EXCL, removed at the end."""

    def __init__(self, real: Path, final: Path) -> None:
        self.path = real.parent / _LOCK.format(name=real.name)
        self.marker = {**_marker(), "diffembed": "lock", "target": str(real)}
        for attempt in (0, 1):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                other = _read_marker(self.path)
                if attempt == 0 and (not _alive(other) if other else _unreadable_stale(self.path)):
                    self.path.unlink(missing_ok=True)
                    continue
                raise InputError(_busy(final, other, self.path)) from None
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.marker, handle)
            return

    def release(self) -> None:
        if _read_marker(self.path) == self.marker:
            self.path.unlink(missing_ok=True)


def _unreadable_stale(lock: Path) -> bool:
    """A lock file without its content (its writer died at once) is stale after a minute."""
    try:
        return time.time() - lock.stat().st_mtime > 60
    except OSError:
        return True


def _busy(final: Path, other: dict[str, Any] | None, lock: Path) -> str:
    if other is None:
        who = "another diffembed run (just starting)"
    else:
        started = other.get("started")
        when = (
            datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M:%S")
            if isinstance(started, int | float)
            else "at an unknown time"
        )
        who = f"another diffembed run (pid {other['pid']} on {other.get('host')}, started {when})"
    return (
        f"{who} is writing to {final}. Wait for it to finish or choose another -o path; "
        f"two runs never write to the same output directory (the claim is {lock}; delete it "
        "only if that run is gone)."
    )


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Delay SIGINT/SIGTERM while the renames run (they arrive right after)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "pthread_sigmask"
    ):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _commit(build: Path, real: Path, final: Path, replace: bool) -> None:
    """Move the finished ``build`` onto ``real`` (see the module docstring)."""
    with _signals_held():
        if replace and real.is_dir() and not real.is_symlink() and any(real.iterdir()):
            listed, foreign, reason = owned_files(real)
            if listed is None or foreign:
                _refuse_at_commit(build, real, final, foreign, reason)
            wrapper = Path(_mkdtemp(real, "old"))
            os.rename(real, wrapper / real.name)
            _, foreign, _ = owned_files(wrapper / real.name)  # nothing slipped in meanwhile
            if foreign:
                _restore_old(wrapper, real)
                _refuse_at_commit(build, real, final, foreign, "")
            try:
                os.rename(build, real)
            except OSError:
                _restore_old(wrapper, real)
                _refuse_at_commit(build, real, final, [], "")
            kept = _settle_old(wrapper, real)
            if kept is not None:
                warnings.warn(
                    f"{final} was replaced, but files diffembed did not write appeared in the old "
                    f"directory during the run; they were kept in {kept}.",
                    stacklevel=3,
                )
            return
        try:
            os.rename(build, real)  # onto our empty placeholder: fails if it got files
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise
            foreign = sorted(p.name for p in real.iterdir()) if real.is_dir() else []
            _refuse_at_commit(build, real, final, foreign, "")


def _refuse_at_commit(build: Path, real: Path, final: Path, foreign: list[str],
                      reason: str) -> None:  # fmt: skip
    kept = _visible(real, "finished")
    os.rename(build, kept)
    what = reason or (f"got files while this run was going ({_names(foreign)})" if foreign
                      else "changed while this run was going")  # fmt: skip
    msg = (
        f"The output directory {final} was not replaced: {what}. diffembed never replaces "
        f"files it did not write. The finished results were kept in {kept}; move them where "
        "you want them."
    )
    raise InputError(msg)


def _mkdtemp(real: Path, kind: str) -> str:
    """A marked wrapper ``.NAME.KIND-PID-XXXX`` beside ``real``."""
    import tempfile

    wrapper = tempfile.mkdtemp(prefix=f".{real.name}.{kind}-{os.getpid()}-", dir=real.parent)
    marker = {**_marker(), "diffembed": kind}
    (Path(wrapper) / _MARKER).write_text(json.dumps(marker), encoding="utf-8")
    return wrapper


def _make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return those created, outermost first."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    missing.reverse()
    for item in missing:
        with contextlib.suppress(FileExistsError):
            item.mkdir()
    return missing


@contextlib.contextmanager
def output_directory(
    path: str | os.PathLike[str],
    overwrite: bool = False,
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Claim ``path``, build the outputs beside it, and commit them by rename.

    Every check runs when the block is entered, before any work: forbidden targets (the
    working directory, a parent of it, home, ``/``, inputs), an existing directory (refused
    unless ``overwrite`` and diffembed wrote everything in it), a concurrent run. On success
    ``manifest.json`` lists every file written; on an exception (or Ctrl-C / SIGTERM) the
    build directory is removed and ``path`` is left as it was.

    Parameters
    ----------
    path
        The output directory. A symbolic link to a directory writes into its target.
    overwrite
        Replace an existing directory that diffembed made: only the files its manifest lists
        are deleted, after the new outputs are complete.
    inputs
        Files or directories read by the run; an output that is, contains or lies inside one
        of them is refused.

    Yields
    ------
    Path
        The directory to write into (``.NAME.tmp-PID-XXXX/NAME`` beside ``path``).

    Raises
    ------
    InputError
        For every refusal, naming the reason and the fix; at commit time also when ``path``
        got files during the run (the finished results are then kept beside it).
    """
    final = Path(path).expanduser().absolute()
    real = Path(os.path.realpath(final))
    if final.is_symlink() and not real.exists():
        msg = (
            f"The output path {final} is a symbolic link to {real}, which does not exist. "
            "Create that directory or choose another -o path."
        )
        raise InputError(msg)
    _check_target(final, real, inputs)
    if real.exists() and not real.is_dir():
        msg = f"The output path {final} exists and is not a directory. Choose another -o path."
        raise InputError(msg)
    if real.parent.is_dir():
        _sweep(real.parent)
    created = _make_parents(real.parent)
    claim = placeholder = wrapper = None
    try:
        claim = _Claim(real, final)
        replace = _check_existing(final, real, overwrite) if real.exists() else False
        if not real.exists():
            try:
                real.mkdir()
            except FileExistsError:
                msg = f"{final} appeared just now while this run claimed it. Run again."
                raise InputError(msg) from None
            placeholder = real
        wrapper = Path(_mkdtemp(real, "tmp"))
        build = wrapper / real.name
        build.mkdir()
        yield build
        from .writers import _default_mode

        os.chmod(build, _default_mode(0o777))
        record_files(build)
        _commit(build, real, final, replace)
        placeholder = None
    finally:
        if wrapper is not None:
            shutil.rmtree(wrapper, ignore_errors=True)
        if placeholder is not None:
            with contextlib.suppress(OSError):
                placeholder.rmdir()  # only while still empty
        if claim is not None:
            claim.release()
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()
