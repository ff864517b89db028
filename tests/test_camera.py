"""Camera intrinsics: projection round trips, point clouds, ITOP formula, errors."""

from __future__ import annotations

import numpy as np
import pytest

from refinet_edge.camera import (
    CAMERA_PRESETS,
    Camera,
    camera_preset,
    camera_to_itop,
    itop_to_camera,
)
from refinet_edge.errors import RefinetError


@pytest.mark.parametrize("name", sorted(CAMERA_PRESETS))
def test_project_deproject_round_trip_points(name: str) -> None:
    cam = CAMERA_PRESETS[name]
    rng = np.random.default_rng(0)
    xyz_m = np.stack(
        [rng.uniform(-2, 2, 500), rng.uniform(-2, 2, 500), rng.uniform(0.3, 8.0, 500)], axis=-1
    )
    uv_px = cam.project(xyz_m)
    np.testing.assert_allclose(cam.deproject(uv_px, xyz_m[:, 2]), xyz_m, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CAMERA_PRESETS))
def test_project_deproject_round_trip_pixels(name: str) -> None:
    cam = CAMERA_PRESETS[name]
    rng = np.random.default_rng(1)
    uv_px = np.stack([rng.uniform(0, cam.width - 1, 500), rng.uniform(0, cam.height - 1, 500)], axis=-1)
    depth_m = rng.uniform(0.2, 10.0, 500)
    xyz_m = cam.deproject(uv_px, depth_m)
    np.testing.assert_allclose(xyz_m[:, 2], depth_m)
    np.testing.assert_allclose(cam.project(xyz_m), uv_px, rtol=0, atol=1e-9)


def test_project_behind_camera_is_nan() -> None:
    cam = CAMERA_PRESETS["itop_side"]
    uv = cam.project(np.array([[0.1, 0.2, 0.0], [0.1, 0.2, -1.0], [0.0, 0.0, 1.0]]))
    assert np.all(np.isnan(uv[:2]))
    np.testing.assert_allclose(uv[2], [cam.cx, cam.cy])


def test_depth_to_points_shape_order_and_zeros() -> None:
    cam = Camera("tiny", 4, 3, 2.0, 4.0, 1.5, 1.0)
    depth_m = np.arange(12, dtype=np.float64).reshape(3, 4)  # pixel (0, 0) has no depth
    points = cam.depth_to_points(depth_m)
    assert points.shape == (12, 3)
    for i in range(3):
        for j in range(4):
            z = depth_m[i, j]
            np.testing.assert_allclose(points[i * 4 + j], [(j - 1.5) / 2.0 * z, (i - 1.0) / 4.0 * z, z])
    np.testing.assert_array_equal(points[0], [0.0, 0.0, 0.0])
    with pytest.raises(RefinetError, match="does not match"):
        cam.depth_to_points(np.zeros((4, 3)))


def test_itop_formula() -> None:
    """ITOP: x = (u - 160) * 0.0035 * z, y_up = -(v - 120) * 0.0035 * z."""
    cam = camera_preset("itop_side")
    rng = np.random.default_rng(2)
    u, v, z = rng.uniform(0, 319, 100), rng.uniform(0, 239, 100), rng.uniform(1, 5, 100)
    itop = camera_to_itop(cam.deproject(np.stack([u, v], axis=-1), z))
    np.testing.assert_allclose(itop[:, 0], (u - 160) * 0.0035 * z, rtol=1e-12)
    np.testing.assert_allclose(itop[:, 1], -(v - 120) * 0.0035 * z, rtol=1e-12)
    np.testing.assert_allclose(itop[:, 2], z)
    np.testing.assert_allclose(itop_to_camera(itop), cam.deproject(np.stack([u, v], axis=-1), z))


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(RefinetError) as info:
        camera_preset("itop_sid")
    message = str(info.value)
    assert "did you mean 'itop_side'" in message
    for name in CAMERA_PRESETS:
        assert name in message


def test_resized_keeps_rays() -> None:
    cam = camera_preset("d435_640x480")
    half = cam.resized(320, 240)
    assert half.shape == (240, 320)
    assert half.fx == pytest.approx(cam.fx / 2) and half.fy == pytest.approx(cam.fy / 2)
    # The centre of full-resolution pixels (0, 0) and (1, 1) is the centre of half-res pixel (0, 0):
    # both see the same ray.
    xyz = cam.deproject(np.array([0.5, 0.5]), 2.0)
    np.testing.assert_allclose(half.project(xyz), [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(cam.resized(cam.width, cam.height).K, cam.K)


def test_in_image() -> None:
    cam = Camera("tiny", 4, 3, 1.0, 1.0, 1.5, 1.0)
    uv = np.array([[0, 0], [3.4, 2.4], [3.6, 0], [-0.6, 0], [0, 2.6], [np.nan, 0]])
    np.testing.assert_array_equal(cam.in_image(uv), [True, True, False, False, False, False])


def test_from_dict_and_json(tmp_path) -> None:
    cam = camera_preset("baracca")
    assert Camera.from_dict(cam.to_dict()) == cam
    path = tmp_path / "camera.json"
    path.write_text('{"width": 2, "height": 2, "fx": 1, "fy": 1, "cx": 0.5, "cy": 0.5}')
    assert Camera.from_json(path) == Camera("custom", 2, 2, 1.0, 1.0, 0.5, 0.5)


def test_from_dict_errors(tmp_path) -> None:
    with pytest.raises(RefinetError, match="missing key.*fx, cy"):
        Camera.from_dict({"width": 2, "height": 2, "fy": 1, "cx": 0})
    with pytest.raises(RefinetError, match="must be numbers"):
        Camera.from_dict({"width": 2, "height": 2, "fx": "a", "fy": 1, "cx": 0, "cy": 0})
    with pytest.raises(RefinetError, match="must be finite and > 0"):
        Camera.from_dict({"width": 0, "height": 2, "fx": 1, "fy": 1, "cx": 0, "cy": 0})
    bad = tmp_path / "bad.json"
    bad.write_text('{"width": 2,')
    with pytest.raises(RefinetError, match="not valid JSON"):
        Camera.from_json(bad)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(RefinetError, match="expected a JSON object"):
        Camera.from_json(listing)
    with pytest.raises(RefinetError, match="not found"):
        Camera.from_json(tmp_path / "missing.json")
