"""Anny bodies in the synthetic generator: silhouette, visibility, pose mapping, determinism, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures.surface_checks import visible_joint_gaps

from refinet_edge.synth import SynthConfig, body_shape, generate_frame, generate_frames
from refinet_edge.synth.anny_body import picks_anny, pose_rotations, sample_phenotype
from refinet_edge.synth.clothing import Outfit, dress, outfit_shells, vertex_normals
from refinet_edge.synth.poses import POSE_FAMILIES, forward_kinematics, sample_pose

ANNY = SynthConfig(body="anny", occluder_prob=0.0)
ARRAYS = ("depth_m", "depth_clean_m", "ir", "segmentation", "joints_m", "uv_px", "visible")
_DOWN = np.array([0.0, 0.0, -1.0])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def anny_frames():
    pytest.importorskip("anny")
    return list(generate_frames(16, seed=11, config=ANNY))


# ----------------------------------------------------------------- no Anny needed
def test_pose_rotations_are_the_ones_forward_kinematics_uses():
    rng = np.random.default_rng(3)
    body = body_shape(0, 1)
    for family in POSE_FAMILIES:
        pose = sample_pose(rng, family)
        j, rot = forward_kinematics(body, pose).joints, pose_rotations(pose)
        for side, s in enumerate("RL"):
            np.testing.assert_allclose(_unit(j[4 + side] - j[2 + side]), rot[f"arm_{s}"] @ _DOWN, atol=1e-12)
            np.testing.assert_allclose(_unit(j[6 + side] - j[4 + side]), rot[f"fore_{s}"] @ _DOWN, atol=1e-12)
            np.testing.assert_allclose(_unit(j[11 + side] - j[9 + side]), rot[f"thigh_{s}"] @ _DOWN, atol=1e-12)
            np.testing.assert_allclose(_unit(j[13 + side] - j[11 + side]), rot[f"shin_{s}"] @ _DOWN, atol=1e-12)


def test_phenotypes_cover_children_elders_thin_and_heavy_within_bounds():
    rng = np.random.default_rng(0)
    draws = [sample_phenotype(rng) for _ in range(400)]
    for d in draws:
        assert set(d) == {"gender", "age", "muscle", "weight", "height", "proportions"}
        assert all(0.0 <= v <= 1.0 for v in d.values())
    ages, weights = np.array([d["age"] for d in draws]), np.array([d["weight"] for d in draws])
    assert 0.05 < np.mean(ages < 0.56) < 0.3 and np.any(ages > 0.9)
    assert weights.min() < 0.15 and weights.max() > 0.85


def test_mixed_picks_both_models_per_subject_deterministically():
    picks = [picks_anny("mixed", 4, s) for s in range(32)]
    assert 0 < sum(picks) < 32 and picks == [picks_anny("mixed", 4, s) for s in range(32)]
    assert all(picks_anny("anny", 4, s) and not picks_anny("own", 4, s) for s in range(4))


def test_importing_and_own_bodies_do_not_import_anny_or_torch():
    code = ("import sys, refinet_edge, refinet_edge.synth as s; s.generate_frame(0, seed=0); "
            "print('anny' in sys.modules, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_own_body_frames_are_unchanged_by_the_body_field():
    a, b = generate_frame(5, seed=2), generate_frame(5, seed=2, config=SynthConfig(body="own"))
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_a_skirt_surrounds_the_legs_by_its_flare():
    rng = np.random.default_rng(0)
    # A standing "body": two vertical leg columns of vertices (labels 11/12) and a trunk point cloud (8).
    legs = np.concatenate([np.stack([np.full(50, x), np.zeros(50), np.linspace(-0.8, 0.0, 50)], 1)
                           for x in (-0.1, 0.1)])
    trunk = rng.uniform([-0.15, -0.1, 0.0], [0.15, 0.1, 0.5], (200, 3))
    verts = np.concatenate([legs, trunk])
    labels = np.array([11] * 50 + [12] * 50 + [8] * 200, dtype=np.int16)
    faces = np.array([[0, 1, 2]])
    joints = np.zeros((15, 3))
    joints[[9, 10, 11, 12]] = [[0.1, 0, 0], [-0.1, 0, 0], [0.1, 0, -0.4], [-0.1, 0, -0.4]]
    g_verts, g_faces, g_labels = dress(verts, faces, labels, [], joints, Outfit(hem_length_m=0.5, hem_flare_m=0.1))
    assert len(g_faces) > 0 and set(np.unique(g_labels)) <= {8, 9, 10, 11, 12}
    hem = g_verts[np.isclose(g_verts[:, 2], g_verts[:, 2].min())]  # (segments, 3), the lowest ring
    centre = hem[:, :2].mean(axis=0)
    hem_angle = np.arctan2(*(hem[:, :2] - centre).T[::-1])
    for leg in legs[np.abs(legs[:, 2] - hem[0, 2]) < 0.02]:
        rel = leg[:2] - centre
        k = np.argmin(np.abs(np.angle(np.exp(1j * (hem_angle - np.arctan2(rel[1], rel[0]))))))
        assert np.linalg.norm(hem[k, :2] - centre) >= np.linalg.norm(rel) + 0.1  # outside the leg by the flare


def test_a_shell_sits_outside_the_skin_by_its_offset():
    verts = np.array([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])  # octahedron
    faces = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    labels = np.full(6, 8, dtype=np.int16)  # torso: under the top
    outfit = Outfit(top_m=0.02)
    shells = outfit_shells(faces, labels, np.zeros(6, bool), outfit)
    g_verts, g_faces, g_labels = dress(verts, faces, labels, shells, np.zeros((15, 3)), outfit)
    assert g_faces.shape == (8, 3) and np.all(g_labels == 8)
    np.testing.assert_allclose(np.linalg.norm(g_verts, axis=1), 1.02, atol=1e-12)


# ----------------------------------------------------------------------- Anny
def test_anny_joints_project_onto_the_rendered_silhouette(anny_frames):
    hits = []
    for frame in anny_frames:
        u, v = np.rint(frame.uv_px).astype(int).T
        assert frame.camera.in_image(frame.uv_px).all()
        person = frame.segmentation >= 0
        around = np.zeros(15, bool)
        for du in (-1, 0, 1):
            for dv in (-1, 0, 1):
                uu, vv = np.clip(u + du, 0, frame.camera.width - 1), np.clip(v + dv, 0, frame.camera.height - 1)
                around |= person[vv, uu]
        hits.append(around)
    assert np.mean(hits) > 0.97, np.mean(hits, axis=0)


def test_visible_anny_joints_lie_just_behind_the_rendered_surface(anny_frames):
    gaps, n_visible = visible_joint_gaps(anny_frames)
    assert n_visible > 0.6 * 15 * len(anny_frames)
    assert np.mean((gaps > 0.0) & (gaps < 0.25)) > 0.97


def test_anny_limbs_point_where_the_pose_says(anny_frames):
    from refinet_edge.synth.anny_body import anny_subject, pose_subject

    rng = np.random.default_rng(5)
    subject = anny_subject(11, 0)
    for family in POSE_FAMILIES:
        pose = sample_pose(rng, family)
        j, rot = pose_subject(subject, pose).joints_m, pose_rotations(pose)
        for side, s in enumerate("RL"):
            assert _unit(j[4 + side] - j[2 + side]) @ (rot[f"arm_{s}"] @ _DOWN) > 0.97
            assert _unit(j[11 + side] - j[9 + side]) @ (rot[f"thigh_{s}"] @ _DOWN) > 0.97
            assert _unit(j[13 + side] - j[11 + side]) @ (rot[f"shin_{s}"] @ _DOWN) > 0.97


def test_numba_skinning_and_normals_match_numpy(anny_frames):
    pytest.importorskip("numba")
    from refinet_edge.synth.anny_body import anny_subject, skin

    subject = anny_subject(11, 1)
    rng = np.random.default_rng(2)
    transforms = np.concatenate([np.linalg.qr(rng.normal(size=(len(subject.drivers), 3, 3)))[0].reshape(-1, 9),
                                 rng.normal(0, 0.1, (len(subject.drivers), 3))], axis=1)
    reference = skin(subject, transforms, use_numba=False)
    assert np.abs(reference - subject.rest_vertices_m).max() > 0.05  # it does move the mesh
    np.testing.assert_allclose(skin(subject, transforms, use_numba=True), reference, rtol=0, atol=1e-12)
    normals = vertex_normals(reference, subject.faces, use_numba=False)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(vertex_normals(reference, subject.faces, use_numba=True), normals, atol=1e-9)


def test_anny_frames_are_deterministic_and_independent_of_workers(anny_frames):
    again = generate_frame(3, seed=11, config=ANNY)
    pooled = list(generate_frames(2, seed=11, start=2, workers=2, config=ANNY))
    for frame in [again] + pooled:
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(frame, name), getattr(anny_frames[frame.index], name),
                                          err_msg=name)


def test_anny_bodies_vary_in_stature(anny_frames):
    from refinet_edge.synth.anny_body import anny_subject

    statures = [anny_subject(11, s).stature_m for s in range(16)]
    assert 1.0 < min(statures) and max(statures) < 2.2 and max(statures) - min(statures) > 0.2


# ---------------------------------------------------------------------- errors
def test_walking_sequences_refuse_anny_instead_of_ignoring_it():
    from refinet_edge.errors import RefinetError
    from refinet_edge.synth import walking_sequence

    with pytest.raises(RefinetError, match="own bodies only"):
        walking_sequence(2, seed=0, config=SynthConfig(body="anny"))


def _synth(tmp_path: Path, *args: str, env_path: Path | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    if env_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(env_path), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "refinet_edge.cli", "synth", "--out", str(tmp_path / "out"),
                           "--frames", "2", "--workers", "1", *args], capture_output=True, text=True, env=env)


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_unknown_body_is_one_error_line_naming_the_choices(tmp_path):
    line = _one_error_line(_synth(tmp_path, "--body", "anyy"))
    assert "'anyy'" in line and "own, anny, mixed" in line and "did you mean 'anny'" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("body", ["anny", "mixed"])
def test_anny_missing_is_one_error_line_with_the_install_command(tmp_path, body):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'anny' or name.startswith('anny.'):\n"
        "            raise ImportError('blocked by the test')\n"
        "sys.meta_path.insert(0, _Block())\n")
    line = _one_error_line(_synth(tmp_path, "--body", body, env_path=blocker))
    assert "pip install 'refinet-edge[synth]'" in line and f"--body {body}" in line
    out = tmp_path / "out"
    assert not out.exists() or not any(p.suffix == ".h5" for p in out.rglob("*"))


def test_the_ood_suite_skips_its_anny_split_without_the_extra(monkeypatch, tmp_path):
    from refinet_edge.ood_suite import OOD_SPLITS, run_suite
    from refinet_edge.pipeline import RefinementPipeline
    from refinet_edge.synth import anny_body

    monkeypatch.setattr(anny_body, "is_available", lambda: False)
    report = run_suite("ood", RefinementPipeline({}), frames=2, cache_dir=tmp_path,
                       splits=tuple(s for s in OOD_SPLITS if s.name == "anny_bodies"))
    assert report["splits"] == []
    assert report["skipped"] == [{"name": "anny_bodies",
                                  "reason": "needs the Anny body model: pip install 'refinet-edge[synth]'"}]


# ------------------------------------------------------------------ README figures
REPORTS = Path(__file__).resolve().parents[1] / "benchmarks" / "reports" / "2026-12-05-cpu-2core-synth-anny"


def test_readme_anny_figures_come_from_the_committed_reports():
    import json

    from fixtures.docs import documented_text

    readme = " ".join(documented_text().split())  # the README and the docs pages
    rates = json.loads((REPORTS / "synth_rate.json").read_text())["results"]
    anny_320 = ", ".join(f"{r['frames_per_s']:.1f}" for r in rates
                         if r["body"] == "anny" and r["camera"] == "itop_side" and r["workers"] == 2)
    assert f"| {anny_320} |" in readme
    for r in rates:
        assert f"{r['frames_per_s']:.1f}" in readme
        assert r["workers"] == 1 or f"{r['minutes_for_20000']:.1f}" in readme
    ood = {s["name"]: s for s in json.loads((REPORTS / "ood_anny.json").read_text())["splits"]}
    for entry, two_d in ((ood["anny_bodies"], "noisy"), (ood["anny_bodies"]["exact_2d"], "exact")):
        cells = [f"{entry['steps'][s]['acc_10cm']:.1f}/{entry['steps'][s]['mpjpe_mm']:.0f}"
                 for s in ("input", "patch", "skeleton", "pointcloud")]
        assert f"| anny_bodies | {two_d} | " + " | ".join(cells) + " |" in readme
