"""The three stage networks: shapes, training signal, masking, determinism, sizes."""

from __future__ import annotations

import copy
import dataclasses

import pytest

torch = pytest.importorskip("torch")

from fixtures.stage_inputs import stage_inputs  # noqa: E402

from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.models import (  # noqa: E402
    PRESETS,
    STAGES,
    PatchNetConfig,
    PointCloudNetConfig,
    SkeletonNetConfig,
    build_model,
    config_from_dict,
    count_parameters,
    preset_config,
)
from refinet_edge.models.pointcloud import PointCloudNet, feature_transform_regularizer  # noqa: E402
from refinet_edge.models.skeleton import SkeletonNet  # noqa: E402

# Small enough for CPU tests; the point-cloud configs keep both transforms on the published one.
TEST_CONFIGS = {
    "patch": PatchNetConfig(),
    "skeleton": SkeletonNetConfig(linear_size=128),
    "pointcloud": PointCloudNetConfig(num_points=64, conv_channels=(16, 32, 64), head_size=32),
}


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("preset", ["published", "edge"])
def test_output_shapes_two_batch_sizes(stage: str, preset: str) -> None:
    config = preset_config(stage, preset)
    if stage == "pointcloud":  # published N = 2000 costs 12.8 GMACs per sample; the shapes do not need it
        config = preset_config(stage, preset, num_points=32)
    model = build_model(stage, config).eval()
    out_dim = 2 if stage == "patch" else 3
    with torch.no_grad():
        for batch in (1, 3):
            out = model(*stage_inputs(stage, config, batch))
            assert out.shape == (batch, config.num_joints, out_dim)
            assert out.dtype == torch.float32


@pytest.mark.parametrize("stage", STAGES)
def test_adam_steps_reduce_the_loss_on_a_fixed_batch(stage: str) -> None:
    torch.manual_seed(0)
    config = config_from_dict(stage, {**TEST_CONFIGS[stage].to_dict(), "dropout": 0.0})
    model = build_model(stage, config).train()
    inputs = stage_inputs(stage, config, batch=8)
    target = torch.randn(8, config.num_joints, 2 if stage == "patch" else 3, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(*inputs), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("transforms", [True, False])
def test_masked_max_pool_ignores_padding(transforms: bool) -> None:
    torch.manual_seed(0)
    config = PointCloudNetConfig(
        num_points=48, conv_channels=(16, 32, 64), head_size=16,
        input_transform=transforms, feature_transform=transforms,
    )
    model = PointCloudNet(config)
    model.train()
    with torch.no_grad():  # non-trivial BN statistics
        model(*stage_inputs("pointcloud", config, 4))
    model.eval()
    points, _ = stage_inputs("pointcloud", config, 2)
    counts = torch.tensor([[10.0] * 15, [0.0] + [48.0] * 7 + [1.0] * 7])
    changed = points.clone()
    index = torch.arange(48).reshape(1, 1, 48, 1)
    changed = torch.where(index >= counts[..., None, None], torch.randn_like(points) * 1e3, points)
    with torch.no_grad():
        out = model(points, counts)
        out_changed = model(changed, counts)
        out_zero = model(torch.zeros_like(points), counts)
    assert torch.equal(out, out_changed)
    assert torch.isfinite(out).all()
    assert torch.equal(out[1, 0], out_zero[1, 0])  # count 0: no point reaches the output
    assert not torch.equal(out[0], out_zero[0])


@pytest.mark.parametrize("transforms", [True, False])
def test_eval_copies_of_the_first_point_equal_the_training_mask(transforms: bool) -> None:
    """Eval replaces padding by copies of point 0 and takes a plain max; training masks the features: same result."""
    torch.manual_seed(0)
    config = PointCloudNetConfig(num_points=48, conv_channels=(16, 32, 64), head_size=16,
                                 input_transform=transforms, feature_transform=transforms)
    model = PointCloudNet(config).train()
    with torch.no_grad():  # non-trivial BN statistics
        model(*stage_inputs("pointcloud", config, 4))
    points, _ = stage_inputs("pointcloud", config, 3)
    counts = torch.tensor([[10.0] * 15, [0.0, 1.0, 2.0, 47.0, 48.0] * 3, [48.0] * 15])
    model.eval()
    with torch.no_grad():
        copied = model(points, counts)
    for module in model.modules():  # the training branch (feature mask) with eval BN and no dropout
        module.training = module is model
    with torch.no_grad():
        masked = model(points, counts)
    torch.testing.assert_close(copied, masked, rtol=1e-5, atol=1e-6)


def test_feature_transform_regularizer() -> None:
    torch.manual_seed(0)
    model = PointCloudNet(TEST_CONFIGS["pointcloud"]).train()
    assert model.regularizer().item() == 0.0  # no forward yet
    offsets = model(*stage_inputs("pointcloud", TEST_CONFIGS["pointcloud"], 4))
    reg = model.regularizer(weight=1.0)
    _, transform = model.forward_with_transform(*stage_inputs("pointcloud", TEST_CONFIGS["pointcloud"], 4))
    assert torch.allclose(reg, feature_transform_regularizer(transform))
    assert offsets.shape == (4, 15, 3) and reg.shape == () and reg.item() > 0.0
    (offsets.sum() + reg).backward()
    assert model.feature_transform is not None and model.feature_transform.fcs[-1].weight.grad is not None
    copy.deepcopy(model)  # the kept transform (with its graph) is not copied
    model.eval()
    assert model.regularizer().item() == 0.0
    edge = PointCloudNet(preset_config("pointcloud", "edge", num_points=16)).train()
    edge(*stage_inputs("pointcloud", edge.config, 2))
    assert edge.regularizer().item() == 0.0


@pytest.mark.parametrize("stage", STAGES)
def test_eval_mode_is_deterministic(stage: str) -> None:
    model = build_model(stage, TEST_CONFIGS[stage]).eval()
    inputs = stage_inputs(stage, TEST_CONFIGS[stage], 2)
    with torch.no_grad():
        assert torch.equal(model(*inputs), model(*inputs))


# Pinned costs of the presets (batch 1); the docstring tables in models/config.py quote them.
EXPECTED = {
    ("patch", "published"): (827_806, 52_304_384),
    ("patch", "edge"): (27_335, 57_747_000),
    ("skeleton", "published"): (4_301_869, 4_286_464),
    ("skeleton", "edge"): (1_102_381, 1_094_656),
    ("pointcloud", "published"): (2_935_244, 12_828_705_840),
    ("pointcloud", "edge"): (19_523, 19_970_880),
}


@pytest.mark.parametrize(("stage", "preset"), list(EXPECTED))
def test_preset_params_and_macs(stage: str, preset: str) -> None:
    config = PRESETS[stage][preset]
    params, macs = EXPECTED[(stage, preset)]
    assert config.num_params() == params
    assert config.macs() == macs
    assert count_parameters(build_model(stage, config)) == params


@pytest.mark.parametrize("stage", STAGES)
def test_analytic_params_match_the_module_for_other_sizes(stage: str) -> None:
    config = TEST_CONFIGS[stage]
    assert count_parameters(build_model(stage, config)) == config.num_params()


def test_published_sizes_are_the_defaults() -> None:
    assert PRESETS["patch"]["published"] == PatchNetConfig(num_joints=15, patch_size=40)
    assert PRESETS["skeleton"]["published"].linear_size == 1024
    assert PRESETS["pointcloud"]["published"].conv_channels == (64, 128, 1024)
    assert PRESETS["pointcloud"]["edge"].num_points == 128


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: PointCloudNetConfig(num_points=0), "num_points"),
        (lambda: PatchNetConfig(dropout=1.5), "dropout"),
        (lambda: PatchNetConfig(stage_channels=(64, 128), blocks_per_stage=(2,)), "blocks_per_stage"),
        (lambda: PatchNetConfig(patch_size=2, stage_channels=(8, 8, 8), blocks_per_stage=(1, 1, 1)), "patch_size"),
        (lambda: SkeletonNetConfig(batch_norm=1), "batch_norm"),
        (lambda: SkeletonNetConfig(linear_size=True), "linear_size"),
        (lambda: PointCloudNetConfig(conv_channels=(64, 128)), "conv_channels"),
        (lambda: config_from_dict("skeleton", {"linear_sise": 3}), "linear_sise"),
        (lambda: preset_config("skeleton", "tiny"), "tiny"),
        (lambda: build_model("skelton"), "skelton"),
        (lambda: build_model("patch", SkeletonNetConfig()), "PatchNetConfig"),
    ],
)
def test_invalid_configs_name_the_field(build, field: str) -> None:
    with pytest.raises(RefinetError, match=field):
        build()


def test_config_dict_round_trip() -> None:
    for stage in STAGES:
        for config in PRESETS[stage].values():
            assert config_from_dict(stage, config.to_dict()) == config


@pytest.mark.parametrize(
    ("stage", "config"),
    [("skeleton", SkeletonNetConfig(linear_size=64, input_features=5)),
     ("pointcloud", PointCloudNetConfig(num_points=32, conv_channels=(8, 16, 32), head_size=16, joint_embedding=True))],
)
def test_edge_options_shapes_params_and_gradient(stage: str, config) -> None:
    model = build_model(stage, config)
    assert count_parameters(model) == config.num_params()
    inputs = stage_inputs(stage, config, batch=4)
    out = model(*inputs)
    assert out.shape == (4, config.num_joints, 3)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_joint_embedding_makes_the_output_depend_on_the_joint() -> None:
    config = PointCloudNetConfig(num_points=16, conv_channels=(8, 16, 32), head_size=16, joint_embedding=True,
                                 input_transform=False, feature_transform=False)
    model = build_model("pointcloud", config)
    with torch.no_grad():
        model.joint_bias.copy_(torch.randn(config.num_joints, config.head_size))
    model.eval()
    cloud = torch.randn(1, 1, config.num_points, 3).expand(1, config.num_joints, config.num_points, 3)
    counts = torch.full((1, config.num_joints), float(config.num_points))
    out = model(cloud.contiguous(), counts)  # the same cloud for every joint
    assert not torch.allclose(out[0, 0], out[0, 1])
    plain = PointCloudNet(dataclasses.replace(config, joint_embedding=False))
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k != "joint_bias"})
    plain.eval()
    with torch.no_grad():
        model.joint_bias.zero_()
    assert torch.allclose(model(cloud.contiguous(), counts), plain(cloud.contiguous(), counts))


def test_heatmap_patch_net_shapes_params_and_gradient() -> None:
    config = PatchNetConfig(arch="heatmap", patch_size=16, heatmap_channels=(4, 8, 8))
    model = build_model("patch", config)
    assert count_parameters(model) == config.num_params()
    out = model(*stage_inputs("patch", config, batch=3))
    assert out.shape == (3, config.num_joints, 2)
    # a flat map at init: the mean grid position, centres 4m - 7.5 for m = 0..3 -> -1.5, output +1.5
    assert torch.allclose(out, torch.full_like(out, 1.5))
    out = model(*stage_inputs("patch", config, batch=3))
    (out - 1.0).square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.head.weight.grad.abs().sum() > 0


def test_heatmap_patch_net_reads_its_own_joints_map_at_the_grid_centres() -> None:
    """A map peaked at grid cell (row r, column c) of joint j's channel gives -(4c - 7.5, 4r - 7.5) for S = 16."""
    config = PatchNetConfig(arch="heatmap", num_joints=3, patch_size=16, heatmap_channels=(4, 4, 4))
    model = build_model("patch", config).eval()
    grid = config.patch_size // 4
    peaks = {0: (1, 2), 1: (3, 0), 2: (0, 3)}  # joint -> (row, column) of its peak

    def head(features: torch.Tensor) -> torch.Tensor:
        maps = torch.zeros(features.shape[0], 3, grid, grid)
        maps[:, :, 0, 0] = 50.0  # every other joint type's map peaks elsewhere: must be ignored
        for j, (r, c) in peaks.items():
            maps[j::3, j] = 0.0
            maps[j::3, j, r, c] = 50.0
        return maps

    model.head.forward = head  # type: ignore[method-assign]
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 16, 16))
    for j, (r, c) in peaks.items():
        expected = torch.tensor([-(4.0 * c - 7.5), -(4.0 * r - 7.5)])
        assert torch.allclose(out[:, j], expected.expand(2, 2), atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"arch": "heatmaps"}, "heatmap"), ({"arch": "heatmap", "patch_size": 42}, "patch_size"),
     ({"heatmap_channels": (8, 16)}, "heatmap_channels")],
)
def test_heatmap_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(RefinetError, match=field):
        PatchNetConfig(**kwargs)


def test_old_patch_checkpoints_without_arch_are_the_published_net() -> None:
    data = PatchNetConfig().to_dict()
    del data["arch"], data["heatmap_channels"]
    assert config_from_dict("patch", data).arch == "stacked"


def test_skeleton_flip_test_averages_the_mirrored_pass():
    from refinet_edge.skeleton import FLIP_INDEX, mirror_joints

    torch.manual_seed(0)
    plain = SkeletonNet(SkeletonNetConfig(input_features=5, linear_size=32)).eval()
    flip = SkeletonNet(SkeletonNetConfig(input_features=5, linear_size=32, flip_test=True)).eval()
    flip.load_state_dict(plain.state_dict())
    x = torch.randn(3, 15, 5)
    mirrored = x[:, list(FLIP_INDEX)] * torch.tensor([-1.0, 1.0, 1.0, -1.0, 1.0])
    with torch.no_grad():
        expected = 0.5 * (plain(x) + torch.from_numpy(mirror_joints(plain(mirrored).numpy())))
        torch.testing.assert_close(flip(x), expected)
        # the averaged net is mirror-equivariant
        torch.testing.assert_close(flip(mirrored), torch.from_numpy(mirror_joints(flip(x).numpy())))
    flip.train()
    assert flip(x).shape == (3, 15, 3)  # training sees one pass
    assert SkeletonNetConfig(flip_test=True).macs() == 2 * SkeletonNetConfig().macs()
    with pytest.raises(RefinetError, match="flip_test"):
        SkeletonNetConfig(num_joints=14, flip_test=True)
