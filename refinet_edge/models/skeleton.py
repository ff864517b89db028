"""Stage B: the Martinez-style residual MLP over the lifted skeleton.

Input ``joints (B, J, F)`` float (F = 3, or 5 with the ray features of
:class:`~refinet_edge.stage_io.SkeletonConfig`): the lifted 3D joints, normalised by the
pre-processing (authors: per-axis mean/std in mm, invisible joints 0).
Output ``(B, J, 3)`` float in the same normalised units: absolute joints
(authors' ITOP config) or offsets (``"offset": true``, Baracca config).

Layers (published sizes)::

    flatten                                               (B, 3J)
    Linear 3J->L + BN + ReLU + dropout                    (B, L)
    num_blocks x [ (Linear L->L + BN + ReLU + dropout) x 2, + skip ]
    Linear L->3J                                          (B, J, 3)

with L = 1024, 2 blocks, dropout 0.2. Every Linear has a bias (authors).
``batch_norm=False`` drops the BNs; ``residual=False`` drops the skips.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import SkeletonNetConfig

__all__ = ["SkeletonNet", "SkeletonNetConfig"]


def _layer(in_features: int, out_features: int, config: SkeletonNetConfig) -> nn.Sequential:
    """Linear + (BN) + ReLU + dropout."""
    layers: list[nn.Module] = [nn.Linear(in_features, out_features)]
    if config.batch_norm:
        layers.append(nn.BatchNorm1d(out_features))
    layers += [nn.ReLU(), nn.Dropout(config.dropout)]
    return nn.Sequential(*layers)


class SkeletonNet(nn.Module):
    """``joints (B, J, F)`` -> ``(B, J, 3)`` (normalised units; F = ``input_features``, 3 or 5)."""

    def __init__(self, config: SkeletonNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SkeletonNetConfig()
        size, dim = config.linear_size, 3 * config.num_joints
        self.input = _layer(config.input_features * config.num_joints, size, config)
        self.blocks = nn.ModuleList(
            nn.Sequential(_layer(size, size, config), _layer(size, size, config)) for _ in range(config.num_blocks)
        )
        self.output = nn.Linear(size, dim)

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        features = cfg.input_features
        assert joints.dim() == 3 and tuple(joints.shape[1:]) == (cfg.num_joints, features), (
            f"SkeletonNet expects (B, {cfg.num_joints}, {features}), got {tuple(joints.shape)}"
        )
        x = self.input(joints.reshape(-1, features * cfg.num_joints))  # (B, L)
        for block in self.blocks:
            x = block(x) + x if cfg.residual else block(x)
        return self.output(x).reshape(-1, cfg.num_joints, 3)  # (B, J, 3)
