"""Reports with ``assets="shared"`` / ``--assets shared``: one plotly.min.js beside the pages."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from diffembed.cli.app import app
from diffembed.exceptions import InputError
from diffembed.plotting import write_report
from diffembed.plotting.page import PLOTLY_FILE, plotly_js, report_assets

from .browser import write_outputs

runner = CliRunner()


def _csp(page: str) -> str:
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert found is not None
    return found.group(1).replace("&#x27;", "'")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_outputs(tmp_path / "out", n=150, k=4, cluster=True)


def test_inline_is_the_default_and_carries_plotly(run: Path) -> None:
    page = write_report(run).read_text(encoding="utf-8")
    assert page.count(plotly_js()) == 1
    assert len(page.encode()) > 4_500_000  # the "≥ 4.7 MB for 150 points"
    assert not (run / PLOTLY_FILE).exists()
    assert _hash(plotly_js()) in _csp(page)
    assert "self-contained: plotly.js is embedded" in page


def test_shared_assets_write_one_plotly_file_beside_the_reports(run: Path) -> None:
    page = write_report(run, assets="shared").read_text(encoding="utf-8")
    js = run / PLOTLY_FILE
    assert js.read_text(encoding="utf-8") == plotly_js()
    assert plotly_js() not in page
    assert page.count(f'<script src="{PLOTLY_FILE}"></script>') == 1
    assert len(page.encode()) < 300_000  # the page without its 4.7 MB copy of plotly.js
    csp = _csp(page)
    script_src = csp.split(";")[1].split()
    assert script_src[:4] == ["script-src", "'unsafe-eval'", "'self'", "file:"]
    assert _hash(plotly_js()) not in csp
    inline = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(inline) == 2  # loader and explorer still run by hash
    assert all(_hash(body) in csp for body in inline)
    assert "plotly.js is read from plotly.min.js beside this page" in page
    # A second report of the folder reuses the same file: still one copy, not rewritten.
    stamp = js.stat().st_mtime_ns
    write_report(run, run / "again.html", assets="shared")
    assert js.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in run.glob("*.js")) == [PLOTLY_FILE]
    # A stale or foreign copy is replaced by the right one.
    js.write_text("stale", encoding="utf-8")
    write_report(run, assets="shared")
    assert js.read_text(encoding="utf-8") == plotly_js()


def test_report_assets_block_scopes_the_choice(run: Path) -> None:
    with report_assets("shared"):
        write_report(run)  # None: follows the block
    assert (run / PLOTLY_FILE).is_file()
    page = write_report(run, run / "after.html").read_text(encoding="utf-8")
    assert page.count(plotly_js()) == 1  # the block ended: inline again


def test_unknown_assets_value_names_the_choices(run: Path) -> None:
    with pytest.raises(InputError, match=r"assets='cdn' is not valid: use 'inline'.*'shared'"):
        write_report(run, assets="cdn")
    assert not (run / "report.html").exists()


def _csv(path: Path, n: int = 120) -> Path:
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 3 * np.pi, n)
    X = np.column_stack([np.cos(t), np.sin(t), 0.1 * rng.normal(size=n)])
    lines = "".join(f"{a:.6f},{b:.6f},{c:.6f}\n" for a, b, c in X)
    path.write_text("x,y,z\n" + lines, encoding="utf-8")
    return path


def _listed(out: Path) -> list[str]:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return [entry["path"] for entry in manifest["files"]]


def test_cli_assets_shared_on_map_and_report(tmp_path: Path) -> None:
    data = _csv(tmp_path / "ring.csv")
    out = tmp_path / "shared"
    res = runner.invoke(app, ["map", str(data), "-o", str(out), "--assets", "shared", "-q"])
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f'<script src="{PLOTLY_FILE}"></script>' in page
    assert (out / PLOTLY_FILE).read_text(encoding="utf-8") == plotly_js()
    assert PLOTLY_FILE in _listed(out)  # owned: a later --overwrite may replace it
    # The next run of the same process is inline again (the option resets the choice).
    inline = tmp_path / "inline"
    res = runner.invoke(app, ["map", str(data), "-o", str(inline), "-q"])
    assert res.exit_code == 0, res.output
    assert (inline / "report.html").read_text(encoding="utf-8").count(plotly_js()) == 1
    assert not (inline / PLOTLY_FILE).exists()
    assert PLOTLY_FILE not in _listed(inline)
    # `diffembed report OUT --assets shared` rewrites the page and records the file.
    res = runner.invoke(app, ["report", str(inline), "--assets", "shared", "-q"])
    assert res.exit_code == 0, res.output
    assert plotly_js() not in (inline / "report.html").read_text(encoding="utf-8")
    assert (inline / PLOTLY_FILE).is_file()
    assert PLOTLY_FILE in _listed(inline)
    # The choice ended with the command: the Python API is inline again.
    assert write_report(inline, tmp_path / "py.html").read_text("utf-8").count(plotly_js()) == 1


def test_cli_assets_rejects_other_values_with_exit_2(tmp_path: Path) -> None:
    data = _csv(tmp_path / "ring.csv")
    res = runner.invoke(app, ["map", str(data), "-o", str(tmp_path / "o"), "--assets", "cdn"])
    assert res.exit_code == 2
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", res.output).split())
    assert "Invalid value for '--assets'" in text
    assert "'cdn' is not one of 'inline', 'shared'" in text
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["tree"],
        ["embed", "pca"],
        ["stability"],
        ["latents", "decode"],
    ],
)
def test_every_report_writing_command_offers_assets(command: list[str]) -> None:
    res = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "--assets" in res.output
    assert "shared" in res.output
