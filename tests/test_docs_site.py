"""The documentation site's structure: every page in the nav, every bench HTML report linked, a short README.

``mkdocs build --strict`` (in .ci/run) fails on broken links and pages missing from the nav; these checks run
without mkdocs installed, so a plain ``pytest`` catches the same mistakes early.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = {"cli.md", "model-card.md"}  # written by scripts/mkdocs_hooks.py at build time


def nav_pages() -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text.split("\nnav:\n", 1)[1]
    return re.findall(r"^\s+- [^:]+: (\S+\.md)$", nav, re.MULTILINE)


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    nav = nav_pages()
    assert len(nav) == len(set(nav))
    assert pages - set(nav) == set(), "pages missing from the nav in mkdocs.yml"
    assert set(nav) - pages - GENERATED == set(), "nav entries with no page"
    assert GENERATED <= set(nav)


def test_every_bench_html_report_is_linked_from_the_benchmarks_page() -> None:
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    reports = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "benchmarks" / "reports").rglob("*.html"))
    assert len(reports) >= 10
    assert [r for r in reports if f"]({r})" not in page] == []


def test_the_bench_html_reports_stay_self_contained() -> None:
    for report in (ROOT / "benchmarks" / "reports").rglob("*.html"):
        html = report.read_text(encoding="utf-8")
        assert not re.search(r"<script|<link |src=\"(?!data:)|href=\"(?!#)", html), report


def test_the_readme_stays_a_first_screen_and_links_into_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    assert len(lines) <= 250
    first_screen = "\n".join(lines[:60])
    assert "refinet-edge demo" in first_screen and "| pointcloud (x2) |" in first_screen  # the demo's table
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)", readme))
    missing = [p for p in linked if not (ROOT / p).is_file()]
    assert not missing and len(linked) >= 10, (missing, linked)
