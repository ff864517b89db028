"""Stage a frame of the wider generator: pose mode, posture, camera, props and room.

:func:`refinet_edge.synth.generator.generate_frame` uses this for every
setting other than ``poses="families"`` with today's five families and
``scene="default"`` (which keep today's draw order, so old data sets
reproduce bit for bit). Everything is drawn from the frame's ``rng`` in a
fixed order, so the same ``(seed, index)`` gives the same frame.

Mesh bodies (Anny, :mod:`.anny_frame`): ``mesh_body`` poses and places the
mesh from the same :class:`.pose_space.Posture` (a posture of today's five
families becomes ``Posture(pose)``: upright, on its feet) after the
own body has drawn it, so the rng stream, and with it family, pose, yaw,
props and room, stays the own-body frame's; the props, the camera and the
room are then fitted to the mesh's joints (chair to its thighs, bed to its
extent, box to its hands).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..camera import Camera
from .body import BodyShape, body_surfaces
from .geometry import Surface
from .pose_space import MIXED_WEIGHTS, Posture, place_posture, sample_posture
from .poses import POSE_FAMILIES, BodyPoints, forward_kinematics, place_on_floor, sample_pose
from .scene import FIRST_OBJECT, CameraPose, chair_under, place_camera, scene_surfaces
from .wide_scene import WideScene, bed_under, carried_box, front_occluder, place_wide_camera, second_person

SCENES = ("default", "wide")


@dataclass(frozen=True)
class Staging:
    """A frame before rendering: world-frame surfaces, joints and camera."""

    family: str
    cam_pose: CameraPose
    body: list[Surface]
    scene: list[Surface]
    joints_w: np.ndarray  # (15, 3) the labelled person
    has_occluder: bool
    has_second_person: bool
    mesh: Any = None  # what ``mesh_body`` returned (then ``body`` is empty)


class MeshPlacement(Protocol):
    """What a ``mesh_body`` poser returns: the placed points the props and camera are fitted to."""

    @property
    def points(self) -> BodyPoints: ...  # world frame (z up, floor z = 0)
    @property
    def hip_r_m(self) -> float: ...     # for the chair under a seated body
    @property
    def thigh_r_m(self) -> float: ...


MeshPoser = Callable[[Posture, float], MeshPlacement]  # (posture, yaw_deg) -> placement


def pose_weights(poses: str, family_weights: tuple[tuple[str, float], ...]) -> tuple[tuple[str, float], ...]:
    """The family mixture a pose mode draws from (``poses`` already validated)."""
    return {"families": family_weights, "uniform": (("uniform", 1.0),), "mixed": MIXED_WEIGHTS}[poses]


def _posed(rng: np.random.Generator, family: str, body: BodyShape,
           yaw_deg: float) -> tuple[Posture | None, BodyPoints, Posture]:
    """(posture of a new family or None, placed points, the posture as a mesh body takes it)."""
    if family in POSE_FAMILIES:
        pose = sample_pose(rng, family)
        return None, place_on_floor(body, forward_kinematics(body, pose), yaw_deg, np.zeros(2)), Posture(pose)
    posture = sample_posture(rng, family, body)
    return posture, place_posture(body, posture, yaw_deg, np.zeros(2)), posture


def stage_frame(rng: np.random.Generator, body: BodyShape, camera: Camera, view: str,
                weights: tuple[tuple[str, float], ...], scene: str, occluder_prob: float,
                wide: WideScene, mesh_body: MeshPoser | None = None) -> Staging:
    """Draw family, posture, camera, props, bystander and room for one frame.

    ``body`` draws the posture (its plausibility checks); with ``mesh_body``
    the frame shows the mesh it places instead (see the module docstring).
    """
    names, w = zip(*weights, strict=True)
    family = str(names[rng.choice(len(names), p=np.array(w) / sum(w))])
    yaw_deg = rng.uniform(0.0, 360.0)
    posture, points, as_posture = _posed(rng, family, body, yaw_deg)
    hip_r_m, thigh_r_m, mesh = body.hip_r_m, body.thigh_r_m, None
    if mesh_body is not None:
        mesh = mesh_body(as_posture, yaw_deg)
        points, hip_r_m, thigh_r_m = mesh.points, mesh.hip_r_m, mesh.thigh_r_m
    cam_pose = (place_wide_camera(rng, camera, points.joints, wide) if scene == "wide"
                else place_camera(rng, camera, view, points.joints))
    props: list[Surface] = []
    if family == "sitting" or (posture is not None and posture.support == "seat"):
        props += chair_under(points.joints, hip_r_m, thigh_r_m, np.radians(yaw_deg + 90.0), rng,
                             label=FIRST_OBJECT)
    elif posture is not None and posture.support == "bed":
        props += bed_under(rng, points, posture.support_m)
    if posture is not None and posture.carries:
        props += carried_box(rng, points, yaw_deg)

    centre = 0.5 * (points.joints.min(axis=0) + points.joints.max(axis=0))[:2]
    radius = float(np.max(np.linalg.norm(points.joints[:, :2] - centre, axis=1))) + 0.2
    room_joints = points.joints
    if scene == "wide" and rng.random() < wide.second_person_prob:
        other, other_joints = second_person(rng, centre, radius, cam_pose)
        props += other
        room_joints = np.concatenate([points.joints, other_joints])
    layout = scene_surfaces(rng, view, cam_pose, room_joints, props or None,
                            occluder_prob if scene == "default" else 0.0)
    surfaces, has_occluder = list(layout.surfaces), layout.has_occluder
    if scene == "wide" and rng.random() < wide.occluder_prob:
        occluder = front_occluder(rng, centre, radius, cam_pose)
        surfaces += occluder
        has_occluder = bool(occluder)
    body_w = [] if mesh is not None else body_surfaces(body, points.joints, points.heels, points.toes)
    return Staging(family, cam_pose, body_w, surfaces, points.joints, has_occluder,
                   room_joints is not points.joints, mesh)
