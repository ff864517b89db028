"""Everything around the TensorRT build that needs no TensorRT: settings, profiles, sidecars, plans, errors.

The TensorRT calls themselves are type-checked (test_trt_typecheck.py) and run
only under the ``gpu`` marker, on a machine with TensorRT and a GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.export import trt_build
from refinet_edge.export.build import plan_builds
from refinet_edge.export.engine_info import (
    BuildSettings,
    buffer_bytes,
    make_sidecar,
    mismatch_message,
    mismatches,
    needs_rebuild,
    parse_tegra_release,
    profile_shapes,
    read_sidecar,
    write_sidecar,
)
from refinet_edge.export.precision import Precision
from refinet_edge.export.specs import stage_spec
from refinet_edge.export.trt_runner import TrtRunner, engine_max_batch
from refinet_edge.models import preset_config

POINTS = stage_spec("pointcloud", preset_config("pointcloud", "edge"))
PLATFORM = {"tensorrt": "10.3.0", "cuda": "12.6", "gpu": "Orin", "compute_capability": "8.7", "jetpack": "R36.4.3"}


def test_settings_are_validated() -> None:
    assert BuildSettings(max_batch=8, opt_batch=2, workspace_mb=256).max_batch == 8
    for kwargs, needle in [({"max_batch": 0}, "--max-batch"), ({"max_batch": 4, "opt_batch": 5}, "--opt-batch"),
                           ({"workspace_mb": 8}, "--workspace")]:
        with pytest.raises(RefinetError, match=needle):
            BuildSettings(**kwargs)


def test_profile_and_buffers_follow_the_spec() -> None:
    n = POINTS.inputs["points"][1]
    shapes = profile_shapes(POINTS, BuildSettings(max_batch=16, opt_batch=2))
    assert shapes["points"] == {"min": [1, 15, n, 3], "opt": [2, 15, n, 3], "max": [16, 15, n, 3]}
    assert shapes["counts"] == {"min": [1, 15], "opt": [2, 15], "max": [16, 15]}
    sizes = buffer_bytes(POINTS, batch=3)
    assert sizes == {"points": 3 * 15 * n * 3 * 4, "counts": 3 * 15 * 4, "offsets": 3 * 15 * 3 * 4}
    assert sizes["points"] == np.zeros((3, 15, n, 3), np.float32).nbytes


def test_tegra_release_parsing() -> None:
    text = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8\n"
    assert parse_tegra_release(text) == "R36.4.3"
    assert parse_tegra_release("not a jetson") is None


def test_sidecar_round_trip_and_mismatch_messages(tmp_path: Path) -> None:
    engine = tmp_path / "pointcloud.int8.engine"
    settings = BuildSettings(max_batch=8)
    sidecar = make_sidecar("pointcloud", "int8", tmp_path / "pointcloud.int8.onnx", "ab" * 32, PLATFORM,
                           profile_shapes(POINTS, settings), settings, 12.34)
    write_sidecar(engine, sidecar)
    loaded = read_sidecar(engine)
    assert loaded == json.loads(json.dumps(sidecar)) and loaded["strongly_typed"] is True
    assert engine_max_batch(loaded, POINTS) == 8
    assert mismatches(loaded, PLATFORM) == []
    other = {**PLATFORM, "tensorrt": "11.4.0", "gpu": "NVIDIA H100", "compute_capability": "9.0"}
    found = mismatches(loaded, other)
    assert found == ["TensorRT 10.3.0 (built) vs 11.4.0 (here)", "compute capability 8.7 (built) vs 9.0 (here)",
                     "GPU Orin (built) vs NVIDIA H100 (here)"]
    message = mismatch_message(engine, found, onnx_at_hand=True)
    assert "TensorRT 10.3.0 (built) vs 11.4.0 (here)" in message and "refinet-edge build --onnx-dir" in message
    with pytest.raises(RefinetError, match="no sidecar"):
        read_sidecar(tmp_path / "missing.engine")


def test_a_foreign_engine_is_rebuilt_only_from_its_unchanged_onnx(tmp_path: Path) -> None:
    engine = tmp_path / "patch.fp16.engine"
    sidecar = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7", "onnx_sha256": "aa"}
    assert needs_rebuild(engine, sidecar, PLATFORM, "aa", allow=True) is False  # same platform: load it
    here = {**PLATFORM, "tensorrt": "11.4.0"}
    assert needs_rebuild(engine, sidecar, here, "aa", allow=True) is True
    with pytest.raises(RefinetError, match="TensorRT 10.3.0 \\(built\\) vs 11.4.0 \\(here\\).*on this machine"):
        needs_rebuild(engine, sidecar, here, "bb", allow=True)  # the ONNX changed since the build
    with pytest.raises(RefinetError, match="TensorRT 10.3.0 \\(built\\) vs 11.4.0"):
        needs_rebuild(engine, sidecar, here, None, allow=True)  # no ONNX at hand
    with pytest.raises(RefinetError, match="refinet-edge build --onnx-dir"):
        needs_rebuild(engine, sidecar, here, "aa", allow=False)


def test_build_plan_uses_the_gate_fallback(onnx_dir: Path, tmp_path: Path) -> None:
    from fixtures.export import copy_onnx_dir

    jobs = plan_builds(onnx_dir, "fp32")
    assert [(j.stage, j.precision, j.onnx_path.name, j.engine_path.name) for j in jobs][0] == (
        "patch", Precision.FP32, "patch.onnx", "patch.fp32.engine")
    with pytest.raises(RefinetError, match="no fp16 ONNX for stage patch.*calibrate --precision fp16"):
        plan_builds(onnx_dir, "fp16")
    work = copy_onnx_dir(onnx_dir, tmp_path / "onnx")
    manifest = json.loads((work / "manifest.json").read_text())
    manifest["precision_plan"] = {"int8": {"patch": "fp32", "skeleton": "fp32", "pointcloud": "fp32"}}
    (work / "manifest.json").write_text(json.dumps(manifest))
    lines: list[str] = []
    jobs = plan_builds(work, "int8", log=lines.append)
    assert all(j.precision is Precision.FP32 for j in jobs)
    assert lines[0] == "patch: int8 failed the accuracy gate at calibration; running fp32"


@pytest.mark.skipif(trt_build.is_available(), reason="TensorRT is installed here")
def test_without_tensorrt_build_and_runner_say_how_to_install(onnx_dir: Path) -> None:
    from refinet_edge.export.build import build_all

    with pytest.raises(RefinetError, match="TensorRT is not installed.*pip install.*JetPack"):
        build_all(onnx_dir, "fp32", BuildSettings())
    with pytest.raises(RefinetError, match="TensorRT is not installed"):
        TrtRunner(onnx_dir / "pointcloud.fp32.engine", POINTS).activate()


def test_precision_enum_rejects_with_a_hint() -> None:
    with pytest.raises(RefinetError, match="did you mean 'fp16'"):
        Precision.parse("fp61")
    assert Precision.parse("int8").onnx_name("patch") == "patch.int8.onnx"
    assert Precision.FP32.onnx_name("patch") == "patch.onnx"
    assert Precision.FP16.engine_name("skeleton") == "skeleton.fp16.engine"


@pytest.mark.gpu
def test_build_and_compare_on_a_gpu(onnx_dir: Path, tmp_path: Path) -> None:
    """On a machine with TensorRT and a GPU: build fp32 engines and compare them with ONNX Runtime."""
    if not trt_build.is_available():
        pytest.skip("TensorRT not installed")
    from fixtures.export import copy_onnx_dir

    from refinet_edge.export.build import build_all
    from refinet_edge.export.compare import compare_backends
    from refinet_edge.export.inputs import synthetic_frames

    work = copy_onnx_dir(onnx_dir, tmp_path / "onnx")
    sidecars = build_all(work, "fp32", BuildSettings(max_batch=4), log=lambda line: None)
    assert all(s["tensorrt"] and s["compute_capability"] for s in sidecars)
    results = compare_backends(work, ["onnxruntime", "tensorrt"], Precision.FP32, synthetic_frames(4, seed=1))
    assert all(r.passed for r in results), [r.line() for r in results]
