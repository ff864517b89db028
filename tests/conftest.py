"""Shared fixtures; the dataset writers live in ``tests/fixtures``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.itop import write_itop
from hypothesis import settings

# Property tests draw the same examples on every run (CI must not go red on a new random draw); explore fresh
# ones with `pytest --hypothesis-profile=explore` and turn any failure it finds into a fixed test.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("repeatable")


@pytest.fixture(scope="session")
def itop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only ITOP directory: side view, train and test files, with point clouds."""
    root = tmp_path_factory.mktemp("itop")
    write_itop(root, "side", "train")
    write_itop(root, "side", "test")
    return root


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped stages exported to ONNX (read-only: copy it with fixtures.export.copy_onnx_dir to change it)."""
    pytest.importorskip("onnxruntime")
    from fixtures.export import make_onnx_dir

    return make_onnx_dir(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="session")
def calibrated_onnx_dir(onnx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[str]]:
    """``onnx_dir`` copied and calibrated to fp16 and int8 (12 calibration, 8 gate frames): the nine ONNX files
    (read-only: build engines with ``--out`` elsewhere); returns (dir, int8 summary, calibrate's log lines)."""
    from fixtures.export import calibrate_copy

    return calibrate_copy(onnx_dir, tmp_path_factory.mktemp("calib") / "onnx")
