"""Analytic ray casting of camera-frame surfaces into a depth map and a label map.

Each bounded primitive is intersected only with the pixels inside its
projected bounding box (its camera-frame AABB projected, which bounds it when
it lies in front of the camera), so a frame costs roughly the body's pixel
area times the number of overlapping primitives, plus a few full-image passes
for the planes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..camera import Camera
from .geometry import NEAR_M, Surface

NO_LABEL = -1


@lru_cache(maxsize=16)
def ray_grid(camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray directions ``(dx, 1, 1)`` per pixel centre: ``dx (1, W)``, ``dy (H, 1)``, ``dd (H, W)``."""
    dx = ((np.arange(camera.width) - camera.cx) / camera.fx)[None, :]
    dy = ((np.arange(camera.height) - camera.cy) / camera.fy)[:, None]
    dd = dx * dx + dy * dy + 1.0
    for a in (dx, dy, dd):
        a.setflags(write=False)
    return dx, dy, dd


def pixel_box(surface: Surface, camera: Camera) -> tuple[int, int, int, int] | None:
    """``(v0, v1, u0, u1)`` half-open pixel window covering ``surface``; None when off-image."""
    bounds = surface.aabb()
    if bounds is None or bounds[0][2] <= NEAR_M:
        if bounds is not None and bounds[1][2] <= NEAR_M:
            return None  # entirely behind the camera
        return 0, camera.height, 0, camera.width
    (x0, y0, z0), (x1, y1, z1) = bounds
    u_lo = camera.fx * min(x0 / z0, x0 / z1) + camera.cx
    u_hi = camera.fx * max(x1 / z0, x1 / z1) + camera.cx
    v_lo = camera.fy * min(y0 / z0, y0 / z1) + camera.cy
    v_hi = camera.fy * max(y1 / z0, y1 / z1) + camera.cy
    u0, u1 = max(0, math.floor(u_lo)), min(camera.width, math.ceil(u_hi) + 1)
    v0, v1 = max(0, math.floor(v_lo)), min(camera.height, math.ceil(v_hi) + 1)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


def render(surfaces: Sequence[Surface], camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffer camera-frame ``surfaces``.

    Returns:
        ``depth_m (H, W) float32`` (z of the first hit, 0 where nothing is hit)
        and ``labels (H, W) int16`` (the hit surface's label, -1 where nothing).
    """
    dx, dy, dd = ray_grid(camera)
    depth = np.full(camera.shape, np.inf)
    labels = np.full(camera.shape, NO_LABEL, dtype=np.int16)
    for surface in surfaces:
        box = pixel_box(surface, camera)
        if box is None:
            continue
        v0, v1, u0, u1 = box
        t = surface.ray_depth(dx[:, u0:u1], dy[v0:v1], dd[v0:v1, u0:u1])
        z_view, label_view = depth[v0:v1, u0:u1], labels[v0:v1, u0:u1]
        closer = t < z_view
        np.copyto(z_view, t, where=closer)
        np.copyto(label_view, surface.label, where=closer)
    depth[np.isinf(depth)] = 0.0
    return depth.astype(np.float32), labels


def pixel_ray_depths(surfaces: Sequence[Surface], camera: Camera, pixels: np.ndarray) -> np.ndarray:
    """Depth at which each pixel centre's ray enters each surface -> ``(S, N)`` (inf = miss).

    Args:
        pixels: ``(N, 2)`` integer ``(u, v)`` inside the image.
    """
    dx, dy, dd = ray_grid(camera)
    u, v = pixels[:, 0], pixels[:, 1]
    dxp, dyp, ddp = dx[0, u], dy[v, 0], dd[v, u]
    return np.array([s.ray_depth(dxp, dyp, ddp) for s in surfaces]).reshape(len(surfaces), len(pixels))
