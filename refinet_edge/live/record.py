"""Write RealSense recordings (``.db3``, the ROS2 format librealsense 2.58+ records).

Synthetic scenes go through librealsense's own software device and recorder,
so the file is a real RealSense recording: one "Stereo Module" sensor with a
z16 depth stream (1 mm units) and the aligned infrared stream 1 (y8), the
scene camera's intrinsics, frame numbers = synthetic frame indices and
timestamps ``i * 1000 / fps`` ms. librealsense 2.58+ records only ``.db3``
(it refuses other names); it still plays older ``.bag`` files.

The ground truth cannot live inside the recording, so it goes beside it as
``NAME.truth.jsonl``: the keypoints-file format (usable as
``--detector keypoints:NAME.truth.jsonl``) plus ``joints_3d_m`` and
``visible`` per person.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..camera import Camera
from ..errors import RefinetError
from ._rs import require_rs
from .frames import raw_from_depth
from .sources import CameraSettings
from .synthetic import Z16_SCALE_M, SyntheticSettings, SyntheticSource


def truth_path(recording: Path) -> Path:
    """Where a recording's ground truth lives: ``NAME.truth.jsonl`` beside ``NAME.db3``."""
    return recording.with_suffix(".truth.jsonl")


def _check_out(path: Path, overwrite: bool) -> None:
    if path.suffix.lower() != ".db3":
        raise RefinetError(f"--out {path}: librealsense records .db3 files (ROS2); name it {path.stem}.db3")
    if path.exists() and not overwrite:
        raise RefinetError(f"{path} exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)


def _intrinsics(rs, camera: Camera):
    intr = rs.intrinsics()
    intr.width, intr.height = camera.width, camera.height
    intr.ppx, intr.ppy, intr.fx, intr.fy = camera.cx, camera.cy, camera.fx, camera.fy
    intr.model, intr.coeffs = rs.distortion.none, [0.0] * 5
    return intr


def _software_device(rs, camera: Camera, fps: float):
    """A software device with a depth (z16) + infrared 1 (y8) sensor; returns (device, sensor, depth, ir)."""
    device = rs.software_device()
    device.register_info(rs.camera_info.name, "refinet-edge synthetic RGB-D")
    device.register_info(rs.camera_info.serial_number, "SYNTHETIC")
    sensor = device.add_sensor("Stereo Module")
    profiles = []
    for uid, (stream, index, fmt, bpp) in enumerate([(rs.stream.depth, 0, rs.format.z16, 2),
                                                      (rs.stream.infrared, 1, rs.format.y8, 1)]):
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid, vs.fmt, vs.bpp = stream, index, uid, fmt, bpp
        vs.width, vs.height, vs.fps = camera.width, camera.height, int(round(fps))
        vs.intrinsics = _intrinsics(rs, camera)
        profiles.append(sensor.add_video_stream(vs, uid == 0).as_video_stream_profile())
    sensor.add_read_only_option(rs.option.depth_units, Z16_SCALE_M)
    device.create_matcher(rs.matchers.di)
    return device, sensor, profiles[0], profiles[1]


def _video_frame(rs, pixels: np.ndarray, profile, number: int, timestamp_ms: float):
    frame = rs.software_video_frame()
    frame.pixels = np.ascontiguousarray(pixels)
    frame.bpp = pixels.itemsize
    frame.stride = pixels.shape[1] * pixels.itemsize
    frame.timestamp, frame.domain, frame.frame_number = timestamp_ms, rs.timestamp_domain.hardware_clock, number
    frame.profile = profile
    if pixels.dtype == np.uint16:
        frame.depth_units = Z16_SCALE_M
    return frame


def record_synthetic(out: Path, settings: SyntheticSettings, frames: int, overwrite: bool = False) -> dict:
    """Record ``frames`` frames of the synthetic walker to ``out`` (.db3) and its ground truth beside it."""
    rs = require_rs()
    out = Path(out)
    _check_out(out, overwrite)
    source = SyntheticSource(settings)
    start_s = time.perf_counter()
    device, sensor, depth_profile, ir_profile = _software_device(rs, source.camera, settings.fps)
    truth_lines = []
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.tmp-", suffix=".db3", dir=out.parent)
    os.close(fd)
    os.unlink(tmp_name)  # the recorder creates the file itself
    tmp = Path(tmp_name)
    try:
        try:
            recorder = rs.recorder(str(tmp), device)
        except RuntimeError as exc:  # e.g. a librealsense older than 2.58, which records .bag only
            raise RefinetError(f"librealsense cannot record {out.name} ({exc}); refinet-edge records .db3, "
                               f"which needs pyrealsense2 >= 2.58") from None
        sensor.open([depth_profile, ir_profile])
        sink = rs.frame_queue(4)
        sensor.start(sink)
        for i in range(settings.start, settings.start + frames):
            frame = source.frame(i)
            raw = raw_from_depth(frame.depth_m, Z16_SCALE_M)
            sensor.on_video_frame(_video_frame(rs, raw, depth_profile, i, frame.timestamp_ms))
            sensor.on_video_frame(_video_frame(rs, frame.image_bgr[:, :, 0], ir_profile, i, frame.timestamp_ms))
            while sink.poll_for_frame():
                pass
            truth_lines.append(_truth_line(i, frame.truth))
        sensor.stop()
        sensor.close()
        del recorder  # closes the file
        with atomic_path(truth_path(out)) as t:
            t.write_text("".join(truth_lines), encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"recording": str(out), "truth": str(truth_path(out)), "frames": frames,
            "size_mb": round(out.stat().st_size / 1e6, 2), "seconds": round(time.perf_counter() - start_s, 1),
            "camera": source.camera.to_dict()}


def _truth_line(number: int, truth) -> str:
    person = {"joints_2d": truth.uv_px.tolist(), "scores": [1.0] * len(truth.uv_px),  # exact floats
              "joints_3d_m": truth.joints_m.tolist(), "visible": truth.visible.tolist()}
    return json.dumps({"frame": number, "people": [person]}) + "\n"


def record_realsense(out: Path, settings: CameraSettings, frames: int, overwrite: bool = False) -> dict:
    """Record ``frames`` framesets from a RealSense camera (depth + the chosen image stream) to ``out``."""
    from .realsense import RealSenseSource

    out = Path(out)
    _check_out(out, overwrite)
    start_s = time.perf_counter()
    source = RealSenseSource(settings, record_to=out)
    with source:
        for _ in range(frames):
            source.read()
    return {"recording": str(out), "frames": frames, "size_mb": round(out.stat().st_size / 1e6, 2),
            "seconds": round(time.perf_counter() - start_s, 1)}
