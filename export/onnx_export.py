"""PyTorch stage checkpoints -> one simplified, checked ONNX per stage, with provenance.

Each ``{stage}.safetensors`` becomes ``{stage}.onnx``: exported with the
TorchScript-based exporter (``dynamo=False``) at opset 17 by default, a dynamic
batch axis ``batch`` on every input and output, from the export-time rewrite
of each module (:mod:`refinet_edge.models.deploy`: the same function in fewer
graph nodes), simplified with onnxslim,
BatchNormalization folded into the Gemm before it (:mod:`export.fold`),
``onnx.checker.check_model(full_check=True)`` clean, and written atomically.
Provenance goes into ``metadata_props`` (keys ``refinet_edge.*``, see
:func:`provenance_props`) and the set gets a ``manifest.json``.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refinet_edge import __version__
from refinet_edge.atomic import atomic_path
from refinet_edge.errors import RefinetError

from .fold import fold_batch_norms
from .precision import Precision
from .specs import BATCH_AXIS, StageSpec, spec_to_dict, stage_spec

DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 13, 20  # per-channel Q/DQ needs 13; TensorRT 10.x parses up to 20 (11.x: 25)
META_PREFIX = "refinet_edge."


@dataclass(frozen=True)
class ExportedStage:
    stage: str
    path: Path
    spec: StageSpec
    preprocess: dict
    checkpoint_sha256: str
    seconds: float


def check_opset(opset: int) -> int:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise RefinetError(f"--opset must be between {MIN_OPSET} and {MAX_OPSET} (TensorRT 10 and 11 both parse it); "
                           f"got {opset}; the default is {DEFAULT_OPSET}")
    return opset


def provenance_props(stage: str, precision: Precision, opset: int, checkpoint, spec: StageSpec) -> dict[str, str]:
    """The ``metadata_props`` of an exported stage (every value a string)."""
    return {
        "stage": stage, "precision": precision.value, "opset": str(opset),
        "version": __version__, "checkpoint_sha256": checkpoint.sha256,
        "preprocess": json.dumps(checkpoint.preprocess, sort_keys=True),
        "model_config": json.dumps(checkpoint.model_config.to_dict(), sort_keys=True),
        "spec": json.dumps(spec_to_dict(spec)),
    }


def set_metadata(model, props: dict[str, str]) -> None:
    """Replace the ``refinet_edge.*`` entries of ``model.metadata_props`` with ``props``."""
    keep = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith(META_PREFIX)]
    del model.metadata_props[:]
    for key, value in [*keep, *((META_PREFIX + k, v) for k, v in props.items())]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(model) -> dict[str, str]:
    """The ``refinet_edge.*`` metadata of a loaded ONNX model, without the prefix."""
    return {p.key[len(META_PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(META_PREFIX)}


def _example_inputs(spec: StageSpec, batch: int = 2) -> tuple:
    import torch

    generator = torch.Generator().manual_seed(0)
    tensors = [torch.randn((batch, *shape), generator=generator) for shape in spec.inputs.values()]
    if spec.stage == "pointcloud":  # counts: exact small integers, as the pre-processing gives
        tensors[1] = torch.full_like(tensors[1], 7.0)
    return tuple(tensors)


def to_onnx(model, spec: StageSpec, opset: int):
    """Export ``model`` (eval mode) to an in-memory, simplified ONNX ``ModelProto``."""
    import onnx
    import onnxslim
    import torch

    from refinet_edge.models.deploy import for_export

    buffer = io.BytesIO()
    names = [*spec.input_names, *spec.output_names]
    with warnings.catch_warnings():  # the exporter warns about the shape asserts it traces through
        warnings.simplefilter("ignore")
        torch.onnx.export(for_export(model.eval()), _example_inputs(spec), buffer,  # type: ignore[arg-type] # file-like is fine
                          dynamo=False, opset_version=opset,
                          input_names=list(spec.input_names), output_names=list(spec.output_names),
                          dynamic_axes={n: {0: BATCH_AXIS} for n in names}, do_constant_folding=True)
    model = onnxslim.slim(onnx.load_from_string(buffer.getvalue()))
    fold_batch_norms(model)  # ONNX Runtime fuses Conv + BN but not Gemm + BN
    return model


def save_checked(model, path: Path) -> None:
    """``onnx.checker`` (full check) then an atomic write of ``model`` to ``path``."""
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise RefinetError(f"{path.name}: the ONNX checker rejects the graph: {str(exc).splitlines()[0]}") from None
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def export_stage(checkpoint_path: Path, out_dir: Path, opset: int = DEFAULT_OPSET) -> ExportedStage:
    """Export one stage checkpoint to ``out_dir/{stage}.onnx``."""
    from refinet_edge.checkpoint import load_stage

    start = time.perf_counter()
    model, info = load_stage(checkpoint_path)
    spec = stage_spec(info.stage, info.model_config)
    onnx_model = to_onnx(model, spec, check_opset(opset))
    set_metadata(onnx_model, provenance_props(info.stage, Precision.FP32, opset, info, spec))
    path = out_dir / Precision.FP32.onnx_name(info.stage)
    save_checked(onnx_model, path)
    return ExportedStage(info.stage, path, spec, info.preprocess, info.sha256, time.perf_counter() - start)


def max_abs_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference; NaN/inf where only one side has it count as infinite."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise RefinetError(f"outputs have different shapes: {a.shape} vs {b.shape}")
    same_nonfinite = ~np.isfinite(a) & ~np.isfinite(b) & ((a == b) | (np.isnan(a) & np.isnan(b)))
    diff = np.where(same_nonfinite, 0.0, np.abs(a - b))
    return float(np.nan_to_num(diff, nan=np.inf).max(initial=0.0))
