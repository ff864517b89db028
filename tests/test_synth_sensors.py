"""Depth-sensor presets against the published figures they cite (refinet_edge.synth.sensor_presets).

Published figures (DEPTH_SENSORS.md, worked from Intel's tuning whitepaper formula
RMS_z = z^2 s / (f_px B) with s = 0.08 px): flat-wall RMS, left-edge invalid band
B f / Z and min-Z f B / 126 for a D435 / D455 at 848 px and 87 deg HFOV
(f = 446.8 px) and a D415 at 1280 px and 65 deg (f = 1004.6 px); Kinect v2 axial
noise from Fankhauser et al. (ICAR 2015).
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from refinet_edge.camera import Camera, camera_preset
from refinet_edge.data.itop import open_split
from refinet_edge.errors import RefinetError
from refinet_edge.synth import SynthConfig, generate_frame
from refinet_edge.synth.sensor import surface_cosine
from refinet_edge.synth.sensor_presets import (
    RANDOM_BASES,
    RANDOM_RANGES,
    SENSOR_NAMES,
    SENSOR_PRESETS,
    StereoSensor,
    TofSensor,
    random_sensor,
    sensor_for_frame,
)


def hfov_camera(name: str, width: int, height: int, hfov_deg: float) -> Camera:
    f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2)
    return Camera(name, width, height, f, f, width / 2, height / 2, 0.001)


NATIVE = {"d435": hfov_camera("d435_native", 848, 480, 87.0), "d455": hfov_camera("d455_native", 848, 480, 87.0),
          "d415": hfov_camera("d415_native", 1280, 720, 65.0)}
# Worked values [derived] in DEPTH_SENSORS.md: RMS (mm), left band (px) at 1 / 2 / 3 m; min-Z (mm).
PUBLISHED_RMS_MM = {"d435": (3.6, 14.3, 32.2), "d415": (1.4, 5.8, 13.0), "d455": (1.9, 7.5, 17.0)}
PUBLISHED_BAND_PX = {"d435": (22, 11, 7), "d415": (55, 28, 18), "d455": (42, 21, 14)}
PUBLISHED_MIN_Z_MM = {"d435": 177, "d415": 439, "d455": 337}


def wall(camera: Camera, z_m: float) -> np.ndarray:
    return np.full(camera.shape, z_m, np.float32)


def run(sensor, clean: np.ndarray, camera: Camera, seed: int = 0, albedo: np.ndarray | None = None) -> np.ndarray:
    return sensor.apply(clean, camera, np.random.default_rng(seed), surface_cosine(clean, camera), albedo)


def quiet(sensor: StereoSensor) -> StereoSensor:
    """The preset without its random holes, for geometry tests."""
    return replace(sensor, hole_fraction=0.0, dropout_prob=0.0, grazing_cos=0.0)


# ----------------------------------------------------------------------- D4xx
@pytest.mark.parametrize("name", ["d435", "d415", "d455"])
@pytest.mark.parametrize("k", [0, 1, 2])
def test_stereo_flat_wall_rms_matches_the_published_figure(name: str, k: int) -> None:
    z_m, camera = (1.0, 2.0, 3.0)[k], NATIVE[name]
    depth = run(SENSOR_PRESETS[name], wall(camera, z_m), camera, seed=k)
    measured = depth > 0
    n = int(measured.sum())
    assert n > 0.8 * depth.size * (1 - 0.06)  # only the left band and a few random holes are missing
    rms_mm = 1000 * float(np.sqrt(np.mean((depth[measured] - z_m) ** 2)))
    published = PUBLISHED_RMS_MM[name][k]
    # table rounding (0.05 mm), 1 mm rounding of z16 (adds 1/12 mm^2), sampling error of an RMS (4 sigma)
    tolerance = 0.05 + (math.sqrt(published ** 2 + 1 / 12) - published) + 4 * published / math.sqrt(2 * n)
    assert rms_mm == pytest.approx(published, abs=tolerance)
    assert abs(np.mean(depth[measured]) - z_m) < 4 * rms_mm / 1000 / math.sqrt(n) + 0.0005  # unbiased
    steps = depth[measured] / 0.001
    np.testing.assert_allclose(steps, np.round(steps), atol=2e-3)  # z16: 1 mm steps


def test_stereo_noise_follows_the_cameras_focal_length() -> None:
    """A D435 at 848x480 (f 424 px) is less noisy than at 640x480 (f 384 px), by their focal ratio."""
    rms = {}
    for cam_name in ("d435_848x480", "d435_640x480"):
        camera = camera_preset(cam_name)
        depth = run(SENSOR_PRESETS["d435"], wall(camera, 2.5), camera)
        rms[cam_name] = float(np.std(depth[depth > 0]))
        expected = 2.5 ** 2 * 0.08 / (camera.fx * 0.050)
        assert rms[cam_name] == pytest.approx(expected, rel=0.03)
    assert rms["d435_640x480"] / rms["d435_848x480"] == pytest.approx(424.23 / 384.21, rel=0.04)


@pytest.mark.parametrize("name", ["d435", "d415", "d455"])
def test_left_edge_invalid_band_is_baseline_times_focal_over_depth(name: str) -> None:
    camera = NATIVE[name]
    for z_m, published_px in zip((1.0, 2.0, 3.0), PUBLISHED_BAND_PX[name], strict=True):
        depth = run(quiet(SENSOR_PRESETS[name]), wall(camera, z_m), camera)
        first_valid = np.argmax(depth > 0, axis=1)  # per row: the band's width in pixels
        assert np.all(depth[:, camera.width // 4:] > 0)  # nothing missing away from the band
        assert abs(float(np.median(first_valid)) - published_px) <= 1.0, (z_m, np.median(first_valid))


@pytest.mark.parametrize("name", ["d435", "d415", "d455"])
def test_stereo_min_z_is_the_disparity_search_range(name: str) -> None:
    camera = NATIVE[name]
    min_z_m = PUBLISHED_MIN_Z_MM[name] / 1000
    assert SENSOR_PRESETS[name].min_z_m(camera) == pytest.approx(min_z_m, abs=0.001)
    too_near = run(quiet(SENSOR_PRESETS[name]), wall(camera, 0.97 * min_z_m), camera)
    assert not np.any(too_near > 0)
    just_far = run(quiet(SENSOR_PRESETS[name]), wall(camera, 1.03 * min_z_m), camera)
    assert np.mean(just_far[:, camera.width // 2:] > 0) > 0.99


def box_scene(camera: Camera, z_box_m: float = 1.5, z_wall_m: float = 3.0) -> tuple[np.ndarray, slice]:
    """A wall with a nearer box in the middle third of the columns, rows 25-75 %."""
    clean = wall(camera, z_wall_m)
    cols = slice(camera.width // 3, 2 * camera.width // 3)
    clean[camera.height // 4: 3 * camera.height // 4, cols] = z_box_m
    return clean, cols


@pytest.mark.parametrize("name", ["d435", "d455"])
def test_occlusion_shadow_is_on_the_left_of_foreground_edges(name: str) -> None:
    camera = NATIVE[name]
    clean, cols = box_scene(camera)
    depth = run(quiet(SENSOR_PRESETS[name]), clean, camera)
    rows = slice(camera.height // 4 + 5, 3 * camera.height // 4 - 5)
    width_px = camera.fx * SENSOR_PRESETS[name].baseline_m * (1 / 1.5 - 1 / 3.0)  # 7.4 px D435, 14.1 px D455
    left_missing = (depth[rows, cols.start - 40: cols.start] == 0).sum(axis=1)
    right_missing = (depth[rows, cols.stop: cols.stop + 40] == 0).sum(axis=1)
    assert np.all(np.abs(left_missing - width_px) <= 1.5), (left_missing.min(), left_missing.max(), width_px)
    assert np.all(right_missing == 0)
    # the strip is the background just left of the box: the box itself stays measured
    assert np.all(depth[rows, cols.start + 1: cols.start + 20] > 0)


def discontinuity(clean: np.ndarray, jump_m: float) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood spans more than ``jump_m`` of clean depth."""
    pad = np.pad(clean, 1, mode="edge")
    stack = np.stack([pad[i: i + clean.shape[0], j: j + clean.shape[1]] for i in range(3) for j in range(3)])
    return stack.max(axis=0) - stack.min(axis=0) > jump_m


@pytest.mark.parametrize("name", ["d435", "d415", "d455", "tof"])
def test_flying_pixels_only_at_discontinuities(name: str) -> None:
    sensor, camera = SENSOR_PRESETS[name], camera_preset("d435_640x480")
    clean, _ = box_scene(camera)
    cos = surface_cosine(clean, camera)
    depth = sensor.apply(clean, camera, np.random.default_rng(1), cos, np.full(clean.shape, 0.8, np.float32))
    measured = depth > 0
    # far beyond this preset's noise (8 sigma at 3 m) is a flying pixel
    sigma = sensor.sigma_m(3.0, 1.0) if isinstance(sensor, TofSensor) else sensor.rms_m(3.0, camera)
    flying = measured & (np.abs(depth - clean) > 8 * float(sigma) + 0.002)
    edges = discontinuity(clean, 0.05)
    assert flying.sum() > 20  # they exist (the edges are long) ...
    assert not np.any(flying & ~edges)  # ... and only where the depth jumps
    between = (depth[flying] > 1.5 + 0.02) & (depth[flying] < 3.0 - 0.02)
    assert between.mean() > 0.8  # they bridge foreground and background


# ------------------------------------------------------------------------ ToF
def fankhauser_sigma_mm(z_m: np.ndarray, theta_rad: np.ndarray) -> np.ndarray:
    """Kinect v2 axial noise, Fankhauser et al. ICAR 2015 (as transcribed in DEPTH_SENSORS.md)."""
    return 1.5 - 0.5 * z_m + 0.3 * z_m ** 2 + 0.1 * z_m ** 1.5 * theta_rad ** 2 / (np.pi / 2 - theta_rad) ** 2


@pytest.mark.parametrize("z_m", [1.0, 2.0, 3.0])
def test_tof_flat_wall_noise_matches_fankhauser(z_m: float) -> None:
    camera = camera_preset("itop_side")
    sensor = replace(SENSOR_PRESETS["tof"], grazing_cos=0.0)
    depth = run(sensor, wall(camera, z_m), camera, albedo=np.full(camera.shape, 0.8, np.float32))
    centre = np.zeros(camera.shape, bool)  # within ~10 deg of the axis: the angle term below 0.03 mm
    centre[120 - 40: 120 + 40, 160 - 40: 160 + 40] = True
    assert np.all(depth[centre] > 0)
    error_mm = 1000 * (depth[centre] - z_m)
    published = float(fankhauser_sigma_mm(np.float64(z_m), np.float64(0.0)))  # 1.3, 1.7, 2.7 mm
    expected = math.sqrt(published ** 2 + 1 / 12)  # plus 1 mm rounding
    assert np.std(error_mm) == pytest.approx(expected, abs=4 * expected / math.sqrt(2 * error_mm.size) + 0.05)
    np.testing.assert_allclose(depth[centre] / 0.001, np.round(depth[centre] / 0.001), atol=2e-3)  # 1 mm steps


def test_tof_noise_grows_with_incidence_angle_as_fankhauser() -> None:
    """A plane turned 60 deg about the vertical axis at 2 m: sigma 2.8 mm instead of 1.7 mm."""
    camera = camera_preset("itop_side")
    tilt = math.radians(60.0)
    u = (np.arange(camera.width) - camera.cx) / camera.fx
    v = (np.arange(camera.height) - camera.cy) / camera.fy
    x, y = np.meshgrid(u, v)
    clean = (2.0 / (1.0 + math.tan(tilt) * x)).astype(np.float32)  # sin(t) X + cos(t) (Z - 2) = 0
    normal = np.array([math.sin(tilt), 0.0, math.cos(tilt)])
    cos_true = (normal[0] * x + normal[2]) / np.sqrt(x * x + y * y + 1)
    sensor = replace(SENSOR_PRESETS["tof"], grazing_cos=0.0)
    depth = run(sensor, clean, camera, albedo=np.ones(camera.shape, np.float32))
    strip = (np.abs(x) < 0.05) & (np.abs(y) < 0.25) & (depth > 0)
    error_mm = 1000 * (depth - clean)[strip]
    expected_mm = np.sqrt(np.mean(fankhauser_sigma_mm(clean[strip], np.arccos(cos_true[strip])) ** 2) + 1 / 12)
    assert 2.5 < expected_mm < 3.2
    assert np.std(error_mm) == pytest.approx(expected_mm, rel=0.05)
    assert np.std(error_mm) > 1.4 * float(fankhauser_sigma_mm(np.float64(2.0), np.float64(0.0)))


def corner(camera: Camera, z_m: float, concave: bool) -> np.ndarray:
    """Two walls meeting at 90 deg in a vertical line through the image centre, ``z_m`` away there."""
    u = (np.arange(camera.width) - camera.cx) / camera.fx
    x = np.broadcast_to(u, camera.shape)
    # concave: z = z0 - |X| (the corner is the farthest point); convex: z = z0 + |X|
    return (z_m / (1 + np.abs(x)) if concave else z_m / (1 - np.abs(x))).astype(np.float32)


def test_tof_multipath_only_in_concave_corners() -> None:
    camera = camera_preset("itop_side")
    sensor = replace(SENSOR_PRESETS["tof"], grazing_cos=0.0, flying_prob=0.0)
    albedo = np.ones(camera.shape, np.float32)
    concave, convex = corner(camera, 3.0, True), corner(camera, 2.0, False)
    bias_concave, bias_convex = sensor.multipath_bias_m(concave), sensor.multipath_bias_m(convex)
    centre, rows = slice(int(camera.cx) - 1, int(camera.cx) + 2), slice(10, -10)  # away from the image border
    assert bias_concave[rows, centre].min() > 0.005  # centimetres in the corner ...
    assert bias_concave[:, :100].max() < 1e-4 and bias_concave[:, -100:].max() < 1e-4  # ... none on the walls
    assert bias_convex.max() < 1e-4
    # through the full model: in the corner, measurements are farther than the truth or dropped
    depth = run(sensor, concave, camera, albedo=albedo)
    in_corner = depth[rows, centre]
    error = (in_corner - concave[rows, centre])[in_corner > 0]
    assert error.size == 0 or np.median(error) > 0.004


def test_tof_dark_materials_drop_out() -> None:
    camera = camera_preset("itop_side")
    albedo = np.full(camera.shape, 0.8, np.float32)
    albedo[:, : camera.width // 2] = 0.05  # dark cloth on the left half
    depth = run(SENSOR_PRESETS["tof"], wall(camera, 3.0), camera, albedo=albedo)
    assert np.mean(depth[:, : camera.width // 2] == 0) > 0.95
    assert np.mean(depth[:, camera.width // 2:] > 0) > 0.95


# ------------------------------------------------------------------ presets, frames
def test_ideal_is_the_clean_render() -> None:
    frame = generate_frame(3, seed=2, config=SynthConfig(sensor_preset="ideal"))
    np.testing.assert_array_equal(frame.depth_m, frame.depth_clean_m)


def test_unknown_sensor_names_the_value_and_the_choices() -> None:
    with pytest.raises(RefinetError, match=r"unknown sensor 'd43'.*did you mean 'd435'.*default, ideal"):
        SynthConfig(sensor_preset="d43")


@pytest.mark.parametrize("name", SENSOR_NAMES)
def test_same_seed_and_index_give_the_same_frame(name: str) -> None:
    config = SynthConfig(sensor_preset=name)
    a, b = (generate_frame(5, seed=11, config=config) for _ in range(2))
    np.testing.assert_array_equal(a.depth_m, b.depth_m)
    np.testing.assert_array_equal(a.ir, b.ir)
    other = generate_frame(6, seed=11, config=config)
    assert not np.array_equal(a.depth_m, other.depth_m)


def test_presets_change_only_the_sensor() -> None:
    """Same (seed, i): the same scene and ground truth under every preset; only the measured depth differs."""
    frames = {name: generate_frame(4, seed=9, config=SynthConfig(sensor_preset=name)) for name in SENSOR_NAMES}
    reference = frames["default"]
    for name, frame in frames.items():
        np.testing.assert_array_equal(frame.depth_clean_m, reference.depth_clean_m)
        np.testing.assert_array_equal(frame.joints_m, reference.joints_m)
        if name != "default":
            assert not np.array_equal(frame.depth_m, reference.depth_m), name


def test_random_draws_within_its_documented_ranges_and_varies() -> None:
    draws = [sensor_for_frame("random", np.random.default_rng(np.random.SeedSequence(7, spawn_key=(1, i))))
             for i in range(400)]
    bases = {d.name.split(":")[1] for d in draws}
    assert bases == set(RANDOM_BASES)
    for kind, ranges in RANDOM_RANGES.items():
        of_kind = [d for d in draws if isinstance(d, kind)]
        assert len(of_kind) > 50
        for key, (low, high) in ranges.items():
            values = np.array([getattr(d, key) for d in of_kind])
            assert np.all((values >= low) & (values <= high)), key
            assert values.max() - values.min() > 0.8 * (high - low), key  # spread over the range
    for d in draws:  # the physical constants of the base preset are kept
        assert d.baseline_m == SENSOR_PRESETS[d.name.split(":")[1]].baseline_m if isinstance(d, StereoSensor) \
            else d.min_range_m == SENSOR_PRESETS["tof"].min_range_m
    same = random_sensor(np.random.default_rng(3)), random_sensor(np.random.default_rng(3))
    assert same[0] == same[1]


def test_random_frames_vary_in_noise_between_frames() -> None:
    """Per-frame draws: the depth error of the same kind of frame spreads more than under one fixed preset."""
    def error_levels(name: str) -> np.ndarray:
        levels = []
        for i in range(12):
            f = generate_frame(i, seed=5, config=SynthConfig(sensor_preset=name))
            person = (f.segmentation >= 0) & (f.depth_m > 0)
            error_m = np.median(np.abs(f.depth_m - f.depth_clean_m)[person])
            levels.append(error_m / np.median(f.depth_clean_m[person]) ** 2)
        return np.array(levels)

    fixed, random = error_levels("d435"), error_levels("random")
    assert random.max() / random.min() > 2.0 * fixed.max() / fixed.min()


# ------------------------------------------------------------------------- CLI
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refinet_edge.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("verb", [["synth", "--frames", "2"], ["record", "--frames", "2"]])
def test_cli_unknown_sensor_is_one_error_line_and_writes_nothing(verb: list[str], tmp_path: Path) -> None:
    out = tmp_path / ("set" if verb[0] == "synth" else "rec.db3")
    result = run_cli(*verb, "--out", str(out), "--sensor", "kinect")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown sensor 'kinect'"), lines
    assert all(name in lines[0] for name in SENSOR_NAMES)
    assert not out.exists()


def test_cli_synth_sensor_writes_that_sensors_depth(tmp_path: Path) -> None:
    for name in ("default", "d455"):
        result = run_cli("synth", "--out", str(tmp_path / name), "--split", "test", "--frames", "3", "--seed", "4",
                         "--workers", "1", "--sensor", name)
        assert result.returncode == 0, result.stderr
    with open_split(tmp_path / "d455", "side", "test") as split:
        assert split.attrs["sensor"] == "d455"
        expected = generate_frame(1, seed=4, config=SynthConfig(sensor_preset="d455")).depth_m
        np.testing.assert_allclose(split.depth(1), expected, rtol=1e-3)  # ITOP stores float16
        with open_split(tmp_path / "default", "side", "test") as default:
            assert default.attrs["sensor"] == "default"
            assert not np.array_equal(default.depth(1), split.depth(1))


# ---------------------------------------------------------------------- README
REPORT = Path(__file__).resolve().parents[1] / "benchmarks/reports/2026-12-05-cpu-2core-sensor-presets/sensor_rate.json"


def test_readme_sensor_rate_table_is_the_committed_report() -> None:
    import json
    import re

    report = json.loads(REPORT.read_text(encoding="utf-8"))
    from fixtures.docs import documented_text

    readme = documented_text()  # the README and the docs pages
    rows = dict(re.findall(r"^\| `(\w+)` \| ([\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+) \|$", readme, re.MULTILINE))
    cameras = [report["cameras"][c]["presets"] for c in ("itop_side", "d435_640x480")]
    for name in SENSOR_NAMES:
        expected = " | ".join(f"{value:.{digits}f}" for presets in cameras
                              for value, digits in ((presets[name]["frames_per_s"], 0),
                                                    (presets[name]["sensor_ms"]["p50"], 1)))
        assert rows.get(name) == expected, (name, rows.get(name), expected)
