"""The ``build`` step: one TensorRT engine per stage from the ONNX of the requested precision.

Everything is checked before TensorRT is touched (precision, batch and
workspace settings, the manifest and the ONNX files), so a bad request fails
the same way on a laptop as on a Jetson; then :func:`~.trt_api.load`
says how to install TensorRT when it is missing. With ``int8``, stages whose
int8 graph failed calibrate's accuracy gate are built from their fallback
precision and the log says so. ``runtime`` picks the TensorRT flavour
(:mod:`.trt_api`: ``auto``, ``tensorrt`` or ``tensorrt-rtx``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .backends import stage_precisions
from .engine_info import BuildSettings
from .manifest import artifact_line, read_manifest, stage_file, stage_specs
from .precision import Precision

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class BuildJob:
    stage: str
    precision: Precision
    onnx_path: Path
    engine_path: Path


def plan_builds(onnx_dir: Path, precision: str | Precision, out_dir: Path | None = None,
                log: LogFn = print) -> list[BuildJob]:
    """What ``build`` will make: per stage, its precision, source ONNX and engine path (no TensorRT needed)."""
    manifest = read_manifest(onnx_dir)
    chosen, notes = stage_precisions(manifest, Precision.parse(precision), tuple(manifest["stages"]))
    for note in notes:
        log(note)
    target = out_dir or onnx_dir
    return [BuildJob(stage, p, stage_file(onnx_dir, manifest, stage, p), target / p.engine_name(stage))
            for stage, p in chosen.items()]


def build_all(onnx_dir: Path, precision: str | Precision, settings: BuildSettings, out_dir: Path | None = None,
              log: LogFn = print, runtime: str = "auto") -> list[dict]:
    """Build every stage's engine with the TensorRT flavour ``runtime`` picks; returns their sidecars."""
    from .trt_api import load, parse_runtime
    from .trt_build import build_plan

    parse_runtime(runtime)
    jobs = plan_builds(onnx_dir, precision, out_dir, log)
    api = load(runtime)
    where = (f"targets {', '.join(settings.targets) or 'default (portable, no GPU needed)'}" if api.rtx
             else "for this GPU")
    log(f"{api.label}: building {len(jobs)} engine(s), strongly typed, {where}, batch 1..{settings.max_batch} "
        f"(tuned for {settings.opt_batch}), workspace {settings.workspace_mb} MB")
    specs = stage_specs(read_manifest(onnx_dir))
    built = []
    for job in jobs:  # every engine is built in memory first: a failing stage leaves no engine behind
        start = time.perf_counter()
        log(f"build {job.stage} {job.precision.value} from {job.onnx_path.name} ...")
        built.append((job, build_plan(job.onnx_path, job.engine_path, specs[job.stage], job.precision.value,
                                      settings, log, api), time.perf_counter() - start))
    sidecars = []
    for job, engine, seconds in built:
        sidecars.append(engine.write())
        log(artifact_line(f"build {job.stage} {job.precision.value}", job.engine_path, seconds))
    return sidecars
