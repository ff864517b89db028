"""The live path on the synthetic source: frames, detectors, the threaded loop, outputs and the command."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.live.detectors import (
    Detections,
    GroundTruthDetector,
    KeypointsFileDetector,
    detections_to_jsonl,
    make_detector,
)
from refinet_edge.live.frames import depth_from_raw, raw_from_depth
from refinet_edge.live.realtime import LiveLoop, Slot
from refinet_edge.live.refiner import Refiner
from refinet_edge.live.synthetic import SyntheticSettings, SyntheticSource
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline


@pytest.fixture(scope="module")
def pipeline() -> RefinementPipeline:
    pytest.importorskip("torch")
    return RefinementPipeline.from_dir()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refinet_edge.cli", *args], capture_output=True, text=True)


def test_synthetic_source_is_deterministic_and_has_ground_truth():
    source = SyntheticSource(SyntheticSettings(seed=2))
    a, b = source.read(), source.read()
    assert (a.number, b.number) == (0, 1)
    again = SyntheticSource(SyntheticSettings(seed=2)).frame(1)
    np.testing.assert_array_equal(b.depth_m, again.depth_m)
    assert a.camera.depth_scale == pytest.approx(0.001) and a.image_bgr.shape == (240, 320, 3)
    np.testing.assert_allclose(a.camera.project(a.truth.joints_m), a.truth.uv_px, atol=1e-3)  # float32 intrinsics
    valid = a.depth_m > 0  # depth is on the z16 grid, as a camera delivers it
    np.testing.assert_array_equal(depth_from_raw(raw_from_depth(a.depth_m, 0.001), 0.001), a.depth_m)
    assert np.all(a.depth_m[valid] >= 0.3)


def test_realtime_synthetic_source_skips_to_the_current_frame():
    source = SyntheticSource(SyntheticSettings(fps=200.0), realtime=True)
    first = source.read()
    threading.Event().wait(0.1)  # 20 frame periods pass
    assert source.read().number >= first.number + 10


def test_ground_truth_detector_noise_depends_on_frame_number_only():
    frame = SyntheticSource().frame(3)
    detector = GroundTruthDetector(DetectorNoise(sigma_px=5.0), seed=1)
    np.testing.assert_array_equal(detector(frame).uv_px, detector(frame).uv_px)
    exact = GroundTruthDetector(DetectorNoise(sigma_px=0.0))(frame)
    np.testing.assert_array_equal(exact.uv_px[0], frame.truth.uv_px)


def test_keypoints_file_round_trip_and_missing_frames(tmp_path):
    uv = np.arange(30, dtype=float).reshape(1, 15, 2)
    scores = np.ones((1, 15))
    scores[0, 4] = 0.0
    path = tmp_path / "k.jsonl"
    path.write_text(detections_to_jsonl(7, Detections(uv, scores)) + "\n\n", encoding="utf-8")
    detector = make_detector(f"keypoints:{path}")
    assert isinstance(detector, KeypointsFileDetector)
    source = SyntheticSource()
    got = detector(source.frame(7))
    assert got.count == 1 and np.isnan(got.uv_px[0, 4]).all()
    np.testing.assert_array_equal(np.delete(got.uv_px[0], 4, 0), np.delete(uv[0], 4, 0))
    assert detector(source.frame(8)).count == 0


@pytest.mark.parametrize("line, needle", [
    ("not json", "k.jsonl:1: not valid JSON"),
    ('{"frame": 1}', 'expected {"frame": <int>, "people": [...]}'),
    ('{"frame": 1, "people": [{"joints_2d": [[0, 0]], "scores": [1]}]}', "expected joints_2d of shape (15, 2)"),
    ('{"frame": 1, "people": [{"joints_2d": ' + json.dumps([[0, 0]] * 15) + ', "scores": ' + json.dumps([2] * 15)
     + "}]}", "scores must be in 0..1"),
])
def test_keypoints_file_errors_name_the_line(tmp_path, line, needle):
    path = tmp_path / "k.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(RefinetError, match=None) as info:
        make_detector(f"keypoints:{path}")
    assert needle in str(info.value)


def test_detector_spec_errors():
    with pytest.raises(RefinetError, match="did you mean 'keypoints'"):
        make_detector("keypoint:x.jsonl")
    with pytest.raises(RefinetError, match="unknown setting 'sigmaa'"):
        make_detector("gt:sigmaa=3")
    assert make_detector("gt:sigma=2,swap=0.1,seed=4").noise.swap_prob == 0.1


def test_lossless_slot_keeps_every_item_and_lossy_slot_drops_old_ones():
    stop = threading.Event()
    lossy = Slot(lossy=True, stop=stop)
    for i in range(3):
        lossy.put(i)
    assert lossy.get() == 2 and lossy.overwritten == 2
    lossless = Slot(lossy=False, stop=stop)
    got = []
    reader = threading.Thread(target=lambda: got.extend(lossless.get() for _ in range(3)))
    reader.start()
    for i in range(3):
        lossless.put(i)
    reader.join(5)
    assert got == [0, 1, 2]


def test_live_loop_refines_every_frame_of_a_non_realtime_source(pipeline):
    source = SyntheticSource()
    loop = LiveLoop(source, GroundTruthDetector(DetectorNoise(sigma_px=0.0)), Refiner(pipeline))
    results = []
    for result in loop.run():
        results.append(result)
        if len(results) == 3:
            break
    assert [r.frame.number for r in results] == [0, 1, 2] and loop.dropped == 0
    r = results[0]
    assert r.refined.joints_m.shape == (1, 15, 3) and r.refined.valid.all()
    assert {"capture_wait", "detect_2d", "preprocess", "patch", "skeleton", "pointcloud", "refine",
            "end_to_end"} <= set(r.latency_ms)
    direct = pipeline.run(r.frame.depth_m[None], r.frame.truth.uv_px[None], r.frame.camera)
    np.testing.assert_allclose(r.refined.joints_m, direct.steps["pointcloud"], atol=1e-6)
    assert np.linalg.norm(r.refined.joints_m[0] - r.frame.truth.joints_m, axis=-1).mean() < 0.15


def test_refiner_and_jsonl_say_which_joints_the_second_pass_restarted(pipeline):
    from dataclasses import replace

    from refinet_edge.live.detectors import Detections
    from refinet_edge.live.outputs import result_record

    source = SyntheticSource()
    loop = LiveLoop(source, GroundTruthDetector(DetectorNoise(sigma_px=0.0)), Refiner(pipeline))
    result = next(iter(loop.run()))
    uv = result.frame.truth.uv_px[None].copy()
    uv[0, 3] += 60.0  # an elbow 60 px off: a gross error the shipped gate restarts
    refined = Refiner(pipeline)(result.frame, Detections(uv, np.ones((1, 15))))
    direct = pipeline.run(result.frame.depth_m[None], uv, result.frame.camera)
    np.testing.assert_array_equal(refined.second_pass, direct.second_pass)
    assert refined.second_pass[0, 3]
    record = result_record(replace(result, refined=refined, detections=Detections(uv, np.ones((1, 15)))))
    assert record["people"][0]["second_pass"][3] is True and len(record["people"][0]["second_pass"]) == 15
    np.testing.assert_array_equal(refined.hidden, direct.hidden)  # the answer's own hidden flag, passed on
    assert record["people"][0]["hidden"] == direct.hidden[0].tolist()


def test_live_command_writes_jsonl_and_reports_accuracy(tmp_path):
    out = tmp_path / "out.jsonl"
    summary = tmp_path / "summary.json"
    result = run_cli("live", "--camera", "synthetic", "--headless", "--frames", "3", "--output", str(out),
                     "--summary", str(summary), "--video", str(tmp_path / "v.mp4"))
    assert result.returncode == 0, result.stderr
    assert "backend torch fp32 on cpu" in " ".join(result.stderr.split())
    assert "second pass at 0.15 m" in " ".join(result.stderr.split())  # the shipped skeleton's gate
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["frame"] for line in lines] == [0, 1, 2]
    person = lines[0]["people"][0]
    assert len(person["joints_3d_m"]) == 15 and len(person["valid"]) == 15 and len(person["joints_2d"]) == 15
    assert {"detect_2d", "pointcloud", "end_to_end"} <= set(lines[0]["latency_ms"])
    report = json.loads(summary.read_text())
    assert report["frames"] == 3 and report["dropped"] == 0 and not report["interrupted"]
    assert len(person["second_pass"]) == 15 and 0 <= report["second_pass_people"] <= report["people"] == 3
    assert f"the second pass ran again for {report['second_pass_people']} of 3 people" in result.stdout
    hidden = sum(sum(p["hidden"]) for line in lines for p in line["people"])
    assert report["hidden_joints"] == hidden and f"{hidden} of 45 joints" in " ".join(result.stdout.split())
    assert set(report["accuracy"]) == {"input", "patch", "skeleton", "pointcloud"}
    assert (tmp_path / "v.mp4").stat().st_size > 0


def test_live_view_top_runs_the_top_weight_set(tmp_path):
    """--view top loads weights/top/ (the side set scores ~20 % on the top view); the top set beats it."""
    accuracy = {}
    for name, extra in (("top", ()), ("side", ("--checkpoints", str(WEIGHTS_DIR)))):
        summary = tmp_path / f"{name}.json"
        result = run_cli("live", "--camera", "synthetic", "--view", "top", "--headless", "--frames", "6",
                         "--backend", "torch", "--summary", str(summary), *extra)
        assert result.returncode == 0, result.stderr
        accuracy[name] = json.loads(summary.read_text())["accuracy"]["pointcloud"]["acc_10cm"]
        if name == "top":
            assert str(WEIGHTS_DIR / "top") in " ".join(result.stderr.split())
    assert accuracy["top"] > accuracy["side"] + 20.0, accuracy


@pytest.mark.parametrize("args, needle", [
    (("--camera", "webcam"), "expected realsense, synthetic, or a recording"),
    (("--camera", "synthetic", "--detector", "mediapipe2"), "unknown detector"),
    (("--camera", "synthetic", "--backend", "tensorrtt"), "did you mean 'tensorrt'"),
    (("--camera", "synthetic", "--backend", "onnxruntime"), "--backend onnxruntime"),
    (("--camera", "synthetic", "--precision", "int8"), "backend runs int8 on checkpoints (torch runs fp32)"),
    (("--camera", "synthetic", "--backend", "torch", "--precision", "fp16"), "runs fp32, not fp16"),
    (("--camera", "missing.db3"), "missing.db3: recording not found"),
    (("--camera", "synthetic", "--view", "diagonal"), "unknown view 'diagonal'; valid: side, top"),
    (("--camera", "synthetic", "--detector", "keypoints:nope.jsonl"), "nope.jsonl: keypoints file not found"),
    (("--camera", "synthetic", "--second-pass", "-0.1"), "--second-pass must be a distance >= 0 in metres"),
    (("--camera", "synthetic", "--server", "localhost:1", "--second-pass", "0"), "drop --second-pass"),
])
def test_live_bad_input_is_one_line(args, needle):
    result = run_cli("live", "--headless", "--frames", "1", *args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert needle in " ".join(result.stderr.split())


def test_live_second_pass_off(tmp_path):
    result = run_cli("live", "--camera", "synthetic", "--headless", "--frames", "2", "--second-pass", "0")
    assert result.returncode == 0, result.stderr
    assert "second pass" not in result.stderr


def test_one_euro_steadies_a_still_joint_and_follows_a_moving_one():
    from refinet_edge.live.smoothing import OneEuro

    rng = np.random.default_rng(0)
    still = OneEuro()
    noisy = 1.0 + rng.normal(0, 0.01, size=(300, 15, 3))
    out = np.stack([still(x, i / 30) for i, x in enumerate(noisy)])
    assert out[30:].std() < 0.5 * noisy[30:].std()
    moving = OneEuro()
    track = np.linspace(0, 3, 90)[:, None, None] * np.ones((1, 15, 3))  # 1 m/s
    follow = np.stack([moving(x, i / 30) for i, x in enumerate(track)])
    assert np.abs(follow[-1] - track[-1]).max() < 0.1  # lag under 10 cm at 1 m/s
    missing = np.full((15, 3), np.nan)
    assert np.isnan(moving(missing, 3.1)).all() and np.isfinite(moving(track[-1], 3.2)).all()


def test_a_realtime_source_drops_frames_the_pipeline_cannot_keep_up_with(pipeline):
    source = SyntheticSource(SyntheticSettings(fps=1000.0), realtime=True)  # 1 ms a frame: faster than any CPU refines
    loop = LiveLoop(source, GroundTruthDetector(), Refiner(pipeline))
    numbers = []
    for result in loop.run():
        numbers.append(result.frame.number)
        if len(numbers) == 4:
            break
    assert numbers == sorted(set(numbers)) and loop.dropped >= numbers[-1] - numbers[0] - 3 > 0


def test_ctrl_c_stops_cleanly_with_complete_lines_and_a_summary(tmp_path):
    import signal
    import time

    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "refinet_edge.cli", "live", "--camera", "synthetic", "--headless",
                             "--output", str(out), "--video", str(tmp_path / "v.mp4")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    text = out.read_text()
    assert text.endswith("\n") and all(json.loads(line)["people"] for line in text.splitlines())
    assert "stopped by Ctrl-C" in stdout and "Traceback" not in stderr
    import cv2

    video = cv2.VideoCapture(str(tmp_path / "v.mp4"))  # finalised: it opens and its frames decode
    ok, image = video.read()
    assert ok and image.shape == (240, 880, 3)  # image | depth | 3D view


def test_the_overlay_draws_hidden_joints_as_rings():
    from refinet_edge.live.draw import _skeleton

    uv = np.full((15, 2), np.nan)
    uv[6] = (20.0, 20.0)  # the two hands: no limb joins them
    uv[7] = (60.0, 20.0)
    hidden = np.zeros(15, bool)
    hidden[7] = True
    canvas = np.zeros((40, 80, 3), np.uint8)
    _skeleton(canvas, uv, (0, 0, 255), hidden)
    assert canvas[20, 20, 2] == 255  # a seen joint: a filled dot
    assert canvas[16, 60, 2] > 0 and canvas[24, 60, 2] > 0  # the hidden one: a ring of radius 4 ...
    assert canvas[20, 60, 2] == 0  # ... open inside
