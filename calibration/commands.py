"""CLI verb ``calibrate`` (registered with the export verbs by :func:`refinet_edge.export.commands.register`)."""

from __future__ import annotations

from typing import Annotated

import typer

from refinet_edge.export.commands import Data, OnnxDir, progress_bar, say


def calibrate(
    precision: Annotated[str, typer.Option(help="fp16 or int8 (int8 also makes fp16, its fallback).")],
    onnx_dir: OnnxDir,
    data: Data = None,
    frames: Annotated[int, typer.Option(help="Calibration frames (train split of --data).")] = 256,
    gate_frames: Annotated[int, typer.Option(help="Held-out frames for the accuracy gate (test split).")] = 600,
    method: Annotated[str, typer.Option(help="int8 activation ranges: minmax, entropy or percentile.")] = "minmax",
) -> None:
    """Write {stage}.fp16.onnx or {stage}.int8.onnx (Q/DQ) and gate each stage on accuracy vs fp32.

    Gate: full-pipeline acc@10cm under ONNX Runtime on held-out frames, paired
    (the joints whose correctness flips between fp32 and the candidate), fp16
    within 0.1 points and int8 within 0.5 points of fp32 over the whole 95 %
    interval; a stage that fails, or whose interval holds the limit
    (undecided), keeps its fallback (fp32 below fp16, fp16 below int8) and the
    tool says so. Saves calibration.{precision}.json.
    """
    from .run import calibrate as run

    with progress_bar("calibration inputs") as bar:
        task = bar.add_task("calibration", total=frames)
        summary = run(onnx_dir, precision, data, frames, gate_frames, method, log=say,
                      on_progress=lambda done, total: bar.update(task, completed=done, total=total))
    say(f"calibrate: wrote {onnx_dir / ('calibration.' + summary['precision'] + '.json')}")
