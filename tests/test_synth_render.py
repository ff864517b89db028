"""Synthetic generator internals: ray casting, kinematics, and large-sample statistics (slow)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refinet_edge.camera import camera_preset
from refinet_edge.skeleton import LIMBS, SYMMETRIC_LIMBS, bone_lengths
from refinet_edge.synth import body_shape, generate_frames
from refinet_edge.synth.geometry import Box, Capsule, Ellipsoid
from refinet_edge.synth.poses import POSE_FAMILIES, forward_kinematics, rot_x, rot_z, sample_pose
from refinet_edge.synth.render import render

CAMERA = camera_preset("itop_side")


def _primitives(rng: np.random.Generator) -> list:
    centre = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.4, 0.4), rng.uniform(1.5, 3.0)])
    turn = rot_z(rng.uniform(0, 360)) @ rot_x(rng.uniform(0, 360))
    return [
        Capsule(centre - turn[:, 0] * 0.3, centre + turn[:, 0] * 0.3, rng.uniform(0.03, 0.2), 1),
        Ellipsoid(centre + [0.4, 0, 0.5], turn * rng.uniform(0.05, 0.3, 3), 2),
        Box(centre + [-0.4, 0.1, 0.3], turn, rng.uniform(0.05, 0.3, 3), 3),
    ]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_each_rendered_pixel_is_the_first_hit_of_its_surface(seed):
    for surface in _primitives(np.random.default_rng(seed)):
        depth, labels = render([surface], CAMERA)
        v, u = np.nonzero(depth > 0)
        assert np.all(labels[v, u] == surface.label) and np.all(labels[depth == 0] == -1)
        if len(u) < 5:
            continue
        points = CAMERA.deproject(np.stack([u, v], axis=-1), depth[v, u].astype(np.float64))
        before = points * (1 - 2e-3)  # 2 mm per metre along the ray
        after = points * (1 + 2e-4)  # 0.2 mm per metre: a step as long as 2 mm leaves a small box near its edges
        assert not surface.contains(before).any()  # nothing of the surface in front of the hit
        assert surface.contains(after).mean() > 0.95  # and the ray goes in (except grazing hits)


def test_nearer_surface_wins_the_z_buffer():
    near = Ellipsoid(np.array([0.0, 0.0, 2.0]), np.eye(3) * 0.2, 0)
    far = Box(np.array([0.0, 0.0, 3.0]), np.eye(3), np.array([1.0, 1.0, 0.1]), 16)
    for order in ([near, far], [far, near]):
        depth, labels = render(order, CAMERA)
        assert labels[120, 160] == 0 and depth[120, 160] == pytest.approx(1.8, abs=1e-4)
        assert labels[120, 100] == 16 and depth[120, 100] == pytest.approx(2.9, abs=1e-4)


def test_forward_kinematics_keeps_bone_lengths_and_symmetry():
    rng = np.random.default_rng(3)
    body = body_shape(0, 5)
    rigid = [k for k, (parent, child) in enumerate(LIMBS) if (parent, child) not in ((8, 9), (8, 10))]
    expected = None  # torso-hip distances change as the spine bends; every other bone is rigid
    for family in POSE_FAMILIES:
        lengths = bone_lengths(forward_kinematics(body, sample_pose(rng, family)).joints)[rigid]
        expected = lengths if expected is None else expected
        np.testing.assert_allclose(lengths, expected, atol=1e-9)
    joints = forward_kinematics(body, sample_pose(rng, "reaching")).joints
    for (a, b), (c, d) in SYMMETRIC_LIMBS:
        assert np.linalg.norm(joints[a] - joints[b]) == pytest.approx(np.linalg.norm(joints[c] - joints[d]))


@pytest.mark.slow
@pytest.mark.parametrize(("camera", "view"), [("itop_side", "side"), ("itop_top", "top"),
                                              ("d435_848x480", "side")])
def test_ground_truth_statistics_over_many_frames(camera, view):
    gaps, torso_z = [], []
    for frame in generate_frames(400, seed=21, camera=camera, view=view, workers=2):
        u, v = np.rint(frame.uv_px[frame.visible]).astype(int).T
        gaps.append(frame.joints_m[frame.visible, 2] - frame.depth_clean_m[v, u])
        torso_z.append(frame.joints_m[8, 2])
        assert frame.camera.in_image(frame.uv_px).all()
    gaps = np.concatenate(gaps)
    assert np.mean((gaps > 0) & (gaps < 0.25)) > 0.98
    assert 0.8 <= min(torso_z) and max(torso_z) <= 5.0
