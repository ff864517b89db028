"""Room around the person (floor, walls, furniture, occluders) and camera placement.

World frame: z up, floor at z = 0, metres (see :mod:`.poses`). Camera poses map
world points into the package's camera frame (x right, y down, z forward):
``p_cam = rotation @ (p_world - centre_m)``.

Views
-----
* ``side``: camera 0.9-1.9 m above the floor, looking roughly horizontally at
  the person (tilt clamped to 35 deg) with the body off-centre by up to 12 % of
  the field of view and a little roll; horizontal distance drawn between the
  closest distance at which every joint is inside the image and 4.7 m (never
  below 0.8 m).
* ``top``: camera on a ceiling 2.7-3.5 m high (at least 0.9 m above the highest
  joint), up to 0.8 m off to the side of the person, aimed at the body, any
  rotation about its axis (as in ITOP's top view).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import Camera
from .geometry import SCENE_LABEL, Box, Plane, Surface
from .poses import rot_z

VIEWS = ("side", "top")
SIDE_HEIGHT_M = (0.9, 1.9)
CEILING_M = (2.7, 3.5)
MAX_DISTANCE_M = 4.7  # horizontal camera-body distance drawn up to this (side view)
MAX_DEPTH_M = 4.9     # torso depth kept below this where the fit allows
FLOOR, BACK_WALL, SIDE_WALL, FIRST_OBJECT = (SCENE_LABEL + k for k in range(4))
_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class CameraPose:
    """Extrinsics: ``p_cam = rotation (3, 3) @ (p_world - centre_m (3,))``."""

    rotation: np.ndarray
    centre_m: np.ndarray

    def to_camera(self, points_m: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` -> camera frame ``(..., 3)``."""
        return (np.asarray(points_m) - self.centre_m) @ self.rotation.T

    @property
    def world_to_camera(self) -> np.ndarray:
        """4x4 homogeneous transform."""
        out = np.eye(4)
        out[:3, :3], out[:3, 3] = self.rotation, -self.rotation @ self.centre_m
        return out


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (np.cross is slow for single vectors)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def look_rotation(forward: np.ndarray, up_hint: np.ndarray) -> np.ndarray:
    """World->camera rotation whose z axis is ``forward`` and whose image "up" leans to ``up_hint``."""
    z = forward / np.sqrt(forward @ forward)
    x = _cross(z, up_hint)
    x /= np.sqrt(x @ x)
    return np.array([x, _cross(z, x), z])


def _small_turn(yaw_rad: float, pitch_rad: float, roll_rad: float) -> np.ndarray:
    """A rotation of the camera frame about its own y (yaw), x (pitch) and z (roll) axes."""
    cy, sy, cp, sp, cr, sr = (f(a) for a in (yaw_rad, pitch_rad, roll_rad) for f in (np.cos, np.sin))
    yaw = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    pitch = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
    roll = np.array([[cr, sr, 0], [-sr, cr, 0], [0, 0, 1]])
    return roll @ pitch @ yaw


def joints_fit(camera: Camera, pose: CameraPose, joints_w: np.ndarray, margin: float = 0.04) -> bool:
    """Do all joints project inside the image, ``margin`` (fraction of the size) from the border?"""
    xyz = pose.to_camera(joints_w)
    if np.any(xyz[:, 2] < 0.5):
        return False
    uv = camera.project(xyz)
    mu, mv = margin * camera.width, margin * camera.height
    return bool(np.all((uv[:, 0] >= mu) & (uv[:, 0] <= camera.width - 1 - mu)
                       & (uv[:, 1] >= mv) & (uv[:, 1] <= camera.height - 1 - mv)))


def place_side_camera(rng: np.random.Generator, camera: Camera, joints_w: np.ndarray,
                      max_distance_m: float = MAX_DISTANCE_M) -> CameraPose:
    """A side-view camera looking at the body from a random horizontal direction.

    The horizontal distance to the body centre is uniform between the closest
    one at which all joints fit (at least 0.8 m) and ``max_distance_m``.
    """
    centre = 0.5 * (joints_w.min(axis=0) + joints_w.max(axis=0))
    azimuth = rng.uniform(0.0, 2 * np.pi)
    look_h = np.array([np.cos(azimuth), np.sin(azimuth), 0.0])
    height = rng.uniform(*SIDE_HEIGHT_M)
    fov_x, fov_y = np.arctan(camera.width / (2 * camera.fx)), np.arctan(camera.height / (2 * camera.fy))
    turn = _small_turn(rng.uniform(-0.12, 0.12) * fov_x, rng.uniform(-0.12, 0.12) * fov_y,
                       np.radians(rng.uniform(-4, 4)))

    def pose_at(distance: float) -> CameraPose:
        dz = np.clip(height - centre[2], -distance * np.tan(np.radians(20)),
                     distance * np.tan(np.radians(35)))
        eye = centre - distance * look_h + np.array([0.0, 0.0, dz])
        return CameraPose(turn @ look_rotation(centre - eye, _UP), eye)

    distance = 0.8
    while distance < max_distance_m and not joints_fit(camera, pose_at(distance), joints_w):
        distance *= 1.06
    closest = distance
    distance = rng.uniform(distance, max(distance, max_distance_m))
    while distance < 6.0 and not joints_fit(camera, pose_at(distance), joints_w):
        distance *= 1.05
    while distance > closest and pose_at(distance).to_camera(joints_w[8])[2] > MAX_DEPTH_M:
        distance *= 0.98  # keep the torso within reach of the sensor
    return pose_at(distance)


def place_top_camera(rng: np.random.Generator, camera: Camera, joints_w: np.ndarray) -> CameraPose:
    """A ceiling camera looking down at the body."""
    centre = 0.5 * (joints_w.min(axis=0) + joints_w.max(axis=0))
    ceiling = max(rng.uniform(*CEILING_M), joints_w[:, 2].max() + 0.9)
    offset = rng.uniform(0.0, 0.8)
    offset_dir, up_dir = rng.uniform(0.0, 2 * np.pi, 2)
    up_hint = np.array([np.cos(up_dir), np.sin(up_dir), 0.0])
    for _ in range(40):
        eye = np.array([centre[0] + offset * np.cos(offset_dir), centre[1] + offset * np.sin(offset_dir),
                        ceiling])
        pose = CameraPose(look_rotation(centre - eye, up_hint), eye)
        if joints_fit(camera, pose, joints_w, margin=0.03):
            break
        if offset > 0.1:
            offset *= 0.7
        else:
            ceiling += 0.15
    return pose


def place_camera(rng: np.random.Generator, camera: Camera, view: str, joints_w: np.ndarray) -> CameraPose:
    if view == "side":
        return place_side_camera(rng, camera, joints_w)
    return place_top_camera(rng, camera, joints_w)


# ------------------------------------------------------------------ furniture
def _yaw_axes(yaw_rad: float) -> np.ndarray:
    return rot_z(np.degrees(yaw_rad))


def table(centre_xy: np.ndarray, yaw_rad: float, size_m: np.ndarray, label: int) -> list[Surface]:
    """Table (or stool) with a 4 cm top and four 4 cm legs; ``size_m`` = (width, depth, height)."""
    axes = _yaw_axes(yaw_rad)
    w, d, h = size_m
    top = Box(np.array([*centre_xy, h - 0.02]), axes, np.array([w / 2, d / 2, 0.02]), label)
    leg_half = np.array([0.02, 0.02, h / 2 - 0.02])
    floor_centre = np.array([*centre_xy, 0.0])
    legs = [
        Box(floor_centre + axes @ np.array([sx * (w / 2 - 0.04), sy * (d / 2 - 0.04), h / 2 - 0.02]),
            axes, leg_half, label)
        for sx in (-1, 1) for sy in (-1, 1)
    ]
    return [top, *legs]


def crate(centre_xy: np.ndarray, yaw_rad: float, size_m: np.ndarray, label: int) -> list[Surface]:
    """A closed box standing on the floor; ``size_m`` = (width, depth, height)."""
    return [Box(np.array([*centre_xy, size_m[2] / 2]), _yaw_axes(yaw_rad), size_m / 2, label)]


def chair_under(joints_w: np.ndarray, body_hip_r_m: float, thigh_r_m: float, facing_rad: float,
                rng: np.random.Generator, label: int) -> list[Surface]:
    """A chair whose seat touches the thighs of a seated body (backrest with probability 0.7)."""
    hip_centre = 0.5 * (joints_w[9] + joints_w[10])
    forward = np.array([np.cos(facing_rad), np.sin(facing_rad)])
    seat_top = max(hip_centre[2] - 0.95 * thigh_r_m, 0.15)
    width, depth = rng.uniform(0.38, 0.5), rng.uniform(0.36, 0.46)
    seat_xy = hip_centre[:2] + forward * (depth / 2 - 0.1)
    parts = table(seat_xy, facing_rad - np.pi / 2, np.array([width, depth, seat_top]), label)
    if rng.random() < 0.7:
        back_xy = hip_centre[:2] - forward * (1.05 * body_hip_r_m + 0.04)
        height = rng.uniform(0.35, 0.5)
        parts.append(Box(np.array([*back_xy, seat_top + height / 2]), _yaw_axes(facing_rad - np.pi / 2),
                         np.array([width / 2, 0.015, height / 2]), label))
    return parts


def _random_object(rng: np.random.Generator, table_prob: float = 0.5):
    """A table or a crate: (builder, size_m (width, depth, height), footprint radius_m)."""
    if rng.random() < table_prob:
        builder, size = table, rng.uniform([0.6, 0.5, 0.68], [1.4, 0.9, 0.8])
    else:
        builder, size = crate, rng.uniform([0.3, 0.3, 0.3], [0.9, 0.7, 1.3])
    return builder, size, float(np.hypot(size[0], size[1]) / 2)


def _turned(v: np.ndarray, angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


@dataclass(frozen=True)
class SceneLayout:
    """What :func:`scene_surfaces` put around the person (world frame)."""

    surfaces: list[Surface]
    has_occluder: bool


def scene_surfaces(rng: np.random.Generator, view: str, cam: CameraPose, joints_w: np.ndarray,
                   seat: list[Surface] | None = None, occluder_prob: float = 0.25) -> SceneLayout:
    """Floor, a back wall, maybe a side wall, 0-2 pieces of furniture beside or behind
    the person, ``seat`` (a chair for a seated pose) and, in the side view with
    probability ``occluder_prob``, a table or crate between the camera and the person."""
    centre = 0.5 * (joints_w.min(axis=0) + joints_w.max(axis=0))[:2]
    radius = float(np.max(np.linalg.norm(joints_w[:, :2] - centre, axis=1))) + 0.2
    look = centre - cam.centre_m[:2]
    cam_dist = float(np.linalg.norm(look))
    look = look / cam_dist if cam_dist > 1e-3 else _turned(np.array([1.0, 0.0]), rng.uniform(0, 2 * np.pi))
    side = np.array([-look[1], look[0]])
    surfaces: list[Surface] = [Plane(_UP.copy(), 0.0, FLOOR)]

    wall_n = -_turned(look, np.radians(rng.uniform(-25, 25)))
    wall_at = centre + look * (max(radius, cam_dist * (view == "top")) + rng.uniform(0.3, 2.2))
    surfaces.append(Plane(np.array([*wall_n, 0.0]), float(wall_n @ wall_at), BACK_WALL))
    if rng.random() < 0.5:
        sign = rng.choice([-1.0, 1.0])
        at = centre + sign * side * (max(radius, cam_dist * (view == "top")) + rng.uniform(0.5, 2.5))
        surfaces.append(Plane(np.array([*(-sign * side), 0.0]), float(-sign * side @ at), SIDE_WALL))

    label = FIRST_OBJECT
    if seat:
        surfaces += seat
        label += 1
    for _ in range(int(rng.integers(0, 3))):
        builder, size, obj_r = _random_object(rng)
        spread = np.pi if view == "top" else np.radians(110)
        away = radius + obj_r + rng.uniform(0.1, 1.0)
        where = centre + _turned(look, rng.uniform(-spread, spread)) * away
        surfaces += builder(where, rng.uniform(0, np.pi), size, label)
        label += 1

    has_occluder = False
    if view == "side" and rng.random() < occluder_prob:
        builder, size, _ = _random_object(rng, table_prob=0.4)
        gap = radius + size[1] / 2 + rng.uniform(0.0, 0.5)
        if cam_dist - gap > 0.6:
            where = centre - look * gap + side * rng.uniform(-0.3, 0.3)
            yaw = np.arctan2(side[1], side[0]) + np.radians(rng.uniform(-20, 20))
            surfaces += builder(where, yaw, size, label)
            has_occluder = True
    return SceneLayout(surfaces, has_occluder)
