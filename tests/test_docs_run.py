"""Docs that run: every code block of README.md and docs/*.md, and every script in examples/.

What is run
-----------
* ```python blocks: executed with ``exec``; the blocks of one markdown file run in order in one
  namespace, so a later block may use the names an earlier one defined (as a reader would).
* ```bash blocks that hold at least one line starting with ``diffembed ``: a simple
  ``diffembed ...`` line (no pipes, redirections or variables) runs in-process through the CLI's
  typer app (exit code 0 required); the other lines (``echo ... > plant.json``, ``python -c``,
  loops) run by ``bash -e`` with ``diffembed`` and ``python`` on ``PATH`` meaning this interpreter
  and this checkout. Other fences (diagrams, ``make`` targets, benchmark command
  lines, plain fences without a language) are not examples of the API and are not collected.
* Each markdown file runs in a fresh temporary working directory with ``HF_HUB_OFFLINE=1`` (nothing
  is downloaded), so the paths a file writes must not collide with each other
  (``test_output_paths_do_not_collide`` checks the ``-o`` folders statically too).

Markers in the markdown
-----------------------
An HTML comment on the line right before a fence (blank lines allowed in between):

* ``<!-- docs-test: skip REASON -->``: not run; REASON is required and is shown by ``pytest -ra``
  (``known bug: ...`` for a block that fails because of a library defect).
* ``<!-- docs-test: slow -->``: run only by the file's slow test (``DIFFEMBED_DOCS_LONG=1 pytest -m
  slow``; without the variable it is skipped with that reason, since these blocks take minutes to
  half an hour), which runs
  the file's fast blocks too, in order. A block that needs what a slow block made is marked slow
  too.

Hidden setup: an HTML comment that starts with ``docs-test: setup`` and holds Python code::

    <!-- docs-test: setup
    import numpy as np
    X = np.random.default_rng(0).normal(size=(500, 3))
    -->

is executed in the file's namespace at its place in the file (in the fast and the slow test) but is
not displayed (``docs-test: setup slow`` on the first line: only in the slow test, for the data of
slow blocks); it creates what a reader already has (``data.csv``, ``X``, ``values``, ...).

An unmarked block that errors fails the test with the block's file and line; an unknown marker
fails ``test_markers_are_known``. Scripts in ``examples/`` run as ``__main__`` in a temporary
directory; a script whose source contains the line ``# docs-test: slow`` is marked slow.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"<!--\s*docs-test:\s*(\w+)(.*?)-->", re.S)
_KINDS = {"skip", "slow", "setup"}


@dataclass
class Block:
    """One runnable piece of a markdown file."""

    path: Path
    line: int  # 1-based line of the first code line
    lang: str  # "python" or "bash"
    code: str
    mark: str = ""  # "", "skip", "slow" or "setup"
    reason: str = ""

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _is_cli_block(code: str) -> bool:
    return any(ln.strip().startswith("diffembed ") for ln in code.splitlines())


def parse(path: Path) -> tuple[list[Block], list[str]]:
    """Return the runnable blocks of ``path`` and the problems with its markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    pending: tuple[str, str, int] | None = None  # (kind, reason, line) of the last marker
    i = 0
    while i < len(lines):
        text = lines[i]
        if "<!--" in text and "docs-test" in text:
            start = i
            chunk = text
            while "-->" not in chunk and i + 1 < len(lines):
                i += 1
                chunk += "\n" + lines[i]
            m = _MARKER.search(chunk)
            if m is None or m.group(1) not in _KINDS:
                problems.append(f"{path.name}:{start + 1}: unknown docs-test marker {chunk!r}")
            elif m.group(1) == "setup":
                head, _, code = m.group(2).partition("\n")
                kind = "setup-slow" if head.strip() == "slow" else "setup"
                blocks.append(Block(path, start + 2, "python", code, kind))
            else:
                reason = m.group(2).strip()
                if m.group(1) == "skip" and not reason:
                    problems.append(f"{path.name}:{start + 1}: a skip marker needs a reason")
                pending = (m.group(1), reason, start + 1)
            i += 1
            continue
        fence = _FENCE.match(text)
        if fence:
            lang = fence.group(1)
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            code = "\n".join(lines[i + 1 : j])
            runnable = lang == "python" or (lang in {"bash", "sh", "shell"} and _is_cli_block(code))
            if lang == "" and _is_cli_block(code):
                problems.append(f"{path.name}:{i + 1}: a CLI block without a language (```bash)")
            if runnable:
                kind, reason = (pending[0], pending[1]) if pending else ("", "")
                blocks.append(
                    Block(path, i + 2, "python" if lang == "python" else "bash", code, kind, reason)
                )
            elif pending:
                problems.append(f"{path.name}:{pending[2]}: marker before a block that is not run")
            pending = None
            i = j + 1
            continue
        if pending and text.strip():
            problems.append(f"{path.name}:{pending[2]}: marker not followed by a code block")
            pending = None
        i += 1
    return blocks, problems


def _shim_dir(tmp: Path) -> Path:
    """A folder with ``diffembed`` and ``python`` meaning this interpreter and checkout."""
    bin_dir = tmp / ".docs-bin"
    bin_dir.mkdir()
    py = shlex.quote(sys.executable)
    for name, body in {
        "diffembed": f'exec {py} -m diffembed.cli.app "$@"\n',
        "python": f'exec {py} "$@"\n',
    }.items():
        f = bin_dir / name
        f.write_text("#!/bin/sh\n" + body)
        f.chmod(f.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def _env(tmp: Path) -> dict[str, str]:
    import diffembed

    src = str(Path(diffembed.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PATH"] = os.pathsep.join([str(_shim_dir(tmp)), env.get("PATH", "")])
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["MPLBACKEND"] = "Agg"
    # The offline corpora of `make data`, as a reader who ran it has them.
    if (ROOT / "data" / "debian").is_dir():
        env["DIFFEMBED_DATA"] = str(ROOT / "data" / "debian")
    return env


def _run_blocks(blocks: list[Block], tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _env(tmp)
    monkeypatch.chdir(tmp)
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "MPLBACKEND", "DIFFEMBED_DATA"):
        if key in env:
            monkeypatch.setenv(key, env[key])
    namespace: dict = {"__name__": "__docs__"}
    for b in blocks:
        if b.lang == "python":
            # Leading newlines make tracebacks point at the markdown line.
            code = compile("\n" * (b.line - 1) + b.code, str(b.path), "exec")
            try:
                exec(code, namespace)
            except Exception as exc:
                msg = f"python block at {b.where} failed: {exc!r}"
                raise AssertionError(msg) from exc
        else:
            for line_no, kind, code in _segments(b):
                if kind == "cli":
                    _run_cli(code, f"{b.path.relative_to(ROOT)}:{line_no}")
                else:
                    _run_bash(code, f"{b.path.relative_to(ROOT)}:{line_no}", tmp, env)


_SHELL = set("|&;<>$`\\()")


def _segments(b: Block) -> list[tuple[int, str, str]]:
    """Split a bash block into simple ``diffembed`` lines (run in-process, which saves the
    interpreter's start-up for each) and chunks of other shell lines (run by bash, together)."""
    out: list[tuple[int, str, str]] = []
    for n, line in enumerate(b.code.splitlines()):
        text = line.strip()
        if text.startswith("diffembed ") and not _SHELL & set(text.split(" #", 1)[0]):
            out.append((b.line + n, "cli", text))
        elif text and not text.startswith("#"):
            if out and out[-1][1] == "bash":
                out[-1] = (out[-1][0], "bash", out[-1][2] + "\n" + line)
            else:
                out.append((b.line + n, "bash", line))
    return out


def _run_cli(line: str, where: str) -> None:
    from typer.testing import CliRunner

    from diffembed.cli.app import app

    args = shlex.split(line, comments=True)[1:]
    result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        msg = f"CLI line at {where} exited {result.exit_code}: {line}\n{result.output[-4000:]}"
        raise AssertionError(msg) from result.exception


def _run_bash(code: str, where: str, tmp: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", code],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=4 * 3600,
        check=False,
    )
    if proc.returncode != 0:
        msg = f"bash lines at {where} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n"
        raise AssertionError(msg + proc.stderr[-4000:])


def _cases() -> list:
    cases = []
    for path in DOC_FILES:
        blocks, _ = parse(path)
        name = str(path.relative_to(ROOT))
        cases.append(pytest.param(path, False, id=f"{name}-fast"))
        if any(b.mark == "slow" for b in blocks):
            cases.append(pytest.param(path, True, id=f"{name}-slow", marks=_LONG_DOCS))
    return cases


#: The slow blocks of the docs train 3000-step DDPMs, full Debian word vectors and NetMF on the
#: 82k-node WordNet graph: up to ~30 minutes a file, too long for ``make test``. They run with
#: ``DIFFEMBED_DOCS_LONG=1 pytest -m slow tests/test_docs_run.py``.
_LONG_DOCS = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("DIFFEMBED_DOCS_LONG") != "1",
        reason="long doc blocks (minutes to half an hour each): set DIFFEMBED_DOCS_LONG=1 to run",
    ),
]


@pytest.mark.parametrize(("path", "slow"), _cases())
def test_doc_blocks_run(path: Path, slow: bool, tmp_path: Path, monkeypatch) -> None:
    blocks, problems = parse(path)
    assert not problems, problems
    wanted = {"", "setup", "slow", "setup-slow"} if slow else {"", "setup"}
    todo = [b for b in blocks if b.mark in wanted]
    _run_blocks(todo, tmp_path, monkeypatch)


def _skipped() -> list:
    return [
        pytest.param(b.reason, id=b.where)
        for p in DOC_FILES
        for b in parse(p)[0]
        if b.mark == "skip"
    ]


@pytest.mark.parametrize("reason", _skipped())
def test_marked_skip(reason: str) -> None:
    """Not silent: each block marked skip is one SKIPPED line, with its reason, in ``-ra``."""
    pytest.skip(reason)


def test_markers_are_known() -> None:
    problems = [p for path in DOC_FILES for p in parse(path)[1]]
    assert problems == []


def test_every_doc_file_has_runnable_blocks_or_none_at_all() -> None:
    counts = {p.name: len(parse(p)[0]) for p in DOC_FILES}
    # README and the guides all show code; safety.md is prose only.
    assert counts["README.md"] >= 8, counts
    assert counts["safety.md"] == 0, counts
    assert sum(counts.values()) >= 50, counts


def test_parser_reads_markers(tmp_path: Path) -> None:
    md = tmp_path / "x.md"
    md.write_text(
        "text\n<!-- docs-test: setup\nA = 1\n-->\n\n<!-- docs-test: skip needs a GPU -->\n"
        "```python\nB = A\n```\n<!-- docs-test: slow -->\n\n```bash\ndiffembed --help\n```\n"
        "```bash\nmake demo\n```\n<!-- docs-test: skp typo -->\n```python\nC = 3\n```\n"
    )
    blocks, problems = parse(md)
    assert [(b.lang, b.mark, b.reason, b.line) for b in blocks] == [
        ("python", "setup", "", 3),
        ("python", "skip", "needs a GPU", 8),
        ("bash", "slow", "", 13),
        ("python", "", "", 20),
    ]
    assert blocks[0].code.strip() == "A = 1"
    assert len(problems) == 1
    assert "unknown docs-test marker" in problems[0]


def test_unmarked_failing_block_fails(tmp_path: Path, monkeypatch) -> None:
    md = tmp_path / "bad.md"
    md.write_text("```python\nx = undefined_name\n```\n")
    blocks, _ = parse(md)
    blocks[0].path = ROOT / "bad.md"  # where() is relative to the repository
    with pytest.raises(AssertionError, match=r"bad.md:2 failed: NameError"):
        _run_blocks(blocks, tmp_path, monkeypatch)


_OUT = re.compile(r"(?:^|\s)(?:-o|--output)\s+(\S+)")


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_output_paths_do_not_collide(path: Path) -> None:
    seen: dict[str, str] = {}
    clashes = []
    for b in parse(path)[0]:
        if b.lang != "bash" or b.mark == "skip":
            continue
        for n, ln in enumerate(b.code.splitlines()):
            if not ln.strip().startswith("diffembed "):
                continue
            for out in _OUT.findall(ln.split("#", 1)[0]):
                key = out.rstrip("/")
                if key in seen:
                    clashes.append(f"{key}: {seen[key]} and {b.path.name}:{b.line + n}")
                seen[key] = f"{b.path.name}:{b.line + n}"
    assert clashes == []


def test_no_macos_open_in_docs() -> None:
    bad = [
        f"{b.where}: {ln.strip()}"
        for p in DOC_FILES
        for b in parse(p)[0]
        if b.lang == "bash"
        for ln in b.code.splitlines()
        if ln.strip().startswith("open ")
    ]
    assert bad == []


def _example_cases() -> list:
    out = []
    for p in EXAMPLES:
        slow = "# docs-test: slow" in p.read_text(encoding="utf-8")
        out.append(pytest.param(p, id=p.name, marks=[pytest.mark.slow] if slow else []))
    return out


def test_four_examples() -> None:
    assert len(EXAMPLES) >= 4, [p.name for p in EXAMPLES]


@pytest.mark.parametrize("script", _example_cases())
def test_example_runs(script: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"{script.name}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert proc.stdout.strip(), f"{script.name} printed nothing"


def test_failing_cli_line_fails(tmp_path: Path, monkeypatch) -> None:
    md = ROOT / "bad-cli.md"
    blocks = [Block(md, 3, "bash", "echo 1,2 > t.csv\ndiffembed map missing.csv -o out/x\n")]
    assert [s[:2] for s in _segments(blocks[0])] == [(3, "bash"), (4, "cli")]
    with pytest.raises(AssertionError, match=r"bad-cli.md:4 exited 2: diffembed map missing"):
        _run_blocks(blocks, tmp_path, monkeypatch)
    assert (tmp_path / "t.csv").read_text() == "1,2\n"  # the bash line ran first


def test_setup_slow_runs_only_in_the_slow_test(tmp_path: Path) -> None:
    md = tmp_path / "y.md"
    md.write_text(
        "<!-- docs-test: setup slow\nBIG = 1\n-->\n<!-- docs-test: slow -->\n"
        "```python\nprint(BIG)\n```\n"
    )
    blocks, problems = parse(md)
    assert problems == []
    assert [(b.mark, b.code.strip()) for b in blocks] == [
        ("setup-slow", "BIG = 1"),
        ("slow", "print(BIG)"),
    ]
