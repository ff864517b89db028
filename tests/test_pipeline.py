"""End-to-end refinement: step order, chaining, invalid joints, checkpoint loading."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refinet_edge.camera import camera_preset  # noqa: E402
from refinet_edge.checkpoint import save_stage  # noqa: E402
from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.models import build_model, preset_config  # noqa: E402
from refinet_edge.pipeline import PipelineConfig, RefinementPipeline, TorchRunner  # noqa: E402
from refinet_edge.preprocess.points import PointConfig  # noqa: E402
from refinet_edge.synth import generate_frame  # noqa: E402

CAM = camera_preset("itop_side")


def _frames(n=2):
    frames = [generate_frame(i, seed=4, camera=CAM, view="side") for i in range(n)]
    return np.stack([f.depth_m for f in frames]), np.stack([f.uv_px for f in frames]), frames


def _zero_runner(dim):
    return lambda *inputs: np.zeros(inputs[0].shape[:2] + (dim,), dtype=np.float32)


def test_zero_output_stages_leave_the_input_unchanged():
    depth, uv, _ = _frames()
    pipe = RefinementPipeline({"patch": _zero_runner(2), "skeleton": _zero_runner(3),
                               "pointcloud": _zero_runner(3)})
    result = pipe.run(depth, uv, CAM)
    assert list(result.steps) == ["input", "patch", "skeleton", "pointcloud"]
    ok = np.isfinite(result.steps["input"])
    for step in ("patch", "skeleton", "pointcloud"):
        np.testing.assert_allclose(result.steps[step][ok], result.steps["input"][ok], atol=1e-6)


def test_missing_stage_is_skipped_and_until_stops():
    depth, uv, _ = _frames()
    pipe = RefinementPipeline({"skeleton": _zero_runner(3)})
    assert pipe.steps == ("input", "skeleton")
    assert list(pipe.run(depth, uv, CAM, until="input").steps) == ["input"]


def test_bad_joints_and_empty_depth_are_marked_invalid():
    depth, uv, _ = _frames()
    uv = uv.copy()
    uv[0, 0] = np.nan
    uv[0, 1] = (-50.0, 10.0)
    depth[1] = 0.0
    result = RefinementPipeline({"skeleton": _zero_runner(3)}).run(depth, uv, CAM)
    assert not result.valid[0, 0] and not result.valid[0, 1]
    assert result.valid[0, 2:].any()
    assert not result.valid[1].any()
    assert np.isnan(result.steps["input"][1]).all()


def test_shape_errors_are_user_errors():
    with pytest.raises(RefinetError, match="uv_px"):
        RefinementPipeline({}).run(np.zeros((1, 240, 320)), np.zeros((15, 2)), CAM)
    with pytest.raises(RefinetError, match="unknown stage"):
        RefinementPipeline({"patches": _zero_runner(2)})


def test_from_dir_loads_checkpoints_and_their_preprocessing(tmp_path):
    cfg = preset_config("pointcloud", "edge", num_points=64)
    model = build_model("pointcloud", cfg).eval()
    save_stage(tmp_path / "pointcloud.safetensors", "pointcloud", model, cfg,
               preprocess={"mode": "metric", "num_points": 64, "cube_side_m": 0.3, "grow_step_m": 0.05,
                           "max_side_m": 0.45, "min_points": 128, "selection": "stride"}, extra={}, dtype="fp32")
    pipe = RefinementPipeline.from_dir(tmp_path)
    assert pipe.steps == ("input", "pointcloud")
    assert pipe.config.points == PointConfig(num_points=64)
    depth, uv, _ = _frames()
    direct = RefinementPipeline({"pointcloud": TorchRunner(model)}, PipelineConfig(points=PointConfig(num_points=64)))
    np.testing.assert_allclose(pipe.run(depth, uv, CAM).steps["pointcloud"],
                               direct.run(depth, uv, CAM).steps["pointcloud"], atol=1e-5)


def test_from_dir_missing_directory(tmp_path):
    with pytest.raises(RefinetError, match="not found"):
        RefinementPipeline.from_dir(tmp_path / "nope")


def test_shipped_weights_load_and_refine():
    from refinet_edge.metrics import compute_metrics
    from refinet_edge.noise import DetectorNoise

    pipe = RefinementPipeline.from_dir()
    assert pipe.steps == ("input", "patch", "skeleton", "pointcloud")
    frames = [generate_frame(i, seed=99, camera=CAM, view="side") for i in range(24)]
    depth = np.stack([f.depth_m for f in frames])
    gt = np.stack([f.joints_m for f in frames])
    uv = DetectorNoise().apply_2d(np.stack([f.uv_px for f in frames]), np.random.default_rng(0))
    result = pipe.run(depth, uv, CAM)
    mpjpe = {step: compute_metrics(joints, gt).mpjpe_mm for step, joints in result.steps.items()}
    assert mpjpe["pointcloud"] < mpjpe["input"], mpjpe


def test_shipped_weights_record_their_training_view():
    assert set(RefinementPipeline.from_dir().trained_views().values()) == {"side"}


def test_pointcloud_passes_refine_the_previous_pass():
    from dataclasses import replace

    from refinet_edge.stage_io import point_decode

    depth, uv, _ = _frames()
    calls = []

    def shift(points, counts):  # a stage C that moves every joint by a tenth of its half-cube
        calls.append(points.shape)
        return np.full(points.shape[:2] + (3,), 0.1, dtype=np.float32)

    one = RefinementPipeline({"pointcloud": shift}, preprocess="numpy")
    cfg = replace(one.config, points=replace(one.config.points, passes=2))
    two = RefinementPipeline({"pointcloud": shift}, cfg, preprocess="numpy")
    first = one.run(depth, uv, CAM).steps["pointcloud"]
    second = two.run(depth, uv, CAM).steps["pointcloud"]
    assert len(calls) == 3
    prep = two.resolve_steps()
    points, counts, side_m = prep.points(depth, first, CAM, cfg.points)
    expected = point_decode(first, shift(points, counts), side_m, counts, cfg.points.mode)
    np.testing.assert_array_equal(second, expected)
    moved = np.isfinite(second).all(-1) & (counts > 0)
    assert moved.any() and not np.allclose(second[moved], first[moved])
    with pytest.raises(RefinetError, match="passes"):
        PointConfig(passes=0)


def test_step_clock_sees_every_step_once_per_pass():
    from contextlib import contextmanager
    from dataclasses import replace

    depth, uv, _ = _frames()
    seen = []

    @contextmanager
    def clock(name):
        seen.append(name)
        yield

    cfg = PipelineConfig()
    cfg = replace(cfg, points=replace(cfg.points, passes=2))
    pipe = RefinementPipeline({"patch": _zero_runner(2), "skeleton": _zero_runner(3),
                               "pointcloud": _zero_runner(3)}, cfg)
    pipe.run(depth, uv, CAM, clock=clock)
    assert seen[0] == "end_to_end"
    assert [s for s in seen if s in ("patch", "skeleton", "pointcloud")] == ["patch", "skeleton", "pointcloud",
                                                                              "pointcloud"]
    assert seen.count("point_sample") == 2 and seen.count("lift") == 2


def _second_pass_pipeline(gate_m: float, shift_m: float = 0.3) -> RefinementPipeline:
    """A skeleton stage that moves joint 3 by ``shift_m`` along x (and nothing else), second pass at ``gate_m``."""
    from dataclasses import replace

    from refinet_edge.stage_io import SKELETON_SCALE_M, SkeletonConfig

    def skeleton(x):
        out = np.zeros(x.shape[:2] + (3,), dtype=np.float32)
        out[:, 3, 0] = -shift_m / SKELETON_SCALE_M  # answer = centre + (x - out) * scale
        return out

    config = replace(PipelineConfig(), skeleton=SkeletonConfig(second_pass_m=gate_m))
    return RefinementPipeline({"skeleton": skeleton}, config)


def test_second_pass_restarts_far_joints_from_the_answer_and_keeps_the_rest():
    depth, uv, _ = _frames(3)
    uv = uv.copy()
    uv[2, 3] = np.nan  # left out by the detector: restarted from where the chain put it
    one = _second_pass_pipeline(0.0).run(depth, uv, CAM)
    two = _second_pass_pipeline(0.15).run(depth, uv, CAM)
    assert not one.second_pass.any()
    expected = np.zeros((3, 15), dtype=bool)
    expected[:, 3] = True  # 0.3 m off its detection (over the 0.15 m gate) or left out; the others stay
    np.testing.assert_array_equal(two.second_pass, expected)
    np.testing.assert_array_equal(two.steps["input"], one.steps["input"], strict=True)  # the detection's lift
    np.testing.assert_array_equal(two.valid, one.valid)  # a left-out joint stays invalid
    assert not two.valid[2, 3]
    # Frame 2 ran again with joint 3 at its first answer, as if detected there: a full input the second time.
    filled = uv[2:3].copy()
    filled[:, 3] = CAM.project(one.steps["skeleton"][2:3, 3])
    np.testing.assert_allclose(two.steps["skeleton"][2:3],
                               _second_pass_pipeline(0.0).run(depth[2:3], filled, CAM).steps["skeleton"], atol=1e-6)
    # Frames 0 and 1 ran again from joint 3's answer projected into the image: it moves 0.3 m once more.
    restarted_uv = uv[:2].copy()
    restarted_uv[:, 3] = CAM.project(one.steps["skeleton"][:2, 3])
    again = _second_pass_pipeline(0.0).run(depth[:2], restarted_uv, CAM)
    np.testing.assert_allclose(two.steps["skeleton"][:2], again.steps["skeleton"], atol=1e-6)
    moved = np.linalg.norm(two.steps["skeleton"][:2, 3] - one.steps["input"][:2, 3], axis=-1)
    assert np.all(moved > 0.45), moved


def test_a_left_out_joint_whose_answer_leaves_the_image_is_not_restarted():
    depth, uv, _ = _frames(1)
    uv = uv.copy()
    uv[0, 3] = np.nan
    far = _second_pass_pipeline(0.15, shift_m=-50.0)  # the chain puts joint 3 far outside the image
    result = far.run(depth, uv, CAM)
    assert not result.second_pass[0, 3]


def test_second_pass_gate_above_every_offset_changes_nothing():
    depth, uv, _ = _frames(2)
    one = _second_pass_pipeline(0.0).run(depth, uv, CAM)
    wide_gate = _second_pass_pipeline(0.5).run(depth, uv, CAM)
    assert not wide_gate.second_pass.any()
    for step in one.steps:
        np.testing.assert_array_equal(wide_gate.steps[step], one.steps[step])


def test_second_pass_is_stored_with_the_skeleton_and_checked(tmp_path):
    from refinet_edge.stage_io import SkeletonConfig

    with pytest.raises(RefinetError, match="second_pass_m must be a distance >= 0"):
        SkeletonConfig(second_pass_m=-0.1)
    with pytest.raises(RefinetError, match="second_pass_m"):
        SkeletonConfig(second_pass_m=float("nan"))
    config = preset_config("skeleton", "edge")
    save_stage(tmp_path / "skeleton.safetensors", "skeleton", build_model("skeleton", config), config,
               preprocess={"mode": "metric", "second_pass_m": 0.15}, extra={}, dtype="fp32")
    assert RefinementPipeline.from_dir(tmp_path).config.skeleton.second_pass_m == 0.15


def test_shipped_second_pass_fixes_gross_2d_errors_and_leaves_other_people_alone():
    from dataclasses import replace

    from refinet_edge.metrics import compute_metrics
    from refinet_edge.noise import DetectorNoise

    shipped = RefinementPipeline.from_dir()
    on = RefinementPipeline(shipped.runners, replace(shipped.config, skeleton=replace(
        shipped.config.skeleton, second_pass_m=0.15)))
    off = RefinementPipeline(shipped.runners, replace(shipped.config, skeleton=replace(
        shipped.config.skeleton, second_pass_m=0.0)))
    frames = [generate_frame(i, seed=98, camera=CAM, view="side") for i in range(32)]
    depth = np.stack([f.depth_m for f in frames])
    gt = np.stack([f.joints_m for f in frames])
    uv = DetectorNoise(sigma_px=2.0, outlier_prob=0.2, snap_fraction=0.0).apply_2d(  # jumps of 20-60 px
        np.stack([f.uv_px for f in frames]), np.random.default_rng(1))
    first, second = off.run(depth, uv, CAM), on.run(depth, uv, CAM)
    assert second.second_pass.any()
    again = second.second_pass.any(axis=1)
    for step in ("patch", "skeleton", "pointcloud"):  # people with no restarted joint: the first pass's answer
        np.testing.assert_array_equal(second.steps[step][~again], first.steps[step][~again])
    before = compute_metrics(first.steps["pointcloud"], gt).acc_10cm
    after = compute_metrics(second.steps["pointcloud"], gt).acc_10cm
    assert after > before + 1.0, (before, after)


def test_shipped_second_pass_places_left_out_joints_and_helps_the_others():
    """A detector that leaves joints out (as YOLO pose and MediaPipe do under 0.5 confidence): restarting them from
    where the chain put them gives the skeleton a full input the second time."""
    from dataclasses import replace

    from refinet_edge.noise import DetectorNoise

    shipped = RefinementPipeline.from_dir()
    off = RefinementPipeline(shipped.runners, replace(shipped.config, skeleton=replace(
        shipped.config.skeleton, second_pass_m=0.0)))
    frames = [generate_frame(i, seed=97, camera=CAM, view="side") for i in range(32)]
    depth = np.stack([f.depth_m for f in frames])
    gt = np.stack([f.joints_m for f in frames])
    uv = DetectorNoise(sigma_px=2.0, missing_prob=0.15).apply_2d(np.stack([f.uv_px for f in frames]),
                                                                 np.random.default_rng(2))
    left_out = np.isnan(uv).any(axis=-1)
    first, second = off.run(depth, uv, CAM), shipped.run(depth, uv, CAM)
    assert second.second_pass[left_out].mean() > 0.9 and not second.valid[left_out].any()
    hits = [np.linalg.norm(r.steps["pointcloud"] - gt, axis=-1) <= 0.10 for r in (first, second)]
    for part in (left_out, ~left_out):  # both the left-out joints and the ones given gain
        assert hits[1][part].mean() > hits[0][part].mean() + 0.02, (hits[0][part].mean(), hits[1][part].mean())


def test_hidden_marks_the_answers_placed_behind_the_measured_surface():
    """A flat wall at 2 m; a skeleton stage that pushes joint 3 half a metre back along z: only joint 3 lies
    behind the surface the sensor measured at its pixel, so only it is hidden (refinet_edge.occlusion)."""
    from dataclasses import replace

    from refinet_edge.occlusion import hidden_joints
    from refinet_edge.stage_io import SKELETON_SCALE_M, SkeletonConfig

    def skeleton(x):
        out = np.zeros(x.shape[:2] + (3,), dtype=np.float32)
        out[:, 3, 2] = -0.5 / SKELETON_SCALE_M  # answer = centre + (x - out) * scale: joint 3 0.5 m further
        return out

    depth = np.full((2, CAM.height, CAM.width), 2.0, np.float32)
    _, uv, _ = _frames(2)
    pipe = RefinementPipeline({"skeleton": skeleton}, replace(PipelineConfig(), skeleton=SkeletonConfig()))
    result = pipe.run(depth, uv, CAM)
    expected = np.zeros((2, 15), bool)
    expected[:, 3] = True
    np.testing.assert_array_equal(result.hidden, expected)
    np.testing.assert_array_equal(result.hidden, hidden_joints(result.steps["skeleton"], depth, CAM))
    assert pipe.run(depth, uv, CAM, until="input").hidden is None  # no stage ran: no answer to flag
