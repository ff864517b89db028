"""Power samplers and their summary: a real subprocess standing in for tegrastats, replaying real Orin lines."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from refinet_edge.benchmarks.power import (
    PowerSample,
    TegrastatsSampler,
    auto_sampler,
    summarize,
    total_mw,
)

FIXTURES = Path(__file__).parent / "fixtures" / "tegrastats"


@pytest.fixture
def fake_tegrastats(tmp_path: Path) -> Path:
    """An executable named tegrastats that prints real Xavier NX / Orin lines every --interval ms until killed."""
    lines = [line for name in ("xavier_nx_jp512.txt", "orin_nano_nx_8gb.txt")
             for line in (FIXTURES / name).read_text().splitlines() if line and not line.startswith("#")]
    script = tmp_path / "tegrastats"
    script.write_text(f"#!{sys.executable}\nimport sys, time\nlines = {lines!r}\n"
                      "ms = int(sys.argv[sys.argv.index('--interval') + 1])\ni = 0\n"
                      "while True:\n    print(lines[i % len(lines)], flush=True)\n    i += 1\n"
                      "    time.sleep(ms / 1000)\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_tegrastats_sampler_reads_a_subprocess(fake_tegrastats: Path) -> None:
    sampler = TegrastatsSampler(interval_ms=20, command=str(fake_tegrastats))
    with sampler:
        deadline = time.monotonic() + 10
        while len(sampler.samples) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert sampler.error is None and len(sampler.samples) >= 4
    assert sampler._proc is None  # the subprocess is gone after stop
    first, second = sampler.samples[:2]
    assert first.rails_mw == {"VDD_IN": 2763, "VDD_CPU_GPU_CV": 650, "VDD_SOC": 650}
    assert second.rails_mw["VDD_IN"] == 17946 and second.temps_c["tj"] == 65.562
    assert all(b.t_s >= a.t_s for a, b in zip(sampler.samples, sampler.samples[1:], strict=False))


def test_auto_sampler_finds_tegrastats_on_path(fake_tegrastats: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_tegrastats.parent) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setattr("refinet_edge.benchmarks.power.JtopSampler.is_available", staticmethod(lambda: False))
    sampler, why = auto_sampler(50)
    assert isinstance(sampler, TegrastatsSampler) and why == "tegrastats"


def test_no_source_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("refinet_edge.benchmarks.power.JtopSampler.is_available", staticmethod(lambda: False))
    monkeypatch.setattr("refinet_edge.benchmarks.power.NvmlSampler.is_available", staticmethod(lambda: False))
    sampler, why = auto_sampler()
    assert sampler is None and "no power source" in why


def test_total_prefers_the_board_input_rail() -> None:
    assert total_mw({"VDD_GPU": 5.0, "VIN_SYS_5V0": 6.0, "VIN": 30.0}) == (30.0, "VIN")
    assert total_mw({"VDD_GPU_SOC": 2340.0, "VDD_CPU_CV": 390.0}) == (2730.0, "sum of rails")


def test_summary_means_and_energy_per_frame() -> None:
    samples = [PowerSample(10.0, {"VDD_IN": 5000.0, "VDD_SOC": 1000.0}), PowerSample(10.1, {"VDD_IN": 7000.0}),
               PowerSample(10.2, {})]  # an empty sample (no rails parsed) is ignored
    s = summarize(samples, seconds=2.0, frames=40, source="tegrastats")
    assert s is not None and s["samples"] == 2 and s["total_is"] == "VDD_IN"
    assert s["mean_total_mw"] == pytest.approx(6000.0)
    assert s["mean_mw"] == {"VDD_IN": pytest.approx(6000.0), "VDD_SOC": pytest.approx(500.0)}
    assert s["energy_per_frame_mj"] == pytest.approx(6000.0 * 2.0 / 40)  # 6 W for 2 s over 40 frames = 300 mJ
    assert s["series"]["t_s"] == [0.0, pytest.approx(0.1)]
    assert summarize([], 1.0, 1, "x") is None


def test_nvml_sampler_reads_every_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The NVML path without a GPU: a stand-in pynvml module with NVML's calls and units (mW, deg C)."""
    import types

    calls: list[str] = []
    fake = types.SimpleNamespace(
        NVML_TEMPERATURE_GPU=0,
        nvmlInit=lambda: calls.append("init"),
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetPowerUsage=lambda h: 71000 + 1000 * h,
        nvmlDeviceGetTemperature=lambda h, kind: 40 + h,
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    from refinet_edge.benchmarks.power import NvmlSampler

    assert NvmlSampler.is_available()
    sampler = NvmlSampler(interval_ms=10)
    with sampler:
        deadline = time.monotonic() + 10
        while len(sampler.samples) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert sampler.error is None and calls[-1] == "shutdown"
    assert sampler.samples[0].rails_mw == {"gpu0": 71000.0, "gpu1": 72000.0}
    assert sampler.samples[0].temps_c == {"gpu0": 40.0, "gpu1": 41.0}
    summary = summarize(sampler.samples, seconds=1.0, frames=10, source="nvml")
    assert summary["total_is"] == "sum of rails" and summary["mean_total_mw"] == pytest.approx(143000.0)
