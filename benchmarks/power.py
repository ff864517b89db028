"""Power during a benchmark: samplers for Jetson (jtop, tegrastats) and desktop GPUs (NVML), and their summary.

Every sampler has one lifecycle (``with sampler:`` or ``start()``/``stop()``)
and fills ``samples``: :class:`PowerSample` with a monotonic time in seconds
and power per rail in mW. Sources, in the order :func:`auto_sampler` tries them:

============  =======================================  =========================
source        how                                      needs
============  =======================================  =========================
jtop          ``jtop.jtop().power`` polled              ``pip install jetson-stats`` and its service
tegrastats    ``tegrastats --interval N`` subprocess,   a Jetson (JetPack's binary)
              each line parsed (:mod:`.tegra`)
nvml          ``nvmlDeviceGetPowerUsage`` per GPU       ``pip install nvidia-ml-py``, an NVIDIA driver
============  =======================================  =========================

Energy per frame (:func:`summarize`) is the mean total power times the timed
seconds divided by the frames: whole-module (Jetson) or whole-GPU (NVML) power,
idle power included, not the increment the workload adds.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field

from .tegra import TOTAL_RAILS, parse_tegrastats_line

DEFAULT_INTERVAL_MS = 100


@dataclass(frozen=True)
class PowerSample:
    """Power per rail (mW) at ``t_s`` (``time.perf_counter`` seconds); temperatures in deg C where known."""

    t_s: float
    rails_mw: dict[str, float]
    temps_c: dict[str, float] = field(default_factory=dict)


class PowerSampler:
    """Base: a background thread that appends :class:`PowerSample` until :meth:`stop`."""

    source = "?"

    def __init__(self, interval_ms: int = DEFAULT_INTERVAL_MS) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, got {interval_ms}")
        self.interval_ms = interval_ms
        self.samples: list[PowerSample] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._guarded, name=f"power-{self.source}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def __enter__(self) -> PowerSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - a sampler failing must not kill the benchmark; the report says why
            self.error = f"{type(exc).__name__}: {exc}"

    def _run(self) -> None:
        while not self._stop.is_set():
            rails, temps = self._read()
            self.samples.append(PowerSample(time.perf_counter(), rails, temps))
            self._stop.wait(self.interval_ms / 1000)

    def _read(self) -> tuple[dict[str, float], dict[str, float]]:
        raise NotImplementedError


class TegrastatsSampler(PowerSampler):
    """Runs ``tegrastats --interval N`` and parses each line as it arrives."""

    source = "tegrastats"

    def __init__(self, interval_ms: int = DEFAULT_INTERVAL_MS, command: str = "tegrastats") -> None:
        super().__init__(interval_ms)
        self.command = command
        self._proc: subprocess.Popen | None = None

    @staticmethod
    def is_available(command: str = "tegrastats") -> bool:
        return shutil.which(command) is not None

    def start(self) -> None:
        self._proc = subprocess.Popen([self.command, "--interval", str(self.interval_ms)], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True, bufsize=1)
        super().start()

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        super().stop()
        self._proc = None

    def _run(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            sample = parse_tegrastats_line(line)
            if sample is not None:
                self.samples.append(PowerSample(time.perf_counter(), dict(sample.rails_mw), dict(sample.temps_c)))
            if self._stop.is_set():
                break


class JtopSampler(PowerSampler):
    """jetson-stats: ``jtop().power`` = ``{"rail": {name: {"power": mW, ...}}, "tot": {"power": mW}}``."""

    source = "jtop"

    @staticmethod
    def is_available() -> bool:
        import importlib.util

        return importlib.util.find_spec("jtop") is not None

    def _run(self) -> None:
        from jtop import jtop

        with jtop(interval=self.interval_ms / 1000) as jetson:
            while not self._stop.is_set() and jetson.ok():
                power = jetson.power
                rails = {name: float(r["power"]) for name, r in power.get("rail", {}).items() if "power" in r}
                if "power" in power.get("tot", {}) and not any(n in rails for n in TOTAL_RAILS):
                    rails["jtop_total"] = float(power["tot"]["power"])
                temps = {k: float(v["temp"]) for k, v in jetson.temperature.items()
                         if isinstance(v, dict) and v.get("online", True) and "temp" in v}
                self.samples.append(PowerSample(time.perf_counter(), rails, temps))


class NvmlSampler(PowerSampler):
    """NVIDIA desktop/server GPUs through NVML (``nvidia-ml-py``): board power of every GPU, rail ``gpuN``."""

    source = "nvml"

    @staticmethod
    def is_available() -> bool:
        try:
            import pynvml

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            pynvml.nvmlShutdown()
            return count > 0
        except Exception:  # noqa: BLE001 - no library, no driver or no GPU all mean "not available"
            return False

    def _run(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        try:
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            while not self._stop.is_set():
                rails = {f"gpu{i}": float(pynvml.nvmlDeviceGetPowerUsage(h)) for i, h in enumerate(handles)}
                temps = {f"gpu{i}": float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))
                         for i, h in enumerate(handles)}
                self.samples.append(PowerSample(time.perf_counter(), rails, temps))
                self._stop.wait(self.interval_ms / 1000)
        finally:
            pynvml.nvmlShutdown()


def auto_sampler(interval_ms: int = DEFAULT_INTERVAL_MS) -> tuple[PowerSampler | None, str]:
    """The first power source that works here, and a line saying which (or why none)."""
    if JtopSampler.is_available():
        return JtopSampler(interval_ms), "jtop (jetson-stats)"
    if TegrastatsSampler.is_available():
        return TegrastatsSampler(interval_ms), "tegrastats"
    if NvmlSampler.is_available():
        return NvmlSampler(interval_ms), "NVML"
    return None, "no power source: not a Jetson (no jtop, no tegrastats) and no NVML GPU (pip install nvidia-ml-py)"


def total_mw(rails: dict[str, float]) -> tuple[float, str]:
    """Total power of one sample: the board-input rail when there is one, else the sum (see :mod:`.tegra`)."""
    for name in (*TOTAL_RAILS, "jtop_total"):
        if name in rails:
            return rails[name], name
    return float(sum(rails.values())), "sum of rails"


def summarize(samples: list[PowerSample], seconds: float, frames: int, source: str) -> dict | None:
    """Mean power per rail and in total (mW), energy per frame (mJ) and the series for plots; None without samples."""
    samples = [s for s in samples if s.rails_mw]
    if not samples or frames <= 0 or seconds <= 0:
        return None
    names = sorted({n for s in samples for n in s.rails_mw})
    per_rail = {n: sum(s.rails_mw.get(n, 0.0) for s in samples) / len(samples) for n in names}
    totals = [total_mw(s.rails_mw) for s in samples]
    mean_total = sum(t for t, _ in totals) / len(totals)
    t0 = samples[0].t_s
    total_is = "GPU board power (CPU not measured)" if source == "NVML" else totals[0][1]
    return {"source": source, "samples": len(samples), "seconds": seconds, "total_is": total_is,
            "mean_mw": per_rail, "mean_total_mw": mean_total,
            "energy_per_frame_mj": mean_total * seconds / frames,
            "series": {"t_s": [round(s.t_s - t0, 4) for s in samples], "total_mw": [t for t, _ in totals]}}
