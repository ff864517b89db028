"""Stage B: the published residual MLP over the lifted skeleton, a transformer over its joints, or both.

Input ``joints (B, J, F)`` float (F = 3, or 5 with the ray features of
:class:`~refinet_edge.stage_io.SkeletonConfig`, + 4 evidence, + 5 patch evidence):
the lifted 3D joints, normalised by the
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

``arch="transformer"`` (ours): the MLP sees the skeleton as one flat vector,
so a pose unlike its training poses moves every hidden unit at once. Here
each joint is a token and attention lets each joint read the others::

    (B, J, F) -> Linear F->d (+bias) + a learned embedding per joint  (B, J, d)
    num_layers x pre-norm encoder layer:
        x = x + proj(attention(LayerNorm(x)))     num_heads heads, softmax(q k^T / sqrt(d / heads)) v
        x = x + Linear(GELU(Linear(LayerNorm(x))))  d -> ff_size -> d
    LayerNorm, Linear d->3 (+bias)                                     (B, J, 3)

``arch="ensemble"`` (ours): the MLP and the transformer side by side on the
same input, their outputs averaged (each keeps its tensor names, so a trained
MLP and a trained transformer merge into one checkpoint:
``scripts/merge_skeletons.py``).

The transformer's last Linear starts at zero, so a new one outputs 0, which the metric
decoding reads as "keep the lifted joint" (``stage_io.skeleton_decode``).
Written with plain MatMul, Softmax, LayerNormalization and Erf in ONNX (opset
17), no fused attention op. Dropout (``config.dropout``) after the attention
and in the feed-forward.

``flip_test=True`` (ours; eval mode only, so inside the exported graph): the
mirrored skeleton (x -> -x, left and right joints swapped: one constant
signed permutation matrix, a float MatMul in ONNX) goes through the MLP beside
the input as a batch of 2B, its output is mirrored back and the two are
averaged. Valid for the metric pre-processing, whose encoding commutes with
the mirror (centre = per-axis median; the ray feature's x is negated too).
"""

from __future__ import annotations

import torch
from torch import nn

from ..skeleton import FLIP_INDEX
from ..stage_io import NUM_EVIDENCE, NUM_PATCH_EVIDENCE, PATCH_EVIDENCE_MIRROR
from .config import SkeletonNetConfig

__all__ = ["EncoderLayer", "SkeletonNet", "SkeletonNetConfig"]


def _layer(in_features: int, out_features: int, config: SkeletonNetConfig) -> nn.Sequential:
    """Linear + (BN) + ReLU + dropout."""
    layers: list[nn.Module] = [nn.Linear(in_features, out_features)]
    if config.batch_norm:
        layers.append(nn.BatchNorm1d(out_features))
    layers += [nn.ReLU(), nn.Dropout(config.dropout)]
    return nn.Sequential(*layers)


def _mirror_matrix(num_joints: int, features: int, sign: list[float]) -> torch.Tensor:
    """``(J*F, J*F)`` with ``x_flat @ M`` = the mirrored skeleton, flattened: joint j takes joint
    ``FLIP_INDEX[j]``'s features times ``sign``."""
    m = torch.zeros(num_joints * features, num_joints * features)
    for j in range(num_joints):
        for k in range(features):
            m[FLIP_INDEX[j] * features + k, j * features + k] = sign[k]
    return m


def flip_signs(features: int) -> list[float]:
    """Per input feature, its sign in the mirror image: x and the ray's x flip; y, z, the ray's y and the four
    evidence features (per-joint scalars: :mod:`refinet_edge.preprocess.evidence`) do not; of the five patch-evidence
    features (14 = 5 + 4 + 5) the u shift and the correlation flip. The layouts: 3, 5 (rays), 7 (evidence), 9 (rays
    and evidence), 14 (and patch evidence)."""
    coords = [-1.0, 1.0, 1.0] + ([-1.0, 1.0] if features in (5, 9, 14) else [])
    if features == len(coords) + NUM_EVIDENCE + NUM_PATCH_EVIDENCE:
        return coords + [1.0] * NUM_EVIDENCE + list(PATCH_EVIDENCE_MIRROR)
    return coords + [1.0] * (features - len(coords))


class EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer over ``(B, J, d)`` tokens (attention, then a GELU feed-forward)."""

    def __init__(self, size: int, heads: int, ff_size: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(size)
        self.qkv = nn.Linear(size, 3 * size)
        self.proj = nn.Linear(size, size)
        self.norm2 = nn.LayerNorm(size)
        self.ff = nn.Sequential(nn.Linear(size, ff_size), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_size, size))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, j, d = x.shape
        h = self.heads
        qkv = self.qkv(self.norm1(x)).reshape(b, j, 3, h, d // h).permute(2, 0, 3, 1, 4)  # (3, B, H, J, d/H)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (d // h) ** -0.5, dim=-1)  # (B, H, J, J)
        mixed = torch.matmul(attn, v).permute(0, 2, 1, 3).reshape(b, j, d)
        x = x + self.drop(self.proj(mixed))
        return x + self.drop(self.ff(self.norm2(x)))


class SkeletonNet(nn.Module):
    """``joints (B, J, F)`` -> ``(B, J, 3)`` (normalised units; F = ``input_features``)."""

    flip_in: torch.Tensor
    flip_out: torch.Tensor

    def __init__(self, config: SkeletonNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SkeletonNetConfig()
        if config.has_transformer:
            t = config.token_size
            self.embed = nn.Linear(config.input_features, t)
            self.joint_embedding = nn.Parameter(torch.randn(config.num_joints, t) * 0.02)
            self.layers = nn.ModuleList(EncoderLayer(t, config.num_heads, config.ff_size, config.dropout)
                                        for _ in range(config.num_layers))
            self.norm = nn.LayerNorm(t)
            self.head = nn.Linear(t, 3)
            nn.init.zeros_(self.head.weight)  # output 0: keep the lifted joints (module docstring)
            nn.init.zeros_(self.head.bias)
        if config.has_mlp:
            size, dim = config.linear_size, 3 * config.num_joints
            self.input = _layer(config.input_features * config.num_joints, size, config)
            self.blocks = nn.ModuleList(
                nn.Sequential(_layer(size, size, config), _layer(size, size, config))
                for _ in range(config.num_blocks)
            )
            self.output = nn.Linear(size, dim)
        if config.flip_test:
            j, f = config.num_joints, config.input_features
            sign_in = flip_signs(f)
            self.register_buffer("flip_in", _mirror_matrix(j, f, sign_in), persistent=False)
            self.register_buffer("flip_out", _mirror_matrix(j, 3, [-1.0, 1.0, 1.0]), persistent=False)

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        features = cfg.input_features
        assert joints.dim() == 3 and tuple(joints.shape[1:]) == (cfg.num_joints, features), (
            f"SkeletonNet expects (B, {cfg.num_joints}, {features}), got {tuple(joints.shape)}"
        )
        if not (cfg.flip_test and not self.training):
            return self._net(joints)
        flat = joints.reshape(-1, cfg.num_joints * features)
        mirrored = torch.matmul(flat, self.flip_in)  # (B, J*F): the constant is MatMul's weight input
        both = torch.stack([flat, mirrored], dim=1).reshape(-1, cfg.num_joints, features)  # (2B, J, F)
        out = self._net(both).reshape(-1, 2, cfg.num_joints * 3)
        back = torch.matmul(out[:, 1], self.flip_out)  # the mirror's result, mirrored back
        return (0.5 * (out[:, 0] + back)).reshape(-1, cfg.num_joints, 3)

    def _net(self, joints: torch.Tensor) -> torch.Tensor:
        """The network on ``(B, J, F)`` without the flip test: the MLP, the transformer or their average."""
        arch = self.config.arch
        if arch == "transformer":
            return self._transformer(joints)
        if arch == "ensemble":
            return 0.5 * (self._flat_mlp(joints) + self._transformer(joints))
        return self._flat_mlp(joints)

    def _transformer(self, joints: torch.Tensor) -> torch.Tensor:
        x = self.embed(joints) + self.joint_embedding  # (B, J, d)
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x))  # (B, J, 3)

    def _flat_mlp(self, joints: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        x = self.input(joints.reshape(-1, cfg.input_features * cfg.num_joints))  # (B, L)
        for block in self.blocks:
            x = block(x) + x if cfg.residual else block(x)
        return self.output(x).reshape(-1, cfg.num_joints, 3)  # (B, J, 3)
