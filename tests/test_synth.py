"""Synthetic RGB-D generator: determinism, ground truth, sensor model, occlusion, walking."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.surface_checks import visible_joint_gaps

from refinet_edge.camera import camera_preset
from refinet_edge.errors import RefinetError
from refinet_edge.synth import (
    DEFAULT_CONFIG,
    SensorModel,
    body_shape,
    generate_frame,
    generate_frames,
    walking_sequence,
)
from refinet_edge.synth.body import body_surfaces
from refinet_edge.synth.generator import posed_body, render_frame
from refinet_edge.synth.poses import (
    JOINT_LIMITS,
    POSE_FAMILIES,
    Pose,
    forward_kinematics,
    place_on_floor,
    sample_pose,
)
from refinet_edge.synth.scene import CameraPose, crate, look_rotation
from refinet_edge.synth.sensor import apply_sensor

ARRAYS = ("depth_m", "depth_clean_m", "ir", "segmentation", "joints_m", "uv_px", "visible")
PRESETS = ("itop_side", "d435_640x480", "d435_848x480")


def assert_same_frame(a, b) -> None:
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.subject, a.family, a.index) == (b.subject, b.family, b.index)


@pytest.fixture(scope="module")
def side_frames():
    return list(generate_frames(40, seed=5, camera="itop_side", view="side"))


@pytest.fixture(scope="module")
def top_frames():
    return list(generate_frames(30, seed=5, camera="itop_top", view="top"))


# ------------------------------------------------------------------ determinism
def test_same_seed_and_index_give_identical_frames():
    assert_same_frame(generate_frame(7, seed=3), generate_frame(7, seed=3))


def test_different_seeds_or_indices_differ():
    a, b, c = generate_frame(7, seed=3), generate_frame(7, seed=4), generate_frame(8, seed=3)
    assert not np.array_equal(a.joints_m, b.joints_m)
    assert not np.array_equal(a.depth_m, b.depth_m)
    assert not np.array_equal(a.joints_m, c.joints_m)


def test_frames_do_not_depend_on_workers_or_start():
    pooled = list(generate_frames(5, seed=2, start=30, workers=2))
    assert [f.index for f in pooled] == list(range(30, 35))
    for frame in pooled:
        assert_same_frame(frame, generate_frame(frame.index, seed=2))


def test_subject_is_index_modulo_16_with_a_fixed_body():
    frames = [generate_frame(i, seed=9) for i in (3, 19)]
    assert [f.subject for f in frames] == [3, 3] and frames[0].frame_id == "03_00003"
    assert body_shape(9, 3) == body_shape(9, 3) and body_shape(9, 3) != body_shape(9, 4)


# ----------------------------------------------------------------- ground truth
@pytest.mark.parametrize("fixture", ["side_frames", "top_frames"])
def test_uv_is_the_pinhole_projection_of_the_3d_joints(fixture, request):
    for frame in request.getfixturevalue(fixture):
        cam, (x, y, z) = frame.camera, frame.joints_m.T
        expected = np.stack([cam.fx * x / z + cam.cx, cam.fy * y / z + cam.cy], axis=-1)
        np.testing.assert_allclose(frame.uv_px, expected, rtol=0, atol=1e-9)
        np.testing.assert_allclose(frame.uv_px, cam.project(frame.joints_m), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("fixture", "min_visible"), [("side_frames", 0.6), ("top_frames", 0.25)])
def test_visible_joints_lie_just_behind_the_rendered_person(fixture, min_visible, request):
    # From above, foreshortened limbs and the chest hide many joints (self-occlusion).
    gaps, n_visible = visible_joint_gaps(request.getfixturevalue(fixture))
    assert n_visible > min_visible * 15 * len(request.getfixturevalue(fixture))
    assert np.mean((gaps > 0.0) & (gaps < 0.25)) > 0.97


def test_some_joints_are_self_occluded_in_the_side_view(side_frames):
    visible = np.stack([f.visible for f in side_frames])
    assert 0.5 < visible.mean() < 0.98


def test_joint_centres_lie_inside_the_body_surface():
    rng = np.random.default_rng(0)
    for family in POSE_FAMILIES:
        body = body_shape(1, int(rng.integers(16)))
        points = forward_kinematics(body, sample_pose(rng, family))
        surfaces = body_surfaces(body, points.joints, points.heels, points.toes)
        inside = np.any([s.contains(points.joints) for s in surfaces], axis=0)
        assert inside.all(), (family, np.flatnonzero(~inside))


def test_heights_are_1p5_to_2m_and_the_upright_body_stands_that_tall():
    for seed in range(3):
        for subject in range(16):
            body = body_shape(seed, subject)
            assert 1.5 <= body.height_m <= 2.0
            points = place_on_floor(body, forward_kinematics(body, Pose("standing")), 30.0, np.zeros(2))
            head_top = points.joints[0, 2] + body.head_radii_m[2]
            assert head_top == pytest.approx(body.height_m, abs=2e-3)
            assert min(points.heels[:, 2].min(), points.toes[:, 2].min()) - body.foot_r_m == pytest.approx(0)


def test_sampled_poses_respect_joint_limits():
    rng = np.random.default_rng(1)
    for family in POSE_FAMILIES:
        for _ in range(20):
            pose = sample_pose(rng, family)
            for name, (lo, hi) in JOINT_LIMITS.items():
                angle = np.asarray(getattr(pose, name))
                assert np.all((angle >= lo) & (angle <= hi)), (family, name, angle)


def test_person_distance_and_framing(side_frames, top_frames):
    for frame in side_frames + top_frames:
        assert 0.8 <= frame.joints_m[8, 2] <= 5.0
        assert frame.camera.in_image(frame.uv_px).all()
    assert {f.family for f in side_frames} == set(POSE_FAMILIES)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("view", ["side", "top"])
def test_every_camera_preset_and_view(preset, view):
    frame = generate_frame(1, seed=4, camera=preset, view=view)
    shape = camera_preset(preset).shape
    assert frame.depth_m.shape == frame.ir.shape == frame.segmentation.shape == shape
    assert (frame.depth_m.dtype, frame.ir.dtype, frame.segmentation.dtype) == (np.float32, np.uint8, np.int8)
    assert frame.joints_m.shape == (15, 3) and frame.uv_px.shape == (15, 2) and frame.visible.dtype == bool
    person = frame.segmentation >= 0
    assert person.sum() > 200 and np.all(frame.depth_clean_m[person] > 0)
    assert frame.segmentation.max() <= 14 and frame.camera.in_image(frame.uv_px).all()


# --------------------------------------------------------------------- sensor
def test_sensor_range_missing_pixels_and_quantisation():
    cam = camera_preset("itop_side")
    band_depths = np.array([0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.5, 8.0], dtype=np.float32)
    clean = np.repeat(band_depths, cam.height // 10)[:, None] * np.ones((1, cam.width), np.float32)
    model = SensorModel()
    depth = apply_sensor(clean, cam, model, np.random.default_rng(0))
    interior = np.zeros(clean.shape, bool)  # away from band edges, where flying pixels mix depths
    interior[1:-1] = (clean[:-2] == clean[1:-1]) & (clean[2:] == clean[1:-1])
    assert np.all(depth[interior & (clean < 0.3)] == 0) and np.all(depth[interior & (clean > 6.0)] == 0)
    measured = depth > 0
    assert np.all((depth[measured] >= model.min_range_m) & (depth[measured] <= model.max_range_m))
    in_range = (clean > 0.4) & (clean < 5.5)
    assert 0.002 < np.mean(~measured[in_range]) < 0.05  # some, not many, missing
    steps = depth[measured] / model.depth_unit_m
    np.testing.assert_allclose(steps, np.round(steps), atol=2e-3)
    error = depth - clean
    near, far = interior & measured & (clean == 1.0), interior & measured & (clean == 4.0)
    assert np.std(error[near]) == pytest.approx(0.0025, rel=0.3)  # 1 mm + 1.5 mm/m^2 * z^2
    assert np.std(error[far]) == pytest.approx(0.025, rel=0.3)
    assert abs(np.median(error[measured])) < 0.002


def test_frames_have_sensor_holes_and_flying_pixels(side_frames):
    for frame in side_frames[:10]:
        measured = frame.depth_m > 0
        assert np.all(frame.depth_m[measured] >= 0.3) and np.all(frame.depth_m[measured] <= 6.0)
        assert np.any((frame.depth_clean_m > 0.5) & (frame.depth_clean_m < 5.5) & ~measured)
    # Flying pixels: measurements far from the clean depth near edges.
    frame = side_frames[0]
    both = (frame.depth_m > 0) & (frame.depth_clean_m > 0)
    assert np.sum(np.abs(frame.depth_m - frame.depth_clean_m)[both] > 0.2) > 5


# ------------------------------------------------------------------ occlusion
def _staged_frame(yaw_deg: float, occluder: bool, arms_forward: bool = False):
    """A standing subject at the origin, seen from 3 m away at 1.2 m height (+y)."""
    body = body_shape(0, 0)
    pose = Pose("standing", shoulder_abd=np.full(2, 10.0), shoulder_flex=np.full(2, 90.0 * arms_forward))
    points = place_on_floor(body, forward_kinematics(body, pose), yaw_deg, np.zeros(2))
    eye = np.array([0.0, -3.0, 1.2])
    cam_pose = CameraPose(look_rotation(np.array([0.0, 3.0, -0.3]), np.array([0.0, 0.0, 1.0])), eye)
    scene = crate(np.array([0.0, -1.0]), 0.0, np.array([1.0, 0.3, 0.9]), 20) if occluder else []
    meta = {"index": 0, "subject": 0, "family": "standing", "view": "side", "has_occluder": occluder}
    return render_frame(meta, camera_preset("itop_side"), cam_pose, posed_body(body, points), scene,
                        points.joints, np.random.default_rng(0), DEFAULT_CONFIG)


def test_an_occluder_hides_the_joints_behind_it():
    open_view = _staged_frame(180.0, occluder=False)  # facing the camera
    assert open_view.visible.all()
    blocked = _staged_frame(180.0, occluder=True)
    assert not blocked.visible[[11, 12, 13, 14]].any()  # knees and feet behind the crate
    assert blocked.visible[[0, 1, 2, 3, 8]].all()


def test_profile_view_hides_the_far_side():
    profile = _staged_frame(-90.0, occluder=False, arms_forward=True)  # right side towards the camera
    assert profile.visible[[0, 2, 4, 6, 9, 11, 13]].all()
    assert not profile.visible[[3, 10, 12]].any()  # left shoulder, hip and knee behind the body


# ------------------------------------------------------------------- walking
def test_walking_sequence_is_smooth_and_keeps_its_subject():
    frames = list(walking_sequence(45, seed=1, camera="itop_side", view="side", fps=30, subject=4))
    assert {f.subject for f in frames} == {4} and [f.index for f in frames] == list(range(45))
    joints = np.stack([f.joints_m for f in frames])  # (T, 15, 3) m
    step = np.linalg.norm(np.diff(joints, axis=0), axis=-1)
    assert step[:, 8].max() < 0.06  # torso: walking pace at 30 fps
    assert step.max() < 0.2        # swinging feet
    assert np.linalg.norm(np.diff(joints, 2, axis=0), axis=-1).max() < 0.05  # no jumps
    assert np.linalg.norm(joints[-1, 8] - joints[0, 8]) > 0.3  # it does move
    for frame in frames[::15]:
        assert frame.camera.in_image(frame.uv_px).all() and 0.8 <= frame.joints_m[8, 2] <= 5.0


# ------------------------------------------------------------------- errors
def test_bad_settings_name_the_valid_choices():
    with pytest.raises(RefinetError, match="did you mean 'side'"):
        generate_frame(0, seed=0, view="sid")
    with pytest.raises(RefinetError, match="itop_side"):
        generate_frame(0, seed=0, camera="itop_sid")
    with pytest.raises(RefinetError, match="workers"):
        generate_frames(2, seed=0, workers=0)


def test_benchmark_runs():
    from refinet_edge.benchmarks.synth_rate import run

    result = run(frames=3, workers=1, camera="itop_side", view="side", warmup=1)
    assert result["frames"] == 3 and result["frames_per_s"] > 0 and "p50_ms" in result
