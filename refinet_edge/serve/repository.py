"""``refinet-edge export --triton-repo DIR``: a model repository for a full Triton server (NGC container, Jetson).

::

    DIR/
      README.md
      refinet_patch/       config.pbtxt, 1/model.onnx   stage A (onnxruntime_onnx; or 1/model.plan, tensorrt_plan)
      refinet_skeleton/    config.pbtxt, 1/model.onnx   stage B
      refinet_pointcloud/  config.pbtxt, 1/model.onnx   stage C
      refinet/             config.pbtxt, 1/model.py, 1/pipeline.json
                           Python backend: the pre-processing, chaining the stages by BLS

Clients see one model, ``refinet``, with the tensors of :mod:`.tensors` (the same as
``refinet-edge serve``). Every model has dynamic batching; the stages' tensors are the
export specs (:mod:`refinet_edge.export.specs`), float32, batch axis = people.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RefinetError, did_you_mean
from ..pipeline import STAGES
from .tensors import INPUTS, MAX_DEPTH_PX, MODEL_NAME, OUTPUTS, TRITON_DTYPES

PLATFORMS = {"onnxruntime_onnx": "model.onnx", "tensorrt_plan": "model.plan"}
MODEL_PY = Path(__file__).with_name("triton_model.py")


@dataclass(frozen=True)
class RepoSettings:
    platform: str = "onnxruntime_onnx"
    precision: str = "fp32"
    max_batch_people: int = 64
    queue_delay_us: int = 2000
    preferred_batch_sizes: tuple[int, ...] = ()
    max_depth_px: int = MAX_DEPTH_PX

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise RefinetError(f"Triton platform {self.platform!r}: expected one of {', '.join(PLATFORMS)}"
                               f"{did_you_mean(self.platform, list(PLATFORMS))}")
        if self.max_batch_people < 1 or any(not 1 <= b <= self.max_batch_people for b in self.preferred_batch_sizes):
            raise RefinetError("max batch must be >= 1 and preferred batch sizes within 1..max batch")


def stage_model_name(stage: str) -> str:
    return f"{MODEL_NAME}_{stage}"


def _tensor(name: str, dtype: np.dtype | type, dims: tuple[int, ...], optional: bool = False) -> str:
    extra = "\n    optional: true" if optional else ""
    return (f"  {{\n    name: \"{name}\"\n    data_type: TYPE_{TRITON_DTYPES[np.dtype(dtype)]}\n"
            f"    dims: [ {', '.join(map(str, dims))} ]{extra}\n  }}")


def _batching(settings: RepoSettings) -> str:
    preferred = "".join(f"\n  preferred_batch_size: {b}" for b in settings.preferred_batch_sizes)
    return f"dynamic_batching {{\n  max_queue_delay_microseconds: {settings.queue_delay_us}{preferred}\n}}\n"


def stage_config(stage: str, spec, settings: RepoSettings) -> str:
    """``config.pbtxt`` of a stage model: the export spec's names and per-sample shapes, float32."""
    inputs = ",\n".join(_tensor(n, np.float32, s) for n, s in spec.inputs.items())
    outputs = ",\n".join(_tensor(n, np.float32, s) for n, s in spec.outputs.items())
    return (f"name: \"{stage_model_name(stage)}\"\nplatform: \"{settings.platform}\"\n"
            f"max_batch_size: {settings.max_batch_people}\ninput [\n{inputs}\n]\noutput [\n{outputs}\n]\n"
            + _batching(settings))


def refinet_config(settings: RepoSettings) -> str:
    """``config.pbtxt`` of the ``refinet`` Python-backend model (the served tensors)."""
    inputs = ",\n".join(_tensor(n, d, s, o) for n, (d, s, o) in INPUTS.items())
    outputs = ",\n".join(_tensor(n, d, s) for n, (d, s) in OUTPUTS.items())
    return (f"name: \"{MODEL_NAME}\"\nbackend: \"python\"\nmax_batch_size: {settings.max_batch_people}\n"
            f"input [\n{inputs}\n]\noutput [\n{outputs}\n]\n" + _batching(settings)
            + "instance_group [\n  {\n    kind: KIND_CPU\n    count: 1\n  }\n]\n")


def write_triton_repo(onnx_dir: str | Path, repo: str | Path, settings: RepoSettings = RepoSettings(),
                      overwrite: bool = False) -> list[Path]:
    """Write the repository (layout in the module docstring) from an ``export`` directory; returns the files."""
    from refinet_edge.export.manifest import read_manifest, stage_file, stage_specs
    from refinet_edge.export.precision import Precision

    onnx_dir, repo = Path(onnx_dir), Path(repo)
    manifest = read_manifest(onnx_dir)
    missing = [s for s in STAGES if s not in manifest["stages"]]
    if missing:
        raise RefinetError(f"{onnx_dir}: the export lacks stage(s) {', '.join(missing)}; the repository needs all")
    if repo.exists() and any(repo.iterdir()) and not overwrite:
        raise RefinetError(f"{repo}: exists and is not empty; choose a new folder or pass overwrite")
    precision = Precision.parse(settings.precision)
    specs = stage_specs(manifest)
    sources = {s: (stage_file(onnx_dir, manifest, s, precision) if settings.platform == "onnxruntime_onnx"
                   else onnx_dir / precision.engine_name(s)) for s in STAGES}
    for stage, path in sources.items():
        if not path.is_file():
            raise RefinetError(f"{path}: not found ({stage}); tensorrt_plan needs engines built for the serving GPU "
                               f"(`refinet-edge build --onnx-dir {onnx_dir}` on that machine)")
    if repo.exists() and overwrite:
        shutil.rmtree(repo)
    written = []
    for stage in STAGES:
        folder = repo / stage_model_name(stage)
        (folder / "1").mkdir(parents=True)
        shutil.copyfile(sources[stage], folder / "1" / PLATFORMS[settings.platform])
        (folder / "config.pbtxt").write_text(stage_config(stage, specs[stage], settings))
        written += [folder / "config.pbtxt", folder / "1" / PLATFORMS[settings.platform]]
    top = repo / MODEL_NAME
    (top / "1").mkdir(parents=True)
    shutil.copyfile(MODEL_PY, top / "1" / "model.py")
    pipeline = {"preprocess": {s: manifest["stages"][s]["preprocess"] for s in STAGES},
                "specs": {s: {"inputs": list(specs[s].inputs), "outputs": list(specs[s].outputs)} for s in STAGES},
                "max_depth_px": settings.max_depth_px, "precision": precision.value, "platform": settings.platform}
    (top / "1" / "pipeline.json").write_text(json.dumps(pipeline, indent=2) + "\n")
    (top / "config.pbtxt").write_text(refinet_config(settings))
    (repo / "README.md").write_text(README.format(platform=settings.platform, precision=precision.value))
    return [*written, top / "config.pbtxt", top / "1" / "model.py", top / "1" / "pipeline.json", repo / "README.md"]


README = """# RefiNet model repository for Triton Inference Server

Written by `refinet-edge export --triton-repo` ({platform}, {precision}). Clients call one model,
`refinet` (tensors in `refinet_edge/serve/tensors.py`; `refinet-edge live --server HOST:8000`).

| model | backend | what |
|---|---|---|
| `refinet_patch`, `refinet_skeleton`, `refinet_pointcloud` | {platform} | the three stages, dynamic batching |
| `refinet` | python | pre-processing (lifting, patches, points) and the stages chained by BLS |

The `refinet` model imports `refinet_edge`: install it into the server's Python first (from a
checkout or a wheel of refinet-edge; extra `jit` for the compiled pre-processing).

Start Triton on this folder (NGC container; GPU box or Jetson), with the checkout mounted too:

    docker run --rm --gpus all --net host -v $PWD:/models -v /path/to/refinet-edge:/src \\
        nvcr.io/nvidia/tritonserver:<yy.mm>-py3 \\
        bash -c "pip install '/src[jit]' && tritonserver --model-repository /models"

On a Jetson, use the JetPack release of Triton and the same command without `--gpus all`.
For `tensorrt_plan`, `1/model.plan` must be an engine built on the serving GPU with the
TensorRT version of that Triton release (`refinet-edge build` there, then copy the engines).
Check it: `curl localhost:8000/v2/models/refinet/ready`.
"""
