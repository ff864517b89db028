"""Measure Anny frame generation and write ``synth_rate.json`` and ``profile.json`` into a report directory.

    python scripts/synth_anny_report.py benchmarks/reports/2026-12-05-cpu-2core-synth-anny

``synth_rate.json``: :func:`refinet_edge.benchmarks.synth_rate.run` (what is inside
its timer is in that module) for own and Anny bodies, 2 workers, 320x240 and
640x480, plus one Anny run on 1 worker (per-frame percentiles), each with the
1-minute load average before and after (this machine is shared).
``profile.json``: cProfile's cumulative time per pipeline function over 60 Anny
frames at 320x240 and 30 at 640x480 on one process (profiler overhead included;
subjects built beforehand).
"""

from __future__ import annotations

import cProfile
import datetime
import json
import os
import platform
import pstats
import sys
import time
from pathlib import Path

import numpy as np

from refinet_edge.benchmarks.synth_rate import cpu_model, run
from refinet_edge.synth import SynthConfig, generate_frame

# (body, camera, workers, frames); the headline (Anny, 320x240, 2 workers) three times: the machine is shared.
RUNS = (("own", "itop_side", 2, 600), ("anny", "itop_side", 2, 600), ("anny", "itop_side", 2, 600),
        ("anny", "itop_side", 2, 600), ("own", "d435_640x480", 2, 200), ("anny", "d435_640x480", 2, 200),
        ("anny", "itop_side", 1, 60))
PROFILED = {
    "generate_anny_frame": "whole frame", "pose_subject": "posing + skinning", "dress": "garments",
    "vertex_normals": "vertex normals (in garments)", "render": "room ray casting (analytic)",
    "rasterise_labels": "mesh rasteriser", "scene_surfaces": "room layout", "apply_sensor": "sensor model",
    "infrared_image": "IR image", "mesh_visibility": "visibility", "nearest_vertex_m": "joint neighbourhood radii",
}


def host() -> dict:
    import anny
    import numba

    return {"date": datetime.date.today().isoformat(), "host": f"{cpu_model()}, {os.cpu_count()} cores, shared",
            "python": platform.python_version(), "numpy": np.__version__, "anny": anny.__version__,
            "numba": numba.__version__}


def rates() -> dict:
    from refinet_edge.synth.anny_body import _model

    start = time.perf_counter()
    _model()
    load_s = time.perf_counter() - start
    from refinet_edge.synth.anny_body import anny_subject

    start = time.perf_counter()
    for subject in range(16):
        anny_subject(1, subject)  # seed 1: not the seed the runs use, so those still build theirs
    build_s = (time.perf_counter() - start) / 16
    results = []
    for body, camera, workers, frames in RUNS:
        before = os.getloadavg()[0]
        result = run(frames=frames, workers=workers, camera=camera, view="side", seed=0, warmup=5, body=body)
        result["load_average_1min_before_after"] = [before, os.getloadavg()[0]]
        result["minutes_for_20000"] = 20000 / result["frames_per_s"] / 60
        results.append({k: float(v) if isinstance(v, np.floating) else v for k, v in result.items()})
        print(results[-1], flush=True)
    return {**host(), "anny_model_load_s": load_s, "anny_subject_build_s": build_s, "results": results,
            "command": "python -m refinet_edge.benchmarks.synth_rate --body <body> --camera <camera> --view side "
                       "--workers <workers> --frames <frames> --seed 0 --warmup 5",
            "note": "the 2-worker Anny runs include building the 16 subjects' meshes (once per run, in the parent, "
                    "anny_subject_build_s each); "
                    "target: 20,000 frames at 320x240 in < 15 min (22.2 frames/s)"}


def profile(camera: str, frames: int) -> dict:
    config = SynthConfig(body="anny")
    for i in range(16):
        generate_frame(i, seed=0, camera=camera, config=config)
    prof = cProfile.Profile()
    prof.enable()
    for i in range(16, 16 + frames):
        generate_frame(i, seed=0, camera=camera, config=config)
    prof.disable()
    rows = {}
    for (path, _line, func), stat in pstats.Stats(prof).stats.items():  # type: ignore[attr-defined]
        if func in PROFILED and "refinet_edge" in path:
            rows[func] = {"what": PROFILED[func], "ms_per_frame": 1000.0 * stat[3] / frames}
    return {"frames": frames, "camera": camera, "workers": 1, "load_average_1min_after": os.getloadavg()[0],
            "functions": dict(sorted(rows.items(), key=lambda kv: -kv[1]["ms_per_frame"]))}


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "synth_rate.json").write_text(json.dumps(rates(), indent=1) + "\n")
    profiles = [profile("itop_side", 60), profile("d435_640x480", 30)]
    (out / "profile.json").write_text(json.dumps({**host(), "profiles": profiles}, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
