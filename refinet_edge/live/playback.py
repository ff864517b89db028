"""Play a RealSense recording (``.db3``, or ``.bag`` from librealsense < 2.58) as a frame source.

Sensor-level playback (the recording's sensors started into an ``rs.syncer``),
not ``rs.pipeline``: through a pipeline a recording can lose its first
framesets, sensor-level playback does not. ``realtime=False`` (the default)
plays as fast as we read, every frame; ``realtime=True`` plays at the
recorded rate and the live loop drops what it cannot keep up with.

The image is the colour stream when the recording has one (depth is then
aligned to it with ``rs.align``), else infrared stream 1, which a D400's
depth is already aligned to. A frame whose partner the syncer delivered
separately is paired by timestamp (half a frame period apart at most); such
a pair cannot be aligned, so with a colour stream it is counted as dropped.
If ``NAME.truth.jsonl`` lies beside the recording (``refinet-edge record``
writes it for synthetic scenes), its ground truth rides along on each frame.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import RefinetError
from ._rs import camera_from_profile, image_to_bgr, require_rs
from .frames import GroundTruth, RGBDFrame, depth_from_raw


def read_truth(path: Path) -> dict[int, GroundTruth]:
    """Ground truth per frame number from a ``.truth.jsonl`` file (see :mod:`.record`)."""
    truth = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
            person = record["people"][0]
            truth[int(record["frame"])] = GroundTruth(np.array(person["joints_3d_m"], dtype=np.float64),
                                                      np.array(person["joints_2d"], dtype=np.float64),
                                                      np.array(person["visible"], dtype=bool))
        except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError, AssertionError):
            raise RefinetError(f"{path}:{lineno}: not a ground-truth line (frame, people[0].joints_3d_m, "
                               f"joints_2d, visible)") from None
    return truth


class RecordingSource:
    """A :class:`~refinet_edge.live.frames.FrameSource` over a RealSense recording."""

    def __init__(self, path: Path, realtime: bool = False, image: str = "auto") -> None:
        if image not in ("auto", "color", "infrared"):
            raise RefinetError(f"--image {image!r}: expected auto, color or infrared")
        self.path, self.realtime, self.image = Path(path), realtime, image
        if not self.path.is_file():
            raise RefinetError(f"{self.path}: recording not found")
        truth_file = self.path.with_suffix(".truth.jsonl")
        self.truth = read_truth(truth_file) if truth_file.exists() else {}
        self.has_truth = bool(self.truth)
        self.fps = 30.0
        self.description = f"recording {self.path}"
        self._pending: dict[str, object] = {}

    def __enter__(self) -> RecordingSource:
        rs = self.rs = require_rs()
        try:
            device = rs.context().load_device(str(self.path))
        except RuntimeError as exc:
            raise RefinetError(f"{self.path}: not a RealSense recording librealsense can play ({exc})") from None
        self.playback = device.as_playback()
        self.playback.set_real_time(self.realtime)
        profiles = {s: [p for p in s.get_stream_profiles()] for s in device.query_sensors()}
        depth = [(s, p) for s, ps in profiles.items() for p in ps if p.stream_type() == rs.stream.depth]
        if not depth:
            raise RefinetError(f"{self.path}: the recording has no depth stream")
        colour = [(s, p) for s, ps in profiles.items() for p in ps if p.stream_type() == rs.stream.color]
        infra = [(s, p) for s, ps in profiles.items() for p in ps
                 if p.stream_type() == rs.stream.infrared and p.stream_index() in (0, 1)]
        wanted = colour if self.image in ("auto", "color") and colour else infra if self.image != "color" else []
        if not wanted:
            raise RefinetError(f"{self.path}: no {'colour' if self.image == 'color' else 'colour or infrared'} "
                               f"stream to pair with the depth")
        self.image_stream = wanted[0][1].stream_type()
        self.align = rs.align(rs.stream.color) if self.image_stream == rs.stream.color else None
        depth_sensor = depth[0][0]
        self.depth_scale = depth_sensor.as_depth_sensor().get_depth_scale()
        self.fps = float(depth[0][1].fps()) or 30.0
        self.camera = camera_from_profile(wanted[0][1], self.depth_scale, self.path.stem)
        self.description = (f"recording {self.path} ({self.camera.width}x{self.camera.height} @ {self.fps:g} fps, "
                            f"{'colour, depth aligned to it' if self.align else 'infrared'}"
                            f"{', ground truth' if self.has_truth else ''}, "
                            f"{'real time' if self.realtime else 'every frame'})")
        self.syncer = rs.syncer()  # queue of 1: non-real-time playback waits for us (larger queues lose frames)
        self.sensors = []
        for sensor in {id(s): s for s, _ in [depth[0], wanted[0]]}.values():
            sensor.open([p for _, p in [depth[0], wanted[0]] if _ is sensor])
            self.sensors.append(sensor)
        self._started = False  # playback starts with the first read, so real-time play loses nothing to set-up
        return self

    def __exit__(self, *exc: object) -> None:
        for sensor in self.sensors:
            try:
                if self._started:
                    sensor.stop()
                sensor.close()
            except RuntimeError:
                pass
        self.sensors = []

    def read(self, timeout_s: float = 5.0) -> RGBDFrame | None:
        rs = self.rs
        if not self._started:
            for sensor in self.sensors:
                sensor.start(self.syncer)
            self._started = True
        deadline = time.perf_counter() + timeout_s
        while True:
            ok, frames = self.syncer.try_wait_for_frames(100)
            if not ok:
                if self.playback.current_status() == rs.playback_status.stopped:
                    return None
                if time.perf_counter() > deadline:
                    raise RefinetError(f"{self.path}: no frame for {timeout_s:g} s while playing")
                continue
            depth, image = frames.first_or_default(rs.stream.depth), frames.first_or_default(self.image_stream)
            if depth and image:
                if self.align is not None:
                    frames = self.align.process(frames)
                    depth, image = frames.get_depth_frame(), frames.first_or_default(self.image_stream)
                return self._frame(depth, image)
            pair = self._pair(depth or None, image or None)
            if pair is not None and self.align is None:
                return self._frame(*pair)

    def _pair(self, depth, image):
        """Pair singletons the syncer let through by timestamp; returns (depth, image) or None."""
        for kind, frame in (("depth", depth), ("image", image)):
            if frame:
                self._pending[kind] = frame
                frame.keep()
        d, i = self._pending.get("depth"), self._pending.get("image")
        if d is not None and i is not None and abs(d.get_timestamp() - i.get_timestamp()) <= 500.0 / self.fps:
            self._pending.clear()
            return d, i
        return None

    def _frame(self, depth, image) -> RGBDFrame:
        number = int(depth.get_frame_number())
        raw = np.asanyarray(depth.get_data())
        return RGBDFrame(number=number, timestamp_ms=float(depth.get_timestamp()),
                         depth_m=depth_from_raw(raw, self.depth_scale), image_bgr=image_to_bgr(self.rs, image),
                         camera=self.camera, arrival_s=time.perf_counter(), truth=self.truth.get(number))
