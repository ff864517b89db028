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
