"""The synthetic-rate benchmarks' report keys: settings always named, latencies from benchmarks.stats."""

from __future__ import annotations

from refinet_edge.benchmarks.sensor_rate import time_camera
from refinet_edge.benchmarks.stats import STAT_KEYS
from refinet_edge.benchmarks.synth_rate import run


def test_synth_rate_names_body_poses_and_scene_even_at_their_defaults():
    result = run(frames=2, workers=1, camera="itop_side", view="side", warmup=0)
    assert (result["body"], result["poses"], result["scene"]) == ("own", "families", "default")
    assert result["p50_ms"] <= result["p90_ms"] <= result["p99_ms"]


def test_sensor_rate_reports_the_latency_stats_of_every_step():
    presets = time_camera("itop_side", frames=2, rounds=1)
    for result in presets.values():
        assert result["frames"] == 2
        for step in ("frame_ms", "sensor_ms"):
            assert set(STAT_KEYS) | {"n"} <= set(result[step]) and result[step]["n"] == 2
            assert result[step]["min"] <= result[step]["p50"] <= result[step]["max"]
