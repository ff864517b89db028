"""Shared fixtures; the dataset writers live in ``tests/fixtures``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.itop import write_itop


@pytest.fixture(scope="session")
def itop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only ITOP directory: side view, train and test files, with point clouds."""
    root = tmp_path_factory.mktemp("itop")
    write_itop(root, "side", "train")
    write_itop(root, "side", "test")
    return root
