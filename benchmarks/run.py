"""``refinet-edge bench``: time every variant (backend x precision x points) at every batch, score it, report.

For each variant that can run here (:mod:`.variants`; the others are listed
with the reason), the same fixed frames go through:

* **accuracy** (once per variant, trained weights only): acc@10cm and MPJPE of
  the pipeline's last step, with :func:`refinet_edge.evaluate.score_steps`
  (default detector noise, sigma 5 px, seed 0) on the fixed split: synthetic
  frames made in memory (``itop_side``, side view, seed 1, the evaluate
  test-split seed) or the first frames of ``--data DIR``'s test split;
* **latency** per batch B (people per call, one person per frame): ``warmup``
  untimed calls, then ``iterations`` timed calls of :func:`.staged.run_timed`
  on consecutive slices of those frames, every step's milliseconds recorded;
* **power** during the timed calls, when a source exists (:mod:`.power`).

Throughput is people per second: B x iterations / total end-to-end seconds.
Speed-ups divide the torch (CPU) fp32 mean end-to-end latency by each row's,
at the same batch and points.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from refinet_edge import __version__
from refinet_edge.noise import DetectorNoise

from . import system
from .power import auto_sampler, summarize
from .staged import STEPS, run_timed
from .stats import StepTimer, latency_stats
from .variants import Context, build

SCHEMA_VERSION = 1
ACCURACY_SEED = 1  # the synthetic test split's seed, as in the README's evaluate commands
TIMER_SCOPE = ("Host NumPy arrays in, host NumPy arrays out, one call of the pipeline per iteration: lifting, "
               "patch extraction, point sampling (NumPy on the CPU), each stage network including its "
               "host<->device copies and the encode/decode steps. Outside: frame generation and loading, "
               "2D noise, warm-up calls. CUDA torch: torch.cuda.synchronize before every clock read.")


@dataclass(frozen=True)
class BenchSettings:
    """What to run. ``points`` empty = the shipped points per joint only."""

    backends: tuple[str, ...] = ("torch", "onnxruntime")
    precisions: tuple[str, ...] = ("fp32",)
    batches: tuple[int, ...] = (1,)
    points: tuple[int, ...] = ()
    iterations: int = 100
    warmup: int = 10
    accuracy_frames: int = 100
    data: str | None = None
    power: bool = True
    power_interval_ms: int = 100


def load_frames(settings: BenchSettings):
    from refinet_edge.export.inputs import frames_from

    count = max(settings.accuracy_frames, max(settings.batches))
    return frames_from(Path(settings.data) if settings.data else None, "test", count, ACCURACY_SEED)


def accuracy(pipeline, store, frames: int) -> dict:
    from refinet_edge.evaluate import EvalSettings, score_steps

    subset = store if len(store) <= frames else store.subset(frames, seed=0)
    metrics = score_steps(subset, pipeline, EvalSettings())
    last = pipeline.steps[-1]
    m = metrics[last].to_dict()
    return {"step": last, "frames": len(subset), "acc_10cm": m["acc_10cm"], "mpjpe_mm": m["mpjpe_mm"],
            "per_step_acc_10cm": {s: v.to_dict()["acc_10cm"] for s, v in metrics.items()}}


def time_batches(built, store, uv_noisy: np.ndarray, batch: int, settings: BenchSettings) -> dict:
    """Warm up, then time ``iterations`` calls at ``batch``; per-step ms lists, throughput and power."""
    n = len(store)
    starts = [(i * batch) % max(n - batch + 1, 1) for i in range(settings.warmup + settings.iterations)]
    for s in starts[:settings.warmup]:
        run_timed(built.pipeline, store.depth_batch(s, s + batch), uv_noisy[s:s + batch], store.camera,
                  StepTimer(built.sync))
    load_before = system.load_average()
    sampler, power_source = auto_sampler(settings.power_interval_ms) if settings.power else (None, "disabled")
    samples: dict[str, list[float]] = {step: [] for step in (*STEPS, "end_to_end")}
    if sampler is not None:
        sampler.start()
    try:
        for s in starts[settings.warmup:]:
            depth, uv = store.depth_batch(s, s + batch), uv_noisy[s:s + batch]  # outside the timer
            timer = StepTimer(built.sync)
            run_timed(built.pipeline, depth, uv, store.camera, timer)
            for step in samples:
                samples[step].append(timer.ms.get(step, 0.0))
    finally:
        if sampler is not None:
            sampler.stop()
    total_s = sum(samples["end_to_end"]) / 1e3
    people = batch * settings.iterations
    power = summarize(sampler.samples, total_s, people, power_source) if sampler is not None else None
    present = {k: v for k, v in samples.items() if any(v)}
    return {"latency_ms": {k: latency_stats(v) for k, v in present.items()},
            "samples_ms": {k: [round(x, 4) for x in v] for k, v in present.items()},
            "throughput_people_per_s": people / total_s, "timed_seconds": total_s,
            "load_average": {"before": load_before, "after": system.load_average()},
            "power": power, "power_source": power_source if power is None else power["source"],
            "power_error": getattr(sampler, "error", None)}


def threads() -> dict[str, str]:
    """The thread settings the backends ran with (no CUDA is touched)."""
    out = {"onnxruntime": "intra_op_num_threads=0 (its default: one per core)"}
    if importlib.util.find_spec("torch") is not None:
        import torch

        out["torch"] = f"{torch.get_num_threads()} intra-op"
    return out


def speedups(rows: list[dict]) -> None:
    """Add ``speedup_vs_torch_fp32`` (mean end-to-end) to every timed row, where the reference row ran."""
    ref = {(r["batch"], r["points"]): r["latency_ms"]["end_to_end"]["mean"] for r in rows
           if r["status"] == "ok" and r["backend"] == "torch" and r["precision"] == "fp32"}
    for r in rows:
        key = (r["batch"], r["points"])
        if r["status"] == "ok" and key in ref:
            r["speedup_vs_torch_fp32"] = ref[key] / r["latency_ms"]["end_to_end"]["mean"]


def run_bench(settings: BenchSettings, ctx: Context, command: str,
              on_row: Callable[[dict], None] | None = None) -> dict:
    """Run everything in ``settings``; the JSON-ready report (see :mod:`.report` for the layout)."""
    started = dt.datetime.now(dt.timezone.utc)
    machine = system.capture()
    store = load_frames(settings)
    uv_noisy = DetectorNoise().apply_2d(store.uv_px, np.random.default_rng(0))
    shipped = ctx.shipped_points()
    rows: list[dict] = []
    for backend in settings.backends:
        for precision in settings.precisions:
            for points in settings.points or (shipped,):
                built = build(ctx, backend, precision, points)
                base = {"backend": backend, "precision": precision, "points": points, "trained": built.trained,
                        "device": built.device, "notes": built.notes}
                if built.reason is not None:
                    rows.append({**base, "status": "unavailable", "reason": built.reason, "batch": None})
                    if on_row:
                        on_row(rows[-1])
                    continue
                acc = accuracy(built.pipeline, store, settings.accuracy_frames) if built.trained else None
                for batch in settings.batches:
                    row = {**base, "status": "ok", "batch": batch, "accuracy": acc,
                           **time_batches(built, store, uv_noisy, batch, settings)}
                    rows.append(row)
                    if on_row:
                        on_row(row)
    speedups(rows)
    return {"schema_version": SCHEMA_VERSION, "tool": f"refinet-edge {__version__}",
            "created_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "command": command,
            "machine": system.machine_line(machine), "system": machine,
            "settings": {**asdict(settings), "threads": threads()},
            "shipped_points": shipped, "data": store.name, "timer_scope": TIMER_SCOPE,
            "accuracy_note": (f"acc@10cm and MPJPE of the last step on {min(len(store), settings.accuracy_frames)} "
                              f"frames of {store.name}, 2D input = ground truth + Gaussian noise sigma 5 px "
                              f"(seed 0); only for the shipped points per joint ({shipped}): other N run "
                              f"untrained weights (latency only)"),
            "load_average_end": system.load_average(),
            "seconds": (dt.datetime.now(dt.timezone.utc) - started).total_seconds(), "results": rows}
