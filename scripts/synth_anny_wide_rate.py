"""Measure Anny frame generation with the wider poses and scene; write ``synth_rate.json`` into a report directory.

    python scripts/synth_anny_wide_rate.py benchmarks/reports/2026-12-05-cpu-2core-synth-anny-wide

:func:`refinet_edge.benchmarks.synth_rate.run` (what is inside its timer is in
that module; building the subjects' Anny meshes included, loading Anny not)
at 320x240 (``itop_side``) with 2 workers, each run building its subjects'
meshes anew (the per-process caches are cleared first): Anny bodies with ``--poses mixed
--scene wide`` (the headline, twice: the machine is shared), own bodies in the
same mode, and Anny bodies in the legacy mode, each with the 1-minute load
average before and after.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

from refinet_edge.benchmarks.synth_rate import cpu_model, run

# (body, poses, scene, frames)
RUNS = (("anny", "mixed", "wide", 400), ("own", "mixed", "wide", 400), ("anny", "families", "default", 400),
        ("anny", "mixed", "wide", 400))


def main(out_dir: str) -> None:
    import anny

    from refinet_edge.synth.anny_body import anny_subject
    from refinet_edge.synth.anny_frame import _shells

    results = []
    for body, poses, scene, frames in RUNS:
        anny_subject.cache_clear()
        _shells.cache_clear()
        before = os.getloadavg()[0]
        r = run(frames, 2, "itop_side", "side", seed=0, body=body, poses=poses, scene=scene)
        r.update(load_1min_before=before, load_1min_after=os.getloadavg()[0],
                 minutes_for_20000=20000 / r["frames_per_s"] / 60)
        print(json.dumps(r), flush=True)
        results.append(r)
    report = {"date": datetime.date.today().isoformat(),
              "host": f"{cpu_model()}, {os.cpu_count()} cores, shared with other jobs",
              "python": platform.python_version(), "numpy": np.__version__, "anny": anny.__version__,
              "command": "python scripts/synth_anny_wide_rate.py " + out_dir, "results": results}
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    (path / "synth_rate.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
