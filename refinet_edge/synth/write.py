"""Write a synthetic set to disk in the ITOP file layout.

``write_synthetic_split`` streams frames from the generator into
:class:`refinet_edge.data.itop.ItopWriter`, so a synthetic set is read back by
the same ITOP reader as the real data (plus a ``camera.json`` with its
intrinsics). Files appear under their final names only once complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..camera import Camera
from ..data.itop import ItopWriter
from ..errors import RefinetError
from .generator import DEFAULT_CONFIG, SynthConfig, SynthFrame, generate_frames
from .sensor_stereo import StereoSensor

ProgressFn = Callable[[int, int], None]
FILTERS_ATTR = "librealsense disparity, spatial, temporal, disparity->depth, hole filling (defaults)"


@dataclass(frozen=True)
class SynthSummary:
    """What a synth run wrote and how fast."""

    out_dir: Path
    files: list[Path]
    frames: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def frame_id(subject: int, index: int) -> str:
    """ITOP-style frame id: two-digit subject, underscore, frame number."""
    return f"{subject:02d}_{index:05d}"


def write_synthetic_split(
    out_dir: str | Path,
    *,
    split: str,
    frames: int,
    seed: int,
    camera: Camera,
    view: str,
    workers: int = 1,
    with_point_cloud: bool = False,
    overwrite: bool = False,
    batch: int = 64,
    on_progress: ProgressFn | None = None,
    config: SynthConfig = DEFAULT_CONFIG,
    filters: bool = False,
) -> SynthSummary:
    """Generate ``frames`` synthetic frames and write them as ``ITOP_{view}_{split}_*.h5``.

    ``filters``: run each frame's depth through librealsense's post-processing
    filters as ``live --filters`` does (:mod:`refinet_edge.live.filters`; needs the
    ``camera`` extra), each frame on its own (no temporal history between frames).
    """
    if split not in ("train", "test"):
        raise RefinetError(f"--split must be 'train' or 'test' (the ITOP file splits), got {split!r}")
    if frames <= 0:
        raise RefinetError(f"--frames must be a positive number, got {frames}")
    out_dir = Path(out_dir)
    attrs = {"generator": "refinet-edge synth", "version": __version__, "seed": seed,
             "camera": camera.name, "view": view, "sensor": config.sensor_preset,
             "filters": FILTERS_ATTR if filters else "none", "poses": config.poses, "scene": config.scene,
             "body": config.body}
    post = _depth_filters(camera, config) if filters else None  # before any file: a missing extra writes nothing
    start = time.perf_counter()
    stream = generate_frames(frames, seed=seed, camera=camera, view=view, workers=workers, config=config)
    with ItopWriter(out_dir, view, split, camera, with_point_cloud=with_point_cloud,
                     attrs=attrs, overwrite=overwrite) as writer:
        pending: list = []
        done = 0
        for frame in _filtered(post, stream):
            pending.append(frame)
            if len(pending) == batch:
                _append(writer, pending, done)
                done += len(pending)
                pending = []
                if on_progress:
                    on_progress(done, frames)
        if pending:
            _append(writer, pending, done)
            done += len(pending)
            if on_progress:
                on_progress(done, frames)
    seconds = time.perf_counter() - start
    return SynthSummary(out_dir, list(writer.final_paths), frames, seconds)


def _depth_filters(camera: Camera, config: SynthConfig):
    """librealsense's filter chain on a software device; the stereo baseline of the sensor preset (else 50 mm)."""
    from ..live.filters import SoftwareDepthFilters
    from .sensor_presets import SENSOR_PRESETS

    sensor = SENSOR_PRESETS.get(config.sensor_preset)
    baseline_m = sensor.baseline_m if isinstance(sensor, StereoSensor) else 0.05
    return SoftwareDepthFilters(camera, baseline_m=baseline_m, keep_history=False)


def _filtered(post, frames: Iterator[SynthFrame]) -> Iterator[SynthFrame]:
    """``frames`` with their depth through ``post`` (a :class:`SoftwareDepthFilters`, closed at the end), or as is."""
    if post is None:
        yield from frames
        return
    with post:
        for frame in frames:
            yield replace(frame, depth_m=post.apply(frame.depth_m))


def _append(writer: ItopWriter, frames: list, first_index: int) -> None:
    writer.append(
        ids=[frame_id(f.subject, first_index + k) for k, f in enumerate(frames)],
        depth_m=np.stack([f.depth_m for f in frames]),
        joints_m=np.stack([f.joints_m for f in frames]),
        uv_px=np.stack([f.uv_px for f in frames]),
        visible=np.stack([f.visible for f in frames]),
        segmentation=np.stack([f.segmentation for f in frames]),
    )
