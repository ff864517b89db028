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
from contextlib import contextmanager

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

    @contextmanager
    def step(self, name: str):
        start = self.clock()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (self.clock() - start) * 1e3
