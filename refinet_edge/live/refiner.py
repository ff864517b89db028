"""Refine one frame's detections and time every step of it.

``latency_ms`` keys (milliseconds, per frame):

* ``capture_wait``: how long the capture thread waited for the source's frame;
* ``detect_2d``: the 2D front end;
* ``preprocess``: lifting, patches, points and stage input/output coding (all CPU);
* ``patch``, ``skeleton``, ``pointcloud``: each stage's network call;
* ``refine``: preprocess + stages;
* ``end_to_end``: from the frame's arrival to its result (includes waiting in the hand-over slots).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np

from ..pipeline import RefinementPipeline
from .detectors import Detections
from .frames import RGBDFrame


class _TimedRunner:
    def __init__(self, runner, timings: dict[str, float], name: str) -> None:
        self.runner, self.timings, self.name = runner, timings, name

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        try:
            return self.runner(*inputs)
        finally:
            self.timings[self.name] = self.timings.get(self.name, 0.0) + (time.perf_counter() - start) * 1e3


@dataclass(frozen=True)
class Refined:
    """A frame's people after refinement: every step's ``(P, 15, 3)`` m, the final step's name, ``valid (P, 15)``,
    ``second_pass (P, 15)``, the joints the second pass restarted, and ``hidden (P, 15)``, the joints the answer
    places behind the surface the sensor measured (:mod:`refinet_edge.occlusion`); each None where a refiner does
    not say."""

    steps: dict[str, np.ndarray]
    final: str
    valid: np.ndarray
    timings_ms: dict[str, float]
    second_pass: np.ndarray | None = None
    hidden: np.ndarray | None = None

    @property
    def joints_m(self) -> np.ndarray:
        return self.steps[self.final]


class Refiner:
    """Runs ``pipeline`` on a frame's detections with per-stage timing (not thread-safe: one caller)."""

    def __init__(self, pipeline: RefinementPipeline) -> None:
        self.timings: dict[str, float] = {}
        self.pipeline = copy.copy(pipeline)  # same config and settings, timed runners
        self.pipeline.runners = {stage: _TimedRunner(r, self.timings, stage) for stage, r in pipeline.runners.items()}
        self.steps = self.pipeline.steps

    def __call__(self, frame: RGBDFrame, detections: Detections) -> Refined:
        self.timings.clear()
        people = detections.count
        if people == 0:
            empty = np.zeros((0, detections.uv_px.shape[1], 3))
            none = np.zeros((0, empty.shape[1]), bool)
            return Refined({s: empty for s in self.steps}, self.steps[-1], none, {}, none, none)
        start = time.perf_counter()
        depth = np.broadcast_to(frame.depth_m, (people, *frame.depth_m.shape))
        # the detector's scores stay out: the skeleton was trained with score 1 (RefinementPipeline.run)
        result = self.pipeline.run(depth, detections.uv_px, frame.camera)
        total = (time.perf_counter() - start) * 1e3
        timings = dict(self.timings)
        timings["preprocess"] = total - sum(self.timings.values())
        timings["refine"] = total
        return Refined(result.steps, self.steps[-1], result.valid, timings, result.second_pass, result.hidden)
