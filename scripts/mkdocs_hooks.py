"""MkDocs hooks (``hooks:`` in mkdocs.yml): the pages the site takes from outside ``docs/``.

* ``cli.md``: the command-line reference, generated from the typer app by ``scripts/cli_reference.py`` at every
  build (never committed, so it cannot drift from the code).
* the training page's hypes keys table, generated from the loader's schema by ``scripts/hypes_reference.py``
  where the page has its marker line.
* ``model-card.md``: ``refinet_edge/weights/MODEL_CARD.md`` as it is in the package, its repository-relative
  links (``../../benchmarks/...``) pointed at the site's copy of the reports.
* ``benchmarks/reports/**``: the committed reports, as they are (the bench HTML reports stay self-contained
  files; ``report.md`` and the folders' README.md files become pages outside the navigation), so the pages link
  the very files their figures come from, and ``mkdocs build --strict`` fails when a cited report is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
REPORTS = "benchmarks/reports"
MODEL_CARD = ROOT / "refinet_edge" / "weights" / "MODEL_CARD.md"

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cli_reference  # noqa: E402
import hypes_reference  # noqa: E402


def model_card_markdown() -> str:
    """The model card with its links made relative to the site's root (where ``model-card.md`` sits)."""
    return MODEL_CARD.read_text(encoding="utf-8").replace("](../../benchmarks/", "](benchmarks/")


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, "cli.md", content=cli_reference.render()))
    files.append(File.generated(config, "model-card.md", content=model_card_markdown()))
    for path in sorted((ROOT / REPORTS).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            src_uri = path.relative_to(ROOT).as_posix()
            files.append(File.generated(config, src_uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    return hypes_reference.expand(markdown)
