"""Write a synthetic set to disk in the ITOP file layout.

``write_synthetic_split`` streams frames from the generator into
:class:`refinet_edge.data.itop.ItopWriter`, so a synthetic set is read back by
the same ITOP reader as the real data (plus a ``camera.json`` with its
intrinsics). Files appear under their final names only once complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..camera import Camera
from ..data.itop import ItopWriter
from ..errors import RefinetError
from .generator import DEFAULT_CONFIG, SynthConfig, generate_frames

ProgressFn = Callable[[int, int], None]


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
) -> SynthSummary:
    """Generate ``frames`` synthetic frames and write them as ``ITOP_{view}_{split}_*.h5``."""
    if split not in ("train", "test"):
        raise RefinetError(f"--split must be 'train' or 'test' (the ITOP file splits), got {split!r}")
    if frames <= 0:
        raise RefinetError(f"--frames must be a positive number, got {frames}")
    out_dir = Path(out_dir)
    attrs = {"generator": "refinet-edge synth", "version": __version__, "seed": seed,
             "camera": camera.name, "view": view}
    if config.body != "own":
        attrs["body"] = config.body
    start = time.perf_counter()
    stream = generate_frames(frames, seed=seed, camera=camera, view=view, workers=workers, config=config)
    with ItopWriter(out_dir, view, split, camera, with_point_cloud=with_point_cloud,
                     attrs=attrs, overwrite=overwrite) as writer:
        pending: list = []
        done = 0
        for frame in stream:
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


def _append(writer: ItopWriter, frames: list, first_index: int) -> None:
    writer.append(
        ids=[frame_id(f.subject, first_index + k) for k, f in enumerate(frames)],
        depth_m=np.stack([f.depth_m for f in frames]),
        joints_m=np.stack([f.joints_m for f in frames]),
        uv_px=np.stack([f.uv_px for f in frames]),
        visible=np.stack([f.visible for f in frames]),
        segmentation=np.stack([f.segmentation for f in frames]),
    )
