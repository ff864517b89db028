"""Stage C's ray region (:attr:`PointConfig.ray_reach`, rule 4b of :mod:`refinet_edge.preprocess.points`): it
reaches a joint placed too far along its camera ray, and the batched NumPy, the reference and the compiled path
agree bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refinet_edge.camera import Camera
from refinet_edge.errors import RefinetError
from refinet_edge.preprocess.points import PointConfig, sample_points, sample_points_reference

CAM = Camera("ray", 160, 120, 120.0, 120.0, 80.0, 60.0)


def _hand_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A hand (a 10 cm square at 2.0 m, off the optical axis) in front of a wall at 3.5 m; its joint 4 cm behind
    the surface, and the same joint put 20 cm too far along its camera ray."""
    depth = np.full((1, *CAM.shape), 3.5, np.float32)
    true_joint = np.array([0.45, -0.25, 2.04])
    u, v = CAM.project(np.array([0.45, -0.25, 2.0]))
    half_px = 0.05 * CAM.fx / 2.0
    depth[0, int(v - half_px):int(v + half_px) + 1, int(u - half_px):int(u + half_px) + 1] = 2.0
    too_far = true_joint * (true_joint[2] + 0.20) / true_joint[2]  # same ray, 20 cm deeper
    return depth, true_joint, too_far


def test_joint_20cm_too_far_along_its_ray_is_reached() -> None:
    depth, true_joint, too_far = _hand_scene()
    joints = np.stack([true_joint, too_far])[None]
    cube = sample_points(depth, joints, CAM, PointConfig())  # today's cube: 0.30 m grown to 0.45 m
    assert cube[1][0, 0] > 0 and cube[1][0, 1] == 0  # the true joint has points, the misplaced one none
    ray = PointConfig(ray_reach=2.0)
    points, counts, side_m = sample_points(depth, joints, CAM, ray)
    assert counts[0, 1] == np.count_nonzero(depth == 2.0) == 49  # every pixel of the hand, nothing else
    hand = points[0, 1, : int(counts[0, 1])]
    half = side_m[0, 1] / 2
    offset_m = np.median(hand, axis=0) * half  # the surface relative to the misplaced joint
    assert -0.26 < offset_m[2] < -0.22  # 24 cm in front along z: reachable (|z| <= R = 2 half-sides)
    assert np.abs(hand[:, 2]).max() <= 2.0 and np.abs(hand[:, :2]).max() < 1.6
    assert not np.any(np.isclose(hand[:, 2] * half, 3.5 - too_far[2], atol=0.05))  # the wall stays out


def test_ray_reach_one_is_the_cube_and_below_one_is_an_error() -> None:
    depth, true_joint, too_far = _hand_scene()
    joints = np.stack([true_joint, too_far])[None]
    for got, expected in zip(sample_points(depth, joints, CAM, PointConfig(ray_reach=1.0)),
                             sample_points(depth, joints, CAM, PointConfig()), strict=True):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(RefinetError, match="ray_reach must be >= 1"):
        PointConfig(ray_reach=0.5)
    # the CUDA kernel and the Numba path test R in float32, NumPy in float64: a value between them is refused
    with pytest.raises(RefinetError, match="rounds to 1 in float32"):
        PointConfig(ray_reach=1.0 + 1e-9)
    assert PointConfig(ray_reach=float(np.nextafter(np.float32(1.0), np.float32(2.0)))).ray_reach > 1.0


@st.composite
def ray_scenes(draw: st.DrawFn) -> tuple:
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 20))
    f = draw(st.floats(5.0, 40.0))
    camera = Camera("h", width, height, f, f, draw(st.floats(-3, width + 3)), draw(st.floats(-3, height + 3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch = draw(st.integers(1, 2))
    depth = (draw(st.sampled_from([0.3, 1.0, 3.0])) + rng.uniform(-0.4, 0.4, (batch, height, width)))
    depth = depth.astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = rng.choice([0.0, np.nan, np.inf, -1.0, 0.05])
    uv = rng.uniform(-0.3, 1.3, (batch, draw(st.integers(1, 5)), 2)) * [width, height]
    z = rng.uniform(0.1, 3.5, uv.shape[:2])
    joints = np.concatenate([(uv - [camera.cx, camera.cy]) / [camera.fx, camera.fy] * z[..., None], z[..., None]], -1)
    joints[rng.random(joints.shape[:2]) < 0.1] = np.nan
    cfg = PointConfig(mode=draw(st.sampled_from(["metric", "authors"])), num_points=draw(st.sampled_from([1, 7, 64])),
                      min_points=draw(st.sampled_from([0, 3, 40])), cube_side_m=draw(st.sampled_from([0.1, 0.3])),
                      max_side_m=0.45, selection=draw(st.sampled_from(["stride", "first"])),
                      ray_reach=draw(st.sampled_from([1.5, 2.0, 3.0])))
    return camera, depth, joints, cfg


@settings(max_examples=60, deadline=None)
@given(ray_scenes())
def test_ray_region_batched_reference_and_compiled_agree(scene: tuple) -> None:
    camera, depth, joints, cfg = scene
    batched = sample_points(depth, joints, camera, cfg)
    for b in range(len(depth)):
        reference = sample_points_reference(depth[b], joints[b], camera, cfg)
        full_scan = sample_points_reference(depth[b], joints[b], camera, cfg, bounded=False)
        for got, ref, scan in zip((a[b] for a in batched), reference, full_scan, strict=True):
            np.testing.assert_array_equal(got, ref)
            np.testing.assert_array_equal(ref, scan)  # the window never drops a candidate
    pytest.importorskip("numba")
    from refinet_edge.preprocess import _jit

    for got, expected in zip(_jit.sample_points(depth, joints, camera, cfg), batched, strict=True):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
