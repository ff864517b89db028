"""Round 16 (issue 18): the patch net's heatmap moments (``model.moments``) and the skeleton stage's patch evidence
(``preprocess.skeleton.patch_evidence``): the network output, the features, the mirror image, the pipeline, the
checkpoint round trip, old checkpoints, the export and the script that turns the moments on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refinet_edge.camera import Camera  # noqa: E402
from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.preprocess.evidence import patch_evidence  # noqa: E402
from refinet_edge.preprocess.patches import PatchConfig  # noqa: E402
from refinet_edge.skeleton import FLIP_INDEX  # noqa: E402
from refinet_edge.stage_io import (  # noqa: E402
    NUM_EVIDENCE,
    PATCH_EVIDENCE_MIRROR,
    SkeletonConfig,
    mirror_evidence,
    with_evidence,
)

REPO = Path(__file__).resolve().parents[1]
CAM = Camera("opt", 64, 48, 50.0, 50.0, 32.0, 24.0)
FULL = {"mode": "metric", "rays": True, "evidence": True, "patch_evidence": True}


def _patch_net(moments: bool, seed: int = 3):
    """A heatmap patch net with random weights and batch-norm statistics (a fresh net's head is zero: flat maps)."""
    from refinet_edge.models import build_model, preset_config

    net = build_model("patch", preset_config("patch", "edge", moments=moments))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            elif tensor.is_floating_point():
                tensor.copy_((0.05 if name.startswith("head") else 0.3) * torch.randn(tensor.shape, generator=gen))
    return net.eval()


def test_moments_are_the_softmax_maps_spread_and_leave_the_offsets_alone() -> None:
    plain, with_moments = _patch_net(False), _patch_net(True)
    patches = torch.randn(3, 15, 40, 40)
    with torch.no_grad():
        offsets, out = plain(patches), with_moments(patches)
        maps = with_moments.head(with_moments.trunk(patches.reshape(-1, 1, 40, 40))).reshape(3, 15, 15, 100)
    assert out.shape == (3, 15, 5)
    np.testing.assert_array_equal(out[..., :2].numpy(), offsets.numpy())
    own = maps[:, torch.arange(15), torch.arange(15)].double()  # (3, 15, 100): each patch's own joint's map
    prob = torch.softmax(own, dim=-1).numpy()
    grid = np.arange(10) * 4.0 - 19.5
    gu, gv = np.tile(grid, 10), np.repeat(grid, 10)  # column, row of each of the 10 x 10 cells
    mu, mv = (prob * gu).sum(-1), (prob * gv).sum(-1)
    want = np.stack([(prob * (gu - mu[..., None]) ** 2).sum(-1), (prob * (gv - mv[..., None]) ** 2).sum(-1),
                     (prob * (gu - mu[..., None]) * (gv - mv[..., None])).sum(-1)], axis=-1)
    np.testing.assert_allclose(out[..., 2:].numpy(), want, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(-out[..., 0].numpy(), mu, atol=1e-4)


def test_a_flat_map_has_the_grids_variance_and_no_covariance() -> None:
    from refinet_edge.models import build_model, preset_config

    net = build_model("patch", preset_config("patch", "edge", moments=True)).eval()  # zero head: flat maps
    with torch.no_grad():
        out = net(torch.randn(2, 15, 40, 40)).numpy()
    grid_var = np.var(np.arange(10) * 4.0)  # 132 cells^2 along each axis
    np.testing.assert_allclose(out[..., 2:4], grid_var, rtol=1e-5)
    np.testing.assert_allclose(out[..., 4], 0.0, atol=1e-3)


def test_moments_need_the_heatmap_arch() -> None:
    from refinet_edge.models import preset_config

    with pytest.raises(RefinetError, match="moments needs arch 'heatmap'"):
        preset_config("patch", "published", moments=True)
    with pytest.raises(RefinetError, match="moments must be true or false"):
        preset_config("patch", "edge", moments=1)


def test_patch_evidence_by_hand() -> None:
    cfg = PatchConfig()  # metric, 40 cells over 0.45 m
    c = 0.45 / 40
    out = np.array([[[2.0, -1.0, 16.0, 4.0, -6.0],  # std 4 and 2 cells, correlation -6 / 8
                     [0.0, 0.0, 0.0, 9.0, 1.0],  # no spread along u: correlation 0
                     [1.0, 1.0, 4.0, 4.0, 100.0]]])  # inconsistent covariance: clipped to 1
    cell_px = np.array([[[3.0, 3.0], [3.0, 3.0], [np.nan, np.nan]]])  # the third joint had no patch
    got = patch_evidence(out, cell_px, cfg)
    assert got.dtype == np.float32 and got.shape == (1, 3, 5)
    np.testing.assert_allclose(got[0, 0], [2 * c, -c, 4 * c, 2 * c, -0.75], rtol=1e-6)
    np.testing.assert_allclose(got[0, 1], [0.0, 0.0, 0.0, 3 * c, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(got[0, 2], 0.0)
    clipped = patch_evidence(out, np.full((1, 3, 2), 3.0), cfg)
    assert clipped[0, 2, 4] == 1.0


def test_patch_evidence_bad_input_is_one_line() -> None:
    with pytest.raises(RefinetError, match=r"with moments \(B, J, 5\)"):
        patch_evidence(np.zeros((1, 15, 2)), np.ones((1, 15, 2)), PatchConfig())
    with pytest.raises(RefinetError, match="needs metric patches"):
        patch_evidence(np.zeros((1, 15, 5)), np.ones((1, 15, 2)), PatchConfig(mode="itop_authors"))


def test_mirror_evidence_swaps_sides_and_negates_the_u_shift_and_correlation() -> None:
    cfg = SkeletonConfig(**FULL)
    evidence = np.random.default_rng(0).normal(size=(2, 15, 9)).astype(np.float32)
    mirrored = mirror_evidence(evidence, cfg)
    np.testing.assert_array_equal(mirrored[..., :NUM_EVIDENCE], evidence[:, list(FLIP_INDEX), :NUM_EVIDENCE])
    np.testing.assert_array_equal(mirrored[..., NUM_EVIDENCE:],
                                  evidence[:, list(FLIP_INDEX), NUM_EVIDENCE:] * np.array(PATCH_EVIDENCE_MIRROR))
    np.testing.assert_array_equal(mirror_evidence(mirrored, cfg), evidence)
    four = SkeletonConfig(rays=True, evidence=True)  # no patch evidence: sides swapped, nothing negated
    np.testing.assert_array_equal(mirror_evidence(evidence[..., :4], four), evidence[:, list(FLIP_INDEX), :4])


def test_flip_test_with_patch_evidence_is_mirror_equivariant() -> None:
    from refinet_edge.models import build_model, preset_config
    from refinet_edge.models.skeleton import flip_signs

    config = preset_config("skeleton", "edge", linear_size=32, input_features=14, flip_test=True)
    torch.manual_seed(0)
    model = build_model("skeleton", config).eval()
    x = torch.randn(4, 15, 14)
    mirrored = x[:, list(FLIP_INDEX)] * torch.tensor(flip_signs(14))
    with torch.no_grad():
        out, out_m = model(x), model(mirrored)
    np.testing.assert_allclose(out_m.numpy(), (out[:, list(FLIP_INDEX)] * torch.tensor([-1.0, 1.0, 1.0])).numpy(),
                               atol=1e-5)
    assert flip_signs(14)[9:] == list(PATCH_EVIDENCE_MIRROR)


def test_skeleton_config_patch_evidence_rules() -> None:
    cfg = SkeletonConfig(**FULL)
    assert cfg.evidence_features == 9 and cfg.input_features == 14
    with pytest.raises(RefinetError, match="patch_evidence needs rays: true and evidence: true"):
        SkeletonConfig(rays=True, patch_evidence=True)
    with pytest.raises(RefinetError, match=r"expected \(B, J, 9\) features"):
        with_evidence(np.zeros((1, 15, 5), np.float32), np.zeros((1, 15, 4), np.float32), cfg)


# ---------------------------------------------------------------- checkpoints and the pipeline


def _save_chain(directory: Path, moments: bool = True, preprocess: dict | None = None) -> None:
    """A patch net (with or without moments) and a small 14-feature skeleton reading the patch evidence."""
    from refinet_edge.checkpoint import save_stage
    from refinet_edge.models import build_model, preset_config

    net = _patch_net(moments)
    save_stage(directory / "patch.safetensors", "patch", net, net.config, preprocess={"mode": "metric"}, extra={},
               dtype="fp32")
    config = preset_config("skeleton", "edge", linear_size=32, input_features=14, flip_test=True)
    torch.manual_seed(0)
    model = build_model("skeleton", config).train()
    with torch.no_grad():
        model(torch.randn(8, 15, 14))  # batch-norm statistics that are not the identity
    save_stage(directory / "skeleton.safetensors", "skeleton", model.eval(), config,
               preprocess=preprocess or FULL, extra={}, dtype="fp32")


def _scene(people: int = 2) -> tuple[np.ndarray, np.ndarray]:
    depth = np.full((people, *CAM.shape), 3.0, np.float32)
    depth[:, 10:40, 20:44] = 2.5
    uv = np.random.default_rng(0).uniform([18, 8], [46, 42], (people, 15, 2))
    return depth, uv


def test_checkpoint_round_trip_and_the_pipeline_reads_the_patch_nets_evidence(tmp_path: Path) -> None:
    from refinet_edge.checkpoint import load_stage
    from refinet_edge.pipeline import RefinementPipeline

    _save_chain(tmp_path)
    model, meta = load_stage(tmp_path / "patch.safetensors", expect_stage="patch")
    assert meta.model_config.moments is True
    pipeline = RefinementPipeline.from_dir(tmp_path)
    assert pipeline.config.skeleton == SkeletonConfig(**FULL)
    depth, uv = _scene()
    result = pipeline.run(depth, uv, CAM)
    assert result.patch_evidence is not None and result.patch_evidence.shape == (2, 15, 5)
    # the features are those of the patch net's own output, and they reach the skeleton stage
    patches, cell_px = pipeline.resolve_steps().patches(depth, uv, result.steps["input"][..., 2], CAM,
                                                         pipeline.config.patch)
    with torch.no_grad():
        out = model(torch.from_numpy(patches)).numpy()
    np.testing.assert_allclose(result.patch_evidence, patch_evidence(out, cell_px, PatchConfig()), atol=1e-6)
    np.testing.assert_allclose(result.uv_px["patch"], uv - out[..., :2] * cell_px, atol=1e-4)
    base = pipeline.runners["patch"]
    pipeline.runners["patch"] = lambda p: np.concatenate([base(p)[..., :2], 2 * base(p)[..., 2:]], axis=-1)
    other = pipeline.run(depth, uv, CAM)
    np.testing.assert_array_equal(other.uv_px["patch"], result.uv_px["patch"])  # same 2D, other spread
    assert np.abs(other.steps["skeleton"] - result.steps["skeleton"]).max() > 0
    numpy_path = RefinementPipeline.from_dir(tmp_path)
    numpy_path.set_preprocess("numpy")
    np.testing.assert_allclose(numpy_path.run(depth, uv, CAM).steps["skeleton"], result.steps["skeleton"],
                               atol=1e-6)


def test_patch_evidence_without_moments_is_one_line_and_old_checkpoints_load(tmp_path: Path) -> None:
    from refinet_edge.pipeline import RefinementPipeline

    _save_chain(tmp_path, moments=False)
    with pytest.raises(RefinetError, match=r"reads the patch net's evidence .* gives no heatmap moments"):
        RefinementPipeline.from_dir(tmp_path)
    with pytest.raises(RefinetError, match="is not loaded"):
        RefinementPipeline.from_dir(tmp_path, stages=("skeleton",))
    shipped = RefinementPipeline.from_dir(REPO / "refinet_edge/weights")  # written before the options existed
    assert not shipped.config.skeleton.patch_evidence
    assert not shipped.runners["patch"].module.config.moments
    depth, uv = _scene()
    assert shipped.run(np.full((2, 240, 320), 3.0, np.float32), uv * 4, shipped_camera()).patch_evidence is None


def shipped_camera() -> Camera:
    from refinet_edge.camera import camera_preset

    return camera_preset("itop_side")


def test_a_newer_option_in_an_older_reader_is_one_line(tmp_path: Path) -> None:
    from refinet_edge.pipeline import RefinementPipeline

    _save_chain(tmp_path, preprocess={**FULL, "patch_evidence_v2": True})
    with pytest.raises(RefinetError, match="'patch_evidence_v2' is not known to this version"):
        RefinementPipeline.from_dir(tmp_path)


def test_set_preprocess_turns_the_moments_on_without_touching_a_tensor(tmp_path: Path) -> None:
    from refinet_edge.checkpoint import load_stage

    _save_chain(tmp_path, moments=False)
    path = tmp_path / "patch.safetensors"
    before, _ = load_stage(path, expect_stage="patch")
    run = subprocess.run([sys.executable, str(REPO / "scripts/set_preprocess.py"), str(path), "model.moments=true"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    after, meta = load_stage(path, expect_stage="patch")
    assert meta.model_config.moments is True
    for name, tensor in before.state_dict().items():
        torch.testing.assert_close(after.state_dict()[name], tensor, rtol=0, atol=0)
    bad = subprocess.run([sys.executable, str(REPO / "scripts/set_preprocess.py"), str(path),
                          "model.heatmap_channels=[4, 8, 16]"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "only model.moments can be set" in bad.stderr


def test_export_carries_the_moments_and_onnx_runtime_matches_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from refinet_edge.export.backends import pipeline_from_onnx_dir
    from refinet_edge.export.inputs import synthetic_frames
    from refinet_edge.export.run_export import export_all
    from refinet_edge.pipeline import RefinementPipeline

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    _save_chain(ckpt)
    frames = synthetic_frames(4, seed=1)
    manifest = export_all(ckpt, tmp_path / "onnx", frames, log=lambda line: None)
    assert manifest["stages"]["patch"]["spec"]["outputs"]["offsets"] == [15, 5]
    onnx, _ = pipeline_from_onnx_dir(tmp_path / "onnx")
    torch_pipe = RefinementPipeline.from_dir(ckpt)
    depth, uv = frames.depth_batch(0, 4), frames.uv_px[:4] + 2.0
    got, want = onnx.run(depth, uv, frames.camera), torch_pipe.run(depth, uv, frames.camera)
    np.testing.assert_allclose(got.patch_evidence, want.patch_evidence, atol=1e-4)
    np.testing.assert_allclose(got.steps["skeleton"], want.steps["skeleton"], atol=1e-4)


def test_mixture17_hypes_read_the_patch_evidence() -> None:
    from refinet_edge.hypes import load_hypes

    hypes = load_hypes(REPO / "hypes/synthetic/skeleton/mixture17.json")
    assert hypes.model_config.input_features == 14  # type: ignore[union-attr]
    assert SkeletonConfig(**hypes.preprocess_settings("skeleton")).patch_evidence
    with pytest.raises(RefinetError, match="patch_evidence needs model.input_features 14, got 9"):
        load_hypes(REPO / "hypes/synthetic/skeleton/mixture17.json", ["--model.input_features=9"])
