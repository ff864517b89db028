"""A tiny real training run per stage: checkpoint, log, resume, chained inputs, hypes errors."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
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


def test_train_cli_logging_to_a_file_prints_plain_progress_lines(tiny_set, tmp_path):
    # Piped (no terminal): no bar, but loading and every epoch still show, as plain lines.
    result = subprocess.run([sys.executable, "-m", "refinet_edge.cli", "train", "--hypes",
                             str(REPO / "hypes/synthetic/patch/train.json"), f"--train_dir={tiny_set}",
                             f"--save_dir={tmp_path}", "--epochs=1", "--data.batch_size=8"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    loads = [line for line in lines if line.startswith("load train: ")]
    assert loads and loads[-1].split(": ")[1].split("/")[0] == loads[-1].split("/")[1]  # ends at N/N
    assert len(loads) <= 11 and any(line.startswith("epoch 1/1: loss") for line in lines)


def test_chained_inputs_use_the_previous_stages(tiny_set, tmp_path):
    run_training(_hypes("patch", tiny_set, tmp_path))
    best = run_training(_hypes("skeleton", tiny_set, tmp_path, **{"data.from_gt": False}))
    record = json.loads((tmp_path / "skeleton.log.jsonl").read_text().splitlines()[0])
    assert {"val_input_acc_10cm", "val_patch_acc_10cm", "val_skeleton_acc_10cm"} <= set(record)
    assert best["epoch"] == 1


def test_a_transformer_skeleton_trains_resumes_and_runs_in_the_pipeline(tiny_set, tmp_path):
    from refinet_edge.checkpoint import read_stage_info
    from refinet_edge.data.itop import open_split
    from refinet_edge.pipeline import RefinementPipeline

    transformer = {"model.arch": "transformer", "model.token_size": 16, "model.num_layers": 1, "model.num_heads": 2,
                   "model.ff_size": 32, "model.flip_test": True, "data.from_gt": False}
    run_training(_hypes("patch", tiny_set, tmp_path))
    run_training(_hypes("skeleton", tiny_set, tmp_path, **transformer))
    run_training(_hypes("skeleton", tiny_set, tmp_path, epochs=2, **transformer), resume=True)
    lines = (tmp_path / "skeleton.log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert read_stage_info(tmp_path / "skeleton.safetensors").model_config.arch == "transformer"
    pipeline = RefinementPipeline.from_dir(tmp_path, stages=("patch", "skeleton"))

    with open_split(tiny_set, view="side", split="val") as ds:
        result = pipeline.run(ds.depth_batch(0, 3), ds.uv_px[:3], ds.camera)
    assert np.isfinite(result.steps["skeleton"]).all()


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


def test_chain_cache_precomputes_the_earlier_stages_outputs(tiny_set, tmp_path):
    from refinet_edge.noise import DetectorNoise
    from refinet_edge.pipeline import RefinementPipeline
    from refinet_edge.training.batches import BatchRecipe, chain_draws, make_batch
    from refinet_edge.training.frames import load_frames

    run_training(_hypes("patch", tiny_set, tmp_path))
    previous = RefinementPipeline.from_dir(tmp_path, stages=("patch",))
    store = load_frames(tiny_set, "side", "train")
    recipe = BatchRecipe("skeleton", DetectorNoise(swap_prob=0.05, outlier_prob=0.05), 42.0, False, previous.config)
    made = chain_draws(recipe, store, previous, 2, seed=3, batch=16)
    assert made.evidence is None  # this config reads no evidence
    draws = made.joints
    assert draws.shape == (2, len(store), 15, 3) and draws.dtype == np.float32
    assert not np.array_equal(draws[0], draws[1])  # two noise draws
    rng = np.random.default_rng([3, 104729, 1])  # slot 1, as chain_draws seeds it
    again = np.concatenate([previous.run(store.depth_batch(s, min(s + 16, len(store))),
                                         recipe.noise.apply_2d(store.uv_px[s:s + 16], rng), store.camera)
                            .steps["patch"] for s in range(0, len(store), 16)])
    np.testing.assert_allclose(draws[1], again, rtol=0, atol=1e-6)
    # A batch from the cache is the batch the same inputs give when made on the fly.
    idx = np.arange(4)
    cached = make_batch(recipe, store, idx, np.random.default_rng(0), previous, chained=draws[1][idx])
    from refinet_edge.stage_io import skeleton_encode, skeleton_target
    x, centre = skeleton_encode(draws[1][idx].astype(np.float64), previous.config.skeleton)
    np.testing.assert_array_equal(cached.inputs[0], x)
    np.testing.assert_allclose(cached.target, skeleton_target(x, store.joints_m[idx], centre,
                                                              previous.config.skeleton), atol=1e-6)


def test_chain_cache_evidence_equals_the_features_made_from_the_depth_maps(tiny_set, tmp_path):
    from dataclasses import replace

    from refinet_edge.noise import DetectorNoise
    from refinet_edge.pipeline import RefinementPipeline
    from refinet_edge.stage_io import SkeletonConfig
    from refinet_edge.training.batches import BatchRecipe, chain_draws, make_batch
    from refinet_edge.training.frames import load_frames, load_mixture

    run_training(_hypes("patch", tiny_set, tmp_path))
    previous = RefinementPipeline.from_dir(tmp_path, stages=("patch",))
    config = replace(previous.config, skeleton=SkeletonConfig(rays=True, evidence=True))
    recipe = BatchRecipe("skeleton", DetectorNoise(swap_prob=0.1, outlier_prob=0.1), 42.0, False, config,
                         flip_prob=0.5, limb_scale=0.2)
    store = load_frames(tiny_set, "side", "train")
    streamed = load_mixture([tiny_set], "side", "train", stream=True)
    assert streamed.streamed and not store.streamed
    made = chain_draws(recipe, store, previous, 2, seed=3, batch=16)
    again = chain_draws(recipe, streamed, previous, 2, seed=3, batch=16)  # the same draws, from disk
    assert made.evidence.shape == (2, len(store), 15, 4) and made.evidence.dtype == np.float32
    np.testing.assert_array_equal(made.joints, again.joints)
    np.testing.assert_array_equal(made.evidence, again.evidence)
    # Every batch from the cache, evidence included, is the batch made from the depth maps on the fly; the
    # streamed store is never asked for a depth map.
    idx = np.array([0, 3, 4, 17, 41])
    joints, evidence = made.slot(1)
    from_depth = make_batch(recipe, store, idx, np.random.default_rng(5), previous, chained=joints[idx])
    cached = make_batch(recipe, streamed.__class__(streamed.name, streamed.camera, None, streamed.joints_m,
                                                   streamed.uv_px, streamed.visible),
                        idx, np.random.default_rng(5), previous, chained=joints[idx], chained_evidence=evidence[idx])
    for got, want in zip(cached.inputs + (cached.target, cached.weight),
                         from_depth.inputs + (from_depth.target, from_depth.weight), strict=True):
        np.testing.assert_array_equal(got, want)


def test_streamed_training_matches_training_in_memory(tiny_set, tmp_path):
    from refinet_edge.training.run import load_train_val, streams_frames

    base = {"data.from_gt": False, "train.chain_cache": 2, "preprocess.skeleton.evidence": True,
            "preprocess.skeleton.rays": True, "epochs": 2}
    import shutil

    logs = {}
    run_training(_hypes("patch", tiny_set, tmp_path / "patch"))
    for name, stream in (("memory", False), ("streamed", True)):
        out = tmp_path / name
        shutil.copytree(tmp_path / "patch", out)
        hypes = _hypes("skeleton", tiny_set, out, **base)
        if stream:  # chosen by itself for this run
            from refinet_edge.training.run import previous_stages, settings_from_hypes

            previous = previous_stages(hypes)
            assert streams_frames(settings_from_hypes(hypes, previous), previous)
            assert load_train_val(hypes, stream=True)[0].streamed
        run_training(hypes, stream=None if stream else False)
        logs[name] = [json.loads(line) for line in (out / "skeleton.log.jsonl").read_text().splitlines()]
    for a, b in zip(logs["memory"], logs["streamed"], strict=True):
        assert a["loss"] == b["loss"] and a["val_skeleton_acc_10cm"] == b["val_skeleton_acc_10cm"]
    with np.load(tmp_path / "streamed" / "skeleton.chain-cache.npz") as cached:
        assert cached["evidence"].shape == (2, 42, 15, 4)


def test_streamed_frames_are_refused_where_every_batch_reads_depth(tiny_set, tmp_path):
    from refinet_edge.models import build_model
    from refinet_edge.training.frames import load_mixture
    from refinet_edge.training.loop import train_stage
    from refinet_edge.training.run import settings_from_hypes

    hypes = _hypes("patch", tiny_set, tmp_path)
    streamed = load_mixture([tiny_set], "side", "train", stream=True)
    with pytest.raises(RefinetError, match="streamed from disk"):
        train_stage(settings_from_hypes(hypes, None), build_model("patch", hypes.model_config), streamed,
                    streamed.subset(6))


def test_training_with_a_chain_cache(tiny_set, tmp_path):
    run_training(_hypes("patch", tiny_set, tmp_path))
    events: list[tuple[str, dict]] = []
    progress: list[tuple[str, int, int]] = []
    run_training(_hypes("skeleton", tiny_set, tmp_path, epochs=3, **{"data.from_gt": False, "train.chain_cache": 2}),
                 on_event=lambda kind, payload: events.append((kind, payload)),
                 on_progress=lambda what, done, total: progress.append((what, done, total)))
    infos = [p["message"] for k, p in events if k == "info"]
    assert any(m.startswith("chain cache: 2 noise draws") for m in infos)
    assert ("earlier stages' outputs", 2 * 42, 2 * 42) in progress  # 42 training frames (6 are validation)
    assert len((tmp_path / "skeleton.log.jsonl").read_text().splitlines()) == 3
    assert (tmp_path / "skeleton.chain-cache.npz").is_file()
    # A rerun with the same earlier stages, frames and noise reads the draws back; other noise makes new ones.
    events.clear()
    run_training(_hypes("skeleton", tiny_set, tmp_path, epochs=4, **{"data.from_gt": False, "train.chain_cache": 2}),
                 resume=True, on_event=lambda kind, payload: events.append((kind, payload)))
    assert any(p["message"].startswith("chain cache: 2 noise draws read from") for k, p in events if k == "info")
    events.clear()
    run_training(_hypes("skeleton", tiny_set, tmp_path, **{"data.from_gt": False, "train.chain_cache": 2,
                                                          "noise.sigma_px": 3.0}),
                 on_event=lambda kind, payload: events.append((kind, payload)))
    assert any("saved to" in p["message"] for k, p in events if k == "info")
    with pytest.raises(RefinetError, match="chain_cache"):
        _hypes("skeleton", tiny_set, tmp_path, **{"train.chain_cache": -1})


def test_every_stage_trains_on_the_hypes_2d_noise(tiny_set, tmp_path):
    from refinet_edge.training.run import settings_from_hypes

    for stage in ("patch", "skeleton", "pointcloud"):
        hypes = _hypes(stage, tiny_set, tmp_path, **{"noise.swap_prob": 0.1, "noise.outlier_prob": 0.2,
                                                       "noise.sigma_px": 4.0})
        noise = settings_from_hypes(hypes, None).noise
        assert (noise.sigma_px, noise.swap_prob, noise.outlier_prob) == (4.0, 0.1, 0.2), stage


def test_skeleton_flip_mirrors_input_and_target_together(tiny_set, tmp_path):
    from refinet_edge.skeleton import mirror_joints
    from refinet_edge.stage_io import skeleton_decode, skeleton_encode
    from refinet_edge.training.batches import make_batch
    from refinet_edge.training.frames import load_frames
    from refinet_edge.training.run import settings_from_hypes

    settings = settings_from_hypes(_hypes("skeleton", tiny_set, tmp_path, **{"train.flip_prob": 1.0}), None)
    assert settings.flip_prob == 1.0
    store = load_frames(tiny_set, "side", "train")
    idx = np.arange(6)
    rng = np.random.default_rng(0)
    joints_in = store.joints_m[idx] + rng.normal(0.0, 0.03, size=(6, 15, 3))
    recipe = replace(_recipe(settings), flip_prob=1.0)
    batch = make_batch(recipe, store, idx, np.random.default_rng(1), chained=joints_in)
    x, centre = skeleton_encode(mirror_joints(joints_in), settings.pipeline.skeleton)
    np.testing.assert_array_equal(batch.inputs[0], x)
    decoded = skeleton_decode(x, batch.target, centre, settings.pipeline.skeleton)
    np.testing.assert_allclose(decoded, mirror_joints(store.joints_m[idx]), atol=1e-5)
    plain = make_batch(replace(recipe, flip_prob=0.0), store, idx, np.random.default_rng(1), chained=joints_in)
    assert not np.allclose(plain.inputs[0], batch.inputs[0])
    with pytest.raises(RefinetError, match="flip_prob"):
        _hypes("skeleton", tiny_set, tmp_path, **{"train.flip_prob": 1.5})


def _recipe(settings):
    from refinet_edge.training.batches import BatchRecipe

    return BatchRecipe(settings.stage, settings.noise, settings.sigma_mm, settings.from_gt, settings.pipeline)


def test_distance_loss_is_the_mean_joint_error(tiny_set, tmp_path):
    import torch

    from refinet_edge.training.loop import _loss
    from refinet_edge.training.run import settings_from_hypes

    pred = torch.zeros(1, 3, 3)
    target = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0], [9.0, 9.0, 9.0]]])
    weight = torch.tensor([[1.0, 1.0, 0.0]])  # the third joint is not trained
    for loss, expected in (("mse", (25.0 + 1.0) / 2), ("distance", (5.0 + 1.0) / 2)):
        settings = settings_from_hypes(_hypes("pointcloud", tiny_set, tmp_path, **{"train.loss": loss}), None)
        assert settings.loss == loss
        assert _loss(pred, target, weight, [], settings).item() == pytest.approx(expected)
    with pytest.raises(RefinetError, match="train.loss"):
        _hypes("skeleton", tiny_set, tmp_path, **{"train.loss": "l3"})


def test_chain_cache_key_ignores_this_stages_own_settings(tiny_set, tmp_path):
    from refinet_edge.pipeline import RefinementPipeline
    from refinet_edge.training.frames import load_frames
    from refinet_edge.training.loop import chain_cache_key
    from refinet_edge.training.run import settings_from_hypes

    store = load_frames(tiny_set, "side", "train")
    previous = RefinementPipeline({"patch": lambda patches: patches[..., :2, 0]})

    def key(**extra):
        hypes = _hypes("pointcloud", tiny_set, tmp_path, **{"train.chain_cache": 2, **extra})
        return chain_cache_key(settings_from_hypes(hypes, None), store, previous)

    base = key()
    assert key(**{"preprocess.points.passes": 3, "epochs": 3, "train.loss": "distance"}) == base
    assert key(**{"noise.sigma_px": 3.0}) != base
    assert key(**{"train.chain_cache": 3}) != base


@pytest.mark.parametrize("stage", ["skeleton", "pointcloud"])
def test_training_loss_falls(tiny_set, tmp_path, stage):
    """From fresh weights, six epochs on the tiny set: the last epoch's mean loss is well under the first's."""
    run_training(_hypes(stage, tiny_set, tmp_path, epochs=6))
    losses = [json.loads(line)["loss"] for line in (tmp_path / f"{stage}.log.jsonl").read_text().splitlines()]
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.fixture(scope="module")
def wide_camera_sets(tmp_path_factory) -> Path:
    """Two tiny sets at another camera (640x480): a train split and a test split."""
    out = tmp_path_factory.mktemp("wide_camera")
    for split, frames in (("train", 32), ("test", 12)):
        subprocess.run([sys.executable, "-m", "refinet_edge.cli", "synth", "--out", str(out), "--split", split,
                        "--frames", str(frames), "--seed", "12", "--workers", "1", "--camera", "d435_640x480"],
                       check=True, capture_output=True)
    return out


def test_train_dir_list_concatenates_and_extra_val_is_logged_not_selected(tiny_set, wide_camera_sets, tmp_path):
    from refinet_edge.training.run import load_train_val

    one, _ = load_train_val(_hypes("skeleton", tiny_set, tmp_path))
    both, val = load_train_val(_hypes("skeleton", tiny_set, tmp_path, train_dir=[str(tiny_set), str(tiny_set)]))
    assert len(both) == 2 * len(one) and np.array_equal(both.joints_m[len(one):], one.joints_m)
    assert len(val) > 0
    h = _hypes("skeleton", tiny_set, tmp_path, epochs=2, **{"train.extra_val_dirs": [str(wide_camera_sets)],
                                                           "train.extra_val_every": 2})
    best = run_training(h)
    records = [json.loads(line) for line in (tmp_path / "skeleton.log.jsonl").read_text().splitlines()]
    extra = f"extra_{wide_camera_sets.name}_skeleton_acc_10cm"
    assert extra not in records[0] and 0.0 <= records[1][extra] <= 100.0  # every 2nd epoch only
    assert best["acc_10cm"] == max(r["val_skeleton_acc_10cm"] for r in records)  # the best is chosen on val


def test_load_mixture_reads_each_directory_in_order_into_one_array(tiny_set, tmp_path):
    from refinet_edge.training.frames import load_frames, load_mixture

    one = load_frames(tiny_set, "side", "train")
    seen: list[tuple[int, int]] = []
    both = load_mixture([tiny_set, tiny_set], "side", "train", on_progress=lambda d, t: seen.append((d, t)))
    n = len(one)
    assert both.name == f"{one.name}+{one.name}" and len(both) == 2 * n
    for f in ("depth_f16", "joints_m", "uv_px", "visible"):
        assert np.array_equal(getattr(both, f)[:n], getattr(one, f), equal_nan=True)
        assert np.array_equal(getattr(both, f)[n:], getattr(one, f), equal_nan=True)
    assert seen[-1] == (2 * n, 2 * n) and all(t == 2 * n for _, t in seen)  # progress over the whole mixture
    limited = load_mixture([tiny_set, tiny_set], "side", "train", limit=5)
    assert len(limited) == 10 and np.array_equal(limited.joints_m[5:], one.joints_m[:5])


def test_train_dirs_with_different_cameras_are_a_user_error(tiny_set, wide_camera_sets, tmp_path):
    h = _hypes("skeleton", tiny_set, tmp_path, train_dir=[str(tiny_set), str(wide_camera_sets)])
    with pytest.raises(RefinetError, match="another camera"):
        run_training(h)


def test_init_from_widens_the_skeleton_input_so_outputs_start_unchanged(tmp_path):
    import torch

    from refinet_edge.checkpoint import load_stage, save_stage
    from refinet_edge.models import build_model, preset_config
    from refinet_edge.training.init import init_from_checkpoint

    config = replace(preset_config("skeleton", "edge"), input_features=5)  # the v7 inputs: x, y, z and two rays
    v7_like = tmp_path / "skeleton.safetensors"
    save_stage(v7_like, "skeleton", build_model("skeleton", config), config,
               preprocess={"mode": "metric", "rays": True}, extra={}, dtype="fp32")
    source, info = load_stage(v7_like)
    wide_config = replace(info.model_config, input_features=9)  # + the four evidence features
    model = build_model("skeleton", wide_config)
    message = init_from_checkpoint(model, v7_like, "skeleton")
    assert "widened" in message
    model.eval()
    x = torch.randn(6, 15, 5)
    evidence = torch.randn(6, 15, 4)  # any evidence: its weights start at zero
    with torch.no_grad():
        assert torch.allclose(model(torch.cat([x, evidence], -1)), source(x), atol=1e-5)
        model.input[0].weight[0, 5] = 1.0  # an evidence column of joint 0: now it matters
        assert not torch.allclose(model(torch.cat([x, evidence], -1)), source(x), atol=1e-5)
    narrow = build_model("skeleton", replace(info.model_config, linear_size=info.model_config.linear_size // 2))
    with pytest.raises(RefinetError, match="input layer"):
        init_from_checkpoint(narrow, v7_like, "skeleton")


def _heatmap_patch_checkpoint(tmp_path, widths=(8, 16, 32)):
    """A heatmap patch net with every weight and batch-norm statistic random (a fresh net's head is zero, whose
    flat maps would hide a wrong widening), saved in fp32."""
    import torch

    from refinet_edge.checkpoint import save_stage
    from refinet_edge.models import build_model, preset_config

    config = preset_config("patch", "edge", heatmap_channels=widths)
    net = build_model("patch", config)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("running_var") or name.endswith("bn.weight"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            elif tensor.is_floating_point():  # the head small, as trained ones are: peaked maps flip on any noise
                scale = 0.05 if name.startswith("head") else 0.3
                tensor.copy_(scale * torch.randn(tensor.shape, generator=gen))
    path = tmp_path / "patch.safetensors"
    save_stage(path, "patch", net, config, preprocess={"mode": "metric"}, extra={}, dtype="fp32")
    return path, net


@pytest.mark.parametrize("wide", [(16, 32, 64), (12, 20, 40)])  # every channel copied twice; some once, some twice
def test_widened_heatmap_patch_net_computes_what_the_narrow_one_did(tmp_path, wide):
    import torch

    from refinet_edge.models import build_model, preset_config
    from refinet_edge.training.init import init_from_checkpoint, widen_heatmap_patch

    path, narrow = _heatmap_patch_checkpoint(tmp_path)
    model = build_model("patch", preset_config("patch", "edge", heatmap_channels=wide))
    patches = torch.rand(5, 15, 40, 40, generator=torch.Generator().manual_seed(4)) * 2 - 1
    exact = widen_heatmap_patch(narrow.state_dict(), model.state_dict(), noise=0.0)
    model.load_state_dict(exact)
    for mode in ("eval", "train"):  # train: batch statistics, which copies of a channel share too
        getattr(narrow, mode)(), getattr(model, mode)()
        with torch.no_grad():
            assert torch.allclose(model(patches), narrow(patches), atol=1e-4)

    message = init_from_checkpoint(model, path, "patch", seed=1)  # with the symmetry-breaking noise
    assert f"widened [8, 16, 32] -> {list(wide)}" in message
    narrow.eval(), model.eval()
    with torch.no_grad():
        diff = (model(patches) - narrow(patches)).abs().max().item()
    assert 0.0 < diff < 0.05 * narrow(patches).abs().max().item()  # cells
    first = model.trunk[0].weight
    assert not torch.equal(first[8], first[0])  # a copy's filter is no longer its original's


def test_a_patch_net_can_only_be_widened_from_a_heatmap_net(tmp_path):
    from refinet_edge.models import build_model, preset_config
    from refinet_edge.training.init import init_from_checkpoint

    path, _ = _heatmap_patch_checkpoint(tmp_path, widths=(16, 32, 64))
    narrower = build_model("patch", preset_config("patch", "edge", heatmap_channels=(16, 16, 64)))
    with pytest.raises(RefinetError, match=r"cannot shrink to \[16, 16, 64\]"):
        init_from_checkpoint(narrower, path, "patch")
    from refinet_edge.checkpoint import save_stage

    stacked = tmp_path / "stacked"
    stacked.mkdir()
    config = preset_config("patch", "published")
    save_stage(stacked / "patch.safetensors", "patch", build_model("patch", config), config,
               preprocess={"mode": "metric"}, extra={}, dtype="fp32")
    with pytest.raises(RefinetError, match="another architecture"):
        init_from_checkpoint(narrower, stacked / "patch.safetensors", "patch")


def test_training_a_wider_patch_net_from_a_narrow_checkpoint_round_trips(tiny_set, tmp_path):
    from refinet_edge.checkpoint import load_stage

    (tmp_path / "narrow").mkdir()
    path, _ = _heatmap_patch_checkpoint(tmp_path / "narrow")
    events = []
    run_training(_hypes("patch", tiny_set, tmp_path / "run", **{"model.heatmap_channels": [12, 24, 48],
                                                                 "train.init_from": str(path)}),
                 on_event=lambda kind, payload: events.append(payload))
    assert any("widened [8, 16, 32] -> [12, 24, 48]" in e.get("message", "") for e in events)
    model, info = load_stage(tmp_path / "run" / "patch.safetensors", expect_stage="patch")
    assert tuple(info.model_config.heatmap_channels) == (12, 24, 48)
    assert model.trunk[0].weight.shape[0] == 12


def _pointcloud_checkpoint(tmp_path, channels=(8, 16, 32), head=16):
    """A small STN-free point-cloud net with every weight and batch-norm statistic random, saved in fp32."""
    import torch

    from refinet_edge.checkpoint import save_stage
    from refinet_edge.models import build_model, preset_config

    config = preset_config("pointcloud", "edge", conv_channels=channels, head_size=head, num_points=32,
                           joint_embedding=True)
    net = build_model("pointcloud", config)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            elif tensor.is_floating_point():
                tensor.copy_(0.3 * torch.randn(tensor.shape, generator=gen))
    path = tmp_path / "pointcloud.safetensors"
    save_stage(path, "pointcloud", net, config, preprocess={"mode": "metric", "num_points": 32}, extra={},
               dtype="fp32")
    return path, net


@pytest.mark.parametrize("wide", [((16, 32, 64), 32), ((8, 24, 40), 20)])  # all doubled; some copied, some not
def test_widened_pointcloud_net_computes_what_the_narrow_one_did(tmp_path, wide):
    import torch

    from refinet_edge.models import build_model, preset_config
    from refinet_edge.training.init import init_from_checkpoint, widen_pointcloud

    path, narrow = _pointcloud_checkpoint(tmp_path)
    channels, head = wide
    model = build_model("pointcloud", preset_config("pointcloud", "edge", conv_channels=channels, head_size=head,
                                                    num_points=32, joint_embedding=True))
    gen = torch.Generator().manual_seed(6)
    points = torch.randn(4, 15, 32, 3, generator=gen)
    counts = torch.randint(0, 33, (4, 15), generator=gen).float()
    counts[0, 0] = 0  # a joint without points: the head's "no evidence" answer must survive too
    model.load_state_dict(widen_pointcloud(narrow.state_dict(), model.state_dict(), noise=0.0))
    narrow.eval(), model.eval()
    with torch.no_grad():
        reference = narrow(points, counts)
        assert torch.allclose(model(points, counts), reference, atol=1e-5)

    message = init_from_checkpoint(model, path, "pointcloud", seed=1)  # with the symmetry-breaking noise
    assert f"widened [8, 16, 32, 16] -> {[*channels, head]}" in message
    model.eval()
    with torch.no_grad():
        diff = (model(points, counts) - reference).abs().max().item()
    assert 0.0 < diff < 0.05 * reference.abs().max().item()
    assert not torch.equal(model.conv3[0].weight[32], model.conv3[0].weight[0])  # the copy moved off its original


def test_a_pointcloud_net_can_only_be_widened(tmp_path):
    from refinet_edge.models import build_model, preset_config
    from refinet_edge.training.init import init_from_checkpoint

    path, _ = _pointcloud_checkpoint(tmp_path)
    narrower = build_model("pointcloud", preset_config("pointcloud", "edge", conv_channels=(8, 16, 16), head_size=32,
                                                       num_points=32, joint_embedding=True))
    with pytest.raises(RefinetError, match=r"cannot shrink to \[8, 16, 16, 32\]"):
        init_from_checkpoint(narrower, path, "pointcloud")
    with_stn = build_model("pointcloud", preset_config("pointcloud", "edge", conv_channels=(8, 16, 64), head_size=16,
                                                       num_points=32, joint_embedding=True, input_transform=True))
    with pytest.raises(RefinetError, match="without STNs"):
        init_from_checkpoint(with_stn, path, "pointcloud")


def test_training_a_wider_pointcloud_net_from_a_narrow_checkpoint_round_trips(tiny_set, tmp_path):
    from refinet_edge.checkpoint import load_stage

    (tmp_path / "narrow").mkdir()
    path, _ = _pointcloud_checkpoint(tmp_path / "narrow")
    events = []
    run_training(_hypes("pointcloud", tiny_set, tmp_path / "run",
                        **{"model.preset": "edge", "model.joint_embedding": True, "model.conv_channels": [8, 16, 48],
                           "model.head_size": 24, "train.init_from": str(path)}),
                 on_event=lambda kind, payload: events.append(payload))
    assert any("widened [8, 16, 32, 16] -> [8, 16, 48, 24]" in e.get("message", "") for e in events)
    model, info = load_stage(tmp_path / "run" / "pointcloud.safetensors", expect_stage="pointcloud")
    assert tuple(info.model_config.conv_channels) == (8, 16, 48) and info.model_config.head_size == 24
    assert model.head[0].weight.shape == (24, 48)


def test_patch_evidence_trains_behind_a_chain_cache_and_round_trips(tiny_set, tmp_path):
    """Round 16: the chain cache holds the four evidence features and the patch net's five, a mirrored sample's
    patch evidence is mirrored with it, and a skeleton trained with them loads and runs in the pipeline."""
    import subprocess as sp

    from refinet_edge.pipeline import RefinementPipeline
    from refinet_edge.stage_io import mirror_evidence
    from refinet_edge.training.batches import chain_draws, make_batch
    from refinet_edge.training.frames import load_frames
    from refinet_edge.training.run import settings_from_hypes

    run_training(_hypes("patch", tiny_set, tmp_path))
    script = REPO / "scripts/set_preprocess.py"
    done = sp.run([sys.executable, str(script), str(tmp_path / "patch.safetensors"), "model.moments=true"],
                  capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    options = {"data.from_gt": False, "train.chain_cache": 2, "train.flip_prob": 1.0,
               "preprocess.skeleton": {"mode": "metric", "rays": True, "evidence": True, "patch_evidence": True}}
    hypes = _hypes("skeleton", tiny_set, tmp_path, **options)
    assert hypes.model_config.input_features == 14
    previous = RefinementPipeline.from_dir(tmp_path, stages=("patch",))
    settings = settings_from_hypes(hypes, previous)
    store = load_frames(tiny_set, "side", "train")
    made = chain_draws(_recipe(settings), store, previous, 2, seed=3, batch=16)
    assert made.evidence.shape == (2, len(store), 15, 9)
    rng = np.random.default_rng([3, 104729, 0])  # slot 0, as chain_draws seeds it
    first = previous.run(store.depth_batch(0, 16), settings.noise.apply_2d(store.uv_px[:16], rng), store.camera)
    np.testing.assert_allclose(made.evidence[0, :16, :, 4:], first.patch_evidence, atol=1e-6)
    idx = np.arange(6)
    joints, evidence = made.slot(0)
    flipped = make_batch(replace(_recipe(settings), flip_prob=1.0), store, idx, np.random.default_rng(1),
                         chained=joints[idx], chained_evidence=evidence[idx])
    np.testing.assert_array_equal(flipped.inputs[0][..., 5:],
                                  mirror_evidence(evidence[idx], settings.pipeline.skeleton))
    with pytest.raises(RefinetError, match="patch evidence trains behind a chain cache only"):
        make_batch(_recipe(settings), store, idx, np.random.default_rng(1), previous)
    best = run_training(hypes)
    assert 0.0 <= best["acc_10cm"] <= 100.0
    pipeline = RefinementPipeline.from_dir(tmp_path, stages=("patch", "skeleton"))
    assert pipeline.config.skeleton.patch_evidence
    result = pipeline.run(store.depth_batch(0, 2), store.uv_px[:2], store.camera)
    assert np.isfinite(result.steps["skeleton"]).all() and result.patch_evidence.shape == (2, 15, 5)


def test_joint_dropout_removes_inputs_as_missing_joints_and_keeps_targets(tiny_set, tmp_path):
    from refinet_edge.stage_io import SkeletonConfig, skeleton_decode, skeleton_encode
    from refinet_edge.training.batches import make_batch
    from refinet_edge.training.frames import load_frames
    from refinet_edge.training.run import settings_from_hypes

    hypes = _hypes("skeleton", tiny_set, tmp_path, **{"train.joint_dropout": 0.3, "preprocess.skeleton": {
        "mode": "metric", "rays": True, "evidence": True}})
    settings = settings_from_hypes(hypes, None)
    assert settings.joint_dropout == 0.3
    store = load_frames(tiny_set, "side", "train")
    idx = np.arange(8)
    joints_in = store.joints_m[idx] + np.random.default_rng(0).normal(0.0, 0.03, size=(8, 15, 3))
    evidence = np.ones((8, 15, 4), np.float32)
    recipe = replace(_recipe(settings), joint_dropout=0.3)
    batch = make_batch(recipe, store, idx, np.random.default_rng(1), chained=joints_in, chained_evidence=evidence)
    x = batch.inputs[0]
    dropped = np.all(x == 0.0, axis=-1)  # coordinates, rays and evidence all zero: a missing joint
    assert 0.15 < dropped.mean() < 0.45
    kept = ~dropped
    np.testing.assert_array_equal(x[..., 5:][kept], 1.0)
    # the targets still decode to the truth, dropped joints included (from the centre of the joints kept)
    cfg = SkeletonConfig(rays=True, evidence=True)
    masked = np.where(dropped[..., None], np.nan, joints_in)
    xm, centre = skeleton_encode(masked, cfg)
    np.testing.assert_allclose(skeleton_decode(xm, batch.target, centre, cfg), store.joints_m[idx], atol=1e-5)
    assert batch.weight.all()
    for bad in (1.0, -0.1):
        with pytest.raises(RefinetError, match="joint_dropout"):
            _hypes("skeleton", tiny_set, tmp_path, **{"train.joint_dropout": bad})


def test_hidden_weight_weighs_the_labels_hidden_joints_mirrored_with_the_sample(tiny_set, tmp_path):
    from refinet_edge.skeleton import flip_left_right
    from refinet_edge.training.batches import make_batch
    from refinet_edge.training.frames import load_frames
    from refinet_edge.training.run import settings_from_hypes

    hypes = _hypes("skeleton", tiny_set, tmp_path, **{"train.hidden_weight": 3.0})
    settings = settings_from_hypes(hypes, None)
    assert settings.hidden_weight == 3.0
    store = load_frames(tiny_set, "side", "train")
    idx = np.arange(16)
    joints_in = store.joints_m[idx] + np.random.default_rng(0).normal(0.0, 0.03, size=(16, 15, 3))
    visible = store.visible[idx]
    assert 0.0 < visible.mean() < 1.0  # the generated frames have hidden joints to weigh
    for flip_prob, seen in ((0.0, visible), (1.0, flip_left_right(visible[..., None])[..., 0])):
        recipe = replace(_recipe(settings), hidden_weight=3.0, flip_prob=flip_prob)
        batch = make_batch(recipe, store, idx, np.random.default_rng(1), chained=joints_in)
        np.testing.assert_array_equal(batch.weight, np.where(seen, 1.0, 3.0))
        plain = make_batch(replace(recipe, hidden_weight=1.0), store, idx, np.random.default_rng(1), chained=joints_in)
        np.testing.assert_array_equal(plain.inputs[0], batch.inputs[0])  # the inputs and targets are the same
        np.testing.assert_array_equal(plain.target, batch.target)
        assert plain.weight.all() and (plain.weight == 1.0).all()
    assert settings_from_hypes(_hypes("patch", tiny_set, tmp_path, **{"train.hidden_weight": 3.0}),
                               None).hidden_weight == 1.0  # the skeleton's option only
    for bad in (0.0, -1.0, 101.0):
        with pytest.raises(RefinetError, match="hidden_weight"):
            _hypes("skeleton", tiny_set, tmp_path, **{"train.hidden_weight": bad})
