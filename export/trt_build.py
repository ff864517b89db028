"""TensorRT engines from the exported ONNX, through TensorRT's Python API (10.x and 11.x).

Close to NVIDIA's samples: ``Builder`` -> strongly typed ``INetworkDefinition``
-> ``OnnxParser.parse_from_file`` -> ``IBuilderConfig`` (workspace pool limit,
one optimisation profile for the batch axis, a timing cache kept beside the
engines, a progress monitor) -> ``build_serialized_network``. No precision
flags: TensorRT 11 removed ``BuilderFlag.FP16``/``INT8`` and implicit INT8
calibration, and a strongly typed network takes its precision from the graph,
so ``--precision`` picks the fp32, fp16 or Q/DQ int8 ONNX. The
``STRONGLY_TYPED`` creation flag is required on 10.x and accepted (ignored,
strong typing being always on) on 11.x.

Importing this module needs no TensorRT; :func:`require_tensorrt` says how to
install it. Engines are tied to the GPU and TensorRT version: see
:mod:`.engine_info` for the sidecar that records both.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from refinet_edge.atomic import atomic_path
from refinet_edge.errors import RefinetError

from .engine_info import BuildSettings, jetpack_release, make_sidecar, profile_shapes, write_sidecar
from .manifest import sha256_file
from .specs import StageSpec

if TYPE_CHECKING:
    import tensorrt as trt

    from refinet_edge.kernels.layer import CudaLayer

INSTALL_HINT = ("TensorRT is not installed: on an x86-64 machine with an NVIDIA GPU run "
                "`pip install 'refinet-edge[tensorrt]'` (the tensorrt and cuda-python wheels); on a Jetson use the "
                "TensorRT that JetPack ships (`sudo apt install python3-libnvinfer`, JetPack 6 = TensorRT 10)")
TIMING_CACHE = "timing.cache"
LogFn = Callable[[str], None]


def is_available() -> bool:
    """True when the ``tensorrt`` package can be imported (no GPU is touched)."""
    try:
        spec = importlib.util.find_spec("tensorrt")
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin is not None  # the stubs alone make a namespace package, origin None


def require_tensorrt() -> str:
    """TensorRT's version, or a one-line :class:`RefinetError` saying how to install it."""
    if not is_available():
        raise RefinetError(INSTALL_HINT)
    try:
        import tensorrt as trt
    except ImportError as exc:  # the PyPI placeholder or missing CUDA libraries
        raise RefinetError(f"`import tensorrt` failed ({exc}); {INSTALL_HINT}") from None
    version = getattr(trt, "__version__", None)
    if version is None or not hasattr(trt, "Builder"):
        raise RefinetError(f"the `tensorrt` package here holds no TensorRT ({trt.__file__}); {INSTALL_HINT}")
    return str(version)


def platform_info(trt_version: str, layer: CudaLayer | None = None) -> dict:
    """TensorRT version, GPU name and compute capability, CUDA driver version, JetPack/L4T release."""
    from refinet_edge.kernels.layer import get_layer

    if layer is None:
        with get_layer("cuda-python") as own:
            return platform_info(trt_version, own)
    arch, gpu = layer.arch, layer.device_name
    digits = arch.removeprefix("sm_")
    return {"tensorrt": trt_version, "cuda": cuda_driver_version(), "gpu": gpu,
            "compute_capability": f"{digits[:-1]}.{digits[-1]}", "jetpack": jetpack_release()}


def cuda_driver_version() -> str:
    """The CUDA version the driver supports, e.g. ``"12.6"``."""
    from cuda.bindings import driver

    err, version = driver.cuDriverGetVersion()
    if err != driver.CUresult.CUDA_SUCCESS:
        raise RefinetError(f"cuDriverGetVersion failed: {err}")
    return f"{version // 1000}.{version % 1000 // 10}"


def _progress_monitor(log: LogFn) -> trt.IProgressMonitor:
    """An ``IProgressMonitor`` that logs each top-level build phase as it finishes, with its time."""
    import tensorrt as trt

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


def _parse(builder: trt.Builder, onnx_path: Path, logger: trt.ILogger) -> tuple[trt.INetworkDefinition, trt.OnnxParser]:
    """The strongly typed network parsed from ``onnx_path`` (and its parser, which must outlive it)."""
    import tensorrt as trt

    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RefinetError(f"{onnx_path.name}: TensorRT's ONNX parser failed: {errors or 'no message'}")
    return network, parser


def _config(builder: trt.Builder, spec: StageSpec, settings: BuildSettings, cache_path: Path,
            monitor: trt.IProgressMonitor) -> trt.IBuilderConfig:
    import tensorrt as trt

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_mb << 20)
    profile = builder.create_optimization_profile()
    for name, shapes in profile_shapes(spec, settings).items():
        profile.set_shape(name, trt.Dims(shapes["min"]), trt.Dims(shapes["opt"]), trt.Dims(shapes["max"]))
    config.add_optimization_profile(profile)
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    config.progress_monitor = monitor
    return config


def build_engine(onnx_path: Path, engine_path: Path, spec: StageSpec, precision: str, settings: BuildSettings,
                 log: LogFn = print) -> dict:
    """Build ``onnx_path`` into ``engine_path`` (atomically) and write its sidecar; returns the sidecar."""
    platform = platform_info(require_tensorrt())
    import tensorrt as trt

    start = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = _parse(builder, onnx_path, logger)
    cache_path = engine_path.parent / TIMING_CACHE
    monitor = _progress_monitor(log)  # must outlive the build (TensorRT docs); keep our own reference
    config = _config(builder, spec, settings, cache_path, monitor)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RefinetError(f"{onnx_path.name}: TensorRT could not build an engine (see its log above)")
    with atomic_path(engine_path) as tmp:
        tmp.write_bytes(memoryview(plan))
    with atomic_path(cache_path) as tmp:
        tmp.write_bytes(memoryview(config.get_timing_cache().serialize()))
    sidecar = make_sidecar(spec.stage, precision, onnx_path, sha256_file(onnx_path), platform,
                           profile_shapes(spec, settings), settings, time.perf_counter() - start)
    write_sidecar(engine_path, sidecar)
    return sidecar
