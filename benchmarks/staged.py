"""The refinement pipeline with a timer around every step.

:func:`run_timed` does exactly what :meth:`RefinementPipeline.run` does (the
same functions, in the same order; a test checks the outputs are identical)
and records how long each step took:

================  ==========================================================
step              inside the timer
================  ==========================================================
``lift``          2D -> 3D lifting (median depth window), before stage A and after it
``patch_extract`` depth patches around the lifted joints
``patch``         stage A network: host arrays in, host array out (copies included)
``skeleton_io``   skeleton encode/decode and patch decode (small NumPy steps)
``skeleton``      stage B network (copies included)
``point_sample``  per-joint point clouds from the depth map
``pointcloud``    stage C network, then its decode (copies included)
``end_to_end``    all of the above plus the validity mask: one call of ``run``
================  ==========================================================

Lifting, patches and points run on the pipeline's own pre-processing steps
(:meth:`RefinementPipeline.resolve_steps`: the Numba-compiled CPU path, NumPy,
or the CUDA kernels), as :meth:`~RefinementPipeline.run` does.
"""

from __future__ import annotations

import numpy as np

from refinet_edge.camera import Camera
from refinet_edge.pipeline import STAGES, RefinementPipeline
from refinet_edge.stage_io import patch_decode, point_decode, skeleton_decode, skeleton_encode

from .stats import StepTimer

STEPS = ("lift", "patch_extract", "patch", "skeleton_io", "skeleton", "point_sample", "pointcloud")
PREPROCESS_STEPS = ("lift", "patch_extract", "skeleton_io", "point_sample")


def run_timed(pipeline: RefinementPipeline, depth_m: np.ndarray, uv_px: np.ndarray, camera: Camera,
              timer: StepTimer) -> dict[str, np.ndarray]:
    """Every step's joints ``(B, J, 3)`` m, as ``pipeline.run(...).steps``; times go into ``timer.ms``."""
    cfg, runners = pipeline.config, pipeline.runners
    prep = pipeline.resolve_steps()
    with timer.step("end_to_end"):
        depth_m = np.asarray(depth_m, dtype=np.float32)
        uv_px = np.asarray(uv_px, dtype=np.float64)
        with timer.step("lift"):
            joints, has_depth = prep.lift(uv_px, depth_m, camera, cfg.lift_window)
        _valid = np.all(np.isfinite(uv_px), axis=-1) & camera.in_image(uv_px) & has_depth
        steps = {"input": joints}
        for stage in (s for s in STAGES if s in runners):
            if stage == "patch":
                with timer.step("patch_extract"):
                    patches, cell_px = prep.patches(depth_m, uv_px, joints[..., 2], camera, cfg.patch)
                with timer.step("patch"):
                    offsets = runners["patch"](patches)
                with timer.step("skeleton_io"):
                    uv_out = patch_decode(uv_px, offsets, cell_px)
                with timer.step("lift"):
                    joints = prep.lift(uv_out, depth_m, camera, cfg.lift_window)[0]
            elif stage == "skeleton":
                with timer.step("skeleton_io"):
                    x, centre = skeleton_encode(joints, cfg.skeleton)
                with timer.step("skeleton"):
                    offsets = runners["skeleton"](x)
                with timer.step("skeleton_io"):
                    joints = skeleton_decode(x, offsets, centre, cfg.skeleton)
            else:
                with timer.step("point_sample"):
                    points, counts, side_m = prep.points(depth_m, joints, camera, cfg.points)
                with timer.step("pointcloud"):
                    joints = point_decode(joints, runners["pointcloud"](points, counts), side_m, counts,
                                          cfg.points.mode)
            steps[stage] = joints
    return steps
