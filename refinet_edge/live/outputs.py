"""What ``live`` writes: the per-frame JSONL record, latency statistics, accuracy against ground truth.

JSONL schema (one line per processed frame; 3D in the camera frame as
librealsense defines it, x right, y down, z forward, metres; ITOP joint order)::

    {"frame": n, "timestamp_ms": t,
     "people": [{"joints_3d_m": [[x, y, z] x 15], "valid": [15 booleans],
                 "joints_2d": [[u, v] x 15], "scores_2d": [15 numbers],
                 "second_pass": [15 booleans], "hidden": [15 booleans]}],
     "latency_ms": {"capture_wait": .., "detect_2d": .., "preprocess": .., "patch": .., "skeleton": ..,
                    "pointcloud": .., "refine": .., "end_to_end": ..},
     "dropped_before": k, "step": "pointcloud"}

``second_pass``: the joints the second pass restarted from the chain's own answer (with ``live --server``, as the
server says; absent where a server of an older version does not). With ``live --server`` the refinement's keys
are ``round_trip`` (request to answer, from this machine) and ``refine`` (the same) instead of ``preprocess`` and
the stages.

``hidden``: the joints the answer places behind the surface the sensor measured at their pixel
(:mod:`refinet_edge.occlusion`): placed from the rest of the body, not seen, and right less often (as body
trackers mark predicted, occluded joints); absent where a server of an older version does not say.

Coordinates that are not finite (a joint the detector missed and no stage
could place) are ``null``. ``joints_3d_m`` is the last step that ran (``step``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import numpy as np

from ..metrics import PoseMetrics, compute_metrics, joint_errors_mm
from .realtime import LiveResult


def _nested(values: np.ndarray, decimals: int) -> list:
    values = np.asarray(values, dtype=np.float64)
    rounded = np.round(values, decimals).astype(object)
    rounded[~np.isfinite(values)] = None
    return rounded.tolist()


def result_record(result: LiveResult) -> dict:
    """The JSONL object for one frame (schema in the module docstring)."""
    refined, dets = result.refined, result.detections
    people = [{"joints_3d_m": _nested(refined.joints_m[p], 5), "valid": refined.valid[p].tolist(),
               "joints_2d": _nested(dets.uv_px[p], 2), "scores_2d": _nested(dets.scores[p], 4)}
              for p in range(dets.count)]
    if refined.second_pass is not None:
        for person, restarted in zip(people, refined.second_pass.tolist(), strict=True):
            person["second_pass"] = restarted
    if refined.hidden is not None:
        for person, hidden in zip(people, refined.hidden.tolist(), strict=True):
            person["hidden"] = hidden
    return {"frame": int(result.frame.number), "timestamp_ms": round(float(result.frame.timestamp_ms), 3),
            "people": people, "latency_ms": {k: round(v, 3) for k, v in result.latency_ms.items()},
            "dropped_before": int(result.dropped_before), "step": refined.final}


class JsonlWriter:
    """Appends one complete line per frame and flushes it, so a reader (or a Ctrl-C) never sees half a line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8")

    def write(self, result: LiveResult) -> None:
        self._file.write(json.dumps(result_record(result), allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class LatencyStats:
    """Per-key latency samples (ms) -> p50/p90/p99."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, latency_ms: dict[str, float]) -> None:
        for key, value in latency_ms.items():
            self.samples.setdefault(key, []).append(value)

    def percentiles(self) -> dict[str, dict[str, float]]:
        return {k: {f"p{q}": float(np.percentile(v, q)) for q in (50, 90, 99)} for k, v in self.samples.items()}


class AccuracyTracker:
    """Every step's joints of the person nearest the ground truth, scored at the end (synthetic sources)."""

    def __init__(self) -> None:
        self.pred: dict[str, list[np.ndarray]] = {}
        self.truth: list[np.ndarray] = []

    def add(self, result: LiveResult) -> None:
        truth = result.frame.truth
        if truth is None:
            return
        steps = result.refined.steps
        final = steps[result.refined.final]
        if len(final):
            errors = np.nan_to_num(joint_errors_mm(final, np.broadcast_to(truth.joints_m, final.shape)), nan=1e9)
            best = int(np.argmin(errors.mean(axis=1)))
        self.truth.append(truth.joints_m)
        for step, joints in steps.items():
            missed = np.full_like(truth.joints_m, np.nan)
            self.pred.setdefault(step, []).append(joints[best] if len(joints) else missed)

    def metrics(self) -> dict[str, PoseMetrics]:
        if not self.truth:
            return {}
        gt = np.stack(self.truth)
        return {step: compute_metrics(np.stack(pred), gt) for step, pred in self.pred.items()}
