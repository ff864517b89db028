"""Stage C input: per joint, up to N points of the depth map's cloud in a cube around it. Reference contract.

Shapes and units
----------------
============  =====================  ==========================================
name          shape                  meaning
============  =====================  ==========================================
``depth_m``   (H, W) / (B, H, W)     metres along z; 0 = missing
``joints_m``  (J, 3) / (B, J, 3)     camera frame metres (x right, y down, z fwd)
``points``    (J, N, 3) / (B, ...)   float32, normalised (below); padding rows 0
``counts``    (J,) / (B, J)          float32 number of filled rows, ``min(M, N)``
``side_m``    (J,) / (B, J)          float32 final cube side; NaN = invalid joint
============  =====================  ==========================================

N = ``PointConfig.num_points``. Counts are float so ONNX/TensorRT never see int64.

Rule (every implementation, the CUDA kernel included)
-----------------------------------------------------
1. **float32.** ``depth_m`` and ``joints_m`` are converted to float32 first;
   the camera's fx, fy, cx, cy are used as float32. Every step is one IEEE
   float32 operation in the order written, no fused multiply-add.
2. **Valid joint**: all three coordinates finite and z > 0. Otherwise: points
   0, count 0, side NaN.
3. **Valid pixel**: depth d finite and ``d >= float32(Z_NEAR_M)`` (0.05 m;
   nothing a depth sensor measures is nearer, and it bounds the window
   below). Its point, the float32 evaluation of
   :meth:`Camera.deproject`: ``x = ((u - cx) / fx) * d``, ``y = ((v - cy) / fy) * d``,
   ``z = d``, with (u, v) = (column, row).
4. **Cube**: with ``h = float32(s / 2)``, a valid pixel is a candidate iff
   ``|x - jx| < h and |y - jy| < h and |z - jz| < h`` (strict, as the authors).
5. **Growth**: sides ``s_k = cube_side_m + k * grow_step_m`` (float64, not
   accumulated) for k = 0, 1, ... while ``s_k <= max_side_m + 1e-9``
   (:attr:`PointConfig.sides_m`: 0.30, 0.35, 0.40, 0.45 m). The final side is
   the first whose candidate count M is ``> min_points``, else the last one
   (so zero candidates give count 0 and the largest side).
6. **Selection**: candidates in scan order (row v ascending, then column u
   ascending). If M > N: ``"stride"`` keeps indices ``(i * M) // N`` for
   i = 0..N-1 (64-bit integers), spread uniformly over the cube; ``"first"``
   keeps the first N (the authors). Otherwise all M.
7. **Normalisation**: ``"metric"``: ``(p - joint) / h`` per axis (the same
   float32 differences as step 4, so every value lies in [-1, 1]).
   ``"authors"``: ``p_mm = p * 1000``; per axis, mean and population std of the
   selected ``p_mm`` (float64, two-pass, rounded to float32; std 0 -> 1), then
   ``(p_mm - mean) / std``. Rows past the count are 0. (The authors cut
   ITOP's y-up clouds; ours are in the camera frame, so y is negated.)
4b. **Ray reach** (``ray_reach = R > 1``; off at the default R = 1): the
   region follows the joint's camera ray instead of the z axis, R times
   longer along it. With ``t = d / jz``, a valid pixel is a candidate iff
   ``|x - jx * t| < h and |y - jy * t| < h and |d - jz| / R < h`` (float32,
   in that order): a square cross-section of side s centred on the ray,
   from ``jz - R h`` to ``jz + R h`` in depth. A joint the skeleton stage put
   20 cm too far along its ray still has its surface inside (the cube's
   largest half-side is 0.225 m). Points are normalised as in rule 7
   (``(p - joint) / h``, so z lies in [-R, R]) and the output units are the
   same. Its window (:func:`cube_window`): ``z_near = max(jz - R h, Z_NEAR_M)``,
   ``z_far = jz + R h``, and per depth ``z`` in {z_near, z_far} the
   cross-section's edges ``c = jx * (z / jz)``, ``u = ((c -+ h) * fx) / z + cx``
   (likewise rows), with the same floor/ceil and one-pixel margin.
8. **Network output units** (:func:`points_to_offsets_scale`): a stage C
   offset ``o`` is ``o * side_m / 2`` metres in metric mode and ``o``
   millimetres in authors mode (the authors predicted mm offsets directly).

Bounded work (:func:`cube_window`)
----------------------------------
Only pixels whose ray can reach the cube are visited: the bounding box of the
cube's projection. In float32, with ``h`` the half-side::

    z_near = max(jz - h, Z_NEAR_M)     z_far = jz + h
    u(x, z) = (x * fx) / z + cx        for x in {jx - h, jx + h}, z in {z_near, z_far}
    col0 = max(floor(min u) - 1, 0)    col1 = min(ceil(max u) + 1, W - 1)

and rows likewise with y, fy, cy, H (the 8 corners reduce to 4 per axis: u
depends on x and z only). The window is empty when ``col0 > col1`` or
``row0 > row1`` or a bound is NaN (check with isnan: C's fmaxf drops NaN).
For a fixed z, u is monotone in x and for a fixed x in 1/z, so the corners
bound every point with ``z >= z_near``; every candidate has
``z >= Z_NEAR_M`` (rule 3), and the one-pixel margin absorbs float32
rounding. So the window never drops a candidate: a full-frame scan gives
the same result (tested). :func:`sample_points` computes the window once for
the largest side and filters the candidates per side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import Camera
from ..errors import RefinetError
from ._common import F32, check_choice, check_frame, check_int, check_real

Z_NEAR_M = 0.05  # nearest depth (m) that counts as a measurement for stage C
POINT_MODES = ("metric", "authors")
SELECTIONS = ("stride", "first")
MAX_GROWTH_STEPS = 64


@dataclass(frozen=True)
class PointConfig:
    """How stage C point clouds are sampled (see the module docstring for the exact rule)."""

    mode: str = "metric"  # "metric": (p - joint) / (s/2); "authors": per-axis standardised mm
    num_points: int = 256  # N rows per joint (published: 2000 side view, 5000 top view)
    cube_side_m: float = 0.30  # first cube side
    grow_step_m: float = 0.05  # growth while the cube holds <= min_points
    max_side_m: float = 0.45  # largest side
    min_points: int = 128
    selection: str = "stride"  # "stride": uniform over the cube; "first": first N in scan order
    passes: int = 1  # stage C runs this many times at inference, each pass on the previous pass's joints
    ray_reach: float = 1.0  # R >= 1: the region follows the joint's camera ray, R times longer along it (rule 4b)

    def __post_init__(self) -> None:
        check_choice("PointConfig", "mode", self.mode, POINT_MODES)
        check_choice("PointConfig", "selection", self.selection, SELECTIONS)
        check_int("PointConfig", "num_points", self.num_points, 1)
        check_int("PointConfig", "min_points", self.min_points, 0)
        check_int("PointConfig", "passes", self.passes, 1)
        for field in ("cube_side_m", "grow_step_m", "max_side_m"):
            check_real("PointConfig", field, getattr(self, field))
        check_real("PointConfig", "ray_reach", self.ray_reach)
        if self.ray_reach < 1.0:
            raise RefinetError(f"PointConfig.ray_reach must be >= 1 (1 = the cube), got {self.ray_reach}")
        if self.ray_reach != 1.0 and F32(self.ray_reach) == F32(1.0):  # the paths compare R in float32 or float64
            raise RefinetError(f"PointConfig.ray_reach {self.ray_reach!r} rounds to 1 in float32: use 1 (the cube) "
                               f"or a value at least {float(np.nextafter(F32(1.0), F32(2.0)))}")
        if self.max_side_m < self.cube_side_m:
            raise RefinetError(f"PointConfig.max_side_m ({self.max_side_m}) must be >= cube_side_m "
                               f"({self.cube_side_m}); set max_side_m = cube_side_m to disable growth")
        if (self.max_side_m - self.cube_side_m) / self.grow_step_m > MAX_GROWTH_STEPS:
            raise RefinetError(f"PointConfig.grow_step_m ({self.grow_step_m}) is too small: more than "
                               f"{MAX_GROWTH_STEPS} steps from {self.cube_side_m} to {self.max_side_m} m")

    @property
    def sides_m(self) -> tuple[float, ...]:
        """Cube sides tried in order (float64): ``cube_side_m + k * grow_step_m``."""
        sides = [float(self.cube_side_m)]
        while self.cube_side_m + len(sides) * self.grow_step_m <= self.max_side_m + 1e-9:
            sides.append(self.cube_side_m + len(sides) * self.grow_step_m)
        return tuple(sides)

    @property
    def half_sides_m(self) -> np.ndarray:
        """float32 ``h_k = s_k / 2`` for :attr:`sides_m` (what the kernels compare against)."""
        return np.array([0.5 * s for s in self.sides_m], dtype=np.float32)


def points_to_offsets_scale(side_m: np.ndarray, cfg: PointConfig = PointConfig()) -> np.ndarray:
    """Metres per unit of stage C output: ``side_m / 2`` (metric) or 0.001 (authors, mm); float32, NaN kept."""
    side = np.asarray(side_m, dtype=np.float32)
    if cfg.mode == "metric":
        return side * F32(0.5)
    return np.where(np.isnan(side), F32(np.nan), F32(0.001)).astype(np.float32)


def cube_window(joints_m: np.ndarray, half_m: float | np.floating, camera: Camera,
                ray_reach: float = 1.0) -> tuple[np.ndarray, ...]:
    """Pixel windows ``(row0, row1, col0, col1)`` (inclusive, int64, each ``(...)``) around ``joints_m (..., 3)``.

    The module's bounding rule for cubes of half-side ``half_m`` (or, with
    ``ray_reach`` > 1, the ray region of rule 4b), vectorised over joints; an
    empty window has ``row0 > row1`` or ``col0 > col1``. Joints must be valid (rule 2).
    """
    joints = np.asarray(joints_m, dtype=np.float32)
    h = F32(half_m)
    jx, jy, jz = joints[..., 0], joints[..., 1], joints[..., 2]
    if ray_reach != 1.0:
        return _ray_window(jx, jy, jz, h, F32(ray_reach), camera)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        z_near = np.maximum(jz - h, F32(Z_NEAR_M))
        z_far = jz + h
        col0, col1 = _axis_window(jx - h, jx + h, z_near, z_far, camera.fx, camera.cx, camera.width)
        row0, row1 = _axis_window(jy - h, jy + h, z_near, z_far, camera.fy, camera.cy, camera.height)
    return row0, row1, col0, col1


def _axis_window(lo: np.ndarray, hi: np.ndarray, z_near: np.ndarray, z_far: np.ndarray, focal: float,
                 centre: float, limit: int) -> tuple[np.ndarray, np.ndarray]:
    f, c = F32(focal), F32(centre)
    return _corner_span([(x * f) / z + c for x in (lo, hi) for z in (z_near, z_far)], limit)


def _corner_span(proj: list[np.ndarray], limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(first, last)`` covering four projected corners, one pixel of margin, clipped; empty as ``(1, 0)``."""
    first = np.maximum(np.floor(np.minimum(np.minimum(proj[0], proj[1]), np.minimum(proj[2], proj[3]))) - 1, F32(0))
    last = np.minimum(np.ceil(np.maximum(np.maximum(proj[0], proj[1]), np.maximum(proj[2], proj[3]))) + 1,
                      F32(limit - 1))
    empty = ~(first <= last)  # NaN -> empty
    return np.where(empty, 1, first).astype(np.int64), np.where(empty, 0, last).astype(np.int64)


def _ray_window(jx: np.ndarray, jy: np.ndarray, jz: np.ndarray, h: np.float32, reach: np.float32,
                camera: Camera) -> tuple[np.ndarray, ...]:
    """Rule 4b's window: the cross-sections at ``z_near`` and ``z_far`` projected, floor/ceil, one-pixel margin."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        long_h = reach * h
        z_near = np.maximum(jz - long_h, F32(Z_NEAR_M))
        z_far = jz + long_h
        out: list[np.ndarray] = []
        for j, focal, centre, limit in ((jy, camera.fy, camera.cy, camera.height), (jx, camera.fx, camera.cx,
                                                                                    camera.width)):
            f, c = F32(focal), F32(centre)
            out += _corner_span([((j * (z / jz) + side) * f) / z + c for z in (z_near, z_far) for side in (-h, h)],
                                limit)
    return out[0], out[1], out[2], out[3]


def pixel_rays(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``(u - cx) / fx`` per column ``(W,)`` and ``(v - cy) / fy`` per row ``(H,)``."""
    ray_u = (np.arange(camera.width, dtype=np.float32) - F32(camera.cx)) / F32(camera.fx)
    ray_v = (np.arange(camera.height, dtype=np.float32) - F32(camera.cy)) / F32(camera.fy)
    return ray_u, ray_v


def normalise_points(selected: np.ndarray, joint: np.ndarray, half_m: np.float32, mode: str) -> np.ndarray:
    """Rule 7 on one joint's selected float32 points ``(M, 3)`` -> ``(M, 3)`` float32."""
    if mode == "metric":
        return ((selected - joint) / half_m).astype(np.float32)
    p_mm = selected * F32(1000)
    values = p_mm.astype(np.float64)
    mean = values.mean(axis=0) if len(values) else np.zeros(3)
    std = values.std(axis=0) if len(values) else np.ones(3)
    std[std == 0] = 1.0
    return ((p_mm - mean.astype(np.float32)) / std.astype(np.float32)).astype(np.float32)


# ---------------------------------------------------------------- reference


def sample_points_reference(depth_m: np.ndarray, joints_m: np.ndarray, camera: Camera,
                            cfg: PointConfig = PointConfig(), *,
                            bounded: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame, straightforward: ``depth_m (H, W)``, ``joints_m (J, 3)`` -> points, counts, side_m.

    Each side of the growth loop rescans its own window; ``bounded=False``
    scans the whole image instead (the naive scan the window must equal).
    Returns ``points (J, N, 3)``, ``counts (J,)``, ``side_m (J,)``, float32.
    """
    depth, joints = check_frame("sample_points_reference", depth_m, joints_m, 3, camera, batched=False)
    num_joints, n = len(joints), cfg.num_points
    points = np.zeros((num_joints, n, 3), dtype=np.float32)
    counts = np.zeros(num_joints, dtype=np.float32)
    side_m = np.full(num_joints, np.nan, dtype=np.float32)
    sides, halves = cfg.sides_m, cfg.half_sides_m
    for j, joint in enumerate(joints):
        if not (np.all(np.isfinite(joint)) and joint[2] > 0):
            continue
        for k in range(len(sides)):
            cloud = _cube_points_reference(depth, joint, halves[k], camera, bounded, cfg.ray_reach)
            if len(cloud) > cfg.min_points:
                break
        m = len(cloud)
        if m <= n:
            keep = list(range(m))
        elif cfg.selection == "first":
            keep = list(range(n))
        else:
            keep = [i * m // n for i in range(n)]
        points[j, : len(keep)] = normalise_points(cloud[keep], joint, halves[k], cfg.mode)
        counts[j], side_m[j] = len(keep), sides[k]
    return points, counts, side_m


def _cube_points_reference(depth: np.ndarray, joint: np.ndarray, half: np.float32, camera: Camera,
                           bounded: bool, ray_reach: float = 1.0) -> np.ndarray:
    """Candidate points ``(M, 3)`` float32 of one cube (or ray region), in scan order."""
    row0, row1, col0, col1 = 0, camera.height - 1, 0, camera.width - 1
    if bounded:
        row0, row1, col0, col1 = (int(b) for b in cube_window(joint, half, camera, ray_reach))
    rows = np.arange(row0, row1 + 1, dtype=np.float32)[:, None]  # empty window -> no rows or columns
    cols = np.arange(col0, col1 + 1, dtype=np.float32)[None, :]
    d = depth[row0 : row1 + 1, col0 : col1 + 1]
    x = ((cols - F32(camera.cx)) / F32(camera.fx)) * d
    y = ((rows - F32(camera.cy)) / F32(camera.fy)) * d
    if ray_reach != 1.0:
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            t = d / joint[2]
            inside = ((d >= F32(Z_NEAR_M)) & (np.abs(x - joint[0] * t) < half) & (np.abs(y - joint[1] * t) < half)
                      & (np.abs(d - joint[2]) / F32(ray_reach) < half))
        return np.stack([x[inside], y[inside], d[inside]], axis=-1)
    inside = ((d >= F32(Z_NEAR_M)) & (np.abs(x - joint[0]) < half) & (np.abs(y - joint[1]) < half)
              & (np.abs(d - joint[2]) < half))
    return np.stack([x[inside], y[inside], d[inside]], axis=-1)  # boolean masks read row-major


# ---------------------------------------------------------------- batched NumPy


def sample_points(depth_m: np.ndarray, joints_m: np.ndarray, camera: Camera,
                  cfg: PointConfig = PointConfig()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched: ``depth_m (B, H, W)``, ``joints_m (B, J, 3)`` -> ``(B, J, N, 3)``, ``(B, J)``, ``(B, J)``.

    Equal to :func:`sample_points_reference` frame by frame. Visits only each
    joint's window: first the smallest cube's (enough for most joints), and
    the largest side's only when the cube must grow; vectorised inside it.
    """
    depth, joints = check_frame("sample_points", depth_m, joints_m, 3, camera, batched=True)
    batch, num_joints = joints.shape[:2]
    points = np.zeros((batch, num_joints, cfg.num_points, 3), dtype=np.float32)
    counts = np.zeros((batch, num_joints), dtype=np.float32)
    side_m = np.full((batch, num_joints), np.nan, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(joints).all(axis=-1) & (joints[..., 2] > 0)  # (B, J)
    safe = np.where(valid[..., None], joints, F32(1))
    sides, halves = cfg.sides_m, cfg.half_sides_m
    windows = np.stack(cube_window(safe, halves[-1], camera, cfg.ray_reach), axis=-1)  # (B, J, 4)
    first = np.stack(cube_window(safe, halves[0], camera, cfg.ray_reach), axis=-1)  # most joints need no growth
    rays = pixel_rays(camera)
    reach = cfg.ray_reach
    for b, j in zip(*np.nonzero(valid), strict=True):
        k, flat, planes = _cube_candidates(depth[b], first[b, j], joints[b, j], rays, halves[:1], cfg.min_points,
                                           reach)
        if len(halves) > 1 and len(flat) <= cfg.min_points:  # grow: rescan the largest side's window
            k, flat, planes = _cube_candidates(depth[b], windows[b, j], joints[b, j], rays, halves, cfg.min_points,
                                               reach)
        chosen = flat[_select(len(flat), cfg.num_points, cfg.selection)]  # gather only the selected rows
        if cfg.mode == "metric":  # the cube test's own differences
            delta = np.stack([plane.ravel()[chosen] for plane in planes[3:]], axis=-1)
            points[b, j, : len(chosen)] = delta / halves[k]
        else:
            cloud = np.stack([plane.ravel()[chosen] for plane in planes[:3]], axis=-1)
            points[b, j, : len(chosen)] = normalise_points(cloud, joints[b, j], halves[k], cfg.mode)
        counts[b, j], side_m[b, j] = len(chosen), sides[k]
    return points, counts, side_m


def _cube_candidates(depth: np.ndarray, bounds: np.ndarray, joint: np.ndarray, rays: tuple[np.ndarray, np.ndarray],
                     halves: np.ndarray, min_points: int,
                     ray_reach: float = 1.0) -> tuple[int, np.ndarray, tuple[np.ndarray, ...]]:
    """Rules 3-5 in one window ``bounds = (row0, row1, col0, col1)`` of ``depth (H, W)`` for cubes ``halves``.

    Returns ``(k, flat, (x, y, z, dx, dy, dz))``: the side, the candidates'
    flat indices into the window in scan order, and the window's float32
    planes (the points and their differences from the joint). Any
    window that holds cube ``halves[-1]`` holds every smaller one too, and a
    sub-window keeps the image's scan order, so the result does not depend on
    which such window is scanned.
    """
    row0, row1, col0, col1 = bounds
    window = depth[row0 : row1 + 1, col0 : col1 + 1]
    ray_u, ray_v = rays[0][col0 : col1 + 1], rays[1][row0 : row1 + 1]
    x = ray_u[None, :] * window  # (h, w) float32
    y = ray_v[:, None] * window
    dx, dy, dz = x - joint[0], y - joint[1], window - joint[2]
    if ray_reach != 1.0:  # rule 4b: across the joint's ray, and along it R times further
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            t = window / joint[2]
            reach = np.maximum(np.maximum(np.abs(x - joint[0] * t), np.abs(y - joint[1] * t)),
                               np.abs(dz) / F32(ray_reach))
    else:
        reach = np.maximum(np.maximum(np.abs(dx), np.abs(dy)), np.abs(dz))  # inside iff reach < h
    reach[window < F32(Z_NEAR_M)] = np.inf
    flat = np.flatnonzero(reach < halves[-1])  # scan order
    reach = reach.ravel()[flat]
    k = len(halves) - 1
    for step, half in enumerate(halves[:-1]):
        if np.count_nonzero(reach < half) > min_points:
            k = step
            break
    if k < len(halves) - 1:
        flat = flat[reach < halves[k]]
    return k, flat, (x, y, window, dx, dy, dz)


def _select(m: int, n: int, selection: str) -> np.ndarray:
    """Rule 6: indices into ``m`` scan-ordered candidates."""
    if m <= n:
        return np.arange(m)
    if selection == "first":
        return np.arange(n)
    return (np.arange(n, dtype=np.int64) * m) // n
