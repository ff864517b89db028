"""Measure the README's synthetic generation-rate table (own bodies) and write it as JSON.

    python scripts/synth_rate_table.py benchmarks/reports/DIR/synth_rate_table.json

Rows: ``refinet-edge synth`` writing 2000 test frames (320x240, 2 workers) to ``runs/synth_rate_disk``
(wall seconds and bytes on disk), then :func:`refinet_edge.benchmarks.synth_rate.run` (generation only,
nothing written) for 2000 frames on 2 workers at 320x240 side and top, 640x480 and 848x480. Each row keeps
the 1-minute load average before and after it (this machine is shared).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from refinet_edge.benchmarks.synth_rate import cpu_model, run

FRAMES = 2000
RATE_RUNS = (("itop_side", "side"), ("itop_top", "top"), ("d435_640x480", "side"), ("d435_848x480", "side"))


def disk_run(out: Path) -> dict:
    """Time ``refinet-edge synth`` writing FRAMES frames to ``out`` (replaced)."""
    shutil.rmtree(out, ignore_errors=True)
    command = ["refinet-edge", "synth", "--out", str(out), "--split", "test", "--frames", str(FRAMES),
               "--workers", "2", "--seed", "1"]
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("refinet-edge")), *command[1:]], check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"command": " ".join(command), "frames": FRAMES, "workers": 2, "camera": "itop_side", "seconds": seconds,
            "frames_per_s": FRAMES / seconds, "bytes": size, "megabytes": size / 1e6}


def main(path: Path) -> None:
    rows = []
    load = os.getloadavg()[0]
    row = disk_run(Path("runs/synth_rate_disk"))
    row["load_average_1min_before_after"] = [load, os.getloadavg()[0]]
    rows.append(row)
    for camera, view in RATE_RUNS:
        load = os.getloadavg()[0]
        row = run(FRAMES, 2, camera, view)
        row["command"] = (f"python -m refinet_edge.benchmarks.synth_rate --frames {FRAMES} --workers 2 "
                          f"--camera {camera} --view {view}")
        row["load_average_1min_before_after"] = [load, os.getloadavg()[0]]
        rows.append(row)
        print(row["command"], f"{row['frames_per_s']:.1f} frames/s", flush=True)
    report = {"date": datetime.date.today().isoformat(), "host": f"{cpu_model()}, {os.cpu_count()} cores, shared",
              "python": platform.python_version(), "numpy": np.__version__,
              "command": f"python scripts/synth_rate_table.py {path}", "rows": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
