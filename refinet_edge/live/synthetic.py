"""A synthetic RGB-D camera: one person walking a circle in a room, with ground truth.

Frame ``i`` shows the walker at time ``i / fps`` (:class:`~refinet_edge.synth.walking.WalkingScene`).
Depth leaves the source as a D435 z16 stream would (1 mm units, rounded), so
the live synthetic source and a recording of it give the same metres; the
image is the scene's infrared-like picture (grey), aligned with the depth.

* ``realtime=False`` (evaluation, tests): each read renders the next frame, none skipped.
* ``realtime=True`` (demos): frames are due every ``1 / fps`` seconds from the first
  read; a read waits for the next due frame and, when rendering or the caller
  fell behind, jumps to the frame for the current time, as a camera would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from ..camera import Camera, camera_preset
from ..errors import RefinetError
from ..synth.generator import SynthConfig, check_view
from ..synth.sensor_presets import check_sensor_name
from ..synth.walking import WalkingScene
from .frames import Z16_SCALE_M, GroundTruth, RGBDFrame, depth_from_raw, grey_to_bgr, raw_from_depth


@dataclass(frozen=True)
class SyntheticSettings:
    """The scene: camera preset, placement, frame rate, which walker."""

    camera: str = "itop_side"   # preset name (see `refinet-edge info`)
    view: str = "side"          # side or top
    fps: float = 30.0           # frames per second of scene time
    seed: int = 0               # room, camera placement and walker body
    subject: int = 0
    start: int = 0              # first frame index
    sensor: str = "default"     # depth-sensor preset (refinet_edge.synth.sensor_presets)

    def __post_init__(self) -> None:
        camera_preset(self.camera)
        check_sensor_name(self.sensor)
        check_view(self.view)
        if not (self.fps > 0 and self.start >= 0 and self.subject >= 0):
            raise RefinetError(f"synthetic source needs fps > 0, start >= 0 and subject >= 0; "
                               f"got fps={self.fps}, start={self.start}, subject={self.subject}")


class SyntheticSource:
    """A :class:`~refinet_edge.live.frames.FrameSource` rendering a :class:`WalkingScene`."""

    def __init__(self, settings: SyntheticSettings | None = None, realtime: bool = False,
                 filters: bool = False) -> None:
        settings = settings or SyntheticSettings()
        self.settings, self.realtime, self.fps = settings, realtime, settings.fps
        preset = camera_preset(settings.camera)
        # described as a RealSense stream profile would: float32 intrinsics, z16 in 1 mm units
        def f32(value: float) -> float:
            return float(np.float32(value))

        self.camera: Camera = replace(preset, fx=f32(preset.fx), fy=f32(preset.fy), cx=f32(preset.cx),
                                      cy=f32(preset.cy), depth_scale=f32(Z16_SCALE_M))
        self.scene = WalkingScene(settings.seed, preset, settings.view, settings.fps, settings.subject,
                                  SynthConfig(sensor_preset=settings.sensor))
        self.description = (f"synthetic walker ({preset.name} {preset.width}x{preset.height}, {settings.view} view, "
                            f"seed {settings.seed}{'' if settings.sensor == 'default' else ', ' + settings.sensor}"
                            f") @ {settings.fps:g} fps"
                            f"{', real time' if realtime else ', every frame'}"
                            f"{', depth filters' if filters else ''}")
        self.filters = None
        if filters:  # librealsense's filters on the stream, temporal history included, as a live camera's
            from .filters import SoftwareDepthFilters

            self.filters = SoftwareDepthFilters(self.camera, fps=settings.fps, keep_history=True)
        self._next = settings.start
        self._t0: float | None = None

    def __enter__(self) -> SyntheticSource:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.filters is not None:
            self.filters.close()

    def read(self, timeout_s: float = 5.0) -> RGBDFrame | None:
        index = self._next
        if self.realtime:
            now = time.perf_counter()
            if self._t0 is None:
                self._t0 = now - index / self.fps
            index = max(index, int((now - self._t0) * self.fps))
            due = self._t0 + index / self.fps
            if due > now:
                time.sleep(due - now)
        self._next = index + 1
        return self.frame(index)

    def frame(self, index: int) -> RGBDFrame:
        """Frame ``index`` (deterministic), stamped as arriving now."""
        synth = self.scene.render(index)
        depth_m = depth_from_raw(raw_from_depth(synth.depth_m, Z16_SCALE_M), Z16_SCALE_M)
        if self.filters is not None:
            depth_m = self.filters.apply(depth_m)
        truth = GroundTruth(synth.joints_m, synth.uv_px, synth.visible)
        return RGBDFrame(number=index, timestamp_ms=index * 1000.0 / self.fps, depth_m=depth_m,
                         image_bgr=grey_to_bgr(synth.ir), camera=self.camera, arrival_s=time.perf_counter(),
                         truth=truth)
