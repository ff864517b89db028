"""The shipped weights' per-step accuracy on the synthetic test split, into one JSON report.

    python scripts/measure_shipped_accuracy.py OUT.json [--frames 2000]

The split: ``--frames`` synthetic frames generated in memory with seed 1 (the same frames as
``refinet-edge synth --split test --seed 1``), the shipped stages under PyTorch (CPU), every step scored,
for two 2D inputs: ground truth + Gaussian noise sigma 5 px (``--swap-prob 0 --outlier-prob 0``), and
``evaluate``'s defaults (also 5 % left/right swaps and 5 % gross errors per joint); noise seed 0, batch 64.
``tests/test_shipped_accuracy.py`` checks the first frames of the same split against this report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import time
from pathlib import Path

from refinet_edge import __version__
from refinet_edge.benchmarks import system
from refinet_edge.evaluate import EvalSettings, score_steps
from refinet_edge.export.inputs import frames_from
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import RefinementPipeline

NOISE = {"sigma5": DetectorNoise(sigma_px=5.0), "default": DetectorNoise(sigma_px=5.0, swap_prob=0.05,
                                                                           outlier_prob=0.05)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    store = frames_from(None, "test", args.frames, seed=1)
    pipeline = RefinementPipeline.from_dir()
    steps = {name: {step: m.to_dict() for step, m in score_steps(store, pipeline, EvalSettings(noise=noise)).items()}
             for name, noise in NOISE.items()}
    machine = system.capture()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {"tool": f"refinet-edge {__version__}", "commit": commit,
              "created_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": system.machine_line(machine),
              "python": machine.get("python"), "command": f"python scripts/measure_shipped_accuracy.py {args.out} "
              f"--frames {args.frames}", "data": store.name, "frames": len(store), "noise_seed": 0, "batch": 64,
              "noise": {name: noise.to_dict() for name, noise in NOISE.items()}, "steps": steps,
              "seconds": time.perf_counter() - t0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"measure_shipped_accuracy: wrote {args.out}")


if __name__ == "__main__":
    main()
