"""fp32 ONNX -> fp16 ONNX and int8 Q/DQ ONNX, with ONNX Runtime's own tools.

Why ONNX Runtime's tools and not NVIDIA Model Optimizer: they come with
``onnxruntime`` (already the CPU reference backend), run on a CPU-only machine
and in CI without CUDA or TensorRT, and write plain ONNX (float16 tensors;
standard QuantizeLinear/DequantizeLinear) that TensorRT parses strongly typed.
The same runtime then scores the converted graphs in the accuracy gate.

* fp16: ``onnxruntime.transformers.float16.convert_float_to_float16`` with
  ``keep_io_types=True`` (inputs and outputs stay float32; a Cast at each end).
* int8: ``onnxruntime.quantization.quant_pre_process`` (ONNX Runtime's
  recommended pre-pass: folds MatMul + BatchNorm into Gemm), then
  ``onnxruntime.quantization.quantize_static`` in QDQ format, int8
  activations and weights, symmetric (zero point 0), per-channel weights on the
  output-channel axis (Conv 0, Gemm with transB 0, MatMul 1), float biases
  (``QuantizeBias=False``: TensorRT does not take int32 bias DQ), only the
  inputs of Conv, Gemm and MatMul quantised (where TensorRT runs int8 kernels),
  except the nodes :func:`float_nodes` keeps float (a MatMul of Softmax
  probabilities, a Conv with one input channel); other readers of a quantized
  tensor (a residual Add) read it in float (:func:`float_side_inputs`).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from refinet_edge.errors import RefinetError, did_you_mean
from refinet_edge.export.onnx_export import read_metadata, save_checked, set_metadata
from refinet_edge.export.precision import Precision

METHODS = ("minmax", "entropy", "percentile")
QUANTIZED_OPS = ["Conv", "Gemm", "MatMul"]
PERCENTILE = 99.999


def float_nodes(model) -> list[str]:
    """Names of the quantizable nodes that stay float:

    * a MatMul of Softmax probabilities (stage A's soft-argmax against its cell grid), whose int8 rounding would
      move every expected position;
    * a Conv with one input channel (stage A's first layer, on the depth patch): ONNX Runtime's QLinearConv runs
      it 6x slower than the float kernel (0.52 against 0.08 ms at batch 1 on a 2-core EPYC), and it holds 3 % of
      the network's MACs.
    """
    softmax_outputs = {out for node in model.graph.node if node.op_type == "Softmax" for out in node.output}
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    names = []
    for node in model.graph.node:
        if node.op_type == "MatMul" and any(name in softmax_outputs for name in node.input):
            names.append(node.name)
        elif node.op_type == "Conv" and len(node.input) > 1:
            dims = weights.get(node.input[1], [])
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if len(dims) >= 2 and dims[1] * group == 1:
                names.append(node.name)
    return names


def float_side_inputs(model) -> int:
    """Let the non-quantized readers of a quantized tensor read it in float; returns how many inputs moved.

    The quantizer puts one Q -> DQ on a tensor that a Gemm (or Conv, MatMul) reads, and every other reader (a
    residual Add) reads the same DQ. ONNX Runtime then gives each reader its own DQ, and a Q that feeds two DQs
    keeps its int8 zero point where its x86 integer GEMM wants uint8 (its S8 -> U8 pass skips it): that Gemm stays a
    float Gemm that dequantizes its int8 weights on every call (the skeleton's first Gemm of each residual block,
    6x slower than fused). Reading the float tensor instead, the Add is exact (no rounding) and the Gemm fuses.
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    readers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    moved = 0
    for dq in [node for node in model.graph.node if node.op_type == "DequantizeLinear"]:
        q = producer.get(dq.input[0])
        users = readers.get(dq.output[0], [])
        if q is None or q.op_type != "QuantizeLinear" or not any(u.op_type in QUANTIZED_OPS for u in users):
            continue
        for user in users:
            if user.op_type not in QUANTIZED_OPS:
                for k, name in enumerate(user.input):
                    if name == dq.output[0]:
                        user.input[k] = q.input[0]
                        moved += 1
    return moved


def check_method(method: str) -> str:
    if method not in METHODS:
        raise RefinetError(f"--method must be one of {', '.join(METHODS)}, got {method!r}"
                           f"{did_you_mean(method, METHODS)}")
    return method


def _finish(model, src: Path, dst: Path, precision: Precision, extra: dict[str, str]) -> None:
    props = read_metadata(model)
    props.update({"precision": precision.value, **extra})
    set_metadata(model, props)
    save_checked(model, dst)


def sort_nodes(graph) -> None:
    """Sort ``graph.node`` topologically in place (stable: keeps the given order where it can)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise RefinetError(f"graph {graph.name!r} has a cycle or a dangling input; cannot sort its nodes")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        pending = [n for n in pending if not any(n is r for r in ready)]
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered, strict=True):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def to_fp16(src: Path, dst: Path) -> float:
    """Write the fp16 version of ``src`` to ``dst``; returns seconds."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    start = time.perf_counter()
    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True, disable_shape_infer=False)
    sort_nodes(model.graph)  # the converter appends its input Casts at the end of the node list
    _finish(model, src, dst, Precision.FP16, {"converter": "onnxruntime.transformers.float16 keep_io_types"})
    return time.perf_counter() - start


class FeedReader:
    """ONNX Runtime's CalibrationDataReader over recorded feed dicts (one batch per call)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self.feeds = feeds
        self._iter: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self.feeds)


CALIBRATOR_OPTIONS = {  # ONNX Runtime's calibrator settings per method (entropy needs more than its default
    "minmax": {"symmetric": True},  # 128 bins, with which it cannot clip anything)
    "entropy": {"symmetric": True, "num_bins": 2048, "num_quantized_bins": 128},
    "percentile": {"symmetric": True, "num_bins": 2048, "percentile": PERCENTILE},
}


def calibrate_ranges(model_path: Path, feeds: list[dict[str, np.ndarray]], method: str, cache: Path) -> None:
    """Collect activation ranges of ``model_path`` on ``feeds`` and save them as ONNX Runtime's range cache."""
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    with tempfile.TemporaryDirectory(prefix="refinet-calib-") as tmp, contextlib.redirect_stdout(io.StringIO()):
        calibrator = create_calibrator(model_path, QUANTIZED_OPS, str(Path(tmp) / "augmented.onnx"),
                                       _METHODS()[method], extra_options=CALIBRATOR_OPTIONS[method])
        calibrator.collect_data(FeedReader(feeds))
        save_tensors_data(calibrator.compute_data(), cache)


def _METHODS() -> dict:  # noqa: N802 - a lazy constant (onnxruntime imported on use)
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}


def to_int8(src: Path, dst: Path, feeds: list[dict[str, np.ndarray]], method: str = "minmax") -> float:
    """Calibrate ``src`` on ``feeds`` and write the Q/DQ model to ``dst``; returns seconds.

    The activation ranges are kept beside it as ``{dst}.ranges.json`` (ONNX Runtime's calibration cache).
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    check_method(method)
    if not feeds:
        raise RefinetError("int8 calibration needs at least one batch of inputs")
    start = time.perf_counter()
    tmp, pre = dst.with_name(f".{dst.name}.qdq-tmp"), dst.with_name(f".{dst.name}.pre-tmp")
    ranges = dst.with_name(dst.name + ".ranges.json")
    extra = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
             "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}}
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)  # folds MatMul + BatchNorm into Gemm
        calibrate_ranges(pre, feeds, method, ranges)
        quantize_static(str(pre), str(tmp), None, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=QUANTIZED_OPS, nodes_to_exclude=float_nodes(onnx.load(str(pre))),
                        calibrate_method=_METHODS()[method], extra_options=extra,
                        calibration_cache_path=str(ranges))
        model = onnx.load(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)
        pre.unlink(missing_ok=True)
    float_side_inputs(model)
    _finish(model, src, dst, Precision.INT8, {"calibration_method": method,
                                               "calibration_batches": str(len(feeds)),
                                               "quantizer": "onnxruntime.quantization.quantize_static QDQ"})
    return time.perf_counter() - start
