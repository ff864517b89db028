"""The small CUDA layer the kernels run on: allocation, copies, streams, modules, launches.

Two implementations share this interface: ``cuda-python`` (NVIDIA's
``cuda.bindings`` driver API, the default) and ``pycuda`` (the alternative many
JetPack images ship). :func:`get_layer` picks one; nothing here touches CUDA
until a layer is constructed.

Handles are plain ints where CUDA has plain values: a device pointer is an
``int`` address, a stream is an ``int`` ``CUstream`` handle (0 = the legacy
default stream), so buffers and streams can be shared with TensorRT and torch
(``tensor.data_ptr()``, ``torch.cuda.current_stream().cuda_stream``).
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from ..errors import RefinetError, did_you_mean

LAYERS = ("cuda-python", "pycuda")
LAYER_CHOICES = ("auto",) + LAYERS
_MODULES = {"cuda-python": "cuda.bindings", "pycuda": "pycuda"}
_INSTALL = {"cuda-python": "pip install 'cuda-python>=12.6'", "pycuda": "pip install pycuda (or use JetPack's)"}


class CudaLayer(ABC):
    """One CUDA device through one Python binding. Close it (or use ``with``) to release what it holds."""

    name: str
    _arch: str  # set by each layer's constructor from its device query
    _name: str

    @property
    def arch(self) -> str:
        """The device's real architecture, e.g. ``"sm_87"`` (Jetson Orin)."""
        return self._arch

    @property
    def device_name(self) -> str:
        """The device's marketing name."""
        return self._name

    @abstractmethod
    def alloc(self, nbytes: int) -> int:
        """Allocate ``nbytes`` (> 0) of device memory; returns its address."""

    @abstractmethod
    def free(self, ptr: int) -> None:
        """Free memory from :meth:`alloc`."""

    @abstractmethod
    def copy_to_device(self, dst: int, host: np.ndarray, stream: int) -> None:
        """Enqueue a copy of the C-contiguous ``host`` array to ``dst`` on ``stream``."""

    @abstractmethod
    def copy_to_host(self, host: np.ndarray, src: int, stream: int) -> None:
        """Enqueue a copy from ``src`` into the C-contiguous ``host`` array on ``stream``."""

    @abstractmethod
    def create_stream(self) -> int:
        """A new non-blocking stream handle."""

    @abstractmethod
    def destroy_stream(self, stream: int) -> None:
        """Destroy a stream from :meth:`create_stream`."""

    @abstractmethod
    def synchronize(self, stream: int) -> None:
        """Wait until everything enqueued on ``stream`` has run (and raise its error, if any)."""

    @abstractmethod
    def load_module(self, image: bytes) -> object:
        """Load a cubin or NUL-terminated PTX image into the device's primary context."""

    @abstractmethod
    def get_function(self, module: object, name: str) -> object:
        """A ``extern "C"`` kernel of a loaded module."""

    @abstractmethod
    def launch(self, function: object, grid: tuple[int, int, int], block: tuple[int, int, int],
               shared_bytes: int, stream: int, args: Sequence[np.generic]) -> None:
        """Enqueue ``function<<<grid, block, shared_bytes, stream>>>(*args)``.

        ``args`` are NumPy scalars of the kernel's parameter types: ``np.uint64``
        for pointers, ``np.int32`` for ``int``, ``np.float32``, ``np.float64``.
        """

    def prebuilt_module(self, stem: str) -> object | None:
        """A module this layer brings itself for ``<stem>.cu`` (the tests' host build), or None to compile."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the layer's own resources (the primary context stays with its other users)."""

    def __enter__(self) -> CudaLayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def installed_layers() -> tuple[str, ...]:
    """The CUDA layers whose Python package is importable (no CUDA call is made)."""
    return tuple(name for name in LAYERS if _importable(_MODULES[name]))


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def get_layer(name: str = "auto", device: int = 0) -> CudaLayer:
    """Open CUDA device ``device`` through layer ``name`` (``auto``, ``cuda-python`` or ``pycuda``).

    ``auto`` tries cuda-python, then pycuda. Raises :class:`RefinetError` when
    the layer is not installed, there is no driver or no such device.
    """
    if name not in LAYER_CHOICES:
        raise RefinetError(f"unknown CUDA layer {name!r}; choose one of {', '.join(LAYER_CHOICES)}"
                           f"{did_you_mean(name, LAYER_CHOICES)}")
    candidates = LAYERS if name == "auto" else (name,)
    failures = []
    for candidate in candidates:
        if not _importable(_MODULES[candidate]):
            failures.append(f"{candidate}: not installed ({_INSTALL[candidate]})")
            continue
        try:
            return _construct(candidate, device)
        except RefinetError as err:
            failures.append(f"{candidate}: {err}")
    raise RefinetError("no usable CUDA layer: " + "; ".join(failures))


def _construct(name: str, device: int) -> CudaLayer:
    if name == "cuda-python":
        from ._cuda_python import CudaPythonLayer

        return CudaPythonLayer(device)
    from ._pycuda import PycudaLayer

    return PycudaLayer(device)


def is_available(name: str = "auto", device: int = 0) -> bool:
    """True when :func:`get_layer` would succeed (opens and closes the device; never raises)."""
    try:
        get_layer(name, device).close()
    except RefinetError:
        return False
    return True
