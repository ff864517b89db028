"""`live` on the exported stages (ONNX Runtime) gives the torch backend's joints; the fastest backend is the default."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")


def run_live(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refinet_edge.cli", "live", "--camera", "synthetic", "--headless",
                           "--frames", "3", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    from fixtures.export import make_onnx_dir

    return make_onnx_dir(tmp_path_factory.mktemp("live_onnx"))


def test_onnxruntime_is_the_default_with_an_export_and_matches_torch(onnx_dir, tmp_path):
    runs = {"torch": ("--backend", "torch"), "ort": ("--onnx-dir", str(onnx_dir))}
    joints = {}
    for name, args in runs.items():
        out = tmp_path / f"{name}.jsonl"
        result = run_live("--output", str(out), *args)
        assert result.returncode == 0, result.stderr
        assert f"backend {'onnxruntime' if name == 'ort' else 'torch'} fp32" in " ".join(result.stderr.split())
        joints[name] = np.array([p["joints_3d_m"] for line in out.read_text().splitlines()
                                 for p in json.loads(line)["people"]], dtype=np.float64)
    assert joints["torch"].shape == joints["ort"].shape == (3, 15, 3)
    np.testing.assert_allclose(joints["ort"], joints["torch"], atol=2e-4)  # metres; export parity is 1e-4
