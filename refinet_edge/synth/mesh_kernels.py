"""The compiled mesh kernels of :mod:`._mesh_jit`, looked up once per process.

:func:`mesh_kernels` imports :mod:`._mesh_jit` on first use and caches the
answer: the kernels, or None where numba does not import (ImportError: not
installed, or a build that refuses this NumPy) or cannot compile/cache them
(RuntimeError, e.g. no writable cache directory), as
:meth:`refinet_edge.preprocess.steps.CpuSteps._resolve` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

_log = logging.getLogger(__name__)


class MeshKernels(NamedTuple):
    """The Numba twins of the mesh loops (see :mod:`._mesh_jit`)."""

    skin: Callable[..., None]
    face_normal_sum: Callable[..., None]
    raster: Callable[..., None]


@lru_cache(maxsize=1)
def mesh_kernels() -> MeshKernels | None:
    """The compiled mesh kernels, or None when numba is unavailable (then callers use NumPy)."""
    try:
        from ._mesh_jit import face_normal_sum_kernel, raster_kernel, skin_kernel
    except ImportError as exc:  # no numba, or one that refuses this NumPy
        _log.debug("synth: numba unavailable (%s); NumPy mesh kernels", exc)
        return None
    except RuntimeError as exc:  # e.g. no writable cache directory for the kernels
        _log.warning("synth: compiled mesh kernels unavailable (%s); using NumPy", exc)
        return None
    return MeshKernels(skin_kernel, face_normal_sum_kernel, raster_kernel)


def kernels_for(use_numba: bool | None, what: str) -> MeshKernels | None:
    """The kernels a caller's ``use_numba`` asks for: None for False (NumPy), :func:`mesh_kernels` for None
    (when numba imports); for True the kernels, or ImportError without numba."""
    if use_numba is False:
        return None
    kernels = mesh_kernels()
    if use_numba and kernels is None:
        raise ImportError(f"{what}(use_numba=True) needs numba (pip install 'refinet-edge[jit]')")
    return kernels
