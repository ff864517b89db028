"""Stage B evidence features: how much each lifted joint's depth can be trusted. Reference contract (NumPy).

Optional inputs of the skeleton stage (:attr:`refinet_edge.stage_io.SkeletonConfig.evidence`): four numbers per
joint, appended after the coordinates (and the ray features) of its encoded input.

Shapes and units
----------------
==============  ====================  =============================================================
name            shape                 meaning
==============  ====================  =============================================================
``uv_px``       (B, J, 2)             the 2D joints the 3D joints were lifted from; NaN = missing
``depth_m``     (B, H, W)             metres along z; 0 (or not finite) = no measurement
``joints_m``    (B, J, 3)             the lifted joints (camera frame, m); only z is read
``scores``      (B, J) or None        2D detector confidences; None = 1 for every present joint
``evidence``    (B, J, 4) float32     the features below, in this order
==============  ====================  =============================================================

Rule (every implementation)
---------------------------
Pixel and window are the lifting's (:mod:`refinet_edge.lifting`): ``(row, col) = clamp(rint(v), rint(u))``, the
``window x window`` box centred there, clipped to the image. A valid pixel has a finite depth > 0. All arithmetic
is float64 (depth read as float64), the results are cast to float32 at the end.

0. ``depth_z``: how far the joint's lifted depth is from the person's, in robust spreads:
   ``m`` = median of the finite lifted z of the person's joints, ``mad`` = median of ``|z_j - m|`` over the
   same joints, ``depth_z = (z_j - m) / max(1.4826 * mad, SPREAD_FLOOR_M)`` clipped to [-10, 10];
   0 when ``z_j`` is not finite (or the person has no finite z).
1. ``valid_fraction``: valid pixels in the box / in-image pixels of the box (the lifting's first window).
2. ``agree_fraction`` (the depth-discontinuity test): valid pixels of the box whose depth is within
   ``AGREE_M`` of ``z_j`` (``|d - z_j| <= AGREE_M``) / in-image pixels of the box. Close to the valid fraction
   on a smooth surface; about half of it where the box straddles an edge between the person and what lies
   behind; 0 where the joint's depth came from elsewhere (a grown window or the person median).
3. ``score``: the detector score clipped to [0, 1] (1 when ``scores`` is None). The pipeline passes None: the
   training data has no detector scores, so every skeleton so far learned with 1, and real scores put it where it
   never learned (v17 on ``data/val_own_families``, default noise: 93.37 % with 1, 91.60 with 0.9 everywhere, 70.20
   with 0.6, 74.37 with U(0.3, 1), 80.67 with 0.9 for visible and 0.3 for hidden joints). A skeleton trained with
   detector-like scores would take them here.

A joint whose 2D position is not finite gets 0 for all four.

Patch evidence (:attr:`refinet_edge.stage_io.SkeletonConfig.patch_evidence`)
---------------------------------------------------------------------------
Five more numbers per joint, from what a heatmap patch net with ``moments`` returns for it, ``out (B, J, 5)``:
its offset (input - its answer, cells) and its heatmap's variance along columns, along rows and their
covariance (cells squared), :mod:`refinet_edge.models.patch`. With ``c`` the metric patch's cell side
(``metric_side_m / size`` metres at the joint's depth):

0-1. ``shift_u``, ``shift_v``: ``out[..., 0:2] * c``, how far (m) the patch net moved the joint, input minus answer;
2-3. ``spread_u``, ``spread_v``: ``sqrt(max(var, 0)) * c``, the heatmap's standard deviation (m);
4.   ``correlation``: ``cov / sqrt(var_u * var_v)`` clipped to [-1, 1] (0 where either variance is 0).

All five are 0 for a joint without a patch (``cell_px`` not finite). In the mirror image (x -> -x) ``shift_u`` and
``correlation`` change sign (:data:`refinet_edge.stage_io.PATCH_EVIDENCE_MIRROR`). Float64 inside, float32 out;
fifteen joints a person, so there is no compiled twin: every path calls this function.
"""

from __future__ import annotations

import numpy as np

from ..camera import Camera
from ..errors import RefinetError
from ..lifting import median_of_finite
from ..stage_io import NUM_EVIDENCE, NUM_PATCH_EVIDENCE
from .patches import PatchConfig

EVIDENCE_NAMES = ("depth_z", "valid_fraction", "agree_fraction", "score")
assert len(EVIDENCE_NAMES) == NUM_EVIDENCE
PATCH_EVIDENCE_NAMES = ("shift_u", "shift_v", "spread_u", "spread_v", "correlation")
assert len(PATCH_EVIDENCE_NAMES) == NUM_PATCH_EVIDENCE
SPREAD_FLOOR_M = 0.02  # the smallest robust depth spread of a person (a flat board facing the camera)
AGREE_M = 0.10  # a window pixel "agrees" with the lifted depth when it lies within this distance of it
MAX_DEPTH_Z = 10.0


def check_evidence_inputs(uv_px: np.ndarray, depth_m: np.ndarray, joints_m: np.ndarray, scores: np.ndarray | None,
                          camera: Camera, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate; return float64 ``uv (B, J, 2)``, ``depth (B, H, W)`` (any real dtype), ``z (B, J)``,
    ``scores (B, J)``."""
    uv = np.asarray(uv_px, dtype=np.float64)
    depth = np.asarray(depth_m)
    joints = np.asarray(joints_m, dtype=np.float64)
    if uv.ndim != 3 or uv.shape[-1] != 2 or depth.ndim != 3 or joints.shape != uv.shape[:2] + (3,) \
            or depth.shape[0] != uv.shape[0]:
        raise RefinetError(f"skeleton evidence expects uv_px (B, J, 2), depth_m (B, H, W) and joints_m (B, J, 3); "
                           f"got {uv.shape}, {depth.shape} and {joints.shape}")
    if depth.shape[1:] != camera.shape:
        raise RefinetError(f"depth map shape {depth.shape[1:]} does not match camera {camera.name!r} {camera.shape}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1 or window % 2 == 0:
        raise RefinetError(f"skeleton evidence window must be an odd integer >= 1 (e.g. 9), got {window!r}")
    if scores is None:
        score = np.ones(uv.shape[:2])
    else:
        score = np.asarray(scores, dtype=np.float64)
        if score.shape != uv.shape[:2]:
            raise RefinetError(f"skeleton evidence: scores must be (B, J) = {uv.shape[:2]}, got {score.shape}")
    return uv, depth, joints[..., 2], score


def joint_evidence(uv_px: np.ndarray, depth_m: np.ndarray, joints_m: np.ndarray, scores: np.ndarray | None,
                   camera: Camera, window: int = 9) -> np.ndarray:
    """The four evidence features ``(B, J, 4)`` float32 of the module docstring."""
    uv, depth, z, score = check_evidence_inputs(uv_px, depth_m, joints_m, scores, camera, window)
    height, width = camera.shape
    present = np.all(np.isfinite(uv), axis=-1)  # (B, J)
    centre = np.where(present[..., None], np.rint(np.where(present[..., None], uv, 0.0)), 0.0)
    cols = np.clip(centre[..., 0], 0, width - 1).astype(np.int64)
    rows = np.clip(centre[..., 1], 0, height - 1).astype(np.int64)

    offsets = np.arange(window) - window // 2
    rr = rows[..., None] + offsets  # (B, J, w)
    cc = cols[..., None] + offsets
    inside = ((rr >= 0) & (rr < height))[..., :, None] & ((cc >= 0) & (cc < width))[..., None, :]  # (B, J, w, w)
    b = np.arange(uv.shape[0])[:, None, None, None]
    vals = depth[b, np.clip(rr, 0, height - 1)[..., :, None], np.clip(cc, 0, width - 1)[..., None, :]]
    vals = vals.astype(np.float64)
    with np.errstate(invalid="ignore"):
        valid = inside & np.isfinite(vals) & (vals > 0)
        agree = valid & (np.abs(vals - z[..., None, None]) <= AGREE_M)
    total = inside.sum(axis=(-2, -1)).astype(np.float64)
    valid_fraction = valid.sum(axis=(-2, -1)) / total
    agree_fraction = agree.sum(axis=(-2, -1)) / total

    zf = np.where(np.isfinite(z), z, np.nan)
    m = median_of_finite(zf)  # (B,)
    mad = median_of_finite(np.abs(zf - m[:, None]))
    spread = np.maximum(1.4826 * mad, SPREAD_FLOOR_M)
    with np.errstate(invalid="ignore"):
        depth_z = np.clip((zf - m[:, None]) / spread[:, None], -MAX_DEPTH_Z, MAX_DEPTH_Z)
    depth_z = np.where(np.isfinite(depth_z), depth_z, 0.0)
    score = np.clip(np.where(np.isfinite(score), score, 0.0), 0.0, 1.0)
    out = np.stack([depth_z, valid_fraction, agree_fraction, score], axis=-1)
    return np.where(present[..., None], out, 0.0).astype(np.float32)


def patch_evidence(out: np.ndarray, cell_px: np.ndarray, cfg: PatchConfig) -> np.ndarray:
    """The five patch-evidence features ``(B, J, 5)`` float32 (module docstring) of a heatmap patch net's output
    with moments, ``out (B, J, 5)``, for patches cut with ``cfg`` (metric mode) whose cell sizes were
    ``cell_px (B, J, 2)`` (not finite: no patch)."""
    out = np.asarray(out, dtype=np.float64)
    cell_px = np.asarray(cell_px)
    if out.ndim != 3 or out.shape[-1] != NUM_PATCH_EVIDENCE or cell_px.shape != out.shape[:2] + (2,):
        raise RefinetError(f"patch evidence expects the patch net's output with moments (B, J, "
                           f"{NUM_PATCH_EVIDENCE}) and cell_px (B, J, 2); got {out.shape} and {cell_px.shape}")
    if cfg.mode != "metric":
        raise RefinetError(f"patch evidence needs metric patches (cells of a fixed size in metres); the patch "
                           f"stage cuts {cfg.mode!r} patches")
    cell_m = cfg.metric_side_m / cfg.size
    var = np.maximum(out[..., 2:4], 0.0)
    spread = np.sqrt(var)
    denom = spread[..., 0] * spread[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(denom > 0, out[..., 4] / denom, 0.0)
    feats = np.concatenate([out[..., :2] * cell_m, spread * cell_m, np.clip(corr, -1.0, 1.0)[..., None]], axis=-1)
    ok = np.all(np.isfinite(cell_px), axis=-1, keepdims=True) & np.isfinite(feats)
    return np.where(ok, feats, 0.0).astype(np.float32)
