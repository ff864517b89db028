"""Import ``pyrealsense2`` only when a RealSense source, recording or recorder is used."""

from __future__ import annotations

import importlib.util

import numpy as np

from ..errors import RefinetError


def is_available() -> bool:
    return importlib.util.find_spec("pyrealsense2") is not None


def require_rs():
    """The ``pyrealsense2`` module, or a RefinetError that says how to install it."""
    try:
        import pyrealsense2 as rs
    except ImportError as exc:
        hint = (" (the system library libusb-1.0 is missing: apt-get install libusb-1.0-0)"
                if "libusb" in str(exc) else "")
        raise RefinetError(f"RealSense cameras and recordings need pyrealsense2: pip install "
                           f"'refinet-edge[camera]'{hint}") from None
    return rs


def camera_from_profile(profile, depth_scale: float, name: str):
    """A :class:`~refinet_edge.camera.Camera` from a librealsense video stream profile (distortion ignored)."""
    from ..camera import Camera

    intr = profile.as_video_stream_profile().get_intrinsics()
    return Camera(name, intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy, depth_scale)


def image_to_bgr(rs, frame) -> np.ndarray:
    """A colour or infrared frame -> ``(H, W, 3)`` uint8 BGR copy."""
    import cv2

    data = np.asanyarray(frame.get_data())
    fmt = frame.get_profile().format()
    if fmt == rs.format.bgr8:
        return data.copy()
    if fmt == rs.format.rgb8:
        return data[:, :, ::-1].copy()
    if fmt == rs.format.y8:
        return np.repeat(data[:, :, None], 3, axis=2)
    if fmt == rs.format.yuyv:
        return cv2.cvtColor(data.reshape(data.shape[0], -1, 2), cv2.COLOR_YUV2BGR_YUYV)
    raise RefinetError(f"image stream format {fmt} is not supported; record colour as rgb8/bgr8/yuyv or infrared y8")
