"""A labelled split held in memory for training: depth maps, 2D/3D ground truth, camera.

ITOP-layout files are read once (depth as float16, as stored: 20,000 frames at
320x240 take 3 GB) so that every epoch samples batches without touching disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..camera import Camera
from ..data.itop import open_split
from ..errors import RefinetError

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class FrameStore:
    """Frames of one split: ``depth_f16 (N, H, W)`` m, ``joints_m (N, 15, 3)``, ``uv_px (N, 15, 2)``."""

    name: str
    camera: Camera
    depth_f16: np.ndarray
    joints_m: np.ndarray
    uv_px: np.ndarray
    visible: np.ndarray

    def __len__(self) -> int:
        return len(self.joints_m)

    def depth(self, idx: np.ndarray) -> np.ndarray:
        """Depth maps ``(B, H, W)`` float32 m of frames ``idx``."""
        return self.depth_f16[idx].astype(np.float32)

    def depth_batch(self, start: int, stop: int) -> np.ndarray:
        """Depth maps ``(B, H, W)`` float32 m of frames ``start:stop`` (same call as ItopSplit)."""
        return self.depth_f16[start:stop].astype(np.float32)

    def subset(self, count: int, seed: int = 0) -> FrameStore:
        """A fixed random subset of at most ``count`` frames (in index order)."""
        if count >= len(self):
            return self
        idx = np.sort(np.random.default_rng(seed).choice(len(self), count, replace=False))
        return FrameStore(f"{self.name}[{count}]", self.camera, self.depth_f16[idx], self.joints_m[idx],
                          self.uv_px[idx], self.visible[idx])


def concat_frames(stores: list[FrameStore]) -> FrameStore:
    """One store of several splits taken with the same camera (a training mixture from several directories)."""
    if len(stores) == 1:
        return stores[0]
    first = stores[0]
    for other in stores[1:]:
        if other.camera != first.camera:
            raise RefinetError(f"train_dir: {other.name} was rendered with another camera than {first.name} "
                               f"({other.camera.width}x{other.camera.height} vs {first.camera.width}x"
                               f"{first.camera.height}); one training mixture needs one camera")
    return FrameStore("+".join(s.name for s in stores), first.camera,
                      *(np.concatenate([getattr(s, f) for s in stores])
                        for f in ("depth_f16", "joints_m", "uv_px", "visible")))


def load_frames(root: str | Path, view: str, split: str, limit: int | None = None,
                on_progress: ProgressFn | None = None, batch: int = 512) -> FrameStore:
    """Read a split (``train``, ``val`` or ``test``) of an ITOP-layout directory into memory."""
    with open_split(root, view=view, split=split) as ds:
        n = len(ds) if limit is None else min(limit, len(ds))
        depth = np.empty((n, *ds.camera.shape), dtype=np.float16)
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            depth[start:stop] = ds.depth_batch(start, stop)
            if on_progress:
                on_progress(stop, n)
        return FrameStore(f"{Path(root).name}/{view}/{split}", ds.camera, depth, ds.joints_m[:n].copy(),
                          ds.uv_px[:n].copy(), ds.visible[:n].copy())
