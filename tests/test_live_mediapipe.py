"""MediaPipe Pose front end on a real photo of a person and on synthetic frames (needs the `mediapipe` extra)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from refinet_edge.camera import Camera
from refinet_edge.live.detectors import make_detector
from refinet_edge.live.frames import RGBDFrame
from refinet_edge.live.synthetic import SyntheticSource

pytest.importorskip("mediapipe")


def test_finds_the_astronaut_in_scikit_image_photo():
    data = pytest.importorskip("skimage.data")
    bgr = np.ascontiguousarray(data.astronaut()[:, :, ::-1])  # 512x512 upper-body portrait
    h, w = bgr.shape[:2]
    frame = RGBDFrame(0, 0.0, np.zeros((h, w), np.float32), bgr, Camera("photo", w, h, 500.0, 500.0, w / 2, h / 2),
                      time.perf_counter())
    got = make_detector("mediapipe")(frame)
    assert got.count == 1
    head, neck, r_shoulder, l_shoulder = got.uv_px[0, :4]
    assert np.all(got.scores[0, :4] > 0.5)
    assert 150 < head[0] < 300 and head[1] < neck[1]          # the face is above the neck, mid-image
    assert r_shoulder[0] < neck[0] < l_shoulder[0]            # her right shoulder is on the image's left
    assert np.all(got.scores[0, 9:] == 0)                     # legs are out of the picture: missing


def test_finds_the_synthetic_walker_near_its_ground_truth():
    source = SyntheticSource()
    detector = make_detector("mediapipe")
    errors = []
    for index in range(12, 60, 12):
        frame = source.frame(index)
        got = detector(frame)
        assert got.count == 1
        errors.append(np.nanmedian(np.linalg.norm(got.uv_px[0] - frame.truth.uv_px, axis=-1)))
    assert np.median(errors) < 8.0  # px, on 320x240 infrared-like images
