"""ONNX export: files, provenance, dynamic batch, atomic writes and the parity gate, with real ORT sessions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from refinet_edge.checkpoint import read_stage_info  # noqa: E402
from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.export import run_export  # noqa: E402
from refinet_edge.export.manifest import read_manifest, sha256_file, stage_specs  # noqa: E402
from refinet_edge.export.onnx_export import check_opset, max_abs_error, read_metadata  # noqa: E402
from refinet_edge.export.runners import OnnxrtRunner, TorchStageRunner  # noqa: E402
from refinet_edge.export.trt_check import check_trt_compat  # noqa: E402
from refinet_edge.pipeline import STAGES, WEIGHTS_DIR  # noqa: E402


def test_one_checked_onnx_per_stage_with_manifest(onnx_dir: Path) -> None:
    manifest = read_manifest(onnx_dir)
    assert list(manifest["stages"]) == list(STAGES)
    assert manifest["opset"] == 17
    for stage in STAGES:
        path = onnx_dir / f"{stage}.onnx"
        entry = manifest["stages"][stage]["files"]["fp32"]
        assert entry == {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        assert check_trt_compat(model).ok
    assert not [p for p in onnx_dir.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_provenance_in_metadata_props(onnx_dir: Path) -> None:
    for stage in STAGES:
        meta = read_metadata(onnx.load(str(onnx_dir / f"{stage}.onnx")))
        info = read_stage_info(WEIGHTS_DIR / f"{stage}.safetensors")
        assert meta["stage"] == stage and meta["precision"] == "fp32" and meta["opset"] == "17"
        assert meta["checkpoint_sha256"] == info.sha256
        assert json.loads(meta["preprocess"]) == info.preprocess
        assert json.loads(meta["model_config"]) == info.model_config.to_dict()
        assert meta["version"]


def test_batch_axis_is_dynamic_and_outputs_match_torch(onnx_dir: Path) -> None:
    specs = stage_specs(read_manifest(onnx_dir))
    rng = np.random.default_rng(0)
    for stage, spec in specs.items():
        graph = onnx.load(str(onnx_dir / f"{stage}.onnx")).graph
        assert all(v.type.tensor_type.shape.dim[0].dim_param == "batch" for v in [*graph.input, *graph.output])
        torch_runner = TorchStageRunner(WEIGHTS_DIR / f"{stage}.safetensors")
        with OnnxrtRunner(onnx_dir / f"{stage}.onnx", spec) as ort_runner, torch_runner:
            for batch in (1, 5):
                feed = {n: rng.normal(size=(batch, *s)).astype(np.float32) for n, s in spec.inputs.items()}
                if stage == "pointcloud":
                    feed["counts"] = rng.integers(0, 129, size=(batch, 15)).astype(np.float32)
                out = ort_runner.infer(feed)["offsets"]
                assert out.shape == (batch, *spec.outputs["offsets"])
                assert max_abs_error(out, torch_runner.infer(feed)["offsets"]) < 1e-4
            assert ort_runner.last_inference_time() is not None


def test_parity_recorded_within_tolerance(onnx_dir: Path) -> None:
    parity = read_manifest(onnx_dir)["parity"]
    assert set(parity) == set(STAGES)
    for entry in parity.values():
        assert 0 <= entry["max_abs_error"] <= entry["tolerance"] == run_export.PARITY_TOLERANCE
        assert entry["samples"] > 0


def test_parity_gate_fails_loudly_without_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from refinet_edge.export.inputs import synthetic_frames

    def broken(exported, pipeline, store):
        return [run_export.ParityResult(s, 3e-3, 4) for s in exported]

    monkeypatch.setattr(run_export, "parity_check", broken)
    lines: list[str] = []
    with pytest.raises(RefinetError, match="parity gate failed for patch, skeleton, pointcloud"):
        run_export.export_all(None, tmp_path / "out", synthetic_frames(2, seed=1), log=lines.append)
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert any("FAILED" in line for line in lines)


def test_parity_check_sees_a_wrong_runner(onnx_dir: Path) -> None:
    """The real parity check (ORT vs a torch runner whose output is off by 1e-3) reports the difference."""
    from refinet_edge.export.inputs import synthetic_frames
    from refinet_edge.export.onnx_export import ExportedStage
    from refinet_edge.pipeline import RefinementPipeline

    pipeline = RefinementPipeline.from_dir(WEIGHTS_DIR, stages=("skeleton",))
    good = pipeline.runners["skeleton"]
    pipeline.runners["skeleton"] = lambda x: good(x) + 1e-3
    spec = stage_specs(read_manifest(onnx_dir))["skeleton"]
    item = ExportedStage("skeleton", onnx_dir / "skeleton.onnx", spec, {}, "", 0.0)
    (result,) = run_export.parity_check({"skeleton": item}, pipeline, synthetic_frames(3, seed=2))
    assert not result.passed and result.max_abs_error == pytest.approx(1e-3, rel=1e-2)


def test_bad_requests_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(RefinetError, match="--opset must be between 13 and 20"):
        check_opset(11)
    with pytest.raises(RefinetError, match="no manifest.json"):
        read_manifest(tmp_path)
    with pytest.raises(RefinetError, match="no \\{patch,skeleton,pointcloud\\}.safetensors"):
        run_export.checkpoint_paths(tmp_path)
