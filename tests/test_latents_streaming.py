"""Streamed, resumable decode: memory bounded by a batch, ``--resume`` equals an uninterrupted run.

* memory: tracemalloc's peak while streaming 64 samples of 128-px images is bounded by a few
  batches, while the in-memory extraction holds every image (the control that shows the bound
  can fail);
* resume: a run interrupted after 2 batches (Ctrl-C through a test hook, and ``kill -9`` of a
  real CLI process) and resumed gives byte-identical tables to an uninterrupted run, and
  makes only the unfinished batches;
* the checkpoint ``OUT.partial/``: refused without ``--resume``, refused when the settings
  differ, refused when it is not diffembed's, removed after a successful commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
import types
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

import diffembed.latents.pipelines as pipelines  # noqa: E402
import diffembed.latents.streaming as streaming  # noqa: E402
from diffembed.latents.hspace import extract_hspace  # noqa: E402
from diffembed.latents.streaming import Checkpoint, partial_path, stream_hspace  # noqa: E402

from .test_latents_decode import flat, invoke, patched, tiny_model  # noqa: E402, F401
from .test_latents_hspace import CROSS, tiny_sd_pipeline, tiny_unet  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------------------- memory
class BigImagePipe:
    """A pipeline-like callable: calls a tiny U-Net every step, returns 128-px images."""

    def __init__(self, size: int = 128) -> None:
        self.unet = tiny_unet()
        self.scheduler = diffusers.DDIMScheduler(num_train_timesteps=100)
        self.size = size

    def __call__(self, *, prompt, generator, num_inference_steps, guidance_scale, output_type):
        self.scheduler.set_timesteps(num_inference_steps)
        x = torch.cat([torch.randn((1, 3, 8, 8), generator=g) for g in generator])
        cond = torch.stack([torch.full((4, CROSS), float(len(p))) for p in prompt])
        with torch.no_grad():
            for t in self.scheduler.timesteps:
                self.unet(x, t, encoder_hidden_states=cond)
        seeds = [int(torch.randint(0, 2**31, (1,), generator=g)) for g in generator]
        images = np.stack([np.random.default_rng(s).random((self.size, self.size, 3))
                           for s in seeds]).astype(np.float32)  # fmt: skip
        return types.SimpleNamespace(images=images)


class CountingCaptioner:
    name = "counting"
    families = {"tone": ["dark", "light"]}  # noqa: RUF012

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict_proba(self, images):
        self.batches.append(len(images))
        light = images.mean(axis=(1, 2, 3)) > 0.5
        return {"tone": np.stack([~light, light], axis=1).astype(float)}


def test_streaming_memory_is_bounded_by_a_batch(tmp_path):
    pipe = BigImagePipe()
    prompts = [f"prompt {'x' * i}" for i in range(8)]
    n, batch = 64, 4
    image_bytes = 128 * 128 * 3 * 4
    captioner = CountingCaptioner()
    ckpt = Checkpoint.open(tmp_path / "o.partial", {"k": 1}, n, batch, resume=False)
    tracemalloc.start()
    try:
        result = stream_hspace("pipeline", pipe, prompts, ckpt, seeds=range(8), timesteps=None,
                               num_inference_steps=2, guidance_scale=1.0,
                               captioner=captioner)  # fmt: skip
        _, streamed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        whole = extract_hspace(pipe, prompts, seeds=8, num_inference_steps=2, guidance_scale=1.0,
                               batch_size=batch)  # fmt: skip
        _, whole_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(list((tmp_path / "o.partial" / "images").iterdir())) == n
    assert captioner.batches == [batch] * (n // batch)
    # the bound: a few batches of images (4 × 196 kB each; measured peak 3.3 MB), not the 64
    # images (12.6 MB; the in-memory extraction peaks at 25 MB)
    assert streamed_peak < 6 * batch * image_bytes, streamed_peak
    assert whole_peak > n * image_bytes, whole_peak  # the control holds them all
    np.testing.assert_array_equal(np.asarray(result.h), whole.h)
    assert list(result.table["tone"][:4]) == ["light" if im.mean() > 0.5 else "dark"
                                              for im in whole.images[:4]]  # fmt: skip


# ------------------------------------------------------------------------------- resume
def _outputs(out: Path) -> dict[str, bytes]:
    """Every output file's bytes, but the manifest (timings) and the report."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", "report.html")
    }


class Stop(KeyboardInterrupt):
    pass


def test_resume_after_ctrl_c_equals_an_uninterrupted_run(patched, tmp_path, monkeypatch):  # noqa: F811
    model_dir, prompts = patched
    args = ["--prompts", prompts, "--seeds", 3, "--steps", 3, "--permutations", 99,
            "--batch-size", 4, "--no-report"]  # fmt: skip
    clean = tmp_path / "clean"
    r = invoke(model_dir, *args, "-o", clean)
    assert r.exit_code == 0, r.output
    # interrupted after 2 of the 4 batches (15 samples, 4 per batch)
    out = tmp_path / "out"

    def stop_after_two(done, total):
        if done == 2:
            raise Stop

    monkeypatch.setattr(streaming, "_after_batch", stop_after_two)
    r = invoke(model_dir, *args, "-o", out)
    assert r.exit_code == 130, r.output
    assert "8 of 15 samples are kept in" in flat(r.output)
    assert "--resume" in flat(r.output)
    partial = tmp_path / "out.partial"
    assert json.loads((partial / "checkpoint.json").read_text())["done"] == [0, 1]
    assert not (out.exists() and any(out.iterdir()))
    # without --resume the checkpoint is not thrown away
    monkeypatch.setattr(streaming, "_after_batch", lambda done, total: None)
    r = invoke(model_dir, *args, "-o", out)
    assert r.exit_code == 2
    assert "holds an interrupted decode run (2 of 4 batches finished)" in flat(r.output)
    assert "Pass --resume to continue it" in flat(r.output)
    # other settings are refused, naming what differs
    r = invoke(model_dir, *args[:-1], "--guidance", 2, "--no-report", "-o", out, "--resume")
    assert r.exit_code == 2
    assert "was started with other settings (guidance_scale: 3.0 then, 2.0 now)" in flat(r.output)
    # resumed: only the two unfinished batches are made
    calls = []
    real = pipelines.generate_batch
    monkeypatch.setattr(pipelines, "generate_batch",
                        lambda *a: calls.append(len(a[2])) or real(*a))  # fmt: skip
    r = invoke(model_dir, *args, "-o", out, "--resume")
    assert r.exit_code == 0, r.output
    assert "resuming" in flat(r.output)
    assert "8 of 15 samples already made" in flat(r.output)
    assert calls == [4, 3]
    assert not partial.exists()
    assert _outputs(out) == _outputs(clean)
    assert json.loads((out / "manifest.json").read_text())["results"]["resumed_samples"] == 8
    # --resume with nothing to resume starts a new run
    r = invoke(model_dir, *args, "-o", tmp_path / "fresh", "--resume")
    assert r.exit_code == 0, r.output
    assert "nothing to resume" in flat(r.output)
    assert _outputs(tmp_path / "fresh") == _outputs(clean)


def test_a_foreign_partial_directory_is_refused_and_kept(patched, tmp_path):  # noqa: F811
    model_dir, prompts = patched
    mine = tmp_path / "out.partial"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    for extra in ((), ("--resume",)):
        r = invoke(model_dir, "--prompts", prompts, "--seeds", 2, "--steps", 2, "-o",
                   tmp_path / "out", *extra)  # fmt: skip
        assert r.exit_code == 2
        assert "out.partial exists and was not made by diffembed" in flat(r.output)
        assert (mine / "notes.txt").read_text(encoding="utf-8") == "mine"
        assert not (tmp_path / "out").exists()
    assert partial_path(tmp_path / "out") == mine.resolve()


def test_an_early_failure_leaves_no_checkpoint(patched, tmp_path, monkeypatch):  # noqa: F811
    model_dir, prompts = patched

    def broken(*args):
        msg = "boom"
        raise RuntimeError(msg)

    monkeypatch.setattr(pipelines, "generate_batch", broken)
    r = invoke(model_dir, "--prompts", prompts, "--seeds", 2, "--steps", 2, "-o", tmp_path / "o")
    assert r.exit_code == 1
    assert "unexpected RuntimeError: boom" in flat(r.output)
    assert not (tmp_path / "o.partial").exists()
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------- kill -9 of the CLI
KILL_AFTER_TWO = """
import os, signal, sys
import diffembed.latents.streaming as s
s._after_batch = lambda done, total: os.kill(os.getpid(), signal.SIGKILL) if done == 2 else None
from diffembed.cli.app import main
sys.argv = ["diffembed", *sys.argv[1:]]
main()
"""


def test_resume_after_kill_9_of_the_cli(tmp_path):
    directory = tmp_path / "sd"
    directory.mkdir()
    tiny_sd_pipeline(directory).save_pretrained(directory / "pipe")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cube\na green ball\na blue cone\n", encoding="utf-8")
    args = ["latents", "decode", str(directory / "pipe"), "--prompts", str(prompts), "--seeds",
            "2", "--steps", "3", "--batch-size", "2", "--captioner", "none", "--quiet"]  # fmt: skip
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "out"
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_TWO, *args, "-o", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-2000:]
    state = json.loads((tmp_path / "out.partial" / "checkpoint.json").read_text())
    assert state["done"] == [0, 1]
    assert len(list((tmp_path / "out.partial" / "images").iterdir())) == 4
    # the dead run's lock and build directory are swept by the next run, which resumes
    from typer.testing import CliRunner

    from diffembed.cli.app import app

    runner = CliRunner()
    r = runner.invoke(app, [*args, "-o", str(out), "--resume"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*args, "-o", str(tmp_path / "clean")])
    assert r.exit_code == 0, r.output
    assert _outputs(out) == _outputs(tmp_path / "clean")
    assert not (tmp_path / "out.partial").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean", "out", "prompts.txt", "sd"]
    assert time.time() - start < 300


def test_a_checkpoint_without_a_finished_batch_does_not_block(patched, tmp_path):  # noqa: F811
    """A run killed before its first batch leaves an empty checkpoint: the next run reuses it."""
    model_dir, prompts = patched
    ckpt = Checkpoint.open(tmp_path / "out.partial", {"other": "run"}, 99, 7, resume=False)
    (ckpt.path / "images" / "000098.png").write_bytes(b"stale")  # a half-written batch
    r = invoke(model_dir, "--prompts", prompts, "--seeds", 2, "--steps", 2, "--permutations", 20,
               "--no-report", "-o", tmp_path / "out")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "out.partial").exists()  # the stale PNG was ours: deleted too
    assert len(list((tmp_path / "out" / "images").iterdir())) == 10


# ----------------------------------------------------------------------------- disk space
def _small_disk(monkeypatch, free: int) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * free, 9 * free, free))


def test_h_space_that_does_not_fit_on_the_disk_is_refused_before_it_is_written(
    tmp_path, monkeypatch
):
    """--reduce flatten can ask for gigabytes: the preallocation is checked against free space."""
    n, batch = 1000, 10
    h = np.zeros((batch, 50, 64 * 8 * 8), np.float32)  # 8.2 MB per batch, 781 MiB in all
    _small_disk(monkeypatch, free=200 * 2**20)
    ckpt = Checkpoint.open(tmp_path / "o.partial", {"k": 1}, n, batch, resume=False)
    with pytest.raises(streaming.InputError) as info:
        ckpt.commit(0, h, list(range(50)), None, None)
    message = " ".join(str(info.value).split())
    assert "hspace.npy" in message
    assert "781 MiB" in message
    assert "has 200 MiB free" in message
    assert "--reduce" in message
    assert "--timesteps" in message
    assert not (tmp_path / "o.partial" / "hspace.npy").exists()
    # the same run with room to spare is written
    _small_disk(monkeypatch, free=4 * 2**30)
    ckpt.commit(0, h, list(range(50)), None, None)
    assert (tmp_path / "o.partial" / "hspace.npy").is_file()


def test_decode_exits_2_when_h_space_does_not_fit(patched, tmp_path, monkeypatch):  # noqa: F811
    model_dir, prompts = patched
    _small_disk(monkeypatch, free=1000)
    r = invoke(model_dir, "--prompts", prompts, "--seeds", 2, "--steps", 2, "--reduce",
               "flatten", "-o", tmp_path / "out")  # fmt: skip
    assert r.exit_code == 2, r.output
    assert "Not enough disk space" in flat(r.output)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.partial").exists()  # it failed before any batch was kept
