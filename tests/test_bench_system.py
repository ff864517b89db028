"""System capture: every probe optional, nothing imports torch or touches CUDA."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from refinet_edge.benchmarks import system


def test_capture_in_a_fresh_interpreter_imports_no_gpu_library() -> None:
    code = ("import json, sys; from refinet_edge.benchmarks import system; r = system.capture(); "
            "print(json.dumps({'r': r, 'mods': [m for m in ('torch', 'tensorrt', 'cuda', 'pycuda', 'onnxruntime') "
            "if m in sys.modules]}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    out = json.loads(done.stdout)
    assert out["mods"] == []
    record = out["r"]
    assert record["python"] == sys.version.split()[0]
    assert record["cpu"]["logical_cores"] >= 1 and record["cpu"]["usable_cores"] >= 1
    assert record["packages"]["numpy"] and "refinet-edge" in record["packages"]


def test_missing_commands_are_recorded_not_raised(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi, nvcc, nvpmodel here
    record = system.capture()
    assert record["gpus"] == [] and record["cuda"] is None
    assert record["probe_errors"]["nvidia-smi"] == "not installed"


def test_jetson_probe_reads_release_and_commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures" / "tegrastats"
    release = tmp_path / "nv_tegra_release"
    release.write_text((fixtures / "nv_tegra_release" / "nano_r32.7.6.txt").read_text())
    bindir = tmp_path / "bin"
    bindir.mkdir()
    commands = (("nvpmodel", "nvpmodel/nano_maxn.txt"), ("jetson_clocks", "jetson_clocks/tx1_l4t28_locked.txt"))
    for name, fixture in commands:
        script = bindir / name
        script.write_text(f"#!/bin/sh\nexec /bin/cat '{fixtures / fixture}'\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setattr(system, "NV_TEGRA_RELEASE", release)
    monkeypatch.setattr(system, "DEVICE_TREE_MODEL", tmp_path / "model-missing")
    errors: dict[str, str] = {}
    info = system.jetson_info(errors)
    assert info == {"nv_tegra_release": info["nv_tegra_release"], "model": None,
                    "power_mode": {"mode": "MAXN", "id": "0"}, "clocks_locked": True}
    assert info["nv_tegra_release"]["l4t"] == "32.7.6" and errors == {}


def test_failing_command_keeps_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "jetson_clocks"
    script.write_text("#!/bin/sh\necho 'Error: Run this script as a root user' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    errors: dict[str, str] = {}
    assert system.run_command(["jetson_clocks", "--show"], errors) is None
    assert errors["jetson_clocks --show"] == "exit 1: Error: Run this script as a root user"


def test_machine_line() -> None:
    record = {"cpu": {"model": "AMD EPYC", "usable_cores": 2}, "gpus": [{"name": "NVIDIA H100"}],
              "jetson": None}
    assert system.machine_line(record) == "AMD EPYC (2 cores), NVIDIA H100"
