"""Training-time augmentation of body proportions for the skeleton stage.

:func:`scale_limbs` stretches each bone of a skeleton by its own factor, walking the kinematic tree from the torso
(:data:`~refinet_edge.skeleton.PARENTS`): ``child' = parent' + (child - parent) * factor[bone]``. Left and right
bones of a pair (:data:`~refinet_edge.skeleton.SYMMETRIC_LIMBS`) share one factor, so a body stays symmetric.
:func:`limb_scale_batch` applies it to the ground truth and moves the input joints by the same per-joint
displacement, so the input's errors relative to the truth are kept while the proportions change.
"""

from __future__ import annotations

import numpy as np

from ..errors import RefinetError
from ..skeleton import LIMBS, NUM_JOINTS, PARENTS, SYMMETRIC_LIMBS


def _bone_groups() -> np.ndarray:
    """``(14,)`` the factor slot of each bone of :data:`LIMBS`: mirrored bones share a slot."""
    slot = {limb: k for k, limb in enumerate(LIMBS)}
    group = np.arange(len(LIMBS))
    for right, left in (*SYMMETRIC_LIMBS, ((8, 9), (8, 10))):  # and torso-hip
        group[slot[left]] = group[slot[right]]
    return group


BONE_GROUP = _bone_groups()


def _depth(joint: int) -> int:
    """Bones between ``joint`` and the root."""
    return 0 if PARENTS[joint] < 0 else 1 + _depth(PARENTS[joint])


_ORDER = sorted(range(NUM_JOINTS), key=_depth)  # parents before their children


def scale_limbs(joints_m: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``joints_m (B, 15, 3)`` with bone ``k`` of :data:`LIMBS` scaled by ``factors (B, 14)``; NaN stays NaN."""
    if joints_m.shape[-2:] != (NUM_JOINTS, 3) or factors.shape != joints_m.shape[:-2] + (len(LIMBS),):
        raise RefinetError(f"scale_limbs expects joints (B, 15, 3) and factors (B, 14), got {joints_m.shape} and "
                           f"{factors.shape}")
    out = np.array(joints_m, dtype=np.float64, copy=True)
    bone_of = {child: k for k, (_, child) in enumerate(LIMBS)}
    for j in _ORDER:
        parent = PARENTS[j]
        if parent < 0:
            continue
        out[:, j] = out[:, parent] + (joints_m[:, j] - joints_m[:, parent]) * factors[:, bone_of[j], None]
    return out


def limb_scale_batch(joints_in_m: np.ndarray, gt_m: np.ndarray, amount: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Input and truth with the truth's bones scaled by factors uniform in ``[1 - amount, 1 + amount]`` (per
    sample, mirrored bones alike); each input joint moves with its true joint. ``amount`` 0.2 = +-20 %."""
    if not 0.0 <= amount < 1.0:
        raise RefinetError(f"limb_scale must be in [0, 1) (0.2 = bones +-20 %), got {amount}")
    draws = rng.uniform(1.0 - amount, 1.0 + amount, (len(gt_m), len(LIMBS)))
    factors = draws[:, BONE_GROUP]
    scaled = scale_limbs(gt_m, factors)
    return joints_in_m + (scaled - gt_m), scaled
