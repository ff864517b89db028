"""Synthetic scene -> librealsense software device + recorder -> .db3 -> playback: the same frames and joints.

These use the real pyrealsense2 (the `camera` extra; CI installs it), no camera.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.live.synthetic import SyntheticSettings, SyntheticSource

rs = pytest.importorskip("pyrealsense2")

from refinet_edge.live.playback import RecordingSource  # noqa: E402
from refinet_edge.live.record import record_synthetic, truth_path  # noqa: E402

SETTINGS = SyntheticSettings(seed=5)
FRAMES = 4


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refinet_edge.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "walk.db3"
    summary = record_synthetic(path, SETTINGS, FRAMES)
    assert summary["frames"] == FRAMES and path.stat().st_size > 0 and truth_path(path).exists()
    return path


def test_playback_gives_back_every_frame_bit_for_bit(recording):
    live = SyntheticSource(SETTINGS)
    with RecordingSource(recording) as source:
        frames = []
        while (frame := source.read(timeout_s=5.0)) is not None:
            frames.append(frame)
    assert [f.number for f in frames] == list(range(FRAMES))
    assert dataclasses.replace(source.camera, name=live.camera.name) == live.camera
    for frame in frames:
        expected = live.frame(frame.number)
        np.testing.assert_array_equal(frame.depth_m, expected.depth_m)
        np.testing.assert_array_equal(frame.image_bgr, expected.image_bgr)
        np.testing.assert_array_equal(frame.truth.joints_m, expected.truth.joints_m)
        assert frame.timestamp_ms == pytest.approx(expected.timestamp_ms)


def test_the_recording_is_a_real_realsense_file(recording):
    """rs.pipeline (what realsense-viewer and every RealSense app use) reads it, with the recorded intrinsics."""
    pipe, config = rs.pipeline(), rs.config()
    config.enable_device_from_file(str(recording), repeat_playback=False)
    profile = pipe.start(config)
    try:
        profile.get_device().as_playback().set_real_time(False)
        intr = profile.get_stream(rs.stream.depth).as_video_stream_profile().get_intrinsics()
        assert (intr.width, intr.height) == (320, 240) and intr.fx == pytest.approx(285.714, abs=1e-3)
        assert profile.get_device().first_depth_sensor().get_depth_scale() == pytest.approx(0.001)
        ok, frames = pipe.try_wait_for_frames(5000)
        assert ok and frames.get_depth_frame() and frames.get_infrared_frame(1)
        number = frames.get_depth_frame().get_frame_number()
        raw = np.asanyarray(frames.get_depth_frame().get_data())
        np.testing.assert_array_equal(raw * np.float32(0.001), SyntheticSource(SETTINGS).frame(number).depth_m)
    finally:
        pipe.stop()


def test_live_on_the_recording_matches_the_live_synthetic_source(recording, tmp_path):
    runs = {"synthetic": ("--camera", "synthetic", "--seed", "5", "--frames", str(FRAMES)),
            "recording": ("--camera", str(recording)),
            "keypoints": ("--camera", str(recording), "--detector", f"keypoints:{truth_path(recording)}")}
    lines = {}
    for name, args in runs.items():
        out = tmp_path / f"{name}.jsonl"
        result = run_cli("live", "--headless", "--output", str(out), *args)
        assert result.returncode == 0, result.stderr
        lines[name] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["frame"] for x in lines["recording"]] == list(range(FRAMES))
    for a, b in zip(lines["synthetic"], lines["recording"], strict=True):
        assert a["people"] == b["people"]
    exact = [x["people"][0]["joints_2d"] for x in lines["keypoints"]]  # sigma 0: the truth file's 2D
    truth = [json.loads(line)["people"][0]["joints_2d"] for line in truth_path(recording).read_text().splitlines()]
    np.testing.assert_allclose(exact, truth, atol=0.006)


def test_record_errors_are_one_line(tmp_path):
    result = run_cli("record", "--camera", "synthetic", "--out", str(tmp_path / "x.bag"), "--frames", "1")
    assert result.returncode == 1 and "records .db3 files" in result.stderr and "Traceback" not in result.stderr
    bad = tmp_path / "bad.db3"
    bad.write_bytes(b"not a recording")
    with pytest.raises(RefinetError, match="not a RealSense recording"):
        RecordingSource(bad).__enter__()


def _cameras() -> int:
    return len(rs.context().query_devices())


@pytest.mark.skipif(_cameras() > 0, reason="a RealSense camera is attached")
def test_no_camera_is_a_clear_error(tmp_path):
    result = run_cli("live", "--camera", "realsense", "--headless", "--frames", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no RealSense camera found" in result.stderr
    result = run_cli("record", "--camera", "realsense", "--out", str(tmp_path / "cam.db3"), "--frames", "1")
    assert result.returncode == 1 and "no RealSense camera found" in result.stderr


@pytest.mark.camera
def test_a_real_camera_streams_aligned_frames_with_its_own_intrinsics(tmp_path):
    """Needs a D400 camera: `python -m pytest -m camera`."""
    from refinet_edge.live.realsense import RealSenseSource
    from refinet_edge.live.sources import CameraSettings

    if _cameras() == 0:
        pytest.skip("no RealSense camera attached")
    with RealSenseSource(CameraSettings(640, 480, 30), record_to=tmp_path / "cam.db3") as source:
        frames = [source.read() for _ in range(10)]
    assert all(f.depth_m.shape == (480, 640) and f.image_bgr.shape == (480, 640, 3) for f in frames)
    assert 0 < frames[0].camera.depth_scale < 0.01 and frames[0].camera.fx > 100
    assert [f.number for f in frames] == sorted(f.number for f in frames)
    with RecordingSource(tmp_path / "cam.db3") as played:
        assert played.read() is not None
