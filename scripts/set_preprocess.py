"""Set one stored pre-processing field of a stage checkpoint, keeping its tensors and provenance.

    python scripts/set_preprocess.py refinet_edge/weights/skeleton.safetensors second_pass_m=0.15
    python scripts/set_preprocess.py checkpoints/run/patch.safetensors model.moments=true

The value is read as JSON (numbers, true/false, strings in quotes). A ``model.`` prefix sets a field of the
stored model config instead, one that changes no tensor (``moments`` of a heatmap patch net: its output gains
the heatmap's spread). The stage's config class checks it, so a bad name or value is a one-line error and the
file is left as it was.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from refinet_edge.checkpoint import load_stage, read_stage_info, save_stage
from refinet_edge.errors import RefinetError
from refinet_edge.models import build_model, config_from_dict
from refinet_edge.pipeline import config_from_preprocess

MODEL_FIELDS = ("moments",)  # model-config fields that add or change no tensor


def main(argv: list[str]) -> int:
    if len(argv) != 2 or "=" not in argv[1]:
        print("usage: python scripts/set_preprocess.py STAGE.safetensors FIELD=VALUE", file=sys.stderr)
        return 2
    path = Path(argv[0])
    field, _, text = argv[1].partition("=")
    try:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise RefinetError(f"{field}: {text!r} is not a JSON value (a number, true/false or a quoted "
                               "string)") from None
        info = read_stage_info(path)
        model, meta = load_stage(path, expect_stage=info.stage)
        preprocess, model_config = meta.preprocess, meta.model_config
        if field.startswith("model."):
            name = field.removeprefix("model.")
            if name not in MODEL_FIELDS:
                raise RefinetError(f"{field}: only {', '.join('model.' + f for f in MODEL_FIELDS)} can be set "
                                   f"(other model fields change the tensors)")
            model_config = config_from_dict(info.stage, {**model_config.to_dict(), name: value},
                                            source=f"{path} model_config")
            rebuilt = build_model(info.stage, model_config)
            rebuilt.load_state_dict(model.state_dict(), strict=True)
            model = rebuilt
        else:
            preprocess = {**preprocess, field: value}
            config_from_preprocess({info.stage: preprocess})  # checks the field and value as a loader would
        save_stage(path, info.stage, model, model_config, preprocess=preprocess, extra=meta.extra,
                   dtype=info.dtype or "fp16")
    except RefinetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    what = "model config" if field.startswith("model.") else "pre-processing"
    print(f"{path}: {info.stage} {what} {field.removeprefix('model.')} = {value!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
