"""The ``export`` step end to end: ONNX per stage, TensorRT check, parity gate, manifest.

Parity gate: every stage's ONNX under ONNX Runtime (CPU) against the same
checkpoint under PyTorch, on the inputs the stage really meets (recorded from
the fp32 pipeline on real frames, :mod:`.inputs`). The largest absolute
difference of any output must stay within :data:`PARITY_TOLERANCE`; otherwise
the export fails and no manifest is written (the ONNX files stay for
inspection, but no later command accepts the directory).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from refinet_edge.errors import RefinetError
from refinet_edge.pipeline import STAGES, WEIGHTS_DIR, RefinementPipeline

from .inputs import concat_feeds, record_stage_inputs
from .manifest import artifact_line, new_manifest, record_file, write_manifest
from .onnx_export import DEFAULT_OPSET, ExportedStage, export_stage, max_abs_error
from .precision import Precision
from .runners import OnnxrtRunner
from .specs import spec_to_dict
from .trt_check import check_trt_compat

PARITY_TOLERANCE = 1e-4  # max abs error, ORT CPU fp32 vs PyTorch CPU fp32, in each stage's output units
LogFn = Callable[[str], None]


@dataclass(frozen=True)
class ParityResult:
    stage: str
    max_abs_error: float
    samples: int
    tolerance: float = PARITY_TOLERANCE

    @property
    def passed(self) -> bool:
        return self.max_abs_error <= self.tolerance

    def line(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return (f"parity {self.stage}: onnxruntime vs torch max abs error {self.max_abs_error:.2e} over "
                f"{self.samples} samples (tolerance {self.tolerance:.0e}) {verdict}")


def checkpoint_paths(checkpoints: Path | None) -> dict[str, Path]:
    directory = Path(checkpoints) if checkpoints is not None else WEIGHTS_DIR
    if not directory.is_dir():
        raise RefinetError(f"--checkpoints {directory}: not a directory")
    found = {s: directory / f"{s}.safetensors" for s in STAGES if (directory / f"{s}.safetensors").is_file()}
    if not found:
        raise RefinetError(f"{directory}: no {{patch,skeleton,pointcloud}}.safetensors to export")
    return found


def parity_check(exported: dict[str, ExportedStage], pipeline: RefinementPipeline, store) -> list[ParityResult]:
    """ORT vs PyTorch on each stage's recorded real inputs."""
    names = {s: e.spec.input_names for s, e in exported.items()}
    recorded = record_stage_inputs(pipeline, store, names)
    results = []
    for stage, item in exported.items():
        feed = concat_feeds(recorded[stage])
        torch_out = pipeline.runners[stage](*feed.values())
        with OnnxrtRunner(item.path, item.spec) as runner:
            ort_out = runner.infer(feed)[item.spec.output_names[0]]
        results.append(ParityResult(stage, max_abs_error(ort_out, torch_out), len(torch_out)))
    return results


def export_all(checkpoints: Path | None, out_dir: Path, store, opset: int = DEFAULT_OPSET,
               log: LogFn = print, view: str = "side") -> dict:
    """Export every stage found, check it, gate on parity and write the manifest (``view``: the camera view the
    weights are for, which ``calibrate`` and ``compare`` take their frames from); returns the manifest."""
    paths = checkpoint_paths(checkpoints)
    out_dir.mkdir(parents=True, exist_ok=True)
    exported: dict[str, ExportedStage] = {}
    for stage, path in paths.items():
        item = export_stage(path, out_dir, opset)
        check_trt_compat(item.path).raise_if_failed()
        log(artifact_line(f"export {stage} fp32 (opset {opset})", item.path, item.seconds))
        exported[stage] = item
    pipeline = RefinementPipeline.from_dir(paths[next(iter(paths))].parent, stages=tuple(paths))
    results = parity_check(exported, pipeline, store)
    for result in results:
        log(result.line())
    failed = [r for r in results if not r.passed]
    if failed:
        raise RefinetError(f"parity gate failed for {', '.join(r.stage for r in failed)} (max abs error "
                           f"{max(r.max_abs_error for r in failed):.2e} > {PARITY_TOLERANCE:.0e}); no manifest "
                           f"written, ONNX files left in {out_dir} for inspection")
    manifest = new_manifest(opset, str(paths[next(iter(paths))].parent.resolve()))
    manifest["parity_data"] = store.name
    manifest["view"] = view
    for stage, item in exported.items():
        manifest["stages"][stage] = {"spec": spec_to_dict(item.spec), "preprocess": item.preprocess,
                                     "checkpoint_sha256": item.checkpoint_sha256}
        record_file(manifest, stage, Precision.FP32, item.path)
    manifest["parity"] = {r.stage: {"max_abs_error": r.max_abs_error, "tolerance": r.tolerance,
                                    "samples": r.samples} for r in results}
    write_manifest(out_dir, manifest)
    return manifest
