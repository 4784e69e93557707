"""Streamed, resumable sampling for ``diffembed latents decode``: memory flat in the samples.

Sampling ``prompts × seeds`` can take hours on a GPU and its images do not fit in memory
(~3 MB per 512-px sample). :func:`stream_hspace` therefore writes every batch to disk as soon
as it is made, into a **checkpoint directory** ``OUT.partial/`` beside the output ``OUT/``:

=========================  ==================================================================
``hspace.npy``             ``(n, n_timesteps, d)`` float32, preallocated with
                           :func:`numpy.lib.format.open_memmap` (``n`` is known) and filled
                           batch by batch.
``images/NNNNNN.png``      one PNG per sample; ``NNNNNN`` is its row in ``samples.parquet``.
``batches/NNNNNN.json``    per batch: its rows, and the captioner's caption and words per
                           family for each of them (the captioner runs per batch).
``checkpoint.json``        what the run is (model, prompts, seeds, settings: its *key*), the
                           recorded timesteps, the shape of ``h``, and the finished batches.
``.diffembed-partial``     the marker: diffembed made this directory.
=========================  ==================================================================

A batch counts as finished only once its rows of ``hspace.npy`` are flushed, its PNGs and
captions written and ``checkpoint.json`` replaced atomically; a run killed at any point
(``kill -9``, Ctrl-C, a crash) loses at most the batch it was making. ``decode --resume``
reopens the checkpoint, refuses it if its key differs from the new run's (naming what
differs), and makes only the unfinished batches: each batch holds the same samples as before
and every sample draws its noise from its own seeded generator, so the resumed tables equal an
uninterrupted run's. At most one batch of images is in memory at any time.

Safety: the checkpoint directory is never swept by the output-directory machinery
(:mod:`diffembed.io.output_dir`); a run claims ``OUT`` (its lock file) before it opens
``OUT.partial``, so two runs never share one. An existing ``OUT.partial`` without the marker
(not diffembed's) is refused, and only the files diffembed wrote there are ever deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._disk import check_disk
from ..exceptions import InputError
from .hspace import DEFAULT_REDUCE

__all__ = ["Checkpoint", "partial_path", "read_png", "sheet_from_shards", "stream_hspace"]

FORMAT = 1
_MARKER = ".diffembed-partial"
_STATE = "checkpoint.json"
_PNG = re.compile(r"\d{6}\.png")
_JSON = re.compile(r"\d{6}\.json")
#: The largest side of a tile of the contact sheet (bigger images are block-averaged down).
SHEET_TILE = 128


def partial_path(out: str | os.PathLike[str]) -> Path:
    """``OUT.partial`` beside the real path of ``OUT`` (symbolic links followed, as for OUT)."""
    real = Path(os.path.realpath(Path(out).expanduser().absolute()))
    return real.with_name(real.name + ".partial")


def _after_batch(done: int, total: int) -> None:
    """Called after each batch is committed to the checkpoint (a seam for tests: no-op)."""


def _write_json(obj: Any, path: Path) -> None:
    """Write JSON atomically (a temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _png(rgb: np.ndarray) -> bytes:
    from ..plotting.latents_report import png_bytes

    return png_bytes(rgb)


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """``(H, W, 3)`` uint8 from a PNG written by this module (8-bit RGB, filter 0 rows).

    Raises
    ------
    InputError
        Any other kind of PNG (this is not a general PNG reader).
    """
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        msg = f"{path} is not a PNG file written by diffembed."
        raise InputError(msg)
    w, h, depth, colour = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), \
        data[24], data[25]  # fmt: skip
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + size])
        pos += 12 + size
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8)
    if depth != 8 or colour != 2 or raw.size != h * (3 * w + 1) or raw[:: 3 * w + 1].any():
        msg = f"{path} is not an 8-bit RGB PNG with unfiltered rows (as diffembed writes them)."
        raise InputError(msg)
    return raw.reshape(h, 3 * w + 1)[:, 1:].reshape(h, w, 3)


def _rgb(image: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` floats in [0, 1] → ``(H, W, 3)`` uint8 (grey repeated, alpha dropped)."""
    img = np.asarray(image, dtype=np.float32)
    if img.shape[0] == 1:
        img = np.repeat(img, 3, axis=0)
    return (np.clip(img[:3], 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------- checkpoint
class Checkpoint:
    """The checkpoint directory ``OUT.partial/`` of one decode run (see the module docstring).

    Parameters
    ----------
    path
        The directory (``partial_path(out)``).
    key
        JSON-able description of the run; a resumed run must have the same.
    n_samples, batch_size
        Samples in all and per batch (batch ``b`` holds rows ``b·batch_size ..``).
    """

    def __init__(self, path: Path, key: dict[str, Any], n_samples: int, batch_size: int) -> None:
        self.path = Path(path)
        self.key = key
        self.n_samples = int(n_samples)
        self.batch_size = int(batch_size)
        self.n_batches = -(-self.n_samples // self.batch_size)
        self.done: list[int] = []
        self.timesteps: list[int] | None = None
        self.h_shape: list[int] | None = None
        self.images = True
        self.resumed = 0
        self._h: np.ndarray | None = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls, path: Path, key: dict[str, Any], n_samples: int, batch_size: int, *, resume: bool
    ) -> Checkpoint:
        """Create ``path``, or reopen it with ``resume`` (refused when its key differs).

        Raises
        ------
        InputError
            ``path`` exists and is not diffembed's; it holds an interrupted run and ``resume``
            is False; or its run differs from this one.
        """
        ckpt = cls(path, key, n_samples, batch_size)
        exists = path.exists() or path.is_symlink()
        if exists and (path.is_symlink() or not path.is_dir() or not (path / _MARKER).is_file()):
            msg = (
                f"{path} exists and was not made by diffembed (no {_MARKER} marker): decode "
                "keeps its resumable checkpoint there. Move it away or choose another -o path."
            )
            raise InputError(msg)
        if exists and not ckpt._has_batches():
            ckpt._clear()  # ours, but no batch was finished: nothing to keep or resume
            exists = False
        if exists and not resume:
            state = ckpt._read_state()
            done = len(state.get("done", [])) if state else 0
            msg = (
                f"{path} holds an interrupted decode run ({done} of {ckpt.n_batches} batches "
                "finished). Pass --resume to continue it (the same model, prompts and "
                f"settings), or delete {path} to start over."
            )
            raise InputError(msg)
        if exists:
            ckpt._load()
            return ckpt
        path.mkdir(exist_ok=True)
        (path / "images").mkdir(exist_ok=True)
        (path / "batches").mkdir(exist_ok=True)
        (path / _MARKER).write_text(
            json.dumps({"diffembed": "partial", "format": FORMAT, "created": time.time()}),
            encoding="utf-8",
        )
        ckpt._save_state()
        return ckpt

    def _has_batches(self) -> bool:
        state = self._read_state()
        return bool(state and state.get("done"))

    def _clear(self) -> None:
        """Delete what diffembed writes here (by its names), keeping the directory."""
        names = [_STATE, "hspace.npy"]
        names += [f"{sub}/{p.name}" for sub, pattern in (("images", _PNG), ("batches", _JSON))
                  if (self.path / sub).is_dir()
                  for p in (self.path / sub).iterdir() if pattern.fullmatch(p.name)]  # fmt: skip
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads((self.path / _STATE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _load(self) -> None:
        state = self._read_state()
        if state is None or state.get("format") != FORMAT:
            msg = (
                f"{self.path / _STATE} is missing or unreadable, so the interrupted run cannot "
                f"be resumed. Delete {self.path} and run again without --resume."
            )
            raise InputError(msg)
        old = state.get("key", {})
        diff = [k for k in sorted(set(old) | set(self.key)) if old.get(k) != self.key.get(k)]
        if diff:
            shown = "; ".join(f"{k}: {old.get(k)!r} then, {self.key.get(k)!r} now"
                              for k in diff[:4])  # fmt: skip
            msg = (
                f"--resume: {self.path} was started with other settings ({shown}). Rerun with "
                f"the same model, prompts and options to continue it, or delete {self.path} "
                "to start over."
            )
            raise InputError(msg)
        done = state.get("done", [])
        if not (isinstance(done, list) and all(isinstance(b, int) and 0 <= b < self.n_batches
                                              for b in done)):  # fmt: skip
            msg = f"{self.path / _STATE}: 'done' lists no batch numbers; delete {self.path}."
            raise InputError(msg)
        self.done = sorted(set(done))
        self.timesteps = state.get("timesteps")
        self.h_shape = state.get("h_shape")
        self.images = bool(state.get("images", True))
        self.resumed = self.n_done
        if self.done and not (self.path / "hspace.npy").is_file():
            msg = f"{self.path / 'hspace.npy'} is missing; delete {self.path} and run again."
            raise InputError(msg)

    def _save_state(self) -> None:
        state = {
            "format": FORMAT, "key": self.key, "n_samples": self.n_samples,
            "batch_size": self.batch_size, "timesteps": self.timesteps,
            "h_shape": self.h_shape, "images": self.images, "done": self.done,
        }  # fmt: skip
        _write_json(state, self.path / _STATE)

    # ---------------------------------------------------------------- batches
    def rows(self, b: int) -> slice:
        """The sample rows of batch ``b``."""
        return slice(b * self.batch_size, min((b + 1) * self.batch_size, self.n_samples))

    @property
    def n_done(self) -> int:
        """Samples of the finished batches."""
        return sum(self.rows(b).stop - self.rows(b).start for b in self.done)

    def todo(self) -> list[int]:
        """Batches not finished yet, in order."""
        done = set(self.done)
        return [b for b in range(self.n_batches) if b not in done]

    def _h_array(self, h: np.ndarray) -> np.ndarray:
        from numpy.lib.format import open_memmap

        shape = [self.n_samples, *h.shape[1:]]
        if self._h is None:
            path = self.path / "hspace.npy"
            if self.h_shape is not None and path.is_file():
                self._h = open_memmap(path, mode="r+")
                if list(self._h.shape) != self.h_shape or self._h.dtype != np.float32:
                    msg = f"{path} does not have the shape {self.h_shape}; delete {self.path}."
                    raise InputError(msg)
            else:
                check_disk(
                    self.path, 4 * float(np.prod(shape)),
                    f"hspace.npy ({' x '.join(map(str, shape))} float32)",
                    "Record less: --reduce mean or --reduce pool:K instead of flatten, fewer "
                    "--timesteps, fewer prompts or --seeds; or write -o on a larger disk. "
                    "Nothing was written.",
                )  # fmt: skip
                self._h = open_memmap(path, mode="w+", dtype=np.float32, shape=tuple(shape))
                self.h_shape = shape
        if list(self._h.shape[1:]) != shape[1:]:
            msg = (
                f"A batch recorded h of shape {list(h.shape[1:])} per sample, but the run so far "
                f"recorded {self.h_shape[1:] if self.h_shape else None}."
            )
            raise InputError(msg)
        return self._h

    def commit(
        self,
        b: int,
        h: np.ndarray,
        timesteps: list[int],
        images: np.ndarray | None,
        described: tuple[list[str], dict[str, list[str]]] | None,
    ) -> None:
        """Write batch ``b`` (its h rows, PNGs, captions), then mark it finished."""
        rows = self.rows(b)
        if h.shape[0] != rows.stop - rows.start:
            msg = f"Batch {b} recorded {h.shape[0]} h-vectors for {rows.stop - rows.start} samples."
            raise InputError(msg)
        if self.timesteps is None:
            self.timesteps = [int(t) for t in timesteps]
        elif [int(t) for t in timesteps] != self.timesteps:
            msg = f"Batch {b} recorded timesteps {timesteps}, the run so far {self.timesteps}."
            raise InputError(msg)
        array = self._h_array(h)
        array[rows] = h
        array.flush()
        if images is None:
            self.images = False
        else:
            for i, image in zip(range(rows.start, rows.stop), images, strict=True):
                (self.path / "images" / f"{i:06d}.png").write_bytes(_png(_rgb(image)))
        record: dict[str, Any] = {"start": rows.start, "stop": rows.stop}
        if described is not None:
            record["caption"], record["words"] = described
        _write_json(record, self.path / "batches" / f"{b:06d}.json")
        self.done = sorted({*self.done, b})
        self._save_state()

    # ---------------------------------------------------------------- results
    def columns(self, families: Sequence[str] | None) -> dict[str, np.ndarray]:
        """``caption`` and one column per family, read back from the batch records."""
        if families is None:
            return {}
        caption: list[str] = []
        words: dict[str, list[str]] = {f: [] for f in families}
        for b in range(self.n_batches):
            record = json.loads((self.path / "batches" / f"{b:06d}.json").read_text("utf-8"))
            if "caption" not in record:
                return {}
            caption += record["caption"]
            for f in families:
                words[f] += record["words"][f]
        return {"caption": np.asarray(caption, dtype=object),
                **{f: np.asarray(v, dtype=object) for f, v in words.items()}}  # fmt: skip

    def h(self) -> np.ndarray:
        """The finished ``hspace.npy``, memory-mapped read-only."""
        self._h = None
        return np.load(self.path / "hspace.npy", mmap_mode="r", allow_pickle=False)

    def export(self, build: Path) -> list[str]:
        """Link (or copy) ``hspace.npy`` and ``images/`` into the build directory ``build``."""
        import shutil

        def place(src: Path, dst: Path) -> None:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)

        place(self.path / "hspace.npy", build / "hspace.npy")
        names = ["hspace.npy"]
        if self.images:
            (build / "images").mkdir()
            for i in range(self.n_samples):
                place(self.path / "images" / f"{i:06d}.png", build / "images" / f"{i:06d}.png")
            names.append("images/")
        return names

    def remove(self) -> list[str]:
        """Delete the files diffembed wrote here, then the directory; return what was kept."""
        self._h = None
        names = [_STATE, "hspace.npy", _MARKER]
        names += [f"batches/{b:06d}.json" for b in range(self.n_batches)]
        names += [f"images/{i:06d}.png" for i in range(self.n_samples)]
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()
        kept = []
        for sub in ("images", "batches", ""):
            try:
                (self.path / sub).rmdir() if sub else self.path.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                kept.append(str(self.path / sub))
        return kept


# ----------------------------------------------------------------------------- sampling
def stream_hspace(
    kind: str,
    obj: Any,
    prompts: Sequence[str],
    checkpoint: Checkpoint,
    *,
    seeds: Sequence[int],
    timesteps: Sequence[int] | None,
    num_inference_steps: int,
    guidance_scale: float,
    reduce: str = DEFAULT_REDUCE,
    captioner: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Make the unfinished batches of ``checkpoint``; return the whole run's HSpaceResult.

    Parameters
    ----------
    kind, obj
        What :func:`.pipelines.resolve_model` returned.
    prompts
        Distinct prompts; samples are ordered prompt by prompt, seeds within a prompt.
    checkpoint
        An opened :class:`Checkpoint` (its batches partition the samples).
    seeds, timesteps, num_inference_steps, guidance_scale, reduce
        As for :func:`.hspace.extract_hspace` (timesteps already checked, or None: all).
    captioner
        A :class:`~.captioners.Captioner` run on every batch, or None (prompt-only).
    progress
        ``progress(done, total)`` in samples after every batch.

    Returns
    -------
    HSpaceResult
        ``h`` memory-mapped from ``OUT.partial/hspace.npy``, ``images`` None (they are the
        PNGs), the table with captions when there is a captioner.
    """
    from .captioners import describe
    from .hspace import HSpaceRecorder, HSpaceResult
    from .pipelines import generate_batch

    seeds = [int(s) for s in seeds]
    distinct = list(dict.fromkeys(prompts))
    sample_prompts = [p for p in prompts for _ in seeds]
    sample_seeds = [s for _ in prompts for s in seeds]
    n = len(sample_prompts)
    if n != checkpoint.n_samples:
        msg = f"The checkpoint is for {checkpoint.n_samples} samples, this run has {n}."
        raise InputError(msg)
    recorder = HSpaceRecorder(obj.unet, timesteps, reduce=reduce,
                              conditional_half=guidance_scale > 1)  # fmt: skip
    done = checkpoint.resumed
    if progress is not None and done:
        progress(done, n)
    with recorder:
        for b in checkpoint.todo():
            rows = checkpoint.rows(b)
            recorder.clear()
            recorder.begin(rows.stop - rows.start)
            images = generate_batch(kind, obj, sample_prompts[rows], sample_seeds[rows],
                                    num_inference_steps, guidance_scale)  # fmt: skip
            h = recorder.stack()
            order = list(timesteps) if timesteps is not None else recorder.recorded_timesteps()
            described = None
            if captioner is not None:
                if images is None:
                    msg = (
                        "The pipeline returned no images to caption; decode it with "
                        "--captioner none (prompt-only)."
                    )
                    raise InputError(msg)
                described = describe(captioner, images)
            checkpoint.commit(b, h, order, images, described)
            del images
            done += rows.stop - rows.start
            _after_batch(len(checkpoint.done), checkpoint.n_batches)
            if progress is not None:
                progress(done, n)
    families = list(captioner.families) if captioner is not None else None
    table: dict[str, np.ndarray] = {
        "prompt": np.asarray(sample_prompts, dtype=object),
        "seed": np.asarray(sample_seeds, dtype=np.int64),
        "prompt_id": np.array([distinct.index(p) for p in sample_prompts], dtype=np.int64),
        **checkpoint.columns(families),
    }
    config = {"source": kind, "num_inference_steps": int(num_inference_steps),
              "guidance_scale": float(guidance_scale), "reduce": reduce, "seeds": seeds,
              "n_prompts": len(distinct)}  # fmt: skip
    return HSpaceResult(h=checkpoint.h(), timesteps=list(checkpoint.timesteps or []),
                        table=table, images=None, config=config)  # fmt: skip


def sheet_from_shards(
    directory: Path, groups: np.ndarray, *, max_rows: int = 32, max_cols: int = 12
) -> np.ndarray | None:
    """The contact sheet of ``directory/images/NNNNNN.png``: only the tiles shown are read.

    Tiles larger than :data:`SHEET_TILE` pixels are block-averaged down, so the sheet's memory
    is bounded by ``max_rows × max_cols`` small tiles whatever the number of samples.
    """
    from ..plotting.latents_report import contact_sheet

    groups = np.asarray(groups)
    keys = list(dict.fromkeys(groups.tolist()))[:max_rows]
    chosen = [i for k in keys for i in np.flatnonzero(groups == k)[:max_cols]]
    if not chosen:
        return None
    tiles = []
    for i in chosen:
        path = directory / "images" / f"{i:06d}.png"
        if not path.is_file():
            return None
        rgb = read_png(path).astype(np.float32) / 255.0
        f = max(1, -(-max(rgb.shape[:2]) // SHEET_TILE))
        if f > 1:
            h, w = rgb.shape[0] // f * f, rgb.shape[1] // f * f
            rgb = rgb[:h, :w].reshape(h // f, f, w // f, f, 3).mean(axis=(1, 3))
        tiles.append(rgb.transpose(2, 0, 1))
    return contact_sheet(np.stack(tiles), groups[chosen], max_rows=max_rows, max_cols=max_cols)
