"""`evaluate --suite ood`: the split registry, reserved seeds, caching, report structure and flags."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.evaluate import EvalSettings, evaluate_split
from refinet_edge.ood_suite import (
    JOINT_GROUPS,
    OOD_SPLITS,
    RESERVED_SEEDS,
    SuiteSplit,
    build_split,
    cache_key,
    flagged,
    format_markdown,
    format_suite,
    group_table,
    missing_fields,
    run_suite,
)
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline
from refinet_edge.synth import SynthConfig

ROOT = Path(__file__).resolve().parents[1]
BY_NAME = {s.name: s for s in OOD_SPLITS}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refinet_edge.cli", *args], capture_output=True, text=True)


def assert_user_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    message = " ".join(result.stderr.split())
    for needle in needles:
        assert needle in message, message


def test_registry_has_one_reserved_seed_per_split_and_every_required_split():
    assert len(BY_NAME) == len(OOD_SPLITS) and len({s.seed for s in OOD_SPLITS}) == len(OOD_SPLITS)
    assert all(s.seed in RESERVED_SEEDS for s in OOD_SPLITS)
    for name in ("in_distribution", "in_distribution_640x480", "uniform_poses", "held_out_families",
                 "camera_height_pitch", "occluders_second_person", "top_view", "anny_bodies"):
        assert name in BY_NAME
    for preset in ("ideal", "d435", "d455", "d415", "tof", "random"):
        assert {BY_NAME[f"sensor_{preset}_{res}"].camera for res in ("320x240", "640x480")} == {
            "itop_side", "d435_640x480"}


def test_every_available_split_is_a_valid_synth_config():
    available = [s for s in OOD_SPLITS if not missing_fields(s)]
    assert len(available) >= 8
    for split in available:
        SynthConfig(**dict(split.overrides))


def test_missing_fields_is_the_guard_for_splits_of_other_branches():
    assert missing_fields(SuiteSplit("x", 170_999, (("no_such_field", 1), ("poses", "uniform")))) == ["no_such_field"]
    assert missing_fields(BY_NAME["uniform_poses"]) == []


def seeds_used_for_training() -> set[int]:
    seeds = set()
    for path in (ROOT / "hypes").rglob("*.json"):
        seeds |= {int(v) for v in re.findall(r'"seed"\s*:\s*(\d+)', path.read_text())}
    from fixtures.docs import documented_text

    seeds |= {int(v) for v in re.findall(r"synth .*--seed (\d+)", documented_text())}  # README and docs pages
    return seeds


def test_training_recipes_and_documented_sets_keep_out_of_the_reserved_seeds():
    used = seeds_used_for_training()
    assert {0, 1} <= used  # the parse found the known ones
    assert not used & set(RESERVED_SEEDS)


# ---------------------------------------------------------------- flags
def test_flag_logic_on_a_hand_built_case():
    n = 10
    input_hits = np.ones((n, 15), bool)
    last_hits = np.ones((n, 15), bool)
    last_hits[:4, 6] = False          # hands: 100 % lifted -> 80 % at the last step
    input_hits[:, 13:15] = False      # feet: 0 % lifted -> 100 %: better, not flagged
    groups = group_table(input_hits, last_hits)
    assert groups["hands"]["input"] == 100.0 and groups["hands"]["last"] == pytest.approx(80.0)
    assert groups["hands"]["difference"] == pytest.approx(-20.0) and groups["hands"]["difference_se"] > 0
    assert flagged(groups) == ["hands"]  # equal accuracy (head/torso, arms, legs) is not flagged
    assert set(groups) == set(JOINT_GROUPS)


# ---------------------------------------------------------------- tiny suite
TINY = (BY_NAME["in_distribution"], BY_NAME["top_view"], SuiteSplit("future", 170_998, (("no_such_field", "x"),)))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cache = tmp_path_factory.mktemp("ood")
    report = run_suite("ood", RefinementPipeline({}), frames=3, cache_dir=cache, splits=TINY)
    return cache, report


def test_tiny_suite_entries_have_the_evaluate_json_schema(tiny):
    cache, report = tiny
    assert [e["name"] for e in report["splits"]] == ["in_distribution", "top_view"]
    data = build_split(BY_NAME["in_distribution"], 3, cache)
    reference = evaluate_split(data, RefinementPipeline({}), EvalSettings())
    for entry in report["splits"]:
        assert set(reference) <= set(entry) and set(reference) <= set(entry["exact_2d"])
        assert set(reference["steps"]["input"]) <= set(entry["steps"]["input"])
        assert entry["frames"] == 3 and entry["noise"]["sigma_px"] == 5.0 and entry["noise"]["swap_prob"] == 0.05
        assert entry["exact_2d"]["noise"]["sigma_px"] == 0.0 and entry["exact_2d"]["noise"]["outlier_prob"] == 0.0
        assert set(entry["groups"]) == set(JOINT_GROUPS) and entry["flagged"] == []  # lifting only: last = input
        assert entry["steps"]["input"]["acc_10cm_se"] >= 0
    assert report["skipped"] == [{"name": "future",
                                  "reason": "not available in this build (SynthConfig has no 'no_such_field')"}]
    text = format_suite(report)
    assert "in_distribution" in text and "top_view" in text and "future: not available in this build" in text
    assert json.loads(json.dumps(report)) == report


def test_each_view_is_scored_with_its_own_weight_set(tiny):
    cache, _ = tiny
    shipped = RefinementPipeline.from_dir(WEIGHTS_DIR)
    report = run_suite("ood", RefinementPipeline({}), frames=3, cache_dir=cache, splits=TINY[:2],
                       view_pipelines={"top": (shipped, {"patch": {"checkpoint": "x"}})})
    side, top = report["splits"]
    assert list(side["steps"]) == ["input"] and side["weights_view"] == "side"
    assert list(top["steps"]) == ["input", *shipped.runners] and top["weights_view"] == "top"
    assert top["stages"] == {"patch": {"checkpoint": "x"}}


def test_splits_are_built_once_and_rebuilt_when_their_definition_changes(tiny):
    cache, _ = tiny
    split = BY_NAME["in_distribution"]
    path = cache / f"{split.name}-{cache_key(split, 3)}.npz"
    stamp = path.stat().st_mtime_ns
    again = build_split(split, 3, cache)
    assert path.stat().st_mtime_ns == stamp and again.depth_f16.shape == (3, 240, 320)
    assert cache_key(split, 4) != cache_key(split, 3)
    assert cache_key(SuiteSplit(split.name, 170_900), 3) != cache_key(split, 3)


def test_unknown_suite_names_the_choices():
    with pytest.raises(RefinetError, match=r"unknown suite 'odd'.*did you mean 'ood'"):
        run_suite("odd", RefinementPipeline({}))


# ---------------------------------------------------------------- command line
def test_cli_suite_prints_one_table_and_writes_json(tmp_path):
    out = tmp_path / "ood.json"
    result = run_cli("evaluate", "--suite", "ood", "--stages", "none", "--suite-frames", "2",
                     "--cache", str(tmp_path / "cache"), "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "held_out_families" in result.stdout and "anny_bodies" in result.stdout
    report = json.loads(out.read_text())
    assert len(report["splits"]) + len(report["skipped"]) == len(OOD_SPLITS)
    # Every split's SynthConfig fields exist in this build; only a missing Anny extra may skip one.
    assert all(s["name"] == "anny_bodies" and "refinet-edge[synth]" in s["reason"] for s in report["skipped"])


def test_evaluate_without_data_or_suite_is_a_usage_error():
    result = run_cli("evaluate")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--data" in result.stderr and "--suite ood" in result.stderr


@pytest.mark.parametrize("args, needles", [
    (("evaluate", "--suite", "bogus", "--stages", "none"), ("error:", "'bogus'", "ood")),
    (("synth", "--out", "OUT", "--poses", "walk"), ("error:", "'walk'", "families, uniform, mixed")),
    (("synth", "--out", "OUT", "--scene", "wid"), ("error:", "'wid'", "did you mean 'wide'", "default, wide")),
    (("synth", "--out", "OUT", "--scene", "wide", "--view", "top", "--camera", "itop_top"),
     ("error:", "side-view scene")),
])
def test_bad_names_give_one_error_line(tmp_path, args, needles):
    result = run_cli(*(str(tmp_path / "out") if a == "OUT" else a for a in args))
    assert result.returncode == 1
    assert_user_error(result, *needles)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize("weights", ["v17", "v18", "v19", "v20"])
def test_visibility_table_is_the_committed_report_and_pools_back(weights: str) -> None:
    from refinet_edge.ood_suite import format_visibility_markdown, visibility_rows

    path = ROOT / f"benchmarks/reports/2026-12-06-cpu-2core-xeon-{weights}-ood/ood_suite.json"
    report = json.loads(path.read_text())
    from fixtures.docs import documented_text

    assert format_visibility_markdown(report) in documented_text()
    assert len(visibility_rows(report)) == 1 + 2 * len(report["splits"])
    for entry in report["splits"]:
        for rep in (entry, entry["exact_2d"]):
            row = rep["by_visibility"]["pointcloud"]
            share = row["visible_share"] / 100.0
            pooled = share * row["acc_10cm_visible"] + (1.0 - share) * row["acc_10cm_hidden"]
            assert pooled == pytest.approx(rep["steps"]["pointcloud"]["acc_10cm"])
    older = json.loads((ROOT / "benchmarks/reports/2026-12-06-cpu-2core-xeon-v16-ood/ood_suite.json").read_text())
    assert visibility_rows(older) == [] and format_visibility_markdown(older) == ""  # made before the split


def test_visibility_table_adds_the_hidden_flag_where_the_report_has_it() -> None:
    import copy

    from refinet_edge.ood_suite import visibility_rows

    report = json.loads((ROOT / "benchmarks/reports/2026-12-06-cpu-2core-xeon-v20-ood/ood_suite.json").read_text())
    without = copy.deepcopy(report)
    for entry in without["splits"]:
        for rep in (entry, entry["exact_2d"]):
            del rep["by_hidden_flag"]
    plain, rows = visibility_rows(without), visibility_rows(report)
    assert rows[0] == [*plain[0], "flagged %", "flagged", "not flagged"]
    assert [r[:len(plain[0])] for r in rows] == plain  # the labels' columns unchanged
    flag = report["splits"][2]["by_hidden_flag"]  # uniform poses, noisy 2D
    assert rows[5][-3:] == [f"{flag['flagged_share']:.0f}", f"{flag['acc_10cm_flagged']:.1f}",
                            f"{flag['acc_10cm_unflagged']:.1f}"]
    for entry in report["splits"]:  # flagged and unflagged joints pool back to the split
        for rep in (entry, entry["exact_2d"]):
            flag = rep["by_hidden_flag"]
            share = flag["flagged_share"] / 100.0
            pooled = share * flag["acc_10cm_flagged"] + (1.0 - share) * flag["acc_10cm_unflagged"]
            assert pooled == pytest.approx(rep["steps"]["pointcloud"]["acc_10cm"])
    assert "flags hidden" in format_suite(report) and "flags hidden" not in format_suite(without)


@pytest.mark.parametrize("folder", ["2026-12-05-cpu-2core-xeon-ood", "2026-12-05-cpu-2core-xeon-v8-ood",
                                    "2026-12-05-cpu-2core-xeon-v9-ood", "2026-12-05-cpu-2core-xeon-v10-ood",
                                    "2026-12-05-cpu-2core-xeon-v11-ood", "2026-12-06-cpu-2core-xeon-v12-ood",
                                    "2026-12-06-cpu-2core-xeon-v13-ood", "2026-12-06-cpu-2core-xeon-v14-ood",
                                    "2026-12-06-cpu-2core-xeon-v15-ood", "2026-12-06-cpu-2core-xeon-v16-ood",
                                    "2026-12-06-cpu-2core-xeon-v17-ood", "2026-12-06-cpu-2core-xeon-v18-ood",
                                    "2026-12-06-cpu-2core-xeon-v19-ood", "2026-12-06-cpu-2core-xeon-v20-ood"])
def test_readme_table_is_the_committed_report(folder):
    report = json.loads((ROOT / f"benchmarks/reports/{folder}/ood_suite.json").read_text())
    from fixtures.docs import documented_text

    assert format_markdown(report) in documented_text()  # the README or a docs page
    assert report["frames_per_split"] == 150 and all(e["frames"] == 150 for e in report["splits"])
    assert {e["name"] for e in report["splits"]} | {s["name"] for s in report["skipped"]} == set(BY_NAME)
