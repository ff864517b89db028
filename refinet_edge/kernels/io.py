"""Operands for the kernels: NumPy arrays (copied through the CUDA layer) or torch CUDA tensors (shared in place).

A kernel call asks its operand set for device pointers of inputs and of fresh
outputs, enqueues its launches on the set's stream, then :meth:`finish`
returns the outputs: NumPy arrays after copying back and synchronising, or
torch tensors enqueued on torch's current stream (no synchronisation: torch
orders what comes next).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import RefinetError
from .layer import CudaLayer


def is_torch_cuda(value: object) -> bool:
    """True for a torch tensor on a CUDA device (torch is not imported to find out)."""
    return type(value).__module__.startswith("torch") and getattr(getattr(value, "device", None), "type", "") == "cuda"


class HostOperands:
    """NumPy in, NumPy out: device buffers allocated per call on the layer's stream."""

    def __init__(self, layer: CudaLayer, stream: int) -> None:
        self.layer, self.stream = layer, stream
        self._buffers: list[int] = []
        self._keep: list[np.ndarray] = []
        self._outputs: list[tuple[np.ndarray, int]] = []

    def input(self, array: Any, dtype: type) -> int:
        host: np.ndarray = np.ascontiguousarray(np.asarray(array), dtype=dtype)
        ptr = self._alloc(host.nbytes)
        self.layer.copy_to_device(ptr, host, self.stream)
        self._keep.append(host)  # the async copy reads it until finish()
        return ptr

    def output(self, shape: tuple[int, ...], dtype: type) -> int:
        host: np.ndarray = np.empty(shape, dtype=dtype)
        ptr = self._alloc(host.nbytes)
        self._outputs.append((host, ptr))
        return ptr

    def scratch(self, nbytes: int) -> int:
        return self._alloc(nbytes)

    def _alloc(self, nbytes: int) -> int:
        ptr = self.layer.alloc(nbytes)
        self._buffers.append(ptr)
        return ptr

    def finish(self) -> list[np.ndarray]:
        try:
            for host, ptr in self._outputs:
                self.layer.copy_to_host(host, ptr, self.stream)
            self.layer.synchronize(self.stream)
        finally:
            self.release()
        return [host for host, _ in self._outputs]

    def release(self) -> None:
        for ptr in self._buffers:
            self.layer.free(ptr)
        self._buffers.clear()
        self._keep.clear()


class TorchOperands:
    """Torch CUDA tensors in and out, on torch's current stream of their device."""

    _DTYPES: dict[Any, str] = {np.float32: "float32", np.float64: "float64", np.int32: "int32", np.int8: "int8",
               np.uint16: "uint16"}

    def __init__(self, device: Any) -> None:
        import torch

        self._torch, self.device = torch, device
        self.stream = int(torch.cuda.current_stream(device).cuda_stream)
        self._keep: list[Any] = []
        self._outputs: list[Any] = []

    def _dtype(self, dtype: type) -> Any:
        return getattr(self._torch, self._DTYPES[dtype])

    def input(self, array: Any, dtype: type) -> int:
        if is_torch_cuda(array) and array.device != self.device:
            raise RefinetError(f"all tensors must be on one CUDA device; got {array.device} and {self.device}")
        tensor = self._torch.as_tensor(array, device=self.device).to(self._dtype(dtype)).contiguous()
        self._keep.append(tensor)
        return int(tensor.data_ptr())

    def output(self, shape: tuple[int, ...], dtype: type) -> int:
        tensor = self._torch.empty(shape, dtype=self._dtype(dtype), device=self.device)
        self._outputs.append(tensor)
        return int(tensor.data_ptr())

    def scratch(self, nbytes: int) -> int:
        tensor = self._torch.empty(max(nbytes, 1), dtype=self._torch.uint8, device=self.device)
        self._keep.append(tensor)
        return int(tensor.data_ptr())

    def finish(self) -> list[Any]:
        # The caching allocator may hand inputs/scratch to the next op on this
        # stream only after our kernels, which are enqueued on it: stream order keeps that safe.
        self._keep.clear()
        return list(self._outputs)

    def release(self) -> None:
        self._keep.clear()
