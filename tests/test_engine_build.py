"""Everything around the TensorRT build that needs no TensorRT: settings, profiles, sidecars, plans, errors,
and the runner's host-side rules (rebuild decisions for both flavours, validity diagnostics, cache paths).

TensorRT's calls are type-checked (test_trt_typecheck.py); TensorRT-RTX builds
for real (test_trt_rtx_build.py); running engines is under the ``gpu`` marker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    rebuild_settings,
    write_sidecar,
)
from refinet_edge.export.precision import Precision
from refinet_edge.export.specs import stage_spec
from refinet_edge.export.trt_api import is_installed, parse_runtime, parse_targets
from refinet_edge.export.trt_runner import TrtRunner, engine_max_batch, validity_reasons
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
    assert lines[0] == ("patch: int8 not kept by calibrate's accuracy gate (failed or undecided: "
                        "calibration.int8.json); running fp32")


RTX_HERE = {"flavour": "tensorrt-rtx", "tensorrt": "1.7.1.116", "gpu": "NVIDIA GeForce RTX 4090",
            "compute_capability": "8.9"}


def _rtx_sidecar(targets: list[str]) -> dict:
    return {"flavour": "tensorrt-rtx", "tensorrt": "1.7.1.116", "gpu": None, "compute_capability": None,
            "targets": targets, "onnx_sha256": "aa", "workspace_mb": 512,
            "profile": {"points": {"min": [1, 15, 8, 3], "opt": [2, 15, 8, 3], "max": [8, 15, 8, 3]}}}


def test_rtx_engines_match_on_flavour_version_and_targets() -> None:
    engine = Path("pointcloud.fp16.engine")
    assert mismatches(_rtx_sidecar([]), RTX_HERE) == []  # default portable set covers 8.9; the GPU name is moot
    assert mismatches(_rtx_sidecar(["8.6"]), RTX_HERE) == [
        "compute capability 8.9 (here) not among the engine's targets 8.6"]
    assert mismatches(_rtx_sidecar([]), {**RTX_HERE, "compute_capability": "9.0"}) == [
        "compute capability 9.0 (here) not among the engine's targets 8.0, 8.6, 8.9, 12.0, 12.1"]
    assert mismatches(_rtx_sidecar([]), {**RTX_HERE, "tensorrt": "1.8.0"}) == [
        "TensorRT-RTX 1.7.1.116 (built) vs 1.8.0 (here)"]
    assert mismatches(_rtx_sidecar([]), {**PLATFORM, "flavour": "tensorrt"}) == [
        "flavour tensorrt-rtx (built) vs tensorrt (here)"]
    assert mismatches({**PLATFORM, "flavour": "tensorrt"}, RTX_HERE) == [
        "flavour tensorrt (built) vs tensorrt-rtx (here)"]
    assert needs_rebuild(engine, _rtx_sidecar(["8.6"]), RTX_HERE, "aa", allow=True) is True
    with pytest.raises(RefinetError, match="not among the engine's targets 8.6.*on this machine"):
        needs_rebuild(engine, _rtx_sidecar(["8.6"]), RTX_HERE, "bb", allow=True)


def test_rebuild_settings_keep_the_profile_and_retarget_rtx() -> None:
    same = rebuild_settings(_rtx_sidecar(["8.6", "8.9"]), RTX_HERE)
    assert (same.max_batch, same.opt_batch, same.workspace_mb, same.targets) == (8, 2, 512, ("8.6", "8.9"))
    assert rebuild_settings(_rtx_sidecar(["8.6"]), RTX_HERE).targets == ("8.9",)  # this GPU, named
    assert rebuild_settings(_rtx_sidecar([]), RTX_HERE).targets == ()  # already covered by the portable set
    with pytest.raises(RefinetError, match="no build target for compute capability 9.0.*use TensorRT"):
        rebuild_settings(_rtx_sidecar([]), {**RTX_HERE, "compute_capability": "9.0", "gpu": "NVIDIA H100"})
    trt_side = {**_rtx_sidecar(["8.6"]), "flavour": "tensorrt"}
    assert rebuild_settings(trt_side, {**PLATFORM, "flavour": "tensorrt"}).targets == ()


def test_old_sidecars_read_as_tensorrt(tmp_path: Path) -> None:
    engine = tmp_path / "patch.fp32.engine"
    (tmp_path / "patch.fp32.engine.json").write_text(json.dumps({"schema_version": 1, **PLATFORM}))
    sidecar = read_sidecar(engine)
    assert (sidecar["flavour"], sidecar["targets"]) == ("tensorrt", [])
    assert mismatches(sidecar, {**PLATFORM, "flavour": "tensorrt"}) == []
    (tmp_path / "patch.fp32.engine.json").write_text(json.dumps({"schema_version": 7}))
    with pytest.raises(RefinetError, match="not an engine sidecar"):
        read_sidecar(engine)


def test_engine_validity_reasons_and_runtime_cache_path() -> None:
    members = {"VERSION_MISMATCH": 1, "UNSUPPORTED_CC": 2, "OLD_CUDA_DRIVER": 4}
    assert validity_reasons(1 | 4, members) == ["VERSION_MISMATCH", "OLD_CUDA_DRIVER"]
    assert validity_reasons(0, members) == ["no diagnostics: no usable GPU or driver?"]
    runner = TrtRunner(Path("/e/pointcloud.fp16.engine"), POINTS)
    assert runner.runtime_cache_path == Path("/e/pointcloud.fp16.engine.runtime.cache")


def test_runtime_names_and_targets() -> None:
    assert parse_runtime("RTX") == "tensorrt-rtx" and parse_runtime("tensorrt_rtx") == "tensorrt-rtx"
    with pytest.raises(RefinetError, match="expected one of auto, tensorrt, tensorrt-rtx"):
        parse_runtime("trt")
    assert parse_targets(None, "tensorrt") == () and parse_targets("default", "tensorrt-rtx") == ()
    assert parse_targets("89, sm_120", "tensorrt-rtx") == ("8.9", "12.0")
    with pytest.raises(RefinetError, match="--target 8.7.*Jetson 8.7"):
        parse_targets("8.7", "tensorrt-rtx")


_BLOCK_TENSORRT = (
    "import sys\n"
    "class _Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('tensorrt', 'tensorrt_rtx'):\n"
    "            raise ImportError('blocked by the test')\n"
    "sys.meta_path.insert(0, _Block())\n")


def test_without_tensorrt_build_says_how_to_install(onnx_dir: Path, tmp_path: Path) -> None:
    # CI installs TensorRT-RTX, so neither flavour must be importable for this run: a sitecustomize blocks both.
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(_BLOCK_TENSORRT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(blocker), os.environ.get("PYTHONPATH")]))}
    before = sorted(p.name for p in onnx_dir.iterdir())
    result = subprocess.run([sys.executable, "-m", "refinet_edge.cli", "build", "--onnx-dir", str(onnx_dir),
                             "--precision", "fp32"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    message = " ".join(result.stderr.split())
    for needle in ("TensorRT is not installed", "pip install", "JetPack", "tensorrt-rtx"):
        assert needle in message, message
    assert sorted(p.name for p in onnx_dir.iterdir()) == before  # no engine, no sidecar


@pytest.mark.skipif(is_installed("tensorrt"), reason="TensorRT 10/11 is installed here")
def test_asking_for_a_missing_flavour_says_how_to_install(onnx_dir: Path) -> None:
    from refinet_edge.export.build import build_all

    with pytest.raises(RefinetError, match="tensorrt is not installed: .*pip install 'refinet-edge\\[tensorrt\\]'"):
        build_all(onnx_dir, "fp32", BuildSettings(), runtime="tensorrt")
    with pytest.raises(RefinetError, match="no such engine"):
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


def test_readme_tensorrt_rtx_figures_come_from_the_committed_report() -> None:
    """The README's engine sizes, gate intervals and calibrate time are the committed report's numbers."""
    root = Path(__file__).resolve().parents[1]
    report = json.loads((root / "benchmarks/reports/2026-12-05-cpu-2core-xeon-tensorrt-rtx/engines.json").read_text())
    from fixtures.docs import documented_text

    readme = " ".join(documented_text().split())  # the README and the docs pages
    sizes = {(e["stage"], e["precision"]): e["engine_bytes"] / 1e6 for e in report["engines"]}
    for stage in ("patch", "skeleton", "pointcloud"):
        row = " | ".join(f"{sizes[stage, p]:.2f} MB" for p in ("fp32", "fp16", "int8"))
        assert f"| {stage} | {row} |" in readme, row
    for gate_report in report["calibrate_gates"].values():
        assert gate_report["frames"] == 600 and gate_report["joints"] == 9000
        for stage, entry in gate_report["per_stage"].items():
            low, high = entry["interval95_points"]
            text = (f"{stage} {entry['drop_points']:.2f} [{low:.2f}, {high:.2f}] "
                    f"{entry['lost_joints']}/{entry['gained_joints']}")
            assert text in readme.replace("fp16 patch", "patch").replace("int8 patch", "patch"), text
    seconds = report["calibrate_seconds"]
    assert f"{seconds['user_s']} s user + {seconds['sys_s']} s system CPU, {seconds['wall_s']} s wall" in readme
