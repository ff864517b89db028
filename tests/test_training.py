"""A tiny real training run per stage: checkpoint, log, resume, chained inputs, hypes errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.hypes import load_hypes  # noqa: E402
from refinet_edge.training.run import run_training  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train_set")
    # 48 frames: subjects 00-15, so subjects 04 and 05 (validation) hold 6 frames.
    subprocess.run([sys.executable, "-m", "refinet_edge.cli", "synth", "--out", str(out), "--split", "train",
                    "--frames", "48", "--seed", "11", "--workers", "1"], check=True, capture_output=True)
    return out


def _hypes(stage: str, data: Path, save: Path, **extra):
    overrides = {"train_dir": str(data), "save_dir": str(save), "epochs": 1, "data.batch_size": 8, **extra}
    if stage == "pointcloud":
        overrides["model.num_points"] = 32
    return load_hypes(REPO / f"hypes/synthetic/{stage}/train.json", overrides)


def test_each_stage_trains_saves_logs_and_resumes(tiny_set, tmp_path):
    for stage in ("patch", "skeleton", "pointcloud"):
        best = run_training(_hypes(stage, tiny_set, tmp_path))
        assert 0.0 <= best["acc_10cm"] <= 100.0
        assert (tmp_path / f"{stage}.safetensors").exists()
        lines = (tmp_path / f"{stage}.log.jsonl").read_text().splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["epoch"] == 1
    # Resume continues from the saved epoch: one more epoch, one more log line.
    run_training(_hypes("patch", tiny_set, tmp_path, epochs=2), resume=True)
    lines = (tmp_path / "patch.log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_chained_inputs_use_the_previous_stages(tiny_set, tmp_path):
    run_training(_hypes("patch", tiny_set, tmp_path))
    best = run_training(_hypes("skeleton", tiny_set, tmp_path, **{"data.from_gt": False}))
    record = json.loads((tmp_path / "skeleton.log.jsonl").read_text().splitlines()[0])
    assert {"val_input_acc_10cm", "val_patch_acc_10cm", "val_skeleton_acc_10cm"} <= set(record)
    assert best["epoch"] == 1


def test_resume_without_state_is_a_user_error(tiny_set, tmp_path):
    with pytest.raises(RefinetError, match="no training state"):
        run_training(_hypes("patch", tiny_set, tmp_path), resume=True)


def test_train_cli_reports_bad_hypes_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train_dir": "x", "epochs": 1, "data": {"type": "patch", "batchsize": 3}}))
    result = subprocess.run([sys.executable, "-m", "refinet_edge.cli", "train", "--hypes", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "batchsize" in result.stderr and "batch_size" in result.stderr


def test_ship_writes_fp16_weights_that_load(tiny_set, tmp_path):
    from refinet_edge.pipeline import RefinementPipeline
    from refinet_edge.training.ship import ship_weights

    run_training(_hypes("skeleton", tiny_set, tmp_path / "run"))
    written = ship_weights(tmp_path / "run", tmp_path / "weights")
    assert [p.name for p in written] == ["skeleton.safetensors"]
    assert written[0].stat().st_size < (tmp_path / "run" / "skeleton.safetensors").stat().st_size
    assert RefinementPipeline.from_dir(tmp_path / "weights").steps == ("input", "skeleton")
    with pytest.raises(RefinetError, match="no"):
        ship_weights(tmp_path / "weights" / "missing")


def test_skeleton_trains_with_symmetry_and_forcing_losses(tiny_set, tmp_path):
    hypes = _hypes("skeleton", tiny_set, tmp_path, **{"network.beta": 1.0, "network.gamma": 1.0,
                                                       "network.alpha": 0.1})
    best = run_training(hypes)
    assert 0.0 <= best["acc_10cm"] <= 100.0
    record = json.loads((tmp_path / "skeleton.log.jsonl").read_text().splitlines()[0])
    assert np.isfinite(record["loss"])
