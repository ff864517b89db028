"""Stage C: one PointNet shared over the joints' local point clouds.

Inputs:

* ``points (B, J, N, 3)`` float: per joint, the standardised points of the
  cube around it; the first ``count`` rows are valid, the rest is padding.
* ``counts (B, J)`` float: the number of valid leading points per joint
  (float so that the exported graph holds no int64 tensor; exact integers).

Output ``offsets (B, J, 3)`` float (authors: mm); ``refined = input - offsets``.

Layers per cloud, the J clouds of a sample batched as (B*J, 3, N)::

    [STN3d: conv1d 3->64->128->1024 + BN + ReLU, masked max, FC 1024->512->256
     + BN + ReLU, FC ->9, + identity; points @ T]            (input_transform)
    conv1d 3->64 + BN + ReLU
    [STN(64): the same with 64 inputs and a 64x64 output]      (feature_transform)
    conv1d 64->128 + BN + ReLU, conv1d 128->1024 + BN
    max over the VALID points only                             (B*J, 1024)
    FC 1024->128 (no bias) + BN + ReLU + dropout 0.2, FC 128->3
    (``joint_embedding``: + a learned (J, 128) per-joint bias before that BN;
     not in the paper: the shared net then knows which joint it refines)

**Masked max-pool.** ``mask = index < count`` with ``index = 0..N-1`` (a fixed
float buffer, not stored in checkpoints). Every layer before a max-pool works
on each point on its own, so the max over the valid points can be had two
exact ways, and the network uses the cheaper one for each mode:

* eval (and so every export): the padded points are replaced by copies of the
  first point, valid whenever ``count >= 1``, on the small ``(M, 3, N)``
  input. A copy's features equal the first point's, so a plain max over all N
  points is the max over the valid ones. This replaced an Add of a penalty over
  the whole ``(M, C, N)`` feature tensor (12 % of the stage under ONNX Runtime).
* training: padded features are replaced by :data:`MASKED_VALUE` = -65504 (the
  most negative finite fp16 number) before the max, so that batch-norm
  statistics keep seeing the zero padding the shipped weights were trained on
  (see below).

A joint with ``count == 0`` gets an all-zero feature vector
(``where(count > 0, max, 0)``), so its output is finite: the head's response
to "no evidence". In fp16 the comparison ``index < count`` is exact only up
to N = 2048 (beyond it, e.g. the authors' N = 5000 top view, a boundary point
may flip); keep that subgraph in fp32 on TensorRT for larger N.

**Batch norm and padding.** In training, the BN statistics of the per-point
layers include the padded points, as in the authors' code. We keep it so:
the running statistics then describe the same padded inputs the network sees
in training (same N, same padding rule); padding never reaches the output
(the masked max removes it in training, the copies of the first point carry
no new value in eval); and the model
stays standard ``BatchNorm1d``, which folds into the convs for ONNX and
TensorRT. A masked BN would need a custom training-only layer. Consequence: the
pre-processing must pad the same way in training and at inference.

**Costs** (batch 1, 15 joints; see :mod:`refinet_edge.models.config`)::

    preset      N     channels         STN3d STN64   params    MACs
    published   2000  64, 128, 1024    yes   yes     2.94 M    12.83 G
    edge        256   64, 128, 256     no    no      75.9 k    0.159 G
"""

from __future__ import annotations

import torch
from torch import nn

from .config import PointCloudNetConfig

__all__ = ["MASKED_VALUE", "PointCloudNet", "PointCloudNetConfig", "feature_transform_regularizer"]

MASKED_VALUE = -65504.0  # replaces padded features before the max (finite in fp16)


def masked_max(features: torch.Tensor, valid: torch.Tensor | None, has_points: torch.Tensor) -> torch.Tensor:
    """Max over valid points: ``features (M, C, N)``, ``valid (M, 1, N)`` bool, ``has_points (M, 1)`` bool -> (M, C).

    Clouds without a valid point get zeros. ``valid=None``: every point counts (the padding was already replaced by
    copies of a valid point, see the module docstring).
    """
    if valid is None:
        return torch.where(has_points, torch.amax(features, dim=2), 0.0)
    # Add, not where(valid, features, MASKED_VALUE) on the full (M, C, N) tensor: the penalty is built on the small
    # (M, 1, N) mask and broadcast by an Add, 4-5x faster under ONNX Runtime on CPU. Valid features get + 0 (exact),
    # padded ones fall to about MASKED_VALUE (-inf in fp16 when they are negative): the max is the same.
    penalty = torch.where(valid, 0.0, MASKED_VALUE)  # (M, 1, N)
    pooled = torch.amax(features + penalty, dim=2)  # (M, C); amax exports as ReduceMax, no int64 indices
    return torch.where(has_points, pooled, 0.0)


def _conv_bn(in_channels: int, out_channels: int, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv1d(in_channels, out_channels, 1), nn.BatchNorm1d(out_channels)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _fc_bn(in_features: int, out_features: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, out_features), nn.BatchNorm1d(out_features), nn.ReLU())


class TransformNet(nn.Module):
    """PointNet's STN: ``x (M, k, N)`` -> a ``(M, k, k)`` transform (learned + identity)."""

    def __init__(self, k: int, channels: tuple[int, int, int]) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.k = k
        self.convs = nn.Sequential(_conv_bn(k, c1), _conv_bn(c1, c2), _conv_bn(c2, c3))
        self.fcs = nn.Sequential(_fc_bn(c3, c3 // 2), _fc_bn(c3 // 2, c3 // 4), nn.Linear(c3 // 4, k * k))
        self.register_buffer("identity", torch.eye(k).reshape(1, k * k), persistent=False)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None, has_points: torch.Tensor) -> torch.Tensor:
        pooled = masked_max(self.convs(x), valid, has_points)  # (M, c3)
        return (self.fcs(pooled) + self.identity).reshape(-1, self.k, self.k)  # (M, k, k)


def _apply_transform(x: torch.Tensor, transform: torch.Tensor) -> torch.Tensor:
    """``x (M, k, N)``, ``transform (M, k, k)`` -> ``(transform^T x) (M, k, N)`` (row vectors times T)."""
    return torch.bmm(x.transpose(1, 2), transform).transpose(1, 2)


def feature_transform_regularizer(transform: torch.Tensor) -> torch.Tensor:
    """PointNet's orthogonality penalty: mean over clouds of ``||I - A A^T||_F`` for ``A (M, k, k)``.

    PointNet weights it 0.001 in the loss (``train.feature_reg_weight`` in the hypes).
    """
    k = transform.shape[1]
    eye = torch.eye(k, dtype=transform.dtype, device=transform.device)
    gram = torch.bmm(transform, transform.transpose(1, 2))  # (M, k, k)
    return torch.linalg.matrix_norm(gram - eye).mean()


class PointCloudNet(nn.Module):
    """``points (B, J, N, 3)``, ``counts (B, J)`` -> ``offsets (B, J, 3)``."""

    point_index: torch.Tensor  # (1, 1, N) float buffer 0..N-1, not persistent

    def __init__(self, config: PointCloudNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PointCloudNetConfig()
        c1, c2, c3 = config.conv_channels
        self.input_transform = TransformNet(3, config.conv_channels) if config.input_transform else None
        self.conv1 = _conv_bn(3, c1)
        self.feature_transform = TransformNet(c1, config.conv_channels) if config.feature_transform else None
        self.conv2 = _conv_bn(c1, c2)
        self.conv3 = _conv_bn(c2, c3, relu=False)
        self.head = nn.Sequential(
            nn.Linear(c3, config.head_size, bias=False),
            nn.BatchNorm1d(config.head_size),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.head_size, 3),
        )
        # (J, head) learned bias added after the head's first Linear: equivalent to a one-hot joint id in its input
        self.joint_bias = (nn.Parameter(torch.zeros(config.num_joints, config.head_size))
                           if config.joint_embedding else None)
        index = torch.arange(config.num_points, dtype=torch.float32).reshape(1, 1, config.num_points)
        self.register_buffer("point_index", index, persistent=False)  # (1, 1, N) 0..N-1
        self._last_transform: torch.Tensor | None = None

    def forward(self, points: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        offsets, transform = self.forward_with_transform(points, counts)
        if self.training:  # kept for regularizer(); a fixed branch, never taken in eval / export
            self._last_transform = transform
        return offsets

    def train(self, mode: bool = True) -> PointCloudNet:
        self._last_transform = None  # eval() drops it too
        return super().train(mode)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_last_transform": None}  # deepcopy / pickle never carry the autograd graph

    def regularizer(self, weight: float = 0.001) -> torch.Tensor:
        """``weight * ||I - A A^T||`` of the feature transform of the last training-mode forward (0 without one).

        Add it to the loss after ``model(points, counts)``; 0.001 is PointNet's weight.
        """
        transform = getattr(self, "_last_transform", None)
        if transform is None:
            return self.point_index.new_zeros(())
        return weight * feature_transform_regularizer(transform)

    def forward_with_transform(
        self, points: torch.Tensor, counts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(offsets (B, J, 3), feature transform (B*J, C1, C1) or None)``."""
        cfg = self.config
        assert points.dim() == 4 and tuple(points.shape[1:]) == (cfg.num_joints, cfg.num_points, 3), (
            f"PointCloudNet expects points (B, {cfg.num_joints}, {cfg.num_points}, 3), got {tuple(points.shape)}"
        )
        assert counts.dim() == 2 and counts.shape[1] == cfg.num_joints, (
            f"PointCloudNet expects counts (B, {cfg.num_joints}), got {tuple(counts.shape)}"
        )
        x = points.reshape(-1, cfg.num_points, 3).transpose(1, 2)  # (M, 3, N), M = B*J
        count = counts.reshape(-1, 1, 1).to(x.dtype)  # (M, 1, 1)
        in_cloud = self.point_index.to(x.dtype) < count  # (M, 1, N)
        has_points = count.reshape(-1, 1) > 0  # (M, 1)
        valid: torch.Tensor | None = in_cloud  # training: the max-pools mask the features
        if not self.training:  # padding -> copies of the first point: the max-pools need no mask (module docstring)
            x = torch.where(in_cloud, x, x[:, :, :1])
            valid = None
        if self.input_transform is not None:
            x = _apply_transform(x, self.input_transform(x, valid, has_points))
        x = self.conv1(x)  # (M, C1, N)
        transform = None
        if self.feature_transform is not None:
            transform = self.feature_transform(x, valid, has_points)  # (M, C1, C1)
            x = _apply_transform(x, transform)
        x = self.conv3(self.conv2(x))  # (M, C3, N)
        feature = masked_max(x, valid, has_points)  # (M, C3)
        if self.joint_bias is None:
            return self.head(feature).reshape(-1, cfg.num_joints, 3), transform  # (B, J, 3)
        hidden = self.head[0](feature).reshape(-1, cfg.num_joints, cfg.head_size) + self.joint_bias  # (B, J, H)
        return self.head[1:](hidden.reshape(-1, cfg.head_size)).reshape(-1, cfg.num_joints, 3), transform
