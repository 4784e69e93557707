"""h-space: the output of a diffusion U-Net's mid-block, recorded while it denoises.

Kwon et al. (2023) showed that the bottleneck of a diffusion U-Net (the output of its
``mid_block``) is a semantic latent space, "h-space". :class:`HSpaceRecorder` reads it from any
diffusers :class:`~diffusers.UNet2DConditionModel` with two hooks, without changing the model or
the sampling loop:

* a forward *pre*-hook on the U-Net reads the ``timestep`` of every call (and the batch size);
* a forward hook on ``unet.mid_block`` records its output, ``(batch, C, h, w)``, at the chosen
  timesteps, average-pooled to ``K × K`` cells (``"pool:K"``, ``C·K·K`` numbers; the default
  ``"pool:2"`` keeps left / right and top / bottom), reduced to ``C`` numbers (``"mean"``, the
  spatial mean, which erases where things are: position cannot be decoded from it) or kept
  whole (``"flatten"``, ``C·h·w``).

With classifier-free guidance every step calls the U-Net once on a doubled batch,
``torch.cat([uncond, cond])``, the unconditional half first (diffusers' pipelines and
:func:`.ddpm.sample` alike); the recorder keeps the conditional (second) half.

:func:`extract_hspace` runs the recorder around sampling: a diffembed :class:`~.ddpm.DDPMModel`
(through :func:`.ddpm.sample`), a diffusers pipeline object (anything with ``.unet`` that is
called as ``pipe(prompt=..., generator=..., num_inference_steps=..., guidance_scale=...,
output_type="np")``, Stable Diffusion included), or a local directory holding either
(loaded by :mod:`.pipelines`, optionally on another device and in another precision). The
``decode`` command streams the same recording to disk batch by batch (:mod:`.streaming`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError
from .pipelines import INSTALL as INSTALL
from .pipelines import _torch, generate_batch, resolve_device, resolve_dtype, resolve_model

__all__ = [
    "REDUCTIONS",
    "HSpaceRecorder",
    "HSpaceResult",
    "check_timesteps",
    "extract_hspace",
    "inference_timesteps",
    "parse_reduce",
]


REDUCTIONS = ("mean", "flatten", "pool:K")
#: The default reduction: a 2 × 2 average pool keeps the coarse layout of the mid-block map
#: (left / right, top / bottom), which the spatial mean erases, at 4 × the numbers of the mean.
DEFAULT_REDUCE = "pool:2"


def parse_reduce(reduce: str) -> tuple[str, int]:
    """``"mean"`` → ("mean", 1), ``"flatten"`` → ("flatten", 0), ``"pool:K"`` → ("pool", K).

    ``mean`` averages the ``(C, h, w)`` mid-block map over space (``d = C``), ``flatten`` keeps
    it whole (``d = C·h·w``) and ``pool:K`` average-pools it to ``K × K`` cells
    (``torch.nn.functional.adaptive_avg_pool2d``; ``d = C·K·K``; ``pool:1`` equals ``mean``).

    Raises
    ------
    InputError
        Any other value, or ``K < 1``.
    """
    text = str(reduce).strip().lower()
    if text in ("mean", "flatten"):
        return text, 1 if text == "mean" else 0
    match = re.fullmatch(r"pool:(\d+)", text)
    if match is None or int(match[1]) < 1:
        msg = (
            f"reduce={reduce!r} is not valid: choose 'mean' (spatial mean), 'flatten' (the "
            "whole map) or 'pool:K' with K >= 1 (average-pooled to K x K, e.g. pool:2)."
        )
        raise InputError(msg)
    return "pool", int(match[1])


def _compact(values: Sequence[int], limit: int = 12) -> str:
    values = list(values)
    if len(values) <= limit:
        return ", ".join(str(v) for v in values)
    head = ", ".join(str(v) for v in values[: limit // 2])
    tail = ", ".join(str(v) for v in values[-(limit // 2) :])
    return f"{head}, …, {tail} ({len(values)} in all)"


def inference_timesteps(scheduler: Any, num_inference_steps: int) -> list[int]:
    """The timesteps a sampler visits: ``scheduler.set_timesteps(num_inference_steps)``.

    The scheduler is copied first, so the caller's is not changed. Repeated timesteps (PNDM's
    Runge–Kutta warm-up) are listed once, in order of first visit.
    """
    sched = copy.deepcopy(scheduler)
    sched.set_timesteps(num_inference_steps)
    return list(dict.fromkeys(int(t) for t in np.asarray(sched.timesteps).tolist()))


def check_timesteps(
    timesteps: Sequence[int] | None, scheduler: Any, num_inference_steps: int
) -> list[int] | None:
    """Validate requested timesteps against the schedule; return them as ints (or None: all).

    Raises
    ------
    InputError
        A timestep outside ``[0, num_train_timesteps)`` (the message names the range) or not
        visited with ``num_inference_steps`` steps (the message lists those that are).
    """
    if timesteps is None:
        return None
    if isinstance(timesteps, int | np.integer):
        timesteps = [int(timesteps)]
    out: list[int] = []
    for t in timesteps:
        if isinstance(t, bool) or not float(t).is_integer():
            msg = f"Timestep {t!r} is not an integer; timesteps are integers of the schedule."
            raise InputError(msg)
        out.append(int(t))
    if not out:
        msg = "timesteps is empty: give at least one timestep, or None for all of them."
        raise InputError(msg)
    t_max = int(scheduler.config.num_train_timesteps)
    bad = [t for t in out if not 0 <= t < t_max]
    if bad:
        msg = (
            f"Timestep {bad[0]} is outside the scheduler's schedule: valid timesteps lie in "
            f"[0, {t_max - 1}] (num_train_timesteps={t_max})."
        )
        raise InputError(msg)
    visited = inference_timesteps(scheduler, num_inference_steps)
    missing = [t for t in out if t not in visited]
    if missing:
        msg = (
            f"Timestep {missing[0]} is not visited with num_inference_steps="
            f"{num_inference_steps}; the inference timesteps are: {_compact(visited)}. "
            "Pick some of these (or change num_inference_steps)."
        )
        raise InputError(msg)
    return list(dict.fromkeys(out))


class HSpaceRecorder:
    """Record a U-Net's mid-block output (h-space) at chosen timesteps, as a context manager.

    Parameters
    ----------
    unet
        A diffusers ``UNet2DConditionModel`` (anything with a ``mid_block`` submodule and a
        ``forward(sample, timestep, encoder_hidden_states, ...)``).
    timesteps
        Timesteps to record (integers of the scheduler's schedule), or None: every call.
    reduce
        ``"pool:K"``: average-pooled to ``K × K`` cells, ``C·K·K`` numbers (default
        ``"pool:2"``: the coarse layout survives); ``"mean"``: average over spatial positions,
        one ``C``-vector per sample (position is lost); ``"flatten"``: the whole ``C × h × w``
        map, flattened (see :func:`parse_reduce`).
    conditional_half
        When the batch is doubled for classifier-free guidance, keep only its second
        (conditional) half. Doubling is known exactly when :attr:`batch_size` (the number of
        samples of the current sampling call) is set, as :func:`extract_hspace` does;
        otherwise a batch is taken as doubled when it is even and its first half's
        ``encoder_hidden_states`` rows are all identical (the unconditional prompt).

    Attributes
    ----------
    records : dict of int to list of ndarray
        Timestep → one ``(batch, d)`` float32 array per recorded call.
    seen : list of int
        Timestep of every U-Net call seen.
    batch_size : int or None
        Samples of the current sampling call (set it before each call; see above).

    Examples
    --------
    >>> with HSpaceRecorder(pipe.unet, timesteps=[981, 501]) as rec:  # doctest: +SKIP
    ...     pipe(["a red cube"], num_inference_steps=50)
    >>> rec.stack().shape  # doctest: +SKIP
    (1, 2, 1280)
    """

    def __init__(
        self,
        unet: Any,
        timesteps: Sequence[int] | None = None,
        *,
        reduce: str = DEFAULT_REDUCE,
        conditional_half: bool = True,
    ) -> None:
        self._reduce = parse_reduce(reduce)
        if getattr(unet, "mid_block", None) is None:
            msg = (
                f"{type(unet).__name__} has no mid_block, so it has no h-space to record: give "
                "a diffusers UNet2DConditionModel (pipe.unet)."
            )
            raise InputError(msg)
        self.unet = unet
        self.timesteps = None if timesteps is None else [int(t) for t in timesteps]
        self.reduce = reduce
        self.conditional_half = conditional_half
        self.batch_size: int | None = None
        self.records: dict[int, list[np.ndarray]] = {}
        self.seen: list[int] = []
        self._handles: list[Any] = []
        self._current: tuple[int, bool] | None = None
        self._round: set[int] = set()

    # ------------------------------------------------------------------ hooks
    def _pre_hook(self, module: Any, args: tuple, kwargs: dict) -> None:
        torch = _torch()
        sample = args[0] if args else kwargs.get("sample")
        t = args[1] if len(args) > 1 else kwargs.get("timestep")
        states = args[2] if len(args) > 2 else kwargs.get("encoder_hidden_states")
        t = torch.as_tensor(t).reshape(-1)
        if t.numel() > 1 and not bool((t == t[0]).all()):
            msg = "The U-Net got different timesteps in one batch; record one timestep per call."
            raise InputError(msg)
        step = round(float(t[0]))
        batch = int(sample.shape[0])
        self.seen.append(step)
        self._current = (step, self._doubled(batch, states))

    def _doubled(self, batch: int, states: Any) -> bool:
        if not self.conditional_half:
            return False
        if self.batch_size is not None:
            if batch == 2 * self.batch_size:
                return True
            if batch == self.batch_size:
                return False
            msg = (
                f"The U-Net got a batch of {batch} rows for {self.batch_size} samples (neither "
                "the samples nor twice as many for classifier-free guidance)."
            )
            raise InputError(msg)
        if batch % 2 or states is None:
            return False
        half = states[: batch // 2]
        return bool((half == half[:1]).all())

    def _hook(self, module: Any, args: tuple, output: Any) -> None:
        if self._current is None:
            return
        step, doubled = self._current
        if self.timesteps is not None and step not in self.timesteps:
            return
        if self.batch_size is not None and step in self._round:
            return  # a timestep visited twice in one sampling call (PNDM warm-up): first only
        self._round.add(step)
        h = output[0] if isinstance(output, tuple | list) else output
        h = h.detach()
        if doubled:
            h = h[h.shape[0] // 2 :]
        how, k = self._reduce
        if h.ndim == 4 and how == "mean":
            h = h.float().mean(dim=(2, 3))
        elif h.ndim == 4 and how == "pool":
            h = _torch().nn.functional.adaptive_avg_pool2d(h.float(), k)
        self.records.setdefault(step, []).append(h.reshape(h.shape[0], -1).cpu().numpy())

    # ------------------------------------------------------------- lifecycle
    def begin(self, batch_size: int | None) -> None:
        """Start a sampling call of ``batch_size`` samples (timesteps are recorded once each)."""
        self.batch_size = batch_size
        self._round = set()

    def __enter__(self) -> HSpaceRecorder:
        self._handles = [
            self.unet.register_forward_pre_hook(self._pre_hook, with_kwargs=True),
            self.unet.mid_block.register_forward_hook(self._hook),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._current = None

    def clear(self) -> None:
        """Forget everything recorded."""
        self.records, self.seen, self._round = {}, [], set()

    def recorded_timesteps(self) -> list[int]:
        """Timesteps with records, in order of first visit."""
        return [t for t in dict.fromkeys(self.seen) if t in self.records]

    def stack(self) -> np.ndarray:
        """``(n_samples, n_timesteps, d)`` float32: the records, timesteps in recording order.

        Raises
        ------
        InputError
            Nothing recorded, a requested timestep never visited, or timesteps recorded an
            unequal number of times.
        """
        if self.timesteps is not None:
            missing = [t for t in self.timesteps if t not in self.records]
            if missing:
                visited = list(dict.fromkeys(self.seen))
                msg = (
                    f"Timestep {missing[0]} was never visited by the sampler; it visited: "
                    f"{_compact(visited) or 'nothing (was the U-Net called inside the block?)'}."
                )
                raise InputError(msg)
            order = self.timesteps
        else:
            order = self.recorded_timesteps()
        if not order:
            msg = "Nothing was recorded: run the sampler (or pipeline) inside the `with` block."
            raise InputError(msg)
        per_t = [np.concatenate(self.records[t]) for t in order]
        sizes = {a.shape[0] for a in per_t}
        if len(sizes) > 1:
            msg = (
                f"The timesteps were recorded for different numbers of samples ({sorted(sizes)});"
                " record whole sampling runs."
            )
            raise InputError(msg)
        return np.stack(per_t, axis=1).astype(np.float32, copy=False)


# ------------------------------------------------------------------------------ results
@dataclass
class HSpaceResult:
    """h-vectors of generated samples, with the samples' prompts, seeds and images.

    Attributes
    ----------
    h : ndarray, shape (n_samples, n_timesteps, d), float32
    timesteps : list of int
        The timestep of each column of ``h``.
    table : dict of str to ndarray
        ``prompt``, ``seed``, ``prompt_id`` (index into the distinct prompts in input order)
        and, when the model has an attribute classifier, ``caption`` and one column per
        predicted attribute family.
    images : ndarray, shape (n_samples, 3, H, W), float32 in [0, 1], or None
    config : dict
        How it was made (source, steps, guidance, reduce, ...).
    """

    h: np.ndarray
    timesteps: list[int]
    table: dict[str, np.ndarray]
    images: np.ndarray | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.h.shape[0])

    @property
    def prompts(self) -> list[str]:
        return [str(p) for p in self.table["prompt"]]

    @property
    def captions(self) -> list[str] | None:
        cap = self.table.get("caption")
        return None if cap is None else [str(c) for c in cap]

    def save(self, directory: str | Path) -> Path:
        """Write ``hspace.npy``, ``samples.parquet``, ``hspace.json`` (and ``images.npy``).

        Every file is written atomically; the directory is created when missing.
        """
        from ..io.writers import write_json_atomic, write_npy_atomic, write_parquet_atomic

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_npy_atomic(np.asarray(self.h, dtype=np.float32), directory / "hspace.npy")
        write_parquet_atomic(_arrow_columns(self.table), directory / "samples.parquet")
        if self.images is not None:
            write_npy_atomic(np.asarray(self.images, dtype=np.float32), directory / "images.npy")
        meta = {"timesteps": self.timesteps, "shape": list(self.h.shape), **self.config}
        write_json_atomic(meta, directory / "hspace.json")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> HSpaceResult:
        """Read what :meth:`save` wrote, checking each file before its data is read.

        ``.npy`` headers must match the file sizes and each other (``h`` is (n, timesteps,
        d), ``images`` (n, 3, s, s)), ``samples.parquet`` must have n rows and
        ``hspace.json`` is size- and depth-capped; anything else raises :class:`InputError`.
        """
        import pyarrow.parquet as pq

        from ..io.safe_files import read_json_capped, read_npy_checked, refuse

        directory = Path(directory)
        need = [directory / "hspace.npy", directory / "samples.parquet"]
        for path in need:
            if not path.is_file():
                msg = f"{path} is missing: save an HSpaceResult there first (result.save(dir))."
                raise InputError(msg)
        h = read_npy_checked(directory / "hspace.npy", (None, None, None))
        try:
            table = pq.read_table(directory / "samples.parquet")
        except (OSError, ValueError) as exc:
            refuse(f"not a readable Parquet file ({exc})", directory / "samples.parquet")
        if table.num_rows != h.shape[0]:
            refuse(f"{table.num_rows} rows for {h.shape[0]} samples in hspace.npy",
                   directory / "samples.parquet")  # fmt: skip
        cols = {
            c: np.asarray(table.column(c).to_numpy(zero_copy_only=False))
            for c in table.column_names
        }
        meta_path = directory / "hspace.json"
        meta = read_json_capped(meta_path) if meta_path.is_file() else {}
        if not isinstance(meta, dict):
            refuse("hspace.json is not a JSON object", meta_path)
        images = None
        if (directory / "images.npy").is_file():
            images = read_npy_checked(directory / "images.npy", (h.shape[0], 3, None, None))
        timesteps = meta.pop("timesteps", list(range(h.shape[1])))
        if (
            not isinstance(timesteps, list)
            or len(timesteps) != h.shape[1]
            or not all(isinstance(t, int) and not isinstance(t, bool) for t in timesteps)
        ):
            refuse(f"'timesteps' must list {h.shape[1]} integers (one per recorded step)",
                   meta_path)  # fmt: skip
        meta.pop("shape", None)
        return cls(h=h, timesteps=timesteps, table=cols, images=images, config=meta)


def _arrow_columns(table: dict[str, Any]) -> dict[str, Any]:
    import pyarrow as pa

    out = {}
    for k, v in table.items():
        arr = np.asarray(v)
        out[k] = pa.array(arr) if arr.dtype.kind in "biuf" else pa.array([str(x) for x in arr])
    return out


# --------------------------------------------------------------------------- extraction
def _resolve(
    model_or_pipeline: Any,
    allow_pickle_weights: bool = False,
    device: str | None = None,
    dtype: Any = None,
) -> tuple[str, Any]:
    """:func:`.pipelines.resolve_model`, looked up here at call time (a seam tests patch)."""
    return resolve_model(model_or_pipeline, allow_pickle_weights, device, dtype)


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        if seeds < 1:
            msg = f"seeds={seeds} must be at least 1 (samples per prompt), or a list of seeds."
            raise InputError(msg)
        return list(range(int(seeds)))
    out = [int(s) for s in seeds]
    if not out:
        msg = "seeds is empty: give a number of samples per prompt or a list of seeds."
        raise InputError(msg)
    return out


def extract_hspace(
    model_or_pipeline: Any,
    prompts: Sequence[str],
    *,
    seeds: int | Sequence[int] = 16,
    timesteps: Sequence[int] | None = None,
    num_inference_steps: int = 50,
    guidance_scale: float = 3.0,
    batch_size: int = 64,
    reduce: str = DEFAULT_REDUCE,
    classify: bool = True,
    progress: Callable[[int, int], None] | None = None,
    allow_pickle_weights: bool = False,
    device: str | None = None,
    dtype: str | None = None,
) -> HSpaceResult:
    """Generate every prompt with every seed and record h-space along the way.

    Parameters
    ----------
    model_or_pipeline
        A :class:`~.ddpm.DDPMModel`, a diffusers pipeline (``.unet`` and ``__call__``, e.g.
        ``StableDiffusionPipeline``), or a local directory of either (loaded offline).
    prompts
        Distinct prompts (a repeated prompt is generated again with the same seeds).
    seeds
        Samples per prompt (``k``: seeds ``0..k-1``; default 16, as ``latents decode``) or the
        list of seeds; every prompt uses the same seeds, so prompts are compared on the same
        starting noise. The phrasings of one seed often give nearly the same image, so a
        concept has about as many independent draws as seeds: the association tests need 16
        (docs/latents.md, *Results*).
    timesteps
        Timesteps to record (of ``num_inference_steps``-step sampling), or None: all.
    num_inference_steps, guidance_scale
        Sampling settings (classifier-free guidance when ``guidance_scale > 1``).
    batch_size
        Samples per sampling call.
    reduce
        ``"pool:K"`` (``K × K`` average pool, ``d = C·K·K``; default ``"pool:2"``, which keeps
        the coarse layout), ``"mean"`` (spatial mean, ``d = C``; erases position) or
        ``"flatten"`` (``d = C·h·w``).
    classify
        Caption the images with the model's attribute classifier when it has one.
    progress
        ``progress(done, total)`` after every batch of samples.
    allow_pickle_weights
        Load a directory whose weights exist only as pickles (``*.bin``, ``*.ckpt``). By
        default only safetensors are loaded: unpickling a file runs any code it carries.
    device, dtype
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` and ``"float32"``, ``"float16"``
        (CUDA only), ``"bfloat16"`` (:func:`.pipelines.resolve_device`,
        :func:`.pipelines.resolve_dtype`); None: leave the model where and as it is.

    Returns
    -------
    HSpaceResult
        Samples ordered prompt by prompt, seeds within a prompt.

    Raises
    ------
    InputError
        No prompts, no seeds, a timestep outside the schedule, a model without a U-Net.
    """
    _torch()  # torch is needed: say which extra to install before anything else
    if isinstance(prompts, str):
        msg = f"prompts must be a list of strings, not one string ({prompts!r}); wrap it: [prompt]."
        raise InputError(msg)
    prompts = [str(p) for p in prompts]
    if not prompts:
        msg = "The prompt list is empty: give at least one prompt (one per line in a file)."
        raise InputError(msg)
    if batch_size < 1:
        msg = f"batch_size={batch_size} must be at least 1."
        raise InputError(msg)
    where = None if device is None and dtype is None else resolve_device(device)
    precision = None if where is None else resolve_dtype(dtype, where)
    kind, obj = _resolve(model_or_pipeline, allow_pickle_weights, where, precision)
    seed_list = _seed_list(seeds)
    wanted = check_timesteps(timesteps, obj.scheduler, num_inference_steps)
    distinct = list(dict.fromkeys(prompts))
    sample_prompts = [p for p in prompts for _ in seed_list]
    sample_seeds = [s for _ in prompts for s in seed_list]
    prompt_id = np.array([distinct.index(p) for p in sample_prompts], dtype=np.int64)
    n = len(sample_prompts)
    guided = guidance_scale > 1
    images: list[np.ndarray] = []
    recorder = HSpaceRecorder(obj.unet, wanted, reduce=reduce, conditional_half=guided)
    with recorder:
        for start in range(0, n, batch_size):
            chunk = slice(start, min(start + batch_size, n))
            batch_prompts, batch_seeds = sample_prompts[chunk], sample_seeds[chunk]
            recorder.begin(len(batch_prompts))
            imgs = generate_batch(kind, obj, batch_prompts, batch_seeds,
                                  num_inference_steps, guidance_scale)  # fmt: skip
            if imgs is not None:
                images.append(imgs)
            if progress is not None:
                progress(chunk.stop, n)
    h = recorder.stack()
    if h.shape[0] != n:
        msg = f"Recorded {h.shape[0]} h-vectors for {n} samples; the sampler skipped some calls."
        raise InputError(msg)
    order = wanted if wanted is not None else recorder.recorded_timesteps()
    table: dict[str, np.ndarray] = {
        "prompt": np.asarray(sample_prompts, dtype=object),
        "seed": np.asarray(sample_seeds, dtype=np.int64),
        "prompt_id": prompt_id,
    }
    image_array = np.concatenate(images) if images else None
    if image_array is not None and image_array.shape[0] != n:
        image_array = None
    classifier = getattr(obj, "classifier", None)
    if classify and classifier is not None and image_array is not None:
        table["caption"] = np.asarray(classifier.captions(image_array), dtype=object)
        for family, values in classifier.predict(image_array).items():
            table[family] = np.asarray(values, dtype=object)
    config = {
        "source": kind,
        "num_inference_steps": int(num_inference_steps),
        "guidance_scale": float(guidance_scale),
        "reduce": reduce,
        "seeds": seed_list,
        "n_prompts": len(distinct),
    }
    return HSpaceResult(h=h, timesteps=[int(t) for t in order], table=table, images=image_array,
                        config=config)  # fmt: skip
