"""ITOP skeleton tables and detector-format mappings, on hand-made keypoints."""

from __future__ import annotations

import numpy as np
import pytest

from refinet_edge import skeleton as sk
from refinet_edge.errors import RefinetError


def test_limbs_form_a_tree_rooted_at_torso() -> None:
    assert len(sk.LIMBS) == 14
    assert sk.PARENTS.index(-1) == sk.JOINT_INDEX["torso"] and sk.PARENTS.count(-1) == 1
    for j in range(sk.NUM_JOINTS):  # every joint reaches the torso without a cycle
        seen, node = set(), j
        while node != -1:
            assert node not in seen
            seen.add(node)
            node = sk.PARENTS[node]
        assert sk.JOINT_INDEX["torso"] in seen
    children = {c for _, c in sk.LIMBS}
    assert children == set(range(sk.NUM_JOINTS)) - {sk.JOINT_INDEX["torso"]}


def test_flip_is_an_involution_that_swaps_pairs() -> None:
    flip = sk.FLIP_INDEX
    assert [flip[flip[j]] for j in range(sk.NUM_JOINTS)] == list(range(sk.NUM_JOINTS))
    for right, left in sk.LEFT_RIGHT_PAIRS:
        assert flip[right] == left and flip[left] == right
        assert sk.JOINT_NAMES[right].startswith("r_") and sk.JOINT_NAMES[left].startswith("l_")
    assert [j for j in range(sk.NUM_JOINTS) if flip[j] == j] == [0, 1, 8]
    joints = np.random.default_rng(0).normal(size=(2, 3, 15, 3))
    np.testing.assert_array_equal(sk.flip_left_right(sk.flip_left_right(joints)), joints)


def test_upper_lower_and_symmetric_limbs() -> None:
    assert sk.UPPER_BODY == tuple(range(8)) and sk.LOWER_BODY == tuple(range(8, 15))
    limbs = {frozenset(limb) for limb in sk.LIMBS}
    for right, left in sk.SYMMETRIC_LIMBS:
        assert frozenset(right) in limbs and frozenset(left) in limbs
        assert [sk.FLIP_INDEX[j] for j in right] == list(left)


def test_body25_authors_map() -> None:
    assert list(sk.BODY25_TO_ITOP_AUTHORS) == [0, 1, 2, 5, 3, 6, 4, 7, 8, 9, 12, 10, 13, 11, 14]
    keypoints = np.arange(25 * 2, dtype=float).reshape(25, 2)
    joints, scores = sk.to_itop(keypoints, np.ones(25), "body25_authors")
    np.testing.assert_array_equal(joints, keypoints[list(sk.BODY25_TO_ITOP_AUTHORS)])
    np.testing.assert_array_equal(scores, np.ones(15))


def _coco_person() -> tuple[np.ndarray, np.ndarray]:
    keypoints = np.array([[10.0 * k, 100.0 + k] for k in range(17)])
    return keypoints, np.linspace(0.5, 0.9, 17)


def test_coco17_mapping() -> None:
    kp, sc = _coco_person()
    joints, scores = sk.to_itop(kp, sc, sk.COCO17)
    np.testing.assert_allclose(joints[0], (kp[3] + kp[4]) / 2)  # head = mean of ears
    np.testing.assert_allclose(joints[1], (kp[5] + kp[6]) / 2)  # neck = shoulder midpoint
    np.testing.assert_allclose(joints[8], kp[[5, 6, 11, 12]].mean(axis=0))  # torso
    np.testing.assert_allclose(joints[[2, 3, 6, 7, 9, 10, 13, 14]], kp[[6, 5, 10, 9, 12, 11, 16, 15]])
    assert scores[0] == pytest.approx(min(sc[3], sc[4]))
    assert scores[8] == pytest.approx(min(sc[[5, 6, 11, 12]]))


def test_coco17_head_fallbacks_and_missing() -> None:
    kp, sc = _coco_person()
    sc = sc.copy()
    sc[3] = 0.0  # one ear missing -> eyes
    joints, _ = sk.to_itop(kp, sc, "coco17")
    np.testing.assert_allclose(joints[0], (kp[1] + kp[2]) / 2)
    sc[1] = np.nan  # an eye missing too (NaN score) -> nose
    joints, scores = sk.to_itop(kp, sc, "coco17")
    np.testing.assert_allclose(joints[0], kp[0])
    assert scores[0] == pytest.approx(sc[0])
    sc[0] = 0.0  # nothing left for the head
    kp = kp.copy()
    kp[16] = np.nan  # a NaN coordinate counts as missing, whatever the score
    joints, scores = sk.to_itop(kp, sc, "coco17")
    assert np.all(np.isnan(joints[[0, 13]])) and scores[0] == 0 and scores[13] == 0
    assert np.all(np.isfinite(np.delete(joints, [0, 13], axis=0)))


def test_body25_derived_joints() -> None:
    kp = np.random.default_rng(1).uniform(0, 300, (25, 2))
    sc = np.ones(25)
    joints, _ = sk.to_itop(kp, sc, "body25")
    np.testing.assert_allclose(joints[1], kp[1])
    np.testing.assert_allclose(joints[8], (kp[1] + kp[8]) / 2)
    sc[[1, 17]] = 0  # no neck keypoint, no right ear
    joints, _ = sk.to_itop(kp, sc, "body25")
    np.testing.assert_allclose(joints[1], (kp[2] + kp[5]) / 2)
    np.testing.assert_allclose(joints[8], kp[[2, 5, 9, 12]].mean(axis=0))
    np.testing.assert_allclose(joints[0], (kp[15] + kp[16]) / 2)


def test_mediapipe33_mapping() -> None:
    kp = np.random.default_rng(2).uniform(0, 300, (33, 3))
    sc = np.ones(33)
    joints, _ = sk.to_itop(kp, sc, "mediapipe33")
    assert joints.shape == (15, 3)
    np.testing.assert_allclose(joints[0], (kp[7] + kp[8]) / 2)
    np.testing.assert_allclose(joints[1], (kp[11] + kp[12]) / 2)
    np.testing.assert_allclose(joints[6], kp[[16, 18, 20]].mean(axis=0))
    np.testing.assert_allclose(joints[8], kp[[11, 12, 23, 24]].mean(axis=0))
    np.testing.assert_allclose(joints[[2, 3, 9, 10, 13, 14]], kp[[12, 11, 24, 23, 28, 27]])
    sc[[18, 7]] = 0  # r_pinky and l_ear missing -> wrist alone, eyes
    joints, _ = sk.to_itop(kp, sc, "mediapipe33")
    np.testing.assert_allclose(joints[6], kp[16])
    np.testing.assert_allclose(joints[0], (kp[2] + kp[5]) / 2)


def test_batch_shapes_match_per_person() -> None:
    rng = np.random.default_rng(3)
    kp = rng.uniform(0, 300, (4, 2, 17, 2))
    sc = rng.uniform(0, 1, (4, 2, 17)) * (rng.random((4, 2, 17)) > 0.3)
    joints, scores = sk.to_itop(kp, sc, "coco17")
    assert joints.shape == (4, 2, 15, 2) and scores.shape == (4, 2, 15)
    for a in range(4):
        for b in range(2):
            one, one_scores = sk.to_itop(kp[a, b], sc[a, b], "coco17")
            np.testing.assert_array_equal(joints[a, b], one)
            np.testing.assert_array_equal(scores[a, b], one_scores)


def test_bone_lengths() -> None:
    joints = np.zeros((2, 15, 3))
    joints[1, 0] = [0.0, 3.0, 4.0]  # head moves 5 from the neck
    lengths = sk.bone_lengths(joints)
    assert lengths.shape == (2, 14)
    head_bone = sk.LIMBS.index((1, 0))
    assert lengths[1, head_bone] == pytest.approx(5.0) and lengths[1].sum() == pytest.approx(5.0)


def test_errors() -> None:
    with pytest.raises(RefinetError, match="did you mean 'coco17'"):
        sk.keypoint_format("coco18")
    with pytest.raises(RefinetError, match="expects keypoints"):
        sk.to_itop(np.zeros((17, 2)), np.ones(16), "coco17")
    with pytest.raises(RefinetError, match="expects keypoints"):
        sk.to_itop(np.zeros((25, 2)), np.ones(25), "coco17")


def test_mirror_joints_negates_x_and_swaps_sides() -> None:
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(4, sk.NUM_JOINTS, 3))
    mirrored = sk.mirror_joints(joints)
    np.testing.assert_array_equal(sk.mirror_joints(mirrored), joints)
    r_hand, l_hand = sk.JOINT_INDEX["r_hand"], sk.JOINT_INDEX["l_hand"]
    np.testing.assert_array_equal(mirrored[:, l_hand], joints[:, r_hand] * [-1, 1, 1])
    np.testing.assert_array_equal(mirrored[:, sk.JOINT_INDEX["head"], 1:], joints[:, sk.JOINT_INDEX["head"], 1:])
    assert not np.shares_memory(mirrored, joints)
