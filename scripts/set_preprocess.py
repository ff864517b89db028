"""Set one stored pre-processing field of a stage checkpoint, keeping its tensors and provenance.

    python scripts/set_preprocess.py refinet_edge/weights/skeleton.safetensors second_pass_m=0.15

The value is read as JSON (numbers, true/false, strings in quotes). The stage's config class checks it, so a
bad name or value is a one-line error and the file is left as it was.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from refinet_edge.checkpoint import load_stage, read_stage_info, save_stage
from refinet_edge.errors import RefinetError
from refinet_edge.pipeline import config_from_preprocess


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
        preprocess = {**meta.preprocess, field: value}
        config_from_preprocess({info.stage: preprocess})  # checks the field and value as a loader would
        save_stage(path, info.stage, model, meta.model_config, preprocess=preprocess, extra=meta.extra,
                   dtype=info.dtype or "fp16")
    except RefinetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: {info.stage} pre-processing {field} = {value!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
