"""The ``build`` step: one TensorRT engine per stage from the ONNX of the requested precision.

Everything is checked before TensorRT is touched (precision, batch and
workspace settings, the manifest and the ONNX files), so a bad request fails
the same way on a laptop as on a Jetson; then :func:`~.trt_build.require_tensorrt`
says how to install TensorRT when it is missing. With ``int8``, stages whose
int8 graph failed calibrate's accuracy gate are built from their fallback
precision and the log says so.
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
              log: LogFn = print) -> list[dict]:
    """Build every stage's engine; returns their sidecars."""
    from .trt_build import build_engine, require_tensorrt

    jobs = plan_builds(onnx_dir, precision, out_dir, log)
    version = require_tensorrt()
    log(f"TensorRT {version}: building {len(jobs)} engine(s), strongly typed, batch 1..{settings.max_batch} "
        f"(tuned for {settings.opt_batch}), workspace {settings.workspace_mb} MB")
    specs = stage_specs(read_manifest(onnx_dir))
    sidecars = []
    for job in jobs:
        start = time.perf_counter()
        log(f"build {job.stage} {job.precision.value} from {job.onnx_path.name} ...")
        sidecars.append(build_engine(job.onnx_path, job.engine_path, specs[job.stage], job.precision.value,
                                     settings, log))
        log(artifact_line(f"build {job.stage} {job.precision.value}", job.engine_path, time.perf_counter() - start))
    return sidecars
