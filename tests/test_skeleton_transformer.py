"""The skeleton stage as a transformer over the joints (``model.arch: transformer``): shapes, sizes, the zero
start, the flip test, checkpoints, ONNX, fine-tuning errors and old checkpoints."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refinet_edge.checkpoint import load_stage, save_stage  # noqa: E402
from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.models import SkeletonNetConfig, build_model, config_from_dict, count_parameters  # noqa: E402
from refinet_edge.skeleton import FLIP_INDEX, mirror_joints  # noqa: E402
from refinet_edge.stage_io import SkeletonConfig, skeleton_decode, skeleton_encode  # noqa: E402

SMALL = SkeletonNetConfig(arch="transformer", input_features=9, token_size=16, num_layers=2, num_heads=4, ff_size=24,
                          dropout=0.0, flip_test=True)
SIGN = torch.tensor([-1.0, 1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # x, y, z, 2 rays, 4 evidence: x and ray x flip


def _random(config: SkeletonNetConfig = SMALL, seed: int = 0) -> torch.nn.Module:
    """A transformer skeleton with every weight random (a fresh one's head is zero and hides everything)."""
    torch.manual_seed(seed)
    model = build_model("skeleton", config)
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.copy_(torch.randn_like(tensor) * 0.3)
    return model.eval()


@pytest.mark.parametrize("config", [SMALL, replace(SMALL, input_features=5, flip_test=False, num_layers=1),
                                    replace(SMALL, num_joints=14, input_features=3, flip_test=False, num_heads=2)])
def test_shapes_parameter_count_and_gradient(config: SkeletonNetConfig) -> None:
    model = build_model("skeleton", config).train()
    assert count_parameters(model) == config.num_params()
    x = torch.randn(5, config.num_joints, config.input_features)
    out = model(x)
    assert out.shape == (5, config.num_joints, 3)
    (out - 1.0).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.no_grad():
        assert model.eval()(x).shape == (5, config.num_joints, 3)


def test_the_shipped_size_of_round_21() -> None:
    config = SkeletonNetConfig(arch="transformer", input_features=9, token_size=128, num_layers=4, num_heads=4,
                               ff_size=512, flip_test=True)
    assert config.num_params() == count_parameters(build_model("skeleton", config)) == 796_931
    assert config.num_params() < SkeletonNetConfig(input_features=9).num_params() / 5  # the v17 MLP: 4.39 M
    # each layer: q, k, v and the projection (4 d^2), the feed-forward (2 d ff) per joint, scores and mix (2 J^2 d)
    one = 15 * 9 * 128 + 4 * (15 * (4 * 128 * 128 + 2 * 128 * 512) + 2 * 15 * 15 * 128) + 15 * 128 * 3
    assert config.macs() == 2 * one


def test_a_fresh_net_keeps_the_lifted_joints() -> None:
    """The head starts at zero: output 0, which the metric decoding reads as the input joints."""
    model = build_model("skeleton", SMALL).eval()
    cfg = SkeletonConfig(mode="metric", rays=True, evidence=False)
    joints = np.random.default_rng(0).normal([0.0, 0.0, 3.0], 0.3, size=(2, 15, 3))
    x, centre = skeleton_encode(joints, cfg)
    features = np.concatenate([x, np.ones(x.shape[:2] + (4,), np.float32)], axis=-1)
    with torch.no_grad():
        out = model(torch.from_numpy(features)).numpy()
    assert not out.any()
    np.testing.assert_allclose(skeleton_decode(x, out, centre, cfg), joints, atol=1e-6)


def test_attention_lets_one_joint_move_another() -> None:
    model = _random()
    x = torch.randn(1, 15, 9)
    moved = x.clone()
    moved[0, 6, :3] += 1.0  # the right hand only
    with torch.no_grad():
        delta = (model(moved) - model(x))[0].abs().sum(-1)
    assert (delta > 1e-4).all()  # every joint's answer read the hand


def test_flip_test_averages_the_mirrored_pass_and_is_mirror_equivariant() -> None:
    flip = _random()
    plain = build_model("skeleton", replace(SMALL, flip_test=False)).eval()
    plain.load_state_dict(flip.state_dict())
    x = torch.randn(3, 15, 9)
    mirrored = x[:, list(FLIP_INDEX)] * SIGN
    with torch.no_grad():
        expected = 0.5 * (plain(x) + torch.from_numpy(mirror_joints(plain(mirrored).numpy())))
        torch.testing.assert_close(flip(x), expected)
        torch.testing.assert_close(flip(mirrored), torch.from_numpy(mirror_joints(flip(x).numpy())))


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"arch": "transfomer"}, "arch"), ({"arch": "transformer", "token_size": 30, "num_heads": 4}, "token_size"),
    ({"num_layers": 0}, "num_layers"), ({"num_heads": 0}, "num_heads"), ({"ff_size": 2.5}, "ff_size"),
])
def test_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(RefinetError, match=field) as error:
        SkeletonNetConfig(**kwargs)
    assert "\n" not in str(error.value)
    if field == "arch":
        assert "did you mean 'transformer'" in str(error.value)


def test_old_checkpoints_without_arch_are_the_mlp() -> None:
    data = SkeletonNetConfig(input_features=9).to_dict()
    for key in ("arch", "token_size", "num_layers", "num_heads", "ff_size"):
        del data[key]
    config = config_from_dict("skeleton", data)
    assert config.arch == "mlp" and config == SkeletonNetConfig(input_features=9)


def test_checkpoint_round_trip_is_exact_and_keeps_the_config(tmp_path: Path) -> None:
    model = _random(seed=1)
    path = tmp_path / "skeleton.safetensors"
    save_stage(path, "skeleton", model, SMALL, preprocess={"mode": "metric", "rays": True, "evidence": True},
               extra={}, dtype="fp32")
    loaded, info = load_stage(path, expect_stage="skeleton")
    assert info.model_config == SMALL
    x = torch.randn(4, 15, 9)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_an_mlp_checkpoint_cannot_start_a_transformer(tmp_path: Path) -> None:
    from refinet_edge.training.init import init_from_checkpoint

    mlp = SkeletonNetConfig(input_features=9, linear_size=32)
    path = tmp_path / "skeleton.safetensors"
    save_stage(path, "skeleton", build_model("skeleton", mlp), mlp, preprocess={"mode": "metric"}, extra={},
               dtype="fp32")
    with pytest.raises(RefinetError, match="another architecture"):
        init_from_checkpoint(build_model("skeleton", SMALL), path, "skeleton")


@pytest.mark.parametrize("arch", ["transformer", "ensemble"])
def test_a_deeper_transformer_starts_computing_what_the_checkpoint_did(tmp_path: Path, arch: str) -> None:
    from refinet_edge.training.init import init_from_checkpoint

    shallow = replace(SMALL, arch=arch, linear_size=32)
    model = _random(shallow, seed=5)
    path = tmp_path / "skeleton.safetensors"
    save_stage(path, "skeleton", model, shallow, preprocess={"mode": "metric"}, extra={}, dtype="fp32")
    deep = build_model("skeleton", replace(shallow, num_layers=4))
    message = init_from_checkpoint(deep, path, "skeleton")
    assert "deepened 2 -> 4 layers" in message
    x = torch.randn(6, 15, 9)
    with torch.no_grad():
        np.testing.assert_allclose(deep.eval()(x).numpy(), model(x).numpy(), rtol=0, atol=1e-6)
        for i in (2, 3):  # the new layers: zero writes, random reads (so they can learn)
            layer = deep.layers[i]
            assert not layer.proj.weight.any() and not layer.ff[3].weight.any() and not layer.ff[3].bias.any()
            assert layer.qkv.weight.std() > 0 and layer.ff[0].weight.std() > 0
        assert torch.equal(deep.layers[1].qkv.weight, model.layers[1].qkv.weight)
    deep.train()  # one step moves the new layers' writes off zero
    torch.nn.functional.mse_loss(deep(x), torch.randn(6, 15, 3)).backward()
    assert deep.layers[3].proj.weight.grad.abs().sum() > 0 and deep.layers[3].ff[3].weight.grad.abs().sum() > 0


@pytest.mark.parametrize(("change", "match"), [({"num_layers": 1}, "cannot shrink to 1"),
                                               ({"num_layers": 3, "ff_size": 32}, "ff_size")])
def test_a_transformer_is_only_deepened_with_its_own_sizes(tmp_path: Path, change: dict, match: str) -> None:
    from refinet_edge.training.init import init_from_checkpoint

    path = tmp_path / "skeleton.safetensors"
    save_stage(path, "skeleton", _random(), SMALL, preprocess={"mode": "metric"}, extra={}, dtype="fp32")
    with pytest.raises(RefinetError, match=match):
        init_from_checkpoint(build_model("skeleton", replace(SMALL, **change)), path, "skeleton")


def test_exports_to_onnx_with_plain_ops_and_runs_the_same_under_onnxruntime() -> None:
    ort = pytest.importorskip("onnxruntime")
    from refinet_edge.export.onnx_export import to_onnx
    from refinet_edge.export.specs import stage_spec
    from refinet_edge.export.trt_check import check_trt_compat
    from refinet_edge.models.deploy import for_export

    model = _random(seed=2)
    assert for_export(model) is model  # the MLP's folding does not apply
    spec = stage_spec("skeleton", SMALL)
    graph = to_onnx(model, spec, 17)
    ops = {node.op_type for node in graph.graph.node}
    assert {"MatMul", "Softmax", "LayerNormalization"} <= ops
    assert not {op for op in ops if "Attention" in op}  # no fused or contrib attention op
    assert check_trt_compat(graph, "skeleton.onnx").ok  # every op on TensorRT's ONNX operator list
    x = np.random.default_rng(3).normal(size=(4, 15, 9)).astype(np.float32)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {spec.input_names[0]: x})[0]
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def _merge_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("merge_skeletons", Path(__file__).resolve().parents[1] / "scripts"
                                                  / "merge_skeletons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _members(tmp_path: Path, mlp_features: int = 9, preprocess: dict | None = None) -> tuple[Path, Path]:
    """A random MLP and a random transformer skeleton, saved in fp32."""
    pre = {"mode": "metric", "rays": True, "evidence": True, "second_pass_m": 0.15}
    mlp_config = SkeletonNetConfig(input_features=mlp_features, linear_size=32, flip_test=True, dropout=0.0)
    mlp = build_model("skeleton", mlp_config)
    torch.manual_seed(5)
    with torch.no_grad():
        for name, tensor in mlp.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand_like(tensor) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn_like(tensor) * 0.2)
    paths = tmp_path / "mlp.safetensors", tmp_path / "transformer.safetensors"
    save_stage(paths[0], "skeleton", mlp.eval(), mlp_config, preprocess=pre, extra={"run": "a"}, dtype="fp32")
    save_stage(paths[1], "skeleton", _random(seed=6), SMALL, preprocess=preprocess or pre, extra={"run": "b"},
               dtype="fp32")
    return paths


def test_the_ensemble_averages_its_members_and_merges_from_two_checkpoints(tmp_path: Path) -> None:
    mlp_path, tr_path = _members(tmp_path)
    out = tmp_path / "ensemble.safetensors"
    _merge_module().merge(mlp_path, tr_path, out)
    ensemble, info = load_stage(out, expect_stage="skeleton")
    mlp, _ = load_stage(mlp_path)
    transformer, _ = load_stage(tr_path)
    assert info.model_config.arch == "ensemble" and info.model_config.token_size == SMALL.token_size
    assert info.preprocess["second_pass_m"] == 0.15
    assert [m["arch"] for m in info.extra["members"]] == ["mlp", "transformer"]
    assert count_parameters(ensemble) == info.model_config.num_params() == (
        count_parameters(mlp) + count_parameters(transformer))
    assert info.model_config.macs() == mlp.config.macs() + transformer.config.macs()
    x = torch.randn(4, 15, 9)
    with torch.no_grad():  # the flip test is linear in the output, so the average of each member's flipped answer
        torch.testing.assert_close(ensemble(x), 0.5 * (mlp(x) + transformer(x)))


@pytest.mark.parametrize(("features", "preprocess", "match"), [
    (5, None, "input_features"), (9, {"mode": "metric", "rays": True, "evidence": True, "second_pass_m": 0.2},
                                  "second_pass_m")])
def test_merging_members_that_read_different_inputs_is_one_line_and_writes_nothing(
        tmp_path: Path, features: int, preprocess: dict | None, match: str) -> None:
    mlp_path, tr_path = _members(tmp_path, features, preprocess)
    out = tmp_path / "ensemble.safetensors"
    merge = _merge_module()
    with pytest.raises(RefinetError, match=match):
        merge.merge(mlp_path, tr_path, out)
    assert merge.main([str(tr_path), str(mlp_path), str(out)]) == 1  # members the wrong way round
    assert not out.exists()


def test_the_ensemble_exports_and_runs_the_same_under_onnxruntime(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from refinet_edge.export.onnx_export import to_onnx
    from refinet_edge.export.specs import stage_spec
    from refinet_edge.export.trt_check import check_trt_compat

    mlp_path, tr_path = _members(tmp_path)
    out = tmp_path / "ensemble.safetensors"
    _merge_module().merge(mlp_path, tr_path, out)
    model, info = load_stage(out)
    spec = stage_spec("skeleton", info.model_config)
    graph = to_onnx(model, spec, 17)
    assert check_trt_compat(graph, "skeleton.onnx").ok
    x = np.random.default_rng(4).normal(size=(3, 15, 9)).astype(np.float32)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        np.testing.assert_allclose(session.run(None, {spec.input_names[0]: x})[0], model(torch.from_numpy(x)).numpy(),
                                   rtol=1e-4, atol=1e-4)
