"""Anny bodies in the wider poses and scenes: silhouette, visibility, posture mapping, support, determinism."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from fixtures.surface_checks import visible_joint_gaps

from refinet_edge.synth import SynthConfig, body_shape, generate_frame, generate_frames
from refinet_edge.synth.pose_space import NEW_FAMILIES, place_posture, sample_posture

pytest.importorskip("anny")

WIDE = SynthConfig(body="anny", poses="mixed", scene="wide")
SEED, N = 13, 10
ARRAYS = ("depth_m", "depth_clean_m", "ir", "segmentation", "joints_m", "uv_px", "visible")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def wide_frames():
    return list(generate_frames(N, seed=SEED, config=WIDE))


def test_anny_joints_in_the_image_land_on_the_silhouette_or_behind_a_nearer_surface(wide_frames):
    # A joint in the image either shows the person within a pixel, or something nearer hides it
    # (a prop, the bystander, the person's own parts): never open background behind the joint.
    ok, n = 0, 0
    for frame in wide_frames:
        inside = np.flatnonzero(frame.camera.in_image(frame.uv_px) & (frame.joints_m[:, 2] > 0))
        person = frame.segmentation >= 0
        h, w = person.shape
        for j in inside:
            u, v = np.rint(frame.uv_px[j]).astype(int)
            us, vs = np.clip([u - 1, u + 2], 0, w), np.clip([v - 1, v + 2], 0, h)
            on_person = person[vs[0]:vs[1], us[0]:us[1]].any()
            hidden = 0 < frame.depth_clean_m[v, u] < frame.joints_m[j, 2]
            ok += int(on_person or hidden)
            n += 1
    assert n > 0.7 * 15 * len(wide_frames)
    assert ok / n > 0.97, ok / n


def test_visible_anny_joints_lie_just_behind_the_rendered_surface(wide_frames):
    gaps, n_visible = visible_joint_gaps(wide_frames)
    assert n_visible > 0.4 * 15 * len(wide_frames)
    assert np.mean((gaps > 0.0) & (gaps < 0.25)) > 0.97


def test_anny_frames_keep_the_own_body_frames_families(wide_frames):
    own = SynthConfig(poses="mixed", scene="wide")
    families = [generate_frame(f.index, seed=SEED, config=own).family for f in wide_frames]
    assert [f.family for f in wide_frames] == families
    assert len(set(families)) >= 4


def test_wide_anny_frames_are_deterministic_and_independent_of_workers(wide_frames):
    again = generate_frame(3, seed=SEED, config=WIDE)
    pooled = list(generate_frames(2, seed=SEED, start=5, workers=2, config=WIDE))
    for frame in [again] + pooled:
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(frame, name), getattr(wide_frames[frame.index], name),
                                          err_msg=name)


@pytest.mark.parametrize("family", NEW_FAMILIES + ("uniform",))
def test_anny_takes_the_posture_own_bodies_take_tilt_and_support_included(family):
    from refinet_edge.synth.anny_body import anny_subject
    from refinet_edge.synth.anny_frame import place_anny

    rng = np.random.default_rng(list(NEW_FAMILIES + ("uniform",)).index(family))
    anny, own = anny_subject(SEED, 1), body_shape(SEED, 1)
    for _ in range(3):
        posture = sample_posture(rng, family, own)
        yaw = float(rng.uniform(0, 360))
        placed, ref = place_anny(anny, posture, yaw), place_posture(own, posture, yaw, np.zeros(2)).joints
        j = placed.points.joints
        hips, ref_hips = 0.5 * (j[9] + j[10]), 0.5 * (ref[9] + ref[10])
        assert _unit(j[1] - hips) @ _unit(ref[1] - ref_hips) > 0.95  # trunk: tilt (lying, bending) and pitch
        for a, b in ((2, 4), (3, 5), (9, 11), (10, 12), (11, 13), (12, 14)):  # upper arms, thighs, shins
            assert _unit(j[b] - j[a]) @ _unit(ref[b] - ref[a]) > 0.95, (family, a, b)
        world = placed.posed.vertices_m @ placed.rotation.T + placed.offset_m
        lowest, feet = world[:, 2].min(), world[anny.vertex_label >= 13, 2].min()
        if posture.support == "feet":
            assert abs(feet) < 1e-9 and lowest > -0.1
        elif posture.support == "seat":
            assert feet > -1e-9 and 0.5 * (j[9, 2] + j[10, 2]) >= posture.support_m + 0.9 * anny.thigh_r_m
        else:  # knees on the floor, or lying on the bed top
            assert abs(lowest - posture.support_m) < 1e-9


def test_cli_writes_the_anny_frames_of_the_wide_poses_and_scene(tmp_path):
    from refinet_edge.data.itop import open_split

    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "refinet_edge.cli", "synth", "--out", str(out), "--split", "test",
                             "--frames", "2", "--workers", "1", "--seed", "4",
                             "--body", "anny", "--poses", "mixed", "--scene", "wide"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with open_split(out, "side", "test") as split:
        expected = generate_frame(1, seed=4, config=WIDE).depth_m
        np.testing.assert_allclose(split.depth(1), expected, rtol=1e-3)  # ITOP stores float16
