"""One runner interface across backends, the comparator, and the pipeline on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.evaluate import score_steps  # noqa: E402
from refinet_edge.export.backends import evaluate_pipeline, make_runner, pipeline_from_onnx_dir  # noqa: E402
from refinet_edge.export.compare import (  # noqa: E402
    TOLERANCES,
    OutputComparison,
    Tolerance,
    compare_arrays,
    compare_backends,
    compare_runners,
)
from refinet_edge.export.inputs import synthetic_frames  # noqa: E402
from refinet_edge.export.manifest import read_manifest  # noqa: E402
from refinet_edge.export.precision import Precision  # noqa: E402
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline  # noqa: E402


def test_compare_arrays_tolerance_and_nan() -> None:
    tol = Tolerance(atol=0.1, rtol=0.0)
    assert compare_arrays(np.array([1.0, 2.0]), np.array([1.05, 2.0]), tol)[2] == pytest.approx(0.5)
    max_abs, mean_abs, ratio = compare_arrays(np.array([1.0, 3.0]), np.array([1.0, 2.0]), tol)
    assert (max_abs, mean_abs, ratio) == (pytest.approx(1.0), pytest.approx(0.5), pytest.approx(10.0))
    assert compare_arrays(np.array([np.nan]), np.array([np.nan]), tol)[2] == 0.0
    assert compare_arrays(np.array([np.nan]), np.array([1.0]), tol)[2] == np.inf
    assert compare_arrays(np.zeros(2), np.zeros(3), tol)[0] == np.inf


def test_torch_and_onnxruntime_runners_agree(onnx_dir: Path) -> None:
    results = compare_backends(onnx_dir, ["torch", "onnxruntime"], Precision.FP32, synthetic_frames(4, seed=3))
    assert [r.stage for r in results] == ["patch", "skeleton", "pointcloud"]
    assert all(r.passed and r.max_abs < 1e-4 for r in results), [r.line() for r in results]
    assert "PASSED" in results[0].line()


def test_comparator_flags_a_difference(onnx_dir: Path) -> None:
    manifest = read_manifest(onnx_dir)
    reference = make_runner("onnxruntime", onnx_dir, manifest, "skeleton", Precision.FP32)
    candidate = make_runner("onnxruntime", onnx_dir, manifest, "skeleton", Precision.FP32)
    original = candidate._infer
    candidate._infer = lambda feed: {"offsets": original(feed)["offsets"] + 5e-4}  # type: ignore[method-assign]
    features = reference.spec.inputs["joints"][-1]  # 3, or 5 with the skeleton's ray features
    feeds = [{"joints": np.random.default_rng(0).normal(size=(6, 15, features)).astype(np.float32)}]
    (result,) = compare_runners(reference, candidate, feeds, TOLERANCES[Precision.FP32])
    assert isinstance(result, OutputComparison) and not result.passed
    assert result.max_abs == pytest.approx(5e-4, rel=1e-3) and "FAILED" in result.line()


def test_runner_lifecycle_and_input_checks(onnx_dir: Path) -> None:
    runner = make_runner("onnxruntime", onnx_dir, read_manifest(onnx_dir), "skeleton", Precision.FP32)
    features = runner.spec.inputs["joints"][-1]
    feed = {"joints": np.zeros((2, 15, features), np.float32)}
    with pytest.raises(RefinetError, match="not active"):
        runner.infer(feed)
    with runner:
        assert runner.infer(feed)["offsets"].shape == (2, 15, 3)
        with pytest.raises(RefinetError, match=f"expected \\(B, 15, {features}\\)"):
            runner.infer({"joints": np.zeros((2, 14, features), np.float32)})
        with pytest.raises(RefinetError, match="expected \\['joints'\\]"):
            runner.infer({"points": np.zeros((2, 15, 3), np.float32)})
    assert not runner.is_active


def test_pipeline_on_onnxruntime_scores_like_torch(onnx_dir: Path) -> None:
    store = synthetic_frames(6, seed=4)
    ort_pipeline, notes = pipeline_from_onnx_dir(onnx_dir, "onnxruntime", "fp32")
    assert notes == []
    ort = score_steps(store, ort_pipeline)
    torch = score_steps(store, RefinementPipeline.from_dir(WEIGHTS_DIR))
    for step in ("input", "patch", "skeleton", "pointcloud"):
        assert ort[step].mpjpe_mm == pytest.approx(torch[step].mpjpe_mm, abs=0.05)


def test_backend_errors(onnx_dir: Path) -> None:
    manifest = read_manifest(onnx_dir)
    with pytest.raises(RefinetError, match="did you mean 'onnxruntime'"):
        make_runner("onnxrt", onnx_dir, manifest, "patch", Precision.FP32)
    with pytest.raises(RefinetError, match="torch backend is the fp32 reference"):
        make_runner("torch", onnx_dir, manifest, "patch", Precision.FP16)
    with pytest.raises(RefinetError, match="add --onnx-dir"):
        evaluate_pipeline("onnxruntime", None, "fp32", "all")
    with pytest.raises(RefinetError, match="unknown stage 'pach'"):
        evaluate_pipeline("onnxruntime", onnx_dir, "fp32", "pach")
    with pytest.raises(RefinetError, match="at least two backends"):
        compare_backends(onnx_dir, ["torch"], Precision.FP32, synthetic_frames(1, seed=0))


def test_compare_follows_the_precision_plan_unless_told_not_to(onnx_dir: Path, tmp_path: Path) -> None:
    """A plan that keeps every stage fp32 at "fp16": compared as fp32 (no fp16 files needed); --no-plan wants them."""
    from fixtures.export import copy_onnx_dir

    from refinet_edge.export.compare import compare_plan
    from refinet_edge.export.manifest import write_manifest

    work = copy_onnx_dir(onnx_dir, tmp_path / "onnx")
    manifest = read_manifest(work)
    manifest["precision_plan"] = {"fp16": {stage: "fp32" for stage in manifest["stages"]}}
    write_manifest(work, manifest)
    planned, notes = compare_plan(manifest, Precision.FP16)
    assert set(planned.values()) == {Precision.FP32} and len(notes) == 3 and "running fp32" in notes[0]
    results = compare_backends(work, ["torch", "onnxruntime"], Precision.FP16, synthetic_frames(2, seed=3))
    assert all(r.passed and r.max_abs < 1e-4 for r in results), [r.line() for r in results]
    assert compare_plan(manifest, Precision.FP16, follow_plan=False) == (
        {stage: Precision.FP16 for stage in manifest["stages"]}, [])
    with pytest.raises(RefinetError, match="fp16"):
        compare_backends(work, ["torch", "onnxruntime"], Precision.FP16, synthetic_frames(2, seed=3),
                         follow_plan=False)
