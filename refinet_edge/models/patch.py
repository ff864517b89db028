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

``arch="heatmap"`` (:class:`PatchHeatmapNet`, ours, shipped): the published
net stacks the 15 patches as channels and average-pools the features away,
so it has to encode *where* a hand ends in channel values; on synthetic data
it refines the head's 2D position (5.6 -> 1.5 px median) but not the elbows,
hands or knees (5.6 -> 5.6 px). Here one small CNN looks at each patch on its
own, keeps the spatial grid, and predicts one heatmap per joint type at 1/4
resolution; the patch's own joint's map goes through a softmax and its
expected position (soft-argmax, "integral regression") is the offset::

    (B, J, S, S) -> (B*J, 1, S, S)
    conv 3x3 1->c1 + BN + ReLU                       S x S
    conv 3x3 stride 2 c1->c2, conv 3x3 c2->c2         S/2
    conv 3x3 stride 2 c2->c3, conv 3x3 dilation 2,    S/4
    conv 3x3 dilation 4 (each + BN + ReLU)
    conv 1x1 c3->J (+bias): a heatmap per joint type   (B*J, J, S/4, S/4)
    keep map j for patch j (one-hot product and sum)   (B, J, S/4 * S/4)
    softmax, expected (column, row) offset in cells    (B, J, 2)
    with ``moments``: + the map's variance along columns, along rows and
    their covariance, cells squared                    (B, J, 5)

Grid cell m of the 1/4 map is centred on patch cell 4m (two stride-2 convs
with padding 1), i.e. offset ``4m - (S - 1) / 2`` cells from the patch
centre. The output is minus that position, as for the stacked net (target =
input - truth). The moments are the softmax's own spread around its expected
position: how sure the net is, and along which direction it is not (a
straight limb leaves the map long along the limb). Everything is fixed-rank: Reshape, Conv, Mul, ReduceSum,
Softmax, MatMul in ONNX.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import PatchNetConfig

__all__ = ["PatchNet", "PatchNetConfig", "PatchHeatmapNet", "BasicBlock", "build_patch_net"]


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


def _conv_bn_relu(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU()]


class PatchHeatmapNet(nn.Module):
    """``patches (B, J, S, S)`` -> ``offsets (B, J, 2)`` in patch cells, per-joint heatmaps + soft-argmax."""

    grid_u: torch.Tensor
    grid_v: torch.Tensor
    own: torch.Tensor

    def __init__(self, config: PatchNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PatchNetConfig(arch="heatmap")
        c1, c2, c3 = config.heatmap_channels
        j, s = config.num_joints, config.patch_size
        self.trunk = nn.Sequential(
            *_conv_bn_relu(1, c1),
            *_conv_bn_relu(c1, c2, stride=2), *_conv_bn_relu(c2, c2),
            *_conv_bn_relu(c2, c3, stride=2), *_conv_bn_relu(c3, c3, dilation=2), *_conv_bn_relu(c3, c3, dilation=4),
        )
        self.head = nn.Conv2d(c3, j, 1)
        g = s // 4
        centres = torch.arange(g, dtype=torch.float32) * 4.0 - (s - 1) / 2.0  # cells from the patch centre
        self.register_buffer("grid_u", centres.repeat(g), persistent=False)  # (g*g,) column of cell m
        self.register_buffer("grid_v", centres.repeat_interleave(g), persistent=False)  # row
        self.register_buffer("own", torch.eye(j).reshape(1, j, j, 1), persistent=False)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.head.weight)  # start from a flat map: the mean grid position (-1.5 cells)
        if self.head.bias is not None:
            nn.init.zeros_(self.head.bias)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        j, s = cfg.num_joints, cfg.patch_size
        assert patches.dim() == 4 and tuple(patches.shape[1:]) == (j, s, s), (
            f"PatchHeatmapNet expects (B, {j}, {s}, {s}), got {tuple(patches.shape)}"
        )
        maps = self.head(self.trunk(patches.reshape(-1, 1, s, s)))  # (B*J, J, g, g)
        maps = (maps.reshape(-1, j, j, (s // 4) ** 2) * self.own).sum(dim=2)  # (B, J, g*g): patch j's own map
        prob = torch.softmax(maps, dim=-1)
        u = (prob * self.grid_u).sum(-1)
        v = (prob * self.grid_v).sum(-1)
        offsets = -torch.stack([u, v], dim=-1)  # target = input - truth
        if not cfg.moments:
            return offsets
        du = self.grid_u - u.unsqueeze(-1)  # (B, J, g*g) cells from the expected position
        dv = self.grid_v - v.unsqueeze(-1)
        spread = torch.stack([(prob * du * du).sum(-1), (prob * dv * dv).sum(-1), (prob * du * dv).sum(-1)], dim=-1)
        return torch.cat([offsets, spread], dim=-1)  # (B, J, 5)


def build_patch_net(config: PatchNetConfig) -> nn.Module:
    """The stage A module for ``config.arch``."""
    return PatchHeatmapNet(config) if config.arch == "heatmap" else PatchNet(config)
