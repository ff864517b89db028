"""Stage checkpoints (safetensors) and the --resume training state."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file, save_file  # noqa: E402

from refinet_edge.checkpoint import (  # noqa: E402
    load_stage,
    load_training_state,
    read_stage_info,
    save_stage,
    save_training_state,
)
from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.models import STAGES, build_model, preset_config  # noqa: E402

SMALL = {
    "patch": preset_config("patch", "edge", stage_channels=(16, 32), stem_channels=16, fc_size=32),
    "skeleton": preset_config("skeleton", "edge", linear_size=64),
    "pointcloud": preset_config("pointcloud", "published", num_points=32, conv_channels=(16, 32, 64), head_size=16),
}
PREPROCESS = {"mode": "metric", "num_points": 32, "cube_side_m": 0.3}
EXTRA = {"acc_10cm": 81.5, "epoch": 11, "hypes": {"data": {"batch_size": 64}}}


def _trained(stage: str) -> torch.nn.Module:
    """A model with non-trivial BN statistics (one train-mode pass)."""
    torch.manual_seed(0)
    config = SMALL[stage]
    model = build_model(stage, config).train()
    with torch.no_grad():
        if stage == "patch":
            model(torch.randn(4, 15, 40, 40) * 2 + 1)
        elif stage == "skeleton":
            model(torch.randn(4, 15, 3) * 2 + 1)
        else:
            model(torch.randn(4, 15, 32, 3) * 2 + 1, torch.full((4, 15), 20.0))
    return model.eval()


@pytest.mark.parametrize("stage", STAGES)
def test_fp32_round_trip_is_exact(stage: str, tmp_path: Path) -> None:
    model = _trained(stage)
    path = tmp_path / f"{stage}.safetensors"
    sha = save_stage(path, stage, model, SMALL[stage], preprocess=PREPROCESS, extra=EXTRA, dtype="fp32")
    loaded, info = load_stage(path, expect_stage=stage)
    assert not loaded.training
    saved = model.state_dict()
    for key, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, saved[key]), key
    assert sha == info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == [f"{stage}.safetensors"]  # no temporary file left


def test_fp16_round_trip_within_tolerance_and_metadata(tmp_path: Path) -> None:
    model = _trained("pointcloud")
    path = tmp_path / "pointcloud.safetensors"
    save_stage(path, "pointcloud", model, SMALL["pointcloud"], preprocess=PREPROCESS, extra=EXTRA)
    stored = load_file(str(path))
    assert stored["conv1.0.weight"].dtype == torch.float16
    assert stored["conv1.1.num_batches_tracked"].dtype == torch.int64  # kept as is
    loaded, info = load_stage(path)
    saved = model.state_dict()
    for key, tensor in loaded.state_dict().items():
        assert tensor.dtype == saved[key].dtype
        torch.testing.assert_close(tensor, saved[key], rtol=1e-3, atol=1e-7)
    assert (info.stage, info.model_config, info.preprocess, info.extra, info.dtype) == (
        "pointcloud", SMALL["pointcloud"], PREPROCESS, EXTRA, "fp16")
    assert info.version and read_stage_info(path) == info
    points, counts = torch.randn(2, 15, 32, 3), torch.full((2, 15), 32.0)
    with torch.no_grad():
        torch.testing.assert_close(loaded(points, counts), model(points, counts), rtol=1e-2, atol=1e-2)


def test_shape_mismatch_names_the_tensor_and_both_shapes(tmp_path: Path) -> None:
    path = tmp_path / "pointcloud.safetensors"
    save_stage(path, "pointcloud", _trained("pointcloud"), SMALL["pointcloud"], preprocess={}, extra={})
    other = preset_config("pointcloud", "published", num_points=32, conv_channels=(8, 32, 64), head_size=16)
    with pytest.raises(RefinetError) as err:
        load_stage(path, model_config=other)
    assert str(err.value) == (
        "pointcloud.safetensors: tensor input_transform.convs.0.0.weight has shape (16, 3, 1) "
        "but the configured model expects (8, 3, 1)"
    )


def test_missing_and_unexpected_tensors_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "skeleton.safetensors"
    save_stage(path, "skeleton", _trained("skeleton"), SMALL["skeleton"], preprocess={}, extra={})
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    tensors["extra.weight"] = tensors.pop("output.weight")
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(RefinetError, match="missing tensors output.weight; unexpected tensors extra.weight"):
        load_stage(path)


def test_wrong_stage_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "skeleton.safetensors"
    save_stage(path, "skeleton", _trained("skeleton"), SMALL["skeleton"], preprocess={}, extra={})
    with pytest.raises(RefinetError, match="holds the 'skeleton' stage, expected 'pointcloud'"):
        load_stage(path, expect_stage="pointcloud")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(RefinetError, match="truncated.safetensors: not a readable safetensors file"):
        load_stage(truncated)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(RefinetError, match="not a readable safetensors file"):
        load_stage(junk)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(RefinetError, match="not a refinet-edge stage checkpoint"):
        load_stage(foreign)
    with pytest.raises(RefinetError, match="absent.safetensors: no such checkpoint file"):
        load_stage(tmp_path / "absent.safetensors")


def test_save_rejects_bad_arguments(tmp_path: Path) -> None:
    model = _trained("skeleton")
    with pytest.raises(RefinetError, match="dtype must be one of fp16, fp32"):
        save_stage(tmp_path / "s.safetensors", "skeleton", model, SMALL["skeleton"], preprocess={}, extra={},
                   dtype="int8")
    with pytest.raises(RefinetError, match="JSON-serialisable"):
        save_stage(tmp_path / "s.safetensors", "skeleton", model, SMALL["skeleton"], preprocess={}, extra={"x": {1, 2}})
    with pytest.raises(RefinetError, match="tensor input.0.weight has shape"):
        save_stage(tmp_path / "s.safetensors", "skeleton", model, preset_config("skeleton", "edge"), preprocess={},
                   extra={})
    assert list(tmp_path.iterdir()) == []


def test_training_state_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("skeleton", SMALL["skeleton"]).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [2, 4], gamma=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(8, 15, 3)).square().mean().backward()
        optimizer.step()
        scheduler.step()
    noise_rng = np.random.default_rng(7)
    noise_rng.random(5)
    path = tmp_path / "state.pt"
    save_training_state(path, stage="skeleton", model=model, optimizer=optimizer, scheduler=scheduler, epoch=3,
                        best=0.42, generators={"noise": noise_rng}, extra={"hypes": {"epochs": 9}})
    expected = (torch.rand(3), random.random(), np.random.rand(), noise_rng.random())

    state = load_training_state(path)
    assert (state.stage, state.epoch, state.best, state.extra) == ("skeleton", 3, 0.42, {"hypes": {"epochs": 9}})
    fresh = build_model("skeleton", SMALL["skeleton"])
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    fresh_sched = torch.optim.lr_scheduler.MultiStepLR(fresh_opt, [2, 4], gamma=0.1)
    fresh_rng = np.random.default_rng(0)
    state.restore(fresh, fresh_opt, fresh_sched, {"noise": fresh_rng})
    for key, tensor in fresh.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[key]), key
    assert fresh_sched.last_epoch == 3 and fresh_opt.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert fresh_opt.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    again = (torch.rand(3), random.random(), np.random.rand(), fresh_rng.random())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]


def test_training_state_accepts_state_dicts_and_item_access(tmp_path: Path) -> None:
    model = _trained("skeleton")
    optimizer = torch.optim.Adam(model.parameters())
    best = {"acc_10cm": 71.5, "epoch": 2, "mpjpe_mm": 90.1}
    path = tmp_path / "state.pt"
    save_training_state(path, model=model.state_dict(), optimizer=optimizer.state_dict(), epoch=2, best=best)
    state = load_training_state(path)
    assert state["epoch"] == 2 and state["best"] == best and state["stage"] is None and state["scheduler"] is None
    assert all(torch.equal(state["model"][k], v) for k, v in model.state_dict().items())
    with pytest.raises(KeyError):
        state["nope"]


def test_training_state_errors(tmp_path: Path) -> None:
    with pytest.raises(RefinetError, match="no such training-state file"):
        load_training_state(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"garbage")
    with pytest.raises(RefinetError, match="not a readable training-state file"):
        load_training_state(junk)
    path = tmp_path / "state.pt"
    save_training_state(path, stage="skeleton", model=_trained("skeleton"), epoch=1)
    with pytest.raises(RefinetError, match="has shape"):
        load_training_state(path).restore(build_model("skeleton", preset_config("skeleton", "edge")))
