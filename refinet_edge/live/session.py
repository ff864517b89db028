"""One ``live`` run: the loop, its outputs, a status line, Ctrl-C and the closing summary."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

from .detectors import Detector
from .draw import VideoOut, annotate
from .frames import FrameSource
from .outputs import AccuracyTracker, JsonlWriter, LatencyStats
from .realtime import FrameRefiner, LiveLoop, LiveResult
from .smoothing import OneEuro


@dataclass(frozen=True)
class LiveOptions:
    frames: int | None = None           # stop after this many processed frames (None: until the source ends)
    output: Path | None = None          # JSONL, one line per frame
    video: Path | None = None           # annotated frames
    window: bool = False                # show a window (only where can_show_window() said yes)
    status_every_s: float = 1.0         # status line period
    smooth: bool = False                # One Euro filter on the final 3D joints (one person)


def run_live(source: FrameSource, detector: Detector, refiner: FrameRefiner, options: LiveOptions,
             status: Callable[[str], None] = print) -> dict:
    """Run an opened ``source`` until it ends, ``options.frames`` are done, Ctrl-C or the window's q.

    Returns the summary: frames, seconds, fps, dropped, latency percentiles, accuracy per step.
    """
    stop, interrupted = threading.Event(), threading.Event()
    previous = _catch_sigint(stop, interrupted)
    writer = JsonlWriter(options.output) if options.output else None
    video = VideoOut(options.video, source.fps) if options.video else None
    stats, accuracy = LatencyStats(), AccuracyTracker()
    loop = LiveLoop(source, detector, refiner)
    smoother = OneEuro() if options.smooth else None
    count, start, last_status, people = 0, time.perf_counter(), 0.0, 0
    restarted = None  # people the second pass ran again (None: the refiner does not say)
    hidden = None  # answered joints placed behind the measured surface (None: the refiner does not say)
    try:
        with closing(loop.run(stop)) as results:
            for result in results:
                if smoother is not None:
                    result = _smoothed(result, smoother)
                count += 1
                people += result.detections.count
                if result.refined.second_pass is not None:
                    restarted = (restarted or 0) + int(result.refined.second_pass.any(axis=1).sum())
                if result.refined.hidden is not None:
                    hidden = (hidden or 0) + int(result.refined.hidden.sum())
                stats.add(result.latency_ms)
                accuracy.add(result)
                if writer:
                    writer.write(result)
                fps = count / max(time.perf_counter() - start, 1e-9)
                if video or options.window:
                    canvas = annotate(result, fps)
                    if video:
                        video.write(canvas)
                    if options.window and _show(canvas):
                        stop.set()
                now = time.perf_counter()
                if now - last_status >= options.status_every_s:
                    last_status = now
                    trip = result.latency_ms.get("round_trip")
                    status(f"frame {result.frame.number}: {fps:.1f} fps, {result.detections.count} people, "
                           f"end-to-end {result.latency_ms['end_to_end']:.0f} ms"
                           f"{'' if trip is None else f', server round trip {trip:.0f} ms'}, dropped {loop.dropped}")
                if options.frames is not None and count >= options.frames:
                    break
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if writer:
            writer.close()
        if video:
            video.close()
    seconds = time.perf_counter() - start
    return {"frames": count, "seconds": seconds, "fps": count / seconds if seconds > 0 else 0.0,
            "dropped": loop.dropped, "people": people, "second_pass_people": restarted,
            "hidden_joints": hidden,
            "interrupted": interrupted.is_set(),
            "latency_ms": stats.percentiles(),
            "accuracy": {step: m.to_dict() for step, m in accuracy.metrics().items()}}


def _catch_sigint(stop: threading.Event, interrupted: threading.Event):
    """First Ctrl-C asks for a clean stop; a second one interrupts at once."""
    def handler(signum, frame) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        return None  # signals reach the main thread only; the caller stops us through its own means
    return signal.signal(signal.SIGINT, handler)


def _show(canvas) -> bool:
    """Show the canvas; True when the user pressed q or Esc."""
    import cv2

    cv2.imshow("refinet-edge live", canvas)
    key = cv2.waitKey(1) & 0xFF
    if key == ord(" "):  # pause until space again (or q)
        while (key := cv2.waitKey(50) & 0xFF) not in (ord(" "), ord("q"), 27):
            pass
    return key in (ord("q"), 27)


def _smoothed(result: LiveResult, smoother: OneEuro) -> LiveResult:
    """The result with its final step's joints smoothed over time (single person; otherwise the filter resets)."""
    refined = result.refined
    if refined.joints_m.shape[0] != 1:
        smoother.reset()
        return result
    joints = smoother(refined.joints_m[0], result.frame.timestamp_ms / 1000.0)[None]
    return replace(result, refined=replace(refined, steps={**refined.steps, refined.final: joints}))
