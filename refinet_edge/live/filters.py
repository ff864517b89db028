"""librealsense's depth post-processing filters, on a live camera or on any depth map.

The chain is the one ``live --camera realsense --filters`` runs, with
librealsense's default settings, in the order of librealsense's
doc/post-processing-filters.md: depth -> disparity, spatial (edge-preserving,
2 passes), temporal, disparity -> depth, hole filling (farthest neighbour).

:class:`SoftwareDepthFilters` feeds depth maps through a librealsense software
device (z16, 1 mm units, the camera's intrinsics and a stereo baseline) into the
same filter objects, so synthetic depth is filtered by the very code a live
camera's depth is. Independent frames (``keep_history=False``) get a fresh
temporal filter each, so one frame's history never leaks into the next.
"""

from __future__ import annotations

import numpy as np

from ..camera import Camera
from ..errors import RefinetError
from ._rs import require_rs
from .frames import Z16_SCALE_M, depth_from_raw, raw_from_depth


def filter_chain(rs) -> list:
    """The live path's filters: disparity, spatial, temporal, back to depth, hole filling (librealsense defaults)."""
    return [rs.disparity_transform(True), rs.spatial_filter(), rs.temporal_filter(), rs.disparity_transform(False),
            rs.hole_filling_filter()]


class SoftwareDepthFilters:
    """``apply(depth_m (H, W)) -> depth_m (H, W) float32``: :func:`filter_chain` through a software device."""

    def __init__(self, camera: Camera, *, baseline_m: float = 0.05, fps: float = 30.0,
                 keep_history: bool = False) -> None:
        from .record import _intrinsics

        rs = self.rs = require_rs()
        self.camera, self.keep_history, self.fps = camera, keep_history, fps
        self.device = rs.software_device()
        self.sensor = self.device.add_sensor("Stereo Module")
        stream = rs.video_stream()
        stream.type, stream.index, stream.uid, stream.fmt, stream.bpp = rs.stream.depth, 0, 0, rs.format.z16, 2
        stream.width, stream.height, stream.fps = camera.width, camera.height, int(round(fps))
        stream.intrinsics = _intrinsics(rs, camera)
        self.profile = self.sensor.add_video_stream(stream, True).as_video_stream_profile()
        self.sensor.add_read_only_option(rs.option.depth_units, Z16_SCALE_M)
        self.sensor.add_read_only_option(rs.option.stereo_baseline, 1000.0 * baseline_m)  # mm, as D4xx report it
        self.queue = rs.frame_queue(2, keep_frames=True)
        self.sensor.open([self.profile])
        self.sensor.start(self.queue)
        self.filters = filter_chain(rs)
        self._number = 0

    def apply(self, depth_m: np.ndarray) -> np.ndarray:
        """Depth in metres (0 = missing) -> the filtered depth, in 1 mm steps (z16)."""
        from .record import _video_frame

        assert depth_m.shape == self.camera.shape, (depth_m.shape, self.camera.shape)
        rs = self.rs
        if not self.keep_history:
            self.filters[2] = rs.temporal_filter()
        self._number += 1
        raw = raw_from_depth(depth_m, Z16_SCALE_M)  # uint16: the frame gets depth_units Z16_SCALE_M
        self.sensor.on_video_frame(_video_frame(rs, raw, self.profile, self._number, self._number * 1000.0 / self.fps))
        try:
            depth = self.queue.wait_for_frame(5000)
        except RuntimeError as exc:
            raise RefinetError(f"librealsense software device returned no frame ({exc})") from None
        for block in self.filters:
            depth = block.process(depth)
        return depth_from_raw(np.asanyarray(depth.get_data()).copy(), Z16_SCALE_M)

    def close(self) -> None:
        if self.sensor is not None:
            self.sensor.stop()
            self.sensor.close()
            self.sensor = None

    def __enter__(self) -> SoftwareDepthFilters:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
