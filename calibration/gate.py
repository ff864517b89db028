"""Accuracy gate: the full pipeline at a lower precision vs fp32, on held-out frames, under ONNX Runtime.

The score is the last step's accuracy at 10 cm (percent of joints) and MPJPE
on the same frames with the same simulated detector noise. A precision passes
when its accuracy is at most :data:`MAX_DROP_POINTS` below fp32's: 0.1 points
for fp16, 0.5 for int8.

Per stage: each stage is scored at the requested precision with the others at
their fallback (fp32 for an fp16 gate; each stage's fp16-gate choice for int8).
A stage that fails keeps its fallback and the gate says so. The stages that
pass are then scored together; if the combination fails, the stage with the
largest single drop is demoted until it passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from refinet_edge.evaluate import EvalSettings, score_steps
from refinet_edge.export.backends import make_runner
from refinet_edge.export.precision import Precision
from refinet_edge.pipeline import RefinementPipeline, config_from_preprocess

MAX_DROP_POINTS = {Precision.FP16: 0.1, Precision.INT8: 0.5}
DEFAULT_SETTINGS = EvalSettings()  # sigma 5 px detector noise, seed 0: the same noise at every precision
LogFn = Callable[[str], None]


@dataclass(frozen=True)
class Score:
    acc_10cm: float
    mpjpe_mm: float

    def to_dict(self) -> dict:
        return {"acc_10cm": self.acc_10cm, "mpjpe_mm": self.mpjpe_mm}


def score(onnx_dir: Path, manifest: dict, precisions: dict[str, Precision], store,
          settings: EvalSettings = DEFAULT_SETTINGS) -> Score:
    """Last-step accuracy of the ONNX Runtime pipeline with ``precisions`` per stage."""
    runners = {s: make_runner("onnxruntime", onnx_dir, manifest, s, p) for s, p in precisions.items()}
    pre = {s: manifest["stages"][s]["preprocess"] for s in precisions}
    pipeline = RefinementPipeline(runners, config_from_preprocess(pre))
    metrics = score_steps(store, pipeline, settings)[pipeline.steps[-1]]
    return Score(metrics.acc_10cm, metrics.mpjpe_mm)


def fallback_precisions(manifest: dict, precision: Precision, stages: list[str]) -> dict[str, Precision]:
    """What each stage runs when ``precision`` fails: fp32 below fp16, the fp16 plan below int8."""
    if precision is Precision.FP16:
        return {s: Precision.FP32 for s in stages}
    plan = manifest.get("precision_plan", {}).get("fp16", {})
    return {s: Precision.parse(plan.get(s, "fp16"), "precision_plan") for s in stages}


def run_gate(onnx_dir: Path, manifest: dict, precision: Precision, store, log: LogFn = print) -> dict:
    """Score fp32, each stage at ``precision`` and the passing ones together; returns the gate report."""
    stages = list(manifest["stages"])
    limit = MAX_DROP_POINTS[precision]
    base = score(onnx_dir, manifest, {s: Precision.FP32 for s in stages}, store)
    log(f"gate fp32: acc@10cm {base.acc_10cm:.2f} %, MPJPE {base.mpjpe_mm:.1f} mm ({len(store)} frames)")
    fallback = fallback_precisions(manifest, precision, stages)
    singles: dict[str, dict] = {}
    for stage in stages:
        got = score(onnx_dir, manifest, {**fallback, stage: precision}, store)
        drop = base.acc_10cm - got.acc_10cm
        singles[stage] = {**got.to_dict(), "drop_points": drop, "passed": drop <= limit}
        verdict = "ok" if drop <= limit else f"FAILED: {stage} stays {fallback[stage].value}"
        log(f"gate {stage} {precision.value}: acc@10cm {got.acc_10cm:.2f} % ({-drop:+.2f} pt, limit -{limit}), "
            f"MPJPE {got.mpjpe_mm:.1f} mm ({got.mpjpe_mm - base.mpjpe_mm:+.2f}) {verdict}")
    plan = {s: precision if singles[s]["passed"] else fallback[s] for s in stages}
    combined = score(onnx_dir, manifest, plan, store)
    while base.acc_10cm - combined.acc_10cm > limit and any(p is precision for p in plan.values()):
        worst = max((s for s in stages if plan[s] is precision), key=lambda s: singles[s]["drop_points"])
        log(f"gate: together the stages drop {base.acc_10cm - combined.acc_10cm:.2f} pt; {worst} stays "
            f"{fallback[worst].value}")
        plan[worst] = fallback[worst]
        combined = score(onnx_dir, manifest, plan, store)
    log(f"gate plan {precision.value}: " + ", ".join(f"{s} {p.value}" for s, p in plan.items())
        + f" -> acc@10cm {combined.acc_10cm:.2f} % ({combined.acc_10cm - base.acc_10cm:+.2f} pt), "
        f"MPJPE {combined.mpjpe_mm:.1f} mm ({combined.mpjpe_mm - base.mpjpe_mm:+.2f})")
    return {"precision": precision.value, "limit_points": limit, "frames": len(store), "data": store.name,
            "fp32": base.to_dict(), "per_stage": singles, "plan": {s: p.value for s, p in plan.items()},
            "combined": {**combined.to_dict(), "drop_points": base.acc_10cm - combined.acc_10cm}}
