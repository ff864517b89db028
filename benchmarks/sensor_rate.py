"""Frames per second of the synthetic generator per depth-sensor preset, and of the sensor step alone.

    nice python -m refinet_edge.benchmarks.sensor_rate --frames 200 --out benchmarks/reports/<dir>/sensor_rate.json

Two timers, one worker, one process:

* ``frame_ms``: ``generate_frame`` end to end (body, pose, room, camera, ray
  casting, visibility, the sensor model, the IR image) with ``sensor_preset=NAME``.
* ``sensor_ms``: the sensor step alone (``sensor_for_frame`` + ``apply_sensor_model``)
  on those frames' clean depth; ``surface_cosine`` and a constant albedo are
  prepared outside the timer.

The frames are the same scenes (indices) for every preset; presets are
interleaved in ``--rounds`` rounds so a change in machine load hits all of them
alike. The 1-minute load average is recorded before and after each camera.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

from refinet_edge.atomic import write_json
from refinet_edge.synth import SynthConfig, generate_frame
from refinet_edge.synth.sensor import surface_cosine
from refinet_edge.synth.sensor_presets import SENSOR_NAMES, apply_sensor_model, sensor_for_frame

from .stats import latency_stats
from .synth_rate import cpu_model


def time_camera(camera: str, frames: int, rounds: int, seed: int = 0) -> dict:
    """Per preset: frame and sensor-step timings over ``frames`` frames of ``camera`` (side view)."""
    configs = {name: SynthConfig(sensor_preset=name) for name in SENSOR_NAMES}
    for name in SENSOR_NAMES:  # warm-up: imports, ray-grid cache
        generate_frame(0, seed=seed, camera=camera, config=configs[name])
    frame_ms: dict[str, list[float]] = {name: [] for name in SENSOR_NAMES}
    sensor_ms: dict[str, list[float]] = {name: [] for name in SENSOR_NAMES}
    per_round = max(1, frames // rounds)
    for r in range(rounds):
        indices = range(1 + r * per_round, 1 + (r + 1) * per_round)
        for name in SENSOR_NAMES:
            for i in indices:
                start = time.perf_counter()
                frame = generate_frame(i, seed=seed, camera=camera, config=configs[name])
                frame_ms[name].append(1000 * (time.perf_counter() - start))
                clean = frame.depth_clean_m
                assert clean is not None
                cos = surface_cosine(clean, frame.camera)
                albedo = np.full(clean.shape, 0.5, np.float32)
                rng = np.random.default_rng(i)
                start = time.perf_counter()
                apply_sensor_model(sensor_for_frame(name, rng), clean, frame.camera, rng, cos, albedo)
                sensor_ms[name].append(1000 * (time.perf_counter() - start))
    return {name: {"frames": len(frame_ms[name]), "frames_per_s": 1000 / float(np.mean(frame_ms[name])),
                   "frame_ms": latency_stats(frame_ms[name]), "sensor_ms": latency_stats(sensor_ms[name])}
            for name in SENSOR_NAMES}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames per preset and camera")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--cameras", nargs="+", default=["itop_side", "d435_640x480"])
    parser.add_argument("--out", help="write the results here as JSON")
    args = parser.parse_args(argv)
    report: dict = {
        "what": "refinet_edge.benchmarks.sensor_rate: generate_frame per sensor preset (one worker, side view), "
                "and the sensor step alone",
        "command": "python -m refinet_edge.benchmarks.sensor_rate " + " ".join(sys.argv[1:] if argv is None else argv),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                 "numpy": np.__version__},
        "cameras": {},
    }
    for camera in args.cameras:
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        results = time_camera(camera, args.frames, args.rounds)
        report["cameras"][camera] = {"load_1min_before": load_before, "load_1min_after": os.getloadavg()[0],
                                     "seconds": time.perf_counter() - start, "presets": results}
        for name, r in results.items():
            print(f"{camera:13s} {name:8s} {r['frames_per_s']:6.1f} frames/s  frame p50 {r['frame_ms']['p50']:6.1f} ms"
                  f"  sensor p50 {r['sensor_ms']['p50']:5.1f} ms", flush=True)
    if args.out:
        write_json(args.out, report)


if __name__ == "__main__":
    main()
