"""2D pose front ends: every detector turns an :class:`RGBDFrame` into ITOP-ordered 2D joints per person.

Chosen with ``--detector SPEC``:

===========================  ==========================================================
``gt[:sigma=5,swap=0,...]``  ground truth + :class:`~refinet_edge.noise.DetectorNoise` (synthetic sources)
``keypoints:FILE.jsonl``     precomputed 2D per frame (format below)
``onnx:MODEL.onnx``          a COCO-17 YOLO pose model on ONNX Runtime (:mod:`.onnx_pose`)
``mediapipe[:MODEL.task]``   MediaPipe Pose on the colour image (:mod:`.mediapipe_pose`)
===========================  ==========================================================

Keypoint files: JSON Lines, one line per frame::

    {"frame": 12, "people": [{"joints_2d": [[u, v], ... 15], "scores": [15 numbers in 0..1]}]}

``frame`` is the source's frame number; joints are in ITOP order, pixel
coordinates in the image the depth map is aligned to; a joint with score 0 is
missing. Frames with no line get no detection. Other keys are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import RefinetError, did_you_mean
from ..noise import DetectorNoise
from ..skeleton import NUM_JOINTS
from .frames import RGBDFrame

DEFAULT_NOISE = DetectorNoise()  # sigma 5 px, the authors' from_gt noise


@dataclass(frozen=True)
class Detections:
    """People found in one frame: ``uv_px (P, 15, 2)`` float64 (NaN = missing), ``scores (P, 15)`` in 0..1."""

    uv_px: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        p = self.uv_px.shape[0]
        assert self.uv_px.shape == (p, NUM_JOINTS, 2) and self.scores.shape == (p, NUM_JOINTS), \
            (self.uv_px.shape, self.scores.shape)

    @property
    def count(self) -> int:
        return int(self.uv_px.shape[0])

    @classmethod
    def none(cls) -> Detections:
        return cls(np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS)))


class Detector(Protocol):
    name: str  # for the startup line

    def __call__(self, frame: RGBDFrame) -> Detections: ...


class GroundTruthDetector:
    """The source's ground-truth 2D joints plus detector noise; frame ``n``'s noise depends only on (seed, n)."""

    def __init__(self, noise: DetectorNoise = DEFAULT_NOISE, seed: int = 0) -> None:
        self.noise, self.seed = noise, seed
        self.name = (f"ground truth + noise (sigma {noise.sigma_px:g} px, swaps {noise.swap_prob:g}, "
                     f"outliers {noise.outlier_prob:g}, seed {seed})")

    def __call__(self, frame: RGBDFrame) -> Detections:
        if frame.truth is None:
            raise RefinetError("--detector gt needs a source with ground truth (--camera synthetic, or a "
                               "recording with its .truth.jsonl beside it); for a camera use keypoints:, onnx:")
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(frame.number,)))
        uv = self.noise.apply_2d(frame.truth.uv_px, rng)
        return Detections(uv[None], np.ones((1, NUM_JOINTS)))


class KeypointsFileDetector:
    """Precomputed detections read from a keypoints JSONL file (format in the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.frames = read_keypoints_jsonl(self.path)
        self.name = f"keypoints file {self.path} ({len(self.frames)} frames)"

    def __call__(self, frame: RGBDFrame) -> Detections:
        return self.frames.get(frame.number, Detections.none())


def read_keypoints_jsonl(path: Path) -> dict[int, Detections]:
    """Parse a keypoints file; every problem names the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise RefinetError(f"{path}: keypoints file not found") from None
    frames: dict[int, Detections] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RefinetError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("frame"), int) \
                or not isinstance(record.get("people"), list):
            raise RefinetError(f'{where}: expected {{"frame": <int>, "people": [...]}}')
        if record["frame"] in frames:
            raise RefinetError(f"{where}: frame {record['frame']} appears twice")
        people = [_person(p, f"{where}: people[{k}]") for k, p in enumerate(record["people"])]
        uv = np.array([u for u, _ in people]).reshape(-1, NUM_JOINTS, 2)
        scores = np.array([s for _, s in people]).reshape(-1, NUM_JOINTS)
        frames[record["frame"]] = Detections(uv, scores)
    return frames


def _person(person: object, where: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(person, dict) or "joints_2d" not in person or "scores" not in person:
        raise RefinetError(f'{where}: expected {{"joints_2d": [[u, v] x {NUM_JOINTS}], '
                           f'"scores": [{NUM_JOINTS} numbers]}}')
    try:
        uv = np.array(person["joints_2d"], dtype=np.float64)
        scores = np.array(person["scores"], dtype=np.float64)
    except (TypeError, ValueError):
        raise RefinetError(f"{where}: joints_2d and scores must be numbers") from None
    if uv.shape != (NUM_JOINTS, 2) or scores.shape != (NUM_JOINTS,):
        raise RefinetError(f"{where}: expected joints_2d of shape ({NUM_JOINTS}, 2) and {NUM_JOINTS} scores "
                           f"(ITOP order), got {uv.shape} and {scores.shape}")
    if not (np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))):
        raise RefinetError(f"{where}: scores must be in 0..1")
    uv[scores == 0] = np.nan
    if not np.all(np.isfinite(uv[scores > 0])):
        raise RefinetError(f"{where}: joints with a score > 0 need finite coordinates")
    return uv, scores


def detections_to_jsonl(number: int, detections: Detections) -> str:
    """One keypoints-file line for ``detections`` of frame ``number`` (missing joints: score 0)."""
    people = []
    for uv, scores in zip(detections.uv_px, detections.scores, strict=True):
        missing = ~np.all(np.isfinite(uv), axis=-1)
        people.append({"joints_2d": np.where(missing[:, None], 0.0, uv).round(3).tolist(),
                       "scores": np.where(missing, 0.0, scores).round(4).tolist()})
    return json.dumps({"frame": int(number), "people": people})


def _gt(arg: str) -> Detector:
    keys = {"sigma": "sigma_px", "mu": "mu_px", "swap": "swap_prob", "outlier": "outlier_prob"}
    values: dict[str, float] = {}
    seed = 0
    for item in filter(None, arg.split(",")):
        key, _, value = item.partition("=")
        if key not in (*keys, "seed"):
            raise RefinetError(f"--detector gt: unknown setting {key!r}{did_you_mean(key, [*keys, 'seed'])}; "
                               f"valid: {', '.join([*keys, 'seed'])} (e.g. gt:sigma=5,swap=0.05)")
        try:
            number = float(value)
        except ValueError:
            raise RefinetError(f"--detector gt: {key} must be a number, got {value!r}") from None
        if key == "seed":
            seed = int(number)
        else:
            values[keys[key]] = number
    return GroundTruthDetector(DetectorNoise(**values), seed)


def _onnx(arg: str) -> Detector:
    from .onnx_pose import OnnxPoseDetector

    return OnnxPoseDetector(Path(arg))


def _mediapipe(arg: str) -> Detector:
    from .mediapipe_pose import MediaPipeDetector

    return MediaPipeDetector(Path(arg) if arg else None)


DETECTORS: dict[str, tuple[Callable[[str], Detector], str]] = {
    "gt": (_gt, "gt[:sigma=5,mu=0,swap=0,outlier=0,seed=0]"),
    "keypoints": (lambda arg: KeypointsFileDetector(arg), "keypoints:FILE.jsonl"),
    "onnx": (_onnx, "onnx:MODEL.onnx"),
    "mediapipe": (_mediapipe, "mediapipe[:MODEL.task]"),
}


def make_detector(spec: str) -> Detector:
    """Build the detector ``spec`` names (see the module docstring)."""
    kind, _, arg = spec.partition(":")
    if kind not in DETECTORS:
        raise RefinetError(f"--detector {spec!r}: unknown detector{did_you_mean(kind, list(DETECTORS))}; "
                           f"valid: {', '.join(usage for _, usage in DETECTORS.values())}")
    if kind in ("keypoints", "onnx") and not arg:
        raise RefinetError(f"--detector {kind} needs a file: {DETECTORS[kind][1]}")
    return DETECTORS[kind][0](arg)
