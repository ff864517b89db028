"""Lifting 2D joints with the depth map: hand-made cases and vectorised == reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refinet_edge.camera import Camera, camera_preset
from refinet_edge.errors import RefinetError
from refinet_edge.lifting import (
    DepthSource,
    lift_joints,
    lift_joints_detailed,
    lift_joints_reference,
    window_sizes,
)

ITOP = camera_preset("itop_side")
TINY = Camera("tiny", 7, 5, 2.0, 2.0, 3.0, 2.0)  # 7 wide, 5 high


def _uv(batch: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 300, (batch, 15, 2))


def test_constant_plane_gives_exact_deprojection() -> None:
    uv = _uv()
    depth = np.full((2, 240, 320), 2.5)
    joints, has_depth = lift_joints(uv, depth, ITOP)
    assert joints.shape == (2, 15, 3) and has_depth.shape == (2, 15) and has_depth.all()
    np.testing.assert_allclose(joints, ITOP.deproject(uv, np.full((2, 15), 2.5)), rtol=0, atol=0)
    # ITOP's own formula (x right; y down here, so no sign flip).
    np.testing.assert_allclose(joints[..., 0], (uv[..., 0] - 160) * 0.0035 * 2.5, rtol=1e-12)
    np.testing.assert_allclose(joints[..., 1], (uv[..., 1] - 120) * 0.0035 * 2.5, rtol=1e-12)


def test_unbatched_matches_batched() -> None:
    uv = _uv(1)
    depth = np.random.default_rng(1).uniform(1, 4, (1, 240, 320)).astype(np.float16)
    joints, has_depth = lift_joints(uv[0], depth[0], ITOP)
    batched, batched_has = lift_joints(uv, depth, ITOP)
    assert joints.shape == (15, 3) and has_depth.shape == (15,)
    np.testing.assert_array_equal(joints, batched[0])
    np.testing.assert_array_equal(has_depth, batched_has[0])


def test_median_ignores_zeros_and_uses_the_window() -> None:
    depth = np.zeros((5, 7))
    depth[1:4, 2:5] = [[1.0, 0.0, 3.0], [0.0, 2.0, 0.0], [4.0, 0.0, 0.0]]  # 3x3 around (2, 3)
    depth[0, 0] = 100.0  # outside the 3x3 window
    uv = np.full((15, 2), np.nan)
    uv[0] = [3.2, 1.7]  # rounds to column 3, row 2
    result = lift_joints_detailed(uv, depth, TINY, window=3)
    assert result.joints_m[0, 2] == pytest.approx(2.5)  # median of 1, 3, 2, 4
    assert result.depth_source[0] == DepthSource.WINDOW
    np.testing.assert_allclose(result.joints_m[0], TINY.deproject(uv[0], 2.5))  # unrounded uv for x, y


def test_rounding_not_truncation() -> None:
    depth = np.zeros((5, 7))
    depth[2, 3] = 1.0
    depth[2, 2] = 9.0
    uv = np.array([[2.6, 2.4]] * 15)  # rint -> column 3 (int() would give column 2)
    joints, _ = lift_joints(uv, depth, TINY, window=1, grow_steps=0)
    assert joints[0, 2] == 1.0


def test_window_growth_and_person_median() -> None:
    depth = np.zeros((240, 320))
    depth[100:110, 100:110] = 2.0
    depth[100:110, 110:120] = 4.0
    uv = np.full((15, 2), np.nan)
    uv[0] = [104, 104]  # inside the 2.0 block
    uv[1] = [115, 104]  # inside the 4.0 block
    uv[2] = [104, 120]  # 11 rows below the block: 9 and 17 too small, 33 reaches it
    uv[3] = [104, 114]  # 5 rows below: 9 misses, 17 reaches it (rows 106..122)
    uv[4] = [300, 200]  # far from any depth: person median
    result = lift_joints_detailed(uv, depth, ITOP)
    src = result.depth_source
    assert list(src[:5]) == [DepthSource.WINDOW, DepthSource.WINDOW, DepthSource.GROWN_WINDOW,
                             DepthSource.GROWN_WINDOW, DepthSource.PERSON_MEDIAN]
    z = result.joints_m[:, 2]
    assert z[0] == 2.0 and z[1] == 4.0
    assert z[2] == 3.0  # 33x33 box: rows 104..109, 60 pixels at 2.0 and 60 at 4.0
    assert z[3] == 2.0  # 17x17 box: rows 106..109, columns 100..109 at 2.0 (40), 110..112 at 4.0 (12)
    assert z[4] == 2.5  # median of 2, 4, 3, 2
    assert np.all(src[5:] == DepthSource.NONE) and np.all(np.isnan(result.joints_m[5:]))
    assert window_sizes(9, 2) == (9, 17, 33) and window_sizes(1, 2) == (1, 3, 5)
    assert window_sizes(3, 0) == (3,)


def test_no_depth_on_person_gives_nan() -> None:
    depth = np.zeros((2, 240, 320))
    depth[1, :5, :5] = 3.0  # the other person has depth near one joint
    uv = _uv(2)
    uv[1, 0] = [2.0, 2.0]
    joints, has_depth = lift_joints(uv, depth, ITOP, grow_steps=0)
    assert not has_depth[0].any() and np.all(np.isnan(joints[0]))
    assert has_depth[1].all() and np.all(joints[1, :, 2] == 3.0)  # every joint: person median


def test_outside_image_clamps_to_border() -> None:
    depth = np.full((5, 7), 1.0)
    depth[:, 6] = 5.0  # rightmost column
    depth[0, :] = 7.0  # top row
    uv = np.full((15, 2), np.nan)
    uv[0] = [40.0, 2.0]  # far right: clamped to column 6
    uv[1] = [3.0, -20.0]  # far above: clamped to row 0
    uv[2] = [-1e9, 1e12]  # far bottom-left: clamped to (row 4, col 0)
    joints, has_depth = lift_joints(uv, depth, TINY, window=1, grow_steps=0)
    assert list(joints[:3, 2]) == [5.0, 7.0, 1.0]
    np.testing.assert_allclose(joints[0], TINY.deproject(uv[0], 5.0))  # x, y from the real uv
    assert has_depth[:3].all() and not has_depth[3:].any()


def test_nan_and_inf_joints() -> None:
    uv = _uv(1)
    uv[0, 3] = [np.nan, 10.0]
    uv[0, 7] = [np.inf, 10.0]
    joints, has_depth = lift_joints(uv, np.full((1, 240, 320), 2.0), ITOP)
    assert np.all(np.isnan(joints[0, [3, 7]])) and not has_depth[0, [3, 7]].any()
    assert has_depth[0].sum() == 13 and np.isfinite(np.delete(joints[0], [3, 7], axis=0)).all()


def test_nan_depth_is_no_measurement() -> None:
    depth = np.full((5, 7), np.nan)
    depth[2, 2] = 1.5
    uv = np.zeros((15, 2))
    joints, _ = lift_joints(uv, depth, TINY, window=3, grow_steps=1)  # 3 misses, 5 reaches (2, 2)
    assert np.all(joints[:, 2] == 1.5)


def test_input_errors() -> None:
    with pytest.raises(RefinetError, match="odd"):
        lift_joints(_uv(1), np.zeros((1, 240, 320)), ITOP, window=8)
    with pytest.raises(RefinetError, match="grow_steps"):
        lift_joints(_uv(1), np.zeros((1, 240, 320)), ITOP, grow_steps=-1)
    with pytest.raises(RefinetError, match="does not match camera"):
        lift_joints(_uv(1), np.zeros((1, 480, 640)), ITOP)
    with pytest.raises(RefinetError, match="2 poses but 1 depth"):
        lift_joints(_uv(2), np.zeros((1, 240, 320)), ITOP)
    with pytest.raises(RefinetError, match=r"\(B, J, 2\)"):
        lift_joints(_uv(1), np.zeros((240, 320)), ITOP)


@st.composite
def _lifting_case(draw):
    height = draw(st.integers(1, 9))
    width = draw(st.integers(1, 9))
    batch = draw(st.integers(1, 3))
    joints = draw(st.integers(1, 15))
    seed = draw(st.integers(0, 2**32 - 1))
    hole_rate = draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))
    rng = np.random.default_rng(seed)
    shape = (batch, height, width)
    depth = rng.choice([1.0, 2.0, 3.5], size=shape) * (rng.random(shape) > hole_rate)
    if draw(st.booleans()):
        depth[0] = 0.0  # a person without any depth
    # Coordinates at, around and beyond the borders, integers, halves, NaN.
    u = rng.choice([-3.0, -0.5, 0.0, 0.49, 0.5, 1.5, width - 1.0, width - 0.5, width + 4.0, np.nan],
                   size=(batch, joints))
    v = rng.uniform(-3.0, height + 3.0, size=(batch, joints))
    v[rng.random((batch, joints)) < 0.3] = np.nan
    mix = rng.random((batch, joints)) < 0.5
    u = np.where(mix, rng.uniform(-3.0, width + 3.0, (batch, joints)), u)
    camera = Camera("hyp", width, height, 3.0, 3.0, (width - 1) / 2, (height - 1) / 2)
    window = draw(st.sampled_from([1, 3, 5]))
    grow = draw(st.integers(0, 2))
    return np.stack([u, v], axis=-1), depth.astype(draw(st.sampled_from([np.float64, np.float16]))), \
        camera, window, grow


@settings(max_examples=150, deadline=None)
@given(_lifting_case())
def test_vectorised_equals_reference(case) -> None:
    uv, depth, camera, window, grow = case
    fast = lift_joints_detailed(uv, depth, camera, window, grow)
    slow = lift_joints_reference(uv, depth, camera, window, grow)
    np.testing.assert_array_equal(fast.depth_source, slow.depth_source)
    np.testing.assert_allclose(fast.joints_m, slow.joints_m, rtol=1e-12, atol=0, equal_nan=True)
    assert np.array_equal(np.isnan(fast.joints_m).all(axis=-1), ~fast.has_depth)


def test_vectorised_equals_reference_itop_sized() -> None:
    rng = np.random.default_rng(11)
    depth = rng.uniform(1.5, 4.5, (3, 240, 320)) * (rng.random((3, 240, 320)) > 0.97)
    depth[1] = 0.0
    depth[2, :, 150:] = 0.0
    uv = rng.uniform(-30, 350, (3, 15, 2))
    uv[0, 5] = np.nan
    fast = lift_joints_detailed(uv, depth, ITOP)
    slow = lift_joints_reference(uv, depth, ITOP)
    np.testing.assert_array_equal(fast.depth_source, slow.depth_source)
    np.testing.assert_allclose(fast.joints_m, slow.joints_m, rtol=1e-12, atol=0, equal_nan=True)
    assert set(np.unique(fast.depth_source)) >= {0, 1, 2}
