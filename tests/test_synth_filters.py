"""librealsense's post-processing filters on synthetic depth (`synth --filters`, `live --camera synthetic --filters`).

Needs pyrealsense2 (the `camera` extra, installed by CI); no camera.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("pyrealsense2")

from refinet_edge.camera import camera_preset  # noqa: E402
from refinet_edge.data.itop import open_split  # noqa: E402
from refinet_edge.live.filters import SoftwareDepthFilters  # noqa: E402
from refinet_edge.live.synthetic import SyntheticSettings, SyntheticSource  # noqa: E402
from refinet_edge.synth import SynthConfig  # noqa: E402
from refinet_edge.synth.sensor import surface_cosine  # noqa: E402
from refinet_edge.synth.sensor_presets import SENSOR_PRESETS  # noqa: E402
from refinet_edge.synth.write import write_synthetic_split  # noqa: E402


def noisy_wall(seed: int = 0):
    camera = camera_preset("d435_640x480")
    clean = np.full(camera.shape, 2.5, np.float32)
    sensor = replace(SENSOR_PRESETS["d435"], hole_fraction=0.01, dropout_prob=0.01)
    depth = sensor.apply(clean, camera, np.random.default_rng(seed), surface_cosine(clean, camera))
    return camera, clean, depth


def test_filters_fill_holes_and_smooth_noise_as_librealsense_does() -> None:
    camera, clean, depth = noisy_wall()
    with SoftwareDepthFilters(camera) as filters:
        out = filters.apply(depth)
    assert out.shape == depth.shape and out.dtype == np.float32
    interior = np.zeros(camera.shape, bool)
    interior[:, 60:] = True  # right of the left-edge invalid band
    assert np.mean(depth[interior] == 0) > 0.015  # holes before ...
    assert np.mean(out[interior] == 0) < 0.001    # ... filled by hole filling (farthest neighbour)
    before = np.std((depth - clean)[interior & (depth > 0)])
    after = np.std((out - clean)[interior & (out > 0)])
    assert after < 0.6 * before  # the spatial filter smooths the disparity noise
    np.testing.assert_allclose(np.round(out / 0.001), out / 0.001, atol=1e-3)  # z16 millimetres


def test_independent_frames_share_no_temporal_history() -> None:
    camera, _, first = noisy_wall(0)
    _, _, second = noisy_wall(1)
    with SoftwareDepthFilters(camera) as fresh:
        alone = fresh.apply(second)
    with SoftwareDepthFilters(camera) as used:
        used.apply(first)
        after_other = used.apply(second)
    np.testing.assert_array_equal(alone, after_other)


def test_synth_filters_writes_filtered_depth(tmp_path) -> None:
    camera = camera_preset("itop_side")
    config = SynthConfig(sensor_preset="d435")
    for name, filters in (("raw", False), ("filtered", True)):
        write_synthetic_split(tmp_path / name, split="test", frames=3, seed=2, camera=camera, view="side",
                              config=config, filters=filters)
    with open_split(tmp_path / "raw", "side", "test") as raw, open_split(tmp_path / "filtered", "side", "test") as f:
        assert raw.attrs["filters"] == "none" and f.attrs["filters"].startswith("librealsense")
        for i in range(3):
            assert np.mean(f.depth(i) == 0) < 0.5 * np.mean(raw.depth(i) == 0)


def test_live_synthetic_source_applies_the_filters() -> None:
    settings = SyntheticSettings(sensor="d435")
    with SyntheticSource(settings) as plain, SyntheticSource(settings, filters=True) as filtered:
        assert "depth filters" in filtered.description
        for i in range(3):
            raw, out = plain.frame(i).depth_m, filtered.frame(i).depth_m
            assert np.mean(out == 0) < 0.5 * np.mean(raw == 0)
