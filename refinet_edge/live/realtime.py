"""The real-time loop: capture, 2D detection and refinement in three threads that overlap.

::

    capture thread --slot--> detect thread --slot--> caller's thread (refine, outputs)

Each hand-over is a one-item slot. For a real-time source (a camera, real-time
playback) a full slot is overwritten, so old frames are dropped rather than
queued and latency never builds up; for the others (recordings played as fast
as possible, the synthetic scene in evaluation) a full slot makes the producer
wait, so every frame is processed. Dropped frames are those the source skipped
(gaps in its frame numbers) plus those overwritten in a slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import cast

from .detectors import Detections, Detector
from .frames import FrameSource, RGBDFrame
from .refiner import Refined

# Refiner, or a remote one (refinet_edge.serve.client.RemoteRefiner) that returns None for a frame it lost
FrameRefiner = Callable[[RGBDFrame, Detections], Refined | None]

_END = object()


class Slot:
    """A one-item hand-over; ``lossy`` overwrites a waiting item (counting it), otherwise ``put`` waits.

    The end marker always waits (it never replaces the last frame) unless ``stop`` is set.
    """

    def __init__(self, lossy: bool, stop: threading.Event) -> None:
        self.lossy, self.stop = lossy, stop
        self._item: object = None
        self._full = False
        self._cond = threading.Condition()
        self.overwritten = 0

    def put(self, item: object) -> None:
        with self._cond:
            while self._full and (not self.lossy or item is _END) and not self.stop.is_set():
                self._cond.wait(0.1)
            if self.stop.is_set() and item is not _END:
                return  # the run is ending: nobody will take it
            if self._full and self._item is not _END and item is not _END:
                self.overwritten += 1
            self._item, self._full = item, True
            self._cond.notify_all()

    def get(self) -> object:
        with self._cond:
            while not self._full:
                if self.stop.is_set():
                    return _END
                self._cond.wait(0.1)
            item, self._item, self._full = self._item, None, False
            self._cond.notify_all()
            return item


@dataclass
class LiveResult:
    """One processed frame: the frame, its detections, the refinement and its latency (ms per step)."""

    frame: RGBDFrame
    detections: Detections
    refined: Refined
    latency_ms: dict[str, float]
    dropped_before: int  # frame numbers missing between the previous result and this one


@dataclass
class _Shared:
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class LiveLoop:
    """Runs ``source`` through ``detector`` and ``refiner``; iterate to get :class:`LiveResult` in order."""

    def __init__(self, source: FrameSource, detector: Detector, refiner: FrameRefiner,
                 read_timeout_s: float | None = None) -> None:
        self.source, self.detector, self.refiner = source, detector, refiner
        # a camera that sends nothing for 5 s is in trouble; a file played for us may just be slow to decode
        self.read_timeout_s = read_timeout_s or (5.0 if source.realtime else 30.0)
        self.skipped = 0  # frame numbers the source skipped before we read (a camera or player dropped them)
        self.lost = 0  # frames the refiner could not refine (a remote server that went away) and returned None for
        self._slots: list[Slot] = []

    def run(self, stop: threading.Event | None = None) -> Generator[LiveResult, None, None]:
        """Yield results until the source ends or ``stop`` is set; errors in the threads are re-raised here."""
        shared = _Shared(stop=stop or threading.Event())
        lossy = self.source.realtime
        captured, detected = Slot(lossy, shared.stop), Slot(lossy, shared.stop)
        self._slots = [captured, detected]
        threads = [threading.Thread(target=self._capture, args=(captured, shared), daemon=True, name="capture"),
                   threading.Thread(target=self._detect, args=(captured, detected, shared), daemon=True,
                                    name="detect")]
        for thread in threads:
            thread.start()
        last = None
        try:
            while (item := detected.get()) is not _END:
                frame, wait_ms, detections, detect_ms = cast(tuple[RGBDFrame, float, Detections, float], item)
                refined = self.refiner(frame, detections)
                if refined is None:  # counted in `dropped`; the next result's dropped_before includes it
                    self.lost += 1
                    continue
                gap = 0 if last is None else max(0, frame.number - last - 1)
                last = frame.number
                latency = {"capture_wait": wait_ms, "detect_2d": detect_ms, **refined.timings_ms,
                           "end_to_end": (time.perf_counter() - frame.arrival_s) * 1e3}
                yield LiveResult(frame, detections, refined, latency, gap)
        finally:
            shared.stop.set()
            for thread in threads:
                thread.join(timeout=self.read_timeout_s + 1.0)
        if shared.error is not None:
            raise shared.error

    @property
    def dropped(self) -> int:
        """Frames lost so far: skipped by the source, overwritten in a slot before they were taken, or not refined."""
        return self.skipped + self.lost + sum(slot.overwritten for slot in self._slots)

    def _capture(self, out: Slot, shared: _Shared) -> None:
        previous = None
        try:
            while not shared.stop.is_set():
                start = time.perf_counter()
                frame = self.source.read(self.read_timeout_s)
                if frame is None:
                    break
                if previous is not None:
                    self.skipped += max(0, frame.number - previous - 1)
                previous = frame.number
                out.put((frame, (time.perf_counter() - start) * 1e3))
        except BaseException as exc:  # re-raised in the caller's thread
            shared.error = exc
        finally:
            out.put(_END)

    def _detect(self, inp: Slot, out: Slot, shared: _Shared) -> None:
        try:
            while (item := inp.get()) is not _END:
                frame, wait_ms = cast(tuple[RGBDFrame, float], item)
                start = time.perf_counter()
                detections = self.detector(frame)
                out.put((frame, wait_ms, detections, (time.perf_counter() - start) * 1e3))
        except BaseException as exc:
            shared.error = exc
            shared.stop.set()
        finally:
            out.put(_END)
