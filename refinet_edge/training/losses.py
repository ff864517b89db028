"""Stage B's extra losses from the paper: symmetry ("Vitruvian") and forcing.

The authors' skeleton loss is ``alpha * masked MSE + beta * symmetry + gamma *
forcing`` (ITOP used 1/0/0, Baracca 0.1/1/1; REFINET.md). Both extra terms act
on the refined skeleton in metres, person-relative, ``(B, J, 3)``:

* **symmetry**: mean over the five limb pairs (neck-shoulder, shoulder-elbow,
  elbow-hand, hip-knee, knee-foot) of ``|len(right) - len(left)|`` (m).
* **forcing**: the person's height ``h`` is the extent of its joints along y
  (the camera's down axis); every joint whose depth is further than ``h / 1.5``
  from the torso's depth pays the excess, ``relu(|z - z_torso| - h / 1.5)``
  (m), averaged over joints.

The MSE term stays in the stage's own units (see :mod:`refinet_edge.stage_io`).
"""

from __future__ import annotations

from ..skeleton import JOINT_INDEX
from ..stage_io import ITOP_MEAN_MM, ITOP_STD_MM, SKELETON_SCALE_M, SkeletonConfig

_LIMBS = (("neck", "shoulder"), ("shoulder", "elbow"), ("elbow", "hand"), ("hip", "knee"), ("knee", "foot"))


def _limb_pairs() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """``(right, left)`` limbs as joint-index pairs; the neck has no side."""
    right: list[tuple[int, int]] = []
    left: list[tuple[int, int]] = []
    for a, b in _LIMBS:
        for side, out in (("r", right), ("l", left)):
            first = a if a == "neck" else f"{side}_{a}"
            out.append((JOINT_INDEX[first], JOINT_INDEX[f"{side}_{b}"]))
    return right, left


RIGHT_LIMBS, LEFT_LIMBS = _limb_pairs()
TORSO = JOINT_INDEX["torso"]


def refined_joints_m(x, out, cfg: SkeletonConfig):
    """Torch: the refined skeleton ``(B, J, 3)`` in metres (person-relative in metric mode), as decoded."""
    if cfg.ray_output:
        from ..errors import RefinetError

        raise RefinetError("the symmetry and forcing losses (network.beta, network.gamma) need the coordinate "
                           "output; train ray_output with network.alpha only (beta = gamma = 0)")
    if cfg.mode == "metric":
        return (x[..., :3] - out) * SKELETON_SCALE_M
    import torch

    std = torch.as_tensor(ITOP_STD_MM, dtype=out.dtype, device=out.device)
    mean = torch.as_tensor(ITOP_MEAN_MM, dtype=out.dtype, device=out.device)
    return (out * std + mean) / 1000.0


def symmetry_loss(joints_m):
    """Mean ``|right limb length - left limb length|`` (m) over limbs and people; ``joints_m (B, J, 3)``."""
    r0, r1 = zip(*RIGHT_LIMBS, strict=True)
    l0, l1 = zip(*LEFT_LIMBS, strict=True)
    right = (joints_m[:, list(r0)] - joints_m[:, list(r1)]).norm(dim=-1)  # (B, 5)
    left = (joints_m[:, list(l0)] - joints_m[:, list(l1)]).norm(dim=-1)
    return (right - left).abs().mean()


def forcing_loss(joints_m):
    """Mean ``relu(|z - z_torso| - height / 1.5)`` (m) over joints and people; ``joints_m (B, J, 3)``."""
    height = joints_m[..., 1].amax(dim=1) - joints_m[..., 1].amin(dim=1)  # (B,)
    excess = (joints_m[..., 2] - joints_m[:, TORSO:TORSO + 1, 2]).abs() - height[:, None] / 1.5
    return excess.clamp(min=0.0).mean()
