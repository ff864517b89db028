"""The README's serving table is the committed load report, rendered."""

from __future__ import annotations

import json
from pathlib import Path

from refinet_edge.serve.load import markdown_table

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "benchmarks/reports/2026-12-05-cpu-2core-xeon-serve/serve_load.json"


def test_readme_serving_table_is_rendered_from_the_committed_report():
    report = json.loads(REPORT.read_text())
    assert [level["cameras"] for level in report["levels"]] == [1, 2, 4, 8]
    assert report["server"]["backend"] == "onnxruntime" and report["machine"]["python"] == "3.11.7"
    for level in report["levels"]:  # Triton's executed batches hold every person the cameras got answers for
        executed = sum(int(size) * count for size, count in level["triton_batches"].items())
        assert executed == level["people"]
    from fixtures.docs import documented_text

    assert markdown_table(report) in documented_text()  # the README or a docs page
