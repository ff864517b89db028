"""Evaluate the pipeline's steps on a labelled split.

For now the only step is ``input``: ground-truth 2D joints plus simulated
detector noise, lifted to 3D with the depth map (the baseline every RefiNet
stage is measured against). Later stages add their own keys (``patch``,
``skeleton``, ``pointcloud``) to the same report.

Report layout (JSON, ``schema_version`` 1)::

    {"schema_version": 1, "tool": "refinet-edge 0.1.0",
     "data": DIR, "view": "side", "split": "test", "frames": N,
     "camera": {...intrinsics...},
     "noise": {"sigma_px": 5.0, "mu_px": 0.0, "swap_prob": 0.0, "outlier_prob": 0.0, "seed": 0},
     "lifting": {"window": 9},
     "steps": {"input": {"acc_10cm": ..., "acc_5cm": ..., "mpjpe_mm": ...,
                         "per_joint_acc_10cm": [15 numbers], ...}}}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import __version__
from .data.itop import ItopSplit
from .lifting import lift_joints
from .metrics import compute_metrics
from .noise import DetectorNoise

SCHEMA_VERSION = 1
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class EvalSettings:
    """How the input 2D pose is made and lifted.

    Attributes:
        noise: simulated 2D detector errors added to the ground-truth 2D joints.
        seed: seed of the noise generator (the same seed gives the same report).
        window: side in pixels of the lifting window (median of valid depth).
        batch: frames read and lifted at a time.
    """

    noise: DetectorNoise = field(default_factory=DetectorNoise)
    seed: int = 0
    window: int = 9
    batch: int = 256


def evaluate_lifted(
    split: ItopSplit, settings: EvalSettings = EvalSettings(), on_progress: ProgressFn | None = None
) -> dict:
    """Score the lifted baseline on every frame of ``split``; return the JSON-ready report."""
    rng = np.random.default_rng(settings.seed)
    n = len(split)
    lifted = np.empty((n, 15, 3))
    for start in range(0, n, settings.batch):
        stop = min(start + settings.batch, n)
        uv_noisy = settings.noise.apply_2d(split.uv_px[start:stop], rng)  # (B, 15, 2) px
        depth_m = split.depth_batch(start, stop)  # (B, H, W) m
        lifted[start:stop], _ = lift_joints(uv_noisy, depth_m, split.camera, window=settings.window)
        if on_progress:
            on_progress(stop, n)
    metrics = compute_metrics(lifted, split.joints_m)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": f"refinet-edge {__version__}",
        "data": str(split.root),
        "view": split.view,
        "split": split.split,
        "frames": n,
        "camera": split.camera.to_dict(),
        "noise": {**settings.noise.to_dict(), "seed": settings.seed},
        "lifting": {"window": settings.window},
        "steps": {"input": metrics.to_dict()},
    }
