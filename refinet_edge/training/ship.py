"""Copy a trained chain's best checkpoints into the package as compact fp16 weights.

``python -m refinet_edge.training.ship checkpoints/synthetic`` writes
``refinet_edge/weights/{patch,skeleton,pointcloud}.safetensors`` (fp16 storage,
fp32 at load) with each stage's model config, pre-processing and training
summary in the file's metadata, and prints their sizes.
``python -m refinet_edge.training.ship checkpoints/synthetic_top refinet_edge/weights/top`` ships the
top-view set (selected by ``--view top``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..checkpoint import load_stage, save_stage
from ..errors import RefinetError
from ..pipeline import STAGES, WEIGHTS_DIR


def ship_weights(src_dir: str | Path, dst_dir: str | Path = WEIGHTS_DIR) -> list[Path]:
    """Re-save every ``{stage}.safetensors`` of ``src_dir`` in fp16 under ``dst_dir``."""
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    written = []
    for stage in STAGES:
        path = src_dir / f"{stage}.safetensors"
        if not path.exists():
            continue
        model, meta = load_stage(path, expect_stage=stage)
        target = dst_dir / path.name
        save_stage(target, stage, model, meta.model_config, preprocess=meta.preprocess,
                   extra={**meta.extra, "source_sha256": meta.sha256}, dtype="fp16")
        written.append(target)
    if not written:
        raise RefinetError(f"{src_dir}: no {{patch,skeleton,pointcloud}}.safetensors to ship")
    return written


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m refinet_edge.training.ship CHECKPOINT_DIR [WEIGHTS_DIR]", file=sys.stderr)
        sys.exit(2)
    try:
        if len(args) == 2:
            Path(args[1]).mkdir(parents=True, exist_ok=True)
        for path in ship_weights(*args):
            print(f"ship: {path} {path.stat().st_size / 1e6:.2f} MB")
    except RefinetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
