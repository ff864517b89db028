"""Type-check the TensorRT modules against NVIDIA's API stubs (``tensorrt-stubs``), as CI does.

TensorRT itself cannot be installed here, so this is how its calls get
checked: mypy on ``export/trt_build.py`` and ``export/trt_runner.py`` with the
stubs on ``MYPYPATH``. The stub package ships no ``py.typed`` marker for its
``tensorrt`` folder and a few lines Python cannot parse (a parameter named
``in``, a required argument after a defaulted one), so a patched copy is used.
Skipped when ``tensorrt-stubs`` is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ["export/trt_build.py", "export/trt_runner.py", "export/engine_info.py", "export/trt_api.py",
           "export/trt_inspect.py"]


def _stub_dirs() -> tuple[Path, Path] | None:
    spec = importlib.util.find_spec("tensorrt_stubs")
    if spec is None or spec.origin is None:
        return None
    site = Path(spec.origin).parents[1]
    trt, bindings = site / "tensorrt", site / "tensorrt_bindings"
    if not (trt / "__init__.pyi").is_file() or not (bindings / "tensorrt.pyi").is_file():
        return None
    return trt, bindings


def patched_stubs(dest: Path) -> Path:
    """Copy the stubs to ``dest`` with the unparsable lines fixed; returns the MYPYPATH entry."""
    dirs = _stub_dirs()
    assert dirs is not None
    for src in dirs:
        shutil.copytree(src, dest / src.name)
    pyi = dest / "tensorrt_bindings" / "tensorrt.pyi"
    text = pyi.read_text(encoding="utf-8")
    text = re.sub(r"(\(self(?:: \w+)?, )in:", r"\1in_:", text)
    text = text.replace("channel_axis: int) -> IScaleLayer", "channel_axis: int = ...) -> IScaleLayer")
    pyi.write_text(text, encoding="utf-8")
    return dest


MYPY_INI = """[mypy]
python_version = 3.11
ignore_missing_imports = True
follow_imports = silent
[mypy-tensorrt.*,tensorrt_bindings.*]
ignore_errors = True
"""


def run_mypy(stub_path: Path, files: list[str]) -> subprocess.CompletedProcess:
    """mypy on ``files`` with the stubs at ``stub_path``; errors inside the stubs themselves are not ours."""
    config = stub_path / "mypy.ini"
    config.write_text(MYPY_INI, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(config), "--no-incremental", *files],
                          cwd=ROOT, env={"MYPYPATH": str(stub_path), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


needs_stubs = pytest.mark.skipif(_stub_dirs() is None, reason="tensorrt-stubs not installed")


@needs_stubs
def test_trt_modules_typecheck(tmp_path: Path) -> None:
    """Our TensorRT modules pass; a probe copy with a misspelt TensorRT method fails (so the check is real)."""
    probe = ROOT / "export" / "_typecheck_probe.py"
    source = (ROOT / "export" / "trt_build.py").read_text(encoding="utf-8")
    probe.write_text(source.replace("set_memory_pool_limit", "set_memory_pool_limt"), encoding="utf-8")
    try:
        result = run_mypy(patched_stubs(tmp_path / "stubs"), [*CHECKED, str(probe.relative_to(ROOT))])
    finally:
        probe.unlink()
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert errors, "mypy found nothing wrong in the probe: the stubs are not being used"
    assert all(line.startswith("export/_typecheck_probe.py") for line in errors), "\n".join(errors)
    assert any("set_memory_pool_limt" in line for line in errors)
