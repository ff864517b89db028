"""The ``calibrate`` step: convert every stage, check it for TensorRT, gate it on accuracy, record it.

Writes ``{stage}.fp16.onnx`` or ``{stage}.int8.onnx`` beside the fp32 export,
enters them and the gate's per-stage plan in ``manifest.json`` and saves a
summary, ``calibration.{precision}.json`` (settings, data, per-stage files and
Q/DQ counts, the gate report). int8 falls back to fp16 for stages that fail
its gate, so ``--precision int8`` makes (and gates) the fp16 set first when it
is not there yet.

Data: calibration frames are the ``train`` split of ``--data`` (default: the
synthetic generator in memory, seed 0); the gate scores the held-out ``test``
split (default: synthetic, seed 1), so calibration never sees the gate's frames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from refinet_edge.atomic import write_json
from refinet_edge.errors import RefinetError
from refinet_edge.export.backends import pipeline_from_onnx_dir
from refinet_edge.export.inputs import frames_from, record_stage_inputs
from refinet_edge.export.manifest import (
    artifact_line,
    manifest_view,
    read_manifest,
    record_file,
    stage_file,
    stage_specs,
    write_manifest,
)
from refinet_edge.export.precision import Precision
from refinet_edge.export.trt_check import check_trt_compat

from .convert import check_method, to_fp16, to_int8
from .gate import ScoreCache, run_gate

CALIBRATION_SEED, GATE_SEED = 0, 1
LogFn = Callable[[str], None]
ProgressFn = Callable[[int, int], None]


def _convert_all(onnx_dir: Path, manifest: dict, precision: Precision, convert: Callable, log: LogFn) -> dict:
    files = {}
    for stage in manifest["stages"]:
        src = stage_file(onnx_dir, manifest, stage, Precision.FP32)
        dst = onnx_dir / precision.onnx_name(stage)
        seconds = convert(stage, src, dst)
        report = check_trt_compat(dst)
        report.raise_if_failed()
        record_file(manifest, stage, precision, dst)
        log(artifact_line(f"calibrate {stage} {precision.value}", dst, seconds))
        files[stage] = {"file": dst.name, "seconds": seconds, "qdq_pairs": report.qdq_pairs}
    return files


def _finish(onnx_dir: Path, manifest: dict, precision: Precision, summary: dict, gate: dict) -> dict:
    manifest.setdefault("precision_plan", {})[precision.value] = gate["plan"]
    write_manifest(onnx_dir, manifest)
    summary["gate"] = gate
    write_json(onnx_dir / f"calibration.{precision.value}.json", summary)
    return summary


def calibrate_fp16(onnx_dir: Path, gate_store, log: LogFn = print, cache: ScoreCache | None = None) -> dict:
    manifest = read_manifest(onnx_dir)
    files = _convert_all(onnx_dir, manifest, Precision.FP16, lambda s, a, b: to_fp16(a, b), log)
    gate = run_gate(onnx_dir, manifest, Precision.FP16, gate_store, log, cache)
    summary = {"precision": "fp16", "converter": "onnxruntime.transformers.float16 (keep_io_types)", "stages": files}
    return _finish(onnx_dir, manifest, Precision.FP16, summary, gate)


def calibrate_int8(onnx_dir: Path, calib_store, gate_store, method: str = "minmax", log: LogFn = print,
                   on_progress: ProgressFn | None = None) -> dict:
    check_method(method)
    manifest = read_manifest(onnx_dir)
    cache = ScoreCache(onnx_dir, gate_store)  # the fp32 files and gate frames do not change below
    if "fp16" not in manifest.get("precision_plan", {}):
        log("int8 falls back to fp16 where it fails its gate: making and gating the fp16 set first")
        calibrate_fp16(onnx_dir, gate_store, log, cache)
        manifest = read_manifest(onnx_dir)
    pipeline, _ = pipeline_from_onnx_dir(onnx_dir, "onnxruntime", Precision.FP32)
    names = {s: spec.input_names for s, spec in stage_specs(manifest).items()}
    feeds = record_stage_inputs(pipeline, calib_store, names, seed=CALIBRATION_SEED, on_progress=on_progress)
    files = _convert_all(onnx_dir, manifest, Precision.INT8, lambda s, a, b: to_int8(a, b, feeds[s], method), log)
    for stage, entry in files.items():
        entry["calibration_samples"] = sum(len(next(iter(f.values()))) for f in feeds[stage])
    gate = run_gate(onnx_dir, manifest, Precision.INT8, gate_store, log, cache)
    summary = {"precision": "int8", "method": method, "quantizer": "onnxruntime.quantization.quantize_static "
               "(QDQ, int8 symmetric, per-channel weights, float bias)", "calibration_frames": len(calib_store),
               "calibration_data": calib_store.name, "stages": files}
    return _finish(onnx_dir, manifest, Precision.INT8, summary, gate)


def calibrate(onnx_dir: Path, precision: str, data: Path | None = None, frames: int = 256, gate_frames: int = 600,
              method: str = "minmax", log: LogFn = print, on_progress: ProgressFn | None = None) -> dict:
    """Make and gate the ``precision`` set of ``onnx_dir``; returns the summary (also saved as JSON)."""
    chosen = Precision.parse(precision)
    if chosen is Precision.FP32:
        raise RefinetError("--precision fp32 is what `refinet-edge export` writes; calibrate makes fp16 or int8")
    check_method(method)
    view = manifest_view(read_manifest(onnx_dir))  # fails before loading frames when the directory is wrong
    gate_store = frames_from(data, "test", gate_frames, GATE_SEED, view=view)
    if chosen is Precision.FP16:
        return calibrate_fp16(onnx_dir, gate_store, log)
    calib_store = frames_from(data, "train", frames, CALIBRATION_SEED, view=view)
    return calibrate_int8(onnx_dir, calib_store, gate_store, method, log, on_progress)
