"""The wide scene (``SynthConfig.scene = "wide"``, side view only): cameras, props and bystanders
that the default scene of :mod:`.scene` never draws.

* **Camera**: height 0.5-2.5 m, pitch -30..+30 deg (+ looks up) *not* aimed at
  the person, horizontal distance 1-5 m, aimed sideways by up to 50 % of the
  half field of view, so people are often partly out of frame. A draw is kept
  when the torso joint and at least ``min_joints_in_frame`` of the 15 joints
  project into the image and the torso is less than 5.5 m deep; otherwise the
  camera is drawn again (up to 200 times, then it is aimed at the body from
  the last draw's position, its pitch kept in range).
* **Occluders** in front of the person with probability ``occluder_prob``: a
  table, an empty chair or a box between the camera and the person.
* **A second person** with probability ``second_person_prob``, behind or
  beside the labelled one, in a standing, walking or reaching pose. It is
  *scene*, not person: its pixels have segmentation -1 and it hides the
  labelled person's joints like any other surface; the labels stay those of
  the target.
* **Room**: floor, walls and furniture at random distances from
  :func:`.scene.scene_surfaces`, laid out around both people.

Props of the pose families (a bed or sofa under a lying person, a box in a
carrier's hands) are here too; every scene uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..camera import Camera
from .body import body_surfaces, sample_body_shape
from .geometry import SCENE_LABEL, Box, Capsule, Ellipsoid, Surface
from .poses import BodyPoints, forward_kinematics, place_on_floor, rot_z, sample_pose
from .scene import _UP, CameraPose, _small_turn, crate, look_rotation, table

OCCLUDER, OTHER_PERSON, CARRIED, BED = (SCENE_LABEL + k for k in (28, 29, 30, 31))
MAX_TORSO_DEPTH_M = 5.5


@dataclass(frozen=True)
class WideScene:
    """Ranges of the wide scene; heights are drawn from the union of ``camera_heights_m``."""

    camera_heights_m: tuple[tuple[float, float], ...] = ((0.5, 2.5),)
    pitch_deg: tuple[float, float] = (-30.0, 30.0)  # + looks up
    distance_m: tuple[float, float] = (1.0, 5.0)    # horizontal, camera -> body centre
    aim_off_fraction: float = 0.5                   # sideways aim, fraction of the half field of view
    min_joints_in_frame: int = 9
    occluder_prob: float = 0.35
    second_person_prob: float = 0.35


def _height(rng: np.random.Generator, ranges: tuple[tuple[float, float], ...]) -> float:
    lengths = np.array([hi - lo for lo, hi in ranges])
    lo, hi = ranges[int(rng.choice(len(ranges), p=lengths / lengths.sum()))]
    return float(rng.uniform(lo, hi))


def _framed(camera: Camera, pose: CameraPose, joints_w: np.ndarray, min_joints: int) -> bool:
    xyz = pose.to_camera(joints_w)
    if np.any(xyz[:, 2] < 0.3) or xyz[8, 2] > MAX_TORSO_DEPTH_M:
        return False
    inside = camera.in_image(camera.project(xyz))
    return bool(inside[8] and inside.sum() >= min_joints)


def place_wide_camera(rng: np.random.Generator, camera: Camera, joints_w: np.ndarray,
                      wide: WideScene) -> CameraPose:
    """A camera drawn from ``wide``'s ranges that frames the body as the module says."""
    centre = 0.5 * (joints_w.min(axis=0) + joints_w.max(axis=0))
    half_fov_x = np.arctan(camera.width / (2 * camera.fx))
    eye = centre
    for _ in range(200):
        height, distance = _height(rng, wide.camera_heights_m), rng.uniform(*wide.distance_m)
        pitch, azimuth = np.radians(rng.uniform(*wide.pitch_deg)), rng.uniform(0.0, 2 * np.pi)
        aim = azimuth + rng.uniform(-1.0, 1.0) * wide.aim_off_fraction * half_fov_x
        eye = np.array([centre[0] - distance * np.cos(azimuth), centre[1] - distance * np.sin(azimuth), height])
        forward = np.array([np.cos(pitch) * np.cos(aim), np.cos(pitch) * np.sin(aim), np.sin(pitch)])
        pose = CameraPose(_small_turn(0.0, 0.0, np.radians(rng.uniform(-4, 4))) @ look_rotation(forward, _UP), eye)
        if _framed(camera, pose, joints_w, wide.min_joints_in_frame):
            return pose
    to_body = centre - eye  # fallback: aim at the body, the pitch kept inside its range
    flat = float(np.hypot(to_body[0], to_body[1]))
    pitch = np.clip(np.arctan2(to_body[2], flat), *np.radians(wide.pitch_deg))
    forward = np.array([*(to_body[:2] / max(flat, 1e-6) * np.cos(pitch)), np.sin(pitch)])
    return CameraPose(look_rotation(forward, _UP), eye)


def _empty_chair(where: np.ndarray, yaw_rad: float, rng: np.random.Generator, label: int) -> list[Surface]:
    width, depth, seat = rng.uniform(0.38, 0.5), rng.uniform(0.36, 0.46), rng.uniform(0.42, 0.5)
    parts = table(where, yaw_rad, np.array([width, depth, seat]), label)
    back = where + rot_z(np.degrees(yaw_rad))[:2, :2] @ np.array([0.0, depth / 2])
    height = rng.uniform(0.35, 0.5)
    parts.append(Box(np.array([*back, seat + height / 2]), rot_z(np.degrees(yaw_rad)),
                     np.array([width / 2, 0.015, height / 2]), label))
    return parts


def front_occluder(rng: np.random.Generator, centre_xy: np.ndarray, radius_m: float,
                   cam: CameraPose) -> list[Surface]:
    """A table, an empty chair or a box between the camera and the person ([] if there is no room)."""
    look = centre_xy - cam.centre_m[:2]
    cam_dist = float(np.linalg.norm(look))
    look, side = look / max(cam_dist, 1e-6), np.array([-look[1], look[0]]) / max(cam_dist, 1e-6)
    kind = int(rng.integers(3))
    size = [rng.uniform([0.6, 0.5, 0.68], [1.4, 0.9, 0.8]), np.array([0.5, 0.5, 0.9]),
            rng.uniform([0.3, 0.3, 0.3], [0.9, 0.7, 1.3])][kind]
    gap = radius_m + size[1] / 2 + rng.uniform(0.0, 0.8)
    if cam_dist - gap < 0.5:
        return []
    where = centre_xy - look * gap + side * rng.uniform(-0.4, 0.4)
    yaw = np.arctan2(side[1], side[0]) + np.radians(rng.uniform(-25, 25))
    if kind == 0:
        return table(where, yaw, size, OCCLUDER)
    if kind == 1:
        return _empty_chair(where, yaw + rng.uniform(0, 2 * np.pi), rng, OCCLUDER)
    return crate(where, yaw, size, OCCLUDER)


def second_person(rng: np.random.Generator, centre_xy: np.ndarray, radius_m: float,
                  cam: CameraPose) -> tuple[list[Surface], np.ndarray]:
    """Another body behind or beside the person: its surfaces (labelled scene) and joints (world)."""
    other = sample_body_shape(rng)
    family = ("standing", "walking", "reaching")[int(rng.integers(3))]
    points = forward_kinematics(other, sample_pose(rng, family))
    look = centre_xy - cam.centre_m[:2]
    look /= max(float(np.linalg.norm(look)), 1e-6)
    side = np.array([-look[1], look[0]]) * rng.choice([-1.0, 1.0])
    if rng.random() < 0.5:  # behind
        where = centre_xy + look * (radius_m + rng.uniform(0.6, 2.0)) + side * rng.uniform(0.0, 1.2)
    else:                   # beside
        where = centre_xy + side * (radius_m + rng.uniform(0.45, 1.2)) + look * rng.uniform(-0.3, 0.6)
    placed = place_on_floor(other, points, rng.uniform(0.0, 360.0), where)
    surfaces = body_surfaces(other, placed.joints, placed.heels, placed.toes)
    return [_as_scene(s) for s in surfaces], placed.joints


def _as_scene(surface: Surface) -> Surface:
    assert isinstance(surface, Capsule | Ellipsoid)
    return replace(surface, label=OTHER_PERSON)


def carried_box(rng: np.random.Generator, points: BodyPoints, yaw_deg: float) -> list[Surface]:
    """A box held between the two hands, in front of them."""
    hands = points.joints[6:8]
    axes = rot_z(yaw_deg)  # columns: the person's right, forward, up
    half_w = max(float(np.abs((hands[0] - hands[1]) @ axes[:, 0])) / 2 - 0.03, 0.08)
    half_d, half_h = rng.uniform(0.1, 0.22), rng.uniform(0.06, 0.2)
    centre = hands.mean(axis=0) + axes[:, 1] * (half_d - 0.06)
    return [Box(centre, axes, np.array([half_w, half_d, half_h]), CARRIED)]


def bed_under(rng: np.random.Generator, points: BodyPoints, top_m: float) -> list[Surface]:
    """A bed (or, with a backrest, a sofa) whose top at ``top_m`` carries a lying body."""
    hip_centre = 0.5 * (points.joints[9] + points.joints[10])
    axis = points.joints[0, :2] - hip_centre[:2]
    angle = np.degrees(np.arctan2(axis[1], axis[0])) - 90.0
    axes = rot_z(angle)  # columns: across, along the body, up
    rel = np.concatenate([points.joints, points.heels, points.toes])[:, :2] - hip_centre[:2]
    along, across = rel @ axes[:2, 1], rel @ axes[:2, 0]
    length = max(rng.uniform(1.9, 2.1), np.ptp(along) + 0.4)
    width = max(rng.uniform(0.8, 1.6), np.ptp(across) + 0.3)
    mid = hip_centre[:2] + axes[:2, 1] * (along.max() + along.min()) / 2 + axes[:2, 0] * (
        across.max() + across.min()) / 2
    parts: list[Surface] = [Box(np.array([*mid, top_m / 2]), axes, np.array([width / 2, length / 2, top_m / 2]),
                                BED)]
    if rng.random() < 0.4:  # sofa back along one long side
        sign = rng.choice([-1.0, 1.0])
        back = mid + axes[:2, 0] * sign * (width / 2 + 0.1)
        parts.append(Box(np.array([*back, (top_m + 0.45) / 2]), axes,
                         np.array([0.1, length / 2, (top_m + 0.45) / 2]), BED))
    return parts
