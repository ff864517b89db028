"""Stage C points compiled with Numba: the twin of :func:`refinet_edge.preprocess.points.sample_points` (the
contract, and its per-joint loop ``sample_points_reference``).

Same arguments, checks and messages, bit-identical result: the cube and ray windows of every side, the kept rows
in scan order with the contract's stride, and the authors' per-axis statistics summed in row order as NumPy's
``mean(axis=0)``/``std(axis=0)`` do. See :mod:`._jit` for how bit-exactness and compilation work.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from ..camera import Camera
from ._common import F32, check_frame_shapes, depth32
from .points import Z_NEAR_M, PointConfig

_POINT_DEFAULTS = PointConfig()


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
    _points_core(depth32(depth), joints, halves, sides, int(cfg.min_points), cfg.selection == "first",
                 cfg.mode == "authors", F32(camera.fx), F32(camera.fy), F32(camera.cx), F32(camera.cy),
                 F32(Z_NEAR_M), points, counts, side_m, F32(cfg.ray_reach))
    return points, counts, side_m
