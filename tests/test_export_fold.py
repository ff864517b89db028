"""BatchNormalization folded into Gemm at export: exact to float rounding, and only where it is safe."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from refinet_edge.export.fold import fold_batch_norms  # noqa: E402


def _export(module, example) -> onnx.ModelProto:
    buffer = io.BytesIO()
    torch.onnx.export(module.eval(), (example,), buffer, dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return onnx.load_from_string(buffer.getvalue())


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _trained_bn(features: int, seed: int) -> torch.nn.BatchNorm1d:
    """A BatchNorm1d with non-trivial running statistics and affine parameters."""
    generator = torch.Generator().manual_seed(seed)
    bn = torch.nn.BatchNorm1d(features)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(features, generator=generator) * 2 + 0.1)
        bn.bias.copy_(torch.randn(features, generator=generator))
        bn.running_mean.copy_(torch.randn(features, generator=generator) * 3)
        bn.running_var.copy_(torch.rand(features, generator=generator) * 4 + 0.01)
    return bn


def _ops(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model.graph.node]


def test_linear_bn_pairs_fold_exactly() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), _trained_bn(16, 1), torch.nn.ReLU(),
                              torch.nn.Linear(16, 8, bias=False), _trained_bn(8, 2), torch.nn.Linear(8, 3))
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    model = _export(net, torch.from_numpy(x))
    before = _run(model, x)
    assert _ops(model).count("BatchNormalization") == 2

    assert fold_batch_norms(model) == 2
    onnx.checker.check_model(model, full_check=True)
    assert "BatchNormalization" not in _ops(model)
    assert not {i.name for i in model.graph.initializer} - {n for node in model.graph.node for n in node.input}
    after = _run(model, x)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-5)


class _SharedGemm(torch.nn.Module):
    """The Gemm's output is read by the BN and by the output: folding would change the second reader."""

    def __init__(self) -> None:
        super().__init__()
        self.linear, self.bn = torch.nn.Linear(4, 4), _trained_bn(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear(x)
        return self.bn(h) + h


def test_a_gemm_with_another_reader_is_left_alone() -> None:
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    model = _export(_SharedGemm(), torch.from_numpy(x))
    before = _run(model, x)
    assert fold_batch_norms(model) == 0
    assert "BatchNormalization" in _ops(model)
    np.testing.assert_array_equal(_run(model, x), before)


def test_the_exported_skeleton_has_no_batch_norm_left(onnx_dir: Path) -> None:
    ops = _ops(onnx.load(str(onnx_dir / "skeleton.onnx")))
    assert "BatchNormalization" not in ops and ops.count("Gemm") >= 5
