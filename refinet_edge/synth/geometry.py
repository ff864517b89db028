"""Surface primitives (capsule, ellipsoid, box, plane) and their ray intersections.

Every primitive lives in some frame (world while a scene is built, camera frame
for rendering) and moves between frames with :meth:`moved` (``p -> R (p - C)``).
Rays start at the camera centre with direction ``(dx, dy, 1)`` in the camera
frame, so the ray parameter ``t`` *is* the depth z; ``dd = dx^2 + dy^2 + 1``.
``ray_depth`` returns the depth of the first hit in front of the camera, or
``inf`` where the ray misses; inputs broadcast (e.g. ``dx (1, w)``, ``dy (h, 1)``).

``contains`` tests points ``(..., 3)`` -> ``(...)`` bool (on the surface counts).

``label`` is what the renderer writes into its surface map: the ITOP joint
index for body parts (0-14), :data:`SCENE_LABEL` + k for scene surfaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

SCENE_LABEL = 16  # first label of scene surfaces (floor, walls, furniture)
NEAR_M = 0.05     # hits closer than this to the camera are ignored


class Surface(Protocol):
    @property
    def label(self) -> int: ...

    def moved(self, rotation: np.ndarray, origin_m: np.ndarray) -> Surface: ...
    def aabb(self) -> tuple[np.ndarray, np.ndarray] | None: ...
    def ray_depth(self, dx: np.ndarray, dy: np.ndarray, dd: np.ndarray) -> np.ndarray: ...
    def contains(self, points_m: np.ndarray) -> np.ndarray: ...


def _in_front(t: np.ndarray, hit: np.ndarray) -> np.ndarray:
    return np.where(hit & (t > NEAR_M), t, np.inf)


@dataclass(frozen=True)
class Capsule:
    """Segment ``start_m -> end_m`` (3,) swept by a sphere of ``radius_m``."""

    start_m: np.ndarray
    end_m: np.ndarray
    radius_m: float
    label: int

    def moved(self, rotation: np.ndarray, origin_m: np.ndarray) -> Capsule:
        return Capsule(rotation @ (self.start_m - origin_m), rotation @ (self.end_m - origin_m),
                       self.radius_m, self.label)

    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.minimum(self.start_m, self.end_m) - self.radius_m,
                np.maximum(self.start_m, self.end_m) + self.radius_m)

    def contains(self, points_m: np.ndarray) -> np.ndarray:
        axis = self.end_m - self.start_m
        rel = points_m - self.start_m
        s = np.clip(rel @ axis / max(float(axis @ axis), 1e-12), 0.0, 1.0)
        off = rel - s[..., None] * axis
        return (off * off).sum(-1) <= (self.radius_m * (1 + 1e-9)) ** 2

    def ray_depth(self, dx: np.ndarray, dy: np.ndarray, dd: np.ndarray) -> np.ndarray:
        # Infinite cylinder first, then the cap sphere on the side the hit falls
        # (after Inigo Quilez's capsule intersection), all scaled by |ba|^2.
        ba, oa = self.end_m - self.start_m, -self.start_m
        baba, baoa, oaoa = float(ba @ ba), float(ba @ oa), float(oa @ oa)
        r2 = self.radius_m**2
        bard = ba[0] * dx + ba[1] * dy + ba[2]
        rdoa = oa[0] * dx + oa[1] * dy + oa[2]
        a = baba * dd - bard * bard
        b = baba * rdoa - baoa * bard
        h = b * b - a * (baba * oaoa - baoa * baoa - r2 * baba)
        hit = h >= 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (-b - np.sqrt(np.maximum(h, 0.0))) / a
            y = baoa + t * bard
            at_start = ~(y > 0.0)
            bs = np.where(at_start, rdoa, rdoa - bard)  # d . (o - p) for the cap centre p
            cs = np.where(at_start, oaoa - r2, float(self.end_m @ self.end_m) - r2)
            hs = bs * bs - dd * cs
            t_cap = (-bs - np.sqrt(np.maximum(hs, 0.0))) / dd
        on_side = (y > 0.0) & (y < baba)
        t = np.where(on_side, t, np.where(hs >= 0.0, t_cap, np.inf))
        return _in_front(t, hit)


@dataclass(frozen=True)
class Ellipsoid:
    """``{centre_m + axes_m @ s : |s| <= 1}``; ``axes_m (3, 3)`` has the semi-axis vectors as columns."""

    centre_m: np.ndarray
    axes_m: np.ndarray
    label: int

    def moved(self, rotation: np.ndarray, origin_m: np.ndarray) -> Ellipsoid:
        return Ellipsoid(rotation @ (self.centre_m - origin_m), rotation @ self.axes_m, self.label)

    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        half = np.sqrt((self.axes_m**2).sum(axis=1))
        return self.centre_m - half, self.centre_m + half

    def contains(self, points_m: np.ndarray) -> np.ndarray:
        unit = (points_m - self.centre_m) @ np.linalg.inv(self.axes_m).T
        return (unit * unit).sum(-1) <= 1 + 1e-9

    def ray_depth(self, dx: np.ndarray, dy: np.ndarray, dd: np.ndarray) -> np.ndarray:
        inv = np.linalg.inv(self.axes_m)
        g = -inv @ self.centre_m  # ray origin in unit-sphere coordinates
        e = [inv[i, 0] * dx + inv[i, 1] * dy + inv[i, 2] for i in range(3)]
        qa = e[0] * e[0] + e[1] * e[1] + e[2] * e[2]
        qb = e[0] * g[0] + e[1] * g[1] + e[2] * g[2]
        h = qb * qb - qa * (float(g @ g) - 1.0)
        t = (-qb - np.sqrt(np.maximum(h, 0.0))) / qa
        return _in_front(t, h >= 0.0)


@dataclass(frozen=True)
class Box:
    """Oriented box: ``centre_m (3,)``, unit axes as columns of ``axes (3, 3)``, ``half_m (3,)``."""

    centre_m: np.ndarray
    axes: np.ndarray
    half_m: np.ndarray
    label: int

    def moved(self, rotation: np.ndarray, origin_m: np.ndarray) -> Box:
        return Box(rotation @ (self.centre_m - origin_m), rotation @ self.axes, self.half_m, self.label)

    def corners(self) -> np.ndarray:
        signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
        return self.centre_m + (signs * self.half_m) @ self.axes.T  # (8, 3)

    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        corners = self.corners()
        return corners.min(axis=0), corners.max(axis=0)

    def contains(self, points_m: np.ndarray) -> np.ndarray:
        return np.all(np.abs((points_m - self.centre_m) @ self.axes) <= self.half_m, axis=-1)

    def ray_depth(self, dx: np.ndarray, dy: np.ndarray, dd: np.ndarray) -> np.ndarray:
        origin = -self.axes.T @ self.centre_m  # camera centre in box coordinates
        lows, highs = [], []
        with np.errstate(divide="ignore", invalid="ignore"):
            for i in range(3):
                inv_e = 1.0 / (self.axes[0, i] * dx + self.axes[1, i] * dy + self.axes[2, i])
                t1 = (-self.half_m[i] - origin[i]) * inv_e
                t2 = (self.half_m[i] - origin[i]) * inv_e
                lows.append(np.minimum(t1, t2))
                highs.append(np.maximum(t1, t2))
        t_near = np.maximum(np.maximum(lows[0], lows[1]), lows[2])
        t_far = np.minimum(np.minimum(highs[0], highs[1]), highs[2])
        return _in_front(t_near, t_near <= t_far)


@dataclass(frozen=True)
class Plane:
    """Infinite plane ``normal_m . p = offset_m`` (unit normal)."""

    normal: np.ndarray
    offset_m: float
    label: int

    def moved(self, rotation: np.ndarray, origin_m: np.ndarray) -> Plane:
        return Plane(rotation @ self.normal, float(self.offset_m - self.normal @ origin_m), self.label)

    def aabb(self) -> None:
        return None  # unbounded: rendered over the whole image

    def contains(self, points_m: np.ndarray) -> np.ndarray:
        return np.zeros(np.shape(points_m)[:-1], dtype=bool)

    def ray_depth(self, dx: np.ndarray, dy: np.ndarray, dd: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = self.offset_m / (self.normal[0] * dx + self.normal[1] * dy + self.normal[2])
        return _in_front(t, np.isfinite(t))
