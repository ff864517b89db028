"""Baracca loader on a tiny tree in the real layout (tests/fixtures/baracca.py)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from fixtures.baracca import sensor_depth_mm, write_baracca
from hypothesis import given, settings
from hypothesis import strategies as st

from refinet_edge.camera import Camera, camera_preset
from refinet_edge.data.baracca import ROTATIONS, BaraccaDataset, load_viewpoints, rotated_camera
from refinet_edge.errors import RefinetError

SENSOR = camera_preset("baracca")


def rotate_xy(xyz: np.ndarray, rotation: int) -> np.ndarray:
    """The sensor's points as seen by a camera rolled with the image: (x, y) -> (y, -x) per 90."""
    out = np.array(xyz, dtype=np.float64)
    for _ in range(rotation // 90):
        out[..., 0], out[..., 1] = out[..., 1].copy(), -out[..., 0]
    return out


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_rotated_intrinsics_match_rot90(rotation):
    depth = sensor_depth_mm(1, 0, 0).astype(np.float64) / 1000
    points = SENSOR.depth_to_points(depth).reshape(*SENSOR.shape, 3)
    camera = rotated_camera(SENSOR, rotation)
    image = np.rot90(depth, rotation // 90)
    assert camera.shape == image.shape
    rotated = camera.depth_to_points(image).reshape(*image.shape, 3)
    np.testing.assert_allclose(rotated, rotate_xy(np.rot90(points, rotation // 90), rotation), atol=1e-9)


def test_rotated_intrinsics_values():
    cam90 = rotated_camera(SENSOR, 90)
    assert (cam90.width, cam90.height, cam90.fx, cam90.fy) == (480, 640, SENSOR.fy, SENSOR.fx)
    assert (cam90.cx, cam90.cy) == pytest.approx((231.349, 639 - 336.14))
    cam180 = rotated_camera(SENSOR, 180)
    assert (cam180.width, cam180.height) == (640, 480)  # not the authors' 480 x 640
    assert (cam180.cx, cam180.cy) == pytest.approx((639 - 336.14, 479 - 231.349))
    assert rotated_camera(SENSOR, 0) is SENSOR
    with pytest.raises(RefinetError, match="rotation 45 is not one of 0, 90, 180, 270"):
        rotated_camera(SENSOR, 45)


@settings(max_examples=50, deadline=None)
@given(
    rotation=st.sampled_from(ROTATIONS),
    u=st.floats(0, 639), v=st.floats(0, 479), z=st.floats(0.2, 5.0),
    fx=st.floats(100, 900), fy=st.floats(100, 900), cx=st.floats(200, 440), cy=st.floats(150, 330),
)
def test_rotated_camera_projects_rotated_pixels(rotation, u, v, z, fx, fy, cx, cy):
    sensor = Camera("s", 640, 480, fx, fy, cx, cy)
    camera = rotated_camera(sensor, rotation)
    uv = {0: (u, v), 90: (v, 639 - u), 180: (639 - u, 479 - v), 270: (479 - v, u)}[rotation]
    point = rotate_xy(sensor.deproject(np.array([u, v]), z), rotation)
    np.testing.assert_allclose(camera.deproject(np.array(uv), z), point, atol=1e-9)
    np.testing.assert_allclose(camera.project(point), uv, atol=1e-6)


def test_discovers_frames_and_reads_metres(tmp_path):
    write_baracca(tmp_path)
    ds = BaraccaDataset(tmp_path)
    assert len(ds) == 8
    assert [(it.subject, it.sequence, it.frame, it.rotation) for it in ds.items[:4]] == [
        (1, 0, 0, 0), (1, 0, 1, 0), (1, 3, 0, 90), (1, 3, 1, 90)]
    assert ds.items[-1].path == tmp_path / "002" / "003" / "imgDepth_002_003_001.png"
    assert ds.rotations[3] == 90 and ds.rotations[1] == 180
    upright = ds.depth(0)
    assert upright.dtype == np.float32 and upright.shape == (480, 640)
    np.testing.assert_allclose(upright, sensor_depth_mm(1, 0, 0) / 1000, rtol=1e-6)
    assert ds.camera(0) == SENSOR
    turned = ds.depth(3)
    assert turned.shape == (640, 480) and ds.camera(3).shape == (640, 480)
    # Deprojecting the stored rotated frame gives the sensor's points rolled about z.
    sensor_points = SENSOR.depth_to_points(sensor_depth_mm(1, 3, 1) / 1000).reshape(480, 640, 3)
    points = ds.camera(3).depth_to_points(turned).reshape(640, 480, 3)
    np.testing.assert_allclose(points, rotate_xy(np.rot90(sensor_points), 90), atol=1e-5)


def test_discovery_ignores_unrelated_files(tmp_path):
    write_baracca(tmp_path, subjects=(3,), rotations={5: 270}, frames=1)
    (tmp_path / "003" / "005" / "imgIR_003_005_000.png").write_bytes(b"")
    (tmp_path / "notes").mkdir()
    ds = BaraccaDataset(tmp_path)
    assert [(it.subject, it.sequence, it.frame, it.rotation) for it in ds.items] == [(3, 5, 0, 270)]
    assert ds.depth(0).shape == (640, 480)


def test_orientation_360_reads_as_0(tmp_path):
    write_baracca(tmp_path, subjects=(1,), rotations={0: 0}, frames=1,
                  viewpoints={"0": {"orientation": [360, 0]}})
    assert BaraccaDataset(tmp_path).items[0].rotation == 0


# -- bad input ---------------------------------------------------------------------------
def test_missing_root_and_empty_tree(tmp_path):
    with pytest.raises(RefinetError, match="Baracca directory .*nope not found"):
        BaraccaDataset(tmp_path / "nope")
    (tmp_path / "viewpoints.json").write_text(json.dumps({"0": {"orientation": [0]}}))
    with pytest.raises(RefinetError, match=r"no depth frames found; expected SSS/QQQ/imgDepth_SSS_QQQ_NNN"):
        BaraccaDataset(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"viewpoints\.json: not found"),
        ("{not json", r"viewpoints\.json: not valid JSON"),
        ("[0, 90]", r"viewpoints\.json: expected a JSON object keyed by sequence .* got list"),
        (json.dumps({"zero": {"orientation": [0]}}), r"key 'zero' is not a sequence number"),
        (json.dumps({"0": {"angle": 0}}), r"sequence '0' needs an 'orientation' list"),
        (json.dumps({"0": {"orientation": [45]}}), r"orientation 45 of sequence '0' is not one of 0, 90, 1"),
        (json.dumps({"0": {"orientation": ["90"]}}), r"orientation '90' of sequence '0' is not one of"),
    ],
)
def test_bad_viewpoints(tmp_path, content, message):
    path = tmp_path / "viewpoints.json"
    if content is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(content)
    with pytest.raises(RefinetError, match=message):
        load_viewpoints(path)


def test_sequence_missing_from_viewpoints(tmp_path):
    write_baracca(tmp_path, subjects=(1,), rotations={0: 0, 3: 90}, frames=1,
                  viewpoints={"0": {"orientation": [0]}, "1": {"orientation": [90]}})
    with pytest.raises(RefinetError, match=r"viewpoints\.json: no entry for sequence '3' "
                                           r"\(used by .*001/003\); sequences present: 0, 1"):
        BaraccaDataset(tmp_path)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (None, "cannot read as PNG"),
        (np.zeros((480, 640), np.uint8), r"expected a 16-bit single-channel depth PNG .* got uint8 with 1 "),
        (np.zeros((480, 640, 3), np.uint16), r"got uint16 with 3 channel"),
        (np.zeros((480, 480), np.uint16), r"image is 480x480 but sequence 0 \(rotation 0\) expects 640x480"),
    ],
)
def test_bad_png(tmp_path, image, message):
    write_baracca(tmp_path, subjects=(1,), rotations={0: 0}, frames=1)
    path = tmp_path / "001" / "000" / "imgDepth_001_000_000.png"
    if image is None:
        path.write_bytes(b"\x89PNG truncated")
    else:
        assert cv2.imwrite(str(path), image)
    ds = BaraccaDataset(tmp_path)
    with pytest.raises(RefinetError, match=message) as err:
        ds.depth(0)
    assert str(path) in str(err.value)
