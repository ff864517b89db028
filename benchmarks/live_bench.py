"""``bench --live N``: the whole live loop (:mod:`refinet_edge.live`) for N frames per variant.

Per variant that ran in the latency benchmark with trained weights: a source
(the synthetic walking scene in real time, or a recording), the ground-truth
2D detector with the default noise (sigma 5 px, seed 0) and the variant's
pipeline, through :func:`refinet_edge.live.session.run_live`. Reported as the
live command reports it: sustained fps, dropped frames (a real-time source
drops what the loop cannot keep up with), end-to-end latency percentiles per
frame and accuracy per step against the synthetic ground truth. On a small
CPU the synthetic scene's rendering shares the cores with the pipeline, so the
fps is the whole loop's, not the refinement's alone.
"""

from __future__ import annotations

from pathlib import Path

from refinet_edge.errors import RefinetError


def live_run(pipeline, frames: int, source: str = "synthetic", fps: float = 30.0) -> dict:
    """One live run of ``pipeline``: the summary of :func:`run_live` plus the source and detector names."""
    from refinet_edge.live.detectors import make_detector
    from refinet_edge.live.refiner import Refiner
    from refinet_edge.live.session import LiveOptions, run_live
    from refinet_edge.live.sources import open_source
    from refinet_edge.live.synthetic import SyntheticSettings

    if frames <= 0:
        raise RefinetError(f"--live must be a positive number of frames, got {frames}")
    if source != "synthetic" and not Path(source).exists():
        raise RefinetError(f"--live-source {source}: no such recording (or use 'synthetic')")
    opened = open_source(source, realtime=True, synthetic=SyntheticSettings(fps=fps))
    with opened:
        detector = make_detector("gt")
        summary = run_live(opened, detector, Refiner(pipeline), LiveOptions(frames=frames), status=lambda _: None)
    summary.update(source=opened.description, detector=detector.name)
    return summary


def live_table(report: dict) -> list[list[str]]:
    """Header + one row per live run: fps, dropped, end-to-end p50/p90/p99 ms, last step's acc@10cm."""
    rows = [["configuration", "frames", "seconds", "fps", "dropped", "p50 ms", "p90 ms", "p99 ms", "acc@10cm %"]]
    for run in report.get("live") or []:
        s = run["summary"]
        e2e = s["latency_ms"].get("end_to_end", {})
        acc = s.get("accuracy") or {}
        last = acc[list(acc)[-1]]["acc_10cm"] if acc else None
        rows.append([f"{run['backend']} {run['precision']}", str(s["frames"]), f"{s['seconds']:.1f}",
                     f"{s['fps']:.2f}", str(s["dropped"]), *(f"{e2e[k]:.1f}" if k in e2e else "-"
                                                             for k in ("p50", "p90", "p99")),
                     f"{last:.2f}" if last is not None else "-"])
    return rows
