"""Stage C point sampling: hand-made clouds, growth, selection, and bounded window == full-frame scan."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refinet_edge.camera import Camera, camera_preset
from refinet_edge.errors import RefinetError
from refinet_edge.preprocess.points import (
    PointConfig,
    cube_window,
    points_to_offsets_scale,
    sample_points,
    sample_points_reference,
)

CAM = Camera("tiny", 11, 9, 10.0, 10.0, 5.0, 4.0)  # pixel (u, v) at depth 1 m -> x = (u - 5) / 10, y = (v - 4) / 10
F32 = np.float32


def _sample(depth: np.ndarray, joints: np.ndarray, cfg: PointConfig, camera: Camera = CAM) -> tuple[np.ndarray, ...]:
    """Reference (bounded and full-frame) and batch must agree; return the reference's result."""
    ref = sample_points_reference(depth, joints, camera, cfg)
    full = sample_points_reference(depth, joints, camera, cfg, bounded=False)
    batch = sample_points(depth[None], joints[None], camera, cfg)
    for r, f, b in zip(ref, full, batch, strict=True):
        assert r.dtype == np.float32
        np.testing.assert_array_equal(f, r)
        np.testing.assert_array_equal(b[0], r)
    return ref


def _depth(pixels: dict[tuple[int, int], float]) -> np.ndarray:
    depth = np.zeros(CAM.shape)
    for (u, v), d in pixels.items():
        depth[v, u] = d
    return depth


def _xyz(u: int, v: int, d: float) -> np.ndarray:
    """The contract's float32 deprojection."""
    d = F32(d)
    return np.array([((F32(u) - F32(CAM.cx)) / F32(CAM.fx)) * d, ((F32(v) - F32(CAM.cy)) / F32(CAM.fy)) * d, d])


def test_known_cluster_gives_known_points_in_scan_order() -> None:
    # joint at (0, 0, 1): inside the 0.30 m cube are |x|, |y|, |z - 1| < 0.15
    pixels = {(6, 4): 1.0, (4, 3): 1.1, (5, 5): 0.9, (5, 4): 1.0, (7, 4): 1.0, (5, 4 + 3): 1.0, (6, 5): 1.3}
    cfg = PointConfig(num_points=8, min_points=0)
    points, counts, side = _sample(_depth(pixels), np.array([[0.0, 0.0, 1.0]]), cfg)
    # (7, 4): x = 0.2 and (5, 7): y = 0.3 are outside; (6, 5): z = 1.3 is outside
    inside = [(4, 3, 1.1), (5, 4, 1.0), (6, 4, 1.0), (5, 5, 0.9)]  # row by row, then column
    expected = np.stack([_xyz(*p) for p in inside]) / F32(0.15)
    expected[:, 2] = (np.array([F32(d) for *_, d in inside]) - F32(1)) / F32(0.15)
    assert counts[0] == 4 and side[0] == F32(0.30)
    np.testing.assert_array_equal(points[0, :4], expected)
    np.testing.assert_array_equal(points[0, 4:], 0)  # padding
    assert np.all(np.abs(points) <= 1)


def test_strict_cube_faces() -> None:
    # the point (0, 0, 1) on a face of the 0.25 m cube is outside (strict), like the authors
    cfg = PointConfig(min_points=0, cube_side_m=0.25, max_side_m=0.25)
    depth = _depth({(5, 4): 1.0})
    for joint, want in [((-0.125, 0.0, 1.0), 0), ((0.0, 0.125, 1.0), 0), ((0.0, 0.0, 1.125), 0),
                        ((-0.124, 0.0, 1.0), 1), ((0.0, 0.0, 0.876), 1)]:
        _, counts, _ = _sample(depth, np.array([joint]), cfg)
        assert counts[0] == want, joint


def test_empty_cube_grows_to_max_side_with_count_zero() -> None:
    points, counts, side = _sample(_depth({(0, 0): 5.0}), np.array([[0.0, 0.0, 1.0]]), PointConfig())
    assert counts[0] == 0 and side[0] == F32(0.45) and np.all(points == 0)


def test_growth_until_more_than_min_points() -> None:
    # three points in the 0.30 cube, one more in 0.35 (z - 1 = 0.16), one more in 0.40 (z - 1 = 0.19)
    pixels = {(5, 4): 1.0, (4, 4): 1.0, (6, 4): 1.0, (5, 3): 1.16, (4, 3): 1.19}
    depth = _depth(pixels)
    cases = [(2, 0.30, 3), (3, 0.35, 4), (4, 0.40, 5), (5, 0.45, 5), (9, 0.45, 5)]  # min_points, side, count
    for min_points, want_side, want_count in cases:
        _, counts, side = _sample(depth, np.array([[0.0, 0.0, 1.0]]), PointConfig(min_points=min_points))
        assert (side[0], counts[0]) == (F32(want_side), want_count), min_points


def test_sides_and_authors_growth_sequence() -> None:
    assert PointConfig().sides_m == pytest.approx((0.30, 0.35, 0.40, 0.45), abs=1e-12)
    assert PointConfig(cube_side_m=0.3, max_side_m=0.3).sides_m == (0.3,)
    assert len(PointConfig(grow_step_m=0.1).sides_m) == 2


def _row_of_points(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` pixels in scan order near the joint (0, 0, 1) and their depth map."""
    cam = Camera("wide", 40, 3, 200.0, 200.0, 19.5, 1.0)
    depth = np.zeros(cam.shape)
    depth[1, :count] = 1.0
    return depth, cam


def test_stride_and_first_selection() -> None:
    depth, cam = _row_of_points(10)
    joint = np.array([[0.0, 0.0, 1.0]])
    columns = np.arange(10, dtype=np.float32)
    x = ((columns - F32(cam.cx)) / F32(cam.fx)) * F32(1)
    for selection, keep in [("stride", [0, 2, 5, 7]), ("first", [0, 1, 2, 3])]:
        cfg = PointConfig(num_points=4, min_points=0, selection=selection)
        points, counts, _ = _sample(depth, joint, cfg, cam)
        assert counts[0] == 4
        np.testing.assert_array_equal(points[0, :, 0], x[keep] / F32(0.15))
    cfg = PointConfig(num_points=10, min_points=0)  # M == N: everything, in scan order
    points, counts, _ = _sample(depth, joint, cfg, cam)
    np.testing.assert_array_equal(points[0, :, 0], x / F32(0.15))


def test_stride_covers_the_whole_cloud() -> None:
    depth, cam = _row_of_points(37)
    points, counts, _ = _sample(depth, np.array([[0.0, 0.0, 1.0]]), PointConfig(num_points=5, min_points=0), cam)
    kept = np.rint(points[0, :, 0] * F32(0.15) * F32(cam.fx) + F32(cam.cx))
    np.testing.assert_array_equal(kept, [0, 7, 14, 22, 29])  # (i * 37) // 5


def test_authors_mode_standardises_in_millimetres() -> None:
    pixels = {(4, 3): 1.1, (5, 4): 1.0, (6, 4): 1.0, (5, 5): 0.9}
    cfg = PointConfig(mode="authors", num_points=6, min_points=0)
    points, counts, side = _sample(_depth(pixels), np.array([[0.0, 0.0, 1.0]]), cfg)
    cloud = np.stack([_xyz(4, 3, 1.1), _xyz(5, 4, 1.0), _xyz(6, 4, 1.0), _xyz(5, 5, 0.9)]) * F32(1000)
    mean, std = cloud.astype(np.float64).mean(0), cloud.astype(np.float64).std(0)
    np.testing.assert_array_equal(points[0, :4], (cloud - mean.astype(F32)) / std.astype(F32))
    np.testing.assert_allclose(points[0, :4].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(points[0, :4].std(0), 1, atol=1e-6)
    assert np.all(points[0, 4:] == 0) and counts[0] == 4
    np.testing.assert_array_equal(points_to_offsets_scale(side, cfg), F32(0.001))
    np.testing.assert_array_equal(points_to_offsets_scale(side, PointConfig()), side / 2)


def test_authors_mode_single_point_has_std_one() -> None:
    cfg = PointConfig(mode="authors", num_points=3, min_points=0)
    points, counts, _ = _sample(_depth({(5, 4): 1.0}), np.array([[0.0, 0.0, 1.0]]), cfg)
    assert counts[0] == 1 and np.all(points == 0)


def test_invalid_joints() -> None:
    joints = np.array([[np.nan, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, np.inf, 1.0], [0.0, 0.0, 1.0]])
    points, counts, side = _sample(_depth({(5, 4): 1.0}), joints, PointConfig(min_points=0))
    assert np.all(points[:4] == 0) and np.all(counts[:4] == 0) and np.isnan(side[:4]).all()
    assert counts[4] == 1 and side[4] == F32(0.30)
    np.testing.assert_array_equal(points_to_offsets_scale(side), np.r_[[np.nan] * 4, F32(0.15)].astype(F32))


def test_cube_window_is_small_and_clipped() -> None:
    itop = camera_preset("itop_side")
    row0, row1, col0, col1 = (int(b) for b in cube_window(np.array([0.0, 0.0, 3.0]), 0.225, itop))
    assert 130 < col0 < 160 < col1 < 190 and 90 < row0 < 120 < row1 < 150  # about +-24 px, not 320x240
    near = cube_window(np.array([0.0, 0.0, 0.1]), 0.225, itop)  # reaches behind the camera
    assert tuple(int(b) for b in near) == (0, 239, 0, 319)
    far_off = cube_window(np.array([50.0, 0.0, 1.0]), 0.225, itop)
    assert far_off[2] > far_off[3]  # empty


def test_config_and_input_errors_name_the_problem() -> None:
    with pytest.raises(RefinetError, match=r"PointConfig.selection .*did you mean 'first'"):
        PointConfig(selection="frist")
    with pytest.raises(RefinetError, match="PointConfig.mode"):
        PointConfig(mode="mm")
    for field, value in [("num_points", 0), ("min_points", -1), ("cube_side_m", 0.0), ("grow_step_m", -0.05),
                         ("max_side_m", float("nan")), ("num_points", True)]:
        with pytest.raises(RefinetError, match=f"PointConfig.{field}"):
            PointConfig(**{field: value})
    with pytest.raises(RefinetError, match="PointConfig.max_side_m"):
        PointConfig(cube_side_m=0.5, max_side_m=0.45)
    with pytest.raises(RefinetError, match="PointConfig.grow_step_m .* too small"):
        PointConfig(grow_step_m=1e-6)
    with pytest.raises(RefinetError, match="does not match camera"):
        sample_points(np.zeros((1, 5, 5)), np.zeros((1, 15, 3)), CAM)
    with pytest.raises(RefinetError, match="expects depth_m"):
        sample_points_reference(np.zeros(CAM.shape), np.zeros((15, 2)), CAM)


def test_realistic_frame_metric_points_within_unit_cube() -> None:
    itop = camera_preset("itop_side")
    rng = np.random.default_rng(0)
    v, u = np.mgrid[0:240, 0:320]
    depth = 3.0 + 0.3 * np.sin(u / 15.0) * np.cos(v / 20.0) + rng.normal(0, 0.01, (240, 320))
    uv = rng.uniform([20, 20], [300, 220], (15, 2))
    joints = itop.deproject(uv, depth[np.rint(uv[:, 1]).astype(int), np.rint(uv[:, 0]).astype(int)] + 0.05)
    points, counts, side = _sample(depth, joints, PointConfig(), itop)
    assert np.all(counts == 256) and np.all(side == F32(0.30))
    assert np.all(np.abs(points) <= 1) and np.abs(points).max() > 0.9


def test_synthetic_frames_bounded_equals_full_frame() -> None:
    from refinet_edge.synth.generator import generate_frame

    itop = camera_preset("itop_side")
    frames = [generate_frame(i, seed=3) for i in range(2)]
    depth, joints = np.stack([f.depth_m for f in frames]), np.stack([f.joints_m for f in frames])
    for cfg in (PointConfig(), PointConfig(mode="authors", num_points=2000, selection="first")):
        points, counts, side = sample_points(depth, joints, itop, cfg)
        assert counts.max() > 100
        for b in range(2):
            for r, f, got in zip(sample_points_reference(depth[b], joints[b], itop, cfg),
                                 sample_points_reference(depth[b], joints[b], itop, cfg, bounded=False),
                                 (points[b], counts[b], side[b]), strict=True):
                np.testing.assert_array_equal(f, r)
                np.testing.assert_array_equal(got, r)


# ---------------------------------------------------------------- bounded == full frame == batch


@st.composite
def _frames(draw: st.DrawFn) -> tuple[Camera, np.ndarray, np.ndarray, PointConfig]:
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 30))
    f = draw(st.floats(5.0, 80.0))
    camera = Camera("h", width, height, f, f * draw(st.floats(0.8, 1.25)), draw(st.floats(-5, width + 5)),
                    draw(st.floats(-5, height + 5)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch, num_joints = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    base = draw(st.sampled_from([0.3, 1.0, 3.0]))
    depth = base + rng.uniform(-0.25, 0.25, (batch, height, width))
    depth[rng.random(depth.shape) < draw(st.sampled_from([0.0, 0.3, 1.0]))] = 0  # holes; all-zero maps
    depth[rng.random(depth.shape) < 0.05] = rng.choice([np.nan, np.inf, -1.0, 0.049, 0.05, 0.051])
    uv = rng.uniform(-0.3, 1.3, (batch, num_joints, 2)) * [width, height]  # inside, border, outside
    z = np.where(rng.random((batch, num_joints)) < 0.3, rng.uniform(-0.1, 0.4, (batch, num_joints)),
                 base + rng.uniform(-0.3, 0.3, (batch, num_joints)))  # some near, at or behind the camera
    joints = camera.deproject(uv, np.maximum(z, 0.01))
    joints[..., 2] = z
    joints[rng.random((batch, num_joints)) < 0.1] = np.nan
    cfg = PointConfig(mode=draw(st.sampled_from(["metric", "authors"])), num_points=draw(st.integers(1, 40)),
                      min_points=draw(st.integers(0, 60)), selection=draw(st.sampled_from(["stride", "first"])),
                      cube_side_m=draw(st.sampled_from([0.1, 0.3])), max_side_m=draw(st.sampled_from([0.3, 0.45])))
    return camera, depth, joints, cfg


@settings(max_examples=150, deadline=None)
@given(_frames())
def test_bounded_window_equals_full_frame_scan_and_batch(frame: tuple) -> None:
    camera, depth, joints, cfg = frame
    points, counts, side = sample_points(depth, joints, camera, cfg)
    assert points.shape == joints.shape[:2] + (cfg.num_points, 3) and counts.shape == side.shape == joints.shape[:2]
    for b in range(len(depth)):
        ref = sample_points_reference(depth[b], joints[b], camera, cfg)
        full = sample_points_reference(depth[b], joints[b], camera, cfg, bounded=False)
        for r, f, got in zip(ref, full, (points[b], counts[b], side[b]), strict=True):
            np.testing.assert_array_equal(f, r)
            np.testing.assert_array_equal(got, r)
    if cfg.mode == "metric":
        assert np.all(np.abs(points) <= 1)
    filled = np.arange(cfg.num_points) < counts[..., None]
    assert np.all(points[~filled] == 0)
