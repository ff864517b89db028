"""The stages' input and output codecs compiled with Numba: the twins of
:func:`refinet_edge.stage_io.skeleton_encode` (stage B input, metric mode) and of
:func:`~refinet_edge.stage_io.patch_decode`, :func:`~refinet_edge.stage_io.skeleton_decode` and
:func:`~refinet_edge.stage_io.point_decode` (the NumPy contracts in :mod:`refinet_edge.stage_io`).

Same results bit for bit: the skeleton's per-person centre is the same sort-based median of the finite joints, its
float64 differences and ray features are cast to float32 one value at a time as NumPy's ``astype`` does, and division
by zero gives inf/NaN (Numba's NumPy error model) that become 0 as in NumPy. Skeleton mode ``authors``, ``ray_output``
decoding and any other dtypes run the NumPy functions. See :mod:`._jit` for how bit-exactness and compilation work.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..stage_io import SKELETON_SCALE_M, SkeletonConfig
from ..stage_io import patch_decode as _patch_decode_numpy
from ..stage_io import point_decode as _point_decode_numpy
from ..stage_io import skeleton_decode as _skeleton_decode_numpy
from ..stage_io import skeleton_encode as _skeleton_numpy
from ._common import F32


@njit(cache=True, error_model="numpy")  # x / 0 gives inf or NaN, as in NumPy, instead of raising
def _skeleton_core(joints, scale, rays, x, centre):  # pragma: no cover - compiled
    batch, num_joints = joints.shape[0], joints.shape[1]
    values = np.empty(num_joints, np.float64)
    known = np.empty(num_joints, np.bool_)  # all three coordinates finite
    for b in range(batch):
        for j in range(num_joints):
            known[j] = np.isfinite(joints[b, j, 0]) and np.isfinite(joints[b, j, 1]) and np.isfinite(joints[b, j, 2])
        for a in range(3):  # the median of the known joints, per axis
            n = 0
            for j in range(num_joints):
                if known[j]:
                    values[n] = joints[b, j, a]
                    n += 1
            if n == 0:
                centre[b, a] = np.nan
            else:
                window = values[:n]
                window.sort()
                centre[b, a] = (window[(n - 1) // 2] + window[n // 2]) / 2.0
        cx, cy, cz = centre[b, 0], centre[b, 1], centre[b, 2]
        for j in range(num_joints):
            jx, jy, jz = joints[b, j, 0], joints[b, j, 1], joints[b, j, 2]
            ok = known[j]
            out = ((jx - cx) / scale, (jy - cy) / scale, (jz - cz) / scale)
            for a in range(3):
                x[b, j, a] = np.float32(out[a]) if ok and np.isfinite(out[a]) else np.float32(0.0)
            if rays:
                fx = (jx / jz - cx / cz) * cz / scale
                fy = (jy / jz - cy / cz) * cz / scale
                x[b, j, 3] = np.float32(fx) if ok and np.isfinite(fx) else np.float32(0.0)
                x[b, j, 4] = np.float32(fy) if ok and np.isfinite(fy) else np.float32(0.0)


def skeleton_encode(joints_m: np.ndarray, cfg: SkeletonConfig) -> tuple[np.ndarray, np.ndarray]:
    """:func:`refinet_edge.stage_io.skeleton_encode`, compiled for the metric mode (same result); the authors'
    mode runs the NumPy function."""
    joints = np.asarray(joints_m)
    if cfg.mode != "metric" or joints.ndim != 3 or joints.shape[-1] != 3 or joints.dtype != np.float64:
        return _skeleton_numpy(joints_m, cfg)
    joints = np.ascontiguousarray(joints)
    x = np.empty(joints.shape[:2] + (cfg.coordinate_features,), dtype=np.float32)
    centre = np.empty((joints.shape[0], 3))
    _skeleton_core(joints, float(SKELETON_SCALE_M), bool(cfg.rays), x, centre)
    return x, centre


# The decoding of the stages' outputs.
#
# The pipeline decodes each network's output with a few NumPy operations on (B, J, 3) arrays: ~5 us warm, but
# 15-25 us each right after a network has run (NumPy's dispatch code and data are out of cache by then).
# Compiled, each is one call. The dtypes below are the pipeline's (float64 joints and pixels, float32 network
# outputs, cells, sides and counts); anything else runs the NumPy function.


@njit(cache=True)
def _patch_decode_core(uv, out, cell, refined):  # pragma: no cover - compiled
    """``uv - out * cell`` (float32 product, float64 difference) where the cell is finite, else ``uv``."""
    for b in range(uv.shape[0]):
        for j in range(uv.shape[1]):
            for a in range(2):
                c = cell[b, j, a]
                refined[b, j, a] = uv[b, j, a] - np.float64(out[b, j, a] * c) if np.isfinite(c) else uv[b, j, a]


@njit(cache=True)
def _skeleton_decode_core(x, out, centre, scale, joints):  # pragma: no cover - compiled
    """``centre + (x[..., :3] - out) * scale``: float32 difference and product, float64 sum."""
    for b in range(x.shape[0]):
        for j in range(x.shape[1]):
            for a in range(3):
                joints[b, j, a] = centre[b, a] + np.float64((x[b, j, a] - out[b, j, a]) * scale)


@njit(cache=True)
def _point_decode_core(joints, out, side, counts, metric, refined):  # pragma: no cover - compiled
    """``joints - out * (side / 2)`` (metric) or ``joints - out / 1000`` (authors), float32 until the float64
    difference; each coordinate keeps its input where the cube was empty or the result is not finite."""
    two, thousand = np.float32(2.0), np.float32(1000.0)
    for b in range(joints.shape[0]):
        for j in range(joints.shape[1]):
            half = side[b, j] / two
            found = counts[b, j] > 0
            for a in range(3):
                step = out[b, j, a] * half if metric else out[b, j, a] / thousand
                value = joints[b, j, a] - np.float64(step)
                refined[b, j, a] = value if found and np.isfinite(value) else joints[b, j, a]


def _typed(*pairs: tuple[object, object, int]) -> bool:
    """Every ``(array, dtype, ndim)`` is an ndarray of that dtype and rank."""
    return all(isinstance(a, np.ndarray) and a.dtype == dtype and a.ndim == ndim for a, dtype, ndim in pairs)


def patch_decode(uv_in_px: np.ndarray, out_cells: np.ndarray, cell_px: np.ndarray) -> np.ndarray:
    """:func:`refinet_edge.stage_io.patch_decode`, compiled (same result)."""
    f32, f64 = np.float32, np.float64
    if not (_typed((uv_in_px, f64, 3), (out_cells, f32, 3), (cell_px, f32, 3))
            and uv_in_px.shape[-1] == 2 and uv_in_px.shape == out_cells.shape == cell_px.shape):
        return _patch_decode_numpy(uv_in_px, out_cells, cell_px)
    refined = np.empty(uv_in_px.shape)
    _patch_decode_core(uv_in_px, out_cells, cell_px, refined)
    return refined


def skeleton_decode(x: np.ndarray, out: np.ndarray, centre: np.ndarray, cfg: SkeletonConfig) -> np.ndarray:
    """:func:`refinet_edge.stage_io.skeleton_decode`, compiled for the metric mode (same result); ``ray_output``
    runs the NumPy function."""
    f32, f64 = np.float32, np.float64
    if not (cfg.mode == "metric" and not cfg.ray_output and _typed((x, f32, 3), (out, f32, 3), (centre, f64, 2))
            and out.shape[-1] == 3 and x.shape[:2] == out.shape[:2] and x.shape[-1] >= 3
            and centre.shape == (x.shape[0], 3)):
        return _skeleton_decode_numpy(x, out, centre, cfg)
    joints = np.empty(out.shape)
    _skeleton_decode_core(x, out, centre, F32(SKELETON_SCALE_M), joints)
    return joints


def point_decode(joints_in_m: np.ndarray, out: np.ndarray, side_m: np.ndarray, counts: np.ndarray,
                 mode: str) -> np.ndarray:
    """:func:`refinet_edge.stage_io.point_decode`, compiled (same result)."""
    f32, f64 = np.float32, np.float64
    if not (mode in ("metric", "authors")
            and _typed((joints_in_m, f64, 3), (out, f32, 3), (side_m, f32, 2), (counts, f32, 2))
            and joints_in_m.shape[-1] == 3 and joints_in_m.shape == out.shape
            and side_m.shape == counts.shape == joints_in_m.shape[:2]):
        return _point_decode_numpy(joints_in_m, out, side_m, counts, mode)
    refined = np.empty(joints_in_m.shape)
    _point_decode_core(joints_in_m, out, side_m, counts, mode == "metric", refined)
    return refined
