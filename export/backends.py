"""Backends by name: a runner per stage, and a whole pipeline on one backend and precision.

=============  ==========================  =====================================
backend        runs                        precisions
=============  ==========================  =====================================
torch          ``{stage}.safetensors``     fp32 (the reference)
onnxruntime    ``{stage}[.fp16|.int8].onnx``  fp32, fp16, int8 (CPU)
tensorrt       ``{stage}.{precision}.engine``  fp32, fp16, int8 (GPU; ``build`` first)
=============  ==========================  =====================================

Stages that failed calibrate's accuracy gate at the requested precision
(``precision_plan`` in the manifest) run at the precision the plan gives them,
and a note says so.
"""

from __future__ import annotations

from pathlib import Path

from refinet_edge.errors import RefinetError, did_you_mean
from refinet_edge.pipeline import STAGES, RefinementPipeline, config_from_preprocess

from .manifest import read_manifest, sha256_file, stage_file, stage_specs
from .precision import Precision
from .runners import OnnxrtRunner, StageRunner, TorchStageRunner

BACKENDS = ("torch", "onnxruntime", "tensorrt")


def parse_backend(name: str) -> str:
    if name not in BACKENDS:
        raise RefinetError(f"unknown backend {name!r}; backends are {', '.join(BACKENDS)}"
                           f"{did_you_mean(name, BACKENDS)}")
    return name


def stage_precisions(manifest: dict, precision: Precision, stages: tuple[str, ...]) -> tuple[dict, list[str]]:
    """Per stage, the precision to run, and notes where calibrate's accuracy gate lowered the request."""
    plan = manifest.get("precision_plan", {}).get(precision.value, {})
    chosen, notes = {}, []
    for stage in stages:
        chosen[stage] = Precision.parse(plan.get(stage, precision.value), "precision_plan")
        if chosen[stage] is not precision:
            notes.append(f"{stage}: {precision.value} not kept by calibrate's accuracy gate (failed or undecided: "
                         f"calibration.{precision.value}.json); running {chosen[stage].value}")
    return chosen, notes


def torch_checkpoint(manifest: dict, stage: str, checkpoints: Path | None) -> Path:
    """The checkpoint an export came from (checked by hash), or ``checkpoints/{stage}.safetensors``."""
    directory = Path(checkpoints or manifest.get("checkpoints", ""))
    path = directory / f"{stage}.safetensors"
    if not path.is_file():
        raise RefinetError(f"{path}: not found; pass --checkpoints DIR with the checkpoints the ONNX was exported from")
    expected = manifest["stages"][stage].get("checkpoint_sha256")
    if expected and sha256_file(path) != expected:
        raise RefinetError(f"{path}: sha256 differs from the checkpoint the ONNX was exported from "
                           f"({expected[:12]}...); pass --checkpoints with the original or re-export")
    return path


def make_runner(backend: str, onnx_dir: Path, manifest: dict, stage: str, precision: Precision,
                checkpoints: Path | None = None) -> StageRunner:
    """The runner of ``stage`` on ``backend`` at ``precision``."""
    backend = parse_backend(backend)
    if backend == "torch":
        if precision is not Precision.FP32:
            raise RefinetError(f"the torch backend is the fp32 reference; for {precision.value} use onnxruntime "
                               f"or tensorrt")
        return TorchStageRunner(torch_checkpoint(manifest, stage, checkpoints))
    spec = stage_specs(manifest)[stage]
    if backend == "onnxruntime":
        return OnnxrtRunner(stage_file(onnx_dir, manifest, stage, precision), spec)
    from .trt_runner import TrtRunner

    return TrtRunner(Path(onnx_dir) / precision.engine_name(stage), spec)


def pipeline_from_onnx_dir(onnx_dir: str | Path, backend: str = "onnxruntime", precision: str | Precision = "fp32",
                           stages: tuple[str, ...] = STAGES, checkpoints: Path | None = None
                           ) -> tuple[RefinementPipeline, list[str]]:
    """A :class:`RefinementPipeline` whose stages run on ``backend``; also the notes to show the user."""
    onnx_dir = Path(onnx_dir)
    manifest = read_manifest(onnx_dir)
    wanted = tuple(s for s in stages if s in manifest["stages"])
    if not wanted:
        raise RefinetError(f"{onnx_dir}: the manifest holds none of the stages {', '.join(stages)}")
    chosen, notes = stage_precisions(manifest, Precision.parse(precision), wanted)
    runners = {s: make_runner(backend, onnx_dir, manifest, s, chosen[s], checkpoints) for s in wanted}
    pre = {s: manifest["stages"][s]["preprocess"] for s in wanted}
    pipeline = RefinementPipeline(runners, config_from_preprocess(pre))
    return pipeline, notes


def evaluate_pipeline(backend: str, onnx_dir: Path | None, precision: str, stages: str,
                      checkpoints: Path | None = None) -> tuple[RefinementPipeline, dict, list[str]]:
    """``evaluate --backend/--onnx-dir/--precision``: the pipeline, its report entry per stage, notes."""
    backend = parse_backend(backend)
    if onnx_dir is None:
        raise RefinetError(f"--backend {backend} --precision {precision} runs exported stages: add --onnx-dir DIR "
                           f"(made by `refinet-edge export`)")
    wanted = STAGES if stages == "all" else tuple(s.strip() for s in stages.split(","))
    for stage in wanted:
        if stage not in STAGES:
            raise RefinetError(f"--stages: unknown stage {stage!r}; valid: all or some of {', '.join(STAGES)}")
    pipeline, notes = pipeline_from_onnx_dir(onnx_dir, backend, precision, wanted, checkpoints)
    info = {s: {"backend": backend, "runner": getattr(r, "name", "?")} for s, r in pipeline.runners.items()}
    return pipeline, info, notes
