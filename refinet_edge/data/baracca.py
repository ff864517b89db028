"""Baracca depth frames: 16-bit millimetre PNGs stored rotated per sequence.

Layout (as read by the RefiNet authors)::

    root/viewpoints.json                     {"0": {"orientation": [deg, ...]}, ..., "7": {...}}
    root/SSS/QQQ/imgDepth_SSS_QQQ_NNN.png    subject SSS (001-030), sequence QQQ (000-007), frame NNN

Depth PNGs are uint16 millimetres, 0 = no measurement. Each sequence's image is
stored rotated by ``orientation[0]`` degrees (0, 90, 180 or 270) with respect
to the sensor, in :func:`numpy.rot90`'s sense (``k = deg // 90``, counter-
clockwise as displayed): a 90 or 270 image is 480 wide and 640 tall.
:func:`rotated_camera` gives the exact intrinsics of such an image, so
deprojecting it yields the sensor's points rotated about the optical axis.

The authors' ``zaxis_to_world`` agrees for 90 and 270 up to the pixel-centre
convention (they use ``W - c`` where pixel centres need ``W - 1 - c``), but for
180 it mirrors the principal point about a 480 x 640 image although a 180
image stays 640 x 480; that looks like a bug and is not copied here.
A stored orientation of 360 is read as 0 (the authors' code accepts it too).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from ..atomic import read_json
from ..camera import Camera, camera_preset
from ..errors import RefinetError

ROTATIONS = (0, 90, 180, 270)
VIEWPOINTS_FILE = "viewpoints.json"
_THREE_DIGITS = re.compile(r"^[0-9]{3}$")


def rotated_camera(camera: Camera, rotation: int) -> Camera:
    """Intrinsics of ``np.rot90(image, rotation // 90)`` for an image seen by ``camera``.

    With pixel centres at integers, rotating by 90 maps pixel (u, v) to
    (v, W - 1 - u), so fx and fy swap and c' = (cy, W - 1 - cx); 180 maps to
    (W - 1 - u, H - 1 - v); 270 to (H - 1 - v, u).
    """
    if rotation not in ROTATIONS:
        raise RefinetError(f"image rotation {rotation!r} is not one of {', '.join(map(str, ROTATIONS))}")
    w1, h1 = camera.width - 1, camera.height - 1
    name = f"{camera.name}_rot{rotation}"
    if rotation == 0:
        return camera
    if rotation == 180:
        return replace(camera, name=name, cx=w1 - camera.cx, cy=h1 - camera.cy)
    cx, cy = (camera.cy, w1 - camera.cx) if rotation == 90 else (h1 - camera.cy, camera.cx)
    return replace(camera, name=name, width=camera.height, height=camera.width,
                   fx=camera.fy, fy=camera.fx, cx=cx, cy=cy)


@dataclass(frozen=True)
class BaraccaItem:
    """One depth frame: ids as integers, its PNG, and its sequence's image rotation in degrees."""

    subject: int
    sequence: int
    frame: int
    path: Path
    rotation: int


def load_viewpoints(path: Path) -> dict[int, int]:
    """``viewpoints.json`` -> ``{sequence: rotation in degrees}``, every entry checked."""
    data = read_json(path, missing="not found; Baracca needs the per-sequence image rotations")
    if not isinstance(data, dict):
        raise RefinetError(
            f"{path}: expected a JSON object keyed by sequence ('0'..'7'), got {type(data).__name__}"
        )
    return {_sequence_key(path, key): _rotation(path, key, entry) for key, entry in data.items()}


def _sequence_key(path: Path, key: str) -> int:
    if not key.isdigit():
        raise RefinetError(f"{path}: key {key!r} is not a sequence number")
    return int(key)


def _rotation(path: Path, key: str, entry: object) -> int:
    orientation = entry.get("orientation") if isinstance(entry, dict) else None
    if not isinstance(orientation, list) or not orientation:
        raise RefinetError(
            f"{path}: sequence {key!r} needs an 'orientation' list [degrees, ...], got {entry!r}"
        )
    deg = orientation[0]
    valid = isinstance(deg, (int, float)) and not isinstance(deg, bool) and deg in (*ROTATIONS, 360)
    if not valid:
        raise RefinetError(
            f"{path}: orientation {deg!r} of sequence {key!r} is not one of {', '.join(map(str, ROTATIONS))}"
        )
    return int(deg) % 360


class BaraccaDataset:
    """Every depth frame found under a Baracca root.

    Attributes:
        root: dataset directory.
        sensor: intrinsics of the unrotated sensor image (the ``baracca`` preset by default).
        rotations: ``{sequence: degrees}`` from ``viewpoints.json``.
        items: :class:`BaraccaItem` per frame, sorted by subject, sequence, frame.
    """

    def __init__(self, root: str | os.PathLike[str], *, sensor: Camera | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            what = "is not a directory" if self.root.exists() else "not found"
            raise RefinetError(f"Baracca directory {self.root} {what}")
        self.sensor = sensor if sensor is not None else camera_preset("baracca")
        self.rotations = load_viewpoints(self.root / VIEWPOINTS_FILE)
        self.items = self._discover()
        if not self.items:
            raise RefinetError(
                f"{self.root}: no depth frames found; expected SSS/QQQ/imgDepth_SSS_QQQ_NNN.png"
            )
        self._cameras = {deg: rotated_camera(self.sensor, deg) for deg in ROTATIONS}

    def _discover(self) -> list[BaraccaItem]:
        items = []
        for subject_dir in _numbered_dirs(self.root):
            for seq_dir in _numbered_dirs(subject_dir):
                sequence = int(seq_dir.name)
                pattern = re.compile(rf"^imgDepth_{subject_dir.name}_{seq_dir.name}_([0-9]{{3}})\.png$")
                matches = ((pattern.match(p.name), p) for p in seq_dir.iterdir())
                frames = sorted((int(m.group(1)), p) for m, p in matches if m)
                if frames and sequence not in self.rotations:
                    known = ", ".join(str(s) for s in sorted(self.rotations)) or "none"
                    raise RefinetError(
                        f"{self.root / VIEWPOINTS_FILE}: no entry for sequence '{sequence}' "
                        f"(used by {seq_dir}); sequences present: {known}"
                    )
                items += [BaraccaItem(int(subject_dir.name), sequence, n, p, self.rotations[sequence])
                          for n, p in frames]
        return items

    def __len__(self) -> int:
        return len(self.items)

    def camera(self, i: int) -> Camera:
        """Intrinsics of frame ``i``'s stored (rotated) image."""
        return self._cameras[self.items[i].rotation]

    def depth(self, i: int) -> np.ndarray:
        """Depth map of frame ``i`` as stored: ``(H, W)`` float32 metres, 0 = no depth."""
        item = self.items[i]
        # IMREAD_UNCHANGED keeps the bit depth (as IMREAD_ANYDEPTH) and also the channel
        # count, so a colour PNG is reported instead of silently turned grey.
        raw = cv2.imread(str(item.path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise RefinetError(f"{item.path}: cannot read as PNG (missing, corrupt or not an image)")
        if raw.dtype != np.uint16 or raw.ndim != 2:
            channels = 1 if raw.ndim == 2 else raw.shape[2]
            raise RefinetError(
                f"{item.path}: expected a 16-bit single-channel depth PNG (millimetres), "
                f"got {raw.dtype} with {channels} channel(s)"
            )
        camera = self.camera(i)
        if raw.shape != camera.shape:
            raise RefinetError(
                f"{item.path}: image is {raw.shape[1]}x{raw.shape[0]} but sequence {item.sequence} "
                f"(rotation {item.rotation}) expects {camera.width}x{camera.height}"
            )
        return raw.astype(np.float32) * np.float32(camera.depth_scale)

    def __repr__(self) -> str:
        return f"BaraccaDataset({str(self.root)!r}, frames={len(self)})"


def _numbered_dirs(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.is_dir() and _THREE_DIGITS.match(p.name))
