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
  on consecutive slices of those frames, every step's milliseconds recorded,
  spread over ``rounds`` rounds that interleave all configurations
  (:mod:`.timing`);
* **power** during the timed calls, when a source exists (:mod:`.power`).

``threads`` > 0 sets PyTorch's intra-op threads and every ONNX Runtime
session's ``intra_op_num_threads``; 0 keeps each library's default.

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
from refinet_edge.errors import RefinetError
from refinet_edge.noise import DetectorNoise

from . import system
from .timing import Job, chunks
from .variants import Built, Context, build

SCHEMA_VERSION = 1
ACCURACY_SEED = 1  # the synthetic test split's seed, as in the README's evaluate commands
TIMER_SCOPE = ("Host NumPy arrays in, host NumPy arrays out, one call of the pipeline per iteration: lifting, "
               "patch extraction, point sampling (the pipeline's pre-processing path, named under System), "
               "each stage network including its host<->device copies and the encode/decode steps. Outside: "
               "frame generation and loading, 2D noise, warm-up calls (the compiled CPU path compiles or loads "
               "its kernels there). CUDA torch: torch.cuda.synchronize before every clock read.")


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
    rounds: int = 5
    threads: int = 0
    live_frames: int = 0  # > 0: also run the live loop this many frames per trained variant (:mod:`.live_bench`)
    live_source: str = "synthetic"
    preprocess: str = "auto"  # the pipelines' pre-processing path (see RefinementPipeline)
    swap_prob: float = 0.0  # gross 2D errors in the timed and scored input (0: Gaussian sigma 5 px alone)
    outlier_prob: float = 0.0

    def noise(self) -> DetectorNoise:
        """The 2D detector noise of the timed and scored input: sigma 5 px, plus the gross errors asked for."""
        return DetectorNoise(swap_prob=self.swap_prob, outlier_prob=self.outlier_prob)


def load_frames(settings: BenchSettings):
    from refinet_edge.export.inputs import frames_from

    count = max(settings.accuracy_frames, max(settings.batches))
    return frames_from(Path(settings.data) if settings.data else None, "test", count, ACCURACY_SEED)


def check_batches(settings: BenchSettings, store) -> None:
    """Refuse a batch the frames cannot fill: the report must never claim people per call that did not run."""
    short = [b for b in settings.batches if b > len(store)]
    if short:
        where = f"--data {settings.data} (test split)" if settings.data else "the synthetic frames"
        raise RefinetError(f"--batch {','.join(map(str, short))}: {where} holds only {len(store)} frames, so a "
                           f"call cannot carry {max(short)} people; use --batch of at most {len(store)}, or --data "
                           f"with more test frames")


def accuracy(pipeline, store, frames: int, noise: DetectorNoise | None = None) -> dict:
    from refinet_edge.evaluate import EvalSettings, score_steps

    subset = store if len(store) <= frames else store.subset(frames, seed=0)
    metrics = score_steps(subset, pipeline, EvalSettings(noise=noise or DetectorNoise()))
    last = pipeline.steps[-1]
    m = metrics[last].to_dict()
    return {"step": last, "frames": len(subset), "acc_10cm": m["acc_10cm"], "mpjpe_mm": m["mpjpe_mm"],
            "per_step_acc_10cm": {s: v.to_dict()["acc_10cm"] for s, v in metrics.items()}}


def _gross(settings: BenchSettings) -> str:
    if not (settings.swap_prob or settings.outlier_prob):
        return ""
    return f", left/right swaps {settings.swap_prob:g}, outliers {settings.outlier_prob:g}"


def set_threads(count: int) -> dict[str, str]:
    """Apply ``count`` to PyTorch (0 = leave its default); what the backends run with, for the report."""
    out = {"onnxruntime": f"intra_op_num_threads={count}" + (" (its default: one per core)" if not count else "")}
    if importlib.util.find_spec("torch") is not None:
        import torch

        if count:
            torch.set_num_threads(count)
        out["torch"] = f"{torch.get_num_threads()} intra-op"
    return out


def _ort_threads(built, count: int) -> None:
    """ONNX Runtime sessions are made on first use: set their thread count before that."""
    for runner in built.pipeline.runners.values():
        if getattr(runner, "backend", None) == "onnxruntime":
            runner.threads = count


def _preprocess_path(built) -> str:
    """Where the variant's pipeline pre-processes (e.g. "fast CPU path (Numba 0.68.1)"), chosen now."""
    steps = built.pipeline.resolve_steps()
    describe = getattr(steps, "describe", None)
    return describe() if callable(describe) else steps.name


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
    check_batches(settings, store)
    uv_noisy = settings.noise().apply_2d(store.uv_px, np.random.default_rng(0))
    shipped = ctx.shipped_points()
    thread_info = set_threads(settings.threads)
    rows: list[dict] = []
    jobs: list[tuple[dict, Job]] = []
    trained: list[tuple[dict, Built]] = []
    preprocess: dict[str, None] = {}  # the pre-processing path of each timed variant, once each
    for backend in settings.backends:
        for precision in settings.precisions:
            for points in settings.points or (shipped,):
                built = build(ctx, backend, precision, points)
                base = {"backend": backend, "precision": precision, "points": points, "trained": built.trained,
                        "device": built.device, "notes": built.notes, "stage_precision": built.stage_precision}
                if built.reason is not None:
                    rows.append({**base, "status": "unavailable", "reason": built.reason, "batch": None})
                    if on_row:
                        on_row(rows[-1])
                    continue
                assert built.pipeline is not None  # no reason given: built
                ran_points = built.pipeline.config.points.num_points
                assert ran_points == points, f"{backend} {precision}: asked N={points}, the pipeline runs {ran_points}"
                _ort_threads(built, settings.threads)
                built.pipeline.set_preprocess(settings.preprocess)
                path = _preprocess_path(built)
                preprocess.setdefault(path)
                acc = accuracy(built.pipeline, store, settings.accuracy_frames, settings.noise()) \
                    if built.trained else None
                if built.trained:
                    trained.append((base, built))
                for batch in settings.batches:
                    job = Job(built, store, uv_noisy, batch, settings.power, settings.power_interval_ms)
                    job.warm_up(settings.warmup)
                    jobs.append(({**base, "status": "ok", "batch": batch, "accuracy": acc, "preprocess": path}, job))
    for number, calls in enumerate(chunks(settings.iterations, settings.rounds), start=1):
        ctx.log(f"bench: round {number}: {calls} timed calls of each of {len(jobs)} configurations")
        for _, job in jobs:
            if number > 1:
                job.warm_up(1)
            job.run(calls)
    for base, job in jobs:
        rows.append({**base, **job.result()})
        if on_row:
            on_row(rows[-1])
    speedups(rows)
    live = []
    if settings.live_frames:
        from .live_bench import live_run

        for base, built in trained:
            ctx.log(f"bench: live loop, {base['backend']} {base['precision']}, {settings.live_frames} frames")
            live.append({"backend": base["backend"], "precision": base["precision"], "points": base["points"],
                         "summary": live_run(built.pipeline, settings.live_frames, settings.live_source)})
    return {"schema_version": SCHEMA_VERSION, "tool": f"refinet-edge {__version__}",
            "created_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "command": command,
            "machine": system.machine_line(machine), "system": machine,
            "settings": asdict(settings), "threads": thread_info,
            "shipped_points": shipped, "data": store.name, "timer_scope": TIMER_SCOPE,
            "preprocess": "; ".join(preprocess), "refinement": ctx.refinement_line(),
            "accuracy_note": (f"acc@10cm and MPJPE of the last step on {min(len(store), settings.accuracy_frames)} "
                              f"frames of {store.name}, 2D input = ground truth + Gaussian noise sigma 5 px"
                              f"{_gross(settings)} (seed 0); only for the shipped points per joint ({shipped}): "
                              f"other N run untrained weights (latency only)"),
            "load_average_end": system.load_average(),
            "seconds": (dt.datetime.now(dt.timezone.utc) - started).total_seconds(), "results": rows,
            "live": live}
