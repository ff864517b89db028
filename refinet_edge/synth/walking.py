"""Animated walking sequences for demos: one subject walking a circle in a fixed room.

The walker follows a circle (side view: radius 0.6-1.2 m, top view: 0.3-0.6 m)
at the speed its gait implies (stride x cadence, about 0.7-1.7 m/s), so it
shows every orientation to the camera and never leaves the image. The camera
is placed once so that the whole circle fits; pose, position and heading are
smooth functions of time, so consecutive frames differ by a few centimetres.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..camera import Camera
from ..errors import RefinetError
from .body import BodyShape, body_shape
from .generator import (
    DEFAULT_CONFIG,
    SynthConfig,
    SynthFrame,
    check_view,
    posed_body,
    render_frame,
    resolve_camera,
)
from .poses import BodyPoints, GaitStyle, forward_kinematics, gait_pose, place_on_floor, sample_gait_style
from .scene import MAX_DISTANCE_M, place_side_camera, place_top_camera, scene_surfaces


class CircleWalk:
    """Where a walker is at time ``t`` (seconds) on a circle about the world origin."""

    def __init__(self, body: BodyShape, style: GaitStyle, radius_m: float, start_rad: float,
                 direction: float) -> None:
        self.body, self.style, self.radius_m = body, style, radius_m
        self.start_rad, self.direction = start_rad, direction
        self.speed_mps, self.stride_m = style.speed_mps(body), style.stride_m(body)

    @property
    def lap_s(self) -> float:
        return 2 * np.pi * self.radius_m / self.speed_mps

    def points_at(self, time_s: float) -> BodyPoints:
        """World-frame body points at ``time_s``."""
        arc_m = self.speed_mps * time_s
        angle = self.start_rad + self.direction * arc_m / self.radius_m
        position = self.radius_m * np.array([np.cos(angle), np.sin(angle)])
        heading = angle + self.direction * np.pi / 2  # tangent to the circle
        pose = gait_pose(arc_m / self.stride_m, self.style)
        return place_on_floor(self.body, forward_kinematics(self.body, pose), np.degrees(heading) - 90.0,
                              position)


def walking_sequence(n_frames: int, *, seed: int, camera: Camera | str = "itop_side", view: str = "side",
                     fps: float = 30.0, subject: int = 0,
                     config: SynthConfig = DEFAULT_CONFIG) -> Iterator[SynthFrame]:
    """``n_frames`` consecutive frames at ``fps`` of ``subject`` walking (deterministic from seed, subject).

    Frame ``index`` is the frame number in the sequence; ``family`` is "walking".
    """
    camera, view = resolve_camera(camera), check_view(view)  # checked before the first frame
    if n_frames < 0 or fps <= 0:
        raise RefinetError(f"walking_sequence needs n_frames >= 0 and fps > 0; got {n_frames}, {fps}")
    if config.body != "own":
        raise RefinetError(f"walking sequences draw our own bodies only; got body {config.body!r} "
                           "(Anny bodies: generate_frames / `refinet-edge synth --body anny`)")
    return _walk(n_frames, seed, camera, view, fps, subject, config)


class WalkingScene:
    """A fixed room, camera and walker; :meth:`render` draws frame ``i`` (time ``i / fps``) on demand.

    Frames may be rendered in any order or skipped (a live source renders the
    frame for the current time); frame ``i`` is the same however it is reached.
    """

    def __init__(self, seed: int, camera: Camera, view: str, fps: float, subject: int,
                 config: SynthConfig = DEFAULT_CONFIG) -> None:
        self.seed, self.camera, self.view, self.fps, self.subject, self.config = seed, camera, view, fps, subject, \
            config
        self.body = body_shape(seed, subject)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, subject)))
        radius = rng.uniform(0.6, 1.2) if view == "side" else rng.uniform(0.3, 0.6)
        self.walk = CircleWalk(self.body, sample_gait_style(rng), radius, rng.uniform(0, 2 * np.pi),
                               float(rng.choice([-1.0, 1.0])))
        envelope = np.concatenate([self.walk.points_at(t).joints for t in np.linspace(0, self.walk.lap_s, 16)])
        if view == "side":
            self.cam_pose = place_side_camera(rng, camera, envelope, max_distance_m=MAX_DISTANCE_M - radius)
        else:
            self.cam_pose = place_top_camera(rng, camera, envelope)
        self.layout = scene_surfaces(rng, view, self.cam_pose, envelope, None, config.occluder_prob)

    def render(self, i: int) -> SynthFrame:
        points = self.walk.points_at(i / self.fps)
        frame_rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(3, self.subject, i)))
        meta = {"index": i, "subject": self.subject, "family": "walking", "view": self.view,
                "has_occluder": self.layout.has_occluder}
        return render_frame(meta, self.camera, self.cam_pose, posed_body(self.body, points), self.layout.surfaces,
                            points.joints, frame_rng, self.config)


def _walk(n_frames: int, seed: int, camera: Camera, view: str, fps: float, subject: int,
          config: SynthConfig) -> Iterator[SynthFrame]:
    scene = WalkingScene(seed, camera, view, fps, subject, config)
    for i in range(n_frames):
        yield scene.render(i)
