"""Stage B encoding: the ray features, encode/target/decode agreeing, and the centre equal to np.nanmedian."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.stage_io import SkeletonConfig, skeleton_centre, skeleton_decode, skeleton_encode, skeleton_target


def _skeleton(rng: np.random.Generator, batch: int = 3) -> np.ndarray:
    joints = rng.normal(0.0, 0.3, (batch, 15, 3))
    joints[..., 2] += 3.0  # 3 m in front of the camera
    return joints


def test_ray_features_ignore_depth_along_the_ray() -> None:
    rng = np.random.default_rng(0)
    joints = _skeleton(rng)
    cfg = SkeletonConfig(rays=True)
    x, centre = skeleton_encode(joints, cfg)
    assert x.shape == (3, 15, 5)
    moved = joints.copy()
    moved[:, 6] *= 1.4  # the right hand lifted from the background: further along its own ray
    x_moved, _ = skeleton_encode(moved, cfg)
    # the ray features move only as much as the median centre does (< 1 cm), z by more than 50 cm
    np.testing.assert_allclose(x_moved[:, 6, 3:], x[:, 6, 3:], atol=0.01)
    assert np.all(np.abs(x_moved[:, 6, 2] - x[:, 6, 2]) > 0.5)  # while z moved by > 1 m


def test_ray_features_are_metres_at_the_centre_depth() -> None:
    joints = np.zeros((1, 15, 3))
    joints[..., 2] = 2.0
    joints[0, 0, 0] = 0.2  # 20 cm to the side at the person's depth
    x, _ = skeleton_encode(joints, SkeletonConfig(rays=True))
    np.testing.assert_allclose(x[0, 0, 3:], [0.2, 0.0], atol=1e-6)


@pytest.mark.parametrize("rays", [False, True])
def test_decode_of_the_target_is_the_ground_truth(rays: bool) -> None:
    rng = np.random.default_rng(1)
    joints, gt = _skeleton(rng), _skeleton(rng)
    joints[0, 3] = np.nan  # a missing joint
    cfg = SkeletonConfig(rays=rays)
    x, centre = skeleton_encode(joints, cfg)
    assert np.isfinite(x).all() and not x[0, 3].any()
    np.testing.assert_allclose(skeleton_decode(x, skeleton_target(x, gt, centre, cfg), centre, cfg), gt, atol=1e-6)


def test_rays_need_the_metric_mode() -> None:
    with pytest.raises(RefinetError, match="rays need mode 'metric'"):
        SkeletonConfig(mode="authors", rays=True)
    with pytest.raises(RefinetError, match="true or false"):
        SkeletonConfig(rays="yes")  # type: ignore[arg-type]


def _nanmedian_centre(joints: np.ndarray) -> np.ndarray:
    """The original definition: np.nanmedian over the joints with all three coordinates finite."""
    valid = np.all(np.isfinite(joints), axis=-1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.where(valid, joints, np.nan), axis=-2)


def test_centre_equals_nanmedian_exactly() -> None:
    rng = np.random.default_rng(0)
    for trial in range(400):
        batch, joints = int(rng.integers(0, 4)), int(rng.integers(0, 18))
        shape = (batch, joints, 3) if trial % 5 else (joints, 3)  # unbatched too
        x = rng.normal(0.0, 2.0, shape)
        if trial % 3 == 0:
            x = np.round(x)  # ties
        if trial % 2:
            x = x.astype(np.float32)  # float32 in, float32 out, as nanmedian
        x[rng.random(shape) < 0.25] = rng.choice([np.nan, np.inf, -np.inf])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "All-NaN slice" warnings
            got = skeleton_centre(x)
        expected = _nanmedian_centre(x)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_centre_odd_even_and_all_missing() -> None:
    joints = np.full((3, 4, 3), np.nan)
    joints[0, :3] = [[1.0, 2.0, 3.0], [5.0, 0.0, 1.0], [3.0, 1.0, 2.0]]  # odd: the middle value
    joints[1] = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 1.0, 2.0], [4.0, 9.0, np.inf]]  # the inf joint drops out
    joints[2, 1:3] = [[1.0, 1.0, 1.0], [2.0, 4.0, 8.0]]  # even: the mean of the two middle values
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        centre = skeleton_centre(joints)
    np.testing.assert_array_equal(centre[0], [3.0, 1.0, 2.0])
    np.testing.assert_array_equal(centre[1], [2.0, 2.0, 3.0])
    np.testing.assert_array_equal(centre[2], [1.5, 2.5, 4.5])
    np.testing.assert_array_equal(skeleton_centre(np.full((2, 15, 3), np.nan)), np.full((2, 3), np.nan))
