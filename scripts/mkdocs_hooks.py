"""mkdocs hooks: README.md is the home page; the benchmark tables linked to become pages.

README.md and the guide (docs/*.md) link to each other and to ``benchmarks/results/NAME.md``
with paths that work on the repository but lie outside mkdocs' ``docs_dir``. These hooks add
README.md to the site as its home page (``index.md``) and every ``benchmarks/results/*.md`` as
``benchmarks/NAME.md``, and point the links there, so the built site has no broken link and
``mkdocs build --strict`` passes without a second copy of any page in the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

RESULTS = Path("benchmarks") / "results"
LINK = "](../benchmarks/results/"


def on_files(files: Files, config: Any) -> Files:
    """Add README.md as the home page and the benchmark tables under ``benchmarks/``."""
    root = Path(config.config_file_path).parent
    files.append(File.generated(config, "index.md", abs_src_path=str(root / "README.md")))
    for path in sorted((root / RESULTS).glob("*.md")):
        files.append(File.generated(config, f"benchmarks/{path.name}", abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Point the repository paths of links at the pages of the site."""
    if page.file.src_uri == "index.md":  # README.md: docs/X.md → X.md
        return markdown.replace("](docs/", "](").replace("](benchmarks/results/", "](benchmarks/")
    depth = page.file.src_uri.count("/")
    return markdown.replace(LINK, "](" + "../" * depth + "benchmarks/")
