"""The pipelines a benchmark compares: one per backend x precision x points-per-joint.

==============  ===================================  =================================================
backend         runs                                 precisions
==============  ===================================  =================================================
``torch``       PyTorch eager on the CPU             fp32 (the reference)
``torch-cuda``  PyTorch eager on CUDA (when present)  fp32
``onnxruntime`` the export's ONNX (CPU provider)     fp32, fp16 and int8 (Q/DQ ONNX from ``calibrate``)
``tensorrt``    the export's engines                 fp32, fp16, int8 (needs ``refinet-edge build``)
==============  ===================================  =================================================

ONNX files come from the export/calibration code (:mod:`refinet_edge.export`,
:mod:`refinet_edge.calibration`): an existing export directory is used as is;
without one, :func:`ensure_export` makes it (export + parity gate, then the
fp16/int8 sets with their accuracy gates) on small synthetic sets.

Points per joint (N of stage C): the shipped N runs the shipped weights. Any
other N runs a pointcloud network of the same widths with *untrained* weights
(seeded, identical for torch and onnxruntime): its latency is real, its
accuracy is meaningless and not reported. Only fp32 runs for such N
(calibrating untrained weights means nothing).
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from refinet_edge.errors import RefinetError
from refinet_edge.models import PointCloudNetConfig
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline, TorchRunner

BACKENDS = ("torch", "torch-cuda", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")
LogFn = Callable[[str], None]


@dataclass
class Built:
    """A pipeline ready to time, or why there is none (``reason``)."""

    pipeline: RefinementPipeline | None = None
    sync: Callable[[], None] | None = None
    trained: bool = True
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)
    reason: str | None = None
    stage_precision: dict[str, str] = field(default_factory=dict)  # what each stage runs (after the plan)


@dataclass
class Context:
    """Where weights, exports and scratch files live for one benchmark run."""

    weights: Path = WEIGHTS_DIR
    onnx_dir: Path | None = None  # an export directory; made under work/onnx when None
    work: Path = Path("runs/bench")
    log: LogFn = print

    def shipped_points(self) -> int:
        from refinet_edge.checkpoint import read_stage_info

        config = read_stage_info(self.weights / "pointcloud.safetensors").model_config
        assert isinstance(config, PointCloudNetConfig)
        return config.num_points


    def refinement_line(self) -> str:
        """How the shipped stages refine, as a report line: stage C passes, the skeleton's test-time flip and
        its second-pass gate."""
        from refinet_edge.checkpoint import read_stage_info

        points = read_stage_info(self.weights / "pointcloud.safetensors").preprocess.get("passes", 1)
        skeleton_info = read_stage_info(self.weights / "skeleton.safetensors")
        flip = "on" if getattr(skeleton_info.model_config, "flip_test", False) else "off"
        gate = skeleton_info.preprocess.get("second_pass_m", 0.0)
        flip += f"; second pass {gate:g} m" if gate else "; second pass off"
        from refinet_edge.pipeline import WEIGHTS_DIR

        shipped = self.weights.resolve() == WEIGHTS_DIR.resolve()
        source = "the shipped weights" if shipped else f"the checkpoints in {self.weights}"
        return f"stage C passes {points}; skeleton test-time flip {flip} (from {source})"


def untrained_checkpoint(ctx: Context, points: int) -> Path:
    """A pointcloud checkpoint with N = ``points`` and seeded random weights (made once per N)."""
    import torch

    from refinet_edge.checkpoint import load_stage, save_stage
    from refinet_edge.models import build_model

    path = ctx.work / f"untrained_points_{points}" / "pointcloud.safetensors"
    if path.exists():
        return path
    _, info = load_stage(ctx.weights / "pointcloud.safetensors")
    assert isinstance(info.model_config, PointCloudNetConfig)
    config = replace(info.model_config, num_points=points)
    torch.manual_seed(0)
    model = build_model("pointcloud", config).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_stage(path, "pointcloud", model, config, preprocess={**info.preprocess, "num_points": points},
               extra={"untrained": True, "note": "benchmark latency only"}, dtype="fp32")
    return path


def _with_points(pipeline: RefinementPipeline, runner, points: int) -> RefinementPipeline:
    pipeline.runners["pointcloud"] = runner
    pipeline.config = replace(pipeline.config, points=replace(pipeline.config.points, num_points=points))
    return pipeline


def build_torch(ctx: Context, precision: str, points: int, device: str) -> Built:
    if precision != "fp32":
        return Built(reason=f"torch is the fp32 reference; {precision} runs on onnxruntime or tensorrt")
    if importlib.util.find_spec("torch") is None:
        return Built(reason="PyTorch not installed (pip install '.[cpu]')")
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        return Built(reason="no CUDA device visible to PyTorch")
    pipeline = RefinementPipeline.from_dir(ctx.weights, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else None
    fp32 = {stage: "fp32" for stage in pipeline.runners}
    if points == ctx.shipped_points():
        return Built(pipeline, sync, device=device, stage_precision=fp32)
    from refinet_edge.checkpoint import load_stage

    model, _ = load_stage(untrained_checkpoint(ctx, points))
    return Built(_with_points(pipeline, TorchRunner(model.to(device)), points), sync, trained=False, device=device,
                 stage_precision=fp32)


def planned_precisions(onnx_dir: Path, precision: str, stages) -> dict[str, str]:
    """What each stage of an export runs at ``precision``: calibrate's ``precision_plan`` (a stage that failed
    its accuracy gate runs its fallback), as the report must say."""
    from refinet_edge.export.backends import stage_precisions
    from refinet_edge.export.manifest import read_manifest
    from refinet_edge.export.precision import Precision

    chosen, _ = stage_precisions(read_manifest(onnx_dir), Precision.parse(precision), tuple(stages))
    return {stage: p.value for stage, p in chosen.items()}


def ensure_export(ctx: Context, precision: str) -> Path:
    """The export directory, holding ``precision``'s ONNX set (made with export/calibration when missing)."""
    from refinet_edge.export.inputs import frames_from
    from refinet_edge.export.manifest import MANIFEST, read_manifest

    onnx_dir = ctx.onnx_dir or ctx.work / "onnx"
    cached = ctx.onnx_dir is None and (onnx_dir / MANIFEST).is_file()
    if cached and _stale(read_manifest(onnx_dir), ctx.weights, onnx_dir):
        ctx.log(f"bench: {onnx_dir} was exported from other weights than {ctx.weights} or older model, export or "
                f"calibration code; exporting again")
        shutil.rmtree(onnx_dir)
    if not (onnx_dir / MANIFEST).is_file():
        if ctx.onnx_dir is not None:
            raise RefinetError(f"--onnx {onnx_dir}: no {MANIFEST}; make it with `refinet-edge export`")
        from refinet_edge.export.run_export import export_all

        ctx.log(f"bench: exporting the shipped stages to {onnx_dir} (once)")
        export_all(ctx.weights, onnx_dir, frames_from(None, "train", 16, 0), log=ctx.log)
    manifest = read_manifest(onnx_dir)
    if precision != "fp32" and precision not in manifest.get("precision_plan", {}):
        from refinet_edge.calibration.run import calibrate

        ctx.log(f"bench: making the {precision} ONNX set in {onnx_dir} (once, calibrate's defaults: the same "
                f"precision plan as `refinet-edge calibrate`)")
        calibrate(onnx_dir, precision, log=ctx.log)
    return onnx_dir


def graph_sources() -> list[Path]:
    """The source files that shape the cached ONNX sets: the stage modules (with their export-time rewrites), the
    exporter (with its BN folding), the fp16/int8 conversion (which nodes stay float, where Q/DQ go) and the
    accuracy gate (which stages run which precision)."""
    from refinet_edge.calibration import convert, gate
    from refinet_edge.export import fold, onnx_export
    from refinet_edge.models import __file__ as models_init

    return [*Path(models_init).parent.glob("*.py"), Path(onnx_export.__file__), Path(fold.__file__),
            Path(convert.__file__), Path(gate.__file__)]


def _stale(manifest: dict, weights: Path, onnx_dir: Path | None = None) -> bool:
    """True when the cached export's checkpoints are not the ones in ``weights`` (compared by sha256),
    or when the stage modules' or the exporter's source is newer than the export (a graph change with the
    same weights)."""
    from refinet_edge.export.manifest import MANIFEST, sha256_file

    for stage, entry in manifest.get("stages", {}).items():
        path = weights / f"{stage}.safetensors"
        if not path.is_file() or entry.get("checkpoint_sha256") != sha256_file(path):
            return True
    if onnx_dir is not None:
        exported = (onnx_dir / MANIFEST).stat().st_mtime
        return any(src.stat().st_mtime > exported for src in graph_sources())
    return False


def build_onnxruntime(ctx: Context, precision: str, points: int) -> Built:
    if importlib.util.find_spec("onnxruntime") is None:
        return Built(reason="onnxruntime not installed (pip install '.[onnx]')")
    shipped = points == ctx.shipped_points()
    if not shipped and precision != "fp32":
        return Built(reason=f"points {points} has untrained weights: only fp32 (calibration needs trained weights)")
    from refinet_edge.export.backends import pipeline_from_onnx_dir

    onnx_dir = ensure_export(ctx, precision)
    pipeline, notes = pipeline_from_onnx_dir(onnx_dir, "onnxruntime", precision)
    ran = planned_precisions(onnx_dir, precision, pipeline.runners)
    if shipped:
        return Built(pipeline, notes=notes, stage_precision=ran)
    from refinet_edge.checkpoint import read_stage_info
    from refinet_edge.export.onnx_export import export_stage
    from refinet_edge.export.runners import OnnxrtRunner
    from refinet_edge.export.specs import stage_spec

    checkpoint = untrained_checkpoint(ctx, points)
    onnx_path = checkpoint.parent / "pointcloud.onnx"
    if not onnx_path.exists():
        export_stage(checkpoint, checkpoint.parent)
    spec = stage_spec("pointcloud", read_stage_info(checkpoint).model_config)
    return Built(_with_points(pipeline, OnnxrtRunner(onnx_path, spec), points), trained=False, notes=notes,
                 stage_precision={**ran, "pointcloud": "fp32"})


def build_tensorrt(ctx: Context, precision: str, points: int) -> Built:
    from refinet_edge.export.trt_build import is_available  # TensorRT 10/11 or TensorRT-RTX; stubs do not count

    if not is_available():
        return Built(reason="tensorrt not installed (pip install '.[tensorrt]', or '.[tensorrt-rtx]' on RTX GPUs; "
                            "on Jetson use JetPack's)")
    if points != ctx.shipped_points():
        return Built(reason=f"points {points}: engines exist only for the shipped N={ctx.shipped_points()}")
    onnx_dir = ctx.onnx_dir or ctx.work / "onnx"
    missing = [s for s in ("patch", "skeleton", "pointcloud") if not (onnx_dir / f"{s}.{precision}.engine").exists()]
    if missing:
        return Built(reason=f"no {', '.join(f'{s}.{precision}.engine' for s in missing)} in {onnx_dir}; "
                            f"build them with `refinet-edge build` and pass --onnx {onnx_dir}")
    from refinet_edge.export.backends import pipeline_from_onnx_dir

    pipeline, notes = pipeline_from_onnx_dir(onnx_dir, "tensorrt", precision)
    return Built(pipeline, notes=notes, device="cuda",
                 stage_precision=planned_precisions(onnx_dir, precision, pipeline.runners))


def build(ctx: Context, backend: str, precision: str, points: int) -> Built:
    """The pipeline of one variant, or a :class:`Built` with ``reason`` saying why it cannot run here."""
    try:
        if backend in ("torch", "torch-cuda"):
            return build_torch(ctx, precision, points, "cuda" if backend == "torch-cuda" else "cpu")
        if backend == "onnxruntime":
            return build_onnxruntime(ctx, precision, points)
        return build_tensorrt(ctx, precision, points)
    except RefinetError as exc:
        return Built(reason=str(exc))
