"""The command skeleton (``diffembed.cli.skeleton``): read → output → finish → summary, once.

Unit tests of :class:`CommandRun`, :func:`summary_from_manifest` and the ``--json`` side of
:class:`UI`, a toy command that adopts ``--json`` in the three lines the module docstring
promises, and the size of every CLI module.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from diffembed import _progress
from diffembed.cli import skeleton
from diffembed.cli.common import Json
from diffembed.cli.console import UI
from diffembed.cli.skeleton import CommandRun, summary_from_manifest
from diffembed.exceptions import InputError

CLI = Path(skeleton.__file__).parent


def quiet_ui(**kw) -> UI:
    return UI(console=Console(file=io.StringIO(), width=120), **kw)


def test_summary_from_manifest_sizes_outputs_and_picks_key_figures(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 10)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.npy").write_bytes(b"y" * 7)
    (tmp_path / "model" / "m.json").write_bytes(b"{}")
    manifest = {"command": "map", "outputs": ["a.bin", "model/", "gone.txt"],
                "timings": {"fit": 1.5, "total": 2.0},
                "results": {"eigenvalues": np.array([0.9, 0.5]), "knn_recall": 1.0}}
    got = summary_from_manifest(manifest, tmp_path)
    assert got["outputs"] == [
        {"name": "a.bin", "path": str(tmp_path / "a.bin"), "bytes": 10},
        {"name": "model/", "path": str(tmp_path / "model"), "bytes": 9},
        {"name": "gone.txt", "path": str(tmp_path / "gone.txt"), "bytes": None},
    ]
    assert list(got["results"]) == ["eigenvalues"]  # map's key figures only
    assert got["timings"] == {"fit": 1.5, "total": 2.0}
    other = summary_from_manifest({"command": "latents train", "results": {"loss": 0.1},
                                   "evaluation": {"ws353": {"spearman": 0.3}}}, tmp_path)
    assert other["results"] == {"loss": 0.1, "evaluation": {"ws353": {"spearman": 0.3}}}


def test_ui_summary_prints_one_strict_json_line_only_with_json(capsys):
    plain = quiet_ui()
    plain.summary({"command": "x"})
    assert capsys.readouterr().out == ""
    ui = quiet_ui(json_output=True)
    ui.warn("first")
    ui.warn("first")
    ui.summary({"command": "x", "results": {"v": np.float64("nan"), "a": np.arange(3)},
                "warnings": ["given"]})
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {"command": "x", "results": {"v": None, "a": [0, 1, 2]},
                               "warnings": ["given", "first"], "exit_code": 0}


@pytest.mark.parametrize(("exc", "code"), [(InputError("bad --alpha 3"), 2),
                                           (RuntimeError("boom"), 1)])
def test_errors_under_json_print_the_error_object(capsys, exc, code):
    ui = quiet_ui(json_output=True)
    with pytest.raises(typer.Exit) as caught, ui.errors():
        raise exc
    assert caught.value.exit_code == code
    payload = json.loads(capsys.readouterr().out)
    assert payload["exit_code"] == code
    assert str(exc) in payload["error"]
    assert ("This is a bug" in payload["error"]) == (code == 1)
    assert "error: " in ui.console.file.getvalue()


def test_command_run_writes_manifest_report_and_times_them(tmp_path):
    ui = quiet_ui(json_output=True)
    out = tmp_path / "out"
    run = CommandRun(ui, "demo", out)
    seen = {}

    def report(directory: Path) -> None:
        seen["manifest"] = json.loads((directory / "manifest.json").read_text())
        (directory / "report.html").write_text("<html></html>")

    with run.output() as tmp:
        with _progress.stage("fit"):
            (tmp / "data.txt").write_text("1 2 3")
        run.finish({"command": "demo", "outputs": ["data.txt", "manifest.json", "report.html"],
                    "results": {"score": 0.5}}, report=report)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "fit" in seen["manifest"]["timings"]  # written before the report, which reads it
    assert "report" not in seen["manifest"]["timings"]
    assert {"fit", "report", "total"} <= set(manifest["timings"])  # and again after it
    assert (out / "report.html").is_file()
    assert run.manifest is not None
    assert run.seconds > 0


def test_command_run_failure_leaves_nothing_and_checks_inputs(tmp_path):
    ui = quiet_ui()
    out = tmp_path / "out"

    def fail() -> None:
        with CommandRun(ui, "demo", out).output() as tmp:
            (tmp / "half.txt").write_text("partial")
            msg = "fit failed"
            raise ValueError(msg)

    with pytest.raises(ValueError, match="fit failed"):
        fail()
    assert not out.exists()
    missing = tmp_path / "none.csv"
    run = CommandRun(ui, "demo", out, inputs=[missing])
    with (pytest.raises(InputError, match=r"Input .*none\.csv does not exist\. Check the path"),
          run.output(check_exists=True)):
        pass
    assert not out.exists()


def test_read_table_reads_a_dataset_with_its_provenance(tmp_path):
    run = CommandRun(quiet_ui(), "demo", tmp_path / "o")
    data = run.read_table(None, dataset="swiss-roll", n_samples=50, random_state=0)
    assert data.X.shape == (50, 3)
    assert data.source == "dataset swiss-roll"
    assert data.info["n_samples"] == 50
    assert len(data.info["sha256"]) == 64
    assert data.ids is None
    assert data.labels is not None


def test_the_three_line_adoption_of_json_works_for_any_command(tmp_path):
    """What the lead adds to a ``latents`` command: the option, the UI flag, ``ui.summary``."""
    app = typer.Typer()

    @app.command()
    def toy(out: Path, quiet: bool = False,
            json_output: Json = False) -> None:  # 1. the option
        ui = UI(quiet=quiet, json_output=json_output)  # 2. the UI
        with ui.errors():
            if out.exists():
                msg = f"{out} exists; pass --overwrite."
                raise InputError(msg)
            out.mkdir()
            (out / "x.txt").write_text("hello")
            manifest = {"command": "latents toy", "outputs": ["x.txt"],
                        "timings": {"total": 0.1}, "results": {"loss": 0.25}}
            ui.info("trained")
        ui.summary(summary_from_manifest(manifest, out))  # 3. the summary

    result = CliRunner().invoke(app, [str(tmp_path / "o"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["results"] == {"loss": 0.25}
    assert payload["outputs"][0]["bytes"] == 5
    assert result.stderr.strip() == "trained"
    again = CliRunner().invoke(app, [str(tmp_path / "o"), "--json"])
    assert again.exit_code == 2
    assert json.loads(again.stdout)["error"].endswith("exists; pass --overwrite.")


def test_every_cli_module_is_under_600_lines():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines())
             for p in CLI.glob("*.py")}
    assert len(sizes) >= 15
    too_long = {name: n for name, n in sizes.items() if n > 600}
    assert not too_long, too_long


def test_every_command_declares_json():
    from diffembed.cli.app import app

    root = typer.main.get_command(app)
    root.load_all()

    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    mine = {"map", "transform", "tree", "stability", "report", "export", "datasets",
            "embed pca", "embed lsa", "embed words", "embed sentences", "embed nodes",
            "embed encode"}
    found = {name for name, cmd in walk(root, [])
             if any("--json" in p.opts for p in cmd.params if hasattr(p, "opts"))}
    assert mine <= found, sorted(mine - found)


def test_summary_tables_never_crop_a_path_on_a_narrow_terminal():
    """On an 80-column terminal (or a narrow log) rich crops a long table cell with an ellipsis:
    an output path in the summary came out as ``…/data0/run/em…``. The summary folds it onto
    the next lines instead, every character kept."""
    import re

    from rich.table import Table

    path = "/home/someone/projects/a-long-project-name/results/2026-12-05/run-042/embedding.parquet"
    console = Console(width=60, record=True, file=io.StringIO())
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("output", path)
    UI(console=console).show(table)
    text = console.export_text()
    assert "…" not in text
    assert path in re.sub(r"[\s│]", "", text)
