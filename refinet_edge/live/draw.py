"""Annotated frames for ``--video`` and the live window: image | depth | 3D view, 2D (green) and refined (red).

Opening a window is only tried where one can open: OpenCV's GUI build aborts
the whole process when there is no display, so :func:`can_show_window` checks
for a display and a GUI-enabled OpenCV first.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from ..skeleton import LIMBS
from .realtime import LiveResult

GREEN, RED, WHITE = (0, 200, 0), (0, 0, 255), (255, 255, 255)


def can_show_window() -> tuple[bool, str]:
    """Whether a window can open here, and if not, why (for the startup line)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and os.name != "nt":
        return False, "no display"
    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if not gui or gui[0].split(":", 1)[1].strip().upper() == "NONE":
        return False, "OpenCV without GUI (opencv-python-headless)"
    return True, ""


def _skeleton(canvas: np.ndarray, uv_px: np.ndarray, colour: tuple[int, int, int],
              hidden: np.ndarray | None = None) -> None:
    """Limbs and joints; a ``hidden`` joint (placed behind the measured surface) is drawn as a ring, not a dot."""
    ok = np.all(np.isfinite(uv_px), axis=-1)
    pts = np.where(ok[:, None], uv_px, 0).round().astype(int)
    for a, b in LIMBS:
        if ok[a] and ok[b]:
            cv2.line(canvas, tuple(pts[a]), tuple(pts[b]), colour, 2, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        ring = hidden is not None and bool(hidden[j])
        cv2.circle(canvas, tuple(pts[j]), 4 if ring else 3, colour, 1 if ring else -1, cv2.LINE_AA)


def view_3d(joints_m: np.ndarray, size: int, yaw_deg: float = 60.0, span_m: float = 2.2) -> np.ndarray:
    """``(size, size, 3)`` panel: each person's 3D joints ``(P, 15, 3)`` seen from ``yaw_deg`` about the vertical."""
    panel = np.zeros((size, size, 3), np.uint8)
    yaw = np.radians(yaw_deg)
    rot = np.array([[np.cos(yaw), 0.0, np.sin(yaw)], [0.0, 1.0, 0.0], [-np.sin(yaw), 0.0, np.cos(yaw)]])
    for joints in joints_m:
        if not np.isfinite(joints).any():
            continue
        centred = (joints - np.nanmedian(joints, axis=0)) @ rot.T  # (15, 3), y still down
        _skeleton(panel, size / 2 + centred[:, :2] * (size / span_m), RED)
    cv2.putText(panel, f"3D, {yaw_deg:.0f} deg", (6, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, WHITE, 1, cv2.LINE_AA)
    return panel


def annotate(result: LiveResult, fps: float) -> np.ndarray:
    """``(H, 2W + H, 3)`` uint8 BGR: the image with both skeletons, the colourised depth, a 3D view, a status line."""
    frame = result.frame
    image = frame.image_bgr.copy()
    for p in range(result.detections.count):
        _skeleton(image, result.detections.uv_px[p], GREEN)
        hidden = None if result.refined.hidden is None else result.refined.hidden[p]
        _skeleton(image, frame.camera.project(result.refined.joints_m[p]), RED, hidden)
    depth = frame.depth_m
    scaled = np.clip((depth - 0.3) / 5.7 * 255, 0, 255).astype(np.uint8)
    coloured = cv2.applyColorMap(255 - scaled, cv2.COLORMAP_JET)
    coloured[depth <= 0] = 0
    canvas = np.hstack([image, coloured, view_3d(result.refined.joints_m, frame.camera.height)])
    lat = result.latency_ms
    text = f"#{frame.number} {fps:.1f} fps  e2e {lat.get('end_to_end', 0):.0f} ms  refine {lat.get('refine', 0):.0f} ms"
    scale = max(0.4, frame.camera.width / 800)
    cv2.putText(canvas, text, (8, int(22 * scale + 6)), cv2.FONT_HERSHEY_SIMPLEX, scale, WHITE, 1, cv2.LINE_AA)
    return canvas


class VideoOut:
    """``--video FILE.mp4``: annotated frames; :meth:`close` finalises the file (also on Ctrl-C)."""

    def __init__(self, path: os.PathLike, fps: float) -> None:
        self.path, self.fps = path, fps
        self._writer: cv2.VideoWriter | None = None

    def write(self, canvas: np.ndarray) -> None:
        if self._writer is None:
            h, w = canvas.shape[:2]
            self._writer = cv2.VideoWriter(os.fspath(self.path), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                from ..errors import RefinetError

                raise RefinetError(f"{self.path}: cannot write video (use a .mp4 or .avi name in a writable folder)")
        self._writer.write(canvas)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
