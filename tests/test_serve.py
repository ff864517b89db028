"""`serve`: a real Triton server (PyTriton) on the exported stages, checked against the in-process pipeline.

The server runs as `refinet-edge serve` in its own process group on free loopback
ports; the fixture stops it and checks that none of its processes (tritonserver,
the Python-backend stub) is left.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.serve.client import ServerError, TritonRefinerClient, parse_server
from refinet_edge.serve.process import ServerProcess, group_alive
from refinet_edge.serve.server import stub_environment
from refinet_edge.serve.tensors import decode_request, encode_request

MAX_DEPTH_PX = 320 * 240  # the synthetic camera's size: a 640x480 map is "too large" for this server


@pytest.fixture(scope="module")
def frames():
    """Six synthetic frames with the live `gt` detector's noisy 2D joints."""
    from refinet_edge.live.detectors import GroundTruthDetector
    from refinet_edge.live.synthetic import SyntheticSource

    source, detector = SyntheticSource(), GroundTruthDetector(seed=5)
    return [(f, detector(f)) for f in (source.frame(i * 7) for i in range(6))]


@pytest.fixture(scope="module")
def reference(onnx_dir):
    """The in-process pipeline on the same exported stages (onnxruntime)."""
    from refinet_edge.export.backends import pipeline_from_onnx_dir

    return pipeline_from_onnx_dir(onnx_dir, "onnxruntime")[0]


@pytest.fixture(scope="module")
def server(onnx_dir, tmp_path_factory):
    pytest.importorskip("pytriton")
    pytest.importorskip("tritonclient.http")
    args = ["--backend", "onnxruntime", "--onnx-dir", str(onnx_dir), "--threads", "1", "--queue-delay-us", "5000",
            "--preferred-batch", "2,4", "--max-batch", "16", "--max-depth-px", str(MAX_DEPTH_PX)]
    proc = ServerProcess(args, tmp_path_factory.mktemp("serve") / "server.log").start()
    yield proc
    proc.stop()
    assert proc.process is not None and not group_alive(proc.process.pid), "a server process was left behind"


def in_process(reference, frame, dets, people: int = 1):
    depth = np.broadcast_to(frame.depth_m, (people * dets.count, *frame.depth_m.shape))
    return reference.run(depth, np.concatenate([dets.uv_px] * people), frame.camera)


def test_stub_environment_leads_with_this_interpreters_libdir_and_points_the_stub_at_numpy1(tmp_path):
    import sysconfig

    env = stub_environment({"LD_LIBRARY_PATH": "/opt/x"}, numpy_version="1.26.4")
    assert env["LD_LIBRARY_PATH"].split(":") == [sysconfig.get_config_var("LIBDIR"), "/opt/x"]
    assert "REFINET_TRITON_STUB_SITE" not in env
    with pytest.raises(RefinetError, match="python -m refinet_edge.serve.stub_site"):
        stub_environment({}, numpy_version="2.4.6", site=tmp_path / "absent")


def test_a_port_in_use_is_a_user_error_before_tritonserver_starts():
    import socket

    from refinet_edge.serve.server import ServeOptions, check_ports

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RefinetError, match=f"--http-port {port}: cannot listen"):  # checked first
            check_ports(ServeOptions(http_port=port, grpc_port=1 + port % 60000, metrics_port=2 + port % 60000,
                                     address="127.0.0.1"))
    with pytest.raises(RefinetError, match="distinct"):
        check_ports(ServeOptions(http_port=8000, grpc_port=8000, metrics_port=8002))


def test_serve_verbs_have_help():
    for verb in ("serve", "serve-load"):
        result = subprocess.run([sys.executable, "-m", "refinet_edge.cli", verb, "--help"], capture_output=True,
                                text=True)
        assert result.returncode == 0 and "Usage" in result.stdout, result.stderr


def test_encoded_depth_decodes_to_the_frames_metres_exactly(frames):
    frame, dets = frames[0]
    feed = encode_request(frame.depth_m, frame.camera, dets.uv_px, dets.scores)
    assert "depth_z16" in feed  # a z16 source travels as z16
    batch = decode_request(feed)
    np.testing.assert_array_equal(batch.depth_m[0], frame.depth_m)
    assert (batch.camera.fx, batch.camera.cy) == (frame.camera.fx, frame.camera.cy)


def test_decode_rejects_values_triton_cannot_check_naming_the_input(frames):
    frame, dets = frames[0]
    good = encode_request(frame.depth_m, frame.camera, dets.uv_px, dets.scores)
    nan_joint = dict(good, joints_2d_px=good["joints_2d_px"].copy())
    nan_joint["joints_2d_px"][0, 3] = np.nan
    with pytest.raises(RefinetError, match="input joints_2d_px: person 0 joint 3 is NaN"):
        decode_request(nan_joint)
    with pytest.raises(RefinetError, match="input depth_z16: depth map 320x240 is larger"):
        decode_request(good, max_depth_px=320 * 239)
    no_scale = {k: v for k, v in good.items() if k != "depth_scale_m"}
    with pytest.raises(RefinetError, match="input depth_scale_m: missing"):
        decode_request(no_scale)
    missing_ok = dets.uv_px.copy()
    missing_ok[0, 3] = np.nan  # a missing joint: the client sends it with score 0, and it is accepted
    accepted = decode_request(encode_request(frame.depth_m, frame.camera, missing_ok, dets.scores))
    assert accepted.uv_px.shape == (1, 15, 2)


def test_parse_server_accepts_host_port_http_and_grpc():
    assert str(parse_server("10.0.0.2:8000")) == "http://10.0.0.2:8000"
    assert str(parse_server("grpc://gpu-box:8001")) == "grpc://gpu-box:8001"
    with pytest.raises(RefinetError, match="expected HOST:PORT"):
        parse_server("ftp://x:1")


def test_the_served_model_has_the_batching_asked_for(server):
    client = TritonRefinerClient(server.http)
    config = client.client.get_model_config("refinet")
    client.close()
    assert config["max_batch_size"] == 16
    assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 5000
    assert config["dynamic_batching"]["preferred_batch_size"] == [2, 4]
    assert {t["name"] for t in config["input"]} == {"depth_z16", "depth_m", "depth_scale_m", "intrinsics_px",
                                                    "joints_2d_px", "scores_2d"}


def test_served_joints_match_the_in_process_pipeline_within_1e_5_m(server, frames, reference):
    restarted = 0
    for address in (server.http, server.grpc):
        client = TritonRefinerClient(address)
        for people, (frame, dets) in zip((1, 1, 2, 1, 3, 1), frames, strict=True):
            uv, scores = np.concatenate([dets.uv_px] * people), np.concatenate([dets.scores] * people)
            out = client.infer(encode_request(frame.depth_m, frame.camera, uv, scores))
            ref = in_process(reference, frame, dets, people)
            assert out["joints_3d_m"].shape == (people, 15, 3)
            np.testing.assert_allclose(out["joints_3d_m"], ref.steps["pointcloud"], rtol=0, atol=1e-5)
            for k, step in enumerate(("input", "patch", "skeleton", "pointcloud")):
                np.testing.assert_allclose(out["step_joints_3d_m"][:, k], ref.steps[step], rtol=0, atol=1e-5)
            np.testing.assert_array_equal(out["valid"], ref.valid)
            np.testing.assert_array_equal(out["second_pass"], ref.second_pass)
            np.testing.assert_array_equal(out["hidden"], ref.hidden)
            restarted += int(ref.second_pass.any(axis=1).sum())
        client.close()
    assert restarted > 0  # the noisy detections restart someone, so the second_pass output is checked for real


def test_the_client_asks_for_the_later_outputs_only_where_the_server_offers_them(server):
    from refinet_edge.serve.client import offered_outputs

    for address in (server.http, server.grpc):
        client = TritonRefinerClient(address)
        assert client._offered() == ("second_pass", "hidden")
        client.close()
    older = {"name": "refinet", "outputs": [{"name": "joints_3d_m"}, {"name": "valid"}, {"name": "step_joints_3d_m"}]}
    assert offered_outputs(older) == ()  # a server of an older version: not asked, so no error


def bad_requests(frame, dets):
    """(the input the error must name, a feed) for each kind of bad request."""
    good = encode_request(frame.depth_m, frame.camera, dets.uv_px, dets.scores)
    nan_joint = dict(good, joints_2d_px=good["joints_2d_px"].copy())
    nan_joint["joints_2d_px"][0, 5] = np.nan
    big = np.zeros((480, 640), np.float32)
    return [("joints_2d_px", dict(good, joints_2d_px=good["joints_2d_px"].astype(np.float32))),   # wrong type
            ("joints_2d_px", dict(good, joints_2d_px=good["joints_2d_px"][:, :14])),               # wrong shape
            ("intrinsics_px", {k: v for k, v in good.items() if k != "intrinsics_px"}),            # missing
            ("joints_2d_px", nan_joint),                                                           # NaN, score 1
            ("depth_m", dict({k: v for k, v in good.items() if k not in ("depth_z16", "depth_scale_m")},
                             depth_m=big[None]))]                                                  # too large


def test_bad_requests_get_errors_naming_the_input_while_a_good_client_keeps_in_process_results(
        server, frames, reference):
    stop, good_results, good_errors = threading.Event(), [], []
    good = TritonRefinerClient(server.http)

    def good_camera() -> None:
        k = 0
        while not stop.is_set() or k < 12:
            frame, dets = frames[k % len(frames)]
            try:
                out = good.infer(encode_request(frame.depth_m, frame.camera, dets.uv_px, dets.scores), steps=False)
                good_results.append((k % len(frames), out["joints_3d_m"]))
            except Exception as exc:  # noqa: BLE001 - the assertion below reports it
                good_errors.append(exc)
            k += 1

    thread = threading.Thread(target=good_camera)
    thread.start()
    bad = TritonRefinerClient(server.http)
    try:
        for _ in range(3):
            for name, feed in bad_requests(*frames[1]):
                with pytest.raises(ServerError) as error:
                    bad.infer(feed)
                assert name in str(error.value), str(error.value)
    finally:
        stop.set()
        thread.join(60)
    assert not good_errors, good_errors[:2]
    assert len(good_results) >= 12
    for k, joints in good_results:
        ref = in_process(reference, *frames[k])
        np.testing.assert_allclose(joints, ref.steps["pointcloud"], rtol=0, atol=1e-5)
    print(f"good client: {len(good_results)} results, {good.collateral_retries} resent after a bad batch-mate")


def test_two_camera_load_level_counts_every_person_in_tritons_batches(server):
    from refinet_edge.serve.load import LoadSettings, run_level

    level = run_level(server.http, LoadSettings(cameras=(2,), seconds=2.0, max_requests=40, frames=4), 2)
    assert [c["errors"] for c in level["per_camera"]] == [0, 0]
    assert all(c["requests"] >= 10 for c in level["per_camera"])
    executed = sum(int(size) * count for size, count in level["triton_batches"].items())
    assert executed == level["people"] == level["requests"]  # one person per synthetic frame
    assert level["round_trip_ms"]["p50"] > 0


def run_live(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refinet_edge.cli", "live", "--camera", "synthetic", "--headless",
                           *args], capture_output=True, text=True, timeout=300)


def test_live_server_writes_the_in_process_jsonl_and_an_unreachable_server_is_one_error_line(
        server, onnx_dir, tmp_path):
    remote, local = tmp_path / "remote.jsonl", tmp_path / "local.jsonl"
    result = run_live("--frames", "4", "--server", f"grpc://{server.grpc.url}", "--output", str(remote))
    assert result.returncode == 0, result.stderr
    assert "server round trip" in result.stderr or "round_trip" in remote.read_text()
    assert run_live("--frames", "4", "--onnx-dir", str(onnx_dir), "--output", str(local)).returncode == 0
    people = [[json.loads(line)["people"] for line in p.read_text().splitlines()] for p in (remote, local)]
    assert all(len(person["second_pass"]) == 15 for frame in people[0] for person in frame)
    assert people[0] == people[1]
    both = run_live("--frames", "2", "--server", server.http.url, "--onnx-dir", str(onnx_dir))
    assert both.returncode == 1 and "drop --onnx-dir" in both.stderr and "Traceback" not in both.stderr
    down = run_live("--frames", "2", "--server", "127.0.0.1:9")  # nothing listens on port 9
    assert down.returncode == 1
    assert down.stderr.strip().startswith("error: --server http://127.0.0.1:9:") and "Traceback" not in down.stderr


def test_live_survives_a_killed_server_counting_the_lost_frames_and_writing_whole_lines(server, tmp_path):
    out, summary = tmp_path / "live.jsonl", tmp_path / "summary.json"
    live = subprocess.Popen([sys.executable, "-m", "refinet_edge.cli", "live", "--camera", "synthetic", "--headless",
                             "--realtime", "--frames", "150", "--server", f"{server.http.url}", "--output", str(out),
                             "--summary", str(summary)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_lines(out, 10)
        server.kill()
        lines_at_kill = len(out.read_text().splitlines())
        server.start()  # same ports
        _, stderr = live.communicate(timeout=240)
    finally:
        if live.poll() is None:
            live.kill()
    assert live.returncode == 0, stderr
    assert "lost" in stderr and "back after" in stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]  # every line whole
    assert len(records) == 150 and len(records) > lines_at_kill
    report = json.loads(summary.read_text())
    assert report["server_lost_frames"] >= 1 and report["server_reconnects"] >= 1
    assert report["dropped"] >= report["server_lost_frames"]
    assert sum(r["dropped_before"] for r in records) >= report["server_lost_frames"]


def _wait_for_lines(path, count: int, timeout_s: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path}: fewer than {count} lines after {timeout_s} s")


@pytest.mark.slow  # ~45 s: a server restart inside a 16 s level
def test_load_cameras_report_a_killed_server_and_resume_when_it_is_back(server):
    import time

    from refinet_edge.serve.load import LoadSettings, run_level

    def kill_and_restart() -> None:
        time.sleep(5.0)  # the level starts ~3 s after run_level is called
        server.kill()
        time.sleep(1.0)
        server.start()

    killer = threading.Thread(target=kill_and_restart)
    killer.start()
    try:
        level = run_level(server.http, LoadSettings(cameras=(2,), seconds=16.0, max_requests=480, frames=4), 2)
    finally:
        killer.join(120)
    assert level["server_restarted"]
    for camera in level["per_camera"]:
        assert camera["errors"] >= 1, camera        # the outage was reported, request by request
        assert camera["answered_after_last_error"], camera  # and the camera was answered again afterwards
        assert camera["requests"] >= 10
