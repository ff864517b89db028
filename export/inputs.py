"""Real stage inputs for parity checks, calibration and comparisons.

Frames come from an ITOP-layout directory (real ITOP or ``refinet-edge synth``
output) or, without one, from the synthetic generator in memory (the embedded
default: same generator, camera ``itop_side``, side view). Each stage's inputs
are recorded while the fp32 PyTorch pipeline runs on those frames with the
default detector noise, so every stage sees what it meets when deployed: the
real pre-processing applied to the previous stage's real output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from refinet_edge.errors import RefinetError
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import RefinementPipeline, Runner
from refinet_edge.training.frames import FrameStore, load_frames

Feed = dict[str, np.ndarray]
ProgressFn = Callable[[int, int], None]
DEFAULT_CAMERA = "itop_side"
DEFAULT_NOISE = DetectorNoise()  # sigma 5 px, as evaluate's default


def synthetic_frames(frames: int, seed: int, camera: str = DEFAULT_CAMERA, view: str = "side") -> FrameStore:
    """``frames`` synthetic frames generated in memory (no files)."""
    from refinet_edge.synth.generator import generate_frames

    if frames <= 0:
        raise RefinetError(f"--frames must be a positive number, got {frames}")
    made = list(generate_frames(frames, seed=seed, camera=camera, view=view))
    return FrameStore(f"synthetic(seed={seed}, {frames} frames)", made[0].camera,
                      np.stack([f.depth_m for f in made]).astype(np.float16),
                      np.stack([f.joints_m for f in made]), np.stack([f.uv_px for f in made]),
                      np.stack([f.visible for f in made]))


def frames_from(data: Path | None, split: str, frames: int, seed: int, view: str = "side") -> FrameStore:
    """The first ``frames`` frames of ``split`` of ``view`` in ``data``, or synthetic frames with ``seed`` when no
    ``data`` (the top view from ITOP's top camera, as the suite's top-view split)."""
    if data is None:
        return synthetic_frames(frames, seed, camera="itop_top" if view == "top" else DEFAULT_CAMERA, view=view)
    return load_frames(data, view=view, split=split, limit=frames)


class _Recorder:
    """Wraps a runner; keeps a copy of every input it is called with."""

    def __init__(self, runner: Runner, names: tuple[str, ...], sink: list[Feed]) -> None:
        self.runner, self.names, self.sink = runner, names, sink

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        self.sink.append({n: np.array(x, dtype=np.float32) for n, x in zip(self.names, inputs, strict=True)})
        return self.runner(*inputs)


def record_stage_inputs(pipeline: RefinementPipeline, store: FrameStore, input_names: Mapping[str, tuple[str, ...]],
                        batch: int = 16, seed: int = 0, noise: DetectorNoise = DEFAULT_NOISE,
                        on_progress: ProgressFn | None = None) -> dict[str, list[Feed]]:
    """Run ``pipeline`` over ``store`` and return, per stage, the feed dict of every call (one per batch)."""
    recorded: dict[str, list[Feed]] = {stage: [] for stage in pipeline.runners}
    original = dict(pipeline.runners)
    pipeline.runners = {s: _Recorder(r, input_names[s], recorded[s]) for s, r in original.items()}
    rng = np.random.default_rng(seed)
    try:
        for start in range(0, len(store), batch):
            stop = min(start + batch, len(store))
            uv_noisy = noise.apply_2d(store.uv_px[start:stop], rng)
            pipeline.run(store.depth_batch(start, stop), uv_noisy, store.camera)
            if on_progress:
                on_progress(stop, len(store))
    finally:
        pipeline.runners = original
    return recorded


def concat_feeds(feeds: list[Feed]) -> Feed:
    """One feed holding every sample of ``feeds`` (same names)."""
    if not feeds:
        raise RefinetError("no recorded inputs (empty frame set?)")
    return {name: np.concatenate([f[name] for f in feeds]) for name in feeds[0]}
