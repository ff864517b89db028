"""Latency probe for round 25's rule: the exported skeleton alone under onnxruntime, one thread, batch 1.

Round 23's transformer (4 layers), the same transformer shape with 6 and 8 layers (random weights: latency does not
depend on their values) and the shipped ensemble (v19's when the rule was written, v20's since round 25 shipped).
Run from the repository root:
``PYTHONPATH=. python benchmarks/reports/2026-12-06-cpu-2core-xeon-round25-training/latency_probe.py``
(needs ``checkpoints/synthetic_mix31/skeleton.safetensors``, round 23's checkpoint). Prints the median of six
medians of 200 runs per model, in ms, all in one process, interleaved.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from export.onnx_export import export_stage
from refinet_edge.checkpoint import load_stage, save_stage
from refinet_edge.models import build_model, config_from_dict

ROUND23 = Path("checkpoints/synthetic_mix31/skeleton.safetensors")
SHIPPED = Path("refinet_edge/weights/skeleton.safetensors")


def main() -> None:
    _, info = load_stage(ROUND23)
    paths = {}
    with tempfile.TemporaryDirectory() as tmp:
        for layers in (6, 8):
            config = config_from_dict("skeleton", {**info.model_config.to_dict(), "num_layers": layers})
            path = Path(tmp) / f"t{layers}.safetensors"
            save_stage(path, "skeleton", build_model("skeleton", config), config, preprocess=info.preprocess,
                       extra={})
            (Path(tmp) / f"t{layers}").mkdir()
            paths[f"{layers} layers"] = export_stage(path, Path(tmp) / f"t{layers}").path
        for name, path in (("4 layers (round 23)", ROUND23), ("shipped ensemble", SHIPPED)):
            (Path(tmp) / name).mkdir()
            paths[name] = export_stage(path, Path(tmp) / name).path
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        sessions = {k: ort.InferenceSession(str(v), options, providers=["CPUExecutionProvider"])
                    for k, v in paths.items()}
        x = np.random.default_rng(0).standard_normal((1, 15, 9)).astype(np.float32)
        medians: dict[str, list[float]] = {k: [] for k in sessions}
        for s in sessions.values():
            for _ in range(100):
                s.run(None, {s.get_inputs()[0].name: x})
        for _ in range(6):
            for k, s in sessions.items():
                times = []
                for _ in range(200):
                    t = time.perf_counter()
                    s.run(None, {s.get_inputs()[0].name: x})
                    times.append(time.perf_counter() - t)
                medians[k].append(float(np.median(times)) * 1e3)
    for k, v in medians.items():
        print(f"{k}: {np.median(v):.3f} ms")


if __name__ == "__main__":
    main()
