"""The pipeline's ``preprocess`` setting: CPU (compiled or NumPy), NumPy, CUDA kernels or auto, chosen once."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from refinet_edge.camera import Camera
from refinet_edge.errors import RefinetError
from refinet_edge.kernels import is_available
from refinet_edge.pipeline import RefinementPipeline
from refinet_edge.preprocess import steps

CAM = Camera("s", 32, 24, 25.0, 25.0, 15.5, 11.5)


def test_bad_choice_is_rejected_with_a_hint() -> None:
    with pytest.raises(RefinetError, match="preprocess must be one of auto, cpu, cuda.*did you mean 'cuda'"):
        RefinementPipeline({}, preprocess="cdua")


@pytest.mark.skipif(is_available(), reason="a GPU is present")
def test_auto_falls_back_to_the_cpu_and_says_so(caplog: pytest.LogCaptureFixture, monkeypatch) -> None:
    monkeypatch.setattr(steps, "_auto", [])
    pipe = RefinementPipeline({})
    assert pipe.preprocess == "auto"  # nothing probed before the first run
    depth = np.full((1, 24, 32), 2.0, np.float32)
    with caplog.at_level(logging.INFO, logger="refinet_edge"):
        result = pipe.run(depth, np.full((1, 15, 2), 10.0), CAM)
    assert pipe.preprocess == "cpu" and f"pre-processing: {steps.CpuSteps().describe()}" in caplog.text
    cpu = RefinementPipeline({}, preprocess="cpu").run(depth, np.full((1, 15, 2), 10.0), CAM)
    np.testing.assert_array_equal(result.steps["input"], cpu.steps["input"])
    with pytest.raises(RefinetError, match="no usable CUDA layer"):
        RefinementPipeline({}, preprocess="cuda").run(depth, np.full((1, 15, 2), 10.0), CAM)


def test_numpy_choice_runs_numpy_and_equals_the_cpu_path() -> None:
    depth = np.full((1, 24, 32), 2.0, np.float32)
    depth[0, 5:9, 3:20] = 0.0  # a hole: some joints lift from grown windows
    uv = np.random.default_rng(0).uniform(-2, 34, (1, 15, 2))
    plain = RefinementPipeline({}, preprocess="numpy")
    result = plain.run(depth, uv, CAM)
    assert plain.preprocess == "numpy" and "NumPy" in steps.select_steps("numpy").describe()
    cpu = RefinementPipeline({}, preprocess="cpu").run(depth, uv, CAM)
    np.testing.assert_array_equal(result.steps["input"], cpu.steps["input"])
    np.testing.assert_array_equal(result.valid, cpu.valid)
