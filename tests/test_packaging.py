"""The package installs under one namespace and imports with base dependencies only."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_top_level_folders_install_under_the_namespace():
    import refinet_edge.benchmarks
    import refinet_edge.calibration
    import refinet_edge.export

    assert Path(refinet_edge.export.__file__).parent.name == "export"
    assert Path(refinet_edge.benchmarks.__file__).parent.name == "benchmarks"
    assert refinet_edge.calibration.__doc__


def test_import_needs_no_optional_backend():
    code = (
        "import sys, refinet_edge, refinet_edge.cli, refinet_edge.camera, refinet_edge.data.itop, "
        "refinet_edge.evaluate\n"
        "heavy = {'torch', 'tensorrt', 'pycuda', 'pyrealsense2', 'mediapipe', 'onnxruntime', 'cuda', 'numba'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def source_files(repo: Path) -> list[str]:
    """The checkout's files a wheel is built from: git's tracked and not-ignored ones (never a .venv, data or
    runs), or, outside a git checkout, everything but those folders."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=repo,
                            capture_output=True, check=False)
    if listed.returncode == 0 and listed.stdout:
        names = [name for name in listed.stdout.decode().split("\0") if name and (repo / name).is_file()]
        envs = {n.split("/")[0] for n in names if n.endswith("/pyvenv.cfg")}  # a venv under any name
        return [name for name in names if name.split("/")[0] not in envs]
    skip = {".git", ".venv", "venv", "runs", "data", "build", "__pycache__"}
    return [str(p.relative_to(repo)) for p in repo.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(repo).parts) and ".egg-info" not in str(p)]


def test_source_copy_leaves_out_virtual_environments(tmp_path):
    names = source_files(REPO)
    assert "pyproject.toml" in names and "refinet_edge/weights/patch.safetensors" in names
    assert not [n for n in names if n.split("/")[0] in (".venv", "venv", "runs", "data", ".git")]


def test_wheel_has_no_generic_top_level_names(tmp_path):
    src = tmp_path / "src"
    for name in source_files(REPO):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(src)],
        check=True, capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("refinet_edge-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"refinet_edge", wheel.name.split("-py3")[0] + ".dist-info"}, top
    for module in ("refinet_edge/export/__init__.py", "refinet_edge/calibration/__init__.py",
                   "refinet_edge/benchmarks/__init__.py", "refinet_edge/cli.py",
                   "refinet_edge/weights/patch.safetensors", "refinet_edge/weights/skeleton.safetensors",
                   "refinet_edge/weights/pointcloud.safetensors", "refinet_edge/weights/MODEL_CARD.md",
                   "refinet_edge/weights/top/skeleton.safetensors", "refinet_edge/weights/top/pointcloud.safetensors",
                   "refinet_edge/kernels/points.cu", "refinet_edge/kernels/refinet_common.cuh"):
        assert module in names
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "refinet-edge = refinet_edge.cli:main" in entry
