"""The wider generator: uniform poses, new families, plausibility checks, the wide scene."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.synth import SynthConfig, generate_frame, generate_frames
from refinet_edge.synth.body import body_shape
from refinet_edge.synth.compose import stage_frame
from refinet_edge.synth.pose_space import (
    ANATOMICAL_LIMITS,
    HELD_OUT_FAMILIES,
    MIXED_WEIGHTS,
    NEW_FAMILIES,
    Posture,
    place_posture,
    plausibility_problems,
    sample_posture,
    uniform_angles,
)
from refinet_edge.synth.poses import JOINT_LIMITS, BodyPoints, Pose
from refinet_edge.synth.wide_scene import CARRIED, OTHER_PERSON, WideScene

BODY = body_shape(0, 3)


def world_joints(frame) -> np.ndarray:
    """The frame's joints in the world frame (z up, floor z = 0)."""
    rotation, offset = frame.world_to_camera[:3, :3], frame.world_to_camera[:3, 3]
    return (frame.joints_m - offset) @ rotation


def family_frames(family: str, n: int = 8, seed: int = 21) -> list:
    return list(generate_frames(n, seed=seed, config=SynthConfig(family_weights=((family, 1.0),))))


# ---------------------------------------------------------------- bit for bit
def test_default_config_still_makes_yesterdays_frames():
    """Fingerprint of frames 0-5 of seed 0 (side and top) taken on main before this change."""
    digest = hashlib.sha256()
    for view, camera in (("side", "itop_side"), ("top", "itop_top")):
        for i in range(6):
            f = generate_frame(i, seed=0, camera=camera, view=view)
            digest.update(np.round(f.joints_m, 6).tobytes())
            digest.update(f.family.encode())
            digest.update(f.visible.tobytes())
            digest.update(np.round(f.depth_m[::8, ::8].astype(np.float64), 4).tobytes())
    assert digest.hexdigest()[:16] == "87d863e9c57548e8"


@pytest.mark.parametrize("config", [SynthConfig(poses="mixed", scene="wide"), SynthConfig(poses="uniform")])
def test_same_seed_and_index_give_the_same_frame(config):
    a, b = generate_frame(7, seed=4, config=config), generate_frame(7, seed=4, config=config)
    other = generate_frame(8, seed=4, config=config)
    for name in ("depth_m", "joints_m", "uv_px", "visible", "segmentation", "ir"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.family, a.has_occluder, a.has_second_person) == (b.family, b.has_occluder, b.has_second_person)
    assert not np.array_equal(a.joints_m, other.joints_m)


# ---------------------------------------------------------------- uniform sampler
def test_anatomical_limits_lie_inside_what_the_skeleton_can_express():
    assert set(ANATOMICAL_LIMITS) == set(JOINT_LIMITS)
    for name, (lo, hi) in ANATOMICAL_LIMITS.items():
        assert JOINT_LIMITS[name][0] <= lo < hi <= JOINT_LIMITS[name][1], name


def test_uniform_sampler_stays_within_its_limits_and_spans_them():
    rng = np.random.default_rng(0)
    poses = [uniform_angles(rng) for _ in range(400)] + [sample_posture(rng, "uniform", BODY).pose
                                                         for _ in range(100)]
    for name, (lo, hi) in ANATOMICAL_LIMITS.items():
        angles = np.concatenate([np.atleast_1d(getattr(p, name)) for p in poses])
        assert angles.min() >= lo and angles.max() <= hi, name
        span = hi - lo  # uniform: the extremes of 500+ draws come within 3 % of the limits
        assert angles.min() < lo + 0.03 * span and angles.max() > hi - 0.03 * span, name


# ---------------------------------------------------------------- plausibility checks
def neutral() -> tuple[Posture, BodyPoints]:
    posture = Posture(Pose("standing", shoulder_abd=np.full(2, 10.0)))
    return posture, place_posture(BODY, posture, 0.0, np.zeros(2))


def moved(points: BodyPoints, joint: int, to_m: np.ndarray) -> BodyPoints:
    joints = points.joints.copy()
    joints[joint] = to_m
    return replace(points, joints=joints)


def test_an_upright_neutral_pose_is_plausible():
    posture, points = neutral()
    assert plausibility_problems(BODY, points, posture) == []


def test_a_forearm_through_the_torso_is_rejected():
    posture, points = neutral()
    inside = moved(points, 6, points.joints[8] + np.array([-0.05, 0.0, 0.05]))  # right hand inside the belly
    assert "a limb passes through the torso" in plausibility_problems(BODY, inside, posture)


def test_a_hand_below_the_floor_is_rejected_when_standing():
    posture, points = neutral()
    sunk = moved(points, 6, points.joints[6] * np.array([1.0, 1.0, 0.0]) - np.array([0.0, 0.0, 0.1]))
    problems = plausibility_problems(BODY, sunk, posture)
    assert "part of the body is below the floor" in problems
    assert any("other than the feet" in p for p in problems)


def test_a_lying_body_sunk_into_its_bed_is_rejected():
    posture = Posture(Pose("lying"), tilt_deg=(-90.0, 0.0), support="bed", support_m=0.45)
    points = place_posture(BODY, posture, 30.0, np.zeros(2))
    assert plausibility_problems(BODY, points, posture) == []
    sunk = replace(points, joints=points.joints - np.array([0.0, 0.0, 0.2]),
                   heels=points.heels - np.array([0.0, 0.0, 0.2]), toes=points.toes - np.array([0.0, 0.0, 0.2]))
    assert "part of the body is below the bed top" in plausibility_problems(BODY, sunk, posture)


def test_kneeling_rests_on_the_knees_not_the_feet():
    posture = sample_posture(np.random.default_rng(2), "kneeling", BODY)
    points = place_posture(BODY, posture, 0.0, np.zeros(2))
    assert plausibility_problems(BODY, points, posture) == []
    assert points.joints[11:13, 2].max() < BODY.thigh_r_m + 0.06  # knee centres a knee's radius up


# ---------------------------------------------------------------- the families
@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_every_new_family_gives_finite_joints_on_or_above_the_floor(family):
    frames = family_frames(family)
    assert {f.family for f in frames} == {family}
    for f in frames:
        joints = world_joints(f)
        assert np.all(np.isfinite(f.joints_m)) and np.all(np.isfinite(f.uv_px))
        assert joints[:, 2].min() > 0.0, joints[:, 2]                     # joint centres above the floor
        assert f.visible.sum() >= 4                                       # the person is seen
        assert np.count_nonzero(f.segmentation >= 0) > 200


def tilt_deg(joints: np.ndarray) -> np.ndarray:
    spine = joints[1] - 0.5 * (joints[9] + joints[10])
    return np.degrees(np.arccos(spine[2] / np.linalg.norm(spine)))


def test_each_family_looks_like_its_name():
    def frames(family):
        return [world_joints(f) for f in family_frames(family)]

    assert all(max(j[6, 2], j[7, 2]) > j[0, 2] for j in frames("arms_overhead"))  # a hand above the head
    across = [max((j[6] - j[1]) @ (j[3] - j[2]), (j[7] - j[1]) @ (j[2] - j[3])) > 0 for j in frames("arms_across")]
    assert np.mean(across) >= 0.5                                                  # a hand past the midline
    assert all(tilt_deg(j) > 40 for j in frames("bending"))
    assert all(j[11:13, 2].max() < 0.16 for j in frames("kneeling"))                # knees at the floor
    hips = [0.5 * (j[9, 2] + j[10, 2]) for j in frames("chair")]
    assert min(hips) > 0.3 and max(hips) - min(hips) > 0.1                          # seats of varying height
    lying = frames("lying")
    assert all(tilt_deg(j) > 60 for j in lying) and all(j[:, 2].min() > 0.2 for j in lying)  # flat, on a bed
    assert all(abs(j[13, 2] - j[14, 2]) > 0.05 for j in frames("one_leg"))          # one foot off the floor


def test_carrying_puts_a_box_between_the_hands():
    rng = np.random.default_rng(3)
    staged = stage_frame(rng, BODY, generate_frame(0, seed=0).camera, "side", (("carrying", 1.0),), "default",
                         0.0, WideScene())
    boxes = [s for s in staged.scene if s.label == CARRIED]
    assert len(boxes) == 1
    hands_mid = staged.joints_w[6:8].mean(axis=0)
    assert np.linalg.norm(boxes[0].centre_m - hands_mid) < 0.3


def test_held_out_families_are_kept_out_of_the_training_mixture():
    mixed = {name for name, _ in MIXED_WEIGHTS}
    assert set(HELD_OUT_FAMILIES) <= set(NEW_FAMILIES) and not mixed & set(HELD_OUT_FAMILIES)
    assert set(NEW_FAMILIES) - set(HELD_OUT_FAMILIES) <= mixed and "uniform" in mixed
    assert abs(sum(w for _, w in MIXED_WEIGHTS) - 1.0) < 1e-9
    families = {f.family for f in generate_frames(60, seed=1, config=SynthConfig(poses="mixed"))}
    assert not families & set(HELD_OUT_FAMILIES) and len(families) >= 8


# ---------------------------------------------------------------- wide scene
def test_the_wide_scene_draws_its_ranges_bystanders_and_occluders():
    frames = list(generate_frames(40, seed=3, config=SynthConfig(scene="wide")))
    heights, pitches, distances, cut = [], [], [], 0
    for f in frames:
        rotation, offset = f.world_to_camera[:3, :3], f.world_to_camera[:3, 3]
        eye = -rotation.T @ offset
        joints = world_joints(f)
        centre = 0.5 * (joints.min(axis=0) + joints.max(axis=0))
        heights.append(eye[2])
        pitches.append(np.degrees(np.arcsin(rotation[2, 2])))
        distances.append(np.hypot(*(centre[:2] - eye[:2])))
        inside = f.camera.in_image(f.uv_px)
        assert inside[8] and inside.sum() >= 9  # the torso and most of the person stay in frame
        cut += not inside.all()
    assert 0.5 <= min(heights) and max(heights) <= 2.5 and max(heights) - min(heights) > 1.2
    assert -31 <= min(pitches) and max(pitches) <= 31 and max(pitches) - min(pitches) > 25
    assert 1.0 <= min(distances) and max(distances) <= 5.0 and max(distances) - min(distances) > 2.5
    assert cut >= 4                                            # some people partly out of frame
    assert sum(f.has_second_person for f in frames) >= 5 and sum(f.has_occluder for f in frames) >= 5


def test_the_bystander_is_scene_not_the_labelled_person():
    rng = np.random.default_rng(0)
    camera = generate_frame(0, seed=0).camera
    wide = WideScene(second_person_prob=1.0, occluder_prob=0.0)
    staged = stage_frame(rng, BODY, camera, "side", (("standing", 1.0),), "wide", 0.0, wide)
    assert staged.has_second_person
    other = [s for s in staged.scene if s.label == OTHER_PERSON]
    assert len(other) >= 20 and all(s.label >= 16 for s in other)
    frame = generate_frame(0, seed=5, config=SynthConfig(scene="wide", wide=wide))
    assert frame.has_second_person and set(np.unique(frame.segmentation)) <= set(range(-1, 15))


# ---------------------------------------------------------------- bad input
def test_unknown_pose_or_scene_names_the_choices():
    with pytest.raises(RefinetError, match=r"'unifrom'.*did you mean 'uniform'.*families, uniform, mixed"):
        SynthConfig(poses="unifrom")
    with pytest.raises(RefinetError, match=r"'huge'.*default, wide"):
        SynthConfig(scene="huge")
    with pytest.raises(RefinetError, match="side-view scene"):
        generate_frames(1, seed=0, view="top", camera="itop_top", config=SynthConfig(scene="wide"))
    with pytest.raises(RefinetError, match="family_weights apply to poses='families' only"):
        SynthConfig(poses="mixed", family_weights=(("kneeling", 1.0),))
