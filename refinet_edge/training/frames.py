"""A labelled split for training: depth maps, 2D/3D ground truth, camera.

ITOP-layout files are read once (depth as float16, as stored: 20,000 frames at
320x240 take 3 GB) so that every epoch samples batches without touching disk.
A stage that never reads depth during its epochs (the skeleton stage behind a
chain cache: its inputs and evidence are made in one sequential pass) can
instead keep the depth maps on disk (:class:`StreamedDepth`, ``stream=True``):
the labels stay in memory and the mixture's size is no longer bounded by RAM.
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
    depth_f16: np.ndarray | StreamedDepth  # (N, H, W) float16 m, in memory or read from disk on demand
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

    @property
    def streamed(self) -> bool:
        """Whether the depth maps are read from disk on demand (:class:`StreamedDepth`)."""
        return isinstance(self.depth_f16, StreamedDepth)

    def subset(self, count: int, seed: int = 0) -> FrameStore:
        """A fixed random subset of at most ``count`` frames (in index order), its depth maps in memory."""
        if count >= len(self):
            return self if not self.streamed else FrameStore(self.name, self.camera, self.depth_f16[:],
                                                             self.joints_m, self.uv_px, self.visible)
        idx = np.sort(np.random.default_rng(seed).choice(len(self), count, replace=False))
        return FrameStore(f"{self.name}[{count}]", self.camera, self.depth_f16[idx], self.joints_m[idx],
                          self.uv_px[idx], self.visible[idx])


class StreamedDepth:
    """The depth maps of one or more ITOP splits, read from their HDF5 files when indexed: ``store[a:b]`` or
    ``store[idx]`` (any integer array) gives ``(B, H, W)`` float16 m, the values :func:`load_frames` would hold.
    Sequential slices are cheap; scattered indices cost one read per contiguous run of rows."""

    def __init__(self, parts: list[tuple[str | Path, int]], view: str, split: str) -> None:
        self.splits = [open_split(root, view=view, split=split) for root, _ in parts]  # labels in memory
        self._counts = np.array([n for _, n in parts], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self._counts)])
        self.shape = (int(self._starts[-1]), *self.splits[0].camera.shape)
        self.dtype = np.dtype(np.float16)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        n = len(self)
        if isinstance(key, slice):
            idx = np.arange(*key.indices(n))
        else:
            idx = np.asarray(key).reshape(-1)
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
            idx = np.where(idx < 0, idx + n, idx).astype(np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise IndexError(f"frame index out of range for {n} streamed depth maps")
        out = np.empty((idx.size, *self.shape[1:]), dtype=np.float16)
        part = np.searchsorted(self._starts, idx, side="right") - 1
        for p in np.unique(part):
            sel = np.flatnonzero(part == p)
            split = self.splits[p]
            out[sel] = split.depths(idx[sel] - self._starts[p])
        return out


def load_mixture(roots: list[str | Path], view: str, split: str, limit: int | None = None,
                 on_progress: ProgressFn | None = None, stream: bool = False) -> FrameStore:
    """The split of several ITOP-layout directories (one camera) as one store: each directory's
    :func:`load_frames` in order, read straight into one depth array so that the mixture is never held twice
    (56,000 frames at 320x240: 8.6 GB, where joining loaded parts peaked at 17 GB). ``limit`` applies to each
    directory. ``stream``: keep the depth maps on disk (:class:`StreamedDepth`) and load only the labels."""
    if len(roots) == 1 and not stream:
        return load_frames(roots[0], view, split, limit=limit, on_progress=on_progress)
    heads: list[tuple[str, Camera, int]] = []
    for root in roots:
        with open_split(root, view=view, split=split) as ds:
            heads.append((f"{Path(root).name}/{view}/{split}", ds.camera,
                          len(ds) if limit is None else min(limit, len(ds))))
    first_name, first, _ = heads[0]
    for name, camera, _ in heads[1:]:
        if camera != first:
            raise RefinetError(f"train_dir: {name} was rendered with another camera than {first_name} "
                               f"({camera.width}x{camera.height} vs {first.width}x{first.height}); "
                               "one training mixture needs one camera")
    total = sum(n for _, _, n in heads)
    if stream:  # labels only; the depth maps stay in their files
        depth = StreamedDepth([(root, n) for root, (_, _, n) in zip(roots, heads, strict=True)], view, split)
        labels = [(s.joints_m[:n], s.uv_px[:n], s.visible[:n])
                  for s, (_, _, n) in zip(depth.splits, heads, strict=True)]
        if on_progress:
            on_progress(total, total)
        return FrameStore("+".join(name for name, _, _ in heads), first, depth,
                          *(np.concatenate(column) for column in zip(*labels, strict=True)))
    depth = np.empty((total, *heads[0][1].shape), dtype=np.float16)
    parts, start = [], 0
    for root, (_, _, n) in zip(roots, heads, strict=True):
        progress = (lambda d, t, s=start: on_progress(s + d, total)) if on_progress else None
        parts.append(load_frames(root, view, split, limit=n, on_progress=progress, out=depth[start:start + n]))
        start += n
    return FrameStore("+".join(s.name for s in parts), heads[0][1], depth,
                      *(np.concatenate([getattr(s, f) for s in parts]) for f in ("joints_m", "uv_px", "visible")))


def load_frames(root: str | Path, view: str, split: str, limit: int | None = None,
                on_progress: ProgressFn | None = None, batch: int = 512, out: np.ndarray | None = None) -> FrameStore:
    """Read a split (``train``, ``val`` or ``test``) of an ITOP-layout directory into memory (its depth maps
    into ``out``, a float16 ``(n, H, W)`` array, when given)."""
    with open_split(root, view=view, split=split) as ds:
        n = len(ds) if limit is None else min(limit, len(ds))
        shape = (n, *ds.camera.shape)
        if out is not None and (out.shape != shape or out.dtype != np.float16):
            raise ValueError(f"load_frames: out is {out.dtype} {out.shape}, expected float16 {shape}")
        depth = np.empty(shape, dtype=np.float16) if out is None else out
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            depth[start:stop] = ds.depth_batch(start, stop)
            if on_progress:
                on_progress(stop, n)
        return FrameStore(f"{Path(root).name}/{view}/{split}", ds.camera, depth, ds.joints_m[:n].copy(),
                          ds.uv_px[:n].copy(), ds.visible[:n].copy())
