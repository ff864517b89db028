"""The CUDA layer without a GPU: choosing a layer, error codes become RefinetError, nothing at import time."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.kernels import get_layer, installed_layers, is_available, open_preprocessor

HAS_GPU = is_available()


def test_importing_the_kernels_touches_no_cuda_binding() -> None:
    code = ("import sys, refinet_edge.kernels, refinet_edge.kernels.ops\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cuda', 'pycuda', 'torch')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_unknown_layer_gets_a_did_you_mean() -> None:
    with pytest.raises(RefinetError, match=r"unknown CUDA layer 'cuda_python'.*did you mean 'cuda-python'"):
        get_layer("cuda_python")


@pytest.mark.skipif("pycuda" in installed_layers(), reason="pycuda is installed here")
def test_missing_pycuda_says_how_to_install_it() -> None:
    with pytest.raises(RefinetError, match="pycuda: not installed.*pip install pycuda"):
        get_layer("pycuda")


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present")
def test_without_a_gpu_every_layer_fails_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    assert is_available() is False
    with pytest.raises(RefinetError, match="no usable CUDA layer"):
        get_layer("auto")
    with caplog.at_level(logging.INFO, logger="refinet_edge.kernels"):
        assert open_preprocessor() is None
    assert "pre-processing on the CPU" in caplog.text
    with pytest.raises(RefinetError, match="no usable CUDA layer"):
        open_preprocessor(required=True)


@pytest.mark.skipif("cuda-python" not in installed_layers() or HAS_GPU, reason="needs cuda-python and no GPU")
def test_cuda_python_without_driver_names_the_driver() -> None:
    from refinet_edge.kernels._cuda_python import CudaPythonLayer

    with pytest.raises(RefinetError, match=r"NVIDIA driver \(libcuda\)|CUDA_ERROR_"):
        CudaPythonLayer(0)


@pytest.mark.skipif("cuda-python" not in installed_layers(), reason="cuda-python is not installed")
def test_check_raises_with_the_cuda_error_name() -> None:
    from cuda.bindings import driver

    from refinet_edge.kernels._cuda_python import check

    assert check((driver.CUresult.CUDA_SUCCESS, 7, "x"), "cuFoo") == (7, "x")
    with pytest.raises(RefinetError, match=r"cuMemAlloc\(64 bytes\) failed: CUDA_ERROR_OUT_OF_MEMORY"):
        check((driver.CUresult.CUDA_ERROR_OUT_OF_MEMORY, None), "cuMemAlloc(64 bytes)")
    with pytest.raises(RefinetError, match="cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE"):
        check((driver.CUresult.CUDA_ERROR_INVALID_VALUE,), "cuLaunchKernel")
