"""Where the live loop's stages run: the backend table and its choice are :mod:`refinet_edge.export.backends`
(one place for ``live``, ``serve``, ``evaluate``, ``compare`` and ``calibrate``); this module adds the CPU thread
policy of a loop that also captures and detects, and keeps the names ``live`` imported from here.
"""

from __future__ import annotations

import os

from ..errors import RefinetError
from ..export.backends import BACKENDS, PRECISIONS, PREFERENCE, Backend, Loaded, choose_backend

__all__ = ["BACKENDS", "PRECISIONS", "PREFERENCE", "Backend", "Loaded", "choose_backend", "cpu_threads"]


def cpu_threads(requested: int | None = None) -> int:
    """Threads for the stages on a CPU: what was asked, else all cores but the two that capture and detect.

    PyTorch's OpenMP threads spin while they wait; on the 2-core CI machine, two of
    them beside the capture and detection threads made the stages 10x slower than one.
    """
    if requested is not None:
        if requested < 1:
            raise RefinetError(f"--threads must be >= 1, got {requested}")
        return requested
    return max(1, (os.cpu_count() or 1) - 2)
