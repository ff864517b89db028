"""Frames with an Anny body: the generator's pose, room and camera, a rasterised mesh, mesh visibility.

The frame's random stream is the one :func:`.generator.generate_frame` uses
(pose family, pose, yaw, camera, room, sensor noise, in that order), so an
Anny frame shows the same pose, placement and room as the own-body frame of
the same ``(seed, index)``; the body and its garments come from per-subject
streams (:mod:`.anny_body`, :mod:`.clothing`).

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

from functools import lru_cache

import numpy as np

from ..camera import Camera
from ..skeleton import NUM_JOINTS
from .anny_body import anny_subject, pose_subject
from .clothing import Shell, dress, outfit_shells, subject_outfit
from .generator import SynthConfig, SynthFrame, finish_frame
from .poses import rot_z, sample_pose
from .raster import rasterise_labels
from .render import render
from .scene import FIRST_OBJECT, chair_under, place_camera, scene_surfaces


@lru_cache(maxsize=64)
def _shells(seed: int, subject: int) -> list[Shell]:
    body = anny_subject(seed, subject)
    return outfit_shells(body.faces, body.vertex_label, body.scalp, subject_outfit(seed, subject))


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


def generate_anny_frame(index: int, subject: int, *, seed: int, camera: Camera, view: str,
                        config: SynthConfig) -> SynthFrame:
    """Frame ``index`` with subject ``subject`` as an Anny body (see the module docstring)."""
    body = anny_subject(seed, subject)
    outfit = subject_outfit(seed, subject)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, index)))
    names, weights = zip(*config.family_weights, strict=True)
    family = str(names[rng.choice(len(names), p=np.array(weights) / sum(weights))])
    pose = sample_pose(rng, family)
    yaw_deg = rng.uniform(0.0, 360.0)
    posed = pose_subject(body, pose)
    g_verts, g_faces, g_labels = dress(posed.vertices_m, body.faces, body.vertex_label, _shells(seed, subject),
                                       posed.joints_m, outfit)
    turn = rot_z(yaw_deg)
    lift = np.array([0.0, 0.0, -float((posed.vertices_m @ turn.T)[:, 2].min())])
    joints_w = posed.joints_m @ turn.T + lift
    cam_pose = place_camera(rng, camera, view, joints_w)
    seat = None
    if family == "sitting":
        seat = chair_under(joints_w, 1.3 * body.thigh_r_m, body.thigh_r_m, np.radians(yaw_deg + 90.0), rng,
                           label=FIRST_OBJECT)
    layout = scene_surfaces(rng, view, cam_pose, joints_w, seat, config.occluder_prob)
    scene_c = [s.moved(cam_pose.rotation, cam_pose.centre_m) for s in layout.surfaces]
    depth_scene, labels = render(scene_c, camera)
    verts = np.concatenate([posed.vertices_m, g_verts])
    faces = np.concatenate([body.faces, g_faces + len(posed.vertices_m)])
    face_labels = np.concatenate([body.vertex_label[body.faces[:, 0]], g_labels])
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
    meta = {"index": index, "subject": subject, "family": family, "view": view,
            "has_occluder": layout.has_occluder}
    return finish_frame(meta, camera, cam_pose, depth_clean, labels, joints_m, uv_px, visible, rng, config)
