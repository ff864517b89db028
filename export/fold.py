"""Fold inference-mode BatchNormalization into the Gemm (or 2D MatMul) that feeds it, in an ONNX graph.

ONNX Runtime fuses Conv + BatchNormalization itself but not Gemm +
BatchNormalization: the skeleton stage's five ``Linear -> BatchNorm1d`` pairs
stayed two nodes each (about 6 % of that stage's time on a 2-core CPU), and the
BN then also kept Gemm + Relu from fusing. Folding is exact algebra on the
constants: with ``s = scale / sqrt(var + eps)``,

    BN(alpha * A @ op(B) + beta * C) = alpha * A @ op(B * s) + ((beta * C - mean) * s + bias)

where ``B * s`` scales B's output-channel axis (rows when ``transB = 1``). A
MatMul by a constant matrix (a ``Linear`` without bias) whose output is known
to be 2D is the same with ``C = 0`` and becomes a Gemm.
The result differs from the unfolded graph only by float rounding.

A pair is folded only when it is safe: BN in inference form (one output), BN
consuming a Gemm (or 2D MatMul) output that nothing else reads and that is not a graph
output, and B, C and the BN parameters all initializers. Anything else is left
as it was. TensorRT fuses such pairs on its own; the folded graph builds the
same engine.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fold_batch_norms"]


def _attr(node, name: str, default):
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def fold_batch_norms(model) -> int:
    """Fold every safe Gemm -> BatchNormalization pair of ``model`` (an ``onnx.ModelProto``) in place.

    Returns how many pairs were folded. The constants a fold replaced are removed when nothing else reads them.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model).graph
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in [*inferred.value_info, *inferred.output]
             if v.type.tensor_type.HasField("shape")}
    inits = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    graph_outputs = {o.name for o in graph.output}

    folded = 0
    replaced: set[str] = set()  # the old weights, biases and BN parameters
    for bn in list(graph.node):
        if bn.op_type != "BatchNormalization" or len(bn.output) != 1 or _attr(bn, "training_mode", 0):
            continue
        gemm = producers.get(bn.input[0])
        if gemm is None or readers.get(gemm.output[0]) != 1 or gemm.output[0] in graph_outputs:
            continue
        if not (gemm.op_type == "Gemm" and _attr(gemm, "transA", 0) == 0
                or gemm.op_type == "MatMul" and ranks.get(gemm.output[0]) == 2):
            continue
        params = bn.input[1:5]
        if len(params) != 4 or not all(p in inits for p in params) or gemm.input[1] not in inits \
                or (len(gemm.input) > 2 and gemm.input[2] and gemm.input[2] not in inits):
            continue
        scale, bias, mean, var = (numpy_helper.to_array(inits[p]).astype(np.float64) for p in params)
        weight = numpy_helper.to_array(inits[gemm.input[1]])
        trans_b = _attr(gemm, "transB", 0)
        channels = weight.shape[0] if trans_b else weight.shape[1]
        if weight.ndim != 2 or scale.shape != (channels,) or weight.dtype != np.float32:
            continue
        beta = float(_attr(gemm, "beta", 1.0))
        c = (numpy_helper.to_array(inits[gemm.input[2]]).astype(np.float64)
             if len(gemm.input) > 2 and gemm.input[2] else np.zeros(()))
        if c.size not in (1, channels):
            continue
        s = scale / np.sqrt(var + float(_attr(bn, "epsilon", 1e-5)))
        new_weight = weight.astype(np.float64) * (s[:, None] if trans_b else s[None, :])
        new_bias = (beta * np.broadcast_to(c.reshape(-1), (channels,)) - mean) * s + bias
        b_name, c_name = f"{bn.name}/folded_B", f"{bn.name}/folded_C"
        graph.initializer.extend([numpy_helper.from_array(new_weight.astype(np.float32), b_name),
                                  numpy_helper.from_array(new_bias.astype(np.float32), c_name)])
        attributes = [a for a in gemm.attribute if a.name != "beta"]  # a MatMul has none
        fused = helper.make_node("Gemm", [gemm.input[0], b_name, c_name], [bn.output[0]], name=gemm.name)
        fused.attribute.extend(attributes)
        index = list(graph.node).index(gemm)
        graph.node.remove(gemm)
        graph.node.insert(index, fused)
        graph.node.remove(bn)
        replaced.update([*gemm.input[1:], *params])
        folded += 1

    used = {name for node in graph.node for name in node.input} | {i.name for i in graph.input}
    for init in list(graph.initializer):
        if init.name in replaced and init.name not in used:
            graph.initializer.remove(init)
    return folded
