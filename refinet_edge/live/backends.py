"""Where the refinement stages run: one table of backends, the fastest available is the default.

Each backend turns a checkpoint directory into a
:class:`~refinet_edge.pipeline.RefinementPipeline` whose stage runners it
supplies (the pre-processing is the same for all). This module ships
``torch``; ONNX Runtime and TensorRT register here with their own loaders.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import RefinetError, did_you_mean
from ..pipeline import RefinementPipeline

PRECISIONS = ("fp32", "fp16", "int8")
PREFERENCE = ("tensorrt", "onnxruntime", "torch")  # fastest first


@dataclass(frozen=True)
class Backend:
    """A way to run the stages: availability check, loader and the precisions it supports."""

    name: str
    is_available: Callable[[], bool]
    load: Callable[[Path, str], RefinementPipeline]  # (checkpoint dir, precision) -> pipeline
    precisions: tuple[str, ...]
    device: Callable[[], str]
    install_hint: str


def _torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _torch_load(directory: Path, precision: str) -> RefinementPipeline:
    return RefinementPipeline.from_dir(directory, device=_torch_device())


BACKENDS: dict[str, Backend] = {
    "torch": Backend("torch", lambda: importlib.util.find_spec("torch") is not None, _torch_load, ("fp32",),
                     _torch_device, "pip install 'refinet-edge[cpu]' (or your own PyTorch build)"),
}


def choose_backend(name: str | None, precision: str) -> Backend:
    """The backend asked for, or the fastest available one; errors say what is available."""
    if precision not in PRECISIONS:
        raise RefinetError(f"--precision {precision!r}: expected one of {', '.join(PRECISIONS)}"
                           f"{did_you_mean(precision, PRECISIONS)}")
    available = [b for b in PREFERENCE if b in BACKENDS and BACKENDS[b].is_available()]
    if name is None:
        if not available:
            raise RefinetError(f"no backend installed: {BACKENDS['torch'].install_hint}")
        usable = [b for b in available if precision in BACKENDS[b].precisions]
        if not usable:
            runs = "; ".join(f"{b} runs {', '.join(BACKENDS[b].precisions)}" for b in available)
            raise RefinetError(f"no installed backend runs {precision} ({runs}); choose --precision fp32 or "
                               f"install a backend that does (TensorRT for fp16/int8)")
        return BACKENDS[usable[0]]
    if name not in BACKENDS:
        known = sorted(set(PREFERENCE) | set(BACKENDS))
        raise RefinetError(f"--backend {name!r}: not available in this build{did_you_mean(name, known)}; "
                           f"available: {', '.join(available) or 'none'}")
    backend = BACKENDS[name]
    if not backend.is_available():
        raise RefinetError(f"--backend {name}: not installed ({backend.install_hint})")
    if precision not in backend.precisions:
        raise RefinetError(f"--backend {name} runs {', '.join(backend.precisions)}, not {precision}; "
                           f"for {precision} choose another backend or --precision {backend.precisions[0]}")
    return backend
