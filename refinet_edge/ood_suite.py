"""Out-of-distribution evaluation suite: ``refinet-edge evaluate --suite ood``.

A fixed set of synthetic test splits (:data:`OOD_SPLITS`, one line of
:class:`~refinet_edge.synth.SynthConfig` overrides each), built once and
cached, each scored twice: with the default 2D detector noise of ``evaluate``
(sigma 5 px, 5 % swaps, 5 % outliers) and with exact 2D joints. Per split and
2D input it reports every step (acc@10cm, its standard error over frames,
MPJPE) and five joint groups (:data:`JOINT_GROUPS`) at the lifted input and
the last step, and **flags** every group whose last-step accuracy is below
its lifted-input accuracy.

Seeds
-----
Every split draws from its own seed in :data:`RESERVED_SEEDS` (170000-170999).
Training never uses them: the shipped weights were trained on seed 0 and
tested on seed 1 (README), and training recipes must keep out of this range
(``tests/test_ood_suite.py`` checks the hypes files and the README's commands).

Cache
-----
``<cache>/<split>-<key>.npz`` holds a split's depth (float16), joints, 2D
joints and visibility; ``key`` hashes the split's definition, the frame count
and the source of the generator (``refinet_edge/synth/*.py``, camera presets),
so a change to any of them rebuilds the split.

Splits that need a SynthConfig field this build lacks (sensor presets, Anny
bodies: other parts of issue 17) are listed as "not available in this build"
by :func:`missing_fields` until the field exists.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .atomic import atomic_path
from .camera import Camera, camera_preset
from .errors import RefinetError, did_you_mean
from .evaluate import EvalSettings, predict_steps, split_report
from .metrics import JOINT_GROUPS, joint_errors_mm, percent_cell
from .noise import DetectorNoise
from .pipeline import RefinementPipeline
from .synth import SynthConfig, generate_frames
from .synth.pose_space import HELD_OUT_FAMILIES
from .synth.wide_scene import WideScene

SUITES = ("ood",)
RESERVED_SEEDS = range(170_000, 171_000)
NOISE_CONDITIONS: dict[str, DetectorNoise] = {
    "default": DetectorNoise(sigma_px=5.0, swap_prob=0.05, outlier_prob=0.05),  # `evaluate`'s defaults
    "exact": DetectorNoise(sigma_px=0.0),
}
ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class SuiteSplit:
    """One test split: a camera preset, a view, a reserved seed and SynthConfig overrides."""

    name: str
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()
    camera: str = "itop_side"
    view: str = "side"


# The wide scene's camera, framed as the default scene frames people (whole body in view, 1.5-4.7 m).
_FRAMED = WideScene(aim_off_fraction=0.12, min_joints_in_frame=15, distance_m=(1.5, 4.7), occluder_prob=0.0,
                    second_person_prob=0.0)
_SENSORS = ("ideal", "d435", "d455", "d415", "tof", "random")
OOD_SPLITS: tuple[SuiteSplit, ...] = (
    SuiteSplit("in_distribution", 170_001),
    SuiteSplit("in_distribution_640x480", 170_002, camera="d435_640x480"),
    SuiteSplit("uniform_poses", 170_003, (("poses", "uniform"),)),
    SuiteSplit("held_out_families", 170_004, (("family_weights", tuple((f, 1.0) for f in HELD_OUT_FAMILIES)),)),
    SuiteSplit("camera_height_pitch", 170_005, (("scene", "wide"), ("wide", replace(
        _FRAMED, camera_heights_m=((0.5, 0.9), (1.9, 2.5)))))),
    SuiteSplit("occluders_second_person", 170_006, (("scene", "wide"), ("wide", replace(
        _FRAMED, camera_heights_m=((0.9, 1.9),), pitch_deg=(-15, 15), occluder_prob=1.0, second_person_prob=1.0)))),
    SuiteSplit("wide_scene_mixed_poses", 170_007, (("poses", "mixed"), ("scene", "wide"))),
    SuiteSplit("top_view", 170_008, camera="itop_top", view="top"),
    SuiteSplit("anny_bodies", 170_009, (("body", "anny"),)),
    *(SuiteSplit(f"sensor_{name}_{cam[-7:] if cam != 'itop_side' else '320x240'}", 170_010 + 2 * k + c,
                 (("sensor_preset", name),), camera=cam)
      for k, name in enumerate(_SENSORS) for c, cam in enumerate(("itop_side", "d435_640x480"))),
)


def missing_fields(split: SuiteSplit) -> list[str]:
    """The SynthConfig fields ``split`` needs that this build does not have (the single guard)."""
    known = {f.name for f in fields(SynthConfig)}
    return [name for name, _ in split.overrides if name not in known]


@dataclass(frozen=True)
class CachedSplit:
    """A built split, readable by :func:`~refinet_edge.evaluate.predict_steps` (as an ItopSplit)."""

    root: Path
    view: str
    split: str
    camera: Camera
    depth_f16: np.ndarray  # (N, H, W) metres
    joints_m: np.ndarray   # (N, 15, 3)
    uv_px: np.ndarray      # (N, 15, 2)
    visible: np.ndarray    # (N, 15) bool

    def __len__(self) -> int:
        return len(self.joints_m)

    def depth_batch(self, start: int, stop: int) -> np.ndarray:
        return self.depth_f16[start:stop].astype(np.float32)


@functools.cache
def _code_version() -> str:
    digest = hashlib.sha256(__version__.encode())
    here = Path(__file__).parent
    for path in sorted((here / "synth").glob("*.py")) + [here / "camera.py"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(split: SuiteSplit, frames: int) -> str:
    """Hash of the split's definition, its frame count and the generator's code."""
    text = json.dumps([repr(split), frames, _code_version()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_split(split: SuiteSplit, frames: int, cache_dir: Path, workers: int = 1) -> CachedSplit:
    """The split's frames, from the cache or rendered (then cached, written atomically)."""
    path = Path(cache_dir) / f"{split.name}-{cache_key(split, frames)}.npz"
    camera = camera_preset(split.camera)
    if not path.exists():
        config = SynthConfig(**dict(split.overrides))
        made = list(generate_frames(frames, seed=split.seed, camera=camera, view=split.view, workers=workers,
                                    config=config))
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, depth_f16=np.stack([f.depth_m for f in made]).astype(np.float16),
                     joints_m=np.stack([f.joints_m for f in made]), uv_px=np.stack([f.uv_px for f in made]),
                     visible=np.stack([f.visible for f in made]))
    with np.load(path) as data:
        arrays = {k: data[k] for k in ("depth_f16", "joints_m", "uv_px", "visible")}
    return CachedSplit(path, split.view, split.name, camera, **arrays)


def _group_accuracy(hits: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame accuracy (percent) of each joint group from ``hits (N, 15)`` bool."""
    return {g: hits[:, list(idx)].mean(axis=1) * 100.0 for g, idx in JOINT_GROUPS.items()}


def _se(per_frame: np.ndarray) -> float:
    return float(per_frame.std(ddof=1) / np.sqrt(len(per_frame))) if len(per_frame) > 1 else float("nan")


def group_table(input_hits: np.ndarray, last_hits: np.ndarray) -> dict[str, dict[str, float]]:
    """Each joint group's acc@10cm at the lifted input and the last step, their difference and its SE."""
    first, last = _group_accuracy(input_hits), _group_accuracy(last_hits)
    return {g: {"input": float(first[g].mean()), "last": float(last[g].mean()),
                "difference": float((last[g] - first[g]).mean()), "difference_se": _se(last[g] - first[g])}
            for g in JOINT_GROUPS}


def flagged(groups: dict[str, dict[str, float]]) -> list[str]:
    """Groups whose last-step accuracy is below their lifted-input accuracy."""
    return [g for g, row in groups.items() if row["last"] < row["input"]]


def score_condition(data: CachedSplit, pipeline: RefinementPipeline, noise: DetectorNoise,
                    stages_info: dict | None) -> dict:
    """An ``evaluate --json`` report of one split and 2D input, plus SEs, groups and flags."""
    settings = EvalSettings(noise=noise, seed=0, window=pipeline.config.lift_window)
    hidden = np.zeros(data.joints_m.shape[:2], dtype=bool)
    outputs = predict_steps(data, pipeline, settings, hidden=hidden)
    report = split_report(data, pipeline, settings, outputs, stages_info, hidden)
    hits = {step: joint_errors_mm(pred, data.joints_m) < report["steps"][step]["thresh_mm"]
            for step, pred in outputs.items()}
    for step, step_hits in hits.items():
        report["steps"][step]["acc_10cm_se"] = _se(step_hits.mean(axis=1) * 100.0)
    steps = list(outputs)
    report["groups"] = group_table(hits[steps[0]], hits[steps[-1]])
    report["flagged"] = flagged(report["groups"])
    return report


def run_suite(suite: str, pipeline: RefinementPipeline, frames: int = 150, cache_dir: Path = Path("runs/ood"),
              stages_info: dict | None = None, workers: int = 1, on_progress: ProgressFn | None = None,
              splits: tuple[SuiteSplit, ...] = OOD_SPLITS,
              view_pipelines: dict[str, tuple[RefinementPipeline, dict | None]] | None = None) -> dict:
    """Build (or load) every split of ``suite`` and score it; the JSON-ready suite report.

    ``view_pipelines`` maps a camera view to the (pipeline, stages_info) its splits are scored with instead of
    ``pipeline`` (as the shipped top-view weights score the top-view split); each entry records ``weights_view``.

    ``splits[i]`` entry: the ``evaluate --json`` report with the default 2D
    noise, plus ``name``, ``seed``, ``overrides``, ``groups``, ``flagged`` and
    ``exact_2d`` (the same report with exact 2D joints).
    """
    if suite not in SUITES:
        raise RefinetError(f"unknown suite {suite!r}{did_you_mean(suite, SUITES)}; valid: {', '.join(SUITES)}")
    if frames < 2:
        raise RefinetError(f"--suite-frames must be at least 2, got {frames}")
    entries, skipped = [], []
    for split in splits:
        missing = missing_fields(split)
        if missing:
            skipped.append({"name": split.name, "reason": "not available in this build (SynthConfig has no "
                            + ", ".join(repr(m) for m in missing) + ")"})
            continue
        if dict(split.overrides).get("body", "own") != "own":
            from .synth.anny_body import INSTALL_HINT, is_available

            if not is_available():
                skipped.append({"name": split.name, "reason": f"needs the Anny body model: {INSTALL_HINT}"})
                continue
        if on_progress:
            on_progress(split.name)
        data = build_split(split, frames, cache_dir, workers)
        own = (view_pipelines or {}).get(split.view)
        chain, info = own if own is not None else (pipeline, stages_info)
        entry = score_condition(data, chain, NOISE_CONDITIONS["default"], info)
        entry["exact_2d"] = score_condition(data, chain, NOISE_CONDITIONS["exact"], info)
        entries.append({"name": split.name, "seed": split.seed, "overrides": repr(dict(split.overrides)),
                        "weights_view": split.view if own is not None else "side", **entry})
    return {"schema_version": 1, "suite": suite, "tool": f"refinet-edge {__version__}", "frames_per_split": frames,
            "joint_groups": {g: list(idx) for g, idx in JOINT_GROUPS.items()}, "splits": entries,
            "skipped": skipped}


def suite_rows(report: dict) -> list[list[str]]:
    """Header and two rows per split (default noise, exact 2D) of the suite's table."""
    steps = list(report["splits"][0]["steps"]) if report["splits"] else []
    rows = [["split", "2D", *(f"{s} acc/MPJPE" for s in steps), "SE", *JOINT_GROUPS, "flagged"]]
    for entry in report["splits"]:
        for label, rep in (("noisy", entry), ("exact", entry["exact_2d"])):
            last = rep["steps"][steps[-1]]
            groups = [f"{rep['groups'][g]['input']:.0f}->{rep['groups'][g]['last']:.0f}"
                      + ("!" if g in rep["flagged"] else "") for g in JOINT_GROUPS]
            rows.append([entry["name"], label,
                         *(f"{rep['steps'][s]['acc_10cm']:.1f}/{rep['steps'][s]['mpjpe_mm']:.0f}" for s in steps),
                         f"{last['acc_10cm_se']:.1f}", *groups, ", ".join(rep["flagged"]) or "-"])
    return rows


def format_markdown(report: dict) -> str:
    """The suite's table in Markdown (what the README shows)."""
    return _markdown(suite_rows(report))


def _markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    return "\n".join(lines)


def visibility_rows(report: dict) -> list[list[str]]:
    """Header and two rows per split (default noise, exact 2D): the last step's acc@10cm of the joints the sensor
    sees and of the hidden ones (the labels' visibility), all joints, hands and feet, and (reports made since it
    exists) of the joints the answer flags ``hidden`` and the others; empty for a report made before
    ``by_visibility`` existed."""
    splits = [e for e in report["splits"] if "by_visibility" in e]
    if not splits:
        return []
    flag = all("by_hidden_flag" in e for e in splits)  # the answer's own flag, in reports made since it exists
    rows = [["split", "2D", "visible %", "visible", "hidden", "hands visible", "hands hidden", "feet visible",
             "feet hidden", *(["flagged %", "flagged", "not flagged"] if flag else [])]]
    cell = percent_cell
    for entry in splits:
        for label, rep in (("noisy", entry), ("exact", entry["exact_2d"])):
            last = rep["by_visibility"][list(rep["by_visibility"])[-1]]
            hands, feet = last["groups"]["hands"], last["groups"]["feet"]
            rows.append([entry["name"], label, f"{last['visible_share']:.0f}", cell(last["acc_10cm_visible"]),
                         cell(last["acc_10cm_hidden"]), cell(hands["acc_10cm_visible"]),
                         cell(hands["acc_10cm_hidden"]), cell(feet["acc_10cm_visible"]),
                         cell(feet["acc_10cm_hidden"])])
            if flag:
                hf = rep["by_hidden_flag"]
                rows[-1] += [f"{hf['flagged_share']:.0f}", cell(hf["acc_10cm_flagged"]),
                             cell(hf["acc_10cm_unflagged"])]
    return rows


def format_visibility_markdown(report: dict) -> str:
    """The visibility table (:func:`visibility_rows`) in Markdown; empty without ``by_visibility``."""
    rows = visibility_rows(report)
    return _markdown(rows) if rows else ""


def format_suite(report: dict) -> str:
    """The suite's table as plain text, a legend, and one line per skipped split."""
    rows = suite_rows(report)
    head = rows[0]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{report['frames_per_split']} frames per split; acc@10cm % / MPJPE mm per step; SE = standard "
                 f"error of the last step's acc@10cm over frames; groups: acc@10cm lifted input -> last step, "
                 f"! = last step below the lifted input")
    lines += [f"{s['name']}: {s['reason']}" for s in report["skipped"]]
    visibility = visibility_rows(report)
    if visibility:
        widths = [max(len(r[i]) for r in visibility) for i in range(len(visibility[0]))]
        lines += ["", "last step acc@10cm % of the joints the sensor sees (visible) and of those hidden behind a body "
                      "part or an object (the labels' visibility)"
                      + ("; of the joints the answer flags hidden (placed behind the measured surface: the flag "
                         "live writes) and of the others:" if "flagged %" in visibility[0] else ":")]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in visibility]
    return "\n".join(lines)
