"""What machine a benchmark ran on: CPU, GPU, driver, CUDA, library versions, OS, and Jetson settings.

:func:`capture` runs every probe independently; a probe that fails (no
nvidia-smi, no Jetson, a command needing root) leaves its field out or sets it
to None and, for commands, records why under ``probe_errors``. Nothing here
touches CUDA: library versions come from package metadata
(:func:`importlib.metadata.version`), never from importing torch or tensorrt,
and the GPU is described by ``nvidia-smi``, not by a CUDA context.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .tegra import parse_jetson_clocks, parse_nv_tegra_release, parse_nvpmodel

PACKAGES = ("refinet-edge", "numpy", "torch", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt", "cuda-python",
            "pycuda", "nvidia-ml-py", "jetson-stats", "tensorrt-rtx",
            "nvidia-pytriton", "tritonclient")
NV_TEGRA_RELEASE = Path("/etc/nv_tegra_release")
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
COMMAND_TIMEOUT_S = 10.0


def run_command(args: list[str], errors: dict[str, str]) -> str | None:
    """stdout of ``args``, or None (and the reason in ``errors``) when it is missing, fails or times out."""
    name = " ".join(args)
    if shutil.which(args[0]) is None:
        errors[name] = "not installed"
        return None
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        errors[name] = f"{type(exc).__name__}: {exc}"
        return None
    if done.returncode != 0:
        errors[name] = f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[:200]}"
        return None
    return done.stdout


def cpu_info() -> dict:
    """CPU model, logical cores (and those this process may use), architecture."""
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(("model name", "Model", "Hardware")) and ":" in line:
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model or platform.processor() or None, "logical_cores": os.cpu_count(),
            "usable_cores": usable, "machine": platform.machine()}


def memory_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (a shared machine shows here), None where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def package_versions() -> dict[str, str | None]:
    """Installed version of each package in :data:`PACKAGES` (None = not installed), from metadata only."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def gpu_info(errors: dict[str, str]) -> list[dict]:
    """Every NVIDIA GPU nvidia-smi lists: name, driver, memory, power limit; [] without one."""
    fields = "name,driver_version,memory.total,power.limit,pci.bus_id"
    text = run_command(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"], errors)
    gpus = []
    for line in (text or "").strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 5:
            gpus.append({"name": parts[0], "driver": parts[1], "memory_mb": parts[2], "power_limit_w": parts[3],
                         "pci_bus_id": parts[4]})
    return gpus


def cuda_version(errors: dict[str, str]) -> str | None:
    """The CUDA version the driver supports (nvidia-smi's header), else the toolkit's nvcc."""
    text = run_command(["nvidia-smi"], errors)
    if text and "CUDA Version:" in text:
        return text.split("CUDA Version:", 1)[1].split()[0].strip("|")
    text = run_command(["nvcc", "--version"], errors)
    if text and "release" in text:
        return text.split("release", 1)[1].split(",")[0].strip()
    return None


def jetson_info(errors: dict[str, str]) -> dict | None:
    """L4T release, model, power mode and clock lock on a Jetson; None elsewhere."""
    if not NV_TEGRA_RELEASE.is_file():
        return None
    info: dict = {"nv_tegra_release": parse_nv_tegra_release(NV_TEGRA_RELEASE.read_text(errors="replace"))}
    try:
        info["model"] = DEVICE_TREE_MODEL.read_text(errors="replace").strip("\x00\n ")
    except OSError:
        info["model"] = None
    mode = run_command(["nvpmodel", "-q"], errors)
    info["power_mode"] = parse_nvpmodel(mode) if mode else None
    clocks = run_command(["jetson_clocks", "--show"], errors)
    parsed = parse_jetson_clocks(clocks) if clocks else {}
    info["clocks_locked"] = parsed.get("locked") if parsed else None  # None: unknown (often needs root)
    return info


def capture() -> dict:
    """The whole system record for a report (JSON-ready)."""
    errors: dict[str, str] = {}
    record = {
        "hostname": platform.node(),
        "os": {"system": platform.system(), "release": platform.release(), "platform": platform.platform()},
        "python": sys.version.split()[0],
        "cpu": cpu_info(),
        "memory_mb": memory_mb(),
        "load_average": load_average(),
        "packages": package_versions(),
        "gpus": gpu_info(errors),
        "cuda": cuda_version(errors),
        "jetson": jetson_info(errors),
    }
    record["probe_errors"] = errors
    return record


def machine_line(record: dict) -> str:
    """One line naming the machine, for titles: CPU (cores), GPUs, Jetson model and power mode."""
    cpu = record.get("cpu", {})
    parts = [f"{cpu.get('model') or cpu.get('machine')} ({cpu.get('usable_cores')} cores)"]
    parts += [g["name"] for g in record.get("gpus", [])]
    jetson = record.get("jetson")
    if jetson:
        mode = (jetson.get("power_mode") or {}).get("mode")
        release = jetson["nv_tegra_release"].get("l4t")
        parts.append(f"{jetson.get('model')} L4T {release}" + (f" {mode}" if mode else ""))
    return ", ".join(parts)
