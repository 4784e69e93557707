"""An output directory is owned: --overwrite, races, concurrent runs, signals, stale temps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import diffembed
from diffembed.cli.app import app
from diffembed.exceptions import InputError
from diffembed.io.writers import output_directory

runner = CliRunner()
SRC = str(Path(diffembed.__file__).resolve().parents[1])
MAP = ["map", "--dataset", "s-curve", "--n-samples", "150", "--n-components", "2",
       "--n-neighbors", "8", "--no-report"]  # fmt: skip


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    return " ".join(text.split())


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _owned(out: Path, names=("a.txt", "sub/b.txt")) -> Path:
    """A directory made by diffembed (output_directory) holding ``names``."""
    with output_directory(out) as tmp:
        for name in names:
            _write(tmp / name, name)
    return out


def _run(context, writes: dict[Path, str], fail: bool = False) -> None:
    """Enter ``context``; write ``writes`` (relative paths go into the build directory)."""
    with context as tmp:
        for path, text in writes.items():
            _write(path if path.is_absolute() else tmp / path, text)
        if fail:
            msg = "boom"
            raise RuntimeError(msg)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------- ownership (library)
def test_manifest_lists_the_files_written(tmp_path):
    out = _owned(tmp_path / "out")
    manifest = json.loads((out / "manifest.json").read_text())
    files = {entry["path"]: entry["bytes"] for entry in manifest["files"]}
    assert files == {"a.txt": 5, "sub/b.txt": 9, "manifest.json": None}
    assert manifest["diffembed_version"] == diffembed.__version__
    assert hidden(tmp_path) == []


def test_overwrite_refuses_foreign_files_and_touches_nothing(tmp_path):
    out = _owned(tmp_path / "out")
    _write(out / ".ssh" / "id_rsa", "k")
    with pytest.raises(InputError) as info, output_directory(out, overwrite=True) as tmp:
        _write(tmp / "new.txt", "n")
    message = flat(str(info.value))
    assert ".ssh/id_rsa" in message
    assert "1 file or folder diffembed did not write" in message
    assert "Nothing was changed" in message
    assert (out / ".ssh" / "id_rsa").read_text() == "k"
    assert (out / "a.txt").read_text() == "a.txt"
    assert not (out / "new.txt").exists()
    assert hidden(tmp_path) == []


def test_overwrite_refuses_a_directory_without_manifest_naming_first_files(tmp_path):
    out = tmp_path / "out"
    for i in range(8):
        _write(out / f"f{i}.txt", str(i))
    with pytest.raises(InputError) as info, output_directory(out, overwrite=True):
        pass
    message = flat(str(info.value))
    assert "has no manifest.json written by diffembed" in message
    assert "f0.txt, f1.txt, f2.txt, f3.txt, f4.txt and 3 more" in message
    assert sorted(p.name for p in out.iterdir()) == [f"f{i}.txt" for i in range(8)]


def test_overwrite_refuses_an_old_manifest_without_file_list(tmp_path):
    out = tmp_path / "out"
    _write(out / "embedding.parquet", "x")
    _write(out / "manifest.json", json.dumps({"command": "map", "diffembed_version": "0.3.0",
                                              "outputs": ["embedding.parquet"]}))  # fmt: skip
    with pytest.raises(InputError) as info, output_directory(out, overwrite=True):
        pass
    message = flat(str(info.value))
    assert "diffembed 0.3.0" in message
    assert "did not record the files it wrote" in message
    assert (out / "embedding.parquet").read_text() == "x"


def test_without_overwrite_the_message_says_what_would_be_replaced(tmp_path):
    out = _owned(tmp_path / "out")
    with pytest.raises(InputError) as info, output_directory(out):
        pass
    message = flat(str(info.value))
    assert "Pass --overwrite to replace it: only the 3 files its manifest.json lists" in message
    foreign = tmp_path / "mine"
    _write(foreign / "notes.txt", "n")
    with pytest.raises(InputError) as info, output_directory(foreign):
        pass
    message = flat(str(info.value))
    assert "notes.txt" in message
    assert "--overwrite would be refused too" in message


def test_overwrite_of_an_owned_directory_deletes_only_listed_files(tmp_path):
    out = _owned(tmp_path / "out", names=("a.txt", "sub/b.txt", "sub/deep/c.txt"))
    with output_directory(out, overwrite=True) as tmp:
        _write(tmp / "z.txt", "z")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["manifest.json", "z.txt"]
    assert hidden(tmp_path) == []
    again = json.loads((out / "manifest.json").read_text())
    assert [e["path"] for e in again["files"]] == ["z.txt", "manifest.json"]


def test_failed_overwrite_keeps_the_old_directory(tmp_path):
    out = _owned(tmp_path / "out")
    with pytest.raises(RuntimeError, match="boom"):
        _run(output_directory(out, overwrite=True), {Path("half.txt"): "h"}, fail=True)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "a.txt", "manifest.json", "sub/b.txt"]  # fmt: skip
    assert hidden(tmp_path) == []


@pytest.mark.parametrize("where", ["cwd", "home", "root", "parent"])
def test_never_cwd_home_root_or_a_parent_of_cwd(tmp_path, monkeypatch, where):
    home = tmp_path / "home"
    work = home / "project" / "sub"
    work.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    target = {"cwd": ".", "home": "~", "root": "/", "parent": ".."}[where]
    reason = {"cwd": "the current working directory", "home": "your home directory",
              "root": "the root directory",
              "parent": "a parent of the current working directory"}[where]  # fmt: skip
    for overwrite in (False, True):
        with pytest.raises(InputError) as info, output_directory(target, overwrite=overwrite):
            pass
        assert reason in flat(str(info.value))
    assert sorted(p.name for p in home.iterdir()) == ["project"]
    assert list(work.iterdir()) == []


def test_never_inside_an_input_directory(tmp_path):
    model = _owned(tmp_path / "model")
    with pytest.raises(InputError) as info, output_directory(model / "out", inputs=[model]):
        pass
    assert "inside the input" in flat(str(info.value))
    assert not (model / "out").exists()


# ------------------------------------------------------------------------------- races
def test_a_directory_appearing_during_the_run_is_never_replaced(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(InputError) as info:  # someone else writes notes.txt meanwhile
        _run(output_directory(out), {Path("result.txt"): "r", out / "notes.txt": "notes"})
    message = flat(str(info.value))
    assert "got files while this run was going" in message
    assert (out / "notes.txt").read_text() == "notes"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("out.finished-")]
    assert len(kept) == 1
    assert f"The finished results were kept in {kept[0]}" in message
    assert (kept[0] / "result.txt").read_text() == "r"
    assert hidden(tmp_path) == []


def test_files_appearing_in_an_owned_directory_during_overwrite(tmp_path):
    out = _owned(tmp_path / "out")
    with pytest.raises(InputError) as info:
        _run(output_directory(out, overwrite=True),
             {Path("result.txt"): "r", out / "notes.txt": "notes"})  # fmt: skip
    assert "notes.txt" in flat(str(info.value))
    assert (out / "notes.txt").read_text() == "notes"
    assert (out / "a.txt").read_text() == "a.txt"
    assert hidden(tmp_path) == []


def test_a_second_run_into_the_same_path_is_refused_at_once(tmp_path):
    out = tmp_path / "out"
    with output_directory(out) as tmp:
        with pytest.raises(InputError) as info, output_directory(out, overwrite=True):
            pass
        assert f"pid {os.getpid()}" in flat(str(info.value))
        _write(tmp / "x.txt", "x")
    assert (out / "x.txt").read_text() == "x"
    assert hidden(tmp_path) == []


def test_stale_temps_of_dead_runs_are_swept_and_others_kept(tmp_path):
    dead = _dead_pid()
    marker = {"diffembed": "build", "pid": dead, "host": os.uname().nodename,
              "started": time.time() - 5}  # fmt: skip
    build = tmp_path / f".other.tmp-{dead}-abc"
    _write(build / ".diffembed-build", json.dumps(marker))
    _write(build / "other" / "model.json", "{}")
    _write(tmp_path / ".other.diffembed-lock", json.dumps(marker))
    foreign = _write(tmp_path / f".mine.tmp-{dead}-xyz" / "keep.txt", "k")  # no marker
    live = {**marker, "pid": os.getpid()}
    _write(tmp_path / f".live.tmp-{os.getpid()}-q" / ".diffembed-build", json.dumps(live))
    with output_directory(tmp_path / "out") as tmp:
        _write(tmp / "x.txt", "x")
    assert hidden(tmp_path) == [f".live.tmp-{os.getpid()}-q", f".mine.tmp-{dead}-xyz"]
    assert foreign.read_text() == "k"


def test_an_interrupted_rename_aside_is_restored(tmp_path):
    out = _owned(tmp_path / "out")
    dead = _dead_pid()
    aside = tmp_path / f".out.old-{dead}-abc"
    aside.mkdir()
    out.rename(aside / "out")
    _write(aside / ".diffembed-build", json.dumps({"diffembed": "old", "pid": dead,
                                                    "host": os.uname().nodename,
                                                    "started": time.time()}))  # fmt: skip
    with pytest.raises(InputError, match="Pass --overwrite"), output_directory(out):
        pass
    assert (out / "a.txt").read_text() == "a.txt"
    assert hidden(tmp_path) == []


# ------------------------------------------------------------------------------ symlinks
def test_symlink_output_writes_into_its_target(tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    result = invoke(*MAP, "-o", link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert (target / "embedding.parquet").is_file()
    result = invoke(*MAP, "-o", link, "--overwrite")
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert hidden(tmp_path) == []
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    result = invoke(*MAP, "-o", dangling)
    assert result.exit_code == 2
    assert "is a symbolic link to" in flat(result.output)
    assert not (tmp_path / "nowhere").exists()


def test_symlink_to_a_foreign_directory_is_refused_before_any_work(tmp_path, monkeypatch):
    target = _write(tmp_path / "real" / "notes.txt", "n").parent
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    from diffembed.diffusion_map import DiffusionMap

    def no_fit(self, *args, **kwargs):
        msg = "fit ran before the output path was checked"
        raise AssertionError(msg)

    monkeypatch.setattr(DiffusionMap, "fit", no_fit)
    result = invoke(*MAP, "-o", link, "--overwrite")
    assert result.exit_code == 2
    assert "notes.txt" in flat(result.output)
    assert (target / "notes.txt").read_text() == "n"
    assert hidden(tmp_path) == []


# --------------------------------------------------------------- model folders (save_model)
def test_model_folders_get_a_manifest_and_still_load(tmp_path, small_cloud):
    from diffembed import DiffusionMap
    from diffembed.io.persistence import load_model, save_model

    model = DiffusionMap(n_components=2, n_neighbors=8, random_state=0).fit(small_cloud)
    saved = save_model(model, tmp_path / "m")
    manifest = json.loads((saved / "manifest.json").read_text())
    assert {e["path"] for e in manifest["files"]} == {"arrays.npz", "model.json", "manifest.json"}
    np.testing.assert_allclose(load_model(saved).transform(small_cloud[:5]),
                               model.transform(small_cloud[:5]))  # fmt: skip
    save_model(model, saved, overwrite=True)
    _write(saved / "notes.txt", "n")
    with pytest.raises(InputError, match=r"notes\.txt"):
        save_model(model, saved, overwrite=True)
    assert (saved / "notes.txt").read_text() == "n"


# ------------------------------------------------------------------- every command family
@pytest.fixture(scope="module")
def inputs(
    tmp_path_factory,
):
    from diffembed import DiffusionMap
    from diffembed.io.persistence import save_model

    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    np.save(d / "X.npy", X)
    (d / "X.csv").write_text("a,b,c\n" + "".join(f"{r[0]},{r[1]},{r[2]}\n" for r in X))
    (d / "corpus.txt").write_text("the cat sat on the mat\n" * 50)
    save_model(DiffusionMap(n_components=2, n_neighbors=8, random_state=0).fit(X), d / "model")
    ddpm = d / "ddpm"
    (ddpm / "unet").mkdir(parents=True)
    (ddpm / "diffembed.json").write_text("{}")
    (d / "prompts.txt").write_text("a red circle\n")
    return d


FAMILIES = {
    "map": lambda d: MAP,
    "tree": lambda d: ["tree", "--dataset", "s-curve", "--n-samples", "100"],
    "embed pca": lambda d: ["embed", "pca", d / "X.npy"],
    "embed words": lambda d: ["embed", "words", d / "corpus.txt"],
    "transform": lambda d: ["transform", d / "model", d / "X.csv"],
    "stability": lambda d: ["stability", d / "corpus.txt"],
    "latents train": lambda d: ["latents", "train", "--n", "8", "--steps", "1"],
    "latents sample": lambda d: ["latents", "sample", d / "ddpm", "a red circle"],
    "latents decode": lambda d: ["latents", "decode", d / "ddpm", "--prompts", d / "prompts.txt"],
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_command_refuses_to_overwrite_foreign_files(family, inputs, tmp_path, monkeypatch):
    from diffembed import _progress

    def no_work(name):
        msg = f"stage {name!r} started before the output path was checked"
        raise AssertionError(msg)

    monkeypatch.setattr(_progress, "stage", no_work)  # every reading / fitting step is a stage
    out = tmp_path / "out"
    key = _write(out / ".ssh" / "id_rsa", "secret")
    result = invoke(*FAMILIES[family](inputs), "-o", out, "--overwrite")
    assert result.exit_code == 2, result.output
    message = flat(result.output)
    assert "Refusing --overwrite" in message
    assert ".ssh/id_rsa" in message
    assert key.read_text() == "secret"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [".ssh", ".ssh/id_rsa"]
    assert hidden(tmp_path) == []


def test_map_cli_refuses_dot_and_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / ".ssh" / "id_rsa", "k")
    for target in (".", "~"):
        result = invoke(*MAP, "-o", target, "--overwrite")
        assert result.exit_code == 2
        assert "diffembed never writes into" in flat(result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ssh"]


def test_map_cli_overwrite_of_its_own_output(tmp_path):
    out = tmp_path / "out"
    assert invoke(*MAP, "-o", out).exit_code == 0
    listed = {e["path"] for e in json.loads((out / "manifest.json").read_text())["files"]}
    assert {"embedding.parquet", "model/model.json", "manifest.json"} <= listed
    result = invoke(*MAP, "-o", out)
    assert result.exit_code == 2
    assert f"only the {len(listed)} files its manifest.json lists" in flat(result.output)
    result = invoke(*MAP, "-o", out, "--overwrite", "--format", "atlas")
    assert result.exit_code == 0, result.output
    assert (out / "atlas.parquet").is_file()
    assert hidden(tmp_path) == []


# -------------------------------------------------------------- subprocesses and signals
_SCRIPT = """
import faulthandler, pathlib, signal, sys, time
faulthandler.register(signal.SIGUSR1, all_threads=True)  # stacks on demand, if it ever hangs
# Ctrl-C as in a terminal's foreground job: a job started with & by a non-interactive shell
# (nohup … &, some CI runners) inherits SIGINT ignored, and Python then keeps it ignored
signal.signal(signal.SIGINT, signal.default_int_handler)
gate, reached, where = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]

def wait():
    reached.write_text("x")
    while not gate.exists():
        time.sleep(0.05)

def hold(module, name):
    original = getattr(module, name)
    def held(*args, **kwargs):
        wait()
        return original(*args, **kwargs)
    setattr(module, name, held)

if where == "fit":
    from diffembed.diffusion_map import DiffusionMap
    hold(DiffusionMap, "fit")
elif where == "write":
    import diffembed.io.writers as writers
    hold(writers, "write_parquet_atomic")
elif where == "commit":
    import diffembed.io.output_dir as output_dir
    hold(output_dir, "_commit")
from diffembed.cli.app import main
sys.argv = ["diffembed", *sys.argv[4:]]
main()
"""


def _start(tmp_path: Path, where: str, out: Path, *extra: str):
    gate, reached = tmp_path / f"gate-{where}", tmp_path / f"reached-{where}"
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(gate), str(reached), where, *MAP, "-o", str(out),
         *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not reached.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _out_text, err = proc.communicate()
            pytest.fail(f"the run never reached {where}: {err}")
        time.sleep(0.05)
    return proc, gate


def _finish(proc: subprocess.Popen, what: str, timeout: float = 60) -> str:
    """stderr of a finished run; a run that hangs fails the test with its threads' stacks."""
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack on stderr
        time.sleep(1.0)
        proc.kill()
        err = proc.communicate()[1]
        pytest.fail(f"the run hung {what} (no exit in {timeout:g} s); its stderr:\n{err[-6000:]}")


def test_two_concurrent_runs_one_wins_the_other_names_its_pid(tmp_path):
    out = tmp_path / "out"
    first, gate = _start(tmp_path, "fit", out)
    try:
        second = invoke(*MAP, "-o", out, "--overwrite")
        assert second.exit_code == 2
        message = flat(second.output)
        assert f"another diffembed run (pid {first.pid}" in message
        assert out.is_dir()
        assert list(out.iterdir()) == []
    finally:
        gate.write_text("go")
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert (out / "manifest.json").is_file()
    assert hidden(tmp_path) == []


@pytest.mark.parametrize(
    ("where", "sig"),
    [
        ("fit", signal.SIGTERM),
        ("write", signal.SIGTERM),
        ("write", signal.SIGINT),
        ("fit", signal.SIGKILL),
        ("commit", signal.SIGKILL),
    ],
)
def test_a_killed_run_leaves_no_output_and_the_next_run_sweeps(tmp_path, where, sig):
    out = tmp_path / "out"
    proc, _ = _start(tmp_path, where, out)
    proc.send_signal(sig)
    err = _finish(proc, f"after signal {sig!r} at {where}")
    assert not (out / "manifest.json").exists()
    assert not out.exists() or list(out.iterdir()) == []
    if sig != signal.SIGKILL:
        code, what = (143, "terminated (SIGTERM)") if sig == signal.SIGTERM else (130, "(Ctrl-C)")
        assert proc.returncode == code
        assert f"{what}; the unfinished outputs were removed" in flat(err)
        assert "Traceback" not in err
        assert hidden(tmp_path) == []
        assert not out.exists()
    else:
        assert proc.returncode == -signal.SIGKILL
        left = hidden(tmp_path)
        assert ".out.diffembed-lock" in left
        assert any(name.startswith(".out.tmp-") for name in left)
    result = invoke(*MAP, "-o", out)
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").is_file()
    assert hidden(tmp_path) == []


def test_cli_run_refuses_a_directory_that_got_files_meanwhile(tmp_path):
    out = tmp_path / "out"
    proc, gate = _start(tmp_path, "fit", out)
    _write(out / "notes.txt", "notes")  # into the run's empty claim, while it fits
    gate.write_text("go")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    message = flat(err)
    assert "was not replaced: got files while this run was going (notes.txt)" in message
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("out.finished-")]
    assert len(kept) == 1
    assert str(kept[0]) in message
    assert (kept[0] / "embedding.parquet").is_file()
    listed = {e["path"] for e in json.loads((kept[0] / "manifest.json").read_text())["files"]}
    assert "embedding.parquet" in listed
    assert hidden(tmp_path) == []


def test_an_old_directory_left_aside_keeps_foreign_files_visible(tmp_path):
    old = _owned(tmp_path / "old")
    _write(old / "notes.txt", "notes")
    _owned(tmp_path / "out")
    dead = _dead_pid()
    aside = tmp_path / f".out.old-{dead}-abc"
    aside.mkdir()
    old.rename(aside / "out")
    _write(aside / ".diffembed-build", json.dumps({"diffembed": "old", "pid": dead,
                                                    "host": os.uname().nodename,
                                                    "started": time.time()}))  # fmt: skip
    with output_directory(tmp_path / "other") as tmp:
        _write(tmp / "x.txt", "x")
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("out.leftover-")]
    assert len(kept) == 1
    assert sorted(str(p.relative_to(kept[0])) for p in kept[0].rglob("*")) == ["notes.txt"]
    assert (tmp_path / "out" / "a.txt").read_text() == "a.txt"
    assert hidden(tmp_path) == []


def test_report_and_export_files_are_recorded_for_a_later_overwrite(tmp_path):
    out = tmp_path / "out"
    assert invoke(*MAP, "-o", out).exit_code == 0
    assert invoke("report", out).exit_code == 0
    assert invoke("export", out, "--format", "projector").exit_code == 0
    listed = {e["path"] for e in json.loads((out / "manifest.json").read_text())["files"]}
    assert {"report.html", "projector/vectors.tsv", "projector/metadata.tsv"} <= listed
    result = invoke(*MAP, "-o", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "embedding.parquet", "manifest.json", "model", "neighbor_distances.npy", "neighbors.npy",
        "spectrum.csv"]  # fmt: skip


def test_an_empty_lock_of_a_run_killed_at_once_expires(tmp_path):
    lock = tmp_path / ".out.diffembed-lock"
    lock.write_text("")
    with pytest.raises(InputError) as info, output_directory(tmp_path / "out"):
        pass
    message = flat(str(info.value))
    assert "another diffembed run (just starting)" in message
    assert f"the claim is {lock}" in message
    old = time.time() - 120
    os.utime(lock, (old, old))
    with output_directory(tmp_path / "out") as tmp:
        _write(tmp / "x.txt", "x")
    assert (tmp_path / "out" / "x.txt").read_text() == "x"
    assert hidden(tmp_path) == []


def test_settling_an_old_directory_never_deletes_through_a_link(tmp_path):
    precious = _write(tmp_path / "elsewhere" / "b.txt", "precious")
    old = _owned(tmp_path / "old")  # lists a.txt and sub/b.txt
    for item in (old / "sub").iterdir():
        item.unlink()
    (old / "sub").rmdir()
    (old / "sub").symlink_to(precious.parent, target_is_directory=True)
    _owned(tmp_path / "out")
    dead = _dead_pid()
    aside = tmp_path / f".out.old-{dead}-abc"
    aside.mkdir()
    old.rename(aside / "out")
    marker = {"diffembed": "old", "pid": dead, "host": os.uname().nodename, "started": time.time()}
    _write(aside / ".diffembed-build", json.dumps(marker))
    with output_directory(tmp_path / "other") as tmp:
        _write(tmp / "x.txt", "x")
    assert precious.read_text() == "precious"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("out.leftover-")]
    assert [p.name for p in kept[0].iterdir()] == ["sub"]
