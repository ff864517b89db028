"""Where the refinement stages run: one table of backends, the fastest available is the default.

Each backend turns a directory into a :class:`~refinet_edge.pipeline.RefinementPipeline`
whose stage runners it supplies (the pre-processing is the same for all):

===========  ==========================================  =====================
backend      reads                                       precisions
===========  ==========================================  =====================
torch        ``--checkpoints`` (``{stage}.safetensors``)  fp32
onnxruntime  ``--onnx-dir`` (``refinet-edge export``)     fp32, fp16, int8
tensorrt     ``--onnx-dir`` engines (``refinet-edge build``)  fp32, fp16, int8
===========  ==========================================  =====================

The exported backends load through :func:`refinet_edge.export.backends.pipeline_from_onnx_dir`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import RefinetError, did_you_mean
from ..pipeline import RefinementPipeline

PRECISIONS = ("fp32", "fp16", "int8")
PREFERENCE = ("tensorrt", "onnxruntime", "torch")  # fastest first

Loaded = tuple[RefinementPipeline, list[str]]  # the pipeline and notes for the user


@dataclass(frozen=True)
class Backend:
    """A way to run the stages: availability check, loader, precisions, and whether it needs an export."""

    name: str
    is_available: Callable[[], bool]
    load: Callable[[Path, str, int], Loaded]  # (directory, precision, CPU threads) -> pipeline, notes
    precisions: tuple[str, ...]
    device: Callable[[], str]
    install_hint: str
    exported: bool  # reads --onnx-dir (export / build output) rather than --checkpoints


def _installed(module: str) -> Callable[[], bool]:
    """Importable without importing it; a bare namespace folder (type stubs, placeholders) does not count."""
    def check() -> bool:
        spec = importlib.util.find_spec(module)
        return spec is not None and spec.origin is not None
    return check


def _torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


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


def _torch_load(directory: Path, precision: str, threads: int) -> Loaded:
    import torch

    device = _torch_device()
    if device == "cpu":
        torch.set_num_threads(threads)
    return RefinementPipeline.from_dir(directory, device=device), []


def _exported_load(backend: str) -> Callable[[Path, str, int], Loaded]:
    def load(directory: Path, precision: str, threads: int) -> Loaded:
        from refinet_edge.export.backends import pipeline_from_onnx_dir

        pipeline, notes = pipeline_from_onnx_dir(directory, backend, precision)
        for runner in pipeline.runners.values():  # ONNX Runtime sessions open on first use, with these threads
            if hasattr(runner, "threads") and not getattr(runner, "is_active", True):
                runner.threads = threads
        return pipeline, notes
    return load


def _ort_device() -> str:
    import onnxruntime as ort

    return "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"


BACKENDS: dict[str, Backend] = {
    "torch": Backend("torch", _installed("torch"), _torch_load, ("fp32",), _torch_device,
                     "pip install 'refinet-edge[cpu]' (or your own PyTorch build)", exported=False),
    "onnxruntime": Backend("onnxruntime", _installed("onnxruntime"), _exported_load("onnxruntime"), PRECISIONS,
                           _ort_device, "pip install 'refinet-edge[onnx]'", exported=True),
    "tensorrt": Backend("tensorrt", _installed("tensorrt"), _exported_load("tensorrt"), PRECISIONS,
                        lambda: "cuda", "pip install 'refinet-edge[tensorrt]' (Jetson: JetPack's TensorRT)",
                        exported=True),
}


def choose_backend(name: str | None, precision: str, onnx_dir: Path | None) -> Backend:
    """The backend asked for, or the fastest available one that can run what was given; errors say why not."""
    if precision not in PRECISIONS:
        raise RefinetError(f"--precision {precision!r}: expected one of {', '.join(PRECISIONS)}"
                           f"{did_you_mean(precision, PRECISIONS)}")
    if name is None:
        candidates = [BACKENDS[b] for b in PREFERENCE if BACKENDS[b].exported == (onnx_dir is not None)]
        available = [b for b in candidates if b.is_available()]
        usable = [b for b in available if precision in b.precisions]
        if usable:
            return usable[0]
        if not available:
            raise RefinetError(f"no backend installed for {'--onnx-dir' if onnx_dir else 'checkpoints'}: "
                               + "; ".join(f"{b.name}: {b.install_hint}" for b in candidates))
        runs = "; ".join(f"{b.name} runs {', '.join(b.precisions)}" for b in available)
        raise RefinetError(f"no installed backend runs {precision} on checkpoints ({runs}); choose --precision "
                           f"fp32, or export the stages (refinet-edge export) and pass --onnx-dir")
    if name not in BACKENDS:
        raise RefinetError(f"--backend {name!r}: unknown{did_you_mean(name, list(BACKENDS))}; "
                           f"backends: {', '.join(BACKENDS)}")
    backend = BACKENDS[name]
    if not backend.is_available():
        raise RefinetError(f"--backend {name}: not installed ({backend.install_hint})")
    if backend.exported and onnx_dir is None:
        raise RefinetError(f"--backend {name} runs exported stages: add --onnx-dir DIR (made by `refinet-edge export`)")
    if precision not in backend.precisions:
        raise RefinetError(f"--backend {name} runs {', '.join(backend.precisions)}, not {precision}; "
                           f"for {precision} use --backend onnxruntime or tensorrt with --onnx-dir")
    return backend
