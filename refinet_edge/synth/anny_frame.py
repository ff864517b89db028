"""Frames with an Anny body: the generator's pose, room and camera, a rasterised mesh, mesh visibility.

The frame's random stream is the one :func:`.generator.generate_frame` uses
(pose family, pose, yaw, camera, room, sensor noise, in that order), so an
Anny frame shows the same pose, placement and room as the own-body frame of
the same ``(seed, index)``; the body and its garments come from per-subject
streams (:mod:`.anny_body`, :mod:`.clothing`).

Wider poses and scenes (``poses="uniform"|"mixed"``, ``scene="wide"``, or a
``family_weights`` naming a new family): the frame is staged by
:func:`.compose.stage_frame` exactly as for own bodies. The subject's own
capsule body (:func:`.body.body_shape`) draws the posture, so its
plausibility checks (limbs outside the torso, nothing below the floor or the
bed top) are made on that body, not on the mesh; :func:`place_anny` then
tilts Anny by the posture's (pitch, roll) about the hip centre, turns it by
the yaw and sets it on the posture's support, as :func:`.pose_space.place_posture`
does for own bodies:

* ``feet``: the lowest vertex of the lower legs and feet (parts 13/14) on the floor;
* ``knees``/``bed``: the lowest vertex on the floor / the bed top;
* ``seat``: the hip joints ``support_m + 0.95 x thigh radius`` high, raised
  until no foot vertex is below the floor.

Chair, bed, carried box, camera, bystander and occluder are then fitted to
Anny's joints (the bed's extent uses the ankles and the ``toe3-3`` bone heads
as heels and toes): the family, posture and yaw are the own-body frame's, but
what depends on the body's size (camera aim and distance, chair, bed) differs,
and where the wide camera's framing check retries differently on Anny's joints
the rest of the stream differs too. The bystander stays a capsule body.

Depth: the scene's analytic surfaces are ray cast (:func:`.render.render`),
the skinned and dressed mesh is z-buffered (:func:`.raster.rasterise_labels`)
in the camera frame, and each pixel keeps the nearer surface.

Visibility rule (mesh bodies): joint j is visible when its projection rounds
to a pixel inside the image, that pixel shows the person (label 0-14), and the
first surface along the pixel's ray is at most ``r_j + tolerance`` in front of
the joint, where ``r_j`` = 2 x the distance from the joint to the nearest
vertex of the unclothed mesh (a local half-thickness, doubled so a joint seen
across its part's wider axis stays visible) + the garment shell over that part.
A skirt or coat hem hides what is behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..camera import Camera
from ..skeleton import NUM_JOINTS
from .anny_body import SIDES, AnnySubject, PosedAnny, anny_subject, pose_subject
from .body import body_shape
from .clothing import Outfit, Shell, dress, outfit_shells, subject_outfit
from .compose import pose_weights, stage_frame
from .generator import SynthConfig, SynthFrame, finish_frame
from .geometry import Surface
from .pose_space import Posture, support_lift
from .poses import BodyPoints, rot_x, rot_y, rot_z, sample_pose
from .raster import rasterise_labels
from .render import render
from .scene import FIRST_OBJECT, CameraPose, chair_under, place_camera, scene_surfaces


@lru_cache(maxsize=64)
def _shells(seed: int, subject: int) -> list[Shell]:
    body = anny_subject(seed, subject)
    return outfit_shells(body.faces, body.vertex_label, body.scalp, subject_outfit(seed, subject), body.face_label)


def nearest_vertex_m(joints_m: np.ndarray, vertices_m: np.ndarray) -> np.ndarray:
    """``(15,)`` distance from each joint to its nearest mesh vertex."""
    verts = vertices_m[::2]  # every other vertex: ~1 cm apart
    d2 = (joints_m**2).sum(1)[:, None] + (verts**2).sum(1)[None, :] - 2.0 * joints_m @ verts.T
    return np.sqrt(np.maximum(d2.min(axis=1), 0.0))


def mesh_visibility(joints_m: np.ndarray, uv_px: np.ndarray, depth_clean_m: np.ndarray, labels: np.ndarray,
                    radius_m: np.ndarray, camera: Camera, tolerance_m: float) -> np.ndarray:
    """The module's visibility rule -> ``(15,) bool``."""
    visible = np.zeros(NUM_JOINTS, dtype=bool)
    inside = np.flatnonzero(camera.in_image(uv_px) & (joints_m[:, 2] > 0))
    u, v = np.rint(uv_px[inside]).astype(int).T
    on_person = (labels[v, u] >= 0) & (labels[v, u] < NUM_JOINTS)
    in_reach = depth_clean_m[v, u] >= joints_m[inside, 2] - radius_m[inside] - tolerance_m
    visible[inside] = on_person & in_reach
    return visible


@dataclass(frozen=True)
class PlacedAnny:
    """A posed Anny subject placed in the world: ``world = body-frame point @ rotation.T + offset_m``."""

    posed: PosedAnny      # body frame
    rotation: np.ndarray  # (3, 3) tilt, then yaw
    offset_m: np.ndarray  # (3,)
    points: BodyPoints    # world joints; heels = ankles, toes = toe3-3 bone heads
    hip_r_m: float
    thigh_r_m: float


def place_anny(body: AnnySubject, posture: Posture, yaw_deg: float) -> PlacedAnny:
    """Pose ``body`` by ``posture.pose``, tilt, turn and set it on the posture's support (module docstring)."""
    posed = pose_subject(body, posture.pose)
    pitch, roll = posture.tilt_deg
    turn = rot_z(yaw_deg) @ rot_y(roll) @ rot_x(-pitch)
    verts_z = (posed.vertices_m @ turn.T)[:, 2]
    joints = posed.joints_m @ turn.T
    feet_z = float(verts_z[body.vertex_label >= 13].min())
    lift = support_lift(posture, feet_z, joints, body.thigh_r_m, lambda: float(verts_z.min()))
    offset = np.array([0.0, 0.0, lift])
    heels = posed.heads_m[[body.bone[f"foot.{s}"] for s in SIDES]]
    toes = posed.heads_m[[body.bone[f"toe3-3.{s}"] for s in SIDES]]
    points = BodyPoints(posed.joints_m, heels, toes).transformed(turn, offset)
    return PlacedAnny(posed, turn, offset, points, 1.3 * body.thigh_r_m, body.thigh_r_m)


def generate_anny_frame(index: int, subject: int, *, seed: int, camera: Camera, view: str,
                        config: SynthConfig) -> SynthFrame:
    """Frame ``index`` with subject ``subject`` as an Anny body (see the module docstring)."""
    if not config.legacy:
        return _staged_anny_frame(index, subject, seed=seed, camera=camera, view=view, config=config)
    body = anny_subject(seed, subject)
    outfit = subject_outfit(seed, subject)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, index)))
    names, weights = zip(*config.family_weights, strict=True)
    family = str(names[rng.choice(len(names), p=np.array(weights) / sum(weights))])
    pose = sample_pose(rng, family)
    yaw_deg = rng.uniform(0.0, 360.0)
    posed = pose_subject(body, pose)
    turn = rot_z(yaw_deg)
    lift = np.array([0.0, 0.0, -float((posed.vertices_m @ turn.T)[:, 2].min())])
    joints_w = posed.joints_m @ turn.T + lift
    cam_pose = place_camera(rng, camera, view, joints_w)
    seat = None
    if family == "sitting":
        seat = chair_under(joints_w, 1.3 * body.thigh_r_m, body.thigh_r_m, np.radians(yaw_deg + 90.0), rng,
                           label=FIRST_OBJECT)
    layout = scene_surfaces(rng, view, cam_pose, joints_w, seat, config.occluder_prob)
    meta = {"index": index, "subject": subject, "family": family, "view": view,
            "has_occluder": layout.has_occluder}
    return _render_anny(meta, camera, cam_pose, layout.surfaces, body, posed, outfit, _shells(seed, subject),
                        turn, lift, joints_w, rng, config)


def _staged_anny_frame(index: int, subject: int, *, seed: int, camera: Camera, view: str,
                       config: SynthConfig) -> SynthFrame:
    """The wider generator's frame (:func:`.compose.stage_frame`) with the subject as an Anny body."""
    body = anny_subject(seed, subject)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, index)))
    staged = stage_frame(rng, body_shape(seed, subject), camera, view,
                         pose_weights(config.poses, config.family_weights), config.scene, config.occluder_prob,
                         config.wide, mesh_body=lambda posture, yaw_deg: place_anny(body, posture, yaw_deg))
    placed: PlacedAnny = staged.mesh
    meta = {"index": index, "subject": subject, "family": staged.family, "view": view,
            "has_occluder": staged.has_occluder, "has_second_person": staged.has_second_person}
    return _render_anny(meta, camera, staged.cam_pose, staged.scene, body, placed.posed,
                        subject_outfit(seed, subject), _shells(seed, subject), placed.rotation, placed.offset_m,
                        staged.joints_w, rng, config)


def _render_anny(meta: dict, camera: Camera, cam_pose: CameraPose, scene: list[Surface], body: AnnySubject,
                 posed: PosedAnny, outfit: Outfit, shells: list[Shell], turn: np.ndarray, lift: np.ndarray,
                 joints_w: np.ndarray, rng: np.random.Generator, config: SynthConfig) -> SynthFrame:
    """Dress ``posed`` (body frame), move it by ``turn``/``lift`` into the world, render it with the
    world-frame ``scene`` through ``cam_pose`` and finish the frame (sensor, IR)."""
    g_verts, g_faces, g_labels = dress(posed.vertices_m, body.faces, body.vertex_label, shells,
                                       posed.joints_m, outfit)
    scene_c = [s.moved(cam_pose.rotation, cam_pose.centre_m) for s in scene]
    depth_scene, labels = render(scene_c, camera)
    verts = np.concatenate([posed.vertices_m, g_verts])
    faces = np.concatenate([body.faces, g_faces + len(posed.vertices_m)])
    face_labels = np.concatenate([body.face_label, g_labels])
    verts_c = cam_pose.to_camera(verts @ turn.T + lift)
    depth_mesh, labels_mesh = rasterise_labels(verts_c, faces, face_labels, camera)
    nearer = depth_mesh < np.where(depth_scene > 0, depth_scene, np.inf)
    depth_clean = np.where(nearer, depth_mesh, depth_scene).astype(np.float32)
    labels = np.where(nearer, labels_mesh, labels).astype(np.int16)
    joints_m = cam_pose.to_camera(joints_w)
    uv_px = camera.project(joints_m)
    radius = 2.0 * nearest_vertex_m(posed.joints_m, posed.vertices_m) + outfit.thickness_m()
    visible = mesh_visibility(joints_m, uv_px, depth_clean, labels, radius, camera,
                              config.visibility_tolerance_m)
    return finish_frame(meta, camera, cam_pose, depth_clean, labels, joints_m, uv_px, visible, rng, config)
