"""Run ``refinet-edge demo`` as a new user would, in an empty folder, and keep what it measured.

    python scripts/measure_demo.py benchmarks/reports/DIR

Writes ``DIR/evaluate.json`` (the demo's own ``runs/demo/report.json``, unchanged; not named report.json, which
under benchmarks/reports/ means a bench report) and ``DIR/demo_run.json``: the
command, its wall-clock seconds (synthesising 300 frames + evaluating them, process start included), its exit
code, the 1-minute load average before and after, the CPU model and core count, Python's version and the date.
The README's demo table and its wall time are tied to these two files (tests/test_readme_figures.py).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main(out_dir: Path) -> None:
    command = [str(Path(sys.executable).with_name("refinet-edge")), "demo"]
    with tempfile.TemporaryDirectory() as work:
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        result = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
        wall_s = time.perf_counter() - start
        load_after = os.getloadavg()[0]
        if result.returncode != 0:
            raise SystemExit(f"error: refinet-edge demo exited {result.returncode}:\n{result.stderr}")
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(work) / "runs" / "demo" / "report.json", out_dir / "evaluate.json")
    run = {
        "command": "refinet-edge demo",
        "wall_s": round(wall_s, 2),
        "returncode": result.returncode,
        "load_average_1min": {"before": load_before, "after": load_after},
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "stdout": result.stdout,
    }
    (out_dir / "demo_run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    print(f"demo: {wall_s:.1f} s wall, report in {out_dir}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
