"""Parsers for what a Jetson prints: ``tegrastats`` lines, ``/etc/nv_tegra_release``, ``jetson_clocks --show``.

Pure text in, plain data out: nothing here runs a command or needs a Jetson, so
the parsers are tested on real output from several generations
(``tests/fixtures/tegrastats``, sources in its README). The formats differ:

==================  =========================================================
generation          tegrastats power fields (``name cur/avg`` per rail)
==================  =========================================================
Nano, TX1           ``POM_5V_IN 1750/1628 POM_5V_GPU 0/0 POM_5V_CPU 366/406`` (mW, no unit)
TX2                 ``VDD_SYS_GPU 153/158 ... VDD_IN 3140/3208`` (no unit)
Xavier NX, JP 4     ``VDD_IN 6140/5510 VDD_CPU_GPU_CV 2706/2119 VDD_SOC 1074/1051``
Xavier NX, JP 5+    ``VDD_IN 2763mW/2846mW ...`` (unit, leading date)
Orin Nano / NX      ``VDD_IN 17946mW/15710mW VDD_CPU_GPU_CV ... VDD_SOC ...``
AGX Orin            ``VDD_GPU_SOC ... VDD_CPU_CV ... VIN_SYS_5V0 ... NC 0mW/0mW`` (no VDD_IN)
Thor, JP 7          ``VDD_GPU ... VDD_CPU_SOC_MSS ... VIN_SYS_5V0 ... VIN 87426mW/43713mW/87426mW``
==================  =========================================================

Units: power mW, temperature deg C, memory MB, clocks MHz. tegrastats' second
number per rail is its own running average since it started; we keep both but
average the instantaneous values ourselves (:mod:`.power`). Temperatures of
-256 C mean a power-gated sensor and are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Rails that measure the whole module/board input, most inclusive first. Without
# one of them (AGX Orin) the total is the sum of the rails, and the report says so.
TOTAL_RAILS = ("VIN", "VDD_IN", "POM_5V_IN")
IGNORED_RAILS = ("NC",)  # "not connected" channels of the INA3221 (AGX Orin)
INVALID_TEMP_C = -256.0

_DATE = re.compile(r"^(\d\d-\d\d-\d{4} \d\d:\d\d:\d\d)\s")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)MB")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_GR3D = re.compile(r"\bGR3D_FREQ (?:(\d+)%)?(?:@\[?([\d,]+)\]?)?")
_EMC = re.compile(r"\bEMC_FREQ (?:(\d+)%)?(?:@(\d+))?")
_TEMP = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C(?=\s|$)")
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (-?\d+)(?:mW)?/(-?\d+)(?:mW)?(?:/(-?\d+)(?:mW)?)?(?=\s|$)")


@dataclass(frozen=True)
class TegraSample:
    """One tegrastats line. Missing fields are None (or empty); see the module docstring for units."""

    timestamp: str | None
    ram_used_mb: int | None
    ram_total_mb: int | None
    swap_used_mb: int | None
    swap_total_mb: int | None
    cpu_load_pct: tuple[int | None, ...]  # per core; None = core off
    cpu_freq_mhz: tuple[int | None, ...]
    gpu_load_pct: int | None  # GR3D_FREQ %, absent on Thor
    gpu_freq_mhz: tuple[int, ...]  # one per GPC
    emc_load_pct: int | None
    temps_c: dict[str, float] = field(default_factory=dict)
    rails_mw: dict[str, int] = field(default_factory=dict)  # instantaneous
    rails_avg_mw: dict[str, int] = field(default_factory=dict)  # tegrastats' running average

    def total_power_mw(self) -> tuple[float | None, str]:
        """Whole-module power and what it is: the first of :data:`TOTAL_RAILS` present, else the sum of rails."""
        for name in TOTAL_RAILS:
            if name in self.rails_mw:
                return float(self.rails_mw[name]), name
        if self.rails_mw:
            return float(sum(self.rails_mw.values())), "sum of " + "+".join(self.rails_mw)
        return None, "none"


def _ints(match: re.Match | None) -> tuple[int | None, int | None]:
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


def _cpus(text: str) -> tuple[tuple[int | None, ...], tuple[int | None, ...]]:
    loads: list[int | None] = []
    freqs: list[int | None] = []
    for entry in text.split(","):
        entry = entry.strip()
        load, _, freq = entry.partition("@")
        loads.append(int(load.rstrip("%")) if load.rstrip("%").isdigit() else None)
        freqs.append(int(freq) if freq.isdigit() else None)
    return tuple(loads), tuple(freqs)


def parse_tegrastats_line(line: str) -> TegraSample | None:
    """Parse one line of ``tegrastats`` output; None for a line that is not one (empty, a comment, an error)."""
    line = line.strip()
    if not line or line.startswith("#") or "RAM " not in line:
        return None
    date = _DATE.match(line)
    ram_used, ram_total = _ints(_RAM.search(line))
    swap_used, swap_total = _ints(_SWAP.search(line))
    cpu = _CPU.search(line)
    cpu_load, cpu_freq = _cpus(cpu.group(1)) if cpu else ((), ())
    gr3d = _GR3D.search(line)
    gpu_load = int(gr3d.group(1)) if gr3d and gr3d.group(1) else None
    gpu_freq = tuple(int(f) for f in gr3d.group(2).split(",") if f) if gr3d and gr3d.group(2) else ()
    emc = _EMC.search(line)
    temps = {name: float(v) for name, v in _TEMP.findall(line) if float(v) != INVALID_TEMP_C}
    rails, rails_avg = {}, {}
    for name, cur, avg, _peak in _RAIL.findall(line):
        if name in IGNORED_RAILS or name in ("RAM", "SWAP"):
            continue
        rails[name], rails_avg[name] = int(cur), int(avg)
    return TegraSample(date.group(1) if date else None, ram_used, ram_total, swap_used, swap_total, cpu_load,
                       cpu_freq, gpu_load, gpu_freq, int(emc.group(1)) if emc and emc.group(1) else None,
                       temps, rails, rails_avg)


def parse_nv_tegra_release(text: str) -> dict[str, str]:
    """``/etc/nv_tegra_release`` -> ``{"l4t": "36.4.4", "release": "R36", "revision": "4.4", "board": ...}``."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    head = re.match(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", first)
    if not head:
        return {}
    info = {"release": f"R{head.group(1)}", "revision": head.group(2)}
    info["l4t"] = f"{head.group(1)}.{head.group(2)}"
    for key, value in re.findall(r"(GCID|BOARD|EABI|DATE):\s*([^,]+)", first):
        info[key.lower()] = value.strip()
    variant = re.search(r"^#\s*KERNEL_VARIANT:\s*(\S+)", text, re.MULTILINE)
    if variant:
        info["kernel_variant"] = variant.group(1)
    return info


def parse_nvpmodel(text: str) -> dict[str, str]:
    """``nvpmodel -q`` (``NV Power Mode: MAXN`` then the mode id) -> ``{"mode": "MAXN", "id": "0"}``."""
    mode = re.search(r"NV Power Mode:\s*(.+)", text)
    if not mode:
        return {}
    info = {"mode": mode.group(1).strip()}
    after = text[mode.end():].split()
    if after and after[0].isdigit():
        info["id"] = after[0]
    return info


def parse_jetson_clocks(text: str) -> dict:
    """``jetson_clocks --show`` -> per clock min/max/current and ``locked`` (every CPU core and the GPU min == max)."""
    clocks = {}
    for line in text.splitlines():
        freqs = dict(re.findall(r"(MinFreq|MaxFreq|CurrentFreq)=(\d+)", line))
        if "MinFreq" in freqs and "MaxFreq" in freqs:
            name = line.split()[0].rstrip(":")
            clocks[name] = {k: int(v) for k, v in freqs.items()}
    governed = {k: v for k, v in clocks.items() if k.startswith("cpu") or k == "GPU"}
    locked = bool(governed) and all(v["MinFreq"] == v["MaxFreq"] for v in governed.values())
    return {"clocks": clocks, "locked": locked} if clocks else {}
