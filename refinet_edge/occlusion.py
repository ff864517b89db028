"""Which answered joints are hidden: placed from the rest of the body, not seen by the sensor.

A single depth frame measures only the first surface along each pixel's ray. A joint the sensor sees lies at
most its body part's radius (plus noise) behind the surface at its own pixel; a joint hidden behind another
body part, a second person or an object lies further back, where the depth map says nothing about it, so the
stages can only place it from the joints around it. That placement is the weakest part of the answer (issue 18:
on the out-of-distribution suite, the last step places 91-96 % of the joints the sensor sees within 10 cm and
65-72 % of the hidden ones on the hard splits), so each answer says which of its joints it places behind the
measured surface, as body trackers mark their predicted, occluded joints (Azure Kinect Body Tracking's
``K4ABT_JOINT_CONFIDENCE_LOW``).

Rule: joint j of an answer is **hidden** when it projects into the image onto a pixel with depth and lies more
than :data:`HIDDEN_MARGIN_M` ``[j]`` behind that depth. The margins are what a seen joint reaches: per joint,
the 95th percentile of ``z_joint - depth at its pixel`` over the joints the synthetic labels call visible (the
labels' own rule: within the part's radius + 3 cm of the first surface, :mod:`refinet_edge.synth.visibility`),
measured on sensor depth over the training mixture (``python scripts/hidden_margins.py``; its printout and
command are in ``benchmarks/reports/2026-12-06-cpu-2core-xeon-hidden-flag/``). A joint without an answer, outside
the image or over a depth hole is not called hidden (nothing says it is); ``valid`` says whether its input was
usable.

The flag says where the answer lies, not where the person is: a hidden joint the stages placed in front of the
surface is not flagged. :func:`refinet_edge.metrics.accuracy_by_flag` measures how the flag splits accuracy
(``evaluate``'s ``by_hidden_flag``).
"""

from __future__ import annotations

import numpy as np

from .camera import Camera
from .errors import RefinetError
from .skeleton import NUM_JOINTS

# Per ITOP joint (head, neck, shoulders R/L, elbows R/L, hands R/L, torso, hips R/L, knees R/L, feet R/L), metres:
# the 95th percentile of z_joint - depth over the labels' visible joints (see the module docstring).
HIDDEN_MARGIN_M: tuple[float, ...] = (
    0.173, 0.199, 0.152, 0.161, 0.142, 0.142, 0.131, 0.125, 0.235, 0.203, 0.200, 0.175, 0.185, 0.174, 0.163,
)


def behind_surface_m(joints_m: np.ndarray, depth_m: np.ndarray, camera: Camera) -> np.ndarray:
    """How far ``joints_m (B, J, 3)`` lie behind the depth ``depth_m (B, H, W)`` at their own (nearest) pixel
    -> ``(B, J)`` metres, negative in front; NaN where a joint has no answer, projects outside the image or
    onto a pixel without depth (0 or not finite)."""
    joints_m = np.asarray(joints_m, dtype=np.float64)
    depth_m = np.asarray(depth_m)
    if joints_m.ndim != 3 or joints_m.shape[-1] != 3 or depth_m.ndim != 3 or depth_m.shape[0] != joints_m.shape[0]:
        raise RefinetError(f"behind_surface_m expects joints (B, J, 3) and depth (B, H, W); got {joints_m.shape} "
                           f"and {depth_m.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        uv = camera.project(joints_m)
    inside = np.all(np.isfinite(uv), axis=-1) & camera.in_image(uv)
    height, width = depth_m.shape[1:]
    u = np.clip(np.rint(np.where(inside, uv[..., 0], 0)).astype(np.intp), 0, width - 1)
    v = np.clip(np.rint(np.where(inside, uv[..., 1], 0)).astype(np.intp), 0, height - 1)
    surface = depth_m[np.arange(depth_m.shape[0])[:, None], v, u].astype(np.float64)
    measured = inside & np.isfinite(surface) & (surface > 0)
    return np.where(measured, joints_m[..., 2] - np.where(measured, surface, 0.0), np.nan)


def hidden_joints(joints_m: np.ndarray, depth_m: np.ndarray, camera: Camera,
                  margins_m: tuple[float, ...] | np.ndarray = HIDDEN_MARGIN_M) -> np.ndarray:
    """The module's rule -> ``(B, J)`` bool: True where a joint lies more than its margin behind the surface
    the sensor measured at its pixel."""
    margins = np.asarray(margins_m, dtype=np.float64)
    joints_m = np.asarray(joints_m)
    if margins.shape != (joints_m.shape[-2],) or joints_m.shape[-2] != NUM_JOINTS:
        raise RefinetError(f"hidden_joints expects {NUM_JOINTS} joints and one margin per joint; got joints "
                           f"{joints_m.shape} and {margins.shape[0] if margins.ndim else 0} margins")
    behind = behind_surface_m(joints_m, depth_m, camera)
    with np.errstate(invalid="ignore"):
        return np.isfinite(behind) & (behind > margins)
