"""The hypes loader: shipped files, error messages, overrides, resolution rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.hypes import dump_hypes, load_hypes, parse_overrides

HYPES_DIR = Path(__file__).resolve().parents[1] / "hypes"
SHIPPED = sorted(HYPES_DIR.glob("*/*/train.json"))
MINIMAL = {"train_dir": "data/synth", "epochs": 2, "data": {"type": "patch"}}


def _write(tmp_path: Path, obj: object, name: str = "hypes.json") -> Path:
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, indent=2), encoding="utf-8")
    return path


def test_nine_files_are_shipped() -> None:
    assert [p.relative_to(HYPES_DIR).parts[:2] for p in SHIPPED] == [
        (d, s) for d in ("baracca", "itop", "synthetic") for s in ("patch", "pointcloud", "skeleton")
    ]


@pytest.mark.parametrize("path", sorted(set(HYPES_DIR.glob("*/*/*.json")) - set(SHIPPED)),
                         ids=lambda p: "/".join(p.parts[-2:]))
def test_every_recipe_loads_and_names_its_stage(path: Path) -> None:
    # The training recipes beside train.json (the shipped weights' runs, the model card's commands).
    hypes = load_hypes(path)
    assert hypes.stage == path.parent.name and hypes.model_config is not None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: "/".join(p.parts[-3:-1]))
def test_every_shipped_file_loads_and_round_trips(path: Path, tmp_path: Path) -> None:
    hypes = load_hypes(path)
    assert hypes.stage == path.parent.name
    assert hypes.model_config is not None
    again = load_hypes(_write(tmp_path, hypes.to_dict()))
    assert again.values == hypes.values and again.model_config == hypes.model_config
    json.dumps(dump_hypes(hypes))


@pytest.mark.parametrize(
    ("stage", "epochs", "decay", "batch", "noise_key", "sigma"),
    [
        ("patch", 30, (10, 20), 64, "sigma_px", 5),
        ("skeleton", 100, (50, 75), 64, "sigma_px", 50),
        ("pointcloud", 50, (20, 40), 8, "sigma_mm", 42),
    ],
)
def test_itop_files_reproduce_the_paper(stage, epochs, decay, batch, noise_key, sigma) -> None:
    hypes = load_hypes(HYPES_DIR / "itop" / stage / "train.json")
    assert (hypes.epochs, hypes.solver.decay_steps, hypes.data.batch_size) == (epochs, decay, batch)
    assert (hypes.solver.type, hypes.solver.base_lr, hypes.solver.weight_decay, hypes.solver.gamma) == (
        "Adam", 0.001, 0.0001, 0.1)
    assert hypes.noise[noise_key] == sigma
    assert hypes.model.preset == "published" and hypes.preprocess.mode == "authors"
    baracca = load_hypes(HYPES_DIR / "baracca" / stage / "train.json")
    assert baracca.offset is True and hypes.offset is False
    if stage == "skeleton":
        assert (hypes.network.alpha, hypes.network.beta, hypes.network.gamma) == (1, 0, 0)
        assert (baracca.network.alpha, baracca.network.beta, baracca.network.gamma) == (0.1, 1, 1)


def test_synthetic_files_use_our_defaults() -> None:
    for stage in ("patch", "skeleton", "pointcloud"):
        hypes = load_hypes(HYPES_DIR / "synthetic" / stage / "train.json")
        assert (hypes.model.preset, hypes.preprocess.mode, hypes.train_dir) == ("edge", "metric", "data/synth")
    # The shipped skeleton stage: the edge preset (512) with the published width 1024 set in the file.
    skeleton = load_hypes(HYPES_DIR / "synthetic" / "skeleton" / "train.json")
    assert skeleton.model_config.linear_size == 1024 and skeleton.model_config.input_features == 5
    assert load_hypes(HYPES_DIR / "synthetic" / "skeleton" / "train.json", {"model.linear_size": 512}).model_config \
        .linear_size == 512


def test_authors_names_and_aliases(tmp_path: Path) -> None:
    pairs = (("depth", "patch"), ("base", "skeleton"), ("pcloud", "pointcloud"), ("pointcloud", "pointcloud"))
    for given, stage in pairs:
        hypes = load_hypes(_write(tmp_path, {**MINIMAL, "dataset": "itop", "data": {"type": given}}))
        assert hypes.stage == stage and hypes.data.type == stage and hypes.dataset == "ITOP"


def test_unknown_key_names_file_path_and_hint(tmp_path: Path) -> None:
    path = _write(tmp_path, {**MINIMAL, "data": {"type": "patch", "batchsize": 8}})
    with pytest.raises(RefinetError) as err:
        load_hypes(path)
    message = str(err.value)
    assert str(path) in message and "'data.batchsize'" in message and "did you mean 'batch_size'" in message
    assert "\n" not in message
    with pytest.raises(RefinetError, match=r"unknown key 'batch_size' \(it belongs in data.batch_size\)"):
        load_hypes(_write(tmp_path, {**MINIMAL, "batch_size": 8}))
    with pytest.raises(RefinetError, match="'preprocess.points.num_pts'.*did you mean 'num_points'"):
        load_hypes(_write(tmp_path, {**MINIMAL, "preprocess": {"points": {"num_pts": 3}}}))


def test_wrong_type_names_key_file_expected_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path, {**MINIMAL, "data": {"type": "patch", "batch_size": "64"}})
    with pytest.raises(RefinetError) as err:
        load_hypes(path)
    assert str(err.value) == f'{path}: data.batch_size must be an integer, got "64"'
    with pytest.raises(RefinetError, match="solver.base_lr must be a number, got true"):
        load_hypes(_write(tmp_path, {**MINIMAL, "solver": {"base_lr": True}}))
    with pytest.raises(RefinetError, match="'data' must be an object"):
        load_hypes(_write(tmp_path, {**MINIMAL, "data": 3}))
    with pytest.raises(RefinetError, match="side must be one of side, top, got 'front'"):
        load_hypes(_write(tmp_path, {**MINIMAL, "side": "front"}))
    with pytest.raises(RefinetError, match="noise.swap_prob must be a probability"):
        load_hypes(_write(tmp_path, {**MINIMAL, "noise": {"swap_prob": 2}}))
    with pytest.raises(RefinetError, match="model.num_points is not a field of the patch model"):
        load_hypes(_write(tmp_path, {**MINIMAL, "model": {"num_points": 3}}))


def test_json_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '{\n  "epochs": 3,\n  "data": {"type": "patch",}\n}\n')
    with pytest.raises(RefinetError, match=rf"{path}: invalid JSON at line 3, column \d+"):
        load_hypes(path)


def test_missing_file_and_missing_key(tmp_path: Path) -> None:
    with pytest.raises(RefinetError, match="nope.json: hypes file not found"):
        load_hypes(tmp_path / "nope.json")
    with pytest.raises(RefinetError, match="missing required key 'epochs'"):
        load_hypes(_write(tmp_path, {"train_dir": "x", "data": {"type": "patch"}}))


def test_overrides_leaf_dotted_equals_and_json_values(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    hypes = load_hypes(path, ["--batch_size", "32", "--solver.decay_steps", "[3, 5]", "--from_gt=false",
                              "--name=my run", "--data.type", "depth", "--train_frames", "null"])
    assert (hypes.data.batch_size, hypes.solver.decay_steps, hypes.data.from_gt) == (32, (3, 5), False)
    assert (hypes.name, hypes.stage, hypes.train.train_frames) == ("my run", "patch", None)
    assert load_hypes(path, {"data.batch_size": 16, "epochs": 9}).data.batch_size == 16
    assert load_hypes(path, ["--preprocess.patch.metric_side_m", "0.5"]).preprocess.patch["metric_side_m"] == 0.5
    assert parse_overrides(["--mu_px", "-1"]) == {"mu_px": -1}


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        (["--gamma", "0.5"], "--gamma is ambiguous; use one of: --solver.gamma, --network.gamma"),
        (["--batchsize", "3"], "no such hypes key.*did you mean 'batch_size'"),
        (["--foo.bar", "3"], "no hypes section 'foo'"),
        (["--batch_size", "many"], 'override --batch_size: data.batch_size must be an integer, got "many"'),
        (["--batch_size"], "needs a value"),
        (["batch_size", "3"], "expected --key value"),
        (["--epochs", "0"], "epochs must be an integer >= 1"),
    ],
)
def test_override_errors(tmp_path: Path, overrides: list[str], pattern: str) -> None:
    with pytest.raises(RefinetError, match=pattern):
        load_hypes(_write(tmp_path, MINIMAL), overrides)


def test_data_aug_sets_the_stage_noise(tmp_path: Path) -> None:
    base = {**MINIMAL, "data_aug": {"mu": 0, "sigma": 42}}
    cloud = load_hypes(_write(tmp_path, {**base, "data": {"type": "pcloud"}}))
    assert (cloud.noise.sigma_mm, cloud.noise.sigma_px) == (42, 5.0)
    patch = load_hypes(_write(tmp_path, {**base, "data_aug": {"sigma": 7}}))
    assert patch.noise.sigma_px == 7
    both = _write(tmp_path, {**base, "noise": {"sigma_px": 3}})
    with pytest.raises(RefinetError, match=r"data_aug.sigma \(42\) contradicts noise.sigma_px \(3\)"):
        load_hypes(both)
    assert load_hypes(both, ["--noise.sigma_px", "3"]).data_aug.sigma == 3  # the command line wins


def test_model_config_from_preset_authors_keys_and_overrides(tmp_path: Path) -> None:
    skeleton = {**MINIMAL, "data": {"type": "base"}, "model": {"preset": "edge"}}
    assert load_hypes(_write(tmp_path, skeleton)).model_config.linear_size == 512
    authors = {**skeleton, "network": {"linear_size": 1024, "dropout": False, "residual": True}}
    config = load_hypes(_write(tmp_path, authors)).model_config
    assert (config.linear_size, config.dropout, config.residual) == (1024, 0.0, True)
    assert load_hypes(_write(tmp_path, authors), ["--model.linear_size", "256"]).model_config.linear_size == 256
    clash = {**authors, "model": {"preset": "edge", "linear_size": 256}}
    with pytest.raises(RefinetError, match=r"model.linear_size \(256\) contradicts network.linear_size \(1024\)"):
        load_hypes(_write(tmp_path, clash))
    with pytest.raises(RefinetError, match="network.activation 'tanh' is not supported"):
        load_hypes(_write(tmp_path, {**skeleton, "network": {"activation": "tanh"}}))
    cloud = {**MINIMAL, "data": {"type": "pointcloud"}, "model": {"preset": "edge", "num_points": 128}}
    hypes = load_hypes(_write(tmp_path, cloud))
    assert hypes.preprocess_settings("points") == {"mode": "metric", "num_points": 128}
    with pytest.raises(RefinetError, match=r"preprocess.points.num_points \(64\) does not match the model's"):
        load_hypes(_write(tmp_path, {**cloud, "preprocess": {"points": {"num_points": 64}}}))


def test_sections_are_read_only_with_attribute_access(tmp_path: Path) -> None:
    hypes = load_hypes(_write(tmp_path, MINIMAL))
    assert hypes.data.batch_size == hypes.data["batch_size"] == hypes.get("data.batch_size") == 64
    with pytest.raises(AttributeError, match="did you mean 'batch_size'"):
        _ = hypes.data.batch_sise
    with pytest.raises(TypeError):
        hypes.data["batch_size"] = 3  # type: ignore[index]
    with pytest.raises(TypeError):
        hypes.preprocess.patch["size"] = 3  # type: ignore[index]


def test_authors_extras_are_accepted_and_reported_unused(tmp_path: Path) -> None:
    extras = {**MINIMAL, "task": "Pose Estimation", "checkpoints": {"tb_path": "x", "save_iters": 30},
              "solver": {"workers": 4}, "network": {"model_name": "V1", "linear_size": 1024}}
    hypes = load_hypes(_write(tmp_path, extras))
    assert hypes.unused_keys() == ["checkpoints.save_iters", "checkpoints.tb_path", "network.linear_size",
                                   "network.model_name", "solver.workers", "task"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: "/".join(p.parts[-3:-1]))
def test_preprocess_settings_build_the_preprocess_configs(path: Path) -> None:
    from refinet_edge.preprocess.patches import PatchConfig
    from refinet_edge.preprocess.points import PointConfig
    from refinet_edge.stage_io import SkeletonConfig

    hypes = load_hypes(path)
    patch = PatchConfig(**hypes.preprocess_settings("patch"))
    points = PointConfig(**hypes.preprocess_settings("points"))
    SkeletonConfig(**hypes.preprocess_settings("skeleton"))
    expected = {"synthetic": "metric", "itop": "itop_authors", "baracca": "baracca_authors"}[path.parts[-3]]
    assert patch.mode == expected
    if hypes.stage == "patch":
        assert patch.size == hypes.model_config.patch_size
    if hypes.stage == "pointcloud":
        assert points.num_points == hypes.model_config.num_points


def test_preprocess_kind_keys_and_modes(tmp_path: Path) -> None:
    given = {**MINIMAL, "preprocess": {"mode": "authors", "patch": {"mode": "metric", "itop_std": 0.5},
                                       "skeleton": {"mode": "metric"}}}
    hypes = load_hypes(_write(tmp_path, given))
    assert hypes.preprocess_settings("patch") == {"mode": "metric", "itop_std": 0.5, "size": 40}
    assert hypes.preprocess_settings("skeleton") == {"mode": "metric"}
    assert hypes.preprocess_settings("points") == {"mode": "authors"}
    with pytest.raises(RefinetError, match="preprocess.points.mode must be one of metric, authors, got 'itop_authors'"):
        load_hypes(_write(tmp_path, {**MINIMAL, "preprocess": {"points": {"mode": "itop_authors"}}}))
