"""The Jetson output parsers on real output from Nano, TX2, Xavier NX, Orin Nano/NX, AGX Orin and Thor."""

from __future__ import annotations

from pathlib import Path

import pytest

from refinet_edge.benchmarks.tegra import (
    parse_jetson_clocks,
    parse_nv_tegra_release,
    parse_nvpmodel,
    parse_tegrastats_line,
)

FIXTURES = Path(__file__).parent / "fixtures" / "tegrastats"


def samples(name: str):
    lines = [line for line in (FIXTURES / name).read_text().splitlines() if line and not line.startswith("#")]
    parsed = [parse_tegrastats_line(line) for line in lines]
    assert lines and all(p is not None for p in parsed), f"{name}: a line did not parse"
    return parsed


def test_every_fixture_line_parses_with_ram_cpu_and_power() -> None:
    files = sorted(FIXTURES.glob("*.txt"))
    assert len(files) >= 7
    for path in files:
        for s in samples(path.name):
            assert s.ram_used_mb and s.ram_total_mb and s.ram_used_mb < s.ram_total_mb, path.name
            assert len(s.cpu_load_pct) >= 4 and len(s.cpu_freq_mhz) == len(s.cpu_load_pct), path.name
            assert s.rails_mw and s.total_power_mw()[0] is not None, path.name
            assert s.temps_c and all(-40 < t < 130 for t in s.temps_c.values()), path.name


def test_nano_pom_rails_without_units() -> None:
    (s,) = samples("nano_jp461.txt")
    assert s.rails_mw == {"POM_5V_IN": 1750, "POM_5V_GPU": 0, "POM_5V_CPU": 366}
    assert s.rails_avg_mw["POM_5V_IN"] == 1628
    assert s.total_power_mw() == (1750.0, "POM_5V_IN")
    assert s.gpu_load_pct == 0 and s.gpu_freq_mhz == (76,) and s.timestamp is None
    assert s.cpu_freq_mhz == (1224,) * 4 and s.swap_used_mb == 191


@pytest.mark.parametrize(("name", "total", "cpu_gpu_cv", "gpu_freq"), [
    ("xavier_nx_jp411.txt", 6140, 2706, (1109,)),
    ("xavier_nx_jp512.txt", 2763, 650, (114,)),
])
def test_xavier_nx_both_unit_styles(name: str, total: int, cpu_gpu_cv: int, gpu_freq: tuple) -> None:
    (s,) = samples(name)
    assert s.total_power_mw() == (float(total), "VDD_IN")
    assert s.rails_mw["VDD_CPU_GPU_CV"] == cpu_gpu_cv and s.gpu_freq_mhz == gpu_freq
    assert set(s.rails_mw) == {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}  # "MTS fg 1% bg 9%" is no rail


def test_xavier_nx_jp5_leading_date() -> None:
    (s,) = samples("xavier_nx_jp512.txt")
    assert s.timestamp == "07-09-2024 13:31:31" and s.temps_c["GPU"] == 45.5


def test_tx2_rails_and_gr3d_without_clock() -> None:
    first, second = samples("tx2_l4t32.txt")
    assert first.gpu_load_pct == 0 and first.gpu_freq_mhz == () and first.emc_load_pct == 0
    assert first.total_power_mw() == (3140.0, "VDD_IN")
    assert second.rails_mw["VDD_SYS_CPU"] == 1917 and second.temps_c["BCPU"] == 42.5


def test_orin_nano_nx_loaded() -> None:
    (s,) = samples("orin_nano_nx_8gb.txt")
    assert s.gpu_load_pct == 84 and s.gpu_freq_mhz == (713,) and s.emc_load_pct == 18
    assert s.rails_mw == {"VDD_IN": 17946, "VDD_CPU_GPU_CV": 8896, "VDD_SOC": 3923}
    assert s.cpu_load_pct[0] == 97 and s.temps_c["tj"] == 65.562
    assert "NVENC" not in s.rails_mw  # "NVENC 1%@115" is an engine, not a rail


def test_agx_orin_sums_rails_and_drops_gated_sensors() -> None:
    (s,) = samples("agx_orin_64gb.txt")
    assert "NC" not in s.rails_mw and "GPU" not in s.temps_c and "CV0" not in s.temps_c  # -256C = power-gated
    total, what = s.total_power_mw()
    assert total == 2340 + 390 + 4025 + 301 and what.startswith("sum of")
    assert s.gpu_freq_mhz == (0, 0) and len(s.cpu_load_pct) == 12


def test_thor_vin_three_values_and_missing_gr3d() -> None:
    first, second, third = samples("agx_thor.txt")
    assert first.total_power_mw() == (87426.0, "VIN") and first.rails_avg_mw["VIN"] == 43713
    assert first.gpu_load_pct is None and first.gpu_freq_mhz == ()
    assert second.rails_mw["VDD_GPU"] == 0 and len(second.cpu_load_pct) == 14 and second.swap_used_mb is None
    assert third.gpu_load_pct is None and third.gpu_freq_mhz == (314, 314, 314)


def test_off_cores_and_non_lines() -> None:
    (s,) = samples("orin_nano_offcores.txt")
    assert s.cpu_load_pct == (1, 0, 0, 0, None, None) and s.cpu_freq_mhz == (729,) * 4 + (None, None)
    assert s.gpu_load_pct == 1 and s.gpu_freq_mhz == ()
    assert s.rails_mw == {"VDD_IN": 3913, "VDD_CPU_GPU_CV": 598, "VDD_SOC": 1238}
    for junk in ("", "# comment", "tegrastats: command not found"):
        assert parse_tegrastats_line(junk) is None


@pytest.mark.parametrize(("name", "l4t", "board"), [
    ("agx_thor_r38.2.txt", "38.2.0", "generic"),
    ("nano_r32.7.6.txt", "32.7.6", "t210ref"),
    ("t186_r32.5.txt", "32.5", "t186ref"),
    ("orin_r36.4.4.txt", "36.4.4", "generic"),
])
def test_nv_tegra_release(name: str, l4t: str, board: str) -> None:
    info = parse_nv_tegra_release((FIXTURES / "nv_tegra_release" / name).read_text())
    assert info["l4t"] == l4t and info["board"] == board and info["eabi"] == "aarch64"
    assert info.get("kernel_variant") == ("oot" if name.startswith("orin") else None)
    assert parse_nv_tegra_release("not a release file") == {}


def test_jetson_clocks_locked_and_unlocked() -> None:
    locked = parse_jetson_clocks((FIXTURES / "jetson_clocks" / "tx1_l4t28_locked.txt").read_text())
    unlocked = parse_jetson_clocks((FIXTURES / "jetson_clocks" / "nano_l4t32_unlocked.txt").read_text())
    assert locked["locked"] is True and locked["clocks"]["GPU"]["MaxFreq"] == 998400000
    assert unlocked["locked"] is False and set(unlocked["clocks"]) == {"cpu0", "cpu1", "cpu2", "cpu3", "GPU", "EMC"}
    assert parse_jetson_clocks("Error: Run this script as a root user") == {}


def test_nvpmodel() -> None:
    assert parse_nvpmodel((FIXTURES / "nvpmodel" / "nano_maxn.txt").read_text()) == {"mode": "MAXN", "id": "0"}
    assert parse_nvpmodel((FIXTURES / "nvpmodel" / "nano_5w.txt").read_text()) == {"mode": "5W", "id": "1"}
    assert parse_nvpmodel("") == {}
