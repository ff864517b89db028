"""The default CUDA layer: NVIDIA's ``cuda.bindings`` driver API.

Every driver call returns ``(CUresult, *values)``; :func:`check` turns any
result other than ``CUDA_SUCCESS`` into a :class:`RefinetError` naming the call
and the CUDA error. Kernels run in the device's primary context, the one the
CUDA runtime (TensorRT, torch) uses, so device pointers are shared with them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import RefinetError
from .layer import CudaLayer


def check(result: tuple, what: str) -> tuple:
    """Raise unless ``result[0]`` is ``CUDA_SUCCESS``; return the call's other values."""
    from cuda.bindings import driver

    err = result[0]
    if err != driver.CUresult.CUDA_SUCCESS:
        raise RefinetError(f"{what} failed: {error_name(err)}{_error_text(err)}")
    return result[1:]


def error_name(err: object) -> str:
    """``CUDA_ERROR_...`` for a driver result code (works without a driver)."""
    from cuda.bindings import driver

    return result_name(driver.CUresult, err)


def result_name(codes: type, err: object) -> str:
    """The name of result code ``err`` in the enum ``codes`` (``CUresult``, ``nvrtcResult``), else the enum's
    name and the number."""
    try:
        return codes(err).name
    except ValueError:
        return f"{codes.__name__} {int(err)}"  # type: ignore[call-overload]


def _error_text(err: object) -> str:
    from cuda.bindings import driver

    try:
        status, text = driver.cuGetErrorString(err)
    except Exception:  # noqa: BLE001 - the description is optional; no driver gives none
        return ""
    return f" ({text.decode()})" if status == driver.CUresult.CUDA_SUCCESS and text else ""


class CudaPythonLayer(CudaLayer):
    """Device ``device`` through ``cuda.bindings.driver``."""

    name = "cuda-python"

    def __init__(self, device: int = 0) -> None:
        from cuda.bindings import driver

        self._driver = driver
        try:
            check(driver.cuInit(0), "cuInit")
        except RuntimeError as err:  # cuda.pathfinder: libcuda.so not found
            raise RefinetError(f"cuda-python could not load the NVIDIA driver (libcuda): {err}") from err
        (count,) = check(driver.cuDeviceGetCount(), "cuDeviceGetCount")
        if not 0 <= device < count:
            raise RefinetError(f"CUDA device {device} does not exist; this machine has {count}")
        (self._device,) = check(driver.cuDeviceGet(device), "cuDeviceGet")
        (self._context,) = check(driver.cuDevicePrimaryCtxRetain(self._device), "cuDevicePrimaryCtxRetain")
        check(driver.cuCtxSetCurrent(self._context), "cuCtxSetCurrent")
        attr = driver.CUdevice_attribute
        (major,) = check(driver.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                                     self._device), "cuDeviceGetAttribute")
        (minor,) = check(driver.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                                     self._device), "cuDeviceGetAttribute")
        (name,) = check(driver.cuDeviceGetName(256, self._device), "cuDeviceGetName")
        self._arch = f"sm_{major}{minor}"
        self._name = name.split(b"\0", 1)[0].decode()
        self._modules: list[object] = []

    def _current(self) -> None:
        check(self._driver.cuCtxSetCurrent(self._context), "cuCtxSetCurrent")

    def alloc(self, nbytes: int) -> int:
        self._current()
        (ptr,) = check(self._driver.cuMemAlloc(max(int(nbytes), 1)), f"cuMemAlloc({nbytes} bytes)")
        return int(ptr)

    def free(self, ptr: int) -> None:
        check(self._driver.cuMemFree(self._driver.CUdeviceptr(ptr)), "cuMemFree")

    def copy_to_device(self, dst: int, host: np.ndarray, stream: int) -> None:
        _contiguous(host)
        check(self._driver.cuMemcpyHtoDAsync(self._driver.CUdeviceptr(dst), host.ctypes.data, host.nbytes,
                                             self._driver.CUstream(stream)), "cuMemcpyHtoDAsync")

    def copy_to_host(self, host: np.ndarray, src: int, stream: int) -> None:
        _contiguous(host)
        check(self._driver.cuMemcpyDtoHAsync(host.ctypes.data, self._driver.CUdeviceptr(src), host.nbytes,
                                             self._driver.CUstream(stream)), "cuMemcpyDtoHAsync")

    def create_stream(self) -> int:
        self._current()
        flags = self._driver.CUstream_flags.CU_STREAM_NON_BLOCKING
        (stream,) = check(self._driver.cuStreamCreate(int(flags)), "cuStreamCreate")
        return int(stream)

    def destroy_stream(self, stream: int) -> None:
        check(self._driver.cuStreamDestroy(self._driver.CUstream(stream)), "cuStreamDestroy")

    def synchronize(self, stream: int) -> None:
        check(self._driver.cuStreamSynchronize(self._driver.CUstream(stream)), "cuStreamSynchronize")

    def load_module(self, image: bytes) -> object:
        self._current()
        buffer = np.frombuffer(bytes(image) + b"\0", dtype=np.uint8)  # PTX must end with NUL; cubin ignores it
        (module,) = check(self._driver.cuModuleLoadData(buffer.ctypes.data), "cuModuleLoadData")
        self._modules.append(module)
        return module

    def get_function(self, module: object, name: str) -> object:
        (function,) = check(self._driver.cuModuleGetFunction(module, name.encode()), f"cuModuleGetFunction({name})")
        return function

    def launch(self, function: object, grid: tuple[int, int, int], block: tuple[int, int, int],
               shared_bytes: int, stream: int, args: Sequence[np.generic]) -> None:
        # kernelParams: an array of N pointers, each to the bytes of one argument.
        storage = [np.array(arg) for arg in args]  # 0-d arrays own the argument bytes until the call returns
        pointers = np.array([a.ctypes.data for a in storage], dtype=np.uint64)
        check(self._driver.cuLaunchKernel(function, *grid, *block, int(shared_bytes), self._driver.CUstream(stream),
                                          pointers.ctypes.data, 0), "cuLaunchKernel")

    def close(self) -> None:
        for module in self._modules:
            check(self._driver.cuModuleUnload(module), "cuModuleUnload")
        self._modules.clear()
        if getattr(self, "_context", None) is not None:
            check(self._driver.cuDevicePrimaryCtxRelease(self._device), "cuDevicePrimaryCtxRelease")
            self._context = None


def _contiguous(host: np.ndarray) -> None:
    if not host.flags.c_contiguous:
        raise RefinetError(f"host array for a CUDA copy must be C-contiguous, got strides {host.strides}")
