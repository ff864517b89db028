"""A bounded loopback load test: N simulated cameras (own processes) against one ``refinet`` server.

Each camera process sends one frame's people every ``1 / fps`` s (synthetic walker frames,
rendered once and cycled; ground-truth 2D joints plus the live ``gt`` detector's noise,
seeded per camera). A request that is still running when the next frame is due makes
that frame *missed* (a camera drops it, as ``live`` would). Every level stops by itself
after ``seconds`` or ``max_requests`` per camera, whichever comes first.

Timed per request: encoding, HTTP to 127.0.0.1, Triton's queue and batching, the server's
pre-processing and stages, and decoding (the client's round trip). Reported per level:
people/s completed, p50/p99 round trip per camera, and the batch sizes (people) Triton
executed, read from its statistics. The in-process reference runs the same frames through
the same pipeline in this process, one camera's frame per call and all cameras' frames in one
call, timed around :meth:`RefinementPipeline.run`.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..benchmarks.stats import latency_stats
from ..benchmarks.system import capture
from ..errors import RefinetError
from ..pipeline import RefinementPipeline
from .client import ServerAddress, TritonRefinerClient
from .tensors import encode_request

MAX_SECONDS = 60.0          # per level, whatever is asked
MAX_REQUESTS = 2000         # per camera and level
MAX_CAMERAS = 16


@dataclass(frozen=True)
class LoadSettings:
    cameras: tuple[int, ...] = (1, 2, 4, 8)   # levels: simulated cameras at once
    fps: float = 30.0                          # frames per second per camera
    seconds: float = 5.0                       # per level (capped at MAX_SECONDS)
    max_requests: int = 300                    # per camera and level (capped at MAX_REQUESTS)
    frames: int = 16                           # distinct synthetic frames, cycled
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.cameras or min(self.cameras) < 1 or max(self.cameras) > MAX_CAMERAS:
            raise RefinetError(f"--cameras {list(self.cameras)}: each level 1..{MAX_CAMERAS}")
        if not (0 < self.seconds <= MAX_SECONDS and 1 <= self.max_requests <= MAX_REQUESTS
                and 0 < self.fps <= 120 and self.frames >= 1):
            raise RefinetError(f"load test bounds: 0 < --seconds <= {MAX_SECONDS:g}, 1 <= --max-requests <= "
                               f"{MAX_REQUESTS}, 0 < --fps <= 120, --frames >= 1")


Feed = dict[str, np.ndarray]


def camera_feeds(settings: LoadSettings, camera: int) -> list[tuple[Feed, int]]:
    """Camera ``camera``'s requests (feed, people): shared frames, the ``gt`` detector's noise seeded per camera."""
    frames, detections = _frames(settings, camera)
    return [(encode_request(f.depth_m, f.camera, d.uv_px, d.scores), d.count)
            for f, d in zip(frames, detections, strict=True)]


@functools.lru_cache(maxsize=1)
def _rendered(settings: LoadSettings) -> list:
    from ..live.synthetic import SyntheticSettings, SyntheticSource

    source = SyntheticSource(SyntheticSettings(fps=settings.fps, seed=settings.seed))
    return [source.frame(i) for i in range(settings.frames)]


def _frames(settings: LoadSettings, camera: int) -> tuple[list, list]:
    from ..live.detectors import GroundTruthDetector

    frames = _rendered(settings)
    detector = GroundTruthDetector(seed=settings.seed + 1 + camera)
    return frames, [detector(f) for f in frames]


def _camera_process(address: ServerAddress, feeds: list[tuple[Feed, int]], fps: float, seconds: float,
                    max_requests: int, start_at: float, results: mp.Queue, index: int) -> None:
    """One camera: a request per due frame until the time or request cap; puts its measurements on ``results``."""
    client = TritonRefinerClient(address)
    trips: list[float] = []
    errors: list[str] = []
    people, missed = 0, 0
    last_ok_s, last_error_s = -1.0, -1.0
    period = 1.0 / fps
    while time.time() < start_at:
        time.sleep(min(0.01, max(0.0, start_at - time.time())))
    t0 = time.perf_counter()
    due = 0
    while len(trips) + len(errors) < max_requests:
        now = time.perf_counter() - t0
        if now >= seconds:
            break
        if now < due * period:
            time.sleep(due * period - now)
        feed, count = feeds[(due + index * 3) % len(feeds)]
        start = time.perf_counter()
        try:
            client.infer(feed, steps=False)
            trips.append((time.perf_counter() - start) * 1e3)
            people += count
            last_ok_s = start - t0
        except Exception as exc:  # noqa: BLE001 - reported per camera; the camera goes on with its next frame
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            last_error_s = start - t0
        late = int((time.perf_counter() - t0) / period) + 1  # the next frame not yet due
        missed += max(0, late - due - 1)
        due = max(due + 1, late)
    client.close()
    results.put({"camera": index, "round_trip_ms": trips, "people": people, "missed_frames": missed,
                 "errors": errors, "resumed": last_ok_s > last_error_s, "seconds": time.perf_counter() - t0})


def run_level(address: ServerAddress, settings: LoadSettings, cameras: int) -> dict:
    """One level: ``cameras`` processes at once; their measurements and Triton's batch sizes."""
    client = TritonRefinerClient(address)
    feeds = [camera_feeds(settings, k) for k in range(cameras)]
    for feed, _ in feeds[0][:3]:  # warm-up outside the counts: sessions open on first use
        client.infer(feed, steps=False)
    before = _settled_counts(client)
    ctx = mp.get_context("spawn")  # a fresh interpreter per camera: no inherited threads or sockets
    results: mp.Queue = ctx.Queue()
    seconds = min(settings.seconds, MAX_SECONDS)
    start_at = time.time() + 2.0 + 0.5 * cameras  # every process has started and connected by then
    procs = [ctx.Process(target=_camera_process, args=(address, feeds[k], settings.fps, seconds,
                                                        min(settings.max_requests, MAX_REQUESTS), start_at,
                                                        results, k), daemon=True) for k in range(cameras)]
    for proc in procs:
        proc.start()
    try:
        per_camera = [results.get(timeout=seconds + 60.0 + 0.5 * cameras) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=10.0)
            if proc.is_alive():
                proc.kill()
    per_camera.sort(key=lambda r: r["camera"])
    after = _settled_counts(client, expect=_executed(before) + sum(r["people"] for r in per_camera))
    client.close()
    wall = max(r["seconds"] for r in per_camera)
    trips = [t for r in per_camera for t in r["round_trip_ms"]]
    batches = {size: after.get(size, 0) - before.get(size, 0) for size in sorted(after)}
    people = sum(r["people"] for r in per_camera)
    # a restarted server starts its counts over: then they no longer add up to the people answered
    restarted = _executed(batches) != people
    return {"cameras": cameras, "fps_per_camera": settings.fps, "seconds": round(wall, 3),
            "requests": len(trips), "people": people,
            "people_per_s": round(people / wall, 2),
            "round_trip_ms": _percentiles(trips),
            "per_camera": [{"camera": r["camera"], "requests": len(r["round_trip_ms"]),
                            "missed_frames": r["missed_frames"], "errors": len(r["errors"]),
                            "first_error": r["errors"][0] if r["errors"] else None,
                            "answered_after_last_error": r["resumed"],
                            "round_trip_ms": _percentiles(r["round_trip_ms"])} for r in per_camera],
            "triton_batches": {str(k): v for k, v in batches.items() if v},
            "server_restarted": restarted}  # then triton_batches is not this level's


def in_process(pipeline: RefinementPipeline, settings: LoadSettings, cameras: int, repeats: int = 3) -> dict:
    """The same frames through ``pipeline`` here: per frame (batch = one frame's people) and all cameras at once."""
    frames, detections = _frames(settings, 0)
    one, together = [], []
    pipeline.run(np.broadcast_to(frames[0].depth_m, (1, *frames[0].depth_m.shape)), detections[0].uv_px,
                 frames[0].camera)  # warm-up (sessions open, JIT compiles)
    for _ in range(repeats):
        for frame, dets in zip(frames, detections, strict=True):
            depth = np.broadcast_to(frame.depth_m, (dets.count, *frame.depth_m.shape))
            start = time.perf_counter()
            pipeline.run(depth, dets.uv_px, frame.camera)
            one.append((time.perf_counter() - start) * 1e3)
            depth_n = np.broadcast_to(frame.depth_m, (cameras * dets.count, *frame.depth_m.shape))
            uv_n = np.concatenate([dets.uv_px] * cameras)
            start = time.perf_counter()
            pipeline.run(depth_n, uv_n, frame.camera)
            together.append((time.perf_counter() - start) * 1e3)
    people = detections[0].count
    return {"per_frame_ms": _percentiles(one), "people_per_s_per_frame": round(1e3 * people / np.mean(one), 2),
            "batch": cameras * people, "batched_ms": _percentiles(together),
            "people_per_s_batched": round(1e3 * cameras * people / np.mean(together), 2)}


def markdown_table(report: dict) -> str:
    """The README's table of a load report: per level, served vs the same frames in process."""
    rows = ["| cameras x 30 fps | people/s served | round trip p50 / p99 ms (worst camera p99) | missed frames "
            "| batch sizes Triton formed (people: count) | in process, per frame p50 / p99 ms | in process, all "
            "cameras in one call: people/s |",
            "|---:|---:|---|---:|---|---|---:|"]
    for level in report["levels"]:
        ref = report["in_process"][str(level["cameras"])]
        trip = level["round_trip_ms"]
        worst = max(c["round_trip_ms"]["p99"] for c in level["per_camera"])
        missed = sum(c["missed_frames"] for c in level["per_camera"])
        batches = ", ".join(f"{k}: {v}" for k, v in level["triton_batches"].items())
        rows.append(f"| {level['cameras']} | {level['people_per_s']:.1f} | {trip['p50']:.1f} / {trip['p99']:.1f} "
                    f"({worst:.1f}) | {missed} | {batches} | {ref['per_frame_ms']['p50']:.1f} / "
                    f"{ref['per_frame_ms']['p99']:.1f} | {ref['people_per_s_batched']:.1f} |")
    return "\n".join(rows)


def _batch_counts(stats: dict) -> dict[int, int]:
    return {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats.get("batch_stats", [])}


def _executed(counts: dict[int, int]) -> int:
    """People Triton ran: the sum of batch size times executions."""
    return sum(size * count for size, count in counts.items())


def _settled_counts(client, expect: int | None = None, timeout_s: float = 3.0) -> dict[int, int]:
    """Triton's batch counts once they have caught up: a response can reach the client before the server counts
    its execution, so read until the total is ``expect`` or, without one, until two reads 0.1 s apart agree
    (at most ``timeout_s``; then the last read, and a restarted server shows as counts that do not add up)."""
    deadline = time.monotonic() + timeout_s
    counts = _batch_counts(client.statistics())
    while time.monotonic() < deadline:
        if expect is not None and _executed(counts) == expect:
            return counts
        time.sleep(0.1)
        again = _batch_counts(client.statistics())
        if expect is None and again == counts:
            return counts
        counts = again
    return counts


def _percentiles(values: list[float]) -> dict[str, float]:
    """:func:`latency_stats` of ``values`` (ms, rounded to 1 us); NaN percentiles for no values."""
    if not values:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan")}
    return {key: round(value, 3) if isinstance(value, float) else value
            for key, value in latency_stats(values).items()}


def load_report(address: ServerAddress, settings: LoadSettings, pipeline: RefinementPipeline, server: dict,
                log=print) -> dict:
    """Every level against the server at ``address``, then the in-process reference; the report (JSON-able)."""
    levels = []
    for cameras in settings.cameras:
        levels.append(level := run_level(address, settings, cameras))
        log(f"serve-load: {cameras} camera(s): {level['people_per_s']} people/s, round trip p50 "
            f"{level['round_trip_ms']['p50']} ms p99 {level['round_trip_ms']['p99']} ms, Triton batches "
            f"{level['triton_batches']}")
    reference = {str(n): in_process(pipeline, settings, n) for n in settings.cameras}
    return {"kind": "serve_load", "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": capture(), "settings": asdict(settings), "server": server, "levels": levels,
            "in_process": reference, "timed": __doc__.split("Timed per request: ", 1)[1].strip()}
