"""Backends by name, in one table: which are installed, which to choose, and their runners and pipelines.

=============  ==============================================  =====================================
backend        runs                                            precisions
=============  ==============================================  =====================================
torch          ``{stage}.safetensors`` (``--checkpoints``)      fp32 (the reference)
onnxruntime    ``{stage}[.fp16|.int8].onnx`` (``--onnx-dir``)   fp32, fp16, int8 (CPU; CUDA if present)
tensorrt       ``{stage}.{precision}.engine`` (``--onnx-dir``)  fp32, fp16, int8 (GPU; ``build`` first)
=============  ==============================================  =====================================

:data:`BACKENDS` holds one :class:`Backend` per row: its availability check,
device, install hint, precisions, the runner of one stage
(:func:`make_runner`: ``compare``, ``calibrate``) and the loader of a whole
pipeline (:func:`choose_backend` picks one for ``live`` and ``serve``, the
fastest available by default; :func:`pipeline_from_onnx_dir` for the exported
ones). :mod:`refinet_edge.live.backends` uses this table.

Stages that failed calibrate's accuracy gate at the requested precision
(``precision_plan`` in the manifest) run at the precision the plan gives them,
and a note says so.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from refinet_edge.errors import RefinetError, did_you_mean
from refinet_edge.pipeline import STAGES, RefinementPipeline, config_from_preprocess

from .manifest import read_manifest, sha256_file, stage_file, stage_specs
from .precision import Precision
from .runners import OnnxrtRunner, StageRunner, TorchStageRunner

PRECISIONS = ("fp32", "fp16", "int8")
PREFERENCE = ("tensorrt", "onnxruntime", "torch")  # fastest first

Loaded = tuple[RefinementPipeline, list[str]]  # the pipeline and notes for the user
MakeRunner = Callable[[Path, dict, str, Precision, "Path | None"], StageRunner]  # (onnx_dir, manifest, stage, ...)


@dataclass(frozen=True)
class Backend:
    """A way to run the stages: availability check, loaders, precisions, and whether it needs an export."""

    name: str
    is_available: Callable[[], bool]
    load: Callable[[Path, str, int], Loaded]  # (directory, precision, CPU threads) -> pipeline, notes
    precisions: tuple[str, ...]
    device: Callable[[], str]
    install_hint: str
    exported: bool  # reads --onnx-dir (export / build output) rather than --checkpoints
    runner: MakeRunner  # one stage: (onnx_dir, manifest, stage, precision, checkpoints) -> runner


def _installed(module: str) -> Callable[[], bool]:
    """Importable without importing it; a bare namespace folder (type stubs, placeholders) does not count."""
    def check() -> bool:
        spec = importlib.util.find_spec(module)
        return spec is not None and spec.origin is not None
    return check


def _torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _torch_load(directory: Path, precision: str, threads: int) -> Loaded:
    import torch

    device = _torch_device()
    if device == "cpu":
        torch.set_num_threads(threads)
    return RefinementPipeline.from_dir(directory, device=device), []


def _exported_load(backend: str) -> Callable[[Path, str, int], Loaded]:
    def load(directory: Path, precision: str, threads: int) -> Loaded:
        pipeline, notes = pipeline_from_onnx_dir(directory, backend, precision)
        for runner in pipeline.runners.values():  # ONNX Runtime sessions open on first use, with these threads
            if hasattr(runner, "threads") and not getattr(runner, "is_active", True):
                runner.threads = threads
        return pipeline, notes
    return load


def _ort_device() -> str:
    import onnxruntime as ort

    return "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"


def _torch_runner(onnx_dir: Path, manifest: dict, stage: str, precision: Precision,
                  checkpoints: Path | None) -> StageRunner:
    if precision is not Precision.FP32:
        raise RefinetError(f"the torch backend is the fp32 reference; for {precision.value} use onnxruntime "
                           f"or tensorrt")
    return TorchStageRunner(torch_checkpoint(manifest, stage, checkpoints))


def _onnxrt_runner(onnx_dir: Path, manifest: dict, stage: str, precision: Precision,
                   checkpoints: Path | None) -> StageRunner:
    return OnnxrtRunner(stage_file(onnx_dir, manifest, stage, precision), stage_specs(manifest)[stage])


def _trt_runner(onnx_dir: Path, manifest: dict, stage: str, precision: Precision,
                checkpoints: Path | None) -> StageRunner:
    from .trt_runner import TrtRunner

    return TrtRunner(Path(onnx_dir) / precision.engine_name(stage), stage_specs(manifest)[stage])


BACKENDS: dict[str, Backend] = {
    "torch": Backend("torch", _installed("torch"), _torch_load, ("fp32",), _torch_device,
                     "pip install 'refinet-edge[cpu]' (or your own PyTorch build)", exported=False,
                     runner=_torch_runner),
    "onnxruntime": Backend("onnxruntime", _installed("onnxruntime"), _exported_load("onnxruntime"), PRECISIONS,
                           _ort_device, "pip install 'refinet-edge[onnx]'", exported=True, runner=_onnxrt_runner),
    "tensorrt": Backend("tensorrt", _installed("tensorrt"), _exported_load("tensorrt"), PRECISIONS,
                        lambda: "cuda", "pip install 'refinet-edge[tensorrt]' (Jetson: JetPack's TensorRT)",
                        exported=True, runner=_trt_runner),
}


def parse_backend(name: str) -> str:
    if name not in BACKENDS:
        raise RefinetError(f"unknown backend {name!r}; backends are {', '.join(BACKENDS)}"
                           f"{did_you_mean(name, list(BACKENDS))}")
    return name


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


def stage_precisions(manifest: dict, precision: Precision, stages: tuple[str, ...]) -> tuple[dict, list[str]]:
    """Per stage, the precision to run, and notes where calibrate's accuracy gate lowered the request."""
    plan = manifest.get("precision_plan", {}).get(precision.value, {})
    chosen, notes = {}, []
    for stage in stages:
        chosen[stage] = Precision.parse(plan.get(stage, precision.value), "precision_plan")
        if chosen[stage] is not precision:
            notes.append(f"{stage}: {precision.value} not kept by calibrate's accuracy gate (failed or undecided: "
                         f"calibration.{precision.value}.json); running {chosen[stage].value}")
    return chosen, notes


def torch_checkpoint(manifest: dict, stage: str, checkpoints: Path | None) -> Path:
    """The checkpoint an export came from (checked by hash), or ``checkpoints/{stage}.safetensors``."""
    directory = Path(checkpoints or manifest.get("checkpoints", ""))
    path = directory / f"{stage}.safetensors"
    if not path.is_file():
        raise RefinetError(f"{path}: not found; pass --checkpoints DIR with the checkpoints the ONNX was exported from")
    expected = manifest["stages"][stage].get("checkpoint_sha256")
    if expected and sha256_file(path) != expected:
        raise RefinetError(f"{path}: sha256 differs from the checkpoint the ONNX was exported from "
                           f"({expected[:12]}...); pass --checkpoints with the original or re-export")
    return path


def make_runner(backend: str, onnx_dir: Path, manifest: dict, stage: str, precision: Precision,
                checkpoints: Path | None = None) -> StageRunner:
    """The runner of ``stage`` on ``backend`` at ``precision``."""
    return BACKENDS[parse_backend(backend)].runner(onnx_dir, manifest, stage, precision, checkpoints)


def pipeline_from_onnx_dir(onnx_dir: str | Path, backend: str = "onnxruntime", precision: str | Precision = "fp32",
                           stages: tuple[str, ...] = STAGES, checkpoints: Path | None = None
                           ) -> tuple[RefinementPipeline, list[str]]:
    """A :class:`RefinementPipeline` whose stages run on ``backend``; also the notes to show the user."""
    onnx_dir = Path(onnx_dir)
    manifest = read_manifest(onnx_dir)
    wanted = tuple(s for s in stages if s in manifest["stages"])
    if not wanted:
        raise RefinetError(f"{onnx_dir}: the manifest holds none of the stages {', '.join(stages)}")
    chosen, notes = stage_precisions(manifest, Precision.parse(precision), wanted)
    runners = {s: make_runner(backend, onnx_dir, manifest, s, chosen[s], checkpoints) for s in wanted}
    pre = {s: manifest["stages"][s]["preprocess"] for s in wanted}
    pipeline = RefinementPipeline(runners, config_from_preprocess(pre))
    return pipeline, notes


def evaluate_pipeline(backend: str, onnx_dir: Path | None, precision: str, stages: str,
                      checkpoints: Path | None = None) -> tuple[RefinementPipeline, dict, list[str]]:
    """``evaluate --backend/--onnx-dir/--precision``: the pipeline, its report entry per stage, notes."""
    backend = parse_backend(backend)
    if onnx_dir is None:
        raise RefinetError(f"--backend {backend} --precision {precision} runs exported stages: add --onnx-dir DIR "
                           f"(made by `refinet-edge export`)")
    wanted = STAGES if stages == "all" else tuple(s.strip() for s in stages.split(","))
    for stage in wanted:
        if stage not in STAGES:
            raise RefinetError(f"--stages: unknown stage {stage!r}; valid: all or some of {', '.join(STAGES)}")
    pipeline, notes = pipeline_from_onnx_dir(onnx_dir, backend, precision, wanted, checkpoints)
    info = {s: {"backend": backend, "runner": getattr(r, "name", "?")} for s, r in pipeline.runners.items()}
    return pipeline, info, notes
