"""Stage B evidence features (:mod:`refinet_edge.preprocess.evidence`): the rule on hand-built depth maps, and
the Numba-compiled twin equal to the NumPy reference bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refinet_edge.camera import Camera
from refinet_edge.errors import RefinetError
from refinet_edge.lifting import lift_joints
from refinet_edge.preprocess.evidence import AGREE_M, joint_evidence

CAM = Camera("ev", 40, 30, 30.0, 30.0, 20.0, 15.0)


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """A person at 2 m (a 10 px wide column, cols 15-24) in front of a wall at 4 m, one hole top left."""
    depth = np.full((1, 30, 40), 4.0, np.float32)
    depth[0, :, 15:25] = 2.0
    depth[0, 0:9, 0:9] = 0.0
    return depth


def test_features_tell_person_background_edge_and_hole() -> None:
    depth = _scene()
    uv = np.array([[[20.0, 15.0], [35.0, 15.0], [15.0, 15.0], [4.0, 4.0], [np.nan, np.nan], [19.0, 20.0]]])
    joints = lift_joints(uv, depth, CAM, window=9)[0]
    ev = joint_evidence(uv, depth, joints, np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 1.7]]), CAM, window=9)
    assert ev.shape == (1, 6, 4) and ev.dtype == np.float32
    on_person, background, edge, hole, missing, person2 = ev[0]
    np.testing.assert_array_equal(on_person[1:], [1.0, 1.0, np.float32(0.9)])  # full window, all agree
    assert background[0] > 3.0  # 2 m behind a person whose joints mostly lie at 2 m: many spreads away
    assert abs(on_person[0]) < 1.0 and person2[3] == 1.0  # score clipped to [0, 1]
    assert 0.3 < edge[2] < 0.7 and edge[1] == 1.0  # the window straddles the person's silhouette
    assert hole[1] == 0.0 and hole[2] == 0.0  # no valid pixel in the window: depth came from a grown window
    np.testing.assert_array_equal(missing, 0.0)


def test_agree_fraction_counts_pixels_within_agree_m() -> None:
    depth = np.full((1, 30, 40), 2.0, np.float32)
    depth[0, 13:15, 19:22] = 2.0 + AGREE_M + 0.01  # rows 13-14 of the 3x3 windows disagree
    uv = np.array([[[20.0, 15.0], [20.0, 14.0]]])  # windows: rows 14-16 (3 disagree), rows 13-15 (6 disagree)
    joints = np.array([[[0.0, 0.0, 2.0], [0.0, 0.0, 2.0]]])
    ev = joint_evidence(uv, depth, joints, None, CAM, window=3)
    np.testing.assert_allclose(ev[0, :, 2], [6 / 9, 3 / 9], rtol=1e-6)
    np.testing.assert_array_equal(ev[0, :, 1], 1.0)
    np.testing.assert_array_equal(ev[0, :, 3], 1.0)  # no scores: 1


def test_bad_shapes_are_one_line_errors() -> None:
    depth = _scene()
    with pytest.raises(RefinetError, match="scores must be"):
        joint_evidence(np.zeros((1, 2, 2)), depth, np.zeros((1, 2, 3)), np.zeros((1, 3)), CAM)
    with pytest.raises(RefinetError, match="odd integer"):
        joint_evidence(np.zeros((1, 2, 2)), depth, np.zeros((1, 2, 3)), None, CAM, window=4)


@st.composite
def evidence_scenes(draw: st.DrawFn) -> tuple:
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 20))
    camera = Camera("h", width, height, 20.0, 20.0, width / 2, height / 2)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch, joints = draw(st.integers(1, 3)), draw(st.integers(1, 15))
    depth = (draw(st.sampled_from([0.5, 2.0])) + rng.uniform(-0.3, 0.3, (batch, height, width))).astype(np.float32)
    depth[rng.random(depth.shape) < draw(st.sampled_from([0.0, 0.3, 1.0]))] = 0
    depth[rng.random(depth.shape) < 0.05] = rng.choice([np.nan, np.inf, -1.0])
    uv = rng.uniform(-0.3, 1.3, (batch, joints, 2)) * [width, height]
    uv[rng.random(uv.shape[:2]) < 0.15] = np.nan
    uv[rng.random(uv.shape[:2]) < 0.1] = rng.choice([0.5, 1.5, -0.5, 1e9, -1e9])
    z = rng.uniform(0.2, 3.0, (batch, joints))
    z[rng.random(z.shape) < 0.2] = np.nan
    xyz = np.stack([rng.normal(size=z.shape), rng.normal(size=z.shape), z], axis=-1)
    scores = rng.uniform(-0.5, 1.5, (batch, joints)) if draw(st.booleans()) else None
    if scores is not None:
        scores[rng.random(scores.shape) < 0.1] = np.nan
    return camera, depth, uv, xyz, scores, draw(st.sampled_from([1, 3, 9, 33]))


@settings(max_examples=80, deadline=None)
@given(evidence_scenes())
def test_compiled_evidence_equals_numpy(scene: tuple) -> None:
    pytest.importorskip("numba")
    from refinet_edge.preprocess import _jit_evidence

    camera, depth, uv, xyz, scores, window = scene
    for d in (depth, depth.astype(np.float64)):
        expected = joint_evidence(uv, d, xyz, scores, camera, window)
        got = _jit_evidence.joint_evidence(uv, d, xyz, scores, camera, window)
        assert got.dtype == expected.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
