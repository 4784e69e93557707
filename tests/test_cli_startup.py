"""``diffembed --help``, ``--version`` and ``diffembed map --help`` start light.

Measured by the modules a fresh interpreter has imported when the command returns, not by
timing: none of the numeric, table, plotting or deep-learning stacks is loaded, and the module
count stays far below what importing them costs (numpy alone adds ~150 modules, scikit-learn
with scipy ~1,000).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import diffembed

SRC = str(Path(diffembed.__file__).resolve().parents[1])
#: Never imported to print help or the version.
HEAVY = ("scipy", "sklearn", "pyarrow", "plotly", "torch", "diffusers", "pandas", "dask",
         "networkx", "sentence_transformers", "numpy")
#: Today 268 modules for --version, 375 for --help (rich's markdown and pygments) and 438 for
#: map --help (typer converts some option types with pydantic); numpy alone would add ~150,
#: scipy + scikit-learn ~1,000.
MAX_MODULES = 500

PROBE = """
import json, sys
from diffembed.cli.app import main
sys.argv = ["diffembed", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(OUT, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def _probe(args: list[str], tmp_path: Path) -> tuple[dict, str]:
    out = tmp_path / "modules.json"
    code = PROBE.replace("OUT", repr(str(out)))
    env = {"PYTHONPATH": SRC, "COLUMNS": "120", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stdout


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["map", "--help"],
                                  ["transform", "--help"]])
def test_help_and_version_import_no_heavy_stack(args, tmp_path):
    found, stdout = _probe(args, tmp_path)
    assert found["code"] == 0
    loaded = [m for m in HEAVY if m in found["modules"]]
    assert loaded == [], f"diffembed {' '.join(args)} imported {loaded}"
    assert len(found["modules"]) < MAX_MODULES, len(found["modules"])
    assert stdout.strip()


def test_root_help_still_lists_every_command_with_its_help(tmp_path):
    _, stdout = _probe(["--help"], tmp_path)
    for name, words in (("map", "Fit a diffusion map"), ("transform", "Embed new data"),
                        ("tree", "bottom-up diffusion hierarchy"), ("embed", "Build vectors"),
                        ("stability", "perturbed corpora"), ("report", "Rebuild"),
                        ("export", "Embedding Atlas"), ("datasets", "built-in datasets"),
                        ("latents", "latent (h-)space")):
        line = next((ln for ln in stdout.splitlines() if ln.startswith(f"│ {name} ")), "")
        assert words in line, (name, stdout)


def test_version_prints_the_version(tmp_path):
    _, stdout = _probe(["--version"], tmp_path)
    assert stdout.strip() == f"diffembed {diffembed.__version__}"
    proc = subprocess.run([sys.executable, "-m", "diffembed", "--version"], capture_output=True,
                          text=True, env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
                          timeout=120, check=False)
    assert proc.stdout.strip() == f"diffembed {diffembed.__version__}", proc.stderr


def test_lazy_help_matches_the_commands_own_help():
    """The one-line help listed without importing a command is the command's own."""
    import typer

    from diffembed.cli.app import RootGroup, app

    root = typer.main.get_command(app)
    root.load_all()
    for name, (_, listed) in RootGroup.lazy.items():
        own = root.commands[name].help or ""
        assert own.split("\n")[0].strip() == listed, name


def test_a_lazy_command_runs_and_shows_its_help():
    from typer.testing import CliRunner

    from diffembed.cli.app import app

    result = CliRunner().invoke(app, ["tree", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--n-null" in result.output
    assert "--json" in result.output


def test_import_diffembed_is_light_and_the_api_loads_on_first_use(tmp_path):
    code = (
        "import sys, diffembed as de\n"
        "light = not any(m in sys.modules for m in ('numpy', 'scipy', 'sklearn'))\n"
        "X = __import__('numpy').random.default_rng(0).normal(size=(60, 3))\n"
        "e = de.DiffusionMap(n_components=2).fit(X).embedding_\n"
        "print(light, e.shape, de.hierarchy.__name__, 'DiffusionSmoother' in dir(de))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "(60,", "2)", "diffembed.hierarchy", "True"]


def test_a_typo_suggests_lazy_commands_too():
    from typer.testing import CliRunner

    from diffembed.cli.app import app

    result = CliRunner().invoke(app, ["stabilty"])
    assert result.exit_code == 2
    assert "No such command 'stabilty'. Did you mean 'stability'?" in " ".join(
        result.output.replace("│", " ").split())
    result = CliRunner().invoke(app, ["tre", "--json"])
    assert result.exit_code == 2
    assert result.stdout.strip() == ('{"error": "No such command \'tre\'. Did you mean '
                                     '\'tree\'?", "exit_code": 2}')
