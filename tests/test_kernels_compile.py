"""The ``.cu`` kernels compile: nvcc to PTX for Jetson Orin (sm_87) and Hopper (sm_90) with warnings as
errors, and NVRTC (the run-time path) to a cached cubin. No GPU needed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.kernels import compiler
from refinet_edge.kernels.compiler import HEADER, KERNEL_SOURCES, OPTIONS, kernel_image, nvrtc_compile, source_dir

nvcc = shutil.which("nvcc")


def _nvrtc_loads() -> bool:
    return compiler.compiler_available() == "nvrtc"


@pytest.mark.skipif(nvcc is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("arch", ["sm_87", "sm_90"])
def test_every_kernel_compiles_to_ptx_without_warnings(arch: str, tmp_path) -> None:
    sources = [str(source_dir() / name) for name in KERNEL_SOURCES]
    command = [nvcc, "--ptx", f"-arch=compute_{arch[3:]}", *OPTIONS, "-Werror", "all-warnings",
               "--output-directory", str(tmp_path), *sources]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in KERNEL_SOURCES:
        ptx = (tmp_path / name.replace(".cu", ".ptx")).read_text()
        assert f".target {arch}" in ptx
        assert "fma.rn" not in ptx  # --fmad=false: no contraction (points.cu has fma.rn.f64 without it)


@pytest.mark.skipif(not _nvrtc_loads(), reason="cuda-python NVRTC is not installed")
def test_nvrtc_compiles_once_then_loads_from_the_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REFINET_EDGE_KERNEL_CACHE", str(tmp_path))
    image = kernel_image("lifting", "sm_87")
    assert image[:4] == b"\x7fELF"  # a cubin
    (cached,) = (tmp_path / "sm_87").glob("lifting-*.cubin")
    cached.write_bytes(b"\x7fELF sentinel")  # the second call must read the file, not compile
    assert kernel_image("lifting", "sm_87") == b"\x7fELF sentinel"
    assert kernel_image("lifting", "sm_87", use_cache=False) == image


@pytest.mark.skipif(not _nvrtc_loads(), reason="cuda-python NVRTC is not installed")
def test_unknown_newer_arch_gets_ptx_for_the_driver(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REFINET_EDGE_KERNEL_CACHE", str(tmp_path))
    ptx = kernel_image("patches", "sm_999")
    assert b".entry patches_metric_u16" in ptx and b".target sm_" in ptx
    assert list((tmp_path / "sm_999").glob("patches-*.ptx"))


@pytest.mark.skipif(not _nvrtc_loads(), reason="cuda-python NVRTC is not installed")
def test_compile_errors_carry_the_compiler_log() -> None:
    broken = '#include "refinet_common.cuh"\nextern "C" __global__ void k(float* x) { x[0] = undefined_name; }\n'
    with pytest.raises(RefinetError, match=r"NVRTC_ERROR_COMPILATION(.|\n)*undefined_name"):
        nvrtc_compile(broken, "broken.cu", "sm_87", {HEADER: compiler.source_text(HEADER)})


def test_bad_arch_and_missing_compiler_are_user_errors(monkeypatch) -> None:
    with pytest.raises(RefinetError, match="look like 'sm_87'"):
        compiler.arch_number("ampere")
    monkeypatch.setattr(compiler, "compiler_available", lambda: None)
    with pytest.raises(RefinetError, match="no CUDA compiler"):
        kernel_image("points", "sm_87")


def test_cache_location_follows_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("REFINET_EDGE_KERNEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compiler.cache_root() == tmp_path / "refinet-edge" / "kernels"
    monkeypatch.setenv("REFINET_EDGE_KERNEL_CACHE", str(tmp_path / "k"))
    assert compiler.cache_root() == tmp_path / "k"
