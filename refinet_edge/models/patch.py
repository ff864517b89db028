"""Stage A: a small ResNet over the stacked depth patches of the 15 joints.

Input ``patches (B, J, S, S)`` float: one S x S depth patch per joint, stacked
as channels (J = 15, S = 40 published), normalised by the pre-processing.
Output ``offsets (B, J, 2)`` float in patch cells (px in the authors' mode):
the target is ``input_uv - gt_uv``, so ``refined = input - offsets``.

Layers (published sizes)::

    conv 7x7 J->64 stride 2 pad 3 (+bias) + BN + ReLU     (B, 64, 20, 20)
    max-pool 2                                           (B, 64, 10, 10)
    2 BasicBlocks at 64                                  (B, 64, 10, 10)
    2 BasicBlocks at 128, the first stride 2             (B, 128, 5, 5)
    global average pool                                  (B, 128)
    FC 128->256 (no bias) + BN + ReLU + dropout 0.2
    FC 256->256 (no bias) + BN + ReLU + dropout 0.2
    FC 256->2J                                           (B, J, 2)

The BasicBlock is the authors' variant, kept as published: the stride sits
on the block's *second* 3x3 conv, and a ReLU follows the second BN *before*
the residual add (then another after it). The 1x1 conv + BN downsample on the
shortcut carries the same stride.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import PatchNetConfig

__all__ = ["PatchNet", "PatchNetConfig", "BasicBlock"]


class BasicBlock(nn.Module):
    """3x3 conv + BN + ReLU, 3x3 conv (stride) + BN + ReLU, + shortcut, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(out + self.downsample(x))


class PatchNet(nn.Module):
    """``patches (B, J, S, S)`` -> ``offsets (B, J, 2)`` in patch cells."""

    def __init__(self, config: PatchNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PatchNetConfig()
        self.stem = nn.Sequential(
            nn.Conv2d(config.num_joints, config.stem_channels, 7, stride=2, padding=3),
            nn.BatchNorm2d(config.stem_channels),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        blocks: list[nn.Module] = []
        in_channels = config.stem_channels
        for i, (channels, count) in enumerate(zip(config.stage_channels, config.blocks_per_stage, strict=True)):
            for b in range(count):
                blocks.append(BasicBlock(in_channels, channels, stride=2 if (i > 0 and b == 0) else 1))
                in_channels = channels
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        fc = config.fc_size
        self.head = nn.Sequential(
            nn.Linear(in_channels, fc, bias=False), nn.BatchNorm1d(fc), nn.ReLU(), nn.Dropout(config.dropout),
            nn.Linear(fc, fc, bias=False), nn.BatchNorm1d(fc), nn.ReLU(), nn.Dropout(config.dropout),
            nn.Linear(fc, 2 * config.num_joints),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        assert patches.dim() == 4 and tuple(patches.shape[1:]) == (cfg.num_joints, cfg.patch_size, cfg.patch_size), (
            f"PatchNet expects (B, {cfg.num_joints}, {cfg.patch_size}, {cfg.patch_size}), got {tuple(patches.shape)}"
        )
        x = self.blocks(self.stem(patches))  # (B, C, s, s)
        x = self.pool(x).flatten(1)  # (B, C)
        return self.head(x).reshape(-1, cfg.num_joints, 2)  # (B, J, 2)
