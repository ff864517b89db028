"""Re-measure the README's "Export and engines -> Measured" block into one JSON report.

    python scripts/measure_export.py OUT_DIR [--eval-frames 2000] [--onnx-dir runs/measure-export-onnx]

Runs, on the shipped weights and with each verb's defaults: ``export`` (parity
gate), ``calibrate --precision fp16`` and ``--precision int8`` (accuracy
gates), ``compare`` fp16, int8 (following the plan) and int8 ``--no-plan``,
and scores the pipeline on ``--eval-frames`` synthetic test frames generated in
memory (seed 1, the evaluate test-split seed) with torch fp32 and onnxruntime
fp32/fp16/int8 (noise sigma 5 px, no swaps or gross errors), plus int8 with
gross errors (swap and outlier probability 0.05 each, as ``evaluate``'s
defaults). Writes OUT_DIR/export.json (every figure the README quotes, with the
machine, versions, commit and date), and copies the export's manifest.json and
calibration.*.json beside it. The ONNX files go to --onnx-dir (under the
git-ignored runs/ by default), so OUT_DIR stays small enough to commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import time
from pathlib import Path

from refinet_edge import __version__
from refinet_edge.benchmarks import system
from refinet_edge.evaluate import EvalSettings, score_steps
from refinet_edge.export.backends import pipeline_from_onnx_dir
from refinet_edge.export.compare import compare_backends
from refinet_edge.export.inputs import frames_from
from refinet_edge.export.precision import Precision
from refinet_edge.export.run_export import export_all
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import RefinementPipeline

CLEAN = DetectorNoise(sigma_px=5.0, swap_prob=0.0, outlier_prob=0.0)
GROSS = DetectorNoise(sigma_px=5.0, swap_prob=0.05, outlier_prob=0.05)


def _compare(onnx_dir: Path, precision: Precision, store, follow_plan: bool) -> dict:
    results = compare_backends(onnx_dir, ["torch", "onnxruntime"], precision, store, follow_plan=follow_plan)
    return {r.stage: {"output": r.output, "candidate": r.candidate, "max_abs": r.max_abs, "mean_abs": r.mean_abs,
                      "passed": r.passed} for r in results}


def _score(pipeline: RefinementPipeline, store, noise: DetectorNoise) -> dict:
    metrics = score_steps(store, pipeline, EvalSettings(noise=noise))
    last = pipeline.steps[-1]
    m = metrics[last].to_dict()
    return {"step": last, "acc_10cm": m["acc_10cm"], "acc_5cm": m["acc_5cm"], "mpjpe_mm": m["mpjpe_mm"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--eval-frames", type=int, default=2000)
    parser.add_argument("--onnx-dir", type=Path, default=Path("runs/measure-export-onnx"))
    args = parser.parse_args()
    started = dt.datetime.now(dt.timezone.utc)
    machine = system.capture()  # at the start: the load average then
    onnx_dir = args.onnx_dir
    if onnx_dir.exists():
        shutil.rmtree(onnx_dir)
    seconds = {}
    t0 = time.perf_counter()
    export_all(None, onnx_dir, frames_from(None, "test", 32, seed=1), 17, log=print)
    seconds["export"] = time.perf_counter() - t0
    from refinet_edge.calibration.run import calibrate

    calibration = {}
    for precision in ("fp16", "int8"):
        t0 = time.perf_counter()
        calibration[precision] = calibrate(onnx_dir, precision, log=print)
        seconds[f"calibrate_{precision}"] = time.perf_counter() - t0
    manifest = json.loads((onnx_dir / "manifest.json").read_text())
    store = frames_from(None, "test", 32, seed=1)  # as `compare`'s defaults
    t0 = time.perf_counter()
    compare = {"fp16": _compare(onnx_dir, Precision.FP16, store, True),
               "int8": _compare(onnx_dir, Precision.INT8, store, True),
               "int8_no_plan": _compare(onnx_dir, Precision.INT8, store, False)}
    seconds["compare"] = time.perf_counter() - t0
    frames = frames_from(None, "test", args.eval_frames, seed=1)
    t0 = time.perf_counter()
    evaluate = {"torch_fp32": _score(RefinementPipeline.from_dir(), frames, CLEAN)}
    for precision in ("fp32", "fp16", "int8"):
        pipeline, _ = pipeline_from_onnx_dir(onnx_dir, "onnxruntime", precision)
        evaluate[f"onnxruntime_{precision}"] = _score(pipeline, frames, CLEAN)
    pipeline, _ = pipeline_from_onnx_dir(onnx_dir, "onnxruntime", "int8")
    evaluate["onnxruntime_int8_gross_errors"] = _score(pipeline, frames, GROSS)
    seconds["evaluate"] = time.perf_counter() - t0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {
        "tool": f"refinet-edge {__version__}", "commit": commit,
        "created_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": system.machine_line(machine),
        "python": machine.get("python"), "packages": {k: v for k, v in machine.get("packages", {}).items() if v},
        "load_average_start": machine.get("load_average"), "load_average_end": system.load_average(),
        "command": f"python scripts/measure_export.py {args.out_dir} --eval-frames {args.eval_frames}",
        "parity": manifest["parity"], "precision_plan": manifest.get("precision_plan", {}),
        "gate": {p: c.get("gate") for p, c in calibration.items()},
        "compare": compare,
        "evaluate": {"frames": len(frames), "data": frames.name, "noise_clean": CLEAN.to_dict(),
                     "noise_gross": GROSS.to_dict(), "seed": 0, **evaluate},
        "seconds": seconds,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "export.json").write_text(json.dumps(report, indent=2) + "\n")
    for name in ("manifest.json", "calibration.fp16.json", "calibration.int8.json"):
        if (onnx_dir / name).exists():
            shutil.copy(onnx_dir / name, args.out_dir / name)
    print(f"measure_export: wrote {args.out_dir / 'export.json'}")


if __name__ == "__main__":
    main()
