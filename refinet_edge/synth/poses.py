"""Pose families as joint angles, and forward kinematics to the 15 ITOP joints.

Frames
------
* **Body frame**: origin at the hip centre, x to the person's right, y forward,
  z up. Forward kinematics works here.
* **World frame**: x, y horizontal, **z up, floor at z = 0** (metres). A body is
  placed by a yaw about z and a floor position; its lowest foot point touches
  the floor.

Angles are in degrees. Per-side arrays are ``(2,)`` ordered (right, left).
Every sampled pose is clipped to :data:`JOINT_LIMITS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from ..errors import RefinetError, did_you_mean
from .body import BodyShape

POSE_FAMILIES = ("standing", "reaching", "crouching", "sitting", "walking")

# (low, high) degrees for every angle of :class:`Pose`.
JOINT_LIMITS: dict[str, tuple[float, float]] = {
    "spine_pitch": (-20, 60), "spine_lean": (-25, 25), "spine_twist": (-40, 40),
    "head_pitch": (-40, 45), "head_yaw": (-70, 70),
    "shoulder_flex": (-50, 180), "shoulder_abd": (-40, 170), "arm_rot": (-70, 90),
    "elbow": (0, 145), "hip_flex": (-25, 125), "hip_abd": (-15, 45),
    "knee": (0, 150), "ankle": (-45, 35),
}
_SIDE_SIGN = np.array([-1.0, 1.0])  # rotation sign that moves a limb outward, (right, left)
_SIDE_X = np.array([1.0, -1.0])     # body-frame x of the (right, left) side


def _pair() -> np.ndarray:
    return np.zeros(2)


@dataclass(frozen=True)
class Pose:
    """Joint angles in degrees (see :data:`JOINT_LIMITS`); per-side arrays are (right, left)."""

    family: str
    spine_pitch: float = 0.0   # forward bend
    spine_lean: float = 0.0    # sideways lean, + toward the person's right
    spine_twist: float = 0.0   # upper body yaw over the pelvis, + toward the left
    head_pitch: float = 0.0    # + looking down
    head_yaw: float = 0.0      # + turning left
    shoulder_flex: np.ndarray = field(default_factory=_pair)  # 90 = arm forward, 180 = up
    shoulder_abd: np.ndarray = field(default_factory=_pair)   # 90 = arm sideways, - across the body
    arm_rot: np.ndarray = field(default_factory=_pair)        # about the upper arm, + forearm outward
    elbow: np.ndarray = field(default_factory=_pair)          # flexion, 0 = straight
    hip_flex: np.ndarray = field(default_factory=_pair)       # + thigh forward
    hip_abd: np.ndarray = field(default_factory=_pair)        # + thigh outward
    knee: np.ndarray = field(default_factory=_pair)           # flexion, 0 = straight
    ankle: np.ndarray = field(default_factory=_pair)          # + toes up, 0 = foot square to the shin

    def clipped(self) -> Pose:
        """This pose with every angle inside :data:`JOINT_LIMITS`."""
        values: dict[str, Any] = {}
        for f in fields(self):
            if f.name in JOINT_LIMITS:
                lo, hi = JOINT_LIMITS[f.name]
                value = np.clip(getattr(self, f.name), lo, hi)
                values[f.name] = float(value) if value.ndim == 0 else value
        return replace(self, **values)


@dataclass(frozen=True)
class BodyPoints:
    """Posed body points (metres, in the frame of the caller)."""

    joints: np.ndarray  # (15, 3) ITOP joint centres
    heels: np.ndarray   # (2, 3) back of the foot sole line (right, left)
    toes: np.ndarray    # (2, 3) front of the foot sole line (right, left)

    def transformed(self, rotation: np.ndarray, offset_m: np.ndarray) -> BodyPoints:
        """``rotation @ p + offset_m`` for every point."""
        return BodyPoints(*(p @ rotation.T + offset_m for p in (self.joints, self.heels, self.toes)))


def rot_x(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


_UP, _DOWN, _FWD = np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, -1.0]), np.array([0.0, 1.0, 0.0])


def forward_kinematics(body: BodyShape, pose: Pose) -> BodyPoints:
    """Joint angles -> body-frame points (origin at the hip centre, z up, y forward)."""
    j = np.zeros((15, 3))
    r_lower = rot_x(-0.4 * pose.spine_pitch) @ rot_y(0.5 * pose.spine_lean)
    j[8] = r_lower @ _UP * body.pelvis_to_torso_m
    r_upper = rot_x(-pose.spine_pitch) @ rot_y(pose.spine_lean) @ rot_z(pose.spine_twist)
    j[1] = j[8] + r_upper @ _UP * body.torso_to_neck_m
    r_head = r_upper @ rot_z(pose.head_yaw) @ rot_x(-pose.head_pitch)
    j[0] = j[1] + r_head @ np.array([0.0, 0.015, 1.0]) * body.neck_to_head_m
    heels, toes = np.zeros((2, 3)), np.zeros((2, 3))
    for side in (0, 1):
        sign = _SIDE_SIGN[side]
        shoulder, elbow, hand = 2 + side, 4 + side, 6 + side
        j[shoulder] = j[1] + r_upper @ np.array(
            [_SIDE_X[side] * body.shoulder_half_width_m, 0.0, -body.shoulder_drop_m])
        r_arm = (r_upper @ rot_y(sign * pose.shoulder_abd[side]) @ rot_x(pose.shoulder_flex[side])
                 @ rot_z(sign * pose.arm_rot[side]))
        j[elbow] = j[shoulder] + r_arm @ _DOWN * body.upper_arm_m
        j[hand] = j[elbow] + r_arm @ rot_x(pose.elbow[side]) @ _DOWN * body.forearm_m

        hip, knee, foot = 9 + side, 11 + side, 13 + side
        j[hip] = np.array([_SIDE_X[side] * body.hip_half_width_m, 0.0, 0.0])
        r_leg = rot_y(sign * pose.hip_abd[side]) @ rot_x(pose.hip_flex[side])
        j[knee] = j[hip] + r_leg @ _DOWN * body.thigh_m
        r_shin = r_leg @ rot_x(-pose.knee[side])
        j[foot] = j[knee] + r_shin @ _DOWN * body.shin_m
        r_foot = r_shin @ rot_x(pose.ankle[side])
        sole = j[foot] - r_foot @ _UP * (body.ankle_height_m - body.foot_r_m)
        heels[side] = sole - r_foot @ _FWD * 0.25 * body.foot_length_m
        toes[side] = sole + r_foot @ _FWD * (body.foot_length_m - body.foot_r_m)
    return BodyPoints(j, heels, toes)


def place_on_floor(body: BodyShape, points: BodyPoints, yaw_deg: float,
                   floor_xy_m: np.ndarray) -> BodyPoints:
    """Body frame -> world frame: turn by ``yaw_deg`` about z (0 = facing +y), move the
    hip centre above ``floor_xy_m (2,)`` and lower the body until a foot touches z = 0."""
    turned = points.transformed(rot_z(yaw_deg), np.zeros(3))
    lowest = min(turned.heels[:, 2].min(), turned.toes[:, 2].min()) - body.foot_r_m
    return turned.transformed(np.eye(3), np.array([floor_xy_m[0], floor_xy_m[1], -lowest]))


# ---------------------------------------------------------------- pose families
def _u(rng: np.random.Generator, lo: float, hi: float, size: int | None = None):
    return rng.uniform(lo, hi, size)


def _flat_feet(pose: Pose, rng: np.random.Generator) -> Pose:
    """Feet roughly parallel to the floor."""
    return replace(pose, ankle=pose.knee - pose.hip_flex + _u(rng, -5, 5, 2))


def _relaxed_arms(rng: np.random.Generator) -> dict[str, Any]:
    return {"shoulder_flex": _u(rng, -15, 25, 2), "shoulder_abd": _u(rng, 3, 25, 2),
            "arm_rot": _u(rng, -10, 30, 2), "elbow": _u(rng, 0, 45, 2)}


def _upright(rng: np.random.Generator) -> dict[str, Any]:
    return {"spine_pitch": _u(rng, -5, 10), "spine_lean": _u(rng, -5, 5),
            "spine_twist": _u(rng, -15, 15), "head_pitch": _u(rng, -15, 20), "head_yaw": _u(rng, -40, 40)}


def _standing(rng: np.random.Generator) -> Pose:
    pose = Pose("standing", **_upright(rng), **_relaxed_arms(rng), hip_flex=_u(rng, -5, 12, 2),
                hip_abd=_u(rng, 0, 12, 2), knee=_u(rng, 0, 12, 2))
    if rng.random() < 0.25:  # hands together in front / on the hips
        pose = replace(pose, shoulder_flex=_u(rng, 10, 45, 2), elbow=_u(rng, 70, 120, 2))
    return _flat_feet(pose, rng)


# Reaching directions for one arm: (flex range, abduction range).
_REACH_MODES = {
    "forward": ((60, 115), (-10, 30)), "up": ((125, 178), (0, 30)),
    "sideways": ((-10, 35), (60, 110)), "across": ((55, 100), (-40, -15)),
    "down_forward": ((25, 60), (-5, 20)),
}


def _reaching(rng: np.random.Generator) -> Pose:
    arms = _relaxed_arms(rng)
    modes = list(_REACH_MODES)
    active = [0, 1] if rng.random() < 0.4 else [int(rng.integers(2))]
    for side in active:
        (flex_lo, flex_hi), (abd_lo, abd_hi) = _REACH_MODES[modes[int(rng.integers(len(modes)))]]
        arms["shoulder_flex"][side] = _u(rng, flex_lo, flex_hi)
        arms["shoulder_abd"][side] = _u(rng, abd_lo, abd_hi)
        arms["elbow"][side] = _u(rng, 0, 50)
    upright = _upright(rng)
    upright.update(spine_pitch=_u(rng, -5, 30), spine_lean=_u(rng, -12, 12), spine_twist=_u(rng, -30, 30))
    pose = Pose("reaching", **upright, **arms, hip_flex=_u(rng, -5, 10, 2),
                hip_abd=_u(rng, 0, 15, 2), knee=_u(rng, 0, 15, 2))
    return _flat_feet(pose, rng)


def _crouching(rng: np.random.Generator) -> Pose:
    hip_flex = _u(rng, 60, 120) + _u(rng, -8, 8, 2)
    knee = hip_flex + _u(rng, 10, 40, 2)
    arms = {"shoulder_flex": _u(rng, 0, 90, 2), "shoulder_abd": _u(rng, 0, 30, 2),
            "arm_rot": _u(rng, -10, 30, 2), "elbow": _u(rng, 10, 100, 2)}
    pose = Pose("crouching", spine_pitch=_u(rng, 15, 50), spine_lean=_u(rng, -8, 8),
                spine_twist=_u(rng, -15, 15), head_pitch=_u(rng, -30, 10), head_yaw=_u(rng, -30, 30),
                **arms, hip_flex=hip_flex, hip_abd=_u(rng, 5, 30, 2), knee=knee)
    return _flat_feet(pose, rng)


def _sitting(rng: np.random.Generator) -> Pose:
    hip_flex = _u(rng, 75, 100) + _u(rng, -5, 5, 2)
    if rng.random() < 0.6:  # hands on the lap or a desk
        arms = {"shoulder_flex": _u(rng, 10, 55, 2), "shoulder_abd": _u(rng, 0, 20, 2),
                "arm_rot": _u(rng, -10, 20, 2), "elbow": _u(rng, 40, 100, 2)}
    else:
        arms = {k: v for k, v in vars(_reaching(rng)).items() if k in ("shoulder_flex", "shoulder_abd",
                                                                         "arm_rot", "elbow")}
    pose = Pose("sitting", spine_pitch=_u(rng, -5, 25), spine_lean=_u(rng, -6, 6),
                spine_twist=_u(rng, -20, 20), head_pitch=_u(rng, -10, 30), head_yaw=_u(rng, -40, 40),
                **arms, hip_flex=hip_flex, hip_abd=_u(rng, 0, 20, 2), knee=hip_flex + _u(rng, -25, 20, 2))
    return _flat_feet(pose, rng)


# ---------------------------------------------------------------------- walking
@dataclass(frozen=True)
class GaitStyle:
    """One walker's gait: amplitudes in degrees, cadence in strides per second."""

    hip_amplitude: float = 20.0
    arm_swing: float = 18.0
    elbow_bend: float = 20.0
    spine_pitch: float = 4.0
    cadence_hz: float = 0.9

    def stride_m(self, body: BodyShape) -> float:
        """Distance covered by one gait cycle (two steps)."""
        leg = body.thigh_m + body.shin_m + body.ankle_height_m
        return 4.0 * leg * float(np.sin(np.radians(self.hip_amplitude)))

    def speed_mps(self, body: BodyShape) -> float:
        return self.stride_m(body) * self.cadence_hz


def sample_gait_style(rng: np.random.Generator) -> GaitStyle:
    return GaitStyle(hip_amplitude=_u(rng, 15, 24), arm_swing=_u(rng, 8, 28), elbow_bend=_u(rng, 10, 35),
                     spine_pitch=_u(rng, 0, 8), cadence_hz=_u(rng, 0.8, 1.0))


def _bump(phase: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Smooth periodic bump over a gait cycle (phase and centre in cycles)."""
    d = (phase - centre + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (d / width) ** 2)


def gait_pose(phase_cycles: float, style: GaitStyle) -> Pose:
    """Walking pose at ``phase_cycles`` (0 = right heel strike; periodic with period 1)."""
    phase = (phase_cycles + np.array([0.0, 0.5])) % 1.0  # (right, left)
    swing = np.cos(2 * np.pi * phase)
    hip_flex = 0.35 * style.hip_amplitude + style.hip_amplitude * swing
    knee = 4.0 + 14.0 * _bump(phase, 0.13, 0.07) + 55.0 * _bump(phase, 0.72, 0.11)
    ankle = knee - hip_flex + 8.0 * _bump(phase, 0.0, 0.06) - 15.0 * _bump(phase, 0.58, 0.06)
    arm = -style.arm_swing * swing
    return Pose(
        "walking", spine_pitch=style.spine_pitch, spine_twist=-4.0 * float(swing[0]),
        shoulder_flex=arm, shoulder_abd=np.full(2, 8.0), arm_rot=np.full(2, 10.0),
        elbow=style.elbow_bend + 0.5 * np.maximum(arm, 0.0),
        hip_flex=hip_flex, hip_abd=np.full(2, 3.0), knee=knee, ankle=ankle,
    ).clipped()


def _walking(rng: np.random.Generator) -> Pose:
    pose = gait_pose(float(rng.random()), sample_gait_style(rng))
    return replace(pose, head_pitch=_u(rng, -10, 20), head_yaw=_u(rng, -30, 30))


_SAMPLERS = {"standing": _standing, "reaching": _reaching, "crouching": _crouching,
             "sitting": _sitting, "walking": _walking}


def sample_pose(rng: np.random.Generator, family: str) -> Pose:
    """A random pose of ``family`` (one of :data:`POSE_FAMILIES`), within the joint limits."""
    if family not in _SAMPLERS:
        raise RefinetError(f"unknown pose family {family!r}{did_you_mean(family, POSE_FAMILIES)}; "
                           f"valid: {', '.join(POSE_FAMILIES)}")
    return _SAMPLERS[family](rng).clipped()
