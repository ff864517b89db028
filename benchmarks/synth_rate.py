"""How fast the synthetic generator makes frames (nothing is written to disk).

    python -m refinet_edge.benchmarks.synth_rate --frames 2000 --workers 2 --camera itop_side --view side

Inside the timer: ``generate_frames`` end to end (body, pose, room, camera
placement, ray casting, visibility, sensor model, IR image) and, with
``--workers > 1``, starting the process pool and pickling every frame back to
this process. Outside: ``--warmup`` frames made first in this process (imports,
ray-grid cache). With one worker each frame is also timed alone and p50/p90/p99
are reported.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from refinet_edge.synth import SynthConfig, generate_frame, generate_frames

from .stats import latency_stats


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(frames: int, workers: int, camera: str, view: str, seed: int = 0, warmup: int = 5,
        body: str = "own", poses: str = "families", scene: str = "default") -> dict:
    """Time ``frames`` frames; returns the settings, frames/s and (one worker) per-frame percentiles.

    With ``body`` other than ``own`` the timer also holds building the subjects' Anny meshes
    (``generate_frames`` does it before the first frame for forked workers, else as each subject
    first appears), but not loading Anny (in the warm-up).
    """
    config = SynthConfig(body=body, poses=poses, scene=scene)
    for i in range(warmup):
        generate_frame(i, seed=seed, camera=camera, view=view, config=config)
    per_frame_ms: list[float] = []
    start = last = time.perf_counter()
    count = 0
    for _ in generate_frames(frames, seed=seed, camera=camera, view=view, workers=workers, config=config):
        now = time.perf_counter()
        per_frame_ms.append(1000.0 * (now - last))
        last = now
        count += 1
    seconds = time.perf_counter() - start
    result = {"frames": count, "workers": workers, "camera": camera, "view": view, "body": body, "poses": poses,
              "scene": scene, "seconds": seconds, "frames_per_s": count / seconds}
    if workers == 1 and per_frame_ms:
        stats = latency_stats(per_frame_ms)
        result.update(p50_ms=stats["p50"], p90_ms=stats["p90"], p99_ms=stats["p99"])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--camera", default="itop_side")
    parser.add_argument("--view", default="side", choices=("side", "top"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--body", default="own", choices=("own", "anny", "mixed"))
    parser.add_argument("--poses", default="families", choices=("families", "uniform", "mixed"))
    parser.add_argument("--scene", default="default", choices=("default", "wide"))
    args = parser.parse_args(argv)
    r = run(args.frames, args.workers, args.camera, args.view, args.seed, args.warmup, args.body, args.poses,
            args.scene)
    print(f"synth_rate: {r['frames']} frames, body {r['body']}, poses {args.poses}, scene {args.scene}, "
          f"camera {r['camera']}, view {r['view']}, workers {r['workers']}, seed {args.seed}")
    print(f"  host: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}")
    print(f"  {r['seconds']:.2f} s -> {r['frames_per_s']:.1f} frames/s "
          f"({20000 / r['frames_per_s'] / 60:.1f} min for 20,000 frames)")
    if "p50_ms" in r:
        print(f"  per frame: p50 {r['p50_ms']:.1f} ms, p90 {r['p90_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")


if __name__ == "__main__":
    main()
