"""The refinement pipeline with a timer around every step.

:func:`run_timed` is :meth:`RefinementPipeline.run` with a
:class:`~.stats.StepTimer` as its step clock: the same call, timed around
every step:

================  ==========================================================
step              inside the timer
================  ==========================================================
``lift``          2D -> 3D lifting (median depth window), before stage A and after it
``patch_extract`` depth patches around the lifted joints
``patch``         stage A network: host arrays in, host array out (copies included)
``skeleton_io``   skeleton encode (compiled on the CPU path), decode and patch decode
``skeleton``      stage B network (copies included)
``point_sample``  per-joint point clouds from the depth map (once per stage C pass)
``pointcloud``    stage C network, then its decode (copies included; once per pass)
``end_to_end``    all of the above plus the validity mask: one call of ``run``
================  ==========================================================

Lifting, patches and points run on the pipeline's own pre-processing steps
(:meth:`RefinementPipeline.resolve_steps`: the Numba-compiled CPU path, NumPy,
or the CUDA kernels), as :meth:`~RefinementPipeline.run` does.
"""

from __future__ import annotations

import numpy as np

from refinet_edge.camera import Camera
from refinet_edge.pipeline import PipelineResult, RefinementPipeline

from .stats import StepTimer

STEPS = ("lift", "patch_extract", "patch", "skeleton_io", "skeleton", "point_sample", "pointcloud")
PREPROCESS_STEPS = ("lift", "patch_extract", "skeleton_io", "point_sample")


def run_timed(pipeline: RefinementPipeline, depth_m: np.ndarray, uv_px: np.ndarray, camera: Camera,
              timer: StepTimer) -> PipelineResult:
    """``pipeline.run(...)``'s result (every step's joints, the joints the second pass restarted); times go into
    ``timer.ms``. With a second pass, the steps it reruns are timed twice and their times add up."""
    return pipeline.run(depth_m, uv_px, camera, clock=timer.step)
