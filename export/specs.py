"""Tensor names and shapes of each stage's network, as exported.

=========== ========================== ================= ===================================
stage       input names                input shapes      output
=========== ========================== ================= ===================================
patch       ``patches``                (B, J, S, S)      ``offsets`` (B, J, 2) cells, or
                                                         (B, J, 5) with ``moments``
skeleton    ``joints``                 (B, J, F)         ``offsets`` (B, J, 3)
pointcloud  ``points``, ``counts``     (B, J, N, 3),     ``offsets`` (B, J, 3)
                                       (B, J)
=========== ========================== ================= ===================================

All float32; ``B`` (people x frames) is the only dynamic axis, named ``batch``.
``J``, ``S``, ``N`` and ``F`` (3; 5 with the skeleton's ray features, 9 with
the evidence, 14 with the patch evidence) come from the stage's model config.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refinet_edge.errors import RefinetError
from refinet_edge.models import ModelConfig, PatchNetConfig, PointCloudNetConfig, SkeletonNetConfig

BATCH_AXIS = "batch"


@dataclass(frozen=True)
class StageSpec:
    """Names and per-sample shapes (without the batch axis) of a stage's inputs and output."""

    stage: str
    inputs: dict[str, tuple[int, ...]]
    outputs: dict[str, tuple[int, ...]]

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.outputs)

    def check_feed(self, feed: dict[str, np.ndarray]) -> int:
        """Check a feed dict against the spec; returns its batch size."""
        if feed.keys() != self.inputs.keys():
            raise RefinetError(f"{self.stage}: inputs {sorted(feed)} given, expected {list(self.inputs)}")
        for name, shape in self.inputs.items():
            if tuple(feed[name].shape[1:]) != shape:
                raise RefinetError(f"{self.stage}: input {name} has shape {tuple(feed[name].shape)}, "
                                   f"expected (B, {', '.join(map(str, shape))})")
        batches = [feed[name].shape[0] if feed[name].ndim else -1 for name in self.inputs]
        if batches.count(batches[0]) != len(batches):
            sizes = dict(zip(self.inputs, batches, strict=True))
            raise RefinetError(f"{self.stage}: inputs disagree on the batch size: {sizes}")
        return batches[0]


def stage_spec(stage: str, config: ModelConfig) -> StageSpec:
    """The spec of ``stage`` built with ``config``."""
    if stage == "patch" and isinstance(config, PatchNetConfig):
        j, s = config.num_joints, config.patch_size
        return StageSpec(stage, {"patches": (j, s, s)}, {"offsets": (j, 5 if config.moments else 2)})
    if stage == "skeleton" and isinstance(config, SkeletonNetConfig):
        j, f = config.num_joints, config.input_features  # f = 3, or 5 with the ray features
        return StageSpec(stage, {"joints": (j, f)}, {"offsets": (j, 3)})
    if stage == "pointcloud" and isinstance(config, PointCloudNetConfig):
        j, n = config.num_joints, config.num_points
        return StageSpec(stage, {"points": (j, n, 3), "counts": (j,)}, {"offsets": (j, 3)})
    raise RefinetError(f"no spec for stage {stage!r} with a {type(config).__name__}")


def spec_from_dict(stage: str, data: dict) -> StageSpec:
    """Rebuild a spec stored in a manifest (``{"inputs": {name: shape}, "outputs": ...}``)."""
    return StageSpec(stage, {k: tuple(v) for k, v in data["inputs"].items()},
                     {k: tuple(v) for k, v in data["outputs"].items()})


def spec_to_dict(spec: StageSpec) -> dict:
    return {"inputs": {k: list(v) for k, v in spec.inputs.items()},
            "outputs": {k: list(v) for k, v in spec.outputs.items()}}
