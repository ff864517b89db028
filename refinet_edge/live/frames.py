"""The frame-source interface: every camera, recording and synthetic scene yields :class:`RGBDFrame`.

A source is opened as a context manager and read until it returns ``None``
(end of stream)::

    with open_source("synthetic") as source:
        while (frame := source.read(timeout_s=1.0)) is not None:
            ...

``depth_m`` and ``image_bgr`` are aligned: one camera (``frame.camera``, read
from the stream, never a preset for a real device) describes both, and 2D
joints are pixel coordinates in that image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..camera import Camera
from ..skeleton import NUM_JOINTS


@dataclass(frozen=True)
class GroundTruth:
    """What a synthetic scene knows about its person (camera frame, metres, y down)."""

    joints_m: np.ndarray  # (15, 3) float64 joint centres
    uv_px: np.ndarray     # (15, 2) float64 exact projections
    visible: np.ndarray   # (15,) bool

    def __post_init__(self) -> None:
        assert self.joints_m.shape == (NUM_JOINTS, 3) and self.uv_px.shape == (NUM_JOINTS, 2)
        assert self.visible.shape == (NUM_JOINTS,)


@dataclass(frozen=True)
class RGBDFrame:
    """One aligned depth + image pair.

    Attributes:
        number: the source's frame number (the camera's counter, the recording's
            stored number, the synthetic frame index); keypoint files refer to it.
        timestamp_ms: the source's timestamp, milliseconds.
        depth_m: ``(H, W)`` float32 metres, 0 = no measurement.
        image_bgr: ``(H, W, 3)`` uint8, colour or infrared (grey in all three channels).
        camera: intrinsics of both (and ``depth_scale`` of the raw stream).
        arrival_s: ``time.perf_counter()`` when the frame reached us (end-to-end latency starts here).
        truth: ground truth, synthetic scenes and recordings of them only.
    """

    number: int
    timestamp_ms: float
    depth_m: np.ndarray
    image_bgr: np.ndarray
    camera: Camera
    arrival_s: float
    truth: GroundTruth | None = None

    def __post_init__(self) -> None:
        shape = self.camera.shape
        assert self.depth_m.shape == shape and self.depth_m.dtype == np.float32, (self.depth_m.shape, shape)
        assert self.image_bgr.shape == (*shape, 3) and self.image_bgr.dtype == np.uint8, self.image_bgr.shape


class FrameSource(Protocol):
    """What the live loop reads. ``realtime`` sources drop frames the loop is too slow for."""

    description: str   # one line for the startup message, e.g. "synthetic 320x240 @ 30 fps"
    realtime: bool     # frames come at their own rate (camera); False: each read waits for the next frame
    fps: float

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc: object) -> None: ...

    def read(self, timeout_s: float = 5.0) -> RGBDFrame | None:
        """The next frame, or ``None`` at the end of the stream. Raises RefinetError on camera trouble."""
        ...


Z16_SCALE_M = 0.001  # the D435's default depth unit (synthetic frames, recordings, software filters)


def depth_from_raw(raw: np.ndarray, depth_scale: float) -> np.ndarray:
    """Raw z16 ``(H, W)`` uint16 -> float32 metres, the same arithmetic for every source."""
    return raw.astype(np.float32) * np.float32(depth_scale)


def raw_from_depth(depth_m: np.ndarray, depth_scale: float) -> np.ndarray:
    """Float metres -> z16 units (rounded, clipped to 0..65535); inverse of :func:`depth_from_raw` on its grid."""
    return np.clip(np.rint(depth_m.astype(np.float64) / np.float32(depth_scale)), 0, 65535).astype(np.uint16)


def grey_to_bgr(grey: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 -> ``(H, W, 3)`` uint8 with the same value in each channel."""
    return np.repeat(grey[:, :, None], 3, axis=2)
