"""Compare two runners of a stage on the same real inputs, with a tolerance per precision (Polygraphy style).

An output passes when every element satisfies ``|a - b| <= atol + rtol * |b|``
(``b`` = the reference, the first backend given; NaN must match NaN). The
tolerances are per precision of the *candidate* and in each stage's output
units (patch cells; skeleton metres; pointcloud half-cube units), chosen from
the errors measured on the synthetic set (README, "Export and engines"):

=========  =======  =======
precision  atol     rtol
=========  =======  =======
fp32       1e-4     1e-4
fp16       2e-2     1e-2
int8       5e-1     1e-1
=========  =======  =======

int8 against the fp32 reference measures quantisation error more than backend
agreement; the accuracy gate (:mod:`refinet_edge.calibration.gate`) is what
decides whether int8 is worth it. onnxruntime vs tensorrt on the same Q/DQ
graph is not measured yet (no TensorRT on the development machines).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backends import make_runner, stage_precisions
from .inputs import record_stage_inputs
from .manifest import read_manifest, stage_specs
from .precision import Precision
from .runners import Feed, StageRunner


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float


TOLERANCES = {Precision.FP32: Tolerance(1e-4, 1e-4), Precision.FP16: Tolerance(2e-2, 1e-2),
              Precision.INT8: Tolerance(5e-1, 1e-1)}


@dataclass(frozen=True)
class OutputComparison:
    stage: str
    output: str
    reference: str
    candidate: str
    max_abs: float
    mean_abs: float
    worst_ratio: float  # max over elements of |a - b| / (atol + rtol |b|); <= 1 passes
    tolerance: Tolerance

    @property
    def passed(self) -> bool:
        return self.worst_ratio <= 1.0

    def line(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        return (f"{self.stage}.{self.output}: {self.candidate} vs {self.reference}: max abs {self.max_abs:.3e}, "
                f"mean abs {self.mean_abs:.3e} (atol {self.tolerance.atol:g}, rtol {self.tolerance.rtol:g}) {verdict}")


def compare_arrays(a: np.ndarray, b: np.ndarray, tol: Tolerance) -> tuple[float, float, float]:
    """``(max abs, mean abs, worst ratio)`` of candidate ``a`` against reference ``b``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf"), float("inf"), float("inf")
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan, 0.0, np.abs(a - b))
    diff = np.nan_to_num(diff, nan=np.inf)
    ratio = diff / (tol.atol + tol.rtol * np.abs(np.nan_to_num(b)))
    return float(diff.max(initial=0.0)), float(diff.mean()) if diff.size else 0.0, float(ratio.max(initial=0.0))


def compare_runners(reference: StageRunner, candidate: StageRunner, feeds: list[Feed],
                    tolerance: Tolerance) -> list[OutputComparison]:
    """Run both on every feed and compare each output over all samples."""
    outs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {n: [] for n in reference.spec.output_names}
    with reference, candidate:
        for feed in feeds:
            ref, cand = reference.infer(feed), candidate.infer(feed)
            for name in outs:
                outs[name].append((cand[name], ref[name]))
    results = []
    for name, pairs in outs.items():
        a = np.concatenate([p[0] for p in pairs])
        b = np.concatenate([p[1] for p in pairs])
        results.append(OutputComparison(reference.spec.stage, name, reference.backend, candidate.backend,
                                        *compare_arrays(a, b, tolerance), tolerance))
    return results


def compare_backends(onnx_dir: Path, backends: list[str], precision: Precision, store,
                     checkpoints: Path | None = None, follow_plan: bool = True) -> list[OutputComparison]:
    """Each stage on every backend vs the first backend, on inputs recorded from the fp32 ORT pipeline.

    With ``follow_plan`` (the default, as ``evaluate``, ``build`` and ``live``)
    a stage that failed calibrate's accuracy gate at ``precision`` is compared
    at the precision the manifest's ``precision_plan`` runs it at, with that
    precision's tolerance (:func:`compare_plan` says which); without, every
    stage's ``precision`` file is compared.
    """
    from .backends import pipeline_from_onnx_dir

    if len(backends) < 2:
        from refinet_edge.errors import RefinetError

        raise RefinetError(f"--backends needs at least two backends to compare, got {','.join(backends)}")
    manifest = read_manifest(onnx_dir)
    planned = compare_plan(manifest, precision, follow_plan)[0]
    pipeline, _ = pipeline_from_onnx_dir(onnx_dir, "onnxruntime", Precision.FP32)
    feeds = record_stage_inputs(pipeline, store, {s: sp.input_names for s, sp in stage_specs(manifest).items()})
    results = []
    for stage in manifest["stages"]:
        chosen = planned[stage]
        reference = make_runner(backends[0], onnx_dir, manifest, stage, _precision_for(backends[0], chosen),
                                checkpoints)
        for backend in backends[1:]:
            candidate = make_runner(backend, onnx_dir, manifest, stage, _precision_for(backend, chosen),
                                    checkpoints)
            results += compare_runners(reference, candidate, feeds[stage], TOLERANCES[chosen])
    return results


def compare_plan(manifest: dict, precision: Precision, follow_plan: bool = True) -> tuple[dict, list[str]]:
    """Per stage, the precision :func:`compare_backends` compares, and notes where the plan lowered it."""
    stages = tuple(manifest["stages"])
    if not follow_plan:
        return {stage: precision for stage in stages}, []
    return stage_precisions(manifest, precision, stages)


def _precision_for(backend: str, precision: Precision) -> Precision:
    """torch is the fp32 reference whatever the compared precision."""
    return Precision.FP32 if backend == "torch" else precision
