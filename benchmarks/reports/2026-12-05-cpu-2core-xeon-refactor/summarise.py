"""Summarise run_ab.sh's reports: per backend, end-to-end and per-step p50 of every run, the B/A ratio of each
interleaved pair, and their median; acc@10cm of both sides. Writes summary.json beside the runs.

    python summarise.py DIR
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def main(folder: Path) -> dict:
    runs = sorted(folder.glob("run*-[AB]/report.json"))
    by_pair: dict[int, dict[str, dict]] = {}
    for path in runs:
        number, side = path.parent.name[3:].split("-")
        by_pair.setdefault(int(number), {})[side] = json.loads(path.read_text())
    summary: dict = {"pairs": len(by_pair), "command": next(iter(by_pair.values()))["A"]["command"], "backends": {}}
    for pair, sides in sorted(by_pair.items()):
        for side, report in sides.items():
            for row in report["results"]:
                entry = summary["backends"].setdefault(row["backend"], {"runs": [], "ratios_b_over_a": {}})
                lat = row["latency_ms"]
                entry["runs"].append({"pair": pair, "side": side, "load_average": row["load_average"],
                                      "acc_10cm": row["accuracy"]["acc_10cm"],
                                      "mpjpe_mm": row["accuracy"]["mpjpe_mm"],
                                      "p50_ms": {step: stats["p50"] for step, stats in lat.items()}})
    for entry in summary["backends"].values():
        steps = entry["runs"][0]["p50_ms"].keys()
        for step in steps:
            ratios = []
            for pair in sorted(by_pair):
                a = next(r for r in entry["runs"] if r["pair"] == pair and r["side"] == "A")["p50_ms"][step]
                b = next(r for r in entry["runs"] if r["pair"] == pair and r["side"] == "B")["p50_ms"][step]
                ratios.append(b / a)
            entry["ratios_b_over_a"][step] = {"per_pair": ratios, "median": statistics.median(ratios)}
        entry["same_accuracy"] = len({(r["acc_10cm"], r["mpjpe_mm"]) for r in entry["runs"]}) == 1
    (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


if __name__ == "__main__":
    result = main(Path(sys.argv[1]))
    for backend, entry in result["backends"].items():
        e2e = entry["ratios_b_over_a"]["end_to_end"]
        print(f"{backend}: end-to-end p50 B/A per pair {', '.join(f'{r:.3f}' for r in e2e['per_pair'])}; "
              f"median {e2e['median']:.3f}; same accuracy {entry['same_accuracy']}")
