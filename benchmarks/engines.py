"""Build every ONNX file of a calibrated export into an engine and record what came out, as JSON.

    python -m benchmarks.engines --onnx-dir runs/onnx --out benchmarks/reports/DATE-MACHINE/engines.json \
        [--runtime tensorrt-rtx] [--calibrate-seconds S]

Per stage and precision (every file, whatever the gate's plan): ONNX and engine
bytes, build seconds, and the parsed network's compute layers (convolution,
matrix multiply) by output type and its Q/DQ layer counts (:mod:`refinet_edge.
export.trt_inspect`). With the calibration summaries found in ``--onnx-dir``
(``calibration.{fp16,int8}.json``: the paired gate) and the machine
(:func:`.system.capture`). Engines go to a temporary folder and are not kept.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from refinet_edge.atomic import write_json
from refinet_edge.export.engine_info import BuildSettings
from refinet_edge.export.manifest import read_manifest, stage_file, stage_specs
from refinet_edge.export.precision import Precision
from refinet_edge.export.trt_api import load
from refinet_edge.export.trt_build import build_engine
from refinet_edge.export.trt_inspect import COMPUTE_LAYERS, inspect_onnx

from .system import capture

PRECISIONS = (Precision.FP32, Precision.FP16, Precision.INT8)


def engine_rows(onnx_dir: Path, runtime: str, settings: BuildSettings) -> list[dict]:
    manifest = read_manifest(onnx_dir)
    api = load(runtime)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stage, spec in stage_specs(manifest).items():
            for precision in PRECISIONS:
                onnx_path = stage_file(onnx_dir, manifest, stage, precision)
                engine = Path(tmp) / precision.engine_name(stage)
                start = time.perf_counter()
                sidecar = build_engine(onnx_path, engine, spec, precision.value, settings, lambda line: None, api)
                seconds = time.perf_counter() - start
                summary = inspect_onnx(onnx_path, runtime).summary()
                rows.append({
                    "stage": stage, "precision": precision.value, "onnx": onnx_path.name,
                    "onnx_bytes": onnx_path.stat().st_size, "engine_bytes": engine.stat().st_size,
                    "build_seconds": round(seconds, 3), "flavour": sidecar["flavour"], "version": sidecar["tensorrt"],
                    "targets": sidecar["targets"] or "default",
                    "compute_layers": {f"{t} {o}": n for (t, o), n in sorted(summary.items()) if t in COMPUTE_LAYERS},
                    "quantize_layers": sum(n for (t, _), n in summary.items() if t == "QUANTIZE"),
                    "dequantize_layers": sum(n for (t, _), n in summary.items() if t == "DEQUANTIZE"),
                })
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runtime", default="tensorrt-rtx")
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--calibrate-seconds", type=json.loads, default=None,
                        help='what timing the calibrate run gave, e.g. {"wall": 80.1, "cpu": 41.2, "load": 6.9}')
    args = parser.parse_args(argv)
    rows = engine_rows(args.onnx_dir, args.runtime, BuildSettings(max_batch=args.max_batch))
    gates = {p: json.loads((args.onnx_dir / f"calibration.{p}.json").read_text())["gate"]
             for p in ("fp16", "int8") if (args.onnx_dir / f"calibration.{p}.json").is_file()}
    report = {"schema_version": 1, "what": "TensorRT engines built from every ONNX file of a calibrated export",
              "date": time.strftime("%Y-%m-%d"), "max_batch": args.max_batch, "machine": capture(),
              "engines": rows, "calibrate_gates": gates, "calibrate_seconds": args.calibrate_seconds}
    write_json(args.out, report)
    for row in rows:
        print(f"{row['stage']:10s} {row['precision']:4s} engine {row['engine_bytes'] / 1e6:6.2f} MB "
              f"built in {row['build_seconds']:.2f} s  {row['compute_layers']}  Q {row['quantize_layers']} "
              f"DQ {row['dequantize_layers']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
