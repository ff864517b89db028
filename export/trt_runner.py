"""TensorRT runner (either flavour, :mod:`.trt_api`): one engine, I/O by tensor name, device buffers reused.

Lifecycle as every runner (:mod:`.runners`). ``activate()`` reads the engine's
sidecar, loads the flavour that built it (or, when that one is not installed,
the one that is) and compares the sidecar with this machine (flavour, version,
GPU and compute capability for TensorRT; compute capability among the targets
for TensorRT-RTX): on a mismatch it rebuilds the engine from its ONNX when that
is at hand and unchanged (and says so), else fails naming both sides, instead of
TensorRT's bare deserialisation error. TensorRT-RTX engines are then checked
with ``Runtime.get_engine_validity``, and their execution context comes from a
runtime config whose runtime cache (the just-in-time kernels) is kept beside
the engine as ``{engine}.runtime.cache``, read at activation and written at
deactivation. Then ``IRuntime.deserialize_cuda_engine``, one execution
context, buffers sized for the largest batch seen so far (grown, never
shrunk), ``set_input_shape`` + ``set_tensor_address`` +
``execute_async_v3`` on a CUDA stream that can be shared with the
pre-processing kernels (pass ``stream=`` and ``layer=``). CUDA memory goes
through :mod:`refinet_edge.kernels.layer` (cuda-python), whose calls are all
checked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from refinet_edge.atomic import atomic_path
from refinet_edge.errors import RefinetError

from .engine_info import buffer_bytes, mismatches, needs_rebuild, read_sidecar, rebuild_settings
from .manifest import sha256_file
from .runners import Feed, StageRunner
from .specs import StageSpec
from .trt_api import TrtApi, is_installed, load

if TYPE_CHECKING:
    import tensorrt as trt

    from refinet_edge.kernels.layer import CudaLayer


RUNTIME_CACHE_SUFFIX = ".runtime.cache"


def check_rtx_validity(api: TrtApi, runtime: Any, plan: bytes, engine_path: Path) -> None:
    """``Runtime.get_engine_validity`` (TensorRT-RTX; reads the header only): INVALID raises, naming the reasons."""
    validity, diagnostics = runtime.get_engine_validity(plan)
    if validity == api.module.EngineValidity.INVALID:
        members = {name: int(value) for name, value in api.module.EngineInvalidityDiagnostics.__members__.items()}
        reasons = validity_reasons(int(diagnostics), members)
        raise RefinetError(f"{engine_path}: {api.label} says the engine cannot run here ({', '.join(reasons)}); "
                           f"rebuild it: `refinet-edge build --runtime tensorrt-rtx`")


def validity_reasons(mask: int, members: dict[str, int]) -> list[str]:
    """The names of the bits set in ``get_engine_validity``'s diagnostics mask (an empty mask: no usable GPU)."""
    return [name for name, bit in members.items() if mask & bit] or ["no diagnostics: no usable GPU or driver?"]


def rtx_runtime_config(engine: Any, cache_path: Path, log: Callable[[str], None] = print) -> tuple[Any, Any]:
    """A TensorRT-RTX runtime config and its runtime cache (keep both: the config holds a bare pointer to the
    cache), the cache starting from ``cache_path`` when that file exists and fits this GPU, driver and version."""
    config = engine.create_runtime_config()
    cache = config.create_runtime_cache()
    if cache_path.is_file() and not cache.deserialize(cache_path.read_bytes()):
        log(f"{cache_path.name}: made for another GPU, driver or TensorRT-RTX version; compiling kernels afresh")
    if not config.set_runtime_cache(cache):
        raise RefinetError(f"{cache_path}: TensorRT-RTX refused the runtime cache")
    return config, cache


def save_runtime_cache(config: Any, cache_path: Path) -> None:
    """Write the runtime cache (the kernels compiled just in time) beside the engine, atomically."""
    blob = config.get_runtime_cache().serialize()
    if blob is not None:
        with atomic_path(cache_path) as tmp:
            tmp.write_bytes(memoryview(blob))


def engine_max_batch(sidecar: dict, spec: StageSpec) -> int:
    """The largest batch the engine's optimisation profile allows."""
    first = spec.input_names[0]
    try:
        return int(sidecar["profile"][first]["max"][0])
    except (KeyError, IndexError, TypeError, ValueError):
        raise RefinetError(f"engine sidecar has no profile for input {first}; rebuild the engine") from None


class TrtRunner(StageRunner):
    """A ``{stage}.{precision}.engine`` under TensorRT (float32 inputs and outputs)."""

    backend = "tensorrt"

    def __init__(self, engine_path: str | Path, spec: StageSpec, *, rebuild: bool = True,
                 layer: CudaLayer | None = None, stream: int | None = None,
                 log: Callable[[str], None] = print) -> None:
        super().__init__(spec, f"tensorrt:{Path(engine_path).name}")
        self.engine_path, self.rebuild, self.log = Path(engine_path), rebuild, log
        self._layer, self._own_layer, self._stream, self._own_stream = layer, layer is None, stream, stream is None
        self._logger: trt.ILogger | None = None
        self._runtime: trt.Runtime | None = None
        self._engine: trt.ICudaEngine | None = None
        self._context: trt.IExecutionContext | None = None
        self._buffers: dict[str, int] = {}
        self._capacity = 0
        self.max_batch = 0
        self.api: TrtApi | None = None
        self._runtime_config: object | None = None  # TensorRT-RTX IRuntimeConfig and IRuntimeCache
        self._runtime_cache: object | None = None

    @property
    def runtime_cache_path(self) -> Path:
        return self.engine_path.with_name(self.engine_path.name + RUNTIME_CACHE_SUFFIX)

    def _check_platform(self, api: TrtApi, sidecar: dict, layer: CudaLayer) -> None:
        """Rebuild the engine from its ONNX when it was built elsewhere and the ONNX is at hand, else raise."""
        from .trt_build import build_engine, platform_info

        platform = platform_info(api, layer)
        onnx_path = self.engine_path.parent / str(sidecar.get("onnx", ""))
        onnx_sha = sha256_file(onnx_path) if onnx_path.is_file() else None
        if not needs_rebuild(self.engine_path, sidecar, platform, onnx_sha, self.rebuild):
            return
        self.log(f"{self.engine_path.name}: built for another platform ({'; '.join(mismatches(sidecar, platform))}); "
                 f"rebuilding from {onnx_path.name} with {api.label}")
        build_engine(onnx_path, self.engine_path, self.spec, str(sidecar["precision"]),
                     rebuild_settings(sidecar, platform), self.log, api)
        self.runtime_cache_path.unlink(missing_ok=True)  # its kernels were for the old engine

    def _activate(self) -> None:
        from refinet_edge.kernels.layer import get_layer

        if not self.engine_path.is_file():
            raise RefinetError(f"{self.engine_path}: no such engine; make it with `refinet-edge build`")
        sidecar = read_sidecar(self.engine_path)
        built = str(sidecar["flavour"])
        api = self.api = load(built if is_installed(built) else "auto")  # the other flavour rebuilds it
        if TYPE_CHECKING:
            import tensorrt as trt
        else:
            trt = api.module
        layer = self._layer = self._layer or get_layer("cuda-python")
        self._check_platform(api, sidecar, layer)
        self.max_batch = engine_max_batch(read_sidecar(self.engine_path), self.spec)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = runtime = trt.Runtime(self._logger)  # both must outlive the engine
        plan = self.engine_path.read_bytes()
        if api.rtx:
            check_rtx_validity(api, runtime, plan, self.engine_path)
        engine = runtime.deserialize_cuda_engine(plan)
        if engine is None:
            raise RefinetError(f"{self.engine_path}: {api.label} could not deserialise the engine; rebuild it")
        self._check_io(api, engine)
        self._engine = engine
        if api.rtx:
            config, self._runtime_cache = rtx_runtime_config(engine, self.runtime_cache_path, self.log)
            self._runtime_config = config
            self._context = engine.create_execution_context(config)  # type: ignore[call-arg]  # RTX: JIT here
        else:
            self._context = engine.create_execution_context()
        if self._stream is None:
            self._stream = layer.create_stream()

    def _check_io(self, api: TrtApi, engine: trt.ICudaEngine) -> None:
        if TYPE_CHECKING:
            import tensorrt as trt
        else:
            trt = api.module

        names = {engine.get_tensor_name(i) for i in range(engine.num_io_tensors)}
        expected = {*self.spec.input_names, *self.spec.output_names}
        if names != expected:
            raise RefinetError(f"{self.engine_path}: engine tensors {sorted(names)} differ from the stage's "
                               f"{sorted(expected)}")
        for name in names:
            if engine.get_tensor_dtype(name) != trt.DataType.FLOAT:
                raise RefinetError(f"{self.engine_path}: tensor {name} is {engine.get_tensor_dtype(name)}, "
                                   f"expected float32 I/O")

    def _ensure_buffers(self, batch: int) -> None:
        if batch > self.max_batch:
            raise RefinetError(f"{self.engine_path.name}: batch {batch} exceeds the engine's maximum {self.max_batch}; "
                               f"rebuild with `refinet-edge build --max-batch {batch}` or split the batch")
        if batch <= self._capacity:
            return
        assert self._layer is not None and self._context is not None
        self._free_buffers()
        for name, nbytes in buffer_bytes(self.spec, batch).items():
            self._buffers[name] = self._layer.alloc(nbytes)
            if not self._context.set_tensor_address(name, self._buffers[name]):
                raise RefinetError(f"TensorRT refused the address of tensor {name}")
        self._capacity = batch

    def _infer(self, feed: Feed) -> Feed:
        batch = self.spec.check_feed(feed)
        self._ensure_buffers(batch)
        layer, context, stream = self._layer, self._context, self._stream
        assert layer is not None and context is not None and stream is not None
        for name, array in feed.items():
            if not context.set_input_shape(name, array.shape):
                raise RefinetError(f"TensorRT refused input {name} of shape {array.shape}")
            layer.copy_to_device(self._buffers[name], array, stream)
        if not context.execute_async_v3(stream):
            raise RefinetError(f"{self.engine_path.name}: execute_async_v3 failed (see TensorRT's log)")
        outputs = {name: np.empty((batch, *shape), dtype=np.float32) for name, shape in self.spec.outputs.items()}
        for name, out in outputs.items():
            layer.copy_to_host(out, self._buffers[name], stream)
        layer.synchronize(stream)
        return outputs

    def _free_buffers(self) -> None:
        for ptr in self._buffers.values():
            assert self._layer is not None
            self._layer.free(ptr)
        self._buffers, self._capacity = {}, 0

    def _deactivate(self) -> None:
        if self._layer is not None:
            self._layer.synchronize(self._stream or 0)
            self._free_buffers()
            if self._own_stream and self._stream is not None:
                self._layer.destroy_stream(self._stream)
                self._stream = None
        if self._runtime_config is not None:  # the kernels compiled so far, for the next run
            save_runtime_cache(self._runtime_config, self.runtime_cache_path)
        self._context = None  # context before its runtime config and cache, before engine, before runtime
        self._runtime_config = self._runtime_cache = None
        self._engine = None
        self._runtime = self._logger = None
        if self._own_layer and self._layer is not None:
            self._layer.close()
            self._layer = None
