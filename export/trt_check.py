"""Will TensorRT 10.x and 11.x take this ONNX? A static check that needs no TensorRT.

Rules (from NVIDIA's ONNX-TensorRT operator list and the explicit-quantization
rules of the TensorRT developer guide):

* every node is in the default ONNX domain and its op in :data:`TRT_OPS`
  (the subset of ONNX-TensorRT's supported operators these graphs may need;
  ``com.microsoft`` contrib ops are ORT-only);
* opset 13..20 (per-channel Q/DQ needs 13; 10.x parses up to 20, 11.x to 25);
* graph inputs and outputs are float32 or float16; no float64 tensor anywhere;
  int64 only where TensorRT reads a shape (Reshape's shape, Slice's starts...),
  never as data flowing into compute layers;
* Q/DQ: int8 with an explicit int8 zero point that is all 0 (symmetric; an
  absent zero point means uint8 in ONNX), positive float scales, every
  QuantizeLinear feeds DequantizeLinear nodes only; per-channel scales only on
  weights (initializers), on the output-channel axis of their consumer (Conv
  axis 0, ConvTranspose 1, Gemm 0 with transB=1 else 1, MatMul the last axis);
  no int32 DequantizeLinear (quantised bias: TensorRT wants float biases).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refinet_edge.errors import RefinetError

TRT_OPS = frozenset({
    "Add", "ArgMax", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape",
    "Conv", "ConvTranspose", "DequantizeLinear", "Div", "Equal", "Erf", "Exp", "Expand", "Flatten", "Gather",
    "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "Identity", "LayerNormalization", "LeakyRelu", "Less",
    "MatMul", "Max", "MaxPool", "Min", "Mul", "Neg", "Not", "Pad", "Pow", "QuantizeLinear", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceSum", "Relu", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "Sqrt",
    "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze", "Where",
})
OPSET_RANGE = (13, 20)
# (op, input index) where TensorRT reads int64 as a shape or index list, not as data
SHAPE_INPUTS = frozenset({("Reshape", 1), ("Expand", 1), ("Tile", 1), ("ConstantOfShape", 0), ("Slice", 1),
                          ("Slice", 2), ("Slice", 3), ("Slice", 4), ("Unsqueeze", 1), ("Squeeze", 1), ("Pad", 1),
                          ("ReduceMax", 1), ("ReduceSum", 1), ("ReduceMean", 1), ("ReduceMin", 1), ("Gather", 1)})
IO_TYPES = {1: "float32", 10: "float16"}
WEIGHT_AXIS = {"Conv": 0, "ConvTranspose": 1, "MatMul": -1}


@dataclass
class CompatReport:
    """Problems found in one graph; ``ok`` when there are none."""

    name: str
    problems: list[str] = field(default_factory=list)
    qdq_pairs: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_failed(self) -> None:
        if self.problems:
            more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise RefinetError(f"{self.name}: not TensorRT-compatible: {self.problems[0]}{more}")


def check_trt_compat(model_or_path, name: str | None = None) -> CompatReport:
    """Check an ONNX ``ModelProto`` or file against the rules in the module docstring."""
    import onnx

    model = onnx.load(str(model_or_path)) if isinstance(model_or_path, str | Path) else model_or_path
    report = CompatReport(name or (Path(model_or_path).name if isinstance(model_or_path, str | Path) else "model"))
    graph = onnx.shape_inference.infer_shapes(model).graph
    _check_opset(model, report)
    _check_io_and_types(graph, report)
    _check_nodes(graph, report)
    _check_qdq(graph, report)
    return report


def _check_opset(model, report: CompatReport) -> None:
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and not OPSET_RANGE[0] <= opset.version <= OPSET_RANGE[1]:
            report.problems.append(f"opset {opset.version} outside {OPSET_RANGE[0]}..{OPSET_RANGE[1]}")


def _check_io_and_types(graph, report: CompatReport) -> None:
    for value in [*graph.input, *graph.output]:
        elem = value.type.tensor_type.elem_type
        if elem not in IO_TYPES:
            report.problems.append(f"graph input/output {value.name} has ONNX type {elem}, expected float32/float16")
    tensors = [*graph.value_info, *graph.input, *graph.output]
    for value in tensors:
        if value.type.tensor_type.elem_type == 11:  # DOUBLE
            report.problems.append(f"tensor {value.name} is float64")
    for init in graph.initializer:
        if init.data_type == 11:
            report.problems.append(f"initializer {init.name} is float64")


def _int64_constants(graph) -> set[str]:
    names = {i.name for i in graph.initializer if i.data_type == 7}
    for node in graph.node:
        if node.op_type == "Constant" and any(a.t.data_type == 7 for a in node.attribute if a.name == "value"):
            names.update(node.output)
    return names


def _check_nodes(graph, report: CompatReport) -> None:
    int64 = _int64_constants(graph)
    for node in graph.node:
        label = node.name or node.op_type
        if node.domain not in ("", "ai.onnx"):
            report.problems.append(f"node {label}: op {node.domain}.{node.op_type} is not a standard ONNX op")
        elif node.op_type not in TRT_OPS:
            report.problems.append(f"node {label}: op {node.op_type} is not in the supported list")
        for index, name in enumerate(node.input):
            if name in int64 and (node.op_type, index) not in SHAPE_INPUTS and node.op_type != "Cast":
                report.problems.append(f"node {label}: int64 constant {name} used as data (input {index})")


def _weight_axis(consumer, index: int, rank: int) -> int | None:
    """The output-channel axis of the weight at input ``index`` of ``consumer``; None if it is no weight."""
    if index != 1:
        return None
    if consumer.op_type == "Gemm":
        trans_b = next((a.i for a in consumer.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    axis = WEIGHT_AXIS.get(consumer.op_type)
    return None if axis is None else axis % rank


def _check_qparams(node, inits: dict, report: CompatReport) -> np.ndarray | None:
    """Scale > 0 and an explicit int8 zero point of 0; returns the scale."""
    from onnx import numpy_helper

    label = node.name or node.op_type
    scale = inits.get(node.input[1])
    if scale is None:
        report.problems.append(f"{label}: scale must be an initializer")
        return None
    values = numpy_helper.to_array(scale)
    if not np.all(values > 0):
        report.problems.append(f"{label}: scales must be positive")
    zero = inits.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if zero is None:
        report.problems.append(f"{label}: needs an int8 zero-point initializer (an absent one means uint8)")
    elif zero.data_type != 3:  # INT8
        report.problems.append(f"{label}: zero point has ONNX type {zero.data_type}, expected int8 (3)")
    elif np.any(numpy_helper.to_array(zero) != 0):
        report.problems.append(f"{label}: zero point is not 0 (asymmetric quantisation)")
    return values


def _check_qdq(graph, report: CompatReport) -> None:
    inits = {i.name: i for i in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, index))
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        label = node.name or node.op_type
        src = node.input[0]
        if node.op_type == "DequantizeLinear" and src in inits and inits[src].data_type == 6:
            report.problems.append(f"{label}: int32 DequantizeLinear (quantised bias); keep biases float")
            continue
        scale = _check_qparams(node, inits, report)
        if node.op_type == "QuantizeLinear":
            report.qdq_pairs += 1
            if any(c.op_type != "DequantizeLinear" for c, _ in consumers.get(node.output[0], [])):
                report.problems.append(f"{label}: QuantizeLinear must feed DequantizeLinear only")
            continue
        if scale is None or scale.size <= 1:
            continue
        producer = producers.get(src)
        weight = inits.get(src) or (inits.get(producer.input[0]) if producer is not None
                                    and producer.op_type == "QuantizeLinear" else None)
        if weight is None:
            report.problems.append(f"{label}: per-channel scales on an activation (TensorRT: per-tensor only)")
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1) % len(weight.dims)
        for consumer, index in consumers.get(node.output[0], []):
            expected = _weight_axis(consumer, index, len(weight.dims))
            if expected is None:
                report.problems.append(f"{label}: per-channel weights feed {consumer.op_type} input {index}, "
                                       f"which is not a weight input")
            elif axis != expected:
                report.problems.append(f"{label}: per-channel axis {axis}, but {consumer.op_type}'s output-channel "
                                       f"axis is {expected}")
