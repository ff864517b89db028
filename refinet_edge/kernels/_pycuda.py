"""The alternative CUDA layer: pycuda (shipped by many JetPack images).

pycuda raises ``pycuda.driver.Error`` subclasses whose message names the
driver call and the CUDA error; :func:`_calling` turns each one into a
:class:`RefinetError`. pycuda cannot adopt a stream it did not create, so a
foreign stream handle (torch's, TensorRT's) is honoured by synchronising the
context before and after the operation: correct, but slower than cuda-python,
which enqueues on the foreign stream directly.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import RefinetError
from .layer import CudaLayer

# cuda.h's CU_STREAM_NON_BLOCKING: pycuda's Stream takes the raw flag bits and exposes no enum for them.
CU_STREAM_NON_BLOCKING = 0x1


class PycudaLayer(CudaLayer):
    """Device ``device`` through ``pycuda.driver`` in its primary context."""

    name = "pycuda"

    def __init__(self, device: int = 0) -> None:
        import pycuda.driver as cuda

        self._cuda = cuda
        self._call(cuda.init, "cuInit")
        count = self._call(cuda.Device.count, "cuDeviceGetCount")
        if not 0 <= device < count:
            raise RefinetError(f"CUDA device {device} does not exist; this machine has {count}")
        self._device = self._call(lambda: cuda.Device(device), "cuDeviceGet")
        self._allocations: dict[int, Any] = {}
        self._streams: dict[int, Any] = {}
        self._context = self._call(self._device.retain_primary_context, "cuDevicePrimaryCtxRetain")
        self._call(self._context.push, "cuCtxPushCurrent")
        # pycuda aborts the interpreter when a context is still on its stack at exit: pop ours by then.
        atexit.register(self.close)
        major, minor = self._device.compute_capability()
        self._arch = f"sm_{major}{minor}"
        self._name = self._device.name()

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        try:
            return fn()
        except self._cuda.Error as err:
            raise RefinetError(f"{what} failed (pycuda): {err}") from err

    def alloc(self, nbytes: int) -> int:
        allocation = self._call(lambda: self._cuda.mem_alloc(max(int(nbytes), 1)), f"cuMemAlloc({nbytes} bytes)")
        self._allocations[int(allocation)] = allocation
        return int(allocation)

    def free(self, ptr: int) -> None:
        allocation = self._allocations.pop(ptr, None)
        if allocation is None:
            raise RefinetError(f"pycuda layer: 0x{ptr:x} was not allocated by this layer")
        self._call(allocation.free, "cuMemFree")

    def _stream(self, handle: int) -> Any:
        """Our Stream object, None for the default stream, or None after syncing for a foreign stream."""
        if handle in self._streams:
            return self._streams[handle]
        if handle != 0:
            self._call(self._cuda.Context.synchronize, "cuCtxSynchronize")
        return None

    def _after(self, handle: int) -> None:
        if handle != 0 and handle not in self._streams:
            self._call(self._cuda.Context.synchronize, "cuCtxSynchronize")

    def copy_to_device(self, dst: int, host: np.ndarray, stream: int) -> None:
        s = self._stream(stream)
        self._call(lambda: self._cuda.memcpy_htod_async(dst, np.ascontiguousarray(host), s), "cuMemcpyHtoDAsync")
        self._after(stream)

    def copy_to_host(self, host: np.ndarray, src: int, stream: int) -> None:
        if not host.flags.c_contiguous:
            raise RefinetError(f"host array for a CUDA copy must be C-contiguous, got strides {host.strides}")
        s = self._stream(stream)
        self._call(lambda: self._cuda.memcpy_dtoh_async(host, src, s), "cuMemcpyDtoHAsync")
        self._after(stream)

    def create_stream(self) -> int:
        stream = self._call(lambda: self._cuda.Stream(flags=CU_STREAM_NON_BLOCKING), "cuStreamCreate")
        self._streams[int(stream.handle)] = stream
        return int(stream.handle)

    def destroy_stream(self, stream: int) -> None:
        self._streams.pop(stream, None)  # pycuda destroys it with the object

    def synchronize(self, stream: int) -> None:
        if stream in self._streams:
            self._call(self._streams[stream].synchronize, "cuStreamSynchronize")
        else:
            self._call(self._cuda.Context.synchronize, "cuCtxSynchronize")

    def load_module(self, image: bytes) -> object:
        return self._call(lambda: self._cuda.module_from_buffer(bytes(image)), "cuModuleLoadData")

    def get_function(self, module: object, name: str) -> object:
        return self._call(lambda: module.get_function(name), f"cuModuleGetFunction({name})")  # type: ignore[attr-defined]

    def launch(self, function: object, grid: tuple[int, int, int], block: tuple[int, int, int],
               shared_bytes: int, stream: int, args: Sequence[np.generic]) -> None:
        s = self._stream(stream)
        self._call(lambda: function(*args, grid=grid, block=block, shared=int(shared_bytes), stream=s),  # type: ignore[operator]
                   "cuLaunchKernel")
        self._after(stream)

    def close(self) -> None:
        """Free what this layer allocated and pop its context (idempotent; also run at interpreter exit)."""
        if getattr(self, "_context", None) is None:
            return
        for allocation in self._allocations.values():
            allocation.free()
        self._allocations.clear()
        self._streams.clear()
        self._call(self._cuda.Context.pop, "cuCtxPopCurrent")
        self._context = None
        atexit.unregister(self.close)
