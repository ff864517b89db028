"""Lifting compiled with Numba: the twin of :func:`refinet_edge.lifting.lift_joints_detailed` and
:func:`~refinet_edge.lifting.lift_joints` (the NumPy contract; :func:`~refinet_edge.lifting.lift_joints_reference`
is the per-joint loop).

Same arguments, checks and messages, bit-identical result: the window medians and the deprojection in float64 as
NumPy computes them, the median without a full sort (quickselect, then the other middle value); a depth map whose
dtype is not a real number runs the NumPy function. See :mod:`._jit` for how bit-exactness and compilation work.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from ..camera import Camera
from ..lifting import LiftResult, _check_inputs, window_sizes
from ..lifting import lift_joints_detailed as _lift_numpy


@njit(cache=True)
def _select(values, lo, hi, k):  # pragma: no cover - compiled
    """Reorder ``values[lo:hi]`` in place so that ``values[k]`` holds its k-th smallest (quickselect)."""
    while hi - lo > 1:
        mid = lo + (hi - lo) // 2  # median of three as the pivot
        a, b, c = values[lo], values[mid], values[hi - 1]
        pivot = max(min(a, b), min(max(a, b), c))
        i, j = lo, hi - 1
        while i <= j:  # Hoare partition: [lo, j] <= pivot <= [i, hi)
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j + 1
        elif k >= i:
            lo = i
        else:  # j < k < i: values[k] == pivot
            return


@njit(cache=True)
def _middle_mean(values, n):  # pragma: no cover - compiled
    """``(sorted[(n - 1) // 2] + sorted[n // 2]) / 2`` of ``values[:n]`` (no NaN), without a full sort."""
    upper = n // 2
    _select(values, 0, n, upper)
    high = values[upper]
    low = high
    if n % 2 == 0:  # the largest below ``upper`` is the other middle value
        low = values[0]
        for i in range(1, upper):
            low = max(low, values[i])
    return (low + high) / 2.0


@njit(cache=True)
def _lift_core(uv, depth, sizes, fx, fy, cx, cy, joints, source):  # pragma: no cover - compiled
    batch, num_joints = uv.shape[0], uv.shape[1]
    height, width = depth.shape[1], depth.shape[2]
    largest = 1
    for k in range(sizes.shape[0]):
        largest = max(largest, sizes[k])
    values = np.empty(largest * largest, np.float64)
    z = np.empty(num_joints, np.float64)
    lifted = np.empty(num_joints, np.float64)
    for b in range(batch):
        found = 0
        for j in range(num_joints):
            u, v = uv[b, j, 0], uv[b, j, 1]
            z[j] = np.nan
            source[b, j] = 0
            if not (np.isfinite(u) and np.isfinite(v)):
                continue
            col = np.int64(min(max(np.rint(u), 0.0), width - 1.0))  # finite: rint, clamp, then int
            row = np.int64(min(max(np.rint(v), 0.0), height - 1.0))
            for k in range(sizes.shape[0]):
                half = sizes[k] // 2
                n = 0
                for r in range(max(row - half, 0), min(row + half, height - 1) + 1):
                    for c in range(max(col - half, 0), min(col + half, width - 1) + 1):
                        d = np.float64(depth[b, r, c])
                        if d > 0.0 and np.isfinite(d):
                            values[n] = d
                            n += 1
                if n == 0:
                    continue
                med = _middle_mean(values, n)
                if np.isfinite(med):  # as NumPy: an overflowing median counts as no depth
                    z[j] = med
                    source[b, j] = 1 if k == 0 else 2
                    lifted[found] = med
                    found += 1
                    break
        person = np.nan
        if found > 0:
            ordered = lifted[:found]
            ordered.sort()
            person = (ordered[(found - 1) // 2] + ordered[found // 2]) / 2.0
        for j in range(num_joints):
            u, v = uv[b, j, 0], uv[b, j, 1]
            zj = z[j]
            if source[b, j] == 0 and np.isfinite(u) and np.isfinite(v) and np.isfinite(person):
                zj = person
                source[b, j] = 3
            joints[b, j, 0] = (u - cx) / fx * zj  # Camera.deproject, left to right
            joints[b, j, 1] = (v - cy) / fy * zj
            joints[b, j, 2] = zj


@functools.lru_cache(maxsize=32)
def _sizes(window: int, grow_steps: int) -> np.ndarray:
    out = np.array(window_sizes(window, grow_steps), dtype=np.int64)
    out.flags.writeable = False
    return out


def lift_joints_detailed(uv_px: np.ndarray, depth_m: np.ndarray, camera: Camera,
                         window: int = 9, grow_steps: int = 2) -> LiftResult:
    """:func:`refinet_edge.lifting.lift_joints_detailed`, compiled (same rule, same result)."""
    if not _plain_ints(window, grow_steps):  # bool hashes like an int: check before the cache
        window_sizes(window, grow_steps)  # raises with the usual message
    sizes = _sizes(int(window), int(grow_steps))
    uv, depth = _check_inputs(uv_px, depth_m, camera)
    if depth.dtype != np.float32 and depth.dtype != np.float64:
        if depth.dtype.kind not in "biuf":
            return _lift_numpy(uv_px, depth_m, camera, window, grow_steps)
        depth = depth.astype(np.float64)  # what NumPy does to every pixel it reads: exact for these kinds
    uv, depth = np.ascontiguousarray(uv), np.ascontiguousarray(depth)
    joints = np.empty(uv.shape[:2] + (3,))
    source = np.empty(uv.shape[:2], dtype=np.int8)
    _lift_core(uv, depth, sizes, float(camera.fx), float(camera.fy), float(camera.cx), float(camera.cy), joints,
               source)
    if np.ndim(uv_px) == 2:
        return LiftResult(joints[0], source[0])
    return LiftResult(joints, source)


def lift_joints(uv_px: np.ndarray, depth_m: np.ndarray, camera: Camera,
                window: int = 9, grow_steps: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """:func:`refinet_edge.lifting.lift_joints`, compiled: ``(joints_m, has_depth)``."""
    result = lift_joints_detailed(uv_px, depth_m, camera, window, grow_steps)
    return result.joints_m, result.has_depth


def _plain_ints(*values: object) -> bool:
    return all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)
