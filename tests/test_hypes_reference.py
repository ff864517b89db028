"""The generated hypes keys table (docs: training page) has a row for every key the loader accepts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("hypes_reference", ROOT / "scripts" / "hypes_reference.py")
assert _spec is not None and _spec.loader is not None
hypes_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hypes_reference)


def test_every_schema_key_has_a_row() -> None:
    table = hypes_reference.render()
    assert hypes_reference.keys_missing_from(table) == []
    assert "| `train.chain_cache` |" in table and "| `noise.oks_profile` |" in table


def test_a_missing_key_is_reported() -> None:
    table = hypes_reference.render().replace("| `train.flip_prob` |", "| `train.flip` |")
    assert hypes_reference.keys_missing_from(table) == ["train.flip_prob"]


def test_the_training_page_carries_the_marker_the_build_expands() -> None:
    page = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    assert hypes_reference.MARKER in page
    assert hypes_reference.keys_missing_from(hypes_reference.expand(page)) == []
