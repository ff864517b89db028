"""``--camera`` -> a frame source: ``realsense``, ``synthetic`` or a recording ``PATH.db3`` / ``PATH.bag``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import RefinetError
from .frames import FrameSource
from .synthetic import SyntheticSettings, SyntheticSource

RECORDING_SUFFIXES = (".db3", ".bag")


@dataclass(frozen=True)
class CameraSettings:
    """A RealSense stream request (ignored by the other sources)."""

    width: int = 640
    height: int = 480
    fps: int = 30
    serial: str | None = None
    image: str = "auto"         # color, infrared, or auto (colour when there is one)
    align: str = "color"        # color (depth into the colour image) or depth (colour into the depth image)
    filters: bool = False       # spatial + temporal + hole filling on the depth (the synthetic source too)


def open_source(camera: str, *, realtime: bool | None = None, synthetic: SyntheticSettings | None = None,
                settings: CameraSettings | None = None) -> FrameSource:
    """The source ``camera`` names; ``realtime=None`` picks the source's natural mode (camera: always)."""
    settings = settings or CameraSettings()
    if camera == "synthetic":
        return SyntheticSource(synthetic or SyntheticSettings(), realtime=bool(realtime), filters=settings.filters)
    if camera == "realsense":
        from .realsense import RealSenseSource

        if realtime is False:
            raise RefinetError("a live camera always runs in real time; drop --no-realtime or play a recording")
        return RealSenseSource(settings)
    path = Path(camera)
    if path.suffix.lower() in RECORDING_SUFFIXES:
        from .playback import RecordingSource

        return RecordingSource(path, realtime=bool(realtime), image=settings.image)
    raise RefinetError(f"--camera {camera!r}: expected realsense, synthetic, or a recording "
                       f"({', '.join('PATH' + s for s in RECORDING_SUFFIXES)})")
