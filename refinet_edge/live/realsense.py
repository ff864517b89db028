"""A live Intel RealSense camera as a frame source (depth + colour or infrared, aligned).

* Intrinsics and depth scale come from the running stream (never a preset):
  with ``align="color"`` depth is mapped into the colour image (``rs.align``)
  and the colour intrinsics describe both; ``align="depth"`` maps colour into
  the depth image. ``image="infrared"`` uses infrared stream 1, which the
  depth is already registered to, so nothing is aligned.
* ``filters=True`` runs librealsense's recommended depth filters on the
  aligned depth: to disparity, spatial, temporal, back to depth, hole filling.
* Camera trouble is a one-line :class:`RefinetError`: no camera, unknown
  serial (lists the connected ones), a mode the camera does not have (lists
  its depth modes), no frames for ``timeout_s``. When the camera disappears
  mid-stream the source prints a status line and tries to reconnect every
  second for ``reconnect_s`` before giving up.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RefinetError
from ._rs import camera_from_profile, image_to_bgr, require_rs
from .filters import filter_chain
from .frames import RGBDFrame, depth_from_raw
from .sources import CameraSettings

NO_CAMERA = ("no RealSense camera found: check the cable (USB 3 port), that no other program (realsense-viewer) "
             "holds it, and that librealsense's udev rules are installed; or use --camera synthetic / a recording")


def _status_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class RealSenseSource:
    """A :class:`~refinet_edge.live.frames.FrameSource` over ``rs.pipeline``; always real time."""

    realtime = True

    def __init__(self, settings: CameraSettings, record_to: Path | None = None, reconnect_s: float = 30.0,
                 on_status: Callable[[str], None] = _status_to_stderr) -> None:
        if settings.image not in ("auto", "color", "infrared") or settings.align not in ("color", "depth"):
            raise RefinetError(f"--image must be auto, color or infrared and --align color or depth; got "
                               f"{settings.image!r}, {settings.align!r}")
        self.settings, self.record_to, self.reconnect_s, self.on_status = settings, record_to, reconnect_s, on_status
        self.fps = float(settings.fps)
        self.description = f"RealSense {settings.width}x{settings.height} @ {settings.fps} fps"
        self.pipeline: Any = None

    def __enter__(self) -> RealSenseSource:
        self.rs = require_rs()
        self.serial = self._pick_device()
        self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pipeline is not None:
            try:
                self.pipeline.stop()
            except RuntimeError:
                pass
            self.pipeline = None

    def _connected(self) -> dict[str, str]:
        rs = self.rs
        return {d.get_info(rs.camera_info.serial_number): d.get_info(rs.camera_info.name)
                for d in rs.context().query_devices()}

    def _pick_device(self) -> str:
        devices = self._connected()
        if not devices:
            raise RefinetError(NO_CAMERA)
        serial = self.settings.serial
        if serial is None:
            return next(iter(devices))
        if serial not in devices:
            found = ", ".join(f"{s} ({n})" for s, n in devices.items())
            raise RefinetError(f"--serial {serial}: no such camera; connected: {found}")
        return serial

    def _config(self):
        rs, s = self.rs, self.settings
        config = rs.config()
        config.enable_device(self.serial)
        config.enable_stream(rs.stream.depth, s.width, s.height, rs.format.z16, s.fps)
        if s.image == "infrared":
            config.enable_stream(rs.stream.infrared, 1, s.width, s.height, rs.format.y8, s.fps)
        else:
            config.enable_stream(rs.stream.color, s.width, s.height, rs.format.bgr8, s.fps)
        if self.record_to is not None:
            config.enable_record_to_file(str(self.record_to))
        return config

    def _start(self) -> None:
        rs, s = self.rs, self.settings
        self.pipeline = rs.pipeline()
        config = self._config()
        if not config.can_resolve(rs.pipeline_wrapper(self.pipeline)):
            raise RefinetError(f"camera {self.serial} cannot stream depth and {s.image} at {s.width}x{s.height} "
                               f"@ {s.fps} fps; its depth modes: {self._depth_modes()}")
        profile = self.pipeline.start(config)
        device = profile.get_device()
        depth_scale = device.first_depth_sensor().get_depth_scale()
        infrared = s.image == "infrared"
        target = rs.stream.depth if infrared or s.align == "depth" else rs.stream.color
        self.align = None if infrared else rs.align(target)
        self.image_stream = rs.stream.infrared if infrared else rs.stream.color
        name = f"{device.get_info(rs.camera_info.name)} {self.serial}"
        self.camera = camera_from_profile(profile.get_stream(target), depth_scale, name)
        self.filters = filter_chain(rs) if s.filters else []
        self.description = (f"{name}: {self.camera.width}x{self.camera.height} @ {s.fps} fps, depth + "
                            f"{'infrared' if infrared else 'colour'}"
                            f"{'' if infrared else ', aligned to ' + ('colour' if s.align == 'color' else 'depth')}"
                            f"{', depth filters' if s.filters else ''}, depth unit {depth_scale * 1000:g} mm")

    def _depth_modes(self) -> str:
        rs = self.rs
        device = next(d for d in rs.context().query_devices()
                      if d.get_info(rs.camera_info.serial_number) == self.serial)
        modes = {(p.as_video_stream_profile().width(), p.as_video_stream_profile().height(), p.fps())
                 for sensor in device.query_sensors() for p in sensor.get_stream_profiles()
                 if p.stream_type() == rs.stream.depth and p.is_video_stream_profile()}
        return ", ".join(f"{w}x{h}@{f}" for w, h, f in sorted(modes)) or "none"

    def read(self, timeout_s: float = 5.0) -> RGBDFrame | None:
        try:
            frames = self.pipeline.wait_for_frames(int(timeout_s * 1000))
        except RuntimeError:
            if self.serial in self._connected():
                raise RefinetError(f"camera {self.serial}: no frames for {timeout_s:g} s (a USB 2 port or cable? "
                                   f"try a lower resolution or --fps)") from None
            self._reconnect()
            return self.read(timeout_s)
        arrival = time.perf_counter()
        if self.align is not None:
            frames = self.align.process(frames)
        depth, image = frames.get_depth_frame(), frames.first_or_default(self.image_stream)
        for block in self.filters:
            depth = block.process(depth)
        raw = np.asanyarray(depth.get_data())
        return RGBDFrame(number=int(depth.get_frame_number()), timestamp_ms=float(frames.get_timestamp()),
                         depth_m=depth_from_raw(raw, self.camera.depth_scale), image_bgr=image_to_bgr(self.rs, image),
                         camera=self.camera, arrival_s=arrival)

    def _reconnect(self) -> None:
        """The camera is gone: say so, and restart the stream when it comes back (or give up)."""
        self.__exit__()
        deadline, attempt = time.monotonic() + self.reconnect_s, 0
        while time.monotonic() < deadline:
            attempt += 1
            self.on_status(f"camera {self.serial} disconnected; reconnecting (attempt {attempt}, "
                           f"{deadline - time.monotonic():.0f} s left)")
            time.sleep(1.0)
            if self.serial in self._connected():
                try:
                    self._start()
                except RuntimeError:
                    continue
                self.on_status(f"camera {self.serial} reconnected")
                return
        raise RefinetError(f"camera {self.serial} unplugged and not back after {self.reconnect_s:g} s")
