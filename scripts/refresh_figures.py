"""Rewrite every marked figure of the given documents from the report its marker names.

    python scripts/refresh_figures.py README.md docs/evaluation.md [--dry-run]

A figure is ``NUMBER<!--fig FILE KEY-->`` (the convention of ``tests/test_readme_figures.py``). Each number is
replaced by the value at ``KEY`` in ``FILE``, rounded as the number is written (its decimals, or its significant
digits in e-notation). Use it after pointing markers at a new report (for example ``sed`` from ``-v8-ood/`` to
``-v9-ood/``): the prose around the numbers is not touched, so read the diff and mend the words that no longer
hold. Prints one line per changed figure; ``--dry-run`` writes nothing. A marker whose file or key is missing is
an error naming the document and line, and nothing is written.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_readme_figures import MARKER, lookup  # noqa: E402  (the test's own parser and lookup)


def formatted(written: str, value: float) -> str:
    """``value`` written with the precision of ``written``."""
    if "e" in written:
        mantissa = written.split("e")[0]
        digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
        text = f"{value:.{digits}e}"
        m, e = text.split("e")
        return f"{m}e{int(e)}"
    decimals = len(written.split(".")[1]) if "." in written else 0
    return f"{value:.{decimals}f}"


def refresh(text: str, doc: str) -> tuple[str, list[str]]:
    """``text`` with every figure recomputed, and a line per changed figure."""
    changes: list[str] = []
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        def one(m: re.Match, number: int = number) -> str:
            path = ROOT / m["path"]
            if not path.is_file():
                raise SystemExit(f"error: {doc}:{number}: {m['path']} does not exist")
            try:
                value = lookup(path, m["key"])
            except (KeyError, IndexError, StopIteration, ValueError) as exc:
                raise SystemExit(f"error: {doc}:{number}: {m['path']} has no {m['key']} ({exc})") from None
            new = formatted(m["value"], value)
            if float(new) != float(m["value"]):
                changes.append(f"{doc}:{number}: {m['value']} -> {new}  ({m['path']} {m['key']})")
            return m.group().replace(m["value"], new, 1)

        lines[number - 1] = MARKER.sub(one, line)
    return "".join(lines), changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", nargs="+", type=Path)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    results = {}
    for doc in args.docs:
        if not doc.is_file():
            raise SystemExit(f"error: {doc}: no such document")
        results[doc] = refresh(doc.read_text(encoding="utf-8"), str(doc))
    for doc, (text, changes) in results.items():  # every document checked before any is written
        print("\n".join(changes) if changes else f"{doc}: no figure changed")
        if changes and not args.dry_run:
            doc.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
