"""Pinhole depth cameras, their presets, and the package's coordinate convention.

Coordinate convention (used everywhere inside refinet-edge)
-----------------------------------------------------------
* 3D points are in the **camera frame, in metres**: x to the right, y **down**,
  z forward along the optical axis (the OpenCV and librealsense convention).
  Names carry the unit: ``xyz_m``, ``joints_m``; network code that works in
  millimetres says ``_mm``.
* Pixel coordinates ``uv_px`` are (u = column, v = row); integer values are
  pixel centres, so pixel (row i, column j) is at u = j, v = i.
* Depth maps are ``depth_m (H, W)`` float metres along z (not along the ray);
  0 means "no measurement". Raw sensor maps (uint16) become metres by
  multiplying with :attr:`Camera.depth_scale`.

Conversions happen only at the edges: ITOP's ``real_world_coordinates`` and
point clouds have y **up** (``y = -(v - 120) * z / f``), so the ITOP reader and
writer call :func:`itop_to_camera` / :func:`camera_to_itop`; nothing else in
the package sees a y-up coordinate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .atomic import read_json
from .errors import RefinetError, lookup


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics of a depth map (no distortion).

    Attributes:
        name: preset or device name, for reports.
        width, height: image size in pixels.
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels (pixel-centre convention, see module doc).
        depth_scale: metres per unit of the raw depth map (1.0 for float metres,
            0.001 for a RealSense z16 stream at its default units).
    """

    name: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    depth_scale: float = 1.0

    def __post_init__(self) -> None:
        finite = all(math.isfinite(v) for v in (self.fx, self.fy, self.cx, self.cy, self.depth_scale))
        if not finite or self.width <= 0 or self.height <= 0 or self.fx <= 0 or self.fy <= 0 \
                or self.depth_scale <= 0:
            raise RefinetError(
                f"camera {self.name!r}: width, height, fx, fy and depth_scale must be finite and > 0, got "
                f"{self.width}x{self.height} fx={self.fx} fy={self.fy} depth_scale={self.depth_scale}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        """Depth-map shape ``(height, width)``."""
        return (self.height, self.width)

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the usual name for the intrinsic matrix
        """3x3 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, xyz_m: np.ndarray) -> np.ndarray:
        """Camera-frame points ``(..., 3)`` -> pixel coordinates ``uv_px (..., 2)``.

        Points with z <= 0 (behind the camera) project to NaN.
        """
        xyz_m = np.asarray(xyz_m, dtype=np.float64)
        z = xyz_m[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_z = np.where(z > 0, 1.0 / z, np.nan)
        u = self.fx * xyz_m[..., 0] * inv_z + self.cx
        v = self.fy * xyz_m[..., 1] * inv_z + self.cy
        return np.stack([u, v], axis=-1)

    def deproject(self, uv_px: npt.ArrayLike, depth_m: npt.ArrayLike) -> np.ndarray:
        """Pixels ``uv_px (..., 2)`` with depths ``depth_m (...)`` -> ``xyz_m (..., 3)``.

        Exact inverse of :meth:`project` for z > 0; depth 0 gives the origin.
        """
        uv_px = np.asarray(uv_px, dtype=np.float64)
        z = np.asarray(depth_m, dtype=np.float64)
        x = (uv_px[..., 0] - self.cx) / self.fx * z
        y = (uv_px[..., 1] - self.cy) / self.fy * z
        return np.stack([x, y, z], axis=-1)

    def depth_to_points(self, depth_m: np.ndarray) -> np.ndarray:
        """Deproject every pixel of ``depth_m (H, W)`` -> ``xyz_m (H*W, 3)`` in scan order.

        Pixels without depth (0) give (0, 0, 0), as in ITOP's point clouds.
        """
        depth_m = np.asarray(depth_m)
        if depth_m.shape != self.shape:
            raise RefinetError(
                f"depth map shape {depth_m.shape} does not match camera {self.name!r} "
                f"({self.height}, {self.width})"
            )
        v, u = np.mgrid[0 : self.height, 0 : self.width]
        uv = np.stack([u, v], axis=-1).reshape(-1, 2)
        return self.deproject(uv, depth_m.reshape(-1).astype(np.float64))

    def in_image(self, uv_px: np.ndarray) -> np.ndarray:
        """Boolean ``(...)``: does the pixel centre round into the image?"""
        uv = np.asarray(uv_px, dtype=np.float64)
        u = np.rint(uv[..., 0])
        v = np.rint(uv[..., 1])
        return (u >= 0) & (u < self.width) & (v >= 0) & (v < self.height)

    def resized(self, width: int, height: int) -> Camera:
        """The same optics sampled at another resolution (scales f and c)."""
        sx, sy = width / self.width, height / self.height
        return replace(
            self, name=f"{self.name}@{width}x{height}", width=width, height=height,
            fx=self.fx * sx, fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5, cy=(self.cy + 0.5) * sy - 0.5,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "camera") -> Camera:
        """Build a camera from a dict (e.g. ``camera.json``), naming bad keys clearly."""
        required = ("width", "height", "fx", "fy", "cx", "cy")
        missing = [k for k in required if k not in data]
        if missing:
            raise RefinetError(f"{source}: missing key(s) {', '.join(missing)}; expected {', '.join(required)}")
        for key in ("width", "height"):
            if not isinstance(data[key], int) or isinstance(data[key], bool):
                raise RefinetError(f"{source}: {key} must be a whole number of pixels, got {data[key]!r}")
        try:
            return cls(
                name=str(data.get("name", "custom")),
                width=data["width"], height=data["height"],
                fx=float(data["fx"]), fy=float(data["fy"]),
                cx=float(data["cx"]), cy=float(data["cy"]),
                depth_scale=float(data.get("depth_scale", 1.0)),
            )
        except (TypeError, ValueError) as exc:
            raise RefinetError(f"{source}: intrinsics must be numbers ({exc})") from None

    @classmethod
    def from_json(cls, path: str | Path) -> Camera:
        path = Path(path)
        data = read_json(path, missing="camera file not found")
        if not isinstance(data, dict):
            raise RefinetError(f"{path}: expected a JSON object with width, height, fx, fy, cx, cy")
        return cls.from_dict(data, source=str(path))


# ITOP: 320x240, f = 1 / 0.0035 = 285.71 px, c = (160, 120); depth maps in
# float metres. Side and top views share intrinsics (different placements).
_ITOP_F = 1.0 / 0.0035

CAMERA_PRESETS: dict[str, Camera] = {
    "itop_side": Camera("itop_side", 320, 240, _ITOP_F, _ITOP_F, 160.0, 120.0, 1.0),
    "itop_top": Camera("itop_top", 320, 240, _ITOP_F, _ITOP_F, 160.0, 120.0, 1.0),
    # Baracca depth camera (640x480, 16-bit millimetre PNGs), unrotated sensor
    # (intrinsics from the RefiNet authors' code).
    "baracca": Camera("baracca", 640, 480, 461.605, 461.226, 336.14, 231.349, 0.001),
    # A typical Intel RealSense D435 depth stream (values read off one device;
    # every unit differs slightly: the live path reads the real intrinsics).
    "d435_640x480": Camera("d435_640x480", 640, 480, 384.21, 384.21, 319.48, 236.35, 0.001),
    "d435_848x480": Camera("d435_848x480", 848, 480, 424.23, 424.23, 423.43, 234.55, 0.001),
}


def camera_preset(name: str) -> Camera:
    """Return a preset by name; unknown names list the valid ones."""
    return lookup(CAMERA_PRESETS, name, "camera preset", "valid presets")


def itop_to_camera(xyz_itop: np.ndarray) -> np.ndarray:
    """ITOP real-world coordinates (x right, y up, z forward) -> camera frame (y down)."""
    out = np.array(xyz_itop, dtype=np.float64, copy=True)
    out[..., 1] *= -1.0
    return out


def camera_to_itop(xyz_m: np.ndarray) -> np.ndarray:
    """Camera frame (y down) -> ITOP real-world coordinates (y up). Its own inverse."""
    return itop_to_camera(xyz_m)
