"""Evaluate the pipeline's steps on a labelled split.

The input 2D pose is the ground truth plus simulated detector noise. Step
``input`` lifts it to 3D with the depth map (the baseline); the stages of a
:class:`~refinet_edge.pipeline.RefinementPipeline` add ``patch``, ``skeleton``
and ``pointcloud``. Every step is scored on every joint.

Report layout (JSON, ``schema_version`` 1)::

    {"schema_version": 1, "tool": "refinet-edge 0.1.0",
     "data": DIR, "view": "side", "split": "test", "frames": N,
     "camera": {...intrinsics...},
     "noise": {"sigma_px": 5.0, "mu_px": 0.0, "swap_prob": 0.0, "outlier_prob": 0.0, "seed": 0},
     "lifting": {"window": 9},
     "stages": {"patch": {"checkpoint": ..., "sha256": ...}, ...},
     "pointcloud_passes": 2, "second_pass_m": 0.15,
     "steps": {"input": {"acc_10cm": ..., "acc_5cm": ..., "mpjpe_mm": ...,
                         "per_joint_acc_10cm": [15 numbers], ...},
               "patch": {...}, "skeleton": {...}, "pointcloud": {...}},
     "by_distance": {"input": [{"from_m": 2.0, "to_m": 3.0, "frames": ..., "acc_10cm": ...,
                                "mpjpe_mm": ...}, ...], "patch": [...], ...}}

``by_distance`` bins the frames by the subject's distance (the ground-truth
torso's depth, 1 m bins, :func:`~refinet_edge.metrics.accuracy_by_distance`):
how accuracy falls off with range, where a depth sensor's noise grows.
``by_visibility`` (where the labels have visibility, as ITOP and the synthetic
data do) splits each step's accuracy into the joints the sensor sees and those
hidden behind a body part or an object
(:func:`~refinet_edge.metrics.accuracy_by_visibility`, with hands and feet
apart)::

     "by_visibility": {"pointcloud": {"visible_share": 66.3, "acc_10cm_visible": ...,
                                      "acc_10cm_hidden": ..., "groups": {"hands": {...}, "feet": {...}}}, ...}

``by_hidden_flag`` scores the answer's own per-joint flag (``hidden`` in ``live``'s output: the last step placed
the joint behind the surface the sensor measured at its pixel, :mod:`refinet_edge.occlusion`): how much less
often a flagged joint is right, and (with the labels' visibility) how many flagged joints the labels call hidden
and how many hidden ones are flagged (:func:`~refinet_edge.metrics.accuracy_by_hidden_flag`)::

     "by_hidden_flag": {"step": "pointcloud", "flagged_share": 21.4, "acc_10cm_flagged": ...,
                        "acc_10cm_unflagged": ..., "labels_hidden_among_flagged": ...,
                        "flagged_among_labels_hidden": ...}

``second_pass_m`` is the skeleton's second-pass gate (0: one pass; see
:mod:`refinet_edge.pipeline`): with it, the steps after ``input`` are those of
the pass that gave each person's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from . import __version__
from .camera import Camera
from .metrics import (
    PoseMetrics,
    accuracy_by_distance,
    accuracy_by_hidden_flag,
    accuracy_by_visibility,
    compute_metrics,
)
from .noise import DetectorNoise
from .pipeline import PipelineConfig, RefinementPipeline

SCHEMA_VERSION = 1
ProgressFn = Callable[[int, int], None]


class LabelledFrames(Protocol):
    """What evaluation reads: an ItopSplit or an in-memory FrameStore."""

    @property
    def camera(self) -> Camera: ...
    @property
    def joints_m(self) -> np.ndarray: ...
    @property
    def uv_px(self) -> np.ndarray: ...

    def __len__(self) -> int: ...
    def depth_batch(self, start: int, stop: int) -> np.ndarray: ...


@dataclass(frozen=True)
class EvalSettings:
    """How the input 2D pose is made and lifted.

    Attributes:
        noise: simulated 2D detector errors added to the ground-truth 2D joints.
        seed: seed of the noise generator (the same seed gives the same report).
        window: side in pixels of the lifting window (median of valid depth).
        batch: frames per pipeline call (the noise draws depend on it: keep it fixed).
    """

    noise: DetectorNoise = field(default_factory=DetectorNoise)
    seed: int = 0
    window: int = 9
    batch: int = 64


def predict_steps(frames: LabelledFrames, pipeline: RefinementPipeline, settings: EvalSettings = EvalSettings(),
                  on_progress: ProgressFn | None = None, hidden: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Run ``pipeline`` on every frame: each step's joints ``(N, 15, 3)`` metres; ``hidden (N, 15)`` bool, if
    given, is filled with the answer's own hidden flag (:attr:`~refinet_edge.pipeline.PipelineResult.hidden`)."""
    rng = np.random.default_rng(settings.seed)
    n = len(frames)
    outputs = {step: np.empty((n, frames.joints_m.shape[1], 3)) for step in pipeline.steps}
    for start in range(0, n, settings.batch):
        stop = min(start + settings.batch, n)
        uv_noisy = settings.noise.apply_2d(frames.uv_px[start:stop], rng)  # (B, 15, 2) px
        result = pipeline.run(frames.depth_batch(start, stop), uv_noisy, frames.camera)
        for step, joints_m in result.steps.items():
            outputs[step][start:stop] = joints_m
        if hidden is not None and result.hidden is not None:
            hidden[start:stop] = result.hidden
        if on_progress:
            on_progress(stop, n)
    return outputs


def score_steps(frames: LabelledFrames, pipeline: RefinementPipeline, settings: EvalSettings = EvalSettings(),
                on_progress: ProgressFn | None = None) -> dict[str, PoseMetrics]:
    """Run ``pipeline`` on every frame and score each of its steps."""
    outputs = predict_steps(frames, pipeline, settings, on_progress)
    return {step: compute_metrics(pred, frames.joints_m) for step, pred in outputs.items()}


def split_report(split, pipeline: RefinementPipeline, settings: EvalSettings, outputs: dict[str, np.ndarray],
                 stages_info: dict | None = None, hidden: np.ndarray | None = None) -> dict:
    """The JSON-ready report (layout in the module docstring) of each step's predictions ``outputs`` (as
    :func:`predict_steps` returns them) scored on ``split``: metrics per step and per distance bin."""
    gt_m = split.joints_m
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": f"refinet-edge {__version__}",
        "data": str(split.root),
        "view": split.view,
        "split": split.split,
        "frames": len(split),
        "camera": split.camera.to_dict(),
        "noise": {**settings.noise.to_dict(), "seed": settings.seed},
        "lifting": {"window": pipeline.config.lift_window},
        "stages": stages_info or {},
        "pointcloud_passes": pipeline.config.points.passes if "pointcloud" in pipeline.runners else 0,
        "second_pass_m": pipeline.config.skeleton.second_pass_m if "skeleton" in pipeline.runners else 0.0,
        "steps": {step: compute_metrics(pred, gt_m).to_dict() for step, pred in outputs.items()},
        "by_distance": {step: accuracy_by_distance(pred, gt_m) for step, pred in outputs.items()},
        **({"by_visibility": {step: accuracy_by_visibility(pred, gt_m, split.visible)
                              for step, pred in outputs.items()}} if _has_visibility(split) else {}),
        **({"by_hidden_flag": hidden_flag_report(split, outputs, hidden)}
           if hidden is not None and len(outputs) > 1 else {}),
    }


def hidden_flag_report(split, outputs: dict[str, np.ndarray], hidden: np.ndarray) -> dict:
    """``by_hidden_flag`` (module docstring) of the last step in ``outputs``, whose hidden flag
    :func:`predict_steps` kept in ``hidden``."""
    step = list(outputs)[-1]
    visible = split.visible if _has_visibility(split) else None
    return {"step": step, **accuracy_by_hidden_flag(outputs[step], split.joints_m, hidden, visible)}


def _has_visibility(split) -> bool:
    """Whether the split's labels say which joints the sensor sees (ITOP ``visible_joints``, synthetic data)."""
    visible = getattr(split, "visible", None)
    return visible is not None and np.shape(visible) == np.shape(split.joints_m)[:2]


def evaluate_split(split, pipeline: RefinementPipeline | None = None, settings: EvalSettings = EvalSettings(),
                   on_progress: ProgressFn | None = None, stages_info: dict | None = None) -> dict:
    """Score every step of ``pipeline`` (default: lifting only) on ``split``; the JSON-ready report."""
    if pipeline is None:
        pipeline = RefinementPipeline({}, PipelineConfig(lift_window=settings.window))
    hidden = np.zeros(split.joints_m.shape[:2], dtype=bool)
    outputs = predict_steps(split, pipeline, settings, on_progress, hidden)
    return split_report(split, pipeline, settings, outputs, stages_info, hidden)
