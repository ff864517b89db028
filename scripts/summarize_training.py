"""Summarise the training run logs (``{stage}.log.jsonl``) of a report folder into ``summary.json``.

    python scripts/summarize_training.py benchmarks/reports/DIR

For every ``*.log.jsonl`` in DIR: the epochs logged, the minutes they took (the sum of the epochs' ``seconds``,
validation included, without loading data or making the chain cache), the stage (the last step the log scores),
the best validation acc@10cm of that step and its epoch, and the last logged value of every extra validation
split (``extra_*``). The model card's training table is tied to this file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def summarize(path: Path) -> dict:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    steps = [k[4:-9] for k in records[0] if k.startswith("val_") and k.endswith("_acc_10cm")]
    stage = steps[-1]
    key = f"val_{stage}_acc_10cm"
    best = max(records, key=lambda r: r[key])
    extra = {}
    for record in records:
        extra.update({k[6:]: v for k, v in record.items() if k.startswith("extra_")})
    return {"stage": stage, "epochs": len(records), "minutes": round(sum(r["seconds"] for r in records) / 60, 1),
            "best_val_acc_10cm": round(best[key], 2), "best_epoch": best["epoch"],
            "val_steps_at_best": {s: round(best[f"val_{s}_acc_10cm"], 2) for s in steps},
            "extra_last": {k: round(v, 2) for k, v in extra.items()}}


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/summarize_training.py REPORT_DIR")
    folder = Path(sys.argv[1])
    runs = {p.name.removesuffix(".log.jsonl"): summarize(p) for p in sorted(folder.glob("*.log.jsonl"))}
    if not runs:
        sys.exit(f"error: {folder}: no *.log.jsonl run logs")
    (folder / "summary.json").write_text(json.dumps({"runs": runs}, indent=2) + "\n", encoding="utf-8")
    print(f"summarize_training: {len(runs)} runs -> {folder / 'summary.json'}")


if __name__ == "__main__":
    main()
