"""One runner interface for every backend (torch, onnxruntime, tensorrt), Polygraphy style.

A runner wraps one stage's network. Lifecycle: ``activate()`` / ``deactivate()``
or ``with runner:``; ``infer({name: array})`` returns ``{name: array}`` (names
and shapes in :mod:`refinet_edge.export.specs`); ``last_inference_time()`` is the
seconds the last ``infer`` spent inside the backend (host copies included for
tensorrt). Calling a runner with positional arrays (``runner(*inputs)``) is the
hook :class:`~refinet_edge.pipeline.RefinementPipeline` uses; it activates the
runner on first use.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from refinet_edge.errors import RefinetError

from .specs import StageSpec

Feed = dict[str, np.ndarray]


class StageRunner(ABC):
    """Base class: input checking, lifecycle and timing; backends implement ``_activate`` and ``_infer``."""

    backend = "?"

    def __init__(self, spec: StageSpec, name: str) -> None:
        self.spec, self.name = spec, name
        self.is_active = False
        self._last_time: float | None = None

    def activate(self) -> None:
        if not self.is_active:
            try:
                self._activate()
            except BaseException:
                self._deactivate()  # release whatever the failed activation had acquired
                raise
            self.is_active = True

    def deactivate(self) -> None:
        if self.is_active:
            self._deactivate()
            self.is_active = False

    def __enter__(self) -> StageRunner:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def infer(self, feed: Feed) -> Feed:
        if not self.is_active:
            raise RefinetError(f"runner {self.name} is not active: use `with runner:` or runner.activate() first")
        self.spec.check_feed(feed)
        feed = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feed.items()}
        start = time.perf_counter()
        outputs = self._infer(feed)
        self._last_time = time.perf_counter() - start
        return outputs

    def last_inference_time(self) -> float | None:
        return self._last_time

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        self.activate()
        feed = dict(zip(self.spec.input_names, inputs, strict=True))
        return self.infer(feed)[self.spec.output_names[0]]

    @abstractmethod
    def _activate(self) -> None: ...

    def _deactivate(self) -> None:
        return None

    @abstractmethod
    def _infer(self, feed: Feed) -> Feed: ...


class TorchStageRunner(StageRunner):
    """A stage checkpoint under PyTorch (fp32; ``device`` cpu or cuda)."""

    backend = "torch"

    def __init__(self, checkpoint: str | Path, device: str = "cpu") -> None:
        from refinet_edge.checkpoint import read_stage_info

        from .specs import stage_spec

        info = read_stage_info(checkpoint)
        super().__init__(stage_spec(info.stage, info.model_config), f"torch:{Path(checkpoint).name}")
        self.checkpoint, self.device = Path(checkpoint), device
        self._module: Any = None  # torch.nn.Module once active

    def _activate(self) -> None:
        from refinet_edge.checkpoint import load_stage

        self._module = load_stage(self.checkpoint)[0].to(self.device)

    def _deactivate(self) -> None:
        self._module = None

    def _infer(self, feed: Feed) -> Feed:
        import torch

        assert self._module is not None
        tensors = [torch.from_numpy(feed[n]).to(self.device) for n in self.spec.input_names]
        with torch.inference_mode():
            out = self._module(*tensors).float().cpu().numpy()
        return {self.spec.output_names[0]: out}


class OnnxrtRunner(StageRunner):
    """An ONNX file under ONNX Runtime (CPU by default; Q/DQ and fp16 graphs run there too)."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path, spec: StageSpec, providers: tuple[str, ...] = ("CPUExecutionProvider",),
                 threads: int = 0) -> None:
        super().__init__(spec, f"onnxruntime:{Path(path).name}")
        self.path, self.providers, self.threads = Path(path), providers, threads
        self._session: Any = None  # onnxruntime.InferenceSession once active

    def _activate(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=list(self.providers))
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own types (InvalidProtobuf, Fail, ...)
            if not self.path.is_file():
                raise RefinetError(f"{self.path}: not found") from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RefinetError(f"{self.path}: ONNX Runtime cannot load it ({type(exc).__name__}: {first[:200]}); "
                               f"re-export it with `refinet-edge export`") from None
        names = tuple(i.name for i in self._session.get_inputs())
        if set(names) != set(self.spec.input_names):
            raise RefinetError(f"{self.path}: graph inputs {names} do not match the stage spec {self.spec.input_names}")

    def _deactivate(self) -> None:
        self._session = None

    def _infer(self, feed: Feed) -> Feed:
        assert self._session is not None
        outs = self._session.run(list(self.spec.output_names), feed)
        return {name: np.asarray(o, dtype=np.float32) for name, o in zip(self.spec.output_names, outs, strict=True)}
