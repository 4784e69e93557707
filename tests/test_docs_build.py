"""``make docs``: the user guide and the API reference build offline with no warnings.

Runs ``mkdocs build --strict`` (mkdocs + mkdocstrings[python], the ``docs`` and ``test`` extras)
into a temporary folder, then checks that every public name (``diffembed.__all__`` and the
``__all__`` of the documented subpackages) has its entry in the API pages, so a name added to
the API without a page entry fails here.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import diffembed

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[docs]'")
pytest.importorskip(
    "mkdocstrings_handlers.python",
    reason="mkdocstrings[python] is not installed: pip install -e '.[docs]'",
)

#: API page of each documented subpackage.
SUBPACKAGE_PAGES = {
    "embed": "embed",
    "metrics": "metrics",
    "evaluate": "evaluate",
    "datasets": "datasets",
    "tl": "tl",
    "latents": "latents",
    "io": "io",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(out)],
        capture_output=True,
        text=True,
        cwd=out,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return out, result.stderr


def _ids(page: Path) -> set[str]:
    return set(re.findall(r'id="(diffembed[\w.]*)"', page.read_text(encoding="utf-8")))


def test_build_is_strict_and_quiet(site):
    _, log = site
    assert "WARNING" not in log, log
    assert "Documentation built" in log


def test_guide_pages_and_benchmark_tables_are_in_the_site(site):
    out, _ = site
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert (out / page.stem / "index.html").is_file(), page.name
    # README.md is the home page, its docs/X.md links pointing at the guide's pages
    home = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="embed/"' in home
    assert 'href="api/estimators/"' in home  # the navigation reaches the API reference
    # the guide's links to ../benchmarks/results/*.md resolve to copies in the site
    latents = (out / "latents" / "index.html").read_text(encoding="utf-8")
    assert 'href="../benchmarks/latents_weat/"' in latents
    assert (out / "benchmarks" / "latents_weat" / "index.html").is_file()


def test_every_public_name_has_an_api_entry(site):
    out, _ = site
    pages = {p.parent.name: _ids(p) for p in (out / "api").glob("*/index.html")}
    assert set(SUBPACKAGE_PAGES.values()) | {"estimators", "exceptions"} <= set(pages)
    everywhere = set().union(*pages.values())
    top = [name for name in diffembed.__all__ if name != "__version__"]
    missing = [n for n in top if not any(i.endswith(f".{n}") for i in everywhere)]
    assert missing == []
    assert "diffembed.DiffusionMap" in pages["estimators"]
    assert "diffembed.DiffusionMap.fit" in pages["estimators"]
    assert "diffembed.InputError" in pages["exceptions"]
    for module, page in SUBPACKAGE_PAGES.items():
        names = importlib.import_module(f"diffembed.{module}").__all__
        missing = [n for n in names if not any(i.endswith(f".{n}") for i in pages[page])]
        assert missing == [], f"diffembed.{module}: no entry on api/{page}.md for {missing}"


def test_numpydoc_sections_are_rendered(site):
    out, _ = site
    html = (out / "api" / "estimators" / "index.html").read_text(encoding="utf-8")
    start = html.index('id="diffembed.DiffusionMap"')
    block = html[start : html.index('id="diffembed.DiffusionMap.fit"')]
    # the Parameters table lists the documented parameters, verbose= among them
    for name in ("n_components", "bandwidth", "eigen_solver", "verbose"):
        assert f"<code>{name}</code>" in block, name
    assert "Attributes:" in block
