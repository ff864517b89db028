"""Issue 18's skeleton-stage options: ray-following output, body-proportion and 2D-error augmentation, checkpoint
round trips of every new option, and old checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from refinet_edge.camera import Camera
from refinet_edge.errors import RefinetError
from refinet_edge.noise import OKS_SIGMAS, DetectorNoise
from refinet_edge.skeleton import LIMBS, bone_lengths
from refinet_edge.stage_io import SkeletonConfig, skeleton_decode, skeleton_encode, skeleton_target
from refinet_edge.training.augment import BONE_GROUP, limb_scale_batch, scale_limbs

CAM = Camera("opt", 64, 48, 50.0, 50.0, 32.0, 24.0)
RAY = SkeletonConfig(rays=True, ray_output=True)


def _people(n: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    joints = rng.normal(0.0, 0.4, (n, 15, 3)) + [0.1, -0.2, 3.0]
    joints[0, 4] = np.nan  # a missing joint
    return joints


def test_ray_output_target_decodes_to_the_truth() -> None:
    joints_in = _people()
    gt = joints_in + np.random.default_rng(1).normal(0, 0.1, joints_in.shape)
    x, centre = skeleton_encode(joints_in, RAY)
    target = skeleton_target(x, gt, centre, RAY)
    decoded = skeleton_decode(x, target.astype(np.float32), centre, RAY)
    np.testing.assert_allclose(decoded, gt, atol=2e-6)  # float32 network units, metres


def test_ray_output_depth_only_keeps_the_pixel() -> None:
    joints_in = _people()
    x, centre = skeleton_encode(joints_in, RAY)
    out = np.zeros(x.shape[:2] + (3,), np.float32)
    np.testing.assert_allclose(skeleton_decode(x, out, centre, RAY)[1:], joints_in[1:], atol=1e-6)  # zero: input
    out[..., 2] = -0.2  # 20 cm further along the ray
    moved = skeleton_decode(x, out, centre, RAY)
    np.testing.assert_allclose(moved[1:, :, 2], joints_in[1:, :, 2] + 0.2, atol=1e-6)
    np.testing.assert_allclose(CAM.project(moved[1:]), CAM.project(joints_in[1:]), atol=1e-4)  # same pixel
    coord = SkeletonConfig(rays=True)  # today's output moves x, y, z independently: the pixel changes
    plain = skeleton_decode(x, out, centre, coord)
    assert np.abs(CAM.project(plain[1:]) - CAM.project(joints_in[1:])).max() > 0.5


def test_ray_output_needs_rays_and_no_extra_losses() -> None:
    with pytest.raises(RefinetError, match="ray_output needs rays"):
        SkeletonConfig(ray_output=True)
    with pytest.raises(RefinetError, match="evidence needs mode 'metric'"):
        SkeletonConfig(mode="authors", evidence=True)
    assert SkeletonConfig(rays=True, evidence=True).input_features == 9
    assert SkeletonConfig(evidence=True).input_features == 7


def test_scale_limbs_scales_each_bone_by_its_factor() -> None:
    joints = _people(seed=3)[1:]
    factors = np.random.default_rng(2).uniform(0.8, 1.2, (len(joints), len(LIMBS)))
    scaled = scale_limbs(joints, factors)
    np.testing.assert_allclose(bone_lengths(scaled), bone_lengths(joints) * factors, rtol=1e-12)
    np.testing.assert_array_equal(scaled[:, 8], joints[:, 8])  # the torso (root) does not move


def test_limb_scale_batch_keeps_input_errors_and_symmetry() -> None:
    gt = _people(seed=4)[1:]
    joints_in = gt + np.random.default_rng(5).normal(0, 0.05, gt.shape)
    new_in, new_gt = limb_scale_batch(joints_in, gt, 0.2, np.random.default_rng(6))
    np.testing.assert_allclose(new_in - new_gt, joints_in - gt, atol=1e-12)
    ratio = bone_lengths(new_gt) / bone_lengths(gt)
    assert ratio.min() >= 0.8 - 1e-9 and ratio.max() <= 1.2 + 1e-9 and ratio.std() > 0.05
    for k in range(len(LIMBS)):  # mirrored bones share a factor
        np.testing.assert_allclose(ratio[:, k], ratio[:, BONE_GROUP[k]], rtol=1e-9)
    with pytest.raises(RefinetError, match="limb_scale"):
        limb_scale_batch(joints_in, gt, 1.5, np.random.default_rng(0))


def test_oks_profile_sets_per_joint_sigma_and_default_is_unchanged() -> None:
    uv = np.zeros((20000, 15, 2))
    noise = DetectorNoise(sigma_px=5.0, oks_profile=1.0)
    std = noise.apply_2d(uv, np.random.default_rng(0)).std(axis=(0, 2))
    expected = 5.0 * OKS_SIGMAS / OKS_SIGMAS.mean()
    np.testing.assert_allclose(std, expected, rtol=0.03)
    assert std[0] < 0.5 * std[9]  # the head is far sharper than the hips
    a = DetectorNoise(sigma_px=5.0, swap_prob=0.1, outlier_prob=0.1).apply_2d(uv[:50] + 10, np.random.default_rng(1))
    b = DetectorNoise(sigma_px=5.0, swap_prob=0.1, outlier_prob=0.1, oks_profile=0.0).apply_2d(
        uv[:50] + 10, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert "oks_profile" not in DetectorNoise().to_dict() and noise.to_dict()["oks_profile"] == 1.0



def test_clean_prob_keeps_exact_frames_and_leaves_other_draws_unchanged() -> None:
    uv = np.random.default_rng(3).uniform(0, 300, size=(4000, 15, 2))
    uv[7, 4] = np.nan  # a missing joint stays missing in a clean frame
    base = DetectorNoise(sigma_px=5.0, swap_prob=0.05, outlier_prob=0.05)
    mixed = DetectorNoise(sigma_px=5.0, swap_prob=0.05, outlier_prob=0.05, clean_prob=0.3)
    a, b = base.apply_2d(uv, np.random.default_rng(1)), mixed.apply_2d(uv, np.random.default_rng(1))
    exact = np.all((b == uv) | np.isnan(uv), axis=(1, 2))
    assert 0.27 < exact.mean() < 0.33  # ~30 % of person-frames exact
    assert not np.all((a == uv) | np.isnan(uv), axis=(1, 2)).any()  # without it no frame is exact
    np.testing.assert_array_equal(a[~exact], b[~exact])  # the other frames get the same noise as before
    assert np.isnan(b[7, 4]).all()
    assert "clean_prob" not in base.to_dict() and mixed.to_dict()["clean_prob"] == 0.3
    with pytest.raises(RefinetError, match="clean_prob"):
        DetectorNoise(clean_prob=1.5)


def test_missing_prob_leaves_joints_out_and_the_other_draws_unchanged() -> None:
    uv = np.random.default_rng(3).uniform(0, 300, size=(4000, 15, 2))
    base = DetectorNoise(sigma_px=5.0, swap_prob=0.05, outlier_prob=0.05, clean_prob=0.25)
    leaky = DetectorNoise(sigma_px=5.0, swap_prob=0.05, outlier_prob=0.05, clean_prob=0.25, missing_prob=0.1)
    a, b = base.apply_2d(uv, np.random.default_rng(1)), leaky.apply_2d(uv, np.random.default_rng(1))
    gone = np.isnan(b).any(axis=-1)
    assert np.isnan(b[gone]).all() and not np.isnan(a).any()
    assert 0.09 < gone.mean() < 0.11
    np.testing.assert_array_equal(a[~gone], b[~gone])  # every joint kept has the noise it had without the option
    assert "missing_prob" not in base.to_dict() and leaky.to_dict()["missing_prob"] == 0.1
    with pytest.raises(RefinetError, match="missing_prob"):
        DetectorNoise(missing_prob=-0.1)


# ---------------------------------------------------------------- checkpoints

torch = pytest.importorskip("torch")

OPTIONS = {
    "evidence": {"mode": "metric", "rays": False, "evidence": True, "ray_output": False},
    "rays+evidence": {"mode": "metric", "rays": True, "evidence": True, "ray_output": False},
    "ray_output": {"mode": "metric", "rays": True, "evidence": False, "ray_output": True},
    "all": {"mode": "metric", "rays": True, "evidence": True, "ray_output": True},
}


def _save(directory: Path, preprocess: dict, features: int) -> None:
    from refinet_edge.checkpoint import save_stage
    from refinet_edge.models import build_model, preset_config

    config = preset_config("skeleton", "edge", linear_size=32, input_features=features)
    torch.manual_seed(0)
    model = build_model("skeleton", config).train()
    with torch.no_grad():
        model(torch.randn(8, 15, features))
    save_stage(directory / "skeleton.safetensors", "skeleton", model.eval(), config, preprocess=preprocess,
               extra={}, dtype="fp32")


def _scene() -> tuple[np.ndarray, np.ndarray]:
    depth = np.full((2, *CAM.shape), 3.0, np.float32)
    depth[:, 10:40, 20:44] = 2.5
    uv = np.random.default_rng(0).uniform([18, 8], [46, 42], (2, 15, 2))
    return depth, uv


@pytest.mark.parametrize("name", list(OPTIONS))
def test_checkpoint_round_trip_of_every_new_option(tmp_path: Path, name: str) -> None:
    from refinet_edge.pipeline import RefinementPipeline

    cfg = SkeletonConfig(**OPTIONS[name])
    _save(tmp_path, OPTIONS[name], cfg.input_features)
    pipeline = RefinementPipeline.from_dir(tmp_path, stages=("skeleton",))
    assert pipeline.config.skeleton == cfg
    depth, uv = _scene()
    out = pipeline.run(depth, uv, CAM).steps["skeleton"]
    assert out.shape == (2, 15, 3) and np.isfinite(out).all()
    numpy_path = RefinementPipeline.from_dir(tmp_path, stages=("skeleton",))
    numpy_path.set_preprocess("numpy")
    np.testing.assert_allclose(numpy_path.run(depth, uv, CAM).steps["skeleton"], out, atol=1e-6)


def test_old_checkpoint_loads_and_mismatch_is_one_line(tmp_path: Path) -> None:
    from refinet_edge.pipeline import RefinementPipeline

    _save(tmp_path, {"mode": "metric", "rays": True}, 5)  # written before the options existed
    assert RefinementPipeline.from_dir(tmp_path).config.skeleton == SkeletonConfig(rays=True)
    _save(tmp_path, {"mode": "metric", "rays": True, "evidence": True}, 5)
    with pytest.raises(RefinetError,
                       match=r"takes 5 features per joint but .*evidence=True, patch_evidence=False\) gives 9"):
        RefinementPipeline.from_dir(tmp_path)
    _save(tmp_path, {"mode": "metric", "rays": True, "future_option": 1}, 5)
    with pytest.raises(RefinetError, match="'future_option' is not known to this version"):
        RefinementPipeline.from_dir(tmp_path)


# ---------------------------------------------------------------- top view


def test_weight_set_per_view_and_pitch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from refinet_edge import pipeline
    from refinet_edge.pipeline import STAGES, WEIGHTS_DIR, view_from_pitch, weights_dir

    assert weights_dir("side") == WEIGHTS_DIR
    assert weights_dir("top") == WEIGHTS_DIR / "top"  # the shipped top-view set
    assert all((WEIGHTS_DIR / "top" / f"{s}.safetensors").is_file() for s in STAGES)
    monkeypatch.setattr(pipeline, "WEIGHTS_DIR", tmp_path)  # an install without a top-view set
    with pytest.raises(RefinetError, match="no top-view weights are shipped yet"):
        weights_dir("top")
    with pytest.raises(RefinetError, match="unknown view 'front'"):
        weights_dir("front")
    assert view_from_pitch(85.0) == "top" and view_from_pitch(20.0) == "side" and view_from_pitch(-10.0) == "side"


def test_evaluate_view_top_loads_the_top_weights_and_names_bad_data_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "refinet_edge.cli", "evaluate", "--data", str(tmp_path), "--view",
                             "top"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in (result.stderr + result.stdout).splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(tmp_path) in errors[0] and "top-view weights" not in errors[0], errors


@pytest.mark.parametrize("features", [7, 9])
def test_flip_test_with_evidence_is_mirror_equivariant(features: int) -> None:
    from refinet_edge.models import build_model, preset_config
    from refinet_edge.models.skeleton import flip_signs
    from refinet_edge.skeleton import FLIP_INDEX

    config = preset_config("skeleton", "edge", linear_size=32, input_features=features, flip_test=True)
    torch.manual_seed(0)
    model = build_model("skeleton", config).eval()
    x = torch.randn(4, 15, features)
    mirrored = x[:, list(FLIP_INDEX)] * torch.tensor(flip_signs(features))
    with torch.no_grad():
        out, out_m = model(x), model(mirrored)
    np.testing.assert_allclose(out_m.numpy(), (out[:, list(FLIP_INDEX)] * torch.tensor([-1.0, 1.0, 1.0])).numpy(),
                               atol=1e-5)
    assert flip_signs(9)[5:] == [1.0] * 4 and flip_signs(7)[3:] == [1.0] * 4  # evidence keeps its sign


def test_readme_smoke_table_matches_its_report() -> None:
    import json
    import re

    repo = Path(__file__).resolve().parents[1]
    report = json.loads((repo / "benchmarks/reports/2026-12-05-cpu-2core-issue18-smoke/smoke.json").read_text())
    timing = json.loads((repo / "benchmarks/reports/2026-12-05-cpu-2core-issue18-smoke/batch256_timing.json")
                        .read_text())
    from fixtures.docs import documented_text

    readme = documented_text()  # the README and the docs pages
    rows = dict(zip(["skeleton, shipped options", "+ evidence", "+ ray_output", "+ limb_scale 0.2, oks_profile 1",
                     "pointcloud, shipped options", "+ ray_reach 2"], report["runs"].values(), strict=True))
    for label, run in rows.items():
        line = f"| {label} | {run['loss'][0]:.3f} -> {run['loss'][-1]:.3f} | {run['median_seconds_per_batch']:.2f} |"
        assert line in readme, line
        assert run["loss_fell"]
    assert f"skeleton {timing['runs']['skeleton_evidence']['median_seconds_per_batch']:.2f} s per batch of 256" \
        in " ".join(readme.split())
    assert re.search(rf"pointcloud {timing['runs']['pointcloud_ray_reach']['median_seconds_per_batch']:.1f} s per "
                     r"256 frames", " ".join(readme.split()))


def test_mixture_hypes_turn_the_options_on() -> None:
    from refinet_edge.hypes import load_hypes

    repo = Path(__file__).resolve().parents[1]
    skeleton = load_hypes(repo / "hypes/synthetic/skeleton/mixture.json")
    assert skeleton.model_config.input_features == 9  # type: ignore[union-attr]
    # the v8 recipe: evidence features on; the ray-following output off (it cannot start from v7's output layer)
    assert SkeletonConfig(**skeleton.preprocess_settings("skeleton")) == SkeletonConfig(rays=True, evidence=True)
    assert skeleton.train.init_from == "checkpoints/v7/skeleton.safetensors"
    assert skeleton.train_dir == ["data/mix_a", "data/mix_b", "data/mix_c"]
    points = load_hypes(repo / "hypes/synthetic/pointcloud/mixture.json")
    assert points.preprocess_settings("points")["ray_reach"] == 2.0
    with pytest.raises(RefinetError, match="evidence needs model.input_features 9, got 5"):
        load_hypes(repo / "hypes/synthetic/skeleton/mixture.json", ["--model.input_features=5"])


def test_a_detectors_scores_do_not_reach_a_skeleton_trained_without_them() -> None:
    """The shipped skeleton learned its score feature as 1 (the training data has no detector scores). Fed a real
    detector's confidences it fell from 93.4 % to 47.6-91.6 % (evidence module docstring), so live passes none: the
    same frame gives the same 3D whatever the detector's confidences."""
    from refinet_edge.live.detectors import Detections
    from refinet_edge.live.frames import RGBDFrame
    from refinet_edge.live.refiner import Refiner
    from refinet_edge.pipeline import RefinementPipeline

    refiner = Refiner(RefinementPipeline.from_dir())
    rng = np.random.default_rng(0)
    depth = np.full((240, 320), 3.0, np.float32)
    depth[60:200, 120:200] = 2.5
    uv = rng.uniform([125, 65], [195, 195], (1, 15, 2))
    from refinet_edge.camera import camera_preset

    frame = RGBDFrame(number=0, timestamp_ms=0.0, depth_m=depth, image_bgr=np.zeros((240, 320, 3), np.uint8),
                      camera=camera_preset("itop_side"), arrival_s=0.0)
    sure = refiner(frame, Detections(uv, np.ones((1, 15))))
    unsure = refiner(frame, Detections(uv, rng.uniform(0.3, 1.0, (1, 15))))
    for step in sure.steps:
        np.testing.assert_array_equal(unsure.steps[step], sure.steps[step])
