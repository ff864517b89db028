"""Accuracy gate: the full pipeline at a lower precision vs fp32, on held-out frames, under ONNX Runtime.

The score is the last step's accuracy at 10 cm (percent of joints) and MPJPE
on the same frames with the same simulated detector noise. The comparison is
paired: every joint of every frame is scored at both precisions, and only the
joints whose correctness flips count (``lost``: right in fp32, wrong in the
candidate; ``gained``: the reverse). The drop in accuracy is
``(lost - gained) / joints`` and its 95 % interval comes from the per-frame
differences (frames are the independent unit: a frame's joints share its
noise): ``drop +-`` the larger of ``t * se_frames``, the frame-clustered
standard error ``sd(per-frame lost - gained) * sqrt(frames) / joints`` times
Student's 95 % quantile with ``frames - 1`` degrees of freedom (2.36 for 8
frames, 1.96 for many: a standard deviation from few frames is itself
uncertain), and ``1.96 * se_joints``, the unclustered one with one pseudo-flip,
``sqrt(lost + gained + 1) / joints`` (so that a sample in which nothing
flipped still has an interval of the width its size allows). A precision passes when the whole interval is
at most :data:`MAX_DROP_POINTS` (0.1 points for fp16, 0.5 for int8); when the
interval straddles the limit the gate is undecided, the stage keeps its
fallback and the log asks for more ``--gate-frames``.

Per stage: each stage is scored at the requested precision with the others at
their fallback (fp32 for an fp16 gate; each stage's fp16-gate choice for int8).
A stage that fails keeps its fallback and the gate says so. The stages that
pass are then scored together; if the combination fails, the stage with the
largest single drop is demoted until it passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refinet_edge.evaluate import EvalSettings, predict_steps
from refinet_edge.export.backends import make_runner
from refinet_edge.export.precision import Precision
from refinet_edge.pipeline import RefinementPipeline, config_from_preprocess

MAX_DROP_POINTS = {Precision.FP16: 0.1, Precision.INT8: 0.5}
DEFAULT_SETTINGS = EvalSettings()  # sigma 5 px detector noise, seed 0: the same noise at every precision
LogFn = Callable[[str], None]
Z95 = 1.959964  # two-sided 95 % normal quantile


def t95(df: int) -> float:
    """Student's two-sided 95 % quantile for ``df`` degrees of freedom (inf below 1): the published values up to
    df = 6, beyond them the Cornish-Fisher series in ``1/df`` around :data:`Z95` (within 0.001 of the exact
    value from df = 7)."""
    if df < 1:
        return math.inf
    if df <= 6:
        return (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912)[df - 1]
    z = Z95
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


@dataclass(frozen=True)
class Score:
    """Last-step accuracy at 10 cm (percent), MPJPE (mm) and ``hits (frames, 15)``: joint within 10 cm."""

    acc_10cm: float
    mpjpe_mm: float
    hits: np.ndarray

    def to_dict(self) -> dict:
        return {"acc_10cm": self.acc_10cm, "mpjpe_mm": self.mpjpe_mm}


@dataclass(frozen=True)
class PairedDrop:
    """fp32's accuracy minus the candidate's on the same joints, points, with its 95 % interval."""

    drop_points: float
    low_points: float
    high_points: float
    lost: int  # joints right in fp32, wrong in the candidate
    gained: int  # joints wrong in fp32, right in the candidate
    joints: int

    def verdict(self, limit: float) -> str:
        """``pass`` (interval at most ``limit``), ``fail`` (interval above it) or ``undecided``."""
        if self.high_points <= limit:
            return "pass"
        return "fail" if self.low_points > limit else "undecided"

    def to_dict(self) -> dict:
        return {"drop_points": self.drop_points, "interval95_points": [self.low_points, self.high_points],
                "lost_joints": self.lost, "gained_joints": self.gained, "joints": self.joints}


def paired_drop(base_hits: np.ndarray, cand_hits: np.ndarray) -> PairedDrop:
    """The paired accuracy drop from per-joint hits ``(frames, joints)`` of fp32 and the candidate."""
    if base_hits.shape != cand_hits.shape or base_hits.ndim != 2:
        raise ValueError(f"hits must share a (frames, joints) shape, got {base_hits.shape} and {cand_hits.shape}")
    frames, per_frame = base_hits.shape
    joints = frames * per_frame
    lost = (base_hits & ~cand_hits).sum(axis=1)
    gained = (~base_hits & cand_hits).sum(axis=1)
    diff = (lost - gained).astype(np.float64)  # per frame
    drop = 100.0 * diff.sum() / joints
    clustered = t95(frames - 1) * diff.std(ddof=1) * math.sqrt(frames) / joints if frames > 1 else math.inf
    unclustered = Z95 * math.sqrt(int(lost.sum()) + int(gained.sum()) + 1) / joints
    half = 100.0 * max(clustered, unclustered)
    return PairedDrop(float(drop), float(drop - half), float(drop + half), int(lost.sum()), int(gained.sum()),
                      joints)


def score(onnx_dir: Path, manifest: dict, precisions: dict[str, Precision], store,
          settings: EvalSettings = DEFAULT_SETTINGS) -> Score:
    """Last-step accuracy of the ONNX Runtime pipeline with ``precisions`` per stage, joint by joint."""
    from refinet_edge.metrics import joint_errors_mm

    runners = {s: make_runner("onnxruntime", onnx_dir, manifest, s, p) for s, p in precisions.items()}
    pre = {s: manifest["stages"][s]["preprocess"] for s in precisions}
    pipeline = RefinementPipeline(runners, config_from_preprocess(pre))
    joints_m = predict_steps(store, pipeline, settings)[pipeline.steps[-1]]
    errors_mm = joint_errors_mm(joints_m, store.joints_m)  # a missing joint is inf: a miss
    hits = errors_mm < 100.0
    finite = errors_mm[np.isfinite(errors_mm)]
    return Score(float(100.0 * hits.mean()), float(finite.mean()) if finite.size else math.inf, hits)


def fallback_precisions(manifest: dict, precision: Precision, stages: list[str]) -> dict[str, Precision]:
    """What each stage runs when ``precision`` fails: fp32 below fp16, the fp16 plan below int8."""
    if precision is Precision.FP16:
        return {s: Precision.FP32 for s in stages}
    plan = manifest.get("precision_plan", {}).get("fp16", {})
    return {s: Precision.parse(plan.get(s, "fp16"), "precision_plan") for s in stages}


def _interval(drop: PairedDrop) -> str:
    return (f"{-drop.drop_points:+.2f} pt, 95 % [{-drop.high_points:+.2f}, {-drop.low_points:+.2f}], "
            f"{drop.lost} joints lost, {drop.gained} gained")


class ScoreCache:
    """Scores by per-stage precision plan, for one set of files and frames (the fp16 and int8 gates of one
    ``calibrate`` share fp32's, and a combined plan equal to a single one is not run twice)."""

    def __init__(self, onnx_dir: Path, store) -> None:
        self.onnx_dir, self.store = onnx_dir, store
        self.scores: dict[tuple, Score] = {}

    def __call__(self, manifest: dict, precisions: dict[str, Precision]) -> Score:
        """``manifest``: the current one (calibrate adds files to it; a file, once written, does not change)."""
        key = tuple(sorted((s, p.value) for s, p in precisions.items()))
        if key not in self.scores:
            self.scores[key] = score(self.onnx_dir, manifest, precisions, self.store)
        return self.scores[key]


def run_gate(onnx_dir: Path, manifest: dict, precision: Precision, store, log: LogFn = print,
             cache: ScoreCache | None = None) -> dict:
    """Score fp32, each stage at ``precision`` and the passing ones together, paired; returns the gate report.
    ``cache``: scores already made on the same files and ``store`` (default: a new one)."""
    stages = list(manifest["stages"])
    limit = MAX_DROP_POINTS[precision]
    scores = cache or ScoreCache(onnx_dir, store)
    base = scores(manifest, {s: Precision.FP32 for s in stages})
    log(f"gate fp32: acc@10cm {base.acc_10cm:.2f} %, MPJPE {base.mpjpe_mm:.1f} mm ({len(store)} frames, "
        f"{base.hits.size} joints)")
    fallback = fallback_precisions(manifest, precision, stages)
    singles: dict[str, dict] = {}
    for stage in stages:
        got = scores(manifest, {**fallback, stage: precision})
        drop = paired_drop(base.hits, got.hits)
        verdict = drop.verdict(limit)
        singles[stage] = {**got.to_dict(), **drop.to_dict(), "verdict": verdict, "passed": verdict == "pass"}
        note = {"pass": "ok", "fail": f"FAILED: {stage} stays {fallback[stage].value}",
                "undecided": f"UNDECIDED (the interval holds the limit; more --gate-frames): {stage} stays "
                             f"{fallback[stage].value}"}[verdict]
        log(f"gate {stage} {precision.value}: acc@10cm {got.acc_10cm:.2f} % ({_interval(drop)}; limit -{limit}), "
            f"MPJPE {got.mpjpe_mm:.1f} mm ({got.mpjpe_mm - base.mpjpe_mm:+.2f}) {note}")
    plan = {s: precision if singles[s]["passed"] else fallback[s] for s in stages}
    combined = scores(manifest, plan)
    together = paired_drop(base.hits, combined.hits)
    while together.verdict(limit) != "pass" and any(p is precision for p in plan.values()):
        worst = max((s for s in stages if plan[s] is precision), key=lambda s: singles[s]["drop_points"])
        log(f"gate: together the stages drop {_interval(together)}; {worst} stays {fallback[worst].value}")
        plan[worst] = fallback[worst]
        combined = scores(manifest, plan)
        together = paired_drop(base.hits, combined.hits)
    log(f"gate plan {precision.value}: " + ", ".join(f"{s} {p.value}" for s, p in plan.items())
        + f" -> acc@10cm {combined.acc_10cm:.2f} % ({_interval(together)}), "
        f"MPJPE {combined.mpjpe_mm:.1f} mm ({combined.mpjpe_mm - base.mpjpe_mm:+.2f})")
    return {"precision": precision.value, "limit_points": limit, "frames": len(store), "data": store.name,
            "joints": int(base.hits.size), "paired": True, "fp32": base.to_dict(), "per_stage": singles,
            "plan": {s: p.value for s, p in plan.items()}, "combined": {**combined.to_dict(), **together.to_dict()}}
