"""The wider pose space: a uniform sampler within anatomical limits, more
families, whole-body postures (kneeling, lying) and plausibility checks.

``SynthConfig.poses`` picks what a frame's pose is drawn from (:data:`POSE_MODES`):

* ``families`` (default): ``SynthConfig.family_weights``, today's five families
  of :mod:`.poses` with today's weights, so existing data sets reproduce bit
  for bit. The weights may also name the families below and ``uniform``.
* ``uniform``: every angle uniform within :data:`ANATOMICAL_LIMITS`, redrawn
  until :func:`plausibility_problems` finds none.
* ``mixed``: :data:`MIXED_WEIGHTS`: today's families, ``uniform`` and the new
  families except :data:`HELD_OUT_FAMILIES`.

Held-out families
-----------------
:data:`HELD_OUT_FAMILIES` (kneeling, one-leg stance) are in no training
mixture on purpose: they are drawn only when a caller names them in
``family_weights`` (the ``held_out_families`` split of ``evaluate --suite ood``).

Anatomical limits (degrees)
---------------------------
Normal active range of motion of healthy adults as published by the American
Academy of Orthopaedic Surgeons (*Joint Motion: Method of Measuring and
Recording*, AAOS 1965; the values tabulated in Greene & Heckman, *The Clinical
Measurement of Joint Motion*, AAOS 1994): shoulder flexion 180 / extension 60,
abduction 180, cross-body adduction ~40, external rotation 90 / internal 70;
elbow flexion 150; hip flexion 120 / extension 30, abduction 45 / adduction 30;
knee flexion 135; ankle dorsiflexion 20 / plantar flexion 50; cervical spine
flexion 45 / extension 45, rotation 60-80; thoracolumbar flexion 80 /
extension 25, lateral bend 35, rotation 45. :data:`ANATOMICAL_LIMITS` is each
of those ranges intersected with the model's own :data:`~.poses.JOINT_LIMITS`
(the angles this skeleton can express), so no sampled angle is clipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .body import BodyShape, body_surfaces
from .geometry import Capsule, Ellipsoid, Surface
from .poses import POSE_FAMILIES, BodyPoints, Pose, forward_kinematics, rot_x, rot_y, rot_z

POSE_MODES = ("families", "uniform", "mixed")
NEW_FAMILIES = ("arms_overhead", "arms_across", "bending", "kneeling", "chair", "lying", "carrying", "one_leg")
HELD_OUT_FAMILIES = ("kneeling", "one_leg")
ALL_FAMILIES = (*POSE_FAMILIES, "uniform", *NEW_FAMILIES)
MIXED_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("standing", 0.10), ("reaching", 0.10), ("crouching", 0.06), ("sitting", 0.08), ("walking", 0.10),
    ("uniform", 0.20), *((f, 0.06) for f in NEW_FAMILIES if f not in HELD_OUT_FAMILIES))

ANATOMICAL_LIMITS: dict[str, tuple[float, float]] = {
    "spine_pitch": (-20, 60), "spine_lean": (-25, 25), "spine_twist": (-40, 40),
    "head_pitch": (-40, 45), "head_yaw": (-70, 70),
    "shoulder_flex": (-50, 180), "shoulder_abd": (-40, 170), "arm_rot": (-70, 90),
    "elbow": (0, 145), "hip_flex": (-25, 120), "hip_abd": (-15, 45),
    "knee": (0, 135), "ankle": (-45, 20),
}
SUPPORTS = ("feet", "knees", "seat", "bed")  # what carries the body's weight
FLOOR_TOLERANCE_M = 0.02  # a surface may dip this far below its support (soft contact)
_TORSO_CORE = 0.8         # limbs may not enter the torso ellipsoids shrunk by this factor


@dataclass(frozen=True)
class Posture:
    """A pose plus how the whole body rests: tilted (lying, bending) and on what support.

    ``tilt_deg`` = (pitch, roll) of the whole body about its hip centre, applied
    before the yaw: pitch + bends forward (90 = lying face down, -90 face up),
    roll + tips it over onto its right side. ``support_m`` is the height of a
    seat or bed top (0 for the floor).
    """

    pose: Pose
    tilt_deg: tuple[float, float] = (0.0, 0.0)
    support: str = "feet"
    support_m: float = 0.0
    carries: bool = False  # holds a box in both hands


def _u(rng: np.random.Generator, lo: float, hi: float, size: int | None = None) -> Any:
    return rng.uniform(lo, hi, size)


def uniform_angles(rng: np.random.Generator) -> Pose:
    """Every angle of :class:`~.poses.Pose` uniform within :data:`ANATOMICAL_LIMITS` (no checks)."""
    values: dict[str, Any] = {}
    for name, (lo, hi) in ANATOMICAL_LIMITS.items():
        per_side = name not in ("spine_pitch", "spine_lean", "spine_twist", "head_pitch", "head_yaw")
        values[name] = _u(rng, lo, hi, 2) if per_side else float(_u(rng, lo, hi))
    return Pose("uniform", **values)


# ------------------------------------------------------------------- families
def _legs_standing(rng: np.random.Generator) -> dict[str, Any]:
    hip_flex, knee = _u(rng, -5, 12, 2), _u(rng, 0, 12, 2)
    return {"hip_flex": hip_flex, "hip_abd": _u(rng, 0, 12, 2), "knee": knee,
            "ankle": knee - hip_flex + _u(rng, -5, 5, 2)}


def _trunk(rng: np.random.Generator, pitch: tuple[float, float] = (-5, 10)) -> dict[str, Any]:
    return {"spine_pitch": _u(rng, *pitch), "spine_lean": _u(rng, -8, 8), "spine_twist": _u(rng, -20, 20),
            "head_pitch": _u(rng, -30, 25), "head_yaw": _u(rng, -45, 45)}


def _arms_overhead(rng: np.random.Generator) -> Posture:
    arms = {"shoulder_flex": _u(rng, 140, 180, 2), "shoulder_abd": _u(rng, -5, 45, 2),
            "arm_rot": _u(rng, -20, 40, 2), "elbow": _u(rng, 0, 70, 2)}
    if rng.random() < 0.3:  # one arm only
        side = int(rng.integers(2))
        arms["shoulder_flex"][side], arms["elbow"][side] = _u(rng, -10, 30), _u(rng, 0, 40)
    return Posture(Pose("arms_overhead", **_trunk(rng, (-15, 5)), **arms, **_legs_standing(rng)))


def _arms_across(rng: np.random.Generator) -> Posture:
    arms = {"shoulder_flex": _u(rng, 15, 95, 2), "shoulder_abd": _u(rng, -40, -15, 2),
            "arm_rot": _u(rng, -70, -40, 2), "elbow": _u(rng, 80, 135, 2)}  # forearms turned inwards
    trunk = _trunk(rng)
    trunk["spine_twist"] = _u(rng, -35, 35)
    return Posture(Pose("arms_across", **trunk, **arms, **_legs_standing(rng)))


def _bending(rng: np.random.Generator) -> Posture:
    """Bent at the hips towards the floor (picking something up), knees straight or bent."""
    tilt = float(_u(rng, 45, 95))
    spine = float(_u(rng, 0, 30))
    knee = _u(rng, 0, 50, 2)
    hip_flex = tilt + 0.5 * knee + _u(rng, -5, 5, 2)
    reach = tilt + spine + _u(rng, -25, 35, 2)  # arms hang (or reach) towards the floor
    pose = Pose("bending", spine_pitch=spine, spine_lean=_u(rng, -8, 8), spine_twist=_u(rng, -20, 20),
                head_pitch=_u(rng, -40, 10), head_yaw=_u(rng, -30, 30), shoulder_flex=reach,
                shoulder_abd=_u(rng, 0, 25, 2), arm_rot=_u(rng, -10, 30, 2), elbow=_u(rng, 0, 60, 2),
                hip_flex=hip_flex, hip_abd=_u(rng, 0, 15, 2), knee=knee, ankle=knee - hip_flex + tilt)
    return Posture(pose, tilt_deg=(tilt, 0.0))


def _kneeling(rng: np.random.Generator) -> Posture:
    """On both knees, toes tucked under: upright or sitting back; knees and toes on the floor."""
    hip_flex = _u(rng, -5, 20) if rng.random() < 0.5 else _u(rng, 25, 38)
    hip_flex = hip_flex + _u(rng, -4, 4, 2)
    knee = 90.0 + hip_flex + _u(rng, 12, 18, 2)  # shins rise ~15 deg towards the tucked toes
    arms = {"shoulder_flex": _u(rng, -10, 120, 2), "shoulder_abd": _u(rng, 0, 40, 2),
            "arm_rot": _u(rng, -10, 30, 2), "elbow": _u(rng, 0, 110, 2)}
    pose = Pose("kneeling", **_trunk(rng, (-5, 30)), **arms, hip_flex=hip_flex, hip_abd=_u(rng, 0, 15, 2),
                knee=knee, ankle=_u(rng, 5, 20, 2))
    return Posture(pose, support="knees")


def _chair(rng: np.random.Generator) -> Posture:
    """Sitting on a seat 0.3-0.8 m high (stools to bar stools): feet on the floor or hanging."""
    hip_flex = _u(rng, 65, 110) + _u(rng, -5, 5, 2)
    knee = _u(rng, 40, 130, 2)
    arms = {"shoulder_flex": _u(rng, -10, 80, 2), "shoulder_abd": _u(rng, 0, 30, 2),
            "arm_rot": _u(rng, -10, 30, 2), "elbow": _u(rng, 10, 120, 2)}
    pose = Pose("chair", **_trunk(rng, (-10, 30)), **arms, hip_flex=hip_flex, hip_abd=_u(rng, 0, 25, 2),
                knee=knee, ankle=knee - hip_flex + _u(rng, -15, 15, 2))
    return Posture(pose, support="seat", support_m=float(_u(rng, 0.3, 0.8)))


def _lying(rng: np.random.Generator) -> Posture:
    """On a bed or sofa 0.25-0.6 m high: on the back, front or a side."""
    way = int(rng.integers(4))
    tilt = [(-90.0, 0.0), (90.0, 0.0), (0.0, 90.0), (0.0, -90.0)][way]
    tilt = (tilt[0] + float(_u(rng, -10, 10)), tilt[1] + float(_u(rng, -10, 10)))
    bent = way >= 2 or rng.random() < 0.3  # knees drawn up (always a little on a side)
    hip_flex = _u(rng, 20, 90, 2) if bent else _u(rng, -5, 15, 2)
    knee = _u(rng, 20, 110, 2) if bent else _u(rng, 0, 20, 2)
    arms = {"shoulder_flex": _u(rng, -20, 180, 2), "shoulder_abd": _u(rng, 0, 90, 2),
            "arm_rot": _u(rng, -20, 40, 2), "elbow": _u(rng, 0, 120, 2)}
    pose = Pose("lying", spine_pitch=_u(rng, -5, 20), spine_lean=_u(rng, -10, 10), spine_twist=_u(rng, -20, 20),
                head_pitch=_u(rng, -20, 30), head_yaw=_u(rng, -60, 60), **arms, hip_flex=hip_flex,
                hip_abd=_u(rng, 0, 20, 2), knee=knee, ankle=_u(rng, -40, 10, 2))
    return Posture(pose, tilt_deg=tilt, support="bed", support_m=float(_u(rng, 0.25, 0.6)))


def _carrying(rng: np.random.Generator) -> Posture:
    """Both hands hold a box in front of the body (the box is drawn by the scene)."""
    flex, elbow = _u(rng, 15, 60), _u(rng, 60, 110)
    arms = {"shoulder_flex": flex + _u(rng, -4, 4, 2), "shoulder_abd": _u(rng, 5, 15, 2),
            "arm_rot": _u(rng, -10, 10, 2), "elbow": elbow + _u(rng, -4, 4, 2)}
    return Posture(Pose("carrying", **_trunk(rng, (-10, 15)), **arms, **_legs_standing(rng)), carries=True)


def _one_leg(rng: np.random.Generator) -> Posture:
    """Standing on one straight leg, the other lifted (knee raised, kicked back or out)."""
    legs = _legs_standing(rng)
    free = int(rng.integers(2))
    legs["hip_flex"][free], legs["knee"][free] = _u(rng, -20, 100), _u(rng, 30, 120)
    legs["hip_abd"][free] = _u(rng, 0, 35)
    arms = {"shoulder_flex": _u(rng, -10, 90, 2), "shoulder_abd": _u(rng, 5, 90, 2),
            "arm_rot": _u(rng, -10, 30, 2), "elbow": _u(rng, 0, 60, 2)}
    return Posture(Pose("one_leg", **_trunk(rng), **arms, **legs))


_FAMILY_SAMPLERS = {"arms_overhead": _arms_overhead, "arms_across": _arms_across, "bending": _bending,
                    "kneeling": _kneeling, "chair": _chair, "lying": _lying, "carrying": _carrying,
                    "one_leg": _one_leg}
assert tuple(_FAMILY_SAMPLERS) == NEW_FAMILIES


# ----------------------------------------------------------- placement, checks
def lowest_z(surfaces: list[Surface]) -> np.ndarray:
    """Lowest z (m) of each capsule or ellipsoid ``(n,)`` (z up)."""
    out = []
    for s in surfaces:
        if isinstance(s, Capsule):
            out.append(min(s.start_m[2], s.end_m[2]) - s.radius_m)
        elif isinstance(s, Ellipsoid):
            out.append(s.centre_m[2] - float(np.linalg.norm(s.axes_m[2])))
        else:
            raise TypeError(f"no lowest point for {type(s).__name__}")
    return np.array(out)


def place_posture(body: BodyShape, posture: Posture, yaw_deg: float, floor_xy_m: np.ndarray) -> BodyPoints:
    """Body frame -> world (z up, floor z = 0): tilt, turn by ``yaw_deg``, hip centre above
    ``floor_xy_m (2,)``, lowered onto the posture's support.

    * feet: the lowest heel or toe sole touches the floor;
    * knees, bed: the lowest body surface touches the floor / the bed top;
    * seat: the thighs rest on a seat ``support_m`` high, raised until no foot is below the floor.
    """
    pitch, roll = posture.tilt_deg
    turn = rot_z(yaw_deg) @ rot_y(roll) @ rot_x(-pitch)
    points = forward_kinematics(body, posture.pose).transformed(turn, np.array([*floor_xy_m, 0.0]))
    feet_z = min(points.heels[:, 2].min(), points.toes[:, 2].min()) - body.foot_r_m
    lift = support_lift(posture, feet_z, points.joints, body.thigh_r_m,
                        lambda: float(lowest_z(body_surfaces(body, points.joints, points.heels, points.toes)).min()))
    return points.transformed(np.eye(3), np.array([0.0, 0.0, lift]))


def support_lift(posture: Posture, feet_z_m: float, joints_m: np.ndarray, thigh_r_m: float,
                 lowest_z_m: Callable[[], float]) -> float:
    """How far to raise a turned body (world z up, floor z = 0) onto ``posture``'s support
    (the rule of :func:`place_posture`, shared by the Anny bodies of :mod:`.anny_frame`).

    Args:
        feet_z_m: the lowest point of the feet's soles.
        joints_m: ``(15, 3)`` ITOP joints (their hips set a seated body on the seat).
        thigh_r_m: thigh radius: the thighs rest on the seat ``0.95 *`` this below the hip joints.
        lowest_z_m: the lowest body surface, asked for only for the ``knees`` and ``bed`` supports.
    """
    if posture.support == "feet":
        return -feet_z_m
    if posture.support == "seat":
        hips_z = 0.5 * (joints_m[9, 2] + joints_m[10, 2])
        return max(posture.support_m + 0.95 * thigh_r_m - hips_z, -feet_z_m)
    return posture.support_m - lowest_z_m()


def _limb_samples(j: np.ndarray) -> np.ndarray:
    """Points along the distal half of each upper arm and thigh and the whole forearms and shins."""
    t = np.linspace(0.0, 1.0, 6)[:, None]
    out = []
    for side in (0, 1):
        shoulder, elbow, hand, hip, knee, foot = (k + side for k in (2, 4, 6, 9, 11, 13))
        out += [j[shoulder] + (0.5 + 0.5 * t) * (j[elbow] - j[shoulder]), j[elbow] + t * (j[hand] - j[elbow]),
                j[hip] + (0.5 + 0.5 * t) * (j[knee] - j[hip]), j[knee] + t * (j[foot] - j[knee])]
    return np.concatenate(out)


def plausibility_problems(body: BodyShape, points: BodyPoints, posture: Posture) -> list[str]:
    """Why ``points`` (world frame, placed by :func:`place_posture`) is implausible; empty if it is not.

    * a limb through the torso: a point of an arm or leg (distal half of the
      upper arm and thigh, forearm, shin) inside the chest or abdomen ellipsoid
      shrunk to 80 %;
    * below the support: for ``feet`` any surface other than the feet and shins
      more than 2 cm below the floor; for every support, any surface more than
      2 cm below the floor or below a bed top.
    """
    problems = []
    surfaces = body_surfaces(body, points.joints, points.heels, points.toes)
    torso = [s for s in surfaces if isinstance(s, Ellipsoid) and s.label == 8]
    samples = _limb_samples(points.joints)
    for part in torso:
        core = Ellipsoid(part.centre_m, _TORSO_CORE * part.axes_m, part.label)
        if np.any(core.contains(samples)):
            problems.append("a limb passes through the torso")
            break
    low = lowest_z(surfaces)
    labels = np.array([s.label for s in surfaces])
    floor_ok = low >= -FLOOR_TOLERANCE_M
    if not np.all(floor_ok):
        problems.append("part of the body is below the floor")
    if posture.support == "feet" and np.any((low < -FLOOR_TOLERANCE_M) & (labels != 13) & (labels != 14)):
        problems.append("standing, but something other than the feet reaches below the floor")
    if posture.support == "bed" and np.any(low < posture.support_m - FLOOR_TOLERANCE_M):
        problems.append("part of the body is below the bed top")
    return problems


def sample_posture(rng: np.random.Generator, family: str, body: BodyShape, tries: int = 200) -> Posture:
    """A plausible posture of ``family`` (``uniform`` or one of :data:`NEW_FAMILIES`) for ``body``.

    Draws until :func:`plausibility_problems` finds nothing (the draws depend
    only on ``rng``); raises RuntimeError if ``tries`` draws all fail (a bug in
    a sampler, not a user error).
    """
    draw = _FAMILY_SAMPLERS.get(family) or (lambda r: Posture(uniform_angles(r)))
    for _ in range(tries):
        posture = draw(rng)
        posture = replace(posture, pose=posture.pose.clipped())
        if not plausibility_problems(body, place_posture(body, posture, 0.0, np.zeros(2)), posture):
            return posture
    raise RuntimeError(f"no plausible {family} posture in {tries} draws")
