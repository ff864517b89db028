"""Start a training run from a trained checkpoint (``train.init_from``): fine-tuning on new data.

Every tensor is copied from the checkpoint and must have the new model's shape, with one exception: the
skeleton stage's first layer may read more numbers per joint than the checkpoint's did (the four evidence
features appended to x, y, z and the two ray features, :mod:`refinet_edge.stage_io`). Its weight matrix is
then widened joint by joint: the checkpoint's columns for each joint's old features are kept and the new
features' columns are zero, so the widened network computes exactly what the checkpoint computed until
training teaches it to use the new inputs.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import RefinetError

INPUT_WEIGHT = "input.0.weight"  # SkeletonNet's first Linear (models/skeleton.py: _layer)


def init_from_checkpoint(model, path: str | Path, stage: str) -> str:
    """Load ``path``'s weights into ``model`` (in place); returns a one-line description of what was done."""
    from ..checkpoint import load_stage

    source, info = load_stage(path, expect_stage=stage)
    old, new = source.state_dict(), model.state_dict()
    widened = []
    state = {}
    for key, target in new.items():
        if key not in old:
            raise RefinetError(f"train.init_from {path}: has no tensor {key!r} (another architecture)")
        tensor = old[key]
        if tensor.shape != target.shape:
            if not (stage == "skeleton" and key == INPUT_WEIGHT):
                raise RefinetError(f"train.init_from {path}: {key} is {tuple(tensor.shape)}, the model needs "
                                   f"{tuple(target.shape)} (only the skeleton's input layer may widen)")
            tensor = _widen_input(tensor, target.shape, model.config.num_joints, str(path))
            widened.append(key)
        state[key] = tensor.to(target.dtype)
    model.load_state_dict(state, strict=True)
    note = f"; {', '.join(widened)} widened with zero columns for the new input features" if widened else ""
    return f"initialised from {path} ({info.stage}, {info.sha256[:12]}){note}"


def _widen_input(weight, shape, joints: int, where: str):
    """``weight (L, J*F_old)`` -> ``(L, J*F_new)``: each joint's old columns kept, the new ones zero."""
    import torch

    rows, cols = weight.shape
    if shape[0] != rows or cols % joints or shape[1] % joints or shape[1] < cols:
        raise RefinetError(f"train.init_from {where}: cannot widen the input layer {tuple(weight.shape)} to "
                           f"{tuple(shape)}")
    f_old, f_new = cols // joints, shape[1] // joints
    out = torch.zeros(shape, dtype=weight.dtype)
    out.view(rows, joints, f_new)[:, :, :f_old] = weight.view(rows, joints, f_old)
    return out
