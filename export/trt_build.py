"""TensorRT engines from the exported ONNX, through the Python API of either flavour (:mod:`.trt_api`).

Close to NVIDIA's samples: ``Builder`` -> strongly typed ``INetworkDefinition``
-> ``OnnxParser.parse_from_file`` -> ``IBuilderConfig`` (workspace pool limit,
one optimisation profile for the batch axis, a progress monitor) ->
``build_serialized_network``. No precision flags: TensorRT 11 and
TensorRT-RTX have none, and a strongly typed network takes its precision from
the graph, so ``--precision`` picks the fp32, fp16 or Q/DQ int8 ONNX.

Where the flavours differ: TensorRT 10 needs the ``STRONGLY_TYPED`` creation
flag (11 accepts and ignores it; TensorRT-RTX is always strongly typed and is
given 0); TensorRT keeps a timing cache beside the engines and builds for the
GPU it runs on, while TensorRT-RTX has no timing cache, builds without a GPU and
takes compute-capability targets (``BuildSettings.targets``; its kernels are
specialised at first run and kept in a runtime cache beside the engine, see
:mod:`.trt_runner`). The ``tensorrt`` branches are type-checked against
``tensorrt-stubs`` (tests/test_trt_typecheck.py); the ``tensorrt_rtx`` ones run
for real in CI (tests/test_trt_rtx_build.py).

Importing this module needs no TensorRT. Engines are tied to the flavour,
version and GPU (or RTX targets): see :mod:`.engine_info` for the sidecar.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refinet_edge.atomic import atomic_path
from refinet_edge.errors import RefinetError

from .engine_info import BuildSettings, jetpack_release, make_sidecar, profile_shapes, write_sidecar
from .manifest import sha256_file
from .specs import StageSpec
from .trt_api import TrtApi, installed_flavours, load, target_member

if TYPE_CHECKING:
    import tensorrt as trt

    from refinet_edge.kernels.layer import CudaLayer

TIMING_CACHE = "timing.cache"
LogFn = Callable[[str], None]


def is_available() -> bool:
    """True when a TensorRT of either flavour can be imported (no GPU is touched)."""
    return bool(installed_flavours())


def platform_info(api: TrtApi, layer: CudaLayer | None = None, gpu: bool = True) -> dict:
    """Flavour and version, and with ``gpu``: GPU name and compute capability, CUDA driver version, JetPack/L4T
    release (``gpu=False``, for a TensorRT-RTX build: those are null and no GPU is touched)."""
    from refinet_edge.kernels.layer import get_layer

    info: dict[str, Any] = {"flavour": api.flavour, "tensorrt": api.version}
    if not gpu:
        return {**info, "cuda": None, "gpu": None, "compute_capability": None, "jetpack": jetpack_release()}
    if layer is None:
        with get_layer("cuda-python") as own:
            return platform_info(api, own)
    arch, name = layer.arch, layer.device_name
    digits = arch.removeprefix("sm_")
    return {**info, "cuda": cuda_driver_version(), "gpu": name, "compute_capability": f"{digits[:-1]}.{digits[-1]}",
            "jetpack": jetpack_release()}


def cuda_driver_version() -> str:
    """The CUDA version the driver supports, e.g. ``"12.6"``."""
    from cuda.bindings import driver

    err, version = driver.cuDriverGetVersion()
    if err != driver.CUresult.CUDA_SUCCESS:
        raise RefinetError(f"cuDriverGetVersion failed: {err}")
    return f"{version // 1000}.{version % 1000 // 10}"


def _progress_monitor(api: TrtApi, log: LogFn) -> trt.IProgressMonitor:
    """An ``IProgressMonitor`` that logs each top-level build phase as it finishes, with its time."""
    if TYPE_CHECKING:
        import tensorrt as trt
    else:
        trt = api.module

    class Progress(trt.IProgressMonitor):  # TensorRT calls it from several threads
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.started: dict[str, float] = {}
            self.lock = threading.Lock()

        def phase_start(self, phase_name: str, parent_phase: str, num_steps: int) -> None:
            with self.lock:
                self.started[phase_name] = time.perf_counter()

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            with self.lock:
                seconds = time.perf_counter() - self.started.pop(phase_name, time.perf_counter())
                top_level = not self.started
            if top_level:
                log(f"  {phase_name}: {seconds:.1f} s")

    return Progress()


def quiet_logger(api: TrtApi, log: LogFn) -> trt.ILogger:
    """A TensorRT logger that passes warnings to ``log`` and keeps errors (raised as one :class:`RefinetError`
    by the caller, instead of TensorRT printing them to stderr)."""
    if TYPE_CHECKING:
        import tensorrt as trt
    else:
        trt = api.module

    class Quiet(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
            if severity <= trt.ILogger.Severity.ERROR:
                self.errors.append(msg)
            elif severity == trt.ILogger.Severity.WARNING:
                log(f"  {api.label} warning: {msg}")

    return Quiet()


def parser_errors(parser: trt.OnnxParser) -> str:
    """The parser's errors, each with the ONNX node's name and operator when it gives them."""
    found = []
    for i in range(parser.num_errors):
        error = parser.get_error(i)
        node, op = error.node_name(), error.node_operator()
        if op and not parser.supports_operator(op):
            found.append(f"node {node}: operator {op} is not supported (TensorRT's parser: {error.desc()})")
        else:
            found.append(f"{f'node {node} ({op}): ' if node else ''}{error.desc()}")
    return "; ".join(found)


def parse_onnx(api: TrtApi, builder: trt.Builder, onnx_path: Path, logger: trt.ILogger,
               check: bool = True) -> tuple[trt.INetworkDefinition, trt.OnnxParser]:
    """The strongly typed network parsed from ``onnx_path`` (and its parser, which must outlive it); with
    ``check``, a parser error raises one :class:`RefinetError` naming the file, node and operator."""
    if TYPE_CHECKING:
        import tensorrt as trt
    else:
        trt = api.module
    flags = 0 if api.rtx else 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)  # RTX: always strong
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)) and check:
        raise RefinetError(f"{onnx_path}: {api.label}'s ONNX parser failed: {parser_errors(parser) or 'no message'}")
    return network, parser


def _config(api: TrtApi, builder: trt.Builder, spec: StageSpec, settings: BuildSettings, cache_path: Path,
            monitor: trt.IProgressMonitor) -> trt.IBuilderConfig:
    if TYPE_CHECKING:
        import tensorrt as trt
    else:
        trt = api.module
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_mb << 20)
    profile = builder.create_optimization_profile()
    for name, shapes in profile_shapes(spec, settings).items():
        profile.set_shape(name, trt.Dims(shapes["min"]), trt.Dims(shapes["opt"]), trt.Dims(shapes["max"]))
    config.add_optimization_profile(profile)
    if api.rtx:
        _set_rtx_targets(api, config, settings.targets)
    else:  # TensorRT-RTX has no timing cache (set_timing_cache only warns there): TensorRT only
        cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    config.progress_monitor = monitor
    return config


def _set_rtx_targets(api: TrtApi, config: Any, targets: tuple[str, ...]) -> None:
    """TensorRT-RTX build targets (``IBuilderConfig.num_compute_capabilities`` / ``set_compute_capability``, not
    in TensorRT's API, hence untyped); none: its default portable set, built without a GPU."""
    if not targets:
        return
    config.num_compute_capabilities = len(targets)
    for index, cc in enumerate(targets):
        config.set_compute_capability(getattr(api.module.ComputeCapability, target_member(cc)), index)


@dataclass
class BuiltEngine:
    """A serialised engine in memory, its sidecar and (TensorRT) the updated timing cache, not yet written."""

    engine_path: Path
    plan: bytes
    sidecar: dict
    timing_cache: bytes | None

    def write(self) -> dict:
        """Write the engine, then its sidecar (and the timing cache), each atomically; returns the sidecar."""
        with atomic_path(self.engine_path) as tmp:
            tmp.write_bytes(self.plan)
        if self.timing_cache is not None:
            with atomic_path(self.engine_path.parent / TIMING_CACHE) as tmp:
                tmp.write_bytes(self.timing_cache)
        write_sidecar(self.engine_path, self.sidecar)
        return self.sidecar


def build_plan(onnx_path: Path, engine_path: Path, spec: StageSpec, precision: str, settings: BuildSettings,
               log: LogFn = print, api: TrtApi | None = None) -> BuiltEngine:
    """Parse and build ``onnx_path`` in memory (nothing is written; :meth:`BuiltEngine.write` does that).

    ``api``: the flavour to build with (default: :func:`~.trt_api.load` ``("auto")``)."""
    api = api or load("auto")
    if settings.targets and not api.rtx:
        raise RefinetError(f"--target {','.join(settings.targets)}: {api.label} builds for the GPU it runs on; "
                           f"build targets are a TensorRT-RTX option (did you mean --runtime tensorrt-rtx?)")
    platform = platform_info(api, gpu=not api.rtx)
    if TYPE_CHECKING:
        import tensorrt as trt
    else:
        trt = api.module
    start = time.perf_counter()
    logger = quiet_logger(api, log)
    builder = trt.Builder(logger)
    network, _parser = parse_onnx(api, builder, onnx_path, logger)
    cache_path = engine_path.parent / TIMING_CACHE
    monitor = _progress_monitor(api, log)  # must outlive the build (TensorRT docs); keep our own reference
    config = _config(api, builder, spec, settings, cache_path, monitor)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        errors = "; ".join(getattr(logger, "errors", [])) or "no message"
        raise RefinetError(f"{onnx_path}: {api.label} could not build an engine: {errors}")
    timing = None if api.rtx else bytes(memoryview(config.get_timing_cache().serialize()))
    sidecar = make_sidecar(spec.stage, precision, onnx_path, sha256_file(onnx_path), platform,
                           profile_shapes(spec, settings), settings, time.perf_counter() - start)
    return BuiltEngine(engine_path, bytes(memoryview(plan)), sidecar, timing)


def build_engine(onnx_path: Path, engine_path: Path, spec: StageSpec, precision: str, settings: BuildSettings,
                 log: LogFn = print, api: TrtApi | None = None) -> dict:
    """Build ``onnx_path`` into ``engine_path`` (atomically) and write its sidecar; returns the sidecar.
    Nothing is written when parsing or building fails."""
    return build_plan(onnx_path, engine_path, spec, precision, settings, log, api).write()
