"""Export-time rewrites of the trained stage modules: the same function in fewer graph nodes.

:func:`for_export` returns a module that computes what the trained module
computes in eval mode (equal up to float rounding), rearranged so that the
exported graph has fewer small nodes. At batch 1 the networks are small, and
each extra node costs ONNX Runtime a few microseconds, several times more when
the caches are cold, as they are between stages in the pipeline. PyTorch eager
keeps running the module as trained; only the export sees the rewrite, as it
already sees BatchNormalization folded (:mod:`refinet_edge.export.fold`).

=============================  ====================================================================
module                         rewrite
=============================  ====================================================================
heatmap ``PatchHeatmapNet``    the 1x1 head conv of all J maps, then "keep patch j's own map" (a
                               one-hot Mul and a ReduceSum), becomes a Mul of each patch's features
                               by its own joint's head weights and a ReduceSum; the soft-argmax
                               (two Mul/ReduceSum pairs, Concat, Neg) becomes one MatMul with the
                               negated cell grid (int8 calibration leaves it in float); with
                               ``moments`` the same MatMul also takes the grid's squares and
                               product, and the variances are ``E[u^2] - E[u]^2`` (and so on)
``SkeletonNet`` (MLP, flip     the mirror of the input is folded into the input layer's weights
test)                          (one Gemm with both halves side by side, then a Reshape to two rows:
                               no mirror MatMul, Unsqueeze or Concat); mirroring the second half
                               back and averaging are folded
                               into the output layer (one Gemm on the two halves side by side: no
                               Gather, MatMul, Add or Mul). BatchNormalization of the input layer
                               is folded first
``PointCloudNet`` (joint       the shared per-point MLP runs as 1x1 Conv2d on ``(M, C, 1, N)``
embedding, no transforms)      instead of Conv1d (ONNX Runtime's blocked NCHWc kernels take 4D
                               convolutions only) with each BatchNormalization folded into its
                               conv, and the max over the points is a GlobalMaxPool (NCHWc too,
                               so no layout change before it); the head's BatchNormalization is
                               folded into its first Linear and the joint bias, and the head runs
                               on ``(B, J, C)`` without the reshapes around the bias
=============================  ====================================================================

Any other module or configuration is returned unchanged. Folding uses the
running statistics: ``s = gamma / sqrt(var + eps)``, ``BN(y) = s * y + (beta - mean * s)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from .patch import PatchHeatmapNet
from .pointcloud import PointCloudNet
from .skeleton import SkeletonNet


def for_export(model: nn.Module) -> nn.Module:
    """The module to export for ``model`` (eval mode): a rewrite from the table above, or ``model`` itself."""
    model = model.eval()
    if isinstance(model, PatchHeatmapNet):
        return _PatchHeatmapExport(model).eval()
    if isinstance(model, SkeletonNet) and model.config.flip_test and model.config.arch == "mlp":
        return _SkeletonFlipExport(model).eval()
    cfg = getattr(model, "config", None)
    if (isinstance(model, PointCloudNet) and cfg is not None and cfg.joint_embedding
            and not cfg.input_transform and not cfg.feature_transform):
        return _PointCloudExport(model).eval()
    return model


def _bn_affine(bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s, t)`` with ``bn(y) = s * y + t`` in eval mode."""
    assert bn.running_var is not None and bn.running_mean is not None
    scale = bn.weight.detach() if bn.weight is not None else torch.ones_like(bn.running_var)
    shift = bn.bias.detach() if bn.bias is not None else torch.zeros_like(bn.running_mean)
    s = scale / torch.sqrt(bn.running_var + bn.eps)
    return s, shift - bn.running_mean * s


def _linear_bn(linear: nn.Linear, bn: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight ``(out, in)`` and bias ``(out,)`` of ``bn(linear(x))`` as one affine map."""
    weight = linear.weight.detach()
    bias = linear.bias.detach() if linear.bias is not None else torch.zeros(weight.shape[0])
    if isinstance(bn, nn.BatchNorm1d):
        s, t = _bn_affine(bn)
        return weight * s[:, None], bias * s + t
    return weight, bias


class _PatchHeatmapExport(nn.Module):
    own_weight: torch.Tensor
    own_bias: torch.Tensor
    neg_grid: torch.Tensor

    def __init__(self, net: PatchHeatmapNet) -> None:
        super().__init__()
        cfg = net.config
        self.joints, self.size, self.cells = cfg.num_joints, cfg.patch_size, (cfg.patch_size // 4) ** 2
        self.trunk = net.trunk
        weight = net.head.weight.detach()[:, :, 0, 0]  # (J, C): joint j's 1x1 filter
        self.channels = weight.shape[1]
        bias = net.head.bias.detach() if net.head.bias is not None else torch.zeros(self.joints)
        self.register_buffer("own_weight", weight.reshape(1, self.joints, self.channels, 1).clone())
        self.register_buffer("own_bias", bias.reshape(1, self.joints, 1).clone())
        self.moments = cfg.moments
        columns = [-net.grid_u, -net.grid_v]
        if cfg.moments:  # raw second moments beside the offsets: still one MatMul
            columns += [net.grid_u * net.grid_u, net.grid_v * net.grid_v, net.grid_u * net.grid_v]
        self.register_buffer("neg_grid", torch.stack(columns, dim=-1).clone())  # (g*g, 2 or 5)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        j, s = self.joints, self.size
        features = self.trunk(patches.reshape(-1, 1, s, s)).reshape(-1, j, self.channels, self.cells)
        # A Mul and a ReduceSum, not a MatMul with the constant first: int8 Q/DQ would put per-channel weights on
        # MatMul's input A, which TensorRT does not take (export/trt_check.py)
        maps = (features * self.own_weight).sum(dim=2) + self.own_bias  # (B, J, g*g)
        out = torch.matmul(torch.softmax(maps, dim=-1), self.neg_grid)  # (B, J, 2) = -(u, v)
        if not self.moments:
            return out
        # E[u^2] - E[u]^2 etc.: the variances and covariance of the map (out[..., :2] is -E[u], -E[v])
        first, second = out[..., :2], out[..., 2:]
        centred = second - torch.cat([first * first, first[..., :1] * first[..., 1:]], dim=-1)
        return torch.cat([first, centred], dim=-1)  # (B, J, 5)


class _SkeletonFlipExport(nn.Module):
    in_weight: torch.Tensor
    in_bias: torch.Tensor
    out_weight: torch.Tensor
    out_bias: torch.Tensor

    def __init__(self, net: SkeletonNet) -> None:
        super().__init__()
        cfg = self.config = net.config
        linear = net.input[0]
        assert isinstance(linear, nn.Linear)
        weight, bias = _linear_bn(linear, net.input[1] if cfg.batch_norm else None)  # (L, J*F), (L,)
        self.width = weight.shape[0]
        # mirrored input = x @ flip_in, so its pre-activation is x @ (flip_in @ weight^T)
        self.register_buffer("in_weight", torch.cat([weight.t(), net.flip_in @ weight.t()], dim=1).contiguous())
        self.register_buffer("in_bias", torch.cat([bias, bias]).contiguous())
        self.blocks = net.blocks
        out_w, out_b = net.output.weight.detach().t(), net.output.bias.detach()  # (L, 3J), (3J,)
        flip = net.flip_out  # the mirror's output @ flip_out = mirrored back
        self.register_buffer("out_weight", torch.cat([0.5 * out_w, 0.5 * (out_w @ flip)], dim=0).contiguous())
        self.register_buffer("out_bias", (0.5 * (out_b + out_b @ flip)).contiguous())

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        flat = joints.reshape(-1, cfg.num_joints * cfg.input_features)
        x = torch.relu(torch.addmm(self.in_bias, flat, self.in_weight)).reshape(-1, self.width)  # (2B, L)
        for block in self.blocks:
            x = block(x) + x if cfg.residual else block(x)
        out = torch.addmm(self.out_bias, x.reshape(-1, 2 * self.width), self.out_weight)  # (B, 3J)
        return out.reshape(-1, cfg.num_joints, 3)


def _conv1d_bn_as_2d(layer: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """``Conv1d -> BatchNorm1d [-> ReLU]`` as a 1x1 Conv2d weight ``(out, in, 1, 1)`` and bias, and the ReLU flag."""
    conv, bn = layer[0], layer[1]
    assert isinstance(conv, nn.Conv1d) and conv.kernel_size == (1,) and isinstance(bn, nn.BatchNorm1d)
    s, t = _bn_affine(bn)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
    weight = conv.weight.detach() * s[:, None, None]  # (out, in, 1)
    return weight.unsqueeze(2).contiguous(), (bias * s + t).contiguous(), any(isinstance(m, nn.ReLU) for m in layer)


class _PointCloudExport(nn.Module):
    point_index: torch.Tensor
    head_weight: torch.Tensor
    head_bias: torch.Tensor
    out_weight: torch.Tensor
    out_bias: torch.Tensor

    def __init__(self, net: PointCloudNet) -> None:
        super().__init__()
        self.config = net.config
        self.relu: list[bool] = []
        for k, layer in enumerate((net.conv1, net.conv2, net.conv3)):
            weight, bias, relu = _conv1d_bn_as_2d(layer)
            self.register_buffer(f"conv{k}_weight", weight)
            self.register_buffer(f"conv{k}_bias", bias)
            self.relu.append(relu)
        self.register_buffer("point_index", net.point_index.clone(), persistent=False)
        linear, bn, last = net.head[0], net.head[1], net.head[4]
        assert isinstance(linear, nn.Linear) and isinstance(bn, nn.BatchNorm1d) and isinstance(last, nn.Linear)
        assert net.joint_bias is not None
        weight, bias = _linear_bn(linear, bn)  # bias: BN's shift (the Linear has none)
        s, _ = _bn_affine(bn)
        self.register_buffer("head_weight", weight.t().contiguous())  # (C3, H)
        self.register_buffer("head_bias", (net.joint_bias.detach() * s + bias).contiguous())  # (J, H)
        self.register_buffer("out_weight", last.weight.detach().t().contiguous())  # (H, 3)
        self.register_buffer("out_bias", last.bias.detach().clone())

    def forward(self, points: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        x = points.reshape(-1, cfg.num_points, 3).transpose(1, 2)  # (M, 3, N)
        count = counts.reshape(-1, 1, 1).to(x.dtype)
        x = torch.where(self.point_index.to(x.dtype) < count, x, x[:, :, :1]).unsqueeze(2)  # (M, 3, 1, N)
        for k, relu in enumerate(self.relu):
            x = functional.conv2d(x, getattr(self, f"conv{k}_weight"), getattr(self, f"conv{k}_bias"))
            x = torch.relu(x) if relu else x
        pooled = functional.adaptive_max_pool2d(x, 1).flatten(1)  # (M, C3): GlobalMaxPool
        feature = torch.where(count.reshape(-1, 1) > 0, pooled, 0.0)  # as masked_max: empty clouds give zeros
        hidden = torch.matmul(feature.reshape(-1, cfg.num_joints, feature.shape[-1]), self.head_weight)
        return torch.matmul(torch.relu(hidden + self.head_bias), self.out_weight) + self.out_bias  # (B, J, 3)
