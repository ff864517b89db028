"""``manifest.json`` of an ONNX directory, file hashes, and the one log line per written file.

Layout (``schema_version`` 1)::

    {"schema_version": 1, "tool": "refinet-edge 0.1.0", "opset": 17,
     "checkpoints": DIR,
     "stages": {"patch": {"spec": {"inputs": {...}, "outputs": {...}},
                          "preprocess": {...}, "checkpoint_sha256": ...,
                          "files": {"fp32": {"file": "patch.onnx", "sha256": ..., "bytes": ...},
                                    "fp16": {...}, "int8": {...}}}, ...},
     "parity": {"patch": {"max_abs_error": ..., "tolerance": ..., "samples": N}, ...},
     "precision_plan": {"fp16": {"patch": "fp16", ...}, "int8": {"patch": "int8", "pointcloud": "fp16", ...}}}
                   # per requested precision, what each stage runs (calibrate's accuracy gate)
"""

from __future__ import annotations

from pathlib import Path

from refinet_edge import __version__
from refinet_edge.atomic import read_json, sha256_file, write_json  # noqa: F401 - sha256_file re-exported
from refinet_edge.errors import RefinetError

from .precision import Precision
from .specs import StageSpec, spec_from_dict

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1


def artifact_line(what: str, path: Path, seconds: float) -> str:
    """The line every export, calibration and build prints: what, where, size, seconds."""
    size = path.stat().st_size
    size_text = f"{size / 1e6:.2f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
    return f"{what} -> {path} ({size_text}, {seconds:.2f} s)"


def new_manifest(opset: int, checkpoints: str) -> dict:
    return {"schema_version": SCHEMA_VERSION, "tool": f"refinet-edge {__version__}", "opset": opset,
            "checkpoints": checkpoints, "stages": {}, "parity": {}}


def manifest_view(manifest: dict) -> str:
    """The camera view (side/top) an export's weights are for; exports made before it was recorded: side."""
    return manifest.get("view", "side")


def read_manifest(onnx_dir: str | Path) -> dict:
    """The manifest of ``onnx_dir``; a one-line error when it is not an export directory."""
    path = Path(onnx_dir) / MANIFEST
    if not path.is_file():
        raise RefinetError(f"{onnx_dir}: no {MANIFEST}; make the directory with `refinet-edge export --out {onnx_dir}`")
    manifest = read_json(path, missing="not found")
    if manifest.get("schema_version") != SCHEMA_VERSION or not isinstance(manifest.get("stages"), dict):
        raise RefinetError(f"{path}: not a refinet-edge export manifest (schema_version {SCHEMA_VERSION} expected)")
    return manifest


def write_manifest(onnx_dir: str | Path, manifest: dict) -> Path:
    path = Path(onnx_dir) / MANIFEST
    write_json(path, manifest)
    return path


def record_file(manifest: dict, stage: str, precision: Precision, path: Path) -> None:
    """Enter ``path`` (hash and size) as ``stage``'s file at ``precision``."""
    entry = manifest["stages"].setdefault(stage, {}).setdefault("files", {})
    entry[precision.value] = {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def stage_file(onnx_dir: str | Path, manifest: dict, stage: str, precision: Precision) -> Path:
    """The ONNX of ``stage`` at ``precision``; the error says which precisions exist and how to make others."""
    files = manifest["stages"].get(stage, {}).get("files", {})
    if precision.value not in files:
        have = ", ".join(files) or "none"
        hint = ("run `refinet-edge export`" if precision is Precision.FP32
                else f"run `refinet-edge calibrate --precision {precision.value} --onnx-dir {onnx_dir}`")
        raise RefinetError(f"{onnx_dir}: no {precision.value} ONNX for stage {stage} (have: {have}); {hint}")
    path = Path(onnx_dir) / files[precision.value]["file"]
    if not path.is_file():
        raise RefinetError(f"{path}: listed in {MANIFEST} but missing; re-run the command that wrote it")
    check_hash(path, files[precision.value].get("sha256"))
    return path


def check_hash(path: Path, expected: str | None) -> None:
    """A one-line error when ``path`` is not the file the manifest recorded (truncated, corrupt or replaced)."""
    if expected and sha256_file(path) != expected:
        raise RefinetError(f"{path}: sha256 differs from {MANIFEST} ({expected[:12]}...): the file is truncated, "
                           f"corrupt or replaced; re-run the command that wrote it (`refinet-edge export` or "
                           f"`calibrate`)")


def stage_specs(manifest: dict) -> dict[str, StageSpec]:
    return {stage: spec_from_dict(stage, entry["spec"]) for stage, entry in manifest["stages"].items()}


def verify_files(onnx_dir: str | Path, manifest: dict | None = None) -> None:
    """Check every file the manifest lists against its recorded sha256: one line naming the first bad one."""
    manifest = manifest if manifest is not None else read_manifest(onnx_dir)
    for entry in manifest["stages"].values():
        for record in (entry.get("files") or {}).values():
            path = Path(onnx_dir) / record["file"]
            if not path.is_file():
                raise RefinetError(f"{path}: listed in {MANIFEST} but missing; re-run the command that wrote it")
            check_hash(path, record.get("sha256"))
