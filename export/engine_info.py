"""Everything about a TensorRT engine that needs no TensorRT: build settings, profiles, sidecars, mismatches.

An engine only runs on the GPU model (compute capability) and TensorRT version
that built it, and deserialising it anywhere else fails with a terse message.
So every ``{stage}.{precision}.engine`` gets a sidecar ``.engine.json``::

    {"schema_version": 2, "tool": "refinet-edge 0.1.0", "stage": "patch", "precision": "int8",
     "onnx": "patch.int8.onnx", "onnx_sha256": ..., "flavour": "tensorrt" | "tensorrt-rtx",
     "tensorrt": "10.3.0", "targets": ["8.9"] | [] (RTX: [] = its default portable set; TensorRT: []),
     "cuda": "12.6" | null, "gpu": "Orin" | null, "compute_capability": "8.7" | null, "jetpack": "R36.4.3" | null,
     "profile": {"patches": {"min": [1, 15, 40, 40], "opt": [...], "max": [...]}},
     "workspace_mb": 1024, "strongly_typed": true, "build_seconds": 12.3}

``tensorrt`` is the flavour's version. A TensorRT engine records the GPU that
built it; a TensorRT-RTX build touches no GPU (gpu and compute capability are
null) and records its targets instead. Loading compares the sidecar with the
machine at hand (:func:`mismatches`): same flavour and version always; then,
for TensorRT, the same GPU and compute capability, for TensorRT-RTX, a compute
capability among the targets. Schema 1 sidecars (TensorRT only) still load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from refinet_edge import __version__
from refinet_edge.atomic import read_json, write_json
from refinet_edge.errors import RefinetError

from .specs import StageSpec
from .trt_api import RTX, RTX_DEFAULT_TARGETS, RTX_TARGETS, TENSORRT

SIDECAR_SCHEMA = 2
READABLE_SCHEMAS = (1, 2)  # 1: before TensorRT-RTX (no flavour, no targets)
MAX_BATCH_LIMIT = 4096
TEGRA_RELEASE = Path("/etc/nv_tegra_release")


@dataclass(frozen=True)
class BuildSettings:
    """``max_batch``: largest batch (people x frames) the engine takes; ``opt_batch``: the one it is tuned for;
    ``workspace_mb``: TensorRT's scratch memory pool limit, MiB; ``targets``: TensorRT-RTX compute capabilities
    (``("8.9",)``; empty: its default portable set)."""

    max_batch: int = 16
    opt_batch: int = 1
    workspace_mb: int = 1024
    targets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch <= MAX_BATCH_LIMIT:
            raise RefinetError(f"--max-batch must be between 1 and {MAX_BATCH_LIMIT}, got {self.max_batch}")
        if not 1 <= self.opt_batch <= self.max_batch:
            raise RefinetError(f"--opt-batch must be between 1 and --max-batch ({self.max_batch}), "
                               f"got {self.opt_batch}")
        if self.workspace_mb < 16:
            raise RefinetError(f"--workspace must be at least 16 MB, got {self.workspace_mb}")


def profile_shapes(spec: StageSpec, settings: BuildSettings) -> dict[str, dict[str, list[int]]]:
    """Per input, the ``min`` / ``opt`` / ``max`` shapes of the optimisation profile (only the batch varies)."""
    return {name: {"min": [1, *shape], "opt": [settings.opt_batch, *shape], "max": [settings.max_batch, *shape]}
            for name, shape in spec.inputs.items()}


def buffer_bytes(spec: StageSpec, batch: int, itemsize: int = 4) -> dict[str, int]:
    """Bytes of each input and output buffer at ``batch`` (float32 I/O: the engines keep fp32 inputs/outputs)."""
    sizes = {}
    for name, shape in [*spec.inputs.items(), *spec.outputs.items()]:
        count = batch
        for dim in shape:
            count *= dim
        sizes[name] = count * itemsize
    return sizes


def parse_tegra_release(text: str) -> str | None:
    """``"R36.4.3"`` from ``/etc/nv_tegra_release`` (``# R36 (release), REVISION: 4.3, ...``), else None."""
    match = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"R{match.group(1)}.{match.group(2)}" if match else None


def jetpack_release(path: Path = TEGRA_RELEASE) -> str | None:
    """The L4T release of this Jetson, or None on other machines."""
    try:
        return parse_tegra_release(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def sidecar_path(engine: Path) -> Path:
    return engine.with_name(engine.name + ".json")


def make_sidecar(stage: str, precision: str, onnx_path: Path, onnx_sha256: str, platform: dict,
                 profile: dict, settings: BuildSettings, seconds: float) -> dict:
    """The sidecar of a freshly built engine; ``platform`` has flavour, tensorrt, cuda, gpu, compute_capability,
    jetpack (see :func:`~.trt_build.platform_info`)."""
    return {"schema_version": SIDECAR_SCHEMA, "tool": f"refinet-edge {__version__}", "stage": stage,
            "precision": precision, "onnx": onnx_path.name, "onnx_sha256": onnx_sha256,
            "flavour": platform.get("flavour", TENSORRT), **platform, "targets": list(settings.targets),
            "profile": profile, "workspace_mb": settings.workspace_mb, "strongly_typed": True,
            "build_seconds": round(seconds, 3)}


def write_sidecar(engine: Path, sidecar: dict) -> Path:
    path = sidecar_path(engine)
    write_json(path, sidecar)
    return path


def read_sidecar(engine: Path) -> dict:
    path = sidecar_path(engine)
    if not path.is_file():
        raise RefinetError(f"{engine}: no sidecar {path.name}; rebuild it with `refinet-edge build`")
    sidecar = read_json(path, missing="not found")
    if sidecar.get("schema_version") not in READABLE_SCHEMAS:
        raise RefinetError(f"{path}: not an engine sidecar (schema_version {SIDECAR_SCHEMA} expected)")
    sidecar.setdefault("flavour", TENSORRT)
    sidecar.setdefault("targets", [])
    return sidecar


def engine_targets(sidecar: dict) -> tuple[str, ...]:
    """The compute capabilities a TensorRT-RTX engine runs on (its targets, or the default portable set)."""
    return tuple(sidecar.get("targets") or RTX_DEFAULT_TARGETS)


def mismatches(sidecar: dict, platform: dict) -> list[str]:
    """What keeps the engine from running here: flavour and version; then TensorRT's GPU and compute capability,
    or a compute capability outside a TensorRT-RTX engine's targets. ``platform``: flavour, tensorrt, gpu,
    compute_capability of this machine."""
    built, here = sidecar.get("flavour", TENSORRT), platform.get("flavour", TENSORRT)
    if built != here:
        return [f"flavour {built} (built) vs {here} (here)"]
    label = "TensorRT-RTX" if built == RTX else "TensorRT"
    found = []
    if str(sidecar.get("tensorrt")) != str(platform.get("tensorrt")):
        found.append(f"{label} {sidecar.get('tensorrt')} (built) vs {platform.get('tensorrt')} (here)")
    if built == RTX:
        targets = engine_targets(sidecar)
        if str(platform.get("compute_capability")) not in targets:
            found.append(f"compute capability {platform.get('compute_capability')} (here) not among the engine's "
                         f"targets {', '.join(targets)}")
        return found
    for key, name in (("compute_capability", "compute capability"), ("gpu", "GPU")):
        if str(sidecar.get(key)) != str(platform.get(key)):
            found.append(f"{name} {sidecar.get(key)} (built) vs {platform.get(key)} (here)")
    return found


def needs_rebuild(engine: Path, sidecar: dict, platform: dict, onnx_sha256: str | None, allow: bool) -> bool:
    """False when ``engine`` fits this platform; True when it must be rebuilt and can be (its ONNX, with the
    recorded hash ``onnx_sha256`` given when the file is at hand, is unchanged and ``allow``); else raises."""
    found = mismatches(sidecar, platform)
    if not found:
        return False
    at_hand = onnx_sha256 is not None and onnx_sha256 == sidecar.get("onnx_sha256")
    if not (at_hand and allow):
        raise RefinetError(mismatch_message(engine, found, at_hand))
    return True


def rebuild_settings(sidecar: dict, platform: dict) -> BuildSettings:
    """The settings to rebuild a foreign engine with: its profile and workspace; for TensorRT-RTX, its targets,
    or this GPU's compute capability when that is outside them (an error if TensorRT-RTX has no such target)."""
    first = next(iter(sidecar["profile"].values()))
    targets = tuple(sidecar.get("targets") or ())  # empty: the default portable set again
    here = str(platform.get("compute_capability"))
    if platform.get("flavour") == RTX and here not in engine_targets(sidecar):
        if here not in RTX_TARGETS:
            raise RefinetError(f"TensorRT-RTX {platform.get('tensorrt')} has no build target for compute capability "
                               f"{here} ({platform.get('gpu')}); it supports {', '.join(RTX_TARGETS)}: use "
                               f"TensorRT on this GPU (`pip install 'refinet-edge[tensorrt]'`)")
        targets = (here,)
    return BuildSettings(int(first["max"][0]), int(first["opt"][0]), int(sidecar.get("workspace_mb", 1024)),
                         targets if platform.get("flavour") == RTX else ())


def mismatch_message(engine: Path, found: list[str], onnx_at_hand: bool) -> str:
    fix = (f"rebuild it: `refinet-edge build --onnx-dir {engine.parent}`" if onnx_at_hand
           else "rebuild it on this machine from its ONNX (`refinet-edge build`)")
    return f"{engine.name} was built for another platform: {'; '.join(found)}; engines do not move; {fix}"
