"""Size settings of the three stages, their presets and analytic cost (no torch needed).

Each stage has a frozen config dataclass whose defaults are the published
sizes; ``PRESETS[stage]`` names two of them:

* ``"published"``: the sizes of the paper and the authors' code.
* ``"edge"``: what we ship for Jetson-class devices (smaller where it pays).
  The pointcloud stage dominates the cost: on this 2-core CPU a training step
  of 32 frames took 2.6 s with N = 256 and channels 64-128-256 (159 M MACs per
  frame), 1.1 s with N = 128 at those channels, and 0.34 s with the shipped
  N = 128 and 32-64-128 (measured with one thread, torch 2.13 CPU).

``config.macs()`` counts the multiply-accumulates of one sample (batch 1) in
the convolutions, linear layers and matrix products; batch norm (folded into
the preceding layer at inference), ReLU, pooling and the residual adds are not
counted. ``config.num_params()`` counts trainable parameters (weights, biases,
batch-norm scale and shift), the same number as
:func:`refinet_edge.models.count_parameters` on the built module.

=================  =========  ===========  =====================================
stage, preset      params     MACs/sample  notes
=================  =========  ===========  =====================================
patch published    828 k      52.3 M       15 x 40 x 40 patches stacked as channels
patch edge         27.3 k     57.7 M       shared per-patch CNN 8-16-32, heatmap + soft-argmax
skeleton publ.     4.30 M     4.29 M       linear_size 1024
skeleton edge      1.10 M     1.09 M       linear_size 512
pointcloud publ.   2.94 M     12.83 G      N = 2000, both transforms, 15 clouds
pointcloud edge    19.5 k     20.0 M       N = 128, channels 32-64-128, head 64, no STN
=================  =========  ===========  =====================================
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from ..errors import RefinetError, did_you_mean


def _check_int(owner: object, name: str, minimum: int) -> None:
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RefinetError(f"{type(owner).__name__}.{name} must be an int >= {minimum}, got {value!r}")


def _check_dropout(owner: object) -> None:
    value = owner.dropout  # type: ignore[attr-defined]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise RefinetError(f"{type(owner).__name__}.dropout must be a probability in [0, 1), got {value!r}")


def _check_bool(owner: object, name: str) -> None:
    if not isinstance(getattr(owner, name), bool):
        raise RefinetError(f"{type(owner).__name__}.{name} must be true or false, got {getattr(owner, name)!r}")


def _check_channels(owner: object, name: str, length: int | None = None) -> None:
    value = getattr(owner, name)
    ok = isinstance(value, tuple) and len(value) >= 1 and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value
    )
    if not ok or (length is not None and len(value) != length):
        size = f"{length} " if length is not None else ""
        raise RefinetError(f"{type(owner).__name__}.{name} must be a list of {size}ints >= 1, got {value!r}")


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class _StageConfig:
    """Shared helpers: presets, dict round trip."""

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict, source: str = "model config") -> Any:
        """Inverse of :meth:`to_dict`; unknown keys are an error with a hint."""
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        for key in data:
            if key not in names:
                hint = did_you_mean(key, names)
                raise RefinetError(f"{source}: unknown {cls.__name__} field {key!r}{hint}; valid: {', '.join(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


PATCH_ARCHS = ("stacked", "heatmap")


@dataclass(frozen=True)
class PatchNetConfig(_StageConfig):
    """Stage A: (B, J, S, S) patches -> (B, J, 2) offsets in patch cells ((B, J, 5) with ``moments``).

    ``arch``: ``"stacked"`` is the published ResNet (the J patches stacked as
    channels, global average pool, FC head); ``"heatmap"`` is ours: one small
    CNN shared by every joint's patch, a heatmap per joint type and a
    soft-argmax (see :mod:`refinet_edge.models.patch`). The stacked fields
    (``stem_channels`` ... ``dropout``) only apply to ``"stacked"``,
    ``heatmap_channels`` and ``moments`` only to ``"heatmap"``. ``moments``
    adds no weights: the output gains the heatmap's variances and covariance
    (cells squared) after the two offsets, for a skeleton stage that reads
    them (``preprocess.skeleton.patch_evidence``).
    """

    num_joints: int = 15  # J, channels of the input (one patch per joint)
    patch_size: int = 40  # S, patch side in cells (px in the authors' mode)
    stem_channels: int = 64  # 7x7 stride-2 stem conv
    stage_channels: tuple[int, ...] = (64, 128)  # one ResNet stage each; stages after the first halve the size
    blocks_per_stage: tuple[int, ...] = (2, 2)  # BasicBlocks per stage
    fc_size: int = 256  # the two hidden FC layers
    dropout: float = 0.2
    arch: str = "stacked"
    heatmap_channels: tuple[int, ...] = (8, 16, 32)  # widths at S, S/2 and S/4 (heatmap arch)
    moments: bool = False  # heatmap arch: also output the heatmap's spread (B, J, 3) after the offsets

    def __post_init__(self) -> None:
        _check_bool(self, "moments")
        if self.moments and self.arch != "heatmap":
            raise RefinetError("PatchNetConfig.moments needs arch 'heatmap' (the spread is the heatmap's)")
        for name, minimum in (("num_joints", 1), ("patch_size", 1), ("stem_channels", 1), ("fc_size", 1)):
            _check_int(self, name, minimum)
        _check_channels(self, "stage_channels")
        _check_channels(self, "blocks_per_stage", len(self.stage_channels))
        _check_channels(self, "heatmap_channels", 3)
        _check_dropout(self)
        if self.arch not in PATCH_ARCHS:
            raise RefinetError(f"PatchNetConfig.arch must be one of {', '.join(PATCH_ARCHS)}, got {self.arch!r}"
                               f"{did_you_mean(str(self.arch), PATCH_ARCHS)}")
        if self.arch == "heatmap" and (self.patch_size < 8 or self.patch_size % 4):
            raise RefinetError(f"PatchNetConfig.patch_size must be a multiple of 4 and >= 8 for the heatmap arch, "
                               f"got {self.patch_size}")
        if min(self.feature_sizes()) < 1:
            raise RefinetError(
                f"PatchNetConfig.patch_size {self.patch_size} is too small for {len(self.stage_channels)} stages "
                f"(feature maps {self.feature_sizes()}); use a larger patch or fewer stages"
            )

    def feature_sizes(self) -> list[int]:
        """Side of the feature map after the stem conv, the max-pool and each stage (stacked arch)."""
        sizes = [_conv_out(self.patch_size, 7, 2, 3)]
        sizes.append(sizes[-1] // 2)
        for i in range(len(self.stage_channels)):
            sizes.append(_conv_out(sizes[-1], 3, 1 if i == 0 else 2, 1))
        return sizes

    def _blocks(self) -> list[tuple[int, int, int, int, int]]:
        """(in_ch, out_ch, stride, in_size, out_size) of every BasicBlock."""
        sizes = self.feature_sizes()
        blocks, cin = [], self.stem_channels
        for i, (cout, count) in enumerate(zip(self.stage_channels, self.blocks_per_stage, strict=True)):
            for b in range(count):
                stride = 2 if (i > 0 and b == 0) else 1
                size_in = sizes[i + 1] if b == 0 else sizes[i + 2]
                blocks.append((cin, cout, stride, size_in, sizes[i + 2]))
                cin = cout
        return blocks

    def heatmap_convs(self) -> list[tuple[int, int, int]]:
        """(in_ch, out_ch, output side) of every 3x3 conv of the heatmap arch, then the 1x1 head."""
        c1, c2, c3 = self.heatmap_channels
        s = self.patch_size
        return [(1, c1, s), (c1, c2, s // 2), (c2, c2, s // 2), (c2, c3, s // 4), (c3, c3, s // 4),
                (c3, c3, s // 4)]

    def macs(self) -> int:
        if self.arch == "heatmap":
            per_patch = sum(size**2 * cin * cout * 9 for cin, cout, size in self.heatmap_convs())
            grid = (self.patch_size // 4) ** 2
            per_patch += grid * self.heatmap_channels[2] * self.num_joints + grid * 2  # 1x1 head, soft-argmax
            per_patch += grid * 5 if self.moments else 0  # centred grid (2), its products (3)
            return self.num_joints * per_patch
        stem = self.feature_sizes()[0] ** 2 * self.num_joints * self.stem_channels * 49
        total = stem
        for cin, cout, stride, size_in, size_out in self._blocks():
            # authors' block: conv1 keeps the size, conv2 carries the stride
            total += size_in**2 * cin * cout * 9 + size_out**2 * cout * cout * 9
            if stride != 1 or cin != cout:
                total += size_out**2 * cin * cout
        c, f = self.stage_channels[-1], self.fc_size
        return total + c * f + f * f + f * 2 * self.num_joints

    def num_params(self) -> int:
        if self.arch == "heatmap":  # conv weights (no bias) + BN scale/shift, then the 1x1 head with bias
            total = sum(cin * cout * 9 + 2 * cout for cin, cout, _ in self.heatmap_convs())
            return total + self.heatmap_channels[2] * self.num_joints + self.num_joints
        total = self.num_joints * self.stem_channels * 49 + self.stem_channels + 2 * self.stem_channels
        for cin, cout, stride, _, _ in self._blocks():
            total += cin * cout * 9 + cout * cout * 9 + 4 * cout
            if stride != 1 or cin != cout:
                total += cin * cout + 2 * cout
        c, f, out = self.stage_channels[-1], self.fc_size, 2 * self.num_joints
        return total + c * f + 2 * f + f * f + 2 * f + f * out + out


SKELETON_ARCHS = ("mlp", "transformer", "ensemble")


@dataclass(frozen=True)
class SkeletonNetConfig(_StageConfig):
    """Stage B: (B, J, F) -> (B, J, 3).

    ``arch``: ``"mlp"`` is the published Martinez-style residual MLP over the flattened skeleton (``linear_size``,
    ``num_blocks``, ``batch_norm``, ``residual``); ``"transformer"`` is ours: one token per joint (its F numbers
    through a Linear, plus a learned embedding of which joint it is), ``num_layers`` pre-norm transformer encoder
    layers of width ``token_size`` with ``num_heads`` heads and a ``ff_size`` feed-forward, and a Linear to each
    joint's 3 outputs (see :mod:`refinet_edge.models.skeleton`); ``"ensemble"`` holds both side by side and
    averages their outputs (each reads the same input; their tensors keep their own names, so two trained
    checkpoints merge into one: ``scripts/merge_skeletons.py``). ``dropout`` and ``flip_test`` apply to all.
    """

    num_joints: int = 15
    input_features: int = 3  # per joint: 3 (x, y, z), 5 with the ray features, +4 evidence, +5 patch evidence
    linear_size: int = 1024  # width L of every hidden layer
    num_blocks: int = 2  # residual blocks of two (Linear + BN + ReLU + dropout)
    dropout: float = 0.2
    batch_norm: bool = True
    residual: bool = True  # the skip around each block (authors' network.residual)
    # test-time flip (ours): in eval mode also refine the mirrored skeleton and average the two results;
    # needs the 15 ITOP joints and the metric pre-processing (x first, the ray's x fourth)
    flip_test: bool = False
    arch: str = "mlp"  # "mlp" (published), "transformer" (one token per joint, ours) or "ensemble" (both, averaged)
    token_size: int = 128  # transformer: width d of every token
    num_layers: int = 4  # transformer: encoder layers
    num_heads: int = 4  # transformer: attention heads (token_size must be a multiple)
    ff_size: int = 512  # transformer: hidden width of each layer's feed-forward

    def __post_init__(self) -> None:
        for name, minimum in (("num_joints", 1), ("input_features", 1), ("linear_size", 1), ("num_blocks", 0),
                              ("token_size", 1), ("num_layers", 1), ("num_heads", 1), ("ff_size", 1)):
            _check_int(self, name, minimum)
        _check_dropout(self)
        _check_bool(self, "batch_norm")
        _check_bool(self, "residual")
        _check_bool(self, "flip_test")
        if self.arch not in SKELETON_ARCHS:
            raise RefinetError(f"SkeletonNetConfig.arch must be one of {', '.join(SKELETON_ARCHS)}, got "
                               f"{self.arch!r}{did_you_mean(str(self.arch), SKELETON_ARCHS)}")
        if self.token_size % self.num_heads:
            raise RefinetError(f"SkeletonNetConfig.token_size {self.token_size} must be a multiple of num_heads "
                               f"{self.num_heads}")
        if self.flip_test and (self.num_joints != 15 or self.input_features not in (3, 5, 7, 9, 14)):
            raise RefinetError(f"SkeletonNetConfig.flip_test needs the 15 ITOP joints and 3, 5, 7, 9 or 14 input "
                               f"features (coordinates, rays, evidence, patch evidence), "
                               f"got num_joints={self.num_joints}, input_features={self.input_features}")

    @property
    def has_mlp(self) -> bool:
        """The network holds the MLP (``mlp`` or ``ensemble``)."""
        return self.arch in ("mlp", "ensemble")

    @property
    def has_transformer(self) -> bool:
        """The network holds the transformer (``transformer`` or ``ensemble``)."""
        return self.arch in ("transformer", "ensemble")

    def macs(self) -> int:
        d_in, d, size = self.input_features * self.num_joints, 3 * self.num_joints, self.linear_size
        passes = 2 if self.flip_test else 1
        total = 0
        if self.has_transformer:
            j, t = self.num_joints, self.token_size
            per_layer = j * (4 * t * t + 2 * t * self.ff_size) + 2 * j * j * t  # qkv + proj, FF; scores, mix
            total += j * self.input_features * t + self.num_layers * per_layer + j * t * 3
        if self.has_mlp:
            total += d_in * size + d * size + 2 * self.num_blocks * size * size
        return passes * total

    def num_params(self) -> int:
        total = 0
        if self.has_transformer:
            t, f = self.token_size, self.ff_size
            per_layer = 4 * t + (3 * t * t + 3 * t) + (t * t + t) + (t * f + f) + (f * t + t)  # 2 LNs, attn, FF
            total += self.input_features * t + t + self.num_joints * t + self.num_layers * per_layer + 5 * t + 3
        if self.has_mlp:
            total += self._mlp_params()
        return total

    def _mlp_params(self) -> int:
        d_in, d, size = self.input_features * self.num_joints, 3 * self.num_joints, self.linear_size
        layer = size + (2 * size if self.batch_norm else 0)  # bias + BN
        return d_in * size + layer + 2 * self.num_blocks * (size * size + layer) + size * d + d


def check_flip_test(config: object, skeleton_mode: str | None, source: str) -> None:
    """``flip_test`` mirrors the encoded input, which only the metric skeleton pre-processing allows."""
    if getattr(config, "flip_test", False) and (skeleton_mode or "metric") != "metric":
        raise RefinetError(f"{source}: flip_test needs the metric skeleton pre-processing, got mode {skeleton_mode!r}")


@dataclass(frozen=True)
class PointCloudNetConfig(_StageConfig):
    """Stage C, a PointNet shared over joints: (B, J, N, 3) points + (B, J) counts -> (B, J, 3)."""

    num_joints: int = 15
    num_points: int = 2000  # N, points per joint cloud (authors: 2000 side view, 5000 top view)
    conv_channels: tuple[int, int, int] = (64, 128, 1024)  # the three shared per-point layers
    head_size: int = 128
    input_transform: bool = True  # STN3d: learned 3x3 transform of the input points
    feature_transform: bool = True  # STN(C1): learned C1xC1 transform of the first features
    dropout: float = 0.2
    joint_embedding: bool = False  # a learned per-joint bias in the head: the net knows which joint it refines

    def __post_init__(self) -> None:
        for name in ("num_joints", "num_points", "head_size"):
            _check_int(self, name, 1)
        _check_channels(self, "conv_channels", 3)
        _check_bool(self, "input_transform")
        _check_bool(self, "feature_transform")
        _check_bool(self, "joint_embedding")
        _check_dropout(self)
        if self.conv_channels[2] < 4 and (self.input_transform or self.feature_transform):
            raise RefinetError(
                f"PointCloudNetConfig.conv_channels[2] must be >= 4 with a transform on, got {self.conv_channels[2]}"
            )

    def _stn_macs_params(self, k: int) -> tuple[int, int]:
        c1, c2, c3 = self.conv_channels
        f1, f2 = c3 // 2, c3 // 4
        dims = [(k, c1), (c1, c2), (c2, c3)]
        fcs = [(c3, f1), (f1, f2), (f2, k * k)]
        macs = self.num_points * sum(a * b for a, b in dims) + sum(a * b for a, b in fcs) + self.num_points * k * k
        params = sum(a * b + 3 * b for a, b in dims + fcs[:2]) + f2 * k * k + k * k
        return macs, params

    def macs(self) -> int:
        c1, c2, c3 = self.conv_channels
        per_cloud = self.num_points * (3 * c1 + c1 * c2 + c2 * c3) + c3 * self.head_size + self.head_size * 3
        if self.input_transform:
            per_cloud += self._stn_macs_params(3)[0]
        if self.feature_transform:
            per_cloud += self._stn_macs_params(c1)[0]
        return self.num_joints * per_cloud

    def num_params(self) -> int:
        c1, c2, c3 = self.conv_channels
        total = sum(a * b + 3 * b for a, b in ((3, c1), (c1, c2), (c2, c3)))  # conv bias + BN
        total += c3 * self.head_size + 2 * self.head_size + self.head_size * 3 + 3
        if self.joint_embedding:
            total += self.num_joints * self.head_size
        if self.input_transform:
            total += self._stn_macs_params(3)[1]
        if self.feature_transform:
            total += self._stn_macs_params(c1)[1]
        return total


ModelConfig = PatchNetConfig | SkeletonNetConfig | PointCloudNetConfig

STAGES: tuple[str, ...] = ("patch", "skeleton", "pointcloud")
CONFIG_CLASSES: dict[str, type[_StageConfig]] = {
    "patch": PatchNetConfig,
    "skeleton": SkeletonNetConfig,
    "pointcloud": PointCloudNetConfig,
}
PRESETS: dict[str, dict[str, ModelConfig]] = {
    # patch: about the published cost (52 M MACs), but a shared per-patch CNN with heatmaps + soft-argmax:
    # it refines elbows, hands and knees, which the published stacked net does not (models/patch.py).
    "patch": {"published": PatchNetConfig(), "edge": PatchNetConfig(arch="heatmap")},
    "skeleton": {"published": SkeletonNetConfig(), "edge": SkeletonNetConfig(linear_size=512)},
    "pointcloud": {
        "published": PointCloudNetConfig(),
        "edge": PointCloudNetConfig(
            num_points=128, conv_channels=(32, 64, 128), head_size=64, input_transform=False, feature_transform=False
        ),
    },
}
PRESET_NAMES: tuple[str, ...] = ("published", "edge")


def check_stage(stage: str) -> str:
    """Return ``stage`` if it is one of :data:`STAGES`, else raise with a hint."""
    if stage not in STAGES:
        raise RefinetError(f"unknown stage {stage!r}{did_you_mean(str(stage), STAGES)}; valid: {', '.join(STAGES)}")
    return stage


def preset_config(stage: str, name: str = "published", **overrides: object) -> ModelConfig:
    """The ``name`` preset of ``stage`` with some fields replaced (validated)."""
    presets = PRESETS[check_stage(stage)]
    if name not in presets:
        raise RefinetError(
            f"unknown {stage} preset {name!r}{did_you_mean(str(name), list(presets))}; valid: {', '.join(presets)}"
        )
    base = presets[name]
    if not overrides:
        return base
    merged = {**base.to_dict(), **overrides}
    return CONFIG_CLASSES[stage].from_dict(merged, source=f"{stage} preset {name!r}")


def config_from_dict(stage: str, data: dict, source: str = "model config") -> ModelConfig:
    """Build ``stage``'s config from a plain dict (as stored in checkpoints)."""
    return CONFIG_CLASSES[check_stage(stage)].from_dict(data, source=source)


def format_count(n: float) -> str:
    """1234567 -> '1.23 M' (for logs and tables)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.{max(0, 2 - int(math.log10(abs(n) / scale)))}f} {unit}"
    return str(int(n))
