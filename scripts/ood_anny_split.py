"""Score the OOD suite's ``anny_bodies`` split (and ``in_distribution`` beside it) with the shipped weights.

    python scripts/ood_anny_split.py benchmarks/reports/2026-12-05-cpu-2core-synth-anny/ood_anny.json

The same code path as ``refinet-edge evaluate --suite ood`` (``run_suite`` with the
shipped pipeline, 150 frames per split, cache ``runs/ood``), restricted to two
splits: the rest of the suite's table was measured before the ``body`` field
existed and is not re-run here.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from refinet_edge.benchmarks.synth_rate import cpu_model
from refinet_edge.cli import _load_pipeline
from refinet_edge.ood_suite import OOD_SPLITS, format_suite, run_suite


def main(path: str) -> None:
    pipeline, info = _load_pipeline(None, "all")
    start = time.perf_counter()
    report = run_suite("ood", pipeline, frames=150, cache_dir=Path("runs/ood"), stages_info=info,
                       splits=tuple(s for s in OOD_SPLITS if s.name in ("in_distribution", "anny_bodies")))
    report["seconds"] = time.perf_counter() - start
    report["host"] = f"{cpu_model()}, {os.cpu_count()} cores, shared; Python {platform.python_version()}"
    report["load_average_1min_after"] = os.getloadavg()[0]
    Path(path).write_text(json.dumps(report, indent=1) + "\n")
    print(format_suite(report))


if __name__ == "__main__":
    main(sys.argv[1])
