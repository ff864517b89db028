"""Merge a trained MLP skeleton and a trained transformer skeleton into one ensemble checkpoint.

    python scripts/merge_skeletons.py MLP.safetensors TRANSFORMER.safetensors OUT.safetensors

The ensemble (``model.arch: ensemble``, :mod:`refinet_edge.models.skeleton`) runs both networks on the same
input and averages their outputs; every tensor keeps its name and value. Both checkpoints must read the same
input (joints, input features, test-time flip) with the same stored pre-processing; otherwise the message names
what differs and nothing is written. The result is fp32 with both members' provenance under ``extra.members``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from refinet_edge.checkpoint import load_stage, save_stage
from refinet_edge.errors import RefinetError
from refinet_edge.models import build_model

SHARED = ("num_joints", "input_features", "flip_test")  # what both members must read alike
TRANSFORMER_FIELDS = ("token_size", "num_layers", "num_heads", "ff_size")


def merge(mlp_path: Path, transformer_path: Path, out: Path) -> str:
    """Write the ensemble of the two checkpoints to ``out``; returns its sha256."""
    mlp, mlp_info = load_stage(mlp_path, expect_stage="skeleton")
    tr, tr_info = load_stage(transformer_path, expect_stage="skeleton")
    for path, info, arch in ((mlp_path, mlp_info, "mlp"), (transformer_path, tr_info, "transformer")):
        if info.model_config.arch != arch:
            raise RefinetError(f"{path}: expected a {arch} skeleton, got arch {info.model_config.arch!r}")
    for name in SHARED:
        a, b = getattr(mlp_info.model_config, name), getattr(tr_info.model_config, name)
        if a != b:
            raise RefinetError(f"{mlp_path} has model {name} {a!r}, {transformer_path} has {b!r}: both members "
                               f"must read the same input")
    for key in sorted(set(mlp_info.preprocess) | set(tr_info.preprocess)):
        a, b = mlp_info.preprocess.get(key), tr_info.preprocess.get(key)
        if a != b:
            raise RefinetError(f"{mlp_path} has preprocess {key} {a!r}, {transformer_path} has {b!r}: both "
                               f"members must read the same input")
    config = replace(mlp_info.model_config, arch="ensemble",
                     **{name: getattr(tr_info.model_config, name) for name in TRANSFORMER_FIELDS})
    model = build_model("skeleton", config)
    model.load_state_dict({**mlp.state_dict(), **tr.state_dict()}, strict=True)
    members = [{"path": str(p), "sha256": info.sha256, "arch": info.model_config.arch, "extra": info.extra}
               for p, info in ((mlp_path, mlp_info), (transformer_path, tr_info))]
    return save_stage(out, "skeleton", model.eval(), config, preprocess=mlp_info.preprocess,
                      extra={"members": members}, dtype="fp32")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python scripts/merge_skeletons.py MLP.safetensors TRANSFORMER.safetensors OUT.safetensors",
              file=sys.stderr)
        return 2
    try:
        sha = merge(Path(argv[0]), Path(argv[1]), Path(argv[2]))
    except RefinetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"merged {argv[0]} (mlp) and {argv[1]} (transformer) -> {argv[2]} ({sha[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
