"""Measure the per-joint margins of :mod:`refinet_edge.occlusion` on training data.

    python scripts/hidden_margins.py --frames 300 --json OUT.json data/full/mix_a ... data/mix_q

For each dataset (ITOP layout, side view, train split), ``--frames`` frames evenly spaced: the labels' 3D joints
against the sensor depth at their own pixel (:func:`refinet_edge.occlusion.behind_surface_m`). Per joint: the
95th percentile over the joints the labels call visible (the margin), and, as a check of the rule on true
positions, the share of the labels' hidden joints that lie beyond it and of the visible ones that do.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.occlusion import behind_surface_m
from refinet_edge.skeleton import NUM_JOINTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--percentile", type=float, default=95.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    behind, visible = [], []
    for root in args.data:
        with open_split(root, view="side", split="train") as ds:
            rows = np.unique(np.linspace(0, len(ds) - 1, min(args.frames, len(ds))).astype(int))
            behind.append(behind_surface_m(ds.joints_m[rows], ds.depths(rows), ds.camera))
            visible.append(ds.visible[rows])
        print(f"{root}: {len(rows)} frames", file=sys.stderr, flush=True)
    behind_all, visible_all = np.concatenate(behind), np.concatenate(visible)
    margins = [float(np.nanpercentile(np.where(visible_all[:, j], behind_all[:, j], np.nan), args.percentile))
               for j in range(NUM_JOINTS)]
    beyond = behind_all > np.asarray(margins)
    measured = np.isfinite(behind_all)
    out = {"data": [str(p) for p in args.data], "frames_per_set": args.frames, "frames": int(len(behind_all)),
           "percentile": args.percentile, "margins_m": [round(m, 3) for m in margins],
           "hidden_beyond_margin_pct": round(100 * float(beyond[~visible_all & measured].mean()), 1),
           "visible_beyond_margin_pct": round(100 * float(beyond[visible_all & measured].mean()), 1),
           "hidden_share_pct": round(100 * float((~visible_all).mean()), 1)}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
