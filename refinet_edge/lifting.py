"""Lift 2D joints to 3D with the depth map: the baseline every refinement beats.

Rule (the RefiNet authors', with the corner cases made explicit):

1. **Pixel**: the joint's pixel is ``(row, col) = (rint(v), rint(u))``, the
   pixel whose centre is nearest (integer coordinates are pixel centres, see
   :mod:`refinet_edge.camera`). The authors truncated with ``int()``, which
   shifts every joint by up to a pixel towards the top-left; we round.
2. **Outside the image**: the pixel is clamped to the nearest image pixel, so
   a joint just off the border reads the border's depth.
3. **Depth**: z = median of the valid depth (finite and > 0; 0 means no
   measurement) in the ``window x window`` box centred on that pixel, the box
   clipped to the image (pixels outside the image are not counted). The median
   of an even count is the mean of the two middle values, as ``np.median``.
4. **Holes**: a box with no valid pixel grows (9 -> 17 -> 33 for the default
   ``window=9, grow_steps=2``: each size is ``max(2 * w - 1, w + 2)``); if it is
   still empty, z = median of the depths of the person's joints that were
   lifted from a box (steps 3-4). If no joint of the person was, z = NaN.
5. **x, y** = :meth:`Camera.deproject` of the joint's own (unrounded,
   unclamped) ``uv_px`` at depth z.
6. **Missing joints**: a NaN (or infinite) 2D joint gives a NaN 3D joint.

:func:`lift_joints_detailed` also says where each z came from
(:class:`DepthSource`); :func:`lift_joints_reference` is a plain loop version
of the same rule, used by the tests to check the vectorised one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from .camera import Camera
from .errors import RefinetError

_CHUNK_VALUES = 1 << 20  # window pixels gathered at once (8 MiB of float64)


class DepthSource(enum.IntEnum):
    """Where a lifted joint's depth came from."""

    NONE = 0  # no depth: missing 2D joint, or no depth anywhere on the person
    WINDOW = 1  # median of the first window
    GROWN_WINDOW = 2  # median of a grown window
    PERSON_MEDIAN = 3  # median depth of the person's other lifted joints


_NO_DEPTH = int(DepthSource.NONE)


@dataclass(frozen=True)
class LiftResult:
    """Lifted joints and the source of each depth.

    Attributes:
        joints_m: ``(..., J, 3)`` float64 camera-frame metres; NaN where no depth.
        depth_source: ``(..., J)`` int8 :class:`DepthSource` values.
    """

    joints_m: np.ndarray
    depth_source: np.ndarray

    @property
    def has_depth(self) -> np.ndarray:
        """``(..., J)`` bool: the joint got a depth (from any source)."""
        return self.depth_source != _NO_DEPTH  # a plain int: comparing with the enum member costs ~3 us


def window_sizes(window: int, grow_steps: int) -> tuple[int, ...]:
    """The window sizes tried in order, e.g. ``(9, 17, 33)`` for ``(9, 2)``."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1 or window % 2 == 0:
        raise RefinetError(f"lifting window must be an odd integer >= 1 (e.g. 9), got {window!r}")
    if isinstance(grow_steps, bool) or not isinstance(grow_steps, (int, np.integer)) or grow_steps < 0:
        raise RefinetError(f"lifting grow_steps must be an integer >= 0, got {grow_steps!r}")
    sizes = [int(window)]
    for _ in range(grow_steps):
        sizes.append(max(2 * sizes[-1] - 1, sizes[-1] + 2))
    return tuple(sizes)


def _check_inputs(uv_px: np.ndarray, depth_m: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Validate and add a batch axis: -> ``uv (B, J, 2)`` float64, ``depth (B, H, W)``."""
    uv_px = np.asarray(uv_px, dtype=np.float64)
    depth_m = np.asarray(depth_m)
    batched = uv_px.ndim == 3
    if uv_px.ndim not in (2, 3) or uv_px.shape[-1] != 2 or depth_m.ndim != uv_px.ndim:
        raise RefinetError(
            f"lift_joints expects uv_px (B, J, 2) with depth_m (B, H, W), or (J, 2) with (H, W); "
            f"got {uv_px.shape} and {depth_m.shape}"
        )
    if batched and uv_px.shape[0] != depth_m.shape[0]:
        raise RefinetError(f"lift_joints: {uv_px.shape[0]} poses but {depth_m.shape[0]} depth maps")
    if depth_m.shape[-2:] != camera.shape:
        raise RefinetError(
            f"depth map shape {depth_m.shape[-2:]} does not match camera {camera.name!r} {camera.shape}"
        )
    if not batched:
        return uv_px[None], depth_m[None]
    return uv_px, depth_m


def median_of_finite(values: np.ndarray) -> np.ndarray:
    """Median over the last axis ignoring NaN: ``(N, K)`` -> ``(N,)``, NaN if none."""
    if values.shape[-1] == 0:
        return np.full(values.shape[0], np.nan)
    ordered = np.sort(values, axis=-1)  # NaN sort last
    count = np.count_nonzero(np.isfinite(values), axis=-1)  # (N,)
    rows = np.arange(len(count))
    lo = ordered[rows, (np.maximum(count, 1) - 1) // 2]
    hi = ordered[rows, count // 2]  # count // 2 < K
    return np.where(count > 0, (lo + hi) / 2.0, np.nan)


def window_median(depth_m: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  size: int) -> np.ndarray:
    """Median valid depth in ``size x size`` boxes: ``depth_m (B, H, W)``, centres ``(N,)`` -> ``(N,)``.

    ``b``, ``rows``, ``cols`` are int arrays of image index and pixel centre
    (inside the image); the box is clipped to the image; NaN where it holds no
    valid pixel (finite and > 0).
    """
    height, width = depth_m.shape[1:]
    offsets = np.arange(size) - size // 2
    out = np.empty(len(b))
    step = max(1, _CHUNK_VALUES // (size * size))
    for start in range(0, len(b), step):
        sl = slice(start, start + step)
        rr = rows[sl, None] + offsets  # (n, size)
        cc = cols[sl, None] + offsets
        inside = ((rr >= 0) & (rr < height))[:, :, None] & ((cc >= 0) & (cc < width))[:, None, :]
        vals = depth_m[b[sl, None, None], np.clip(rr, 0, height - 1)[:, :, None],
                       np.clip(cc, 0, width - 1)[:, None, :]].astype(np.float64)  # (n, size, size)
        with np.errstate(invalid="ignore"):
            valid = inside & (vals > 0) & np.isfinite(vals)
        out[sl] = median_of_finite(np.where(valid, vals, np.nan).reshape(len(rr), -1))
    return out


def lift_joints_detailed(uv_px: np.ndarray, depth_m: np.ndarray, camera: Camera,
                         window: int = 9, grow_steps: int = 2) -> LiftResult:
    """Lift ``uv_px (B, J, 2)`` with ``depth_m (B, H, W)`` (or unbatched) by the module's rule.

    Returns a :class:`LiftResult` whose arrays have the input's batch shape.
    """
    sizes = window_sizes(window, grow_steps)
    uv, depth = _check_inputs(uv_px, depth_m, camera)
    batch, num_joints = uv.shape[:2]
    finite = np.all(np.isfinite(uv), axis=-1)  # (B, J)
    centre = np.where(finite[..., None], np.rint(uv), 0.0)
    cols = np.clip(centre[..., 0], 0, camera.width - 1).astype(np.int64)  # (B, J)
    rows = np.clip(centre[..., 1], 0, camera.height - 1).astype(np.int64)

    z = np.full((batch, num_joints), np.nan)
    source = np.zeros((batch, num_joints), dtype=np.int8)
    pending = finite.copy()
    for k, size in enumerate(sizes):
        bi, ji = np.nonzero(pending)
        med = window_median(depth, bi, rows[bi, ji], cols[bi, ji], size)
        ok = np.isfinite(med)
        z[bi[ok], ji[ok]] = med[ok]
        source[bi[ok], ji[ok]] = DepthSource.WINDOW if k == 0 else DepthSource.GROWN_WINDOW
        pending[bi[ok], ji[ok]] = False

    person_z = median_of_finite(z)  # (B,) over window-lifted joints only
    fill = pending & np.isfinite(person_z)[:, None]
    z = np.where(fill, person_z[:, None], z)
    source[fill] = DepthSource.PERSON_MEDIAN

    joints = camera.deproject(uv, z)  # NaN z -> NaN x, y, z
    if np.asarray(uv_px).ndim == 2:
        return LiftResult(joints[0], source[0])
    return LiftResult(joints, source)


def lift_joints(uv_px: np.ndarray, depth_m: np.ndarray, camera: Camera,
                window: int = 9, grow_steps: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Lift 2D joints to 3D camera-frame metres with the depth map (module rule).

    Args:
        uv_px: ``(B, J, 2)`` or ``(J, 2)`` pixel coordinates (J = 15 for ITOP);
            NaN for missing joints.
        depth_m: ``(B, H, W)`` or ``(H, W)`` depth in metres (any float dtype),
            0 = no measurement; ``(H, W)`` must equal ``camera.shape``.
        camera: intrinsics of the depth map.
        window: first window size in px (odd; authors: 9 for ITOP, 3 for Baracca).
        grow_steps: how many times an empty window grows before the person
            fallback.

    Returns:
        ``(joints_m (..., J, 3) float64, has_depth (..., J) bool)``; joints
        without depth are NaN. ``has_depth`` is also true for joints whose
        depth is the person median (see :func:`lift_joints_detailed`).
    """
    result = lift_joints_detailed(uv_px, depth_m, camera, window, grow_steps)
    return result.joints_m, result.has_depth


def lift_joints_reference(uv_px: np.ndarray, depth_m: np.ndarray, camera: Camera,
                          window: int = 9, grow_steps: int = 2) -> LiftResult:
    """Loop-based reference of :func:`lift_joints_detailed`: slow, for tests only."""
    sizes = window_sizes(window, grow_steps)
    uv, depth = _check_inputs(uv_px, depth_m, camera)
    height, width = camera.shape
    joints = np.full(uv.shape[:2] + (3,), np.nan)
    source = np.zeros(uv.shape[:2], dtype=np.int8)
    for b in range(uv.shape[0]):
        depths: dict[int, float] = {}
        for j in range(uv.shape[1]):
            u, v = float(uv[b, j, 0]), float(uv[b, j, 1])
            if not (np.isfinite(u) and np.isfinite(v)):
                continue
            col = min(max(round(u), 0), width - 1)
            row = min(max(round(v), 0), height - 1)
            for k, size in enumerate(sizes):
                half = size // 2
                values = [
                    float(depth[b, r, c])
                    for r in range(max(row - half, 0), min(row + half, height - 1) + 1)
                    for c in range(max(col - half, 0), min(col + half, width - 1) + 1)
                    if np.isfinite(depth[b, r, c]) and depth[b, r, c] > 0
                ]
                if values:
                    depths[j] = float(np.median(values))
                    source[b, j] = DepthSource.WINDOW if k == 0 else DepthSource.GROWN_WINDOW
                    break
        person = float(np.median(list(depths.values()))) if depths else None
        for j in range(uv.shape[1]):
            if np.all(np.isfinite(uv[b, j])) and j not in depths and person is not None:
                depths[j] = person
                source[b, j] = DepthSource.PERSON_MEDIAN
            if j in depths:
                joints[b, j] = camera.deproject(uv[b, j], np.asarray(depths[j]))
    if np.asarray(uv_px).ndim == 2:
        return LiftResult(joints[0], source[0])
    return LiftResult(joints, source)
