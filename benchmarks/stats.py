"""Latency statistics and the timer every benchmark uses.

:func:`latency_stats` summarises a list of milliseconds as min, mean, p50,
p90, p95, p99, max and standard deviation (population, ``numpy.std``);
percentiles are NumPy's default (linear interpolation between samples).
:class:`StepTimer` adds ``perf_counter`` intervals per step name and calls a
``sync`` function (``torch.cuda.synchronize`` for CUDA torch) before reading
the clock, so asynchronous GPU work lands inside the step that launched it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

STAT_KEYS = ("min", "mean", "p50", "p90", "p95", "p99", "max", "std")


def latency_stats(ms: list[float] | np.ndarray) -> dict[str, float]:
    """Summary of latencies in ms (keys :data:`STAT_KEYS` plus ``n``); raises on an empty list."""
    values = np.asarray(ms, dtype=np.float64)
    if values.size == 0:
        raise ValueError("latency_stats: no samples")
    p50, p90, p95, p99 = np.percentile(values, [50, 90, 95, 99])
    return {"n": int(values.size), "min": float(values.min()), "mean": float(values.mean()), "p50": float(p50),
            "p90": float(p90), "p95": float(p95), "p99": float(p99), "max": float(values.max()),
            "std": float(values.std())}


class StepTimer:
    """Accumulates milliseconds per step for one iteration: ``with timer.step("lift"): ...``."""

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self.sync = sync
        self.ms: dict[str, float] = {}

    def clock(self) -> float:
        if self.sync is not None:
            self.sync()
        return time.perf_counter()

    def step(self, name: str) -> _Step:
        """A context manager that adds the seconds spent inside it to ``ms[name]`` (in ms)."""
        return _Step(self, name)


class _Step:
    """One timed region of a :class:`StepTimer` (a plain class: a generator context manager costs ~1.5 us a use,
    and the pipeline enters 13 per call)."""

    __slots__ = ("timer", "name", "start")

    def __init__(self, timer: StepTimer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        self.start = self.timer.clock()

    def __exit__(self, *exc: object) -> None:
        ms = self.timer.ms
        ms[self.name] = ms.get(self.name, 0.0) + (self.timer.clock() - self.start) * 1e3
