"""The GPU tests' skip-or-fail rule (tests/fixtures/gpu.py): skip on a machine without a GPU, fail on one with."""

from __future__ import annotations

import pytest
from _pytest.outcomes import Failed, Skipped
from fixtures import gpu


def test_without_a_gpu_the_test_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFINET_EDGE_REQUIRE_GPU", "0")
    assert not gpu.gpu_machine()
    with pytest.raises(Skipped, match="cuda-python cannot start"):
        gpu.no_gpu("cuda-python cannot start: CUDA_ERROR_NO_DEVICE")


def test_on_a_gpu_machine_a_layer_that_cannot_start_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFINET_EDGE_REQUIRE_GPU", "1")
    assert gpu.gpu_machine()
    with pytest.raises(Failed, match="has an NVIDIA GPU but cuda-python cannot start"):
        gpu.no_gpu("cuda-python cannot start: CUDA_ERROR_NO_DEVICE")


def test_a_device_node_marks_a_gpu_machine(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("REFINET_EDGE_REQUIRE_GPU", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.setattr(gpu, "DEVICE_NODES", (tmp_path / "nvidia0",))
    assert not gpu.gpu_machine()
    (tmp_path / "nvidia0").touch()
    assert gpu.gpu_machine()
