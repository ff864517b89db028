"""The export verbs from the command line: export -> compare, and one-line errors (build without TensorRT)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
from refinet_edge.export.trt_build import is_available as tensorrt_available  # noqa: E402


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refinet_edge.cli", *args], capture_output=True, text=True)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error:")
    message = " ".join(result.stderr.split())
    for needle in needles:
        assert needle in message, message


def test_export_then_compare(tmp_path: Path) -> None:
    out = tmp_path / "onnx"
    result = run_cli("export", "--out", str(out), "--frames", "4")
    assert result.returncode == 0, result.stderr
    for stage in ("patch", "skeleton", "pointcloud"):
        assert f"export {stage} fp32 (opset 17) -> {out / (stage + '.onnx')} (" in " ".join(result.stdout.split())
        assert f"parity {stage}: onnxruntime vs torch max abs error" in result.stdout
    result = run_cli("compare", "--onnx-dir", str(out), "--backends", "torch,onnxruntime", "--frames", "2")
    assert result.returncode == 0, result.stderr
    assert "compare: all 3 outputs within the fp32 tolerance" in result.stdout


def test_export_view_top_exports_the_top_set_and_calibrate_follows_it(tmp_path: Path, monkeypatch) -> None:
    import json

    from refinet_edge.export.manifest import sha256_file
    from refinet_edge.pipeline import weights_dir

    out = tmp_path / "onnx-top"
    result = run_cli("export", "--out", str(out), "--view", "top", "--frames", "2")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["view"] == "top" and Path(manifest["checkpoints"]) == weights_dir("top").resolve()
    for stage in ("patch", "skeleton", "pointcloud"):
        shipped = weights_dir("top") / f"{stage}.safetensors"
        assert manifest["stages"][stage]["checkpoint_sha256"] == sha256_file(shipped)
    assert weights_dir("top") != weights_dir("side")
    # calibrate takes its gate frames from the view the export recorded: top-view frames from the top camera
    from calibration import run as calibration_run
    from refinet_edge.export.inputs import frames_from

    seen: list[tuple[str, str]] = []

    def recording(*args, **kwargs):
        store = frames_from(*args, **kwargs)
        seen.append((kwargs.get("view", "side"), store.camera.name))
        return store

    monkeypatch.setattr(calibration_run, "frames_from", recording)
    summary = calibration_run.calibrate(out, "fp16", gate_frames=2, log=lambda line: None)
    assert seen == [("top", "itop_top")] and summary["gate"]["joints"] == 2 * 15
    assert_one_line_error(run_cli("export", "--out", str(tmp_path / "x"), "--view", "up"), "--view", "side", "top")


def test_errors_are_one_line(onnx_dir: Path, tmp_path: Path) -> None:
    if not tensorrt_available():
        assert_one_line_error(run_cli("build", "--onnx-dir", str(onnx_dir), "--precision", "fp32"),
                              "TensorRT is not installed", "pip install", "JetPack")
    assert_one_line_error(run_cli("build", "--onnx-dir", str(onnx_dir), "--precision", "fp61"),
                          "did you mean 'fp16'")
    assert_one_line_error(run_cli("build", "--onnx-dir", str(tmp_path)), "no manifest.json")
    assert_one_line_error(run_cli("calibrate", "--precision", "int8", "--onnx-dir", str(onnx_dir),
                                  "--method", "kl"), "--method must be one of minmax, entropy, percentile")
