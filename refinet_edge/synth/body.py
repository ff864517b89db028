"""Body proportions of a synthetic subject, and its surface for a posed skeleton.

All lengths are in metres. Proportions follow the classic anthropometric
fractions of stature (Drillis & Contini, as tabulated by Winter): ankle height
0.039 H, shank 0.246 H, thigh 0.235 H, upper arm 0.186 H, and so on. Each
subject varies every length by a few per cent (symmetrically left/right) and
its girth by up to +-20 %, then all lengths are rescaled so that the standing
stature (floor to the top of the head, upright pose) is exactly ``height_m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import Capsule, Ellipsoid, Surface

HEIGHT_RANGE_M = (1.5, 2.0)

# Nominal lengths as fractions of stature; the vertical chain sums to 1.0.
_VERTICAL_CHAIN = ("ankle_height_m", "shin_m", "thigh_m", "pelvis_to_torso_m",
                   "torso_to_neck_m", "neck_to_head_m", "head_top_m")
_LENGTH_FRACTIONS = {
    "ankle_height_m": 0.039,     # floor -> ankle joint
    "shin_m": 0.246,             # knee -> ankle
    "thigh_m": 0.235,            # hip -> knee
    "pelvis_to_torso_m": 0.140,  # hip centre -> torso (mid-spine) joint
    "torso_to_neck_m": 0.170,    # torso -> neck joint
    "neck_to_head_m": 0.105,     # neck -> head centre
    "head_top_m": 0.065,         # head centre -> top of the head
    "shoulder_half_width_m": 0.108,  # neck -> shoulder joint, sideways
    "shoulder_drop_m": 0.012,    # shoulder joint below the neck joint
    "upper_arm_m": 0.186,        # shoulder -> elbow
    "forearm_m": 0.160,          # elbow -> hand joint (centre of the wrist/palm)
    "hip_half_width_m": 0.050,   # hip centre -> hip joint, sideways
    "foot_length_m": 0.115,      # ankle -> toe tip, along the foot
}
# Surface radii (m) for a 1.75 m subject of average girth.
_RADII_175 = {
    "neck_r_m": 0.055, "clavicle_r_m": 0.060, "upper_arm_r_m": 0.048,
    "forearm_r_m": 0.038, "hand_r_m": 0.038, "thigh_r_m": 0.078,
    "shin_r_m": 0.054, "foot_r_m": 0.038, "hip_r_m": 0.105,
}
# Ellipsoid semi-axes (lateral, front-back, vertical), m, 1.75 m subject.
_HEAD_175 = (0.077, 0.098, 0.115)
_CHEST_175 = (0.160, 0.105, 0.190)
_ABDOMEN_175 = (0.145, 0.105, 0.150)


@dataclass(frozen=True)
class BodyShape:
    """One subject's proportions; every field in metres.

    Joint centres lie inside the surface: capsules end at joints, the torso and
    head ellipsoids are centred on (or next to) the torso and head joints.
    """

    height_m: float
    ankle_height_m: float
    shin_m: float
    thigh_m: float
    pelvis_to_torso_m: float
    torso_to_neck_m: float
    neck_to_head_m: float
    head_top_m: float
    shoulder_half_width_m: float
    shoulder_drop_m: float
    upper_arm_m: float
    forearm_m: float
    hip_half_width_m: float
    foot_length_m: float
    neck_r_m: float
    clavicle_r_m: float
    upper_arm_r_m: float
    forearm_r_m: float
    hand_r_m: float
    thigh_r_m: float
    shin_r_m: float
    foot_r_m: float
    hip_r_m: float
    head_radii_m: tuple[float, float, float]
    chest_radii_m: tuple[float, float, float]
    abdomen_radii_m: tuple[float, float, float]

    @property
    def standing_height_m(self) -> float:
        """Floor to top of head in the upright pose (equals ``height_m``)."""
        return float(sum(getattr(self, name) for name in _VERTICAL_CHAIN))


def sample_body_shape(rng: np.random.Generator) -> BodyShape:
    """Draw one subject: stature uniform in 1.5-2.0 m, lengths +-~3 %, girth 0.85-1.25."""
    height_m = float(rng.uniform(*HEIGHT_RANGE_M))
    lengths = {
        name: frac * height_m * float(np.clip(rng.normal(1.0, 0.03), 0.92, 1.08))
        for name, frac in _LENGTH_FRACTIONS.items()
    }
    stature = sum(lengths[name] for name in _VERTICAL_CHAIN)
    lengths = {name: value * height_m / stature for name, value in lengths.items()}

    scale = height_m / 1.75
    girth = float(rng.uniform(0.85, 1.25))
    limb_girth = girth * float(rng.uniform(0.9, 1.1))
    radii = {name: r * scale * limb_girth for name, r in _RADII_175.items()}
    belly = 1.0 + float(rng.uniform(0.0, 0.3)) * (girth - 0.8)

    def ellipsoid(base: tuple[float, float, float], lateral: float,
                  depth: float) -> tuple[float, float, float]:
        return (base[0] * scale * lateral, base[1] * scale * depth, base[2] * scale)

    head = tuple(r * scale * float(rng.uniform(0.95, 1.05)) for r in _HEAD_175)
    head = (head[0], head[1], lengths["head_top_m"])  # top of the head at the stature
    return BodyShape(
        height_m=height_m, **lengths, **radii,
        head_radii_m=head,
        chest_radii_m=ellipsoid(_CHEST_175, girth, girth),
        abdomen_radii_m=ellipsoid(_ABDOMEN_175, girth, girth * belly),
    )


def body_shape(seed: int, subject: int) -> BodyShape:
    """The body of ``subject`` under ``seed``: the same for every frame of that subject."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, subject)))
    return sample_body_shape(rng)



def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _frame_axes(up: np.ndarray, left: np.ndarray, radii: tuple[float, float, float]) -> np.ndarray:
    """Ellipsoid axes (columns: lateral, front-back, vertical) from an up and a leftward vector."""
    up = _unit(up)
    left = _unit(left - (left @ up) * up)
    forward = np.cross(left, up)
    return np.stack([left * radii[0], forward * radii[1], up * radii[2]], axis=1)


def body_surfaces(body: BodyShape, joints: np.ndarray, heels: np.ndarray,
                  toes: np.ndarray) -> list[Surface]:
    """Capsules and ellipsoids of a posed body (any frame with metres).

    Args:
        joints: ``(15, 3)`` ITOP joint centres; heels, toes: ``(2, 3)`` (right, left).

    Labels: each limb capsule carries its child joint (upper arm -> elbow,
    forearm and hand -> hand, thigh -> knee, shin and foot -> foot), the
    clavicles the shoulders, chest and abdomen the torso (8), the two hip
    ellipsoids the hips, the neck capsule the neck, the head ellipsoid the head.
    """
    assert joints.shape == (15, 3) and heels.shape == (2, 3) and toes.shape == (2, 3)
    j = joints
    hip_centre = 0.5 * (j[9] + j[10])
    left = (j[3] - j[2]) + (j[10] - j[9])
    out: list[Surface] = [
        Ellipsoid(j[0], _frame_axes(j[0] - j[1], j[3] - j[2], body.head_radii_m), 0),
        Capsule(j[1], j[1] + 0.6 * (j[0] - j[1]), body.neck_r_m, 1),
        Ellipsoid(j[8] + 0.55 * (j[1] - j[8]), _frame_axes(j[1] - j[8], j[3] - j[2], body.chest_radii_m), 8),
        Ellipsoid(j[8], _frame_axes(j[1] - hip_centre, left, body.abdomen_radii_m), 8),
    ]
    hip_axes = _frame_axes(j[8] - hip_centre, j[10] - j[9],
                           (body.hip_r_m, 1.05 * body.hip_r_m, 1.1 * body.hip_r_m))
    hand_m = 0.06 * body.height_m / 1.75
    for side in (0, 1):
        shoulder, elbow, hand, hip, knee, foot = (k + side for k in (2, 4, 6, 9, 11, 13))
        inward = 0.3 * (hip_centre - j[hip])
        hand_dir = _unit(j[hand] - j[elbow])
        out += [
            Capsule(j[1], j[shoulder], body.clavicle_r_m, shoulder),
            Capsule(j[shoulder], j[elbow], body.upper_arm_r_m, elbow),
            Capsule(j[elbow], j[hand], body.forearm_r_m, hand),
            Capsule(j[hand] - 0.3 * hand_m * hand_dir, j[hand] + hand_m * hand_dir, body.hand_r_m, hand),
            Ellipsoid(j[hip] + inward, hip_axes, hip),
            Capsule(j[hip], j[knee], body.thigh_r_m, knee),
            Capsule(j[knee], j[foot], body.shin_r_m, foot),
            Capsule(heels[side], toes[side], body.foot_r_m, foot),
        ]
    return out
