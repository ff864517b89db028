"""Smoke training of issue 18's new stage options on a tiny synthetic split: does the loss fall?

Not a quality measurement: a few hundred frames, a few epochs, each option trained from the ground truth plus
noise (``data.from_gt``) so no earlier stage is needed. Writes one JSON report with, per option, the hypes
overrides, the per-epoch training loss and validation acc@10cm (the run logs), the seconds per epoch and the
measured seconds per training batch.

    refinet-edge synth --out runs/smoke18/synth --split train --frames 400 --seed 0 --workers 1
    nice python scripts/smoke_issue18.py --data runs/smoke18/synth --out runs/smoke18 \\
        --report benchmarks/reports/2026-12-05-cpu-2core-issue18-smoke/smoke.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import torch

from refinet_edge.atomic import write_json
from refinet_edge.hypes import load_hypes
from refinet_edge.training.run import run_training

SKELETON = "hypes/synthetic/skeleton/train.json"
POINTCLOUD = "hypes/synthetic/pointcloud/train.json"
COMMON = ["--data.from_gt=true", "--train.chain_cache=0", "--train.log_every=1000"]
OPTIONS: dict[str, tuple[str, list[str]]] = {
    "skeleton_baseline": (SKELETON, []),
    "skeleton_evidence": (SKELETON, ["--preprocess.skeleton.evidence=true"]),
    "skeleton_ray_output": (SKELETON, ["--preprocess.skeleton.ray_output=true"]),
    "skeleton_limb_scale_oks": (SKELETON, ["--train.limb_scale=0.2", "--noise.oks_profile=1.0"]),
    "pointcloud_baseline": (POINTCLOUD, []),
    "pointcloud_ray_reach": (POINTCLOUD, ["--preprocess.points.ray_reach=2.0"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--only", default="", help="comma-separated option names (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    report = {"what": "issue 18 smoke training: training loss per epoch of each new option (tiny split)",
              "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
                         f"torch {torch.__version__}, 1 thread",
              "data": str(args.data), "train_frames": args.frames, "epochs": args.epochs, "batch_size": args.batch,
              "runs": {}}
    wanted = [o for o in args.only.split(",") if o] or list(OPTIONS)
    for name in wanted:
        hypes_path, extra = OPTIONS[name]
        out = args.out / name
        shutil.rmtree(out, ignore_errors=True)
        overrides = [*COMMON, *extra, f"--epochs={args.epochs}", f"--train.train_frames={args.frames}",
                     f"--data.batch_size={args.batch}", f"--train_dir={args.data}", f"--checkpoints.save_dir={out}",
                     "--solver.decay_steps=[]"]
        hypes = load_hypes(Path(hypes_path), overrides)
        batch_seconds: list[float] = []
        last = [time.perf_counter()]

        def on_event(kind: str, data: dict, batch_seconds=batch_seconds, last=last) -> None:
            now = time.perf_counter()
            if kind == "batch":
                batch_seconds.append(now - last[0])
            last[0] = now

        run_training(hypes, on_event=on_event)
        log = [json.loads(line) for line in (out / f"{hypes.stage}.log.jsonl").read_text().splitlines()]
        timed = sorted(batch_seconds[1:]) or batch_seconds  # the first batch carries the warm-up
        report["runs"][name] = {
            "hypes": hypes_path, "overrides": overrides, "stage": hypes.stage,
            "loss": [r["loss"] for r in log], "val_acc_10cm": [r[f"val_{hypes.stage}_acc_10cm"] for r in log],
            "seconds_per_epoch": [r["seconds"] for r in log],
            "batches": len(batch_seconds), "median_seconds_per_batch": round(timed[len(timed) // 2], 4),
            "loss_fell": log[-1]["loss"] < log[0]["loss"],
        }
        print(name, report["runs"][name]["loss"], report["runs"][name]["median_seconds_per_batch"], flush=True)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.report, report)


if __name__ == "__main__":
    main()
