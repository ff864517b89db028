"""The TensorRT-compatibility check on small hand-made graphs: each rule passes a good graph and fails a bad one."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.export.trt_check import check_trt_compat  # noqa: E402

ZERO_INT8 = np.int8(0)


def _init(name: str, array: np.ndarray):
    return numpy_helper.from_array(array, name)


def conv_qdq(*, weight_axis: int = 0, act_zero: np.generic = ZERO_INT8, weight_zero_dtype=np.int8,
             with_zero: bool = True, bias_int32: bool = False, in_type: int = TensorProto.FLOAT, opset: int = 17):
    """x -> Q -> DQ -> Conv(W: int8 initializer -> per-channel DQ, bias) -> y."""
    c_out, c_in = 4, 3
    x = helper.make_tensor_value_info("x", in_type, ["batch", c_in, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", c_out, 8, 8])
    scales_w = np.full(c_out if weight_axis == 0 else c_in, 0.01, np.float32)
    inits = [
        _init("x_scale", np.array(0.02, np.float32)),
        _init("w_q", np.ones((c_out, c_in, 1, 1), np.int8)),
        _init("w_scale", scales_w),
        _init("w_zero", np.zeros(scales_w.shape, weight_zero_dtype)),
    ]
    q_inputs = ["x", "x_scale"] + (["x_zero"] if with_zero else [])
    if with_zero:
        inits.append(_init("x_zero", np.array(act_zero)))
    nodes = [
        helper.make_node("QuantizeLinear", q_inputs, ["x_q"], name="q_x"),
        helper.make_node("DequantizeLinear", ["x_q", *q_inputs[1:]], ["x_dq"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], name="dq_w", axis=weight_axis),
    ]
    if bias_int32:
        inits += [_init("b_q", np.zeros(c_out, np.int32)), _init("b_scale", np.full(c_out, 2e-4, np.float32))]
        nodes.append(helper.make_node("DequantizeLinear", ["b_q", "b_scale"], ["b"], name="dq_b", axis=0))
    else:
        inits.append(_init("b", np.zeros(c_out, np.float32)))
    nodes.append(helper.make_node("Conv", ["x_dq", "w", "b"], ["y"], name="conv"))
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_symmetric_per_channel_qdq_passes() -> None:
    report = check_trt_compat(conv_qdq())
    assert report.ok, report.problems
    assert report.qdq_pairs == 1


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"weight_axis": 1}, "per-channel axis 1, but Conv's output-channel axis is 0"),
    ({"act_zero": np.int8(3)}, "zero point is not 0"),
    ({"act_zero": np.uint8(0)}, "expected int8"),
    ({"with_zero": False}, "needs an int8 zero-point initializer"),
    ({"bias_int32": True}, "int32 DequantizeLinear"),
    ({"in_type": TensorProto.INT64}, "expected float32/float16"),
    ({"opset": 11}, "opset 11 outside 13..20"),
])
def test_each_rule_fails_a_bad_graph(kwargs: dict, needle: str) -> None:
    report = check_trt_compat(conv_qdq(**kwargs))
    assert not report.ok
    assert any(needle in p for p in report.problems), report.problems
    with pytest.raises(RefinetError, match="not TensorRT-compatible"):
        report.raise_if_failed()


def _matmul(axis: int, op: str = "MatMul", trans_b: int | None = None):
    k, n = 6, 5
    w_shape = (n, k) if trans_b else (k, n)
    channels = w_shape[axis]
    inits = [_init("w_q", np.ones(w_shape, np.int8)), _init("w_scale", np.full(channels, 0.1, np.float32)),
             _init("w_zero", np.zeros(channels, np.int8))]
    attrs = {"transB": trans_b} if trans_b is not None else {}
    nodes = [helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], axis=axis),
             helper.make_node(op, ["x", "w"], ["y"], **attrs)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, n])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_weight_axis_follows_the_consumer() -> None:
    assert check_trt_compat(_matmul(axis=1)).ok
    assert not check_trt_compat(_matmul(axis=0)).ok
    assert check_trt_compat(_matmul(axis=0, op="Gemm", trans_b=1)).ok
    assert not check_trt_compat(_matmul(axis=1, op="Gemm", trans_b=1)).ok


def test_unsupported_ops_float64_and_int64_data() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    nodes = [helper.make_node("Add", ["x", "k"], ["a"]),
             helper.make_node("Gelu", ["a"], ["b"], domain="com.microsoft"),
             helper.make_node("Mul", ["b", "idx"], ["y"])]
    inits = [_init("k", np.ones((2, 3), np.float64)), _init("idx", np.ones((2, 3), np.int64))]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    problems = " | ".join(check_trt_compat(model).problems)
    assert "com.microsoft.Gelu is not a standard ONNX op" in problems
    assert "initializer k is float64" in problems
    assert "int64 constant idx used as data" in problems


def test_int64_shape_inputs_are_fine() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, 3])
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], "g", [x], [y],
        [_init("shape", np.array([-1, 2, 3], np.int64))]), opset_imports=[helper.make_opsetid("", 17)])
    assert check_trt_compat(model).ok
