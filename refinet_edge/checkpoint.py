"""Stage weights as safetensors files, and the training state for ``--resume``.

**Stage checkpoints** (``<stage>.safetensors``): the module's ``state_dict``
with float tensors stored as fp16 (default) or fp32, plus string metadata:

==========================  ==================================================
metadata key                value
==========================  ==================================================
``format``                  ``refinet-edge-stage`` (``format_version`` ``1``)
``stage``                   patch, skeleton or pointcloud
``model_config``            JSON of the stage's config dataclass
``preprocess``              JSON of the pre-processing settings (opaque here)
``extra``                   JSON, free-form training summary (metrics, hypes)
``dtype``                   fp16 or fp32 (storage of the float tensors)
``refinet_edge_version``    the writer's package version
==========================  ==================================================

BatchNorm's ``num_batches_tracked`` (int64, one number per BN) is stored as is,
so a loaded model is exactly the saved one; it is only read when BN momentum is
None. Loading always returns an fp32 model in eval mode; ``sha256`` is the
file's hash, for provenance in exports and reports.

**Training state** (``--resume``): model, optimiser and scheduler state, epoch,
best metric and the RNG states (torch, Python ``random``, NumPy's global
generator and any named :class:`numpy.random.Generator`) in one ``torch.save``
file of plain containers, read back with ``weights_only=True``.

Both writers go through :func:`refinet_edge.atomic.atomic_path`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from . import __version__
from .atomic import atomic_path, sha256_file
from .errors import RefinetError
from .models import STAGES, ModelConfig, build_model, check_stage, config_from_dict
from .models.config import check_flip_test

FORMAT = "refinet-edge-stage"
FORMAT_VERSION = "1"
STORAGE_DTYPES: dict[str, torch.dtype] = {"fp16": torch.float16, "fp32": torch.float32}


@dataclass(frozen=True)
class StageCheckpoint:
    """What a stage checkpoint says besides its weights."""

    stage: str
    model_config: ModelConfig
    preprocess: dict
    extra: dict
    sha256: str
    dtype: str = "fp32"
    version: str = ""


def _shape(shape: Any) -> str:
    dims = tuple(int(d) for d in shape)
    return str(dims) if len(dims) != 1 else f"({dims[0]},)"


def check_state_dict(name: str, found: Mapping[str, Any], expected: Mapping[str, torch.Tensor]) -> None:
    """Raise naming the first tensor whose shape differs, or every missing/unexpected tensor."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensors {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected tensors {', '.join(unexpected)}")
        raise RefinetError(f"{name}: does not fit the configured model: {'; '.join(parts)}")
    for key, tensor in expected.items():
        shape = found[key]
        if tuple(shape) != tuple(tensor.shape):
            raise RefinetError(
                f"{name}: tensor {key} has shape {_shape(shape)} "
                f"but the configured model expects {_shape(tensor.shape)}"
            )


def save_stage(
    path: str | Path,
    stage: str,
    model: torch.nn.Module,
    model_config: ModelConfig,
    *,
    preprocess: dict,
    extra: dict,
    dtype: str = "fp16",
) -> str:
    """Write ``model``'s weights and metadata to ``path`` atomically; returns the file's sha256."""
    check_stage(stage)
    if dtype not in STORAGE_DTYPES:
        raise RefinetError(f"checkpoint dtype must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")
    check_state_dict(f"save_stage({stage})", {k: v.shape for k, v in model.state_dict().items()},
                     build_model(stage, model_config).state_dict())
    tensors = {
        k: (v.detach().to(STORAGE_DTYPES[dtype]) if v.is_floating_point() else v.detach()).cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    try:
        metadata = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "stage": stage, "dtype": dtype,
            "model_config": json.dumps(model_config.to_dict()), "preprocess": json.dumps(preprocess),
            "extra": json.dumps(extra), "refinet_edge_version": __version__,
        }
    except TypeError as exc:
        raise RefinetError(f"{path}: checkpoint metadata must be JSON-serialisable ({exc})") from None
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return sha256_file(path)


def _read_header(path: Path) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    if not path.is_file():
        raise RefinetError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise RefinetError(f"{path}: not a readable safetensors file ({exc})") from None
    if metadata.get("format") != FORMAT:
        raise RefinetError(f"{path}: not a refinet-edge stage checkpoint (metadata format {metadata.get('format')!r})")
    return metadata, shapes


def _json_field(path: Path, metadata: dict[str, str], key: str) -> Any:
    try:
        return json.loads(metadata[key])
    except (KeyError, json.JSONDecodeError) as exc:
        raise RefinetError(f"{path}: checkpoint metadata {key!r} is missing or not JSON ({exc})") from None


def _info(path: Path) -> tuple[StageCheckpoint, dict[str, tuple[int, ...]]]:
    metadata, shapes = _read_header(path)
    stage = metadata.get("stage", "")
    if stage not in STAGES:
        raise RefinetError(f"{path}: unknown stage {stage!r} in the checkpoint metadata")
    config = config_from_dict(stage, _json_field(path, metadata, "model_config"), source=f"{path} model_config")
    info = StageCheckpoint(
        stage, config, _json_field(path, metadata, "preprocess"), _json_field(path, metadata, "extra"),
        sha256_file(path), metadata.get("dtype", ""), metadata.get("refinet_edge_version", ""),
    )
    return info, shapes


def read_stage_info(path: str | Path) -> StageCheckpoint:
    """The metadata of a stage checkpoint, without building the model."""
    return _info(Path(path))[0]


def load_stage(
    path: str | Path, expect_stage: str | None = None, model_config: ModelConfig | None = None
) -> tuple[torch.nn.Module, StageCheckpoint]:
    """Build the stage's model and load its weights: ``(model (eval, fp32), info)``.

    The model is built from the stored config, or from ``model_config`` when
    given (e.g. the hypes' sizes); tensors that do not fit are named.
    """
    path = Path(path)
    info, shapes = _info(path)
    if expect_stage is not None and info.stage != check_stage(expect_stage):
        raise RefinetError(f"{path}: holds the {info.stage!r} stage, expected {expect_stage!r}")
    config = model_config if model_config is not None else info.model_config
    check_flip_test(config, info.preprocess.get("mode"), str(path))
    model = build_model(info.stage, config)
    expected = model.state_dict()
    check_state_dict(path.name, shapes, expected)
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {key: f.get_tensor(key).to(expected[key].dtype) for key in shapes}
    except (SafetensorError, OSError, ValueError) as exc:
        raise RefinetError(f"{path}: not a readable safetensors file ({exc})") from None
    model.load_state_dict(state, strict=True)
    if model_config is not None:
        info = StageCheckpoint(info.stage, model_config, info.preprocess, info.extra, info.sha256, info.dtype,
                               info.version)
    return model.eval(), info


# ---------------------------------------------------------------- training state


@dataclass
class TrainingState:
    """Everything ``--resume`` needs; ``restore`` puts it back into live objects.

    Fields read as attributes or items (``state.epoch`` or ``state["epoch"]``).
    """

    stage: str | None
    epoch: int  # the last completed epoch
    best: Any  # the best validation metric so far: a number or a dict of plain values
    model: dict
    optimizer: dict | None
    scheduler: dict | None
    rng: dict
    extra: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def restore(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: Any = None,
        generators: Mapping[str, np.random.Generator] | None = None,
    ) -> None:
        """Load the saved states into ``model``, ``optimizer``, ``scheduler`` and the RNGs."""
        check_state_dict("training state", {k: v.shape for k, v in self.model.items()}, model.state_dict())
        model.load_state_dict(self.model)
        if optimizer is not None and self.optimizer is not None:
            optimizer.load_state_dict(self.optimizer)
        if scheduler is not None and self.scheduler is not None:
            scheduler.load_state_dict(self.scheduler)
        torch.set_rng_state(self.rng["torch"])
        if torch.cuda.is_available() and self.rng.get("cuda"):
            torch.cuda.set_rng_state_all(self.rng["cuda"])
        version, state, gauss = self.rng["python"]
        random.setstate((version, tuple(state), gauss))
        legacy = self.rng["numpy"]
        np.random.set_state((legacy[0], np.asarray(legacy[1], dtype=np.uint32), *legacy[2:]))
        for name, generator in (generators or {}).items():
            if name not in self.rng["generators"]:
                raise RefinetError(f"training state has no saved generator {name!r}")
            generator.bit_generator.state = self.rng["generators"][name]


def _state_dict(obj: Any) -> dict | None:
    """A module/optimiser/scheduler's ``state_dict()``, or the state dict itself."""
    if obj is None:
        return None
    return obj.state_dict() if hasattr(obj, "state_dict") else dict(obj)


def save_training_state(
    path: str | Path,
    *,
    model: torch.nn.Module | Mapping[str, Any],
    optimizer: Any = None,
    scheduler: Any = None,
    epoch: int,
    best: Any = None,
    stage: str | None = None,
    generators: Mapping[str, np.random.Generator] | None = None,
    extra: dict | None = None,
) -> None:
    """Write the training state atomically (``torch.save`` of plain containers).

    ``model``, ``optimizer`` and ``scheduler`` are the live objects or their
    ``state_dict()``; ``best`` is a number or a dict of plain values; the torch,
    Python and NumPy global RNG states are always saved, ``generators`` by name.
    """
    legacy = cast(tuple, np.random.get_state())  # ("MT19937", keys (624,) uint32, pos, has_gauss, gauss)
    rng = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [legacy[0], legacy[1].tolist(), *legacy[2:]],
        "generators": {name: g.bit_generator.state for name, g in (generators or {}).items()},
    }
    state = {
        "format": "refinet-edge-training-state", "version": __version__,
        "stage": None if stage is None else check_stage(stage), "epoch": int(epoch), "best": best,
        "model": _state_dict(model), "optimizer": _state_dict(optimizer), "scheduler": _state_dict(scheduler),
        "rng": rng, "extra": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_training_state(path: str | Path) -> TrainingState:
    """Read a file written by :func:`save_training_state` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise RefinetError(f"{path}: no such training-state file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise RefinetError(f"{path}: not a readable training-state file ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != "refinet-edge-training-state":
        raise RefinetError(f"{path}: not a refinet-edge training-state file")
    return TrainingState(
        stage=state["stage"], epoch=state["epoch"], best=state["best"], model=state["model"],
        optimizer=state["optimizer"], scheduler=state["scheduler"], rng=state["rng"], extra=state["extra"],
    )
