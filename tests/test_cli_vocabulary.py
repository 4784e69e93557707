"""One option vocabulary across every command, and quiet stage logs.

Walks the whole command tree of the ``diffembed`` app: seeds are ``--random-state`` (``--seed``
only as an alias), diffusion time is ``--time`` / ``-t`` (``--t`` a hidden, deprecated alias),
help metavars are words a user knows (``INTEGER``, ``FLOAT``, ``PATH``, ``TEXT``, a choice list
or an upper-case placeholder), never Python types; nested stages (a hierarchy's null fits, a
diffusion map fitted inside ``latents decode``) are not listed one line each.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from diffembed import _progress
from diffembed.cli.app import app
from diffembed.cli.console import UI

runner = CliRunner()
ROOT = typer.main.get_command(app)
ROOT.load_all()  # the commands imported on first use (tree, embed, stability, latents)


def _walk(cmd, path):
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _walk(sub, [*path, name])
    else:
        yield " ".join(path), cmd


COMMANDS = dict(_walk(ROOT, []))


def _options(cmd):
    return [p for p in cmd.params if p.param_type_name == "option"]


def test_the_tree_has_every_command():
    for name in ("map", "transform", "export", "tree", "stability", "embed pca",
                 "embed words", "latents train", "latents sample", "latents decode"):
        assert name in COMMANDS, sorted(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_seed_is_random_state(name):
    for opt in _options(COMMANDS[name]):
        names = opt.opts + opt.secondary_opts
        if "--seed" in names or "--random-state" in names:
            assert opt.opts[0] == "--random-state", (name, names)
            assert set(names) <= {"--random-state", "--seed"}, (name, names)


@pytest.mark.parametrize("name", ["latents train", "latents sample"])
def test_seed_alias_exists_where_it_did(name):
    opts = {o for p in _options(COMMANDS[name]) for o in p.opts}
    assert {"--random-state", "--seed"} <= opts


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_option_is_named_t(name):
    for opt in _options(COMMANDS[name]):
        assert "--t" not in opt.opts, (name, opt.opts)


@pytest.mark.parametrize("name", ["map", "transform", "export", "stability"])
def test_diffusion_time_is_time_or_t(name):
    (opt,) = [p for p in _options(COMMANDS[name]) if p.name == "t"]
    assert opt.opts[:2] == ["--time", "-t"]


ALLOWED = {"INTEGER", "FLOAT", "PATH", "TEXT"}
CHOICES = re.compile(r"^\[[\w.+\-]+(\|[\w.+\-]+)+\]$")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_,.]*(\.\.\.)?$")


def _metavar(param, ctx) -> str:
    shown = param.display_type_rich(ctx)  # what the rich --help prints in its type column
    return "" if shown is None else str(shown)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_metavars_are_words_users_know(name):
    cmd = COMMANDS[name]
    ctx = typer.main._click.Context(cmd, info_name=name)
    bad = []
    for param in cmd.params:
        if getattr(param, "hidden", False):
            continue
        shown = _metavar(param, ctx)
        flag = getattr(param, "is_flag", False)
        if flag:
            ok = shown == ""
        else:
            ok = (shown in ALLOWED or CHOICES.match(shown) is not None
                  or PLACEHOLDER.match(shown) is not None)
        if not ok:
            bad.append(f"{param.name}: {shown!r}")
    assert not bad, f"{name}: {bad}"


def test_help_text_has_no_python_types():
    r = runner.invoke(app, ["map", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    for word in ("<int>", "<str>", "<float>", "<path>", "<bool>", "list[str]"):
        assert word not in r.output
    for word in ("INTEGER", "FLOAT", "PATH", "TEXT", "--time"):
        assert word in r.output
    assert "--t " not in r.output
    assert "[auto|exact|approximate]" in r.output


def test_deprecated_t_alias_still_works(tmp_path):
    out = tmp_path / "m"
    r = runner.invoke(app, ["map", "--dataset", "swiss-roll", "--n-samples", "120",
                            "--n-components", "3", "--t", "2", "--no-report", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "--t is deprecated: use --time" in r.output
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["t"] == 2.0


def test_tree_does_not_print_a_line_per_null_fit(tmp_path):
    r = runner.invoke(app, ["tree", "--dataset", "swiss-roll", "--n-samples", "150",
                            "--n-null", "5", "--no-report", "-o", str(tmp_path / "t")])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert sum(line.startswith("null …") for line in lines) == 1, r.output
    assert sum(line.startswith("ward …") for line in lines) == 1, r.output
    assert sum(line.startswith("diffusion coordinates …") for line in lines) == 1, r.output


def test_nested_diffusion_map_stages_are_not_listed():
    """``latents decode`` fits a diffusion map inside its ``associations`` stage."""
    from diffembed import DiffusionMap

    buf = io.StringIO()
    ui = UI(console=Console(file=buf, width=120, force_terminal=False))
    X = np.random.default_rng(0).normal(size=(80, 4))
    with ui.stages(), _progress.stage("associations"):
        DiffusionMap(n_components=2).fit(X)
    text = buf.getvalue()
    assert text.startswith("associations … "), text
    for name in ("neighbors", "eigensolve", "kernel", "operator"):
        assert f"{name} …" not in text
        assert name in ui.timings  # still timed, for the manifest
