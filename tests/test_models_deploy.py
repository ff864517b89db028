"""Export-time rewrites (:mod:`refinet_edge.models.deploy`): the trained module's function in fewer graph nodes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from fixtures.stage_inputs import stage_inputs  # noqa: E402

from refinet_edge.export.onnx_export import to_onnx  # noqa: E402
from refinet_edge.export.specs import stage_spec  # noqa: E402
from refinet_edge.models import PatchNetConfig, PointCloudNetConfig, SkeletonNetConfig, build_model  # noqa: E402
from refinet_edge.models.deploy import for_export  # noqa: E402

CONFIGS = {
    "patch": PatchNetConfig(arch="heatmap", heatmap_channels=(4, 8, 12)),
    "skeleton": SkeletonNetConfig(input_features=5, linear_size=48, num_blocks=2, flip_test=True),
    "pointcloud": PointCloudNetConfig(num_points=32, conv_channels=(8, 16, 24), head_size=16, joint_embedding=True,
                                      input_transform=False, feature_transform=False),  # the shipped kind
}


def _trained(stage: str, config, seed: int = 0):
    """A module with random weights, BatchNorm statistics and joint biases (nothing left at its init value)."""
    torch.manual_seed(seed)
    model = build_model(stage, config)
    with torch.no_grad():
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if name.endswith("running_var"):
                tensor.copy_(torch.rand_like(tensor) * 2 + 0.05)
            elif name.endswith("running_mean") or name.endswith("bias") or name == "joint_bias":
                tensor.copy_(torch.randn_like(tensor))
            elif name.endswith("weight") and tensor.dim() == 1:  # BN gamma
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    return model.eval()


def _inputs(stage: str, config, batch: int = 3, seed: int = 1) -> tuple:
    inputs = stage_inputs(stage, config, batch, seed, min_count=0)
    if stage == "pointcloud":
        inputs[1][0, :3] = torch.tensor([0.0, 1.0, float(config.num_points)])  # empty, one point, full
    return inputs


@pytest.mark.parametrize("stage", list(CONFIGS))
def test_the_rewrite_computes_what_the_module_computes(stage: str) -> None:
    model = _trained(stage, CONFIGS[stage])
    rewritten = for_export(model)
    assert rewritten is not model
    inputs = _inputs(stage, CONFIGS[stage])
    with torch.no_grad():
        torch.testing.assert_close(rewritten(*inputs), model(*inputs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stage", list(CONFIGS))
def test_the_exported_graph_is_smaller_and_runs_the_same_under_onnxruntime(stage: str) -> None:
    config = CONFIGS[stage]
    model = _trained(stage, config, seed=2)
    spec = stage_spec(stage, config)
    graph = to_onnx(model, spec, 17)
    ops = [node.op_type for node in graph.graph.node]
    gone = {"patch": {"Concat", "Neg"}, "skeleton": {"Gather", "Concat", "Mul", "Unsqueeze"},
            "pointcloud": {"BatchNormalization", "ReduceMax"}}[stage]
    assert not gone & set(ops), ops
    if stage == "patch":  # the head: one Mul and one ReduceSum (own map), one MatMul (soft-argmax), no 1x1 Conv
        assert (ops.count("Mul"), ops.count("ReduceSum"), ops.count("MatMul"), ops.count("Conv")) == (1, 1, 1, 6)
    if stage == "pointcloud":  # 1x1 Conv2d (ONNX Runtime's NCHWc kernels) and a GlobalMaxPool over the points
        kernels = [next(a.ints for a in n.attribute if a.name == "kernel_shape") for n in graph.graph.node
                   if n.op_type == "Conv"]
        assert kernels == [[1, 1]] * 3 and ops.count("GlobalMaxPool") == 1
    inputs = _inputs(stage, config, batch=4, seed=3)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {name: t.numpy() for name, t in zip(spec.input_names, inputs, strict=True)})[0]
    with torch.no_grad():
        expected = model(*inputs).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stage, config", [
    ("patch", PatchNetConfig(arch="stacked")),
    ("skeleton", SkeletonNetConfig(linear_size=32)),  # no flip test
    ("pointcloud", PointCloudNetConfig(num_points=16, conv_channels=(8, 8, 8), head_size=8, input_transform=False,
                                       feature_transform=False)),  # no joint bias
    ("pointcloud", PointCloudNetConfig(num_points=16, conv_channels=(8, 8, 8), head_size=8, joint_embedding=True,
                                       feature_transform=False)),  # an input transform
])
def test_other_configurations_export_as_they_are(stage: str, config) -> None:
    model = _trained(stage, config)
    assert for_export(model) is model


def test_skeleton_without_batch_norm_or_residual() -> None:
    config = SkeletonNetConfig(linear_size=24, batch_norm=False, residual=False, flip_test=True)
    model = _trained("skeleton", config, seed=4)
    x = _inputs("skeleton", config)[0]
    with torch.no_grad():
        torch.testing.assert_close(for_export(model)(x), model(x), rtol=1e-5, atol=1e-5)
