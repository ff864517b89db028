"""The command line end to end: synth -> evaluate, and one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from refinet_edge.atomic import sha256_file
from refinet_edge.pipeline import WEIGHTS_DIR


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "refinet_edge.cli", *args], capture_output=True, text=True, cwd=cwd,
    )


def assert_user_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    message = " ".join(result.stderr.split())
    for needle in needles:
        assert needle in message, message


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    result = run_cli("synth", "--out", str(out), "--split", "test", "--frames", "48", "--seed", "3",
                     "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "wrote 48 frames" in result.stdout
    return out


def test_every_verb_has_help():
    for verb in ("synth", "evaluate", "demo", "info"):
        result = run_cli(verb, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_synth_writes_the_itop_layout_and_camera(synth_dir):
    names = sorted(p.name for p in synth_dir.iterdir())
    assert names == ["ITOP_side_test_depth_map.h5", "ITOP_side_test_labels.h5", "camera.json"]
    assert json.loads((synth_dir / "camera.json").read_text())["width"] == 320


def test_evaluate_prints_a_table_and_writes_json(synth_dir, tmp_path):
    report_path = tmp_path / "report.json"
    result = run_cli("evaluate", "--data", str(synth_dir), "--split", "test", "--json", str(report_path))
    assert result.returncode == 0, result.stderr
    assert "acc@10cm" in result.stdout and "input" in result.stdout
    report = json.loads(report_path.read_text())
    step = report["steps"]["input"]
    assert report["frames"] == 48
    assert report["noise"]["sigma_px"] == 5.0 and report["noise"]["mu_px"] == 0.0
    assert len(step["per_joint_acc_10cm"]) == 15
    assert 0.0 <= step["acc_5cm"] <= step["acc_10cm"] <= 100.0
    assert step["mpjpe_mm"] > 0
    assert report["pointcloud_passes"] == 2  # the shipped pointcloud checkpoint's setting
    assert "pointcloud (x2)" in result.stdout
    for stage, record in report["stages"].items():  # portable: named from the package, with the file's hash
        assert record["checkpoint"] == f"refinet_edge/weights/{stage}.safetensors"
        assert record["sha256"] == sha256_file(WEIGHTS_DIR / f"{stage}.safetensors")
    # by distance: every step binned the same way, the bins holding every frame once, the table printed
    assert list(report["by_distance"]) == list(report["steps"])
    bins = report["by_distance"]["pointcloud"]
    assert sum(row["frames"] for row in bins) == 48
    spans = {step: [(r["from_m"], r["frames"]) for r in rows] for step, rows in report["by_distance"].items()}
    assert all(rows == spans["input"] for rows in spans.values())
    assert "by subject distance" in result.stdout
    pooled = sum(row["frames"] * row["acc_10cm"] for row in bins) / 48  # the bins pool back to the whole split
    assert pooled == pytest.approx(report["steps"]["pointcloud"]["acc_10cm"])
    # by visibility (the synthetic labels have it): seen and hidden joints pool back to the whole split too
    assert list(report["by_visibility"]) == list(report["steps"])
    for step, row in report["by_visibility"].items():
        share = row["visible_share"] / 100.0
        assert 0.0 < share < 1.0
        pooled = share * row["acc_10cm_visible"] + (1.0 - share) * row["acc_10cm_hidden"]
        assert pooled == pytest.approx(report["steps"][step]["acc_10cm"])
    assert "the joints the sensor sees" in result.stdout and "hands, hidden" in result.stdout
    # the answer's own hidden flag: it pools back too, and it says something (flagged joints are the labels'
    # hidden ones far more often than joints at large, and are right less often)
    flag = report["by_hidden_flag"]
    assert flag["step"] == "pointcloud" and 0.0 < flag["flagged_share"] < 100.0
    share = flag["flagged_share"] / 100.0
    pooled = share * flag["acc_10cm_flagged"] + (1.0 - share) * flag["acc_10cm_unflagged"]
    assert pooled == pytest.approx(report["steps"]["pointcloud"]["acc_10cm"])
    hidden_share = 100.0 - report["by_visibility"]["pointcloud"]["visible_share"]
    assert flag["labels_hidden_among_flagged"] > 1.5 * hidden_share
    assert flag["acc_10cm_flagged"] < flag["acc_10cm_unflagged"]
    assert "answer's hidden flag (pointcloud)" in " ".join(result.stdout.split())


def test_evaluate_missing_prob_leaves_joints_out_and_still_scores_them(synth_dir, tmp_path):
    plain, leaky = tmp_path / "plain.json", tmp_path / "leaky.json"
    assert run_cli("evaluate", "--data", str(synth_dir), "--stages", "none", "--json", str(plain)).returncode == 0
    result = run_cli("evaluate", "--data", str(synth_dir), "--stages", "none", "--missing-prob", "0.3",
                     "--json", str(leaky))
    assert result.returncode == 0, result.stderr
    assert "missing 0.3" in result.stdout
    before, after = json.loads(plain.read_text()), json.loads(leaky.read_text())
    assert "missing_prob" not in before["noise"] and after["noise"]["missing_prob"] == 0.3
    # a joint left out has no lifted position: a miss, so the input step loses about 30 % of its hits
    ratio = after["steps"]["input"]["acc_10cm"] / before["steps"]["input"]["acc_10cm"]
    assert 0.5 < ratio < 0.9
    assert_user_error(run_cli("evaluate", "--data", str(synth_dir), "--missing-prob", "2"), "missing_prob")


def test_evaluate_names_a_checkpoint_under_the_working_directory_relative_to_it(synth_dir, tmp_path):
    local = tmp_path / "ck"
    shutil.copytree(WEIGHTS_DIR, local, ignore=shutil.ignore_patterns("top"))
    result = run_cli("evaluate", "--data", str(synth_dir), "--checkpoints", "ck", "--stages", "patch",
                     "--json", "r.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "r.json").read_text())["stages"]["patch"]
    assert record == {"checkpoint": "ck/patch.safetensors", "sha256": sha256_file(local / "patch.safetensors")}


def test_evaluate_passes_override(synth_dir, tmp_path):
    path = tmp_path / "one.json"
    assert run_cli("evaluate", "--data", str(synth_dir), "--json", str(path), "--passes", "1").returncode == 0
    assert json.loads(path.read_text())["pointcloud_passes"] == 1
    assert_user_error(run_cli("evaluate", "--data", str(synth_dir), "--passes", "0"), "--passes")


def test_evaluate_second_pass_override(synth_dir, tmp_path):
    off, on = tmp_path / "off.json", tmp_path / "on.json"
    for path, gate in ((off, "0"), (on, "0.15")):
        result = run_cli("evaluate", "--data", str(synth_dir), "--json", str(path), "--second-pass", gate,
                         "--outlier-prob", "0.3")
        assert result.returncode == 0, result.stderr
    one, two = json.loads(off.read_text()), json.loads(on.read_text())
    assert (one["second_pass_m"], two["second_pass_m"]) == (0.0, 0.15)
    assert two["steps"]["input"] == one["steps"]["input"]  # the detection's lift is the same either way
    assert two["steps"]["pointcloud"] != one["steps"]["pointcloud"]
    assert_user_error(run_cli("evaluate", "--data", str(synth_dir), "--second-pass", "-1"), "--second-pass")


def test_evaluate_same_seed_same_report(synth_dir, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for path in (a, b):
        assert run_cli("evaluate", "--data", str(synth_dir), "--json", str(path), "--seed", "7").returncode == 0
    assert json.loads(a.read_text())["steps"] == json.loads(b.read_text())["steps"]


def test_missing_directory(tmp_path):
    assert_user_error(run_cli("evaluate", "--data", str(tmp_path / "nope")), str(tmp_path / "nope"))


def test_unknown_camera_preset_lists_valid_ones(tmp_path):
    result = run_cli("synth", "--out", str(tmp_path / "x"), "--camera", "d435", "--frames", "2")
    assert_user_error(result, "d435", "itop_side", "d435_640x480")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_empty_split(synth_dir):
    # The synthetic test split has no train file: asking for val names what is missing.
    assert_user_error(run_cli("evaluate", "--data", str(synth_dir), "--split", "val"), "train")


def test_bad_split_name(synth_dir):
    assert_user_error(run_cli("evaluate", "--data", str(synth_dir), "--split", "tset"), "tset")


def test_wrong_hdf5_layout(tmp_path):
    import h5py

    with h5py.File(tmp_path / "ITOP_side_test_labels.h5", "w") as f:
        f["id"] = [b"00_00000"]
    with h5py.File(tmp_path / "ITOP_side_test_depth_map.h5", "w") as f:
        f["id"] = [b"00_00000"]
        f["data"] = [[0.0]]
    result = run_cli("evaluate", "--data", str(tmp_path))
    assert_user_error(result, "ITOP_side_test_")


def test_evaluate_that_fails_writes_no_json(tmp_path):
    """A failed run leaves no report (atomic writing itself, failing half-way: tests/test_atomic.py)."""
    target = tmp_path / "report.json"
    result = run_cli("evaluate", "--data", str(tmp_path / "missing"), "--json", str(target))
    assert result.returncode != 0
    assert list(tmp_path.iterdir()) == []


def test_bad_noise_value(synth_dir):
    assert_user_error(run_cli("evaluate", "--data", str(synth_dir), "--swap-prob", "1.5"), "swap_prob")


def test_outputs_have_normal_permissions(synth_dir):
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    for path in synth_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_synth_refuses_to_overwrite_without_flag(tmp_path):
    args = ("synth", "--out", str(tmp_path), "--split", "test", "--frames", "4", "--workers", "1")
    assert run_cli(*args).returncode == 0
    assert_user_error(run_cli(*args), "already exist", "--overwrite")
    assert run_cli(*args, "--overwrite", "--seed", "9").returncode == 0


def test_usage_errors_exit_2_without_traceback():
    result = run_cli("evaluate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "--data" in result.stderr


def test_info_prints_the_install_extras_literally() -> None:
    """Rich must not swallow ``[onnx]``-style hints as markup; a stubs-only namespace is not 'installed'."""
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    for hint in ("[onnx]", "[tensorrt]", "[kernels]", "[camera]", "[jit]"):
        assert hint in result.stdout
    import importlib.util

    spec = importlib.util.find_spec("tensorrt")
    if spec is not None and spec.origin is None:  # tensorrt-stubs without TensorRT (CI)
        assert any(line.split()[:3] == ["tensorrt", "not", "installed"] for line in result.stdout.splitlines())


def test_a_checkpoint_outside_the_working_directory_is_named_absolutely(tmp_path, monkeypatch):
    from refinet_edge.main_job import stage_record

    outside = tmp_path / "elsewhere" / "skeleton.safetensors"
    outside.parent.mkdir()
    outside.write_bytes(b"not read as weights here")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert stage_record(outside) == {"checkpoint": str(outside.resolve()), "sha256": sha256_file(outside)}
    monkeypatch.chdir(tmp_path)
    assert stage_record(outside)["checkpoint"] == "elsewhere/skeleton.safetensors"
