"""The ITOP 15-joint skeleton and mappings into it from common 2D detectors.

Joint order (ITOP, and every ``(..., 15, D)`` array in this package)::

    0 Head  1 Neck  2 R Shoulder  3 L Shoulder  4 R Elbow  5 L Elbow
    6 R Hand  7 L Hand  8 Torso  9 R Hip  10 L Hip  11 R Knee  12 L Knee
    13 R Foot  14 L Foot

"R"/"L" are the person's own right and left. Upper body is joints 0-7, lower
body 8-14, as in RefiNet's metrics.

Mappings from detector formats (COCO-17, OpenPose BODY_25, MediaPipe Pose 33)
are tables: each ITOP joint lists *groups* of source keypoints, tried in
order; the first group whose sources are all present (score > 0) gives the
joint as the mean of those sources, with the smallest of their scores. Joints
with no single source are derived this way and documented in
:data:`DERIVED_JOINTS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import RefinetError, lookup

NUM_JOINTS = 15

JOINT_NAMES: tuple[str, ...] = (
    "head", "neck", "r_shoulder", "l_shoulder", "r_elbow", "l_elbow",
    "r_hand", "l_hand", "torso", "r_hip", "l_hip", "r_knee", "l_knee",
    "r_foot", "l_foot",
)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

# Kinematic tree rooted at the torso: PARENTS[j] is j's parent, -1 for the root.
PARENTS: tuple[int, ...] = (1, 8, 1, 1, 2, 3, 4, 5, -1, 8, 8, 9, 10, 11, 12)

# Bones as (parent, child) pairs, 14 of them.
LIMBS: tuple[tuple[int, int], ...] = tuple(
    (p, c) for c, p in enumerate(PARENTS) if p >= 0
)

# (right, left) joint pairs; FLIP_INDEX maps each joint to its mirror.
LEFT_RIGHT_PAIRS: tuple[tuple[int, int], ...] = ((2, 3), (4, 5), (6, 7), (9, 10), (11, 12), (13, 14))
FLIP_INDEX: tuple[int, ...] = tuple(
    next((b if j == a else a for a, b in LEFT_RIGHT_PAIRS if j in (a, b)), j)
    for j in range(NUM_JOINTS)
)



def mirror_joints(joints: np.ndarray) -> np.ndarray:
    """The skeleton seen in a mirrored camera image: ``x -> -x`` and each left joint swapped with its right one.

    ``joints (..., 15, D)`` in camera coordinates (x first); the mirror of a valid pose is a valid pose, and
    mirroring the depth map about the principal point maps every pixel ray the same way.
    """
    out = np.array(joints[..., FLIP_INDEX, :], copy=True)
    out[..., 0] = -out[..., 0]
    return out


# Left/right limb pairs whose lengths RefiNet's "Vitruvian" loss keeps equal:
# neck-shoulder, shoulder-elbow, elbow-hand, hip-knee, knee-foot.
SYMMETRIC_LIMBS: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((1, 2), (1, 3)), ((2, 4), (3, 5)), ((4, 6), (5, 7)),
    ((9, 11), (10, 12)), ((11, 13), (12, 14)),
)

UPPER_BODY: tuple[int, ...] = tuple(range(0, 8))
LOWER_BODY: tuple[int, ...] = tuple(range(8, 15))

# OpenPose BODY_25 -> ITOP index map as used by the RefiNet authors (one source
# per joint; Head <- Nose and Torso <- MidHip, both approximations).
BODY25_TO_ITOP_AUTHORS: tuple[int, ...] = (0, 1, 2, 5, 3, 6, 4, 7, 8, 9, 12, 10, 13, 11, 14)

DERIVED_JOINTS = {
    "head": "centre of the head: mean of both ears; else both eyes; else the nose",
    "neck": "mean of both shoulders (BODY_25 has its own Neck keypoint)",
    "torso": "mid-spine: mean of both shoulders and both hips "
             "(BODY_25: mean of Neck and MidHip)",
    "r_hand/l_hand": "wrist (MediaPipe: mean of wrist, index and pinky knuckles)",
    "r_foot/l_foot": "ankle",
}

Groups = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class KeypointFormat:
    """A detector's keypoint layout and how it maps into the ITOP skeleton."""

    name: str
    num_keypoints: int
    to_itop: tuple[Groups, ...]  # one entry per ITOP joint, groups tried in order

    def __post_init__(self) -> None:
        assert len(self.to_itop) == NUM_JOINTS, self.name
        for groups in self.to_itop:
            for group in groups:
                assert group and all(0 <= k < self.num_keypoints for k in group), self.name


def _single(indices: tuple[int, ...]) -> tuple[Groups, ...]:
    return tuple(((k,),) for k in indices)


# COCO-17: 0 nose 1 l_eye 2 r_eye 3 l_ear 4 r_ear 5 l_shoulder 6 r_shoulder
# 7 l_elbow 8 r_elbow 9 l_wrist 10 r_wrist 11 l_hip 12 r_hip 13 l_knee
# 14 r_knee 15 l_ankle 16 r_ankle
COCO17 = KeypointFormat("coco17", 17, (
    ((3, 4), (1, 2), (0,)),      # head
    ((5, 6),),                   # neck
    ((6,),), ((5,),), ((8,),), ((7,),), ((10,),), ((9,),),
    ((5, 6, 11, 12),),           # torso
    ((12,),), ((11,),), ((14,),), ((13,),), ((16,),), ((15,),),
))

# OpenPose BODY_25: 0 nose 1 neck 2 r_shoulder 3 r_elbow 4 r_wrist 5 l_shoulder
# 6 l_elbow 7 l_wrist 8 mid_hip 9 r_hip 10 r_knee 11 r_ankle 12 l_hip 13 l_knee
# 14 l_ankle 15 r_eye 16 l_eye 17 r_ear 18 l_ear 19-24 feet
BODY25 = KeypointFormat("body25", 25, (
    ((17, 18), (15, 16), (0,)),  # head
    ((1,), (2, 5)),              # neck
    ((2,),), ((5,),), ((3,),), ((6,),), ((4,),), ((7,),),
    ((1, 8), (2, 5, 9, 12)),     # torso
    ((9,),), ((12,),), ((10,),), ((13,),), ((11,),), ((14,),),
))

BODY25_AUTHORS = KeypointFormat("body25_authors", 25, _single(BODY25_TO_ITOP_AUTHORS))

# MediaPipe Pose 33: 0 nose 2 l_eye 5 r_eye 7 l_ear 8 r_ear 11 l_shoulder
# 12 r_shoulder 13 l_elbow 14 r_elbow 15 l_wrist 16 r_wrist 17/18 pinky
# 19/20 index 23 l_hip 24 r_hip 25 l_knee 26 r_knee 27 l_ankle 28 r_ankle
MEDIAPIPE33 = KeypointFormat("mediapipe33", 33, (
    ((7, 8), (2, 5), (0,)),      # head
    ((11, 12),),                 # neck
    ((12,),), ((11,),), ((14,),), ((13,),),
    ((16, 18, 20), (16,)),       # r_hand
    ((15, 17, 19), (15,)),       # l_hand
    ((11, 12, 23, 24),),         # torso
    ((24,),), ((23,),), ((26,),), ((25,),), ((28,),), ((27,),),
))

ITOP15 = KeypointFormat("itop15", 15, _single(tuple(range(NUM_JOINTS))))

KEYPOINT_FORMATS: dict[str, KeypointFormat] = {
    f.name: f for f in (ITOP15, COCO17, BODY25, BODY25_AUTHORS, MEDIAPIPE33)
}


def keypoint_format(name: str) -> KeypointFormat:
    """Look up a keypoint format by name, with a clear error for unknown ones."""
    return lookup(KEYPOINT_FORMATS, name, "keypoint format")


def to_itop(
    keypoints: np.ndarray, scores: np.ndarray, fmt: KeypointFormat | str
) -> tuple[np.ndarray, np.ndarray]:
    """Map detector keypoints into the ITOP skeleton.

    Args:
        keypoints: ``(..., K, D)`` detector keypoints (any units, e.g. ``uv_px``).
        scores: ``(..., K)`` confidences; 0 (or NaN) means missing.
        fmt: the detector's :class:`KeypointFormat` or its name.

    Returns:
        ``(joints (..., 15, D), scores (..., 15))``; a joint none of whose
        groups is complete gets NaN coordinates and score 0.
    """
    fmt = keypoint_format(fmt) if isinstance(fmt, str) else fmt
    keypoints = np.asarray(keypoints, dtype=np.float64)
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0)
    if keypoints.shape[-2] != fmt.num_keypoints or scores.shape != keypoints.shape[:-1]:
        raise RefinetError(
            f"{fmt.name} expects keypoints (..., {fmt.num_keypoints}, D) and scores "
            f"(..., {fmt.num_keypoints}); got {keypoints.shape} and {scores.shape}"
        )
    present = (scores > 0) & np.all(np.isfinite(keypoints), axis=-1)
    lead = keypoints.shape[:-2]
    out = np.full(lead + (NUM_JOINTS, keypoints.shape[-1]), np.nan)
    out_scores = np.zeros(lead + (NUM_JOINTS,))
    for j, groups in enumerate(fmt.to_itop):
        done = np.zeros(lead, dtype=bool)
        for group in groups:
            idx = list(group)
            usable = np.all(present[..., idx], axis=-1) & ~done
            mean = keypoints[..., idx, :].mean(axis=-2)
            out[..., j, :] = np.where(usable[..., None], mean, out[..., j, :])
            out_scores[..., j] = np.where(usable, scores[..., idx].min(axis=-1), out_scores[..., j])
            done |= usable
    return out, out_scores


def flip_left_right(joints: np.ndarray) -> np.ndarray:
    """Swap left and right joints along the joint axis (-2) of ``(..., 15, D)``."""
    return np.asarray(joints)[..., list(FLIP_INDEX), :]


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """Lengths of the 14 :data:`LIMBS` for ``(..., 15, 3)`` joints -> ``(..., 14)``."""
    joints = np.asarray(joints)
    parents = [p for p, _ in LIMBS]
    children = [c for _, c in LIMBS]
    return np.linalg.norm(joints[..., children, :] - joints[..., parents, :], axis=-1)
