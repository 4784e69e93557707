"""Which files of an output directory diffembed wrote: the ``"files"`` list of ``manifest.json``.

:func:`record_files` writes the list (relative path and size of every file) when an output is
committed, and again when ``diffembed report`` / ``export`` add files; :func:`owned_files`
compares a directory with its list. ``--overwrite`` (:mod:`diffembed.io.output_dir`) replaces a
directory only when nothing in it is missing from the list, and deletes only listed files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST", "owned_files", "record_files"]

#: Name of the manifest every output directory carries.
MANIFEST = "manifest.json"
_SHOWN = 5
_WALK_LIMIT = 10_000


# ------------------------------------------------------------------------- ownership
def _read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _listed(manifest: dict[str, Any]) -> set[str] | None:
    """The relative paths a diffembed manifest lists; None when it lists none."""
    files = manifest.get("files")
    if not isinstance(files, list):
        return None
    listed = {MANIFEST}
    for entry in files:
        rel = entry.get("path") if isinstance(entry, dict) else None
        if isinstance(rel, str) and rel and not rel.startswith("/") and ".." not in rel.split("/"):
            listed.add(rel)
    return listed


def owned_files(directory: str | os.PathLike[str]) -> tuple[set[str] | None, list[str], str]:
    """Which entries of ``directory`` diffembed wrote, and which it did not.

    Parameters
    ----------
    directory
        An existing directory.

    Returns
    -------
    listed : set of str or None
        The relative paths its ``manifest.json`` lists (None without a usable list).
    foreign : list of str
        Files and folders in it that the manifest does not list (sorted; folders end in ``/``).
    reason : str
        Why nothing is owned when ``listed`` is None, else ``""``.
    """
    directory = Path(directory)
    manifest = _read_manifest(directory)
    listed = None if manifest is None else _listed(manifest)
    reason = ""
    if manifest is None or "diffembed_version" not in manifest:
        reason = "it has no manifest.json written by diffembed, so diffembed did not make it"
        listed = None
    elif listed is None:
        version = manifest.get("diffembed_version")
        reason = (
            f"its manifest.json comes from diffembed {version}, which did not record the files "
            "it wrote, so diffembed cannot tell its files from yours"
        )
    keep = listed or set()
    parents = {"/".join(p.split("/")[:i]) for p in keep for i in range(1, p.count("/") + 1)}
    foreign: list[str] = []
    for root, dirs, files in os.walk(directory):
        rel_root = Path(root).relative_to(directory).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        for name in list(dirs):
            rel = prefix + name
            if os.path.islink(os.path.join(root, name)):
                dirs.remove(name)
                if rel not in keep:
                    foreign.append(rel)
            elif rel not in parents:
                dirs.remove(name)
                _walk_all(Path(root) / name, rel, foreign)
        foreign.extend(prefix + n for n in files if prefix + n not in keep)
        if len(foreign) > _WALK_LIMIT:
            break
    return listed, sorted(foreign), reason


def _walk_all(path: Path, rel: str, out: list[str]) -> None:
    """Every file under a foreign folder (the folder itself when it is empty)."""
    found = False
    for root, _, files in os.walk(path):
        rel_root = Path(root).relative_to(path).as_posix()
        prefix = rel + "/" + ("" if rel_root == "." else rel_root + "/")
        out.extend(prefix + n for n in files)
        found = found or bool(files)
        if len(out) > _WALK_LIMIT:
            return
    if not found:
        out.append(rel + "/")


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    more = len(items) - _SHOWN
    if more > 0:
        more_text = f"{more}+" if len(items) > _WALK_LIMIT else str(more)
        return f"{shown} and {more_text} more"
    return shown


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what.replace('file or folder', 'files or folders')}"


def record_files(
    directory: str | os.PathLike[str],
    names: Iterable[str] | None = None,
    *,
    command: str | None = None,
) -> Path | None:
    """Write the ``"files"`` list (relative path and size of each file) into ``manifest.json``.

    Parameters
    ----------
    directory
        The output directory.
    names
        None (at commit, on a build directory only diffembed wrote): list every file, and write
        a minimal manifest (format and diffembed version, time, ``command``, top-level
        ``outputs``) where the command wrote none. Otherwise the files or folders just added to a
        finished output (``diffembed report``, ``export``): they are added to an existing list,
        so that ``--overwrite`` may replace them later; a manifest without a list is left alone.
    command
        The command recorded in a newly created manifest.

    Returns
    -------
    Path or None
        The manifest's path, or None when it was left alone.
    """
    from .. import __version__
    from .writers import write_json_atomic

    directory = Path(directory)
    manifest = _read_manifest(directory)
    if names is not None:
        if manifest is None or _listed(manifest) is None:
            return None
        entries = {e["path"]: e for e in manifest["files"] if isinstance(e, dict) and "path" in e}
        for name in names:
            path = directory / name.rstrip("/")
            found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for item in found:
                rel = item.relative_to(directory).as_posix()
                entries[rel] = {"path": rel, "bytes": item.lstat().st_size}
        entries.pop(MANIFEST, None)
        manifest["files"] = [*entries.values(), {"path": MANIFEST, "bytes": None}]
        return write_json_atomic(manifest, directory / MANIFEST)
    if manifest is None:
        manifest = {
            "format_version": 1,
            "command": command,
            "diffembed_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "outputs": sorted([*(p.name for p in directory.iterdir()), MANIFEST]),
        }
    manifest.setdefault("diffembed_version", __version__)
    files = []
    for root, dirs, found in os.walk(directory):
        dirs.sort()
        for name in sorted(found):
            path = Path(root) / name
            rel = path.relative_to(directory).as_posix()
            if rel != MANIFEST:
                files.append({"path": rel, "bytes": path.lstat().st_size})
    manifest["files"] = [*files, {"path": MANIFEST, "bytes": None}]
    return write_json_atomic(manifest, directory / MANIFEST)
