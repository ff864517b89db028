"""The CPU pre-processing contracts compiled with Numba: lifting, stage A patches, stage C points, stage B input,
and the decoding of each stage's output.

Drop-in twins of :func:`refinet_edge.lifting.lift_joints_detailed`,
:func:`~refinet_edge.lifting.lift_joints`,
:func:`refinet_edge.preprocess.patches.extract_patches`,
:func:`refinet_edge.preprocess.points.sample_points`, (metric mode)
:func:`refinet_edge.stage_io.skeleton_encode` and
:func:`~refinet_edge.stage_io.skeleton_decode`, and
:func:`~refinet_edge.stage_io.patch_decode` and
:func:`~refinet_edge.stage_io.point_decode`: the same arguments, the
same checks and error messages, and **bit-identical** results (the module
docstrings of those files are the contract; the tests compare them with
``assert_array_equal``). At batch 1 the NumPy versions spend their time in
per-call overhead on tiny arrays; these are plain single-threaded loops over
the joints and their windows, structured like the CUDA kernels in
:mod:`refinet_edge.kernels`, that visit only the pixels the contract reads.

How bit-exactness is kept:

* the arithmetic is the contract's, one IEEE operation at a time in the
  written order, in float32 where the contract says float32 (every scalar the
  loops see is a ``np.float32``) and float64 where NumPy computes in float64
  (lifting's medians and deprojection, the authors' point statistics); Numba
  compiles without fast-math, so LLVM never contracts a multiply and an add
  into a fused multiply-add;
* invalid depth (not finite or <= 0) reads as 0 pixel by pixel instead of on a
  cleaned copy of the map (the same values, without the copy);
* the authors' per-axis point statistics are summed in row order, as NumPy's
  ``mean(axis=0)``/``std(axis=0)`` of a C-ordered ``(M, 3)`` array do; the
  ``itop_authors`` map mean (a pairwise sum in NumPy) is taken with NumPy
  itself;
* the skeleton encoding's per-person centre is the same sort-based median of
  the finite joints, and its float64 differences and ray features are cast to
  float32 one value at a time, as NumPy's ``astype`` does; division by zero
  gives inf/NaN (Numba's NumPy error model) and such values become 0 as in
  NumPy;
* patch mode ``baracca_authors`` (no compiled version), skeleton mode
  ``authors``, and lifting on a depth map whose dtype is not a real number,
  run the NumPy functions.

Compilation is lazy (the first call of each kernel with new argument types)
and cached on disk (``cache=True``: next to this file, or Numba's per-user
cache directory when the package is read-only); the first real compilation in
a process logs one INFO line on the ``refinet_edge`` logger.
"""

from __future__ import annotations

import functools
import logging

import numba
import numpy as np
from numba import njit
from numba.core import event

from ..camera import Camera
from ..lifting import LiftResult, _check_inputs, window_sizes
from ..lifting import lift_joints_detailed as _lift_numpy
from ..stage_io import SKELETON_SCALE_M, SkeletonConfig
from ..stage_io import patch_decode as _patch_decode_numpy
from ..stage_io import point_decode as _point_decode_numpy
from ..stage_io import skeleton_decode as _skeleton_decode_numpy
from ..stage_io import skeleton_encode as _skeleton_numpy
from ._common import F32, check_frame_shapes, clean_depth
from .patches import PatchConfig, _check_z_ref, cell_offsets
from .patches import extract_patches as _patches_numpy
from .points import Z_NEAR_M, PointConfig

NUMBA_VERSION: str = numba.__version__
JIT_PATCH_MODES = ("metric", "itop_authors")
COMPILE_MESSAGE = "compiling the CPU pre-processing kernels (first run only, cached)"

_PATCH_DEFAULTS, _POINT_DEFAULTS = PatchConfig(), PointConfig()

_log = logging.getLogger("refinet_edge")
_announced: list[bool] = []  # the compile notice went out (once per process)


# ---------------------------------------------------------------- lifting


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


# ---------------------------------------------------------------- patches


@njit(cache=True)
def _patch_axis(centre, cell, offsets, limit, index, inside):  # pragma: no cover - compiled
    """``rint(centre + off_k * cell)`` per k (float32): int index (0 when outside) and the inside flag."""
    for k in range(offsets.shape[0]):
        p = np.rint(centre + offsets[k] * cell)
        ok = p >= 0 and p <= limit - 1  # compared as floats: NaN and huge values are outside
        inside[k] = ok
        index[k] = np.uint64(p) if ok else 0


@njit(cache=True)
def _metric_core(depth, uv, z_ref, offsets, side, fx, fy, size_f, depth_range, patches,
                 cell_px):  # pragma: no cover - compiled
    batch, num_joints = uv.shape[0], uv.shape[1]
    height, width = depth.shape[1], depth.shape[2]
    size = offsets.shape[0]
    one, minus_one, nan = np.float32(1.0), np.float32(-1.0), np.float32(np.nan)
    rows = np.empty(size, np.uint64)  # unsigned: indexing with them needs no wraparound check
    cols = np.empty(size, np.uint64)
    row_ok = np.empty(size, np.bool_)
    col_ok = np.empty(size, np.bool_)
    for b in range(batch):
        for j in range(num_joints):
            u, v, z = uv[b, j, 0], uv[b, j, 1], z_ref[b, j]
            if not (np.isfinite(u) and np.isfinite(v) and np.isfinite(z) and z > 0):
                patches[b, j] = one
                cell_px[b, j, 0] = nan
                cell_px[b, j, 1] = nan
                continue
            cell_u = (side * fx) / (z * size_f)
            cell_v = (side * fy) / (z * size_f)
            _patch_axis(u, cell_u, offsets, width, cols, col_ok)
            _patch_axis(v, cell_v, offsets, height, rows, row_ok)
            for r in range(size):
                out = patches[b, j, r]
                if not row_ok[r]:
                    out[:] = one
                    continue
                line = depth[b, rows[r]]
                for c in range(size):
                    value = one
                    if col_ok[c]:
                        d = line[cols[c]]
                        if d > 0 and np.isfinite(d):
                            value = min(max((d - z) / depth_range, minus_one), one)
                    out[c] = value
            cell_px[b, j, 0] = cell_u
            cell_px[b, j, 1] = cell_v


@njit(cache=True)
def _itop_core(depth, uv, map_mean, itop_mean, itop_std, patches, cell_px):  # pragma: no cover - compiled
    batch, num_joints = uv.shape[0], uv.shape[1]
    height, width = depth.shape[1], depth.shape[2]
    size = patches.shape[2]
    lo, hi = np.float32(-size), np.float32(max(height, width) + size)
    one, nan = np.float32(1.0), np.float32(np.nan)
    for b in range(batch):
        mean = map_mean[b]
        for j in range(num_joints):
            u, v = uv[b, j, 0], uv[b, j, 1]
            valid = np.isfinite(u) and np.isfinite(v)
            row0 = col0 = 0
            if valid:  # trunc, clamped before the int conversion (no overflow)
                row0 = np.int64(min(max(np.trunc(v), lo), hi)) - size // 2
                col0 = np.int64(min(max(np.trunc(u), lo), hi)) - size // 2
            for r in range(size):
                row = row0 + r
                for c in range(size):
                    col = col0 + c
                    x = np.float32(0.0)
                    if valid and 0 <= row < height and 0 <= col < width:
                        d = depth[b, row, col]
                        if d > 0 and np.isfinite(d):
                            x = d
                    if x == 0:
                        x = mean
                    patches[b, j, r, c] = (x - itop_mean) / itop_std
            cell_px[b, j, 0] = one if valid else nan
            cell_px[b, j, 1] = one if valid else nan


def extract_patches(depth_m: np.ndarray, uv_px: np.ndarray, z_ref_m: np.ndarray | None, camera: Camera,
                    cfg: PatchConfig = _PATCH_DEFAULTS) -> tuple[np.ndarray, np.ndarray]:
    """:func:`refinet_edge.preprocess.patches.extract_patches`, compiled (``baracca_authors`` runs NumPy)."""
    if cfg.mode not in JIT_PATCH_MODES:
        return _patches_numpy(depth_m, uv_px, z_ref_m, camera, cfg)
    depth, uv = check_frame_shapes("extract_patches", depth_m, uv_px, 2, camera, batched=True)
    z_ref = _check_z_ref(z_ref_m, uv.shape[:-1], cfg)
    uv = np.ascontiguousarray(uv, dtype=np.float32)
    size = cfg.size
    patches = np.empty(uv.shape[:2] + (size, size), dtype=np.float32)
    cell_px = np.empty(uv.shape[:2] + (2,), dtype=np.float32)
    if cfg.mode == "metric":
        _metric_core(_depth32(depth), uv, np.ascontiguousarray(z_ref), _offsets(size), F32(cfg.metric_side_m),
                     F32(camera.fx), F32(camera.fy), F32(size), F32(cfg.depth_range_m), patches, cell_px)
    else:
        clean = clean_depth(depth)
        map_mean = clean.astype(np.float64).mean(axis=(1, 2)).astype(np.float32)  # NumPy's own pairwise sum
        _itop_core(clean, uv, map_mean, F32(cfg.itop_mean), F32(cfg.itop_std), patches, cell_px)
    return patches, cell_px


@functools.lru_cache(maxsize=16)
def _offsets(size: int) -> np.ndarray:
    out = cell_offsets(size)
    out.flags.writeable = False
    return out


def _depth32(depth: np.ndarray) -> np.ndarray:
    """Depth as C-ordered float32, the contract's first cast (no copy when it already is)."""
    return np.ascontiguousarray(depth, dtype=np.float32)


# ---------------------------------------------------------------- points


@njit(cache=True)
def _nan_min(a, b):  # pragma: no cover - compiled
    """``np.minimum``: NaN if either is NaN."""
    if a != a or b != b:
        return a + b
    return a if a < b else b


@njit(cache=True)
def _nan_max(a, b):  # pragma: no cover - compiled
    """``np.maximum``: NaN if either is NaN."""
    if a != a or b != b:
        return a + b
    return a if a > b else b


@njit(cache=True)
def _corner_span(p0, p1, p2, p3, limit):  # pragma: no cover - compiled
    """Pixels ``(first, last)`` covering four projected corners, one pixel of margin, clipped; empty as ``(1, 0)``."""
    first = _nan_max(np.floor(_nan_min(_nan_min(p0, p1), _nan_min(p2, p3))) - np.float32(1.0), np.float32(0.0))
    last = _nan_min(np.ceil(_nan_max(_nan_max(p0, p1), _nan_max(p2, p3))) + np.float32(1.0),
                    np.float32(limit - 1))
    if not first <= last:  # NaN -> empty
        return np.int64(1), np.int64(0)
    return np.int64(first), np.int64(last)


@njit(cache=True)
def _axis_window(lo, hi, z_near, z_far, focal, centre, limit):  # pragma: no cover - compiled
    """:func:`refinet_edge.preprocess.points._axis_window` for one joint: ``(first, last)``, empty as ``(1, 0)``."""
    p0 = (lo * focal) / z_near + centre
    p1 = (lo * focal) / z_far + centre
    p2 = (hi * focal) / z_near + centre
    p3 = (hi * focal) / z_far + centre
    return _corner_span(p0, p1, p2, p3, limit)


@njit(cache=True)
def _cube_window(jx, jy, jz, h, z_min, fx, fy, cx, cy, height, width):  # pragma: no cover - compiled
    """:func:`refinet_edge.preprocess.points.cube_window` for one joint: ``(row0, row1, col0, col1)``."""
    z_near = _nan_max(jz - h, z_min)
    z_far = jz + h
    col0, col1 = _axis_window(jx - h, jx + h, z_near, z_far, fx, cx, width)
    row0, row1 = _axis_window(jy - h, jy + h, z_near, z_far, fy, cy, height)
    return row0, row1, col0, col1


@njit(cache=True)
def _ray_axis(j, jz, h, z_near, z_far, focal, centre, limit):  # pragma: no cover - compiled
    """Rule 4b's window along one axis (:func:`refinet_edge.preprocess.points._ray_window`): ``(first, last)``."""
    p0 = ((j * (z_near / jz) + (-h)) * focal) / z_near + centre
    p1 = ((j * (z_near / jz) + h) * focal) / z_near + centre
    p2 = ((j * (z_far / jz) + (-h)) * focal) / z_far + centre
    p3 = ((j * (z_far / jz) + h) * focal) / z_far + centre
    return _corner_span(p0, p1, p2, p3, limit)


@njit(cache=True)
def _region_window(jx, jy, jz, h, reach, z_min, fx, fy, cx, cy, height, width):  # pragma: no cover - compiled
    """The cube's window (``reach`` 1) or rule 4b's ray region's: ``(row0, row1, col0, col1)``."""
    if reach == np.float32(1.0):
        return _cube_window(jx, jy, jz, h, z_min, fx, fy, cx, cy, height, width)
    long_h = reach * h
    z_near = _nan_max(jz - long_h, z_min)
    z_far = jz + long_h
    row0, row1 = _ray_axis(jy, jz, h, z_near, z_far, fy, cy, height)
    col0, col1 = _ray_axis(jx, jz, h, z_near, z_far, fx, cx, width)
    return row0, row1, col0, col1


@njit(cache=True)
def _reach_ray(d, ray_u, ray_v, jx, jy, jz, z_min, reach):  # pragma: no cover - compiled
    """Rule 4b of one pixel: ``max(|x - jx t|, |y - jy t|, |d - jz| / R)`` with ``t = d / jz``; +inf if invalid."""
    t = d / jz
    ex = ray_u * d - jx * t
    ey = ray_v * d - jy * t
    dz = abs(d - jz) / reach
    value = max(max(abs(ex), abs(ey)), dz)
    inf = np.float32(np.inf)
    return value if (d >= z_min) & (d < inf) else inf


@njit(cache=True)
def _reach(d, ray_u, ray_v, jx, jy, jz, z_min):  # pragma: no cover - compiled
    """Rule 3-4 of one pixel (its rays ``(u - cx) / fx``, ``(v - cy) / fy``): ``max(|dx|, |dy|, |dz|)``, float32.

    +inf for an invalid pixel.
    """
    dx = ray_u * d - jx
    dy = ray_v * d - jy
    dz = d - jz
    reach = max(max(abs(dx), abs(dy)), abs(dz))
    inf = np.float32(np.inf)
    return reach if (d >= z_min) & (d < inf) else inf  # branch-free (a select), so row loops vectorise


@njit(cache=True)
def _write_rows(depth, b, found, m, count, stride, authors, jx, jy, jz, h, ray_u, ray_v,
                rows):  # pragma: no cover - compiled
    """Rules 6-7 (before the authors' standardisation): rows from the ``m`` candidates ``found`` (scan order)."""
    width = depth.shape[2]
    thousand = np.float32(1000.0)
    for i in range(count):
        pixel = found[(i * m) // count] if stride else found[i]  # stride only when m > count (= N)
        r, c = pixel // width, pixel % width
        d = depth[b, r, c]
        x = ray_u[c] * d
        y = ray_v[r] * d
        if authors:
            rows[i, 0] = x * thousand
            rows[i, 1] = y * thousand
            rows[i, 2] = d * thousand
        else:
            rows[i, 0] = (x - jx) / h
            rows[i, 1] = (y - jy) / h
            rows[i, 2] = (d - jz) / h


@njit(cache=True)
def _standardise(rows, count):  # pragma: no cover - compiled
    """Authors' normalisation of rows ``[0, count)``: per axis, float64 mean/std summed in row order."""
    for a in range(3):
        total = 0.0
        for i in range(count):
            total += np.float64(rows[i, a])
        mean = total / count
        squares = 0.0
        for i in range(count):
            diff = np.float64(rows[i, a]) - mean
            squares += diff * diff
        std = np.sqrt(squares / count)
        if std == 0.0:
            std = 1.0
        mean32, std32 = np.float32(mean), np.float32(std)
        for i in range(count):
            rows[i, a] = (rows[i, a] - mean32) / std32


@njit(cache=True)
def _points_core(depth, joints, halves, sides, min_points, first_n, authors, fx, fy, cx, cy, z_min, points,
                 counts, side_m, reach):  # pragma: no cover - compiled
    batch, num_joints = joints.shape[0], joints.shape[1]
    height, width = depth.shape[1], depth.shape[2]
    num_sides, n = halves.shape[0], points.shape[2]
    hist = np.zeros(num_sides, np.int64)
    ray_region = reach != np.float32(1.0)
    found = np.empty(height * width, np.int64)  # candidates' flat pixel indices (a window is at most the image)
    cube = np.empty(height * width, np.int64)  # and the smallest cube holding each, when growing
    ray_u = np.empty(width, np.float32)  # pixel_rays: (u - cx) / fx per column, (v - cy) / fy per row
    for c in range(width):
        ray_u[c] = (np.float32(c) - cx) / fx
    row_reach = np.empty(width, np.float32)  # one row's reaches
    found_reach = np.empty(height * width, np.float32)  # and each candidate's, when growing
    ray_v = np.empty(height, np.float32)
    for r in range(height):
        ray_v[r] = (np.float32(r) - cy) / fy
    for b in range(batch):
        for j in range(num_joints):
            jx, jy, jz = joints[b, j, 0], joints[b, j, 1], joints[b, j, 2]
            if not (np.isfinite(jx) and np.isfinite(jy) and np.isfinite(jz) and jz > 0):
                continue  # points 0, count 0, side NaN (as allocated)
            # The smallest cube in its own window first; most joints need no growth. ``found`` keeps the
            # candidates' flat pixel indices in scan order.
            row0, row1, col0, col1 = _region_window(jx, jy, jz, halves[0], reach, z_min, fx, fy, cx, cy, height,
                                                    width)
            m = 0
            half0 = halves[0]
            cols = col1 - col0 + 1  # loops over range(cols) (non-negative indices) vectorise
            rays = ray_u[col0:col1 + 1]
            for r in range(row0, row1 + 1):
                line = depth[b, r, col0:col1 + 1]
                rv = ray_v[r]
                base = r * width + col0
                if ray_region:  # rule 4b (the branch stays outside the vectorised loops)
                    for i in range(cols):
                        row_reach[i] = _reach_ray(line[i], rays[i], rv, jx, jy, jz, z_min, reach)
                else:
                    for i in range(cols):
                        row_reach[i] = _reach(line[i], rays[i], rv, jx, jy, jz, z_min)
                for i in range(cols):  # branch-free compaction: write always, advance when inside
                    found[m] = base + i
                    m += row_reach[i] < half0
            k = 0
            if num_sides > 1 and m <= min_points:  # grow: rescan the largest side's window
                largest = halves[num_sides - 1]
                row0, row1, col0, col1 = _region_window(jx, jy, jz, largest, reach, z_min, fx, fy, cx, cy, height,
                                                        width)
                cols = col1 - col0 + 1
                rays = ray_u[col0:col1 + 1]
                total = 0
                for r in range(row0, row1 + 1):  # the largest cube's candidates, in scan order
                    line = depth[b, r, col0:col1 + 1]
                    rv = ray_v[r]
                    base = r * width + col0
                    if ray_region:
                        for i in range(cols):
                            row_reach[i] = _reach_ray(line[i], rays[i], rv, jx, jy, jz, z_min, reach)
                    else:
                        for i in range(cols):
                            row_reach[i] = _reach(line[i], rays[i], rv, jx, jy, jz, z_min)
                    for i in range(cols):
                        found[total] = base + i
                        found_reach[total] = row_reach[i]
                        total += row_reach[i] < largest
                hist[:] = 0
                for i in range(total):  # the smallest cube that holds each (the largest always does)
                    for s in range(num_sides):
                        if found_reach[i] < halves[s]:
                            hist[s] += 1
                            cube[i] = s
                            break
                k = num_sides - 1
                m = 0
                for s in range(num_sides):
                    m += hist[s]
                    if s < num_sides - 1 and m > min_points:
                        k = s
                        break
                if m < total:  # keep the candidates of cube k, in order
                    kept = 0
                    for i in range(total):
                        if cube[i] <= k:
                            found[kept] = found[i]
                            kept += 1
            count = min(m, n)
            if count > 0:
                rows = points[b, j]
                _write_rows(depth, b, found, m, count, m > n and not first_n, authors, jx, jy, jz, halves[k],
                            ray_u, ray_v, rows)
                if authors:
                    _standardise(rows, count)
            counts[b, j] = np.float32(count)
            side_m[b, j] = sides[k]


@functools.lru_cache(maxsize=16)
def _point_sides(cfg: PointConfig) -> tuple[np.ndarray, np.ndarray]:
    """float32 half-sides (what the cube test compares with) and sides (what ``side_m`` reports)."""
    halves = np.ascontiguousarray(cfg.half_sides_m)
    sides = np.array(cfg.sides_m, dtype=np.float32)
    halves.flags.writeable = sides.flags.writeable = False
    return halves, sides


def sample_points(depth_m: np.ndarray, joints_m: np.ndarray, camera: Camera,
                  cfg: PointConfig = _POINT_DEFAULTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`refinet_edge.preprocess.points.sample_points`, compiled (same rule, same result)."""
    depth, joints = check_frame_shapes("sample_points", depth_m, joints_m, 3, camera, batched=True)
    joints = np.ascontiguousarray(joints, dtype=np.float32)
    batch, num_joints = joints.shape[:2]
    points = np.zeros((batch, num_joints, cfg.num_points, 3), dtype=np.float32)
    counts = np.zeros((batch, num_joints), dtype=np.float32)
    side_m = np.full((batch, num_joints), np.nan, dtype=np.float32)
    halves, sides = _point_sides(cfg)
    _points_core(_depth32(depth), joints, halves, sides, int(cfg.min_points), cfg.selection == "first",
                 cfg.mode == "authors", F32(camera.fx), F32(camera.fy), F32(camera.cx), F32(camera.cy),
                 F32(Z_NEAR_M), points, counts, side_m, F32(cfg.ray_reach))
    return points, counts, side_m


# ---------------------------------------------------------------- stage B input


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


# ---------------------------------------------------------------- decoding the stages' outputs
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


# ---------------------------------------------------------------- compilation notice


class _CompileNotice(event.Listener):
    """Logs :data:`COMPILE_MESSAGE` when one of this module's kernels really compiles (not a cache load)."""

    def on_start(self, ev) -> None:
        dispatcher = (ev.data or {}).get("dispatcher")
        if not _announced and getattr(getattr(dispatcher, "py_func", None), "__module__", None) == __name__:
            _announced.append(True)
            _log.info(COMPILE_MESSAGE)

    def on_end(self, ev) -> None:
        pass


# Registered once for the process (a compilation is rare, a call is not): the notice costs nothing per call.
event.register("numba:compile", _CompileNotice())
