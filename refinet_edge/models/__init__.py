"""The three RefiNet stages as plain torch modules, with their size presets.

=============  ===========================  =====================================  ===================
stage          module                       inputs                                 output
=============  ===========================  =====================================  ===================
``patch``      :class:`.patch.PatchNet`     patches (B, J, S, S)                   offsets (B, J, 2)
``skeleton``   :class:`.skeleton.SkeletonNet`  joints (B, J, 3)                    (B, J, 3)
``pointcloud`` :class:`.pointcloud.PointCloudNet`  points (B, J, N, 3), counts (B, J)  offsets (B, J, 3)
=============  ===========================  =====================================  ===================

All tensors are float32 (fp16 after export); every module takes and returns
fixed-rank tensors with a leading batch axis and exports to ONNX as is.

The configs, presets and cost formulas (:mod:`.config`) need no torch;
:func:`build_model` imports torch only when called, so ``import
refinet_edge.models`` works on a machine without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import RefinetError
from .config import (
    CONFIG_CLASSES,
    PRESET_NAMES,
    PRESETS,
    STAGES,
    ModelConfig,
    PatchNetConfig,
    PointCloudNetConfig,
    SkeletonNetConfig,
    check_stage,
    config_from_dict,
    format_count,
    preset_config,
)

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "CONFIG_CLASSES", "PRESETS", "PRESET_NAMES", "STAGES", "ModelConfig", "PatchNetConfig", "PointCloudNetConfig",
    "SkeletonNetConfig", "build_model", "check_stage", "config_from_dict", "count_parameters", "format_count",
    "preset_config",
]


def build_model(stage: str, config: ModelConfig | str = "published") -> nn.Module:
    """A freshly initialised module of ``stage``, from its config or a preset name (train mode)."""
    check_stage(stage)
    if isinstance(config, str):
        config = preset_config(stage, config)
    expected = CONFIG_CLASSES[stage]
    if not isinstance(config, expected):
        raise RefinetError(f"stage {stage!r} needs a {expected.__name__}, got {type(config).__name__}")
    if stage == "patch":
        from .patch import build_patch_net

        return build_patch_net(config)  # type: ignore[arg-type]
    if stage == "skeleton":
        from .skeleton import SkeletonNet

        return SkeletonNet(config)  # type: ignore[arg-type]
    from .pointcloud import PointCloudNet

    return PointCloudNet(config)  # type: ignore[arg-type]


def count_parameters(module: Any, trainable_only: bool = True) -> int:
    """Number of parameters of a torch module (buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
