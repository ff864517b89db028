"""CUDA kernels for pre-processing (lifting, stage A patches, stage C points) and the CUDA layer they run on.

* ``*.cu`` (packaged with ``refinet_common.cuh``): the kernels, one thread
  layout each, explained at the top of each file. Each is the CUDA twin of a
  NumPy reference: :mod:`refinet_edge.lifting`,
  :mod:`refinet_edge.preprocess.patches`, :mod:`refinet_edge.preprocess.points`.
* :mod:`.layer`: the CUDA layer interface (``cuda-python`` default, ``pycuda``
  alternative) and :func:`get_layer`; :mod:`.compiler`: NVRTC (or nvcc)
  compilation with a per-architecture disk cache; :mod:`.ops`:
  :class:`GpuPreprocessor`, which runs the steps on NumPy arrays or torch CUDA
  tensors.

Nothing here touches CUDA at import time; :func:`is_available` opens the
device to find out. :func:`open_preprocessor` is what callers use: the GPU
kernels when a GPU and a CUDA layer are present, else None (use the fast CPU
path), and it logs which.
"""

from __future__ import annotations

import logging

from .layer import LAYER_CHOICES, LAYERS, CudaLayer, get_layer, installed_layers, is_available

__all__ = ["LAYERS", "LAYER_CHOICES", "CudaLayer", "get_layer", "installed_layers", "is_available",
           "open_preprocessor"]

_log = logging.getLogger("refinet_edge.kernels")


def open_preprocessor(layer: str = "auto", device: int = 0, required: bool = False):  # -> GpuPreprocessor | None
    """A :class:`~.ops.GpuPreprocessor`, or None (logged) when no GPU or CUDA layer is usable.

    With ``required=True`` the reason is raised as :class:`RefinetError` instead.
    """
    from ..errors import RefinetError
    from .ops import GpuPreprocessor

    try:
        gpu = GpuPreprocessor(layer, device)
    except RefinetError as err:
        if required:
            raise
        _log.info("pre-processing on the CPU (fast NumPy path): %s", err)
        return None
    _log.info("pre-processing with %s", gpu.describe())
    return gpu
