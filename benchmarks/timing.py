"""Timing one configuration (a built variant at one batch size) in chunks, so configurations can interleave.

:func:`refinet_edge.benchmarks.run.run_bench` times every configuration in
``rounds`` rounds, each round giving every configuration its share of the
iterations in turn. On a machine whose load drifts (a shared CPU, thermal
throttling on a Jetson), drift then lands on every configuration alike instead
of on whichever ran last. Before its first chunk a job makes ``warmup``
untimed calls; before each later chunk one untimed call (switching between
variants leaves caches cold). Power is sampled during the timed chunks only.
"""

from __future__ import annotations

import numpy as np

from refinet_edge.errors import RefinetError
from refinet_edge.pipeline import PipelineResult

from . import system
from .power import PowerSample, auto_sampler, summarize
from .staged import STEPS, run_timed
from .stats import StepTimer, latency_stats


def chunks(iterations: int, rounds: int) -> list[int]:
    """``iterations`` split over ``rounds`` as evenly as possible (earlier rounds get the remainder)."""
    rounds = max(1, min(rounds, iterations))
    return [iterations // rounds + (1 if r < iterations % rounds else 0) for r in range(rounds)]


class Job:
    """Accumulates per-step milliseconds, power samples and load for one configuration."""

    def __init__(self, built, store, uv_noisy: np.ndarray, batch: int, power: bool, power_interval_ms: int) -> None:
        self.built, self.store, self.uv_noisy, self.batch = built, store, uv_noisy, batch
        self.power, self.power_interval_ms = power, power_interval_ms
        self.samples: dict[str, list[float]] = {step: [] for step in (*STEPS, "end_to_end")}
        self.power_samples: list[PowerSample] = []
        self.power_source = "disabled"
        self.power_error: str | None = None
        self.load_before: list[float] | None = None
        self.load_after: list[float] | None = None
        self._calls = 0
        self.people_timed = 0
        self.people_restarted = 0  # of the timed people, those the second pass ran again

    def _call(self, timer: StepTimer) -> PipelineResult:
        span = max(len(self.store) - self.batch + 1, 1)
        start = (self._calls * self.batch) % span
        self._calls += 1
        depth = self.store.depth_batch(start, start + self.batch)  # outside the timer
        if len(depth) != self.batch:  # never time fewer people than the report will say
            raise RefinetError(f"batch {self.batch}: only {len(depth)} frames from frame {start} of "
                               f"{self.store.name} ({len(self.store)} frames)")
        return run_timed(self.built.pipeline, depth, self.uv_noisy[start:start + self.batch], self.store.camera,
                         timer)

    def warm_up(self, calls: int) -> None:
        for _ in range(calls):
            self._call(StepTimer(self.built.sync))

    def run(self, calls: int) -> None:
        """Time ``calls`` calls (with power sampling around them when enabled)."""
        if self.load_before is None:
            self.load_before = system.load_average()
        sampler, self.power_source = (auto_sampler(self.power_interval_ms) if self.power
                                      else (None, "disabled"))
        if sampler is not None:
            sampler.start()
        try:
            for _ in range(calls):
                timer = StepTimer(self.built.sync)
                restarted = self._call(timer).second_pass
                self.people_timed += restarted.shape[0]
                self.people_restarted += int(restarted.any(axis=1).sum())
                for step in self.samples:
                    self.samples[step].append(timer.ms.get(step, 0.0))
        finally:
            if sampler is not None:
                sampler.stop()
                self.power_samples += sampler.samples
                self.power_error = self.power_error or sampler.error
        self.load_after = system.load_average()

    def result(self) -> dict:
        """The timing part of a report row (see :mod:`.report`)."""
        total_s = sum(self.samples["end_to_end"]) / 1e3
        people = self.batch * len(self.samples["end_to_end"])
        power = summarize(self.power_samples, total_s, people, self.power_source) if self.power_samples else None
        present = {k: v for k, v in self.samples.items() if any(v)}
        return {"latency_ms": {k: latency_stats(v) for k, v in present.items()},
                "samples_ms": {k: [round(x, 4) for x in v] for k, v in present.items()},
                "throughput_people_per_s": people / total_s, "timed_seconds": total_s,
                "second_pass_share": self.people_restarted / self.people_timed if self.people_timed else 0.0,
                "load_average": {"before": self.load_before, "after": self.load_after},
                "power": power, "power_source": self.power_source if power is None else power["source"],
                "power_error": self.power_error}
