"""The hypes schema: every key a training config ("hypes" JSON) may set, its JSON types, default and checks.

:data:`SCHEMA` maps every ``(section, key)`` (section ``""`` = top level) to its
accepted JSON types and default (:data:`REQUIRED` = no default). :data:`CHOICES`
and :data:`CHECKS` add the accepted values; keys the authors' files carry but that
change nothing here are listed in :data:`NO_EFFECT`. :mod:`refinet_edge.hypes`
loads and resolves a file against these tables.
"""

from __future__ import annotations

from typing import Any

from .models.config import CONFIG_CLASSES, PRESET_NAMES, STAGES

REQUIRED: Any = object()
_NONE = type(None)
_NUM = (float,)  # a number: ints are accepted too
_OPT_STR = (str, _NONE)

SCHEMA: dict[tuple[str, str], tuple[tuple[type, ...], Any]] = {
    ("", "name"): ((str,), "refinet"), ("", "dataset"): ((str,), "ITOP"), ("", "side"): ((str,), "side"),
    ("", "task"): (_OPT_STR, None), ("", "project_dir"): ((str,), "."), ("", "train_dir"): ((str, list), REQUIRED),
    ("", "save_img"): ((bool, _NONE), None), ("", "epochs"): ((int,), REQUIRED), ("", "offset"): ((bool,), False),
    ("", "phase"): ((str,), "train"),
    ("data", "type"): ((str,), REQUIRED), ("data", "from_gt"): ((bool,), True), ("data", "patch_dim"): ((int,), 40),
    ("data", "pcloud_dim"): (_NUM, 300), ("data", "batch_size"): ((int,), 64),
    ("data", "input_size"): ((list, _NONE), None), ("data", "output_size"): ((list, _NONE), None),
    ("data", "image_size"): ((list,), [240, 320]), ("data", "num_keypoints"): ((int,), 15),
    ("data", "kpts_type"): (_OPT_STR, None), ("data", "kpts_path"): (_OPT_STR, None),
    ("data", "kpts_path_test"): (_OPT_STR, None), ("data", "result_dir"): ((str,), "result"),
    ("metrics", "dist_thresh"): (_NUM, 100), ("metrics", "kpts_type"): (_OPT_STR, None),
    ("metrics", "sigmas"): ((float, _NONE), None), ("metrics", "gt_type"): (_OPT_STR, None),
    ("data_aug", "mu"): ((float, _NONE), None), ("data_aug", "sigma"): ((float, _NONE), None),
    ("data_aug", "factor"): ((float, _NONE), None),
    ("checkpoints", "best"): ((bool,), True), ("checkpoints", "save_name"): (_OPT_STR, None),
    ("checkpoints", "save_dir"): ((str,), "checkpoints"), ("checkpoints", "save_iters"): ((int, _NONE), None),
    ("checkpoints", "tb_path"): (_OPT_STR, None),
    ("solver", "type"): ((str,), "Adam"), ("solver", "weight_decay"): (_NUM, 1e-4),
    ("solver", "decay_steps"): ((list,), []), ("solver", "base_lr"): (_NUM, 1e-3), ("solver", "gamma"): (_NUM, 0.1),
    ("solver", "workers"): ((int, _NONE), None),
    ("network", "linear_size"): ((int, _NONE), None), ("network", "residual"): ((bool, _NONE), None),
    ("network", "dropout"): ((bool, float, _NONE), None), ("network", "batch_norm"): ((bool, _NONE), None),
    ("network", "activation"): (_OPT_STR, None), ("network", "model_name"): (_OPT_STR, None),
    ("network", "alpha"): (_NUM, 1.0), ("network", "beta"): (_NUM, 0.0), ("network", "gamma"): (_NUM, 0.0),
    ("model", "preset"): ((str,), "published"),
    ("preprocess", "mode"): ((str,), "metric"), ("preprocess", "patch"): ((dict,), {}),
    ("preprocess", "points"): ((dict,), {}), ("preprocess", "skeleton"): ((dict,), {}),
    ("noise", "sigma_px"): (_NUM, 5.0), ("noise", "mu_px"): (_NUM, 0.0), ("noise", "swap_prob"): (_NUM, 0.0),
    ("noise", "outlier_prob"): (_NUM, 0.0), ("noise", "sigma_mm"): (_NUM, 42.0), ("noise", "mu_mm"): (_NUM, 0.0),
    # 2D noise: weight of the COCO per-joint sigma profile (noise.DetectorNoise.oks_profile; 0 = one sigma for all)
    ("noise", "oks_profile"): (_NUM, 0.0),
    # 2D noise: share of person-frames given exact 2D, no swap, noise or outlier (noise.DetectorNoise.clean_prob)
    ("noise", "clean_prob"): (_NUM, 0.0),
    ("train", "num_workers"): ((int,), 0), ("train", "seed"): ((int,), 0), ("train", "val_every"): ((int,), 1),
    ("train", "train_frames"): ((int, _NONE), None), ("train", "log_every"): ((int,), 50),
    ("train", "feature_reg_weight"): (_NUM, 0.001),  # PointNet's weight of the feature-transform regulariser
    # chained training: precompute this many noise draws of the earlier stages' outputs once, reuse them by epoch
    ("train", "chain_cache"): ((int,), 0),
    # skeleton stage: probability of training on the mirror image of a sample (x -> -x, left <-> right joints)
    ("train", "flip_prob"): (_NUM, 0.0),
    # skeleton stage: bone lengths scaled by U(1 - a, 1 + a) per sample (training/augment.py); 0.2 = +-20 %
    ("train", "limb_scale"): (_NUM, 0.0),
    # skeleton stage: probability that a joint's input is removed (as a missing joint: zeros), its target kept, so
    # the stage learns to place a joint from the others
    ("train", "joint_dropout"): (_NUM, 0.0),
    ("train", "hidden_weight"): (_NUM, 1.0),
    # per-joint training loss: "mse" (authors: squared error) or "distance" (its square root, MPJPE-like)
    ("train", "loss"): ((str,), "mse"),
    # extra validation sets scored every extra_val_every epochs and logged side by side, never used to pick the best
    # checkpoint: ITOP-layout directories whose "test" split is read (any camera), e.g. held-out combinations
    ("train", "extra_val_dirs"): ((list,), []), ("train", "extra_val_every"): ((int,), 5),
    # fine-tuning: start from this stage checkpoint's weights (training/init.py: the skeleton's input layer may
    # widen for the evidence features, their new weights zero, so training starts from the checkpoint's outputs)
    ("train", "init_from"): (_OPT_STR, None),
}
# model.<field>: every field of the three stage configs (checked against the stage's own config at load)
for _cls in CONFIG_CLASSES.values():
    for _name, _default in _cls().to_dict().items():
        SCHEMA.setdefault(("model", _name), ((list,) if isinstance(_default, list) else _NUM
                                             if type(_default) is float else (type(_default),), REQUIRED))
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(s for s, _ in SCHEMA if s))
# preprocess.<kind>: the fields of preprocess.PatchConfig / PointConfig and stage_io.SkeletonConfig
PREPROCESS_KEYS: dict[str, tuple[str, ...]] = {
    "patch": ("mode", "size", "metric_side_m", "depth_range_m", "itop_mean", "itop_std"),
    "points": ("mode", "num_points", "cube_side_m", "grow_step_m", "max_side_m", "min_points", "selection",
               "passes", "ray_reach"),
    "skeleton": ("mode", "rays", "evidence", "ray_output", "second_pass_m", "patch_evidence"),
}
PREPROCESS_MODES: dict[str, tuple[str, ...]] = {
    "patch": ("metric", "authors", "itop_authors", "baracca_authors"), "points": ("metric", "authors"),
    "skeleton": ("metric", "authors"),
}
STAGE_ALIASES: dict[str, str] = {"depth": "patch", "base": "skeleton", "vitruvian": "skeleton", "pcloud": "pointcloud",
                                 **{s: s for s in STAGES}}
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "dataset"): ("ITOP", "Baracca", "synthetic"), ("", "side"): ("side", "top"), ("", "phase"): ("train", "test"),
    ("data", "type"): tuple(STAGE_ALIASES), ("model", "preset"): PRESET_NAMES,
    ("preprocess", "mode"): ("metric", "authors"), ("solver", "type"): ("Adam", "AdamW", "SGD"),
    ("train", "loss"): ("mse", "distance"),
}
_POS_INT = (lambda v: v is None or v >= 1, "an integer >= 1")
_NONNEG = (lambda v: v is None or v >= 0, "a number >= 0")
_PROB = (lambda v: 0 <= v <= 1, "a probability in [0, 1]")
CHECKS: dict[tuple[str, str], tuple[Any, str]] = {
    **{k: _POS_INT for k in [("", "epochs"), ("data", "batch_size"), ("data", "patch_dim"), ("data", "num_keypoints"),
                             ("train", "val_every"), ("train", "log_every"), ("train", "train_frames"),
                             ("train", "extra_val_every")]},
    **{k: _NONNEG for k in [("train", "num_workers"), ("train", "chain_cache"), ("solver", "weight_decay"),
                            ("noise", "sigma_px"),
                            ("noise", "sigma_mm"), ("data_aug", "sigma"), ("data", "pcloud_dim")]},
    ("noise", "swap_prob"): _PROB, ("noise", "outlier_prob"): _PROB, ("train", "flip_prob"): _PROB,
    ("train", "joint_dropout"): (lambda v: 0 <= v < 1, "a probability in [0, 1)"),
    ("train", "hidden_weight"): (lambda v: 0 < v <= 100, "a loss weight in (0, 100]"),
    ("solver", "base_lr"): (lambda v: v > 0, "> 0"),
    ("solver", "gamma"): (lambda v: 0 < v <= 1, "in (0, 1]"),
    ("", "train_dir"): (lambda v: isinstance(v, str) or (len(v) > 0 and all(isinstance(x, str) for x in v)),
                        "a directory or a non-empty list of directories"),
    ("train", "extra_val_dirs"): (lambda v: all(isinstance(x, str) for x in v), "a list of directories"),
    ("solver", "decay_steps"): (lambda v: all(type(x) is int and x >= 1 for x in v) and v == sorted(set(v)),
                                "an increasing list of epochs >= 1"),
}
NO_EFFECT: frozenset[str] = frozenset({"task", "save_img", "data.input_size", "data.output_size", "data.image_size",
                                       "metrics.sigmas", "metrics.gt_type", "data_aug.factor", "checkpoints.save_iters",
                                       "checkpoints.tb_path", "solver.workers", "network.model_name"})
TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
               dict: "an object", _NONE: "null"}
