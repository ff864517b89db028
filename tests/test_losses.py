"""Stage B's symmetry and forcing losses, and a training run that uses them."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refinet_edge.skeleton import JOINT_INDEX  # noqa: E402
from refinet_edge.stage_io import SkeletonConfig, skeleton_decode, skeleton_encode  # noqa: E402
from refinet_edge.training.losses import forcing_loss, refined_joints_m, symmetry_loss  # noqa: E402


def _symmetric_person() -> torch.Tensor:
    """A mirror-symmetric T-pose (m): left joints are the right ones with x negated."""
    right = {"shoulder": (0.2, -0.4, 0.0), "elbow": (0.45, -0.4, 0.05), "hand": (0.7, -0.4, 0.1),
             "hip": (0.1, 0.1, 0.0), "knee": (0.12, 0.5, 0.02), "foot": (0.12, 0.9, 0.0)}
    joints = np.zeros((15, 3))
    joints[JOINT_INDEX["head"]] = (0.0, -0.75, 0.0)
    joints[JOINT_INDEX["neck"]] = (0.0, -0.45, 0.0)
    joints[JOINT_INDEX["torso"]] = (0.0, -0.15, 0.0)
    for name, (x, y, z) in right.items():
        joints[JOINT_INDEX[f"r_{name}"]] = (x, y, z)
        joints[JOINT_INDEX[f"l_{name}"]] = (-x, y, z)
    return torch.tensor(joints[None])


def test_symmetry_is_zero_for_a_mirror_pose_and_measures_a_longer_forearm() -> None:
    person = _symmetric_person()
    assert symmetry_loss(person).item() == pytest.approx(0.0, abs=1e-12)
    elbow, hand = person[0, JOINT_INDEX["r_elbow"]], person[0, JOINT_INDEX["r_hand"]]
    person[0, JOINT_INDEX["r_hand"]] = hand + 0.10 * (hand - elbow) / (hand - elbow).norm()  # forearm +10 cm
    assert symmetry_loss(person).item() == pytest.approx(0.10 / 5, abs=1e-9)  # one limb of five


def test_forcing_charges_only_the_depth_beyond_height_over_1_5() -> None:
    person = _symmetric_person()
    assert forcing_loss(person).item() == 0.0
    height = 0.9 + 0.75  # foot y - head y
    person[0, JOINT_INDEX["l_hand"], 2] = height / 1.5 + 0.3  # 30 cm too far behind the torso
    assert forcing_loss(person).item() == pytest.approx(0.3 / 15, abs=1e-9)


def test_refined_joints_match_the_numpy_decode() -> None:
    rng = np.random.default_rng(0)
    joints = rng.normal(0, 0.3, (2, 15, 3)) + [0, 0, 3.0]
    out = rng.normal(0, 0.05, (2, 15, 3))
    for cfg in (SkeletonConfig(), SkeletonConfig(rays=True), SkeletonConfig(mode="authors")):
        x, centre = skeleton_encode(joints, cfg)
        expected = skeleton_decode(x, out, centre, cfg) - (centre[:, None] if cfg.mode == "metric" else 0)
        got = refined_joints_m(torch.from_numpy(x).double(), torch.from_numpy(out), cfg).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_losses_have_gradients() -> None:
    person = (_symmetric_person() + 0.05 * torch.randn(1, 15, 3)).requires_grad_(True)
    person.data[0, JOINT_INDEX["r_foot"], 2] = 2.0
    (symmetry_loss(person) + forcing_loss(person)).backward()
    assert person.grad is not None and person.grad.abs().sum() > 0
