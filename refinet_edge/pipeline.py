"""End-to-end refinement: depth map + camera + 2D joints -> refined 3D joints.

The authors chained their stages through pickle files; here one object runs
pre-processing and the three stages in order, batched over people or frames::

    2D joints --lift--> input --patch (A)--> 2D refined --lift--> patch
              --skeleton (B)--> skeleton --pointcloud (C)--> pointcloud

Every step's 3D joints are returned (metres, camera frame), so evaluation
scores each step. A stage that is not loaded is skipped (its step is absent and
the next stage takes the previous step's joints).

Joints whose 2D input is NaN or outside the image, or whose person has no
valid depth at all, are marked ``valid = False``: their output is whatever the
stages inferred (the skeleton stage can place a missing joint from the others)
or NaN, never silently presented as measured.

Second pass (``SkeletonConfig.second_pass_m`` > 0, stored with the skeleton
checkpoint): a detector's gross errors (a joint that jumped, snapped onto
another joint or swapped sides) leave the stages with a wrong 2D start that
the patch net cannot reach. After the last step, each detected joint whose
answer lies more than ``second_pass_m`` from its detection, across the camera
ray at the detection's lifted depth (``|uv_answer - uv_detected| * z / f``, z
the answer's depth where the detection has none: a detection that landed on
the background is far away, so it counts more), gets the answer projected into
the image as its new 2D start, and every person with such a joint runs through
the stages once more (the others are not run again: their second pass would
repeat the first). A joint the detector left out (NaN) has no detection to
disagree with, but the chain places it from the rest of the body: where that
answer projects into the image, it restarts from there too, so the second run
gets every joint (a detector that leaves joints out, as YOLO pose and MediaPipe
do under 0.5 confidence, otherwise drags the joints it gave). Step ``input`` and
``valid`` stay those of the detection (a left-out joint stays invalid); the
later steps and ``uv_px["patch"]`` are those of the pass that gave the answer,
and :attr:`PipelineResult.second_pass` says which joints were restarted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .camera import Camera
from .errors import RefinetError
from .occlusion import hidden_joints
from .preprocess.evidence import patch_evidence
from .preprocess.patches import PatchConfig
from .preprocess.points import PointConfig
from .preprocess.steps import PREPROCESS_CHOICES, Steps, select_steps
from .stage_io import (
    NUM_PATCH_EVIDENCE,
    SkeletonConfig,
    check_second_pass,
    check_skeleton_features,
    skeleton_config_from_dict,
    with_evidence,
)

STAGES = ("patch", "skeleton", "pointcloud")
STEPS = ("input", *STAGES)
WEIGHTS_DIR = Path(__file__).parent / "weights"
VIEWS = ("side", "top")
TOP_VIEW_PITCH_DEG = 60.0  # a camera looking down at least this steeply sees the top view (ITOP's is ~90)


def weights_dir(view: str = "side") -> Path:
    """The shipped weight set for a camera view: ``side`` (``weights/``) or ``top`` (``weights/top/``).

    The authors trained one model per view; a view whose weights are not shipped is a one-line error.
    """
    if view not in VIEWS:
        raise RefinetError(f"unknown view {view!r}; valid: {', '.join(VIEWS)}")
    directory = WEIGHTS_DIR if view == "side" else WEIGHTS_DIR / view
    if not any((directory / f"{stage}.safetensors").exists() for stage in STAGES):
        raise RefinetError(f"no {view}-view weights are shipped yet ({directory} holds no stage checkpoint); train "
                           f"them and pass --checkpoints DIR, or use --view side")
    return directory


def view_from_pitch(pitch_deg: float) -> str:
    """The weight set for a camera pitched ``pitch_deg`` below the horizon: ``top`` from
    :data:`TOP_VIEW_PITCH_DEG` on, else ``side``."""
    if not np.isfinite(pitch_deg):
        raise RefinetError(f"camera pitch must be a finite angle in degrees, got {pitch_deg}")
    return "top" if pitch_deg >= TOP_VIEW_PITCH_DEG else "side"

Runner = Callable[..., np.ndarray]  # a stage network: float32 arrays in, float32 array out
StepClock = Callable[[str], AbstractContextManager]  # entered around each named piece of work (benchmarks)


_NO_TIMER = nullcontext()  # reusable: entering it does nothing


def _untimed(name: str) -> AbstractContextManager:
    return _NO_TIMER


@dataclass(frozen=True)
class PipelineConfig:
    """Pre-processing settings of every stage (they travel with each stage's checkpoint)."""

    patch: PatchConfig = field(default_factory=PatchConfig)
    points: PointConfig = field(default_factory=PointConfig)
    skeleton: SkeletonConfig = field(default_factory=SkeletonConfig)
    lift_window: int = 9


@dataclass(frozen=True)
class PipelineResult:
    """Per step, joints ``(B, J, 3)`` m; 2D joints before/after stage A; validity ``(B, J)``; the joints
    restarted in a second pass ``(B, J)`` (all False when it is off or nothing needed it); where the patch net
    gives its heatmap's moments, its patch evidence ``(B, J, 5)`` (:func:`~refinet_edge.preprocess.evidence.
    patch_evidence`), else None; ``hidden (B, J)``: the last step placed the joint behind the surface the sensor
    measured at its pixel (:mod:`refinet_edge.occlusion`: a guess from the body, right less often), None where
    no stage ran."""

    steps: dict[str, np.ndarray]
    uv_px: dict[str, np.ndarray]
    valid: np.ndarray
    second_pass: np.ndarray | None = None
    patch_evidence: np.ndarray | None = None
    hidden: np.ndarray | None = None


class TorchRunner:
    """Runs a torch module in eval mode on NumPy inputs (CPU or the module's device)."""

    def __init__(self, module) -> None:
        import torch

        self._torch = torch
        self.module = module.eval()
        self.device = next(module.parameters()).device

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        torch = self._torch
        tensors = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device) for x in inputs]
        with torch.inference_mode():
            return self.module(*tensors).float().cpu().numpy()


class RefinementPipeline:
    """Pre-processing and the loaded stages, in order; see the module docstring."""

    def __init__(self, runners: Mapping[str, Runner], config: PipelineConfig = PipelineConfig(),
                 preprocess: str | Steps = "auto") -> None:
        """``preprocess``: ``auto`` (Numba-compiled CPU, else the CUDA kernels when usable, else NumPy), ``cpu``
        (Numba-compiled when numba is installed, else NumPy), ``numpy`` or ``cuda`` (see
        :mod:`refinet_edge.preprocess.steps`)."""
        unknown = set(runners) - set(STAGES)
        if unknown:
            raise RefinetError(f"unknown stage(s) {sorted(unknown)}; stages are {', '.join(STAGES)}")
        self.set_preprocess(preprocess)  # resolved on the first run: no CUDA call before
        self.runners = dict(runners)
        self.config = config
        self.provenance: dict[str, dict] = {}  # stage -> the training summary stored in its checkpoint

    @property
    def preprocess(self) -> str:
        """Where pre-processing runs: ``auto`` until the first run, then ``cpu``, ``numpy`` or ``cuda``."""
        return self._preprocess if isinstance(self._preprocess, str) else self._preprocess.name

    def set_preprocess(self, preprocess: str | Steps) -> None:
        """Choose where pre-processing runs (``auto``, ``cpu``, ``numpy``, ``cuda``), resolved on the next run."""
        if isinstance(preprocess, str) and preprocess not in PREPROCESS_CHOICES:
            select_steps(preprocess)  # raises with the choices
        self._preprocess = preprocess

    def resolve_steps(self) -> Steps:
        """The pre-processing steps :meth:`run` uses (chosen on the first call, see :func:`select_steps`)."""
        self._preprocess = prep = select_steps(self._preprocess)
        return prep

    def set_second_pass(self, gate_m: float, option: str = "second_pass_m") -> None:
        """Set the second-pass gate (metres, 0 = one pass) over the skeleton checkpoint's; a bad value is a one-line
        error naming ``option``."""
        from dataclasses import replace

        gate_m = check_second_pass(gate_m, option)
        self.config = replace(self.config, skeleton=replace(self.config.skeleton, second_pass_m=gate_m))

    @property
    def steps(self) -> tuple[str, ...]:
        return ("input", *(s for s in STAGES if s in self.runners))

    def run(self, depth_m: np.ndarray, uv_px: np.ndarray, camera: Camera, until: str | None = None,
            clock: StepClock | None = None) -> PipelineResult:
        """Refine ``uv_px (B, J, 2)`` on ``depth_m (B, H, W)``; stop after step ``until`` if given.

        A 2D detector's confidences are not taken: the skeleton's evidence features count every present joint
        as score 1, as its training did (the training data has no detector scores; a detector's real scores,
        0.3-1, put the skeleton where it never learned: see :mod:`refinet_edge.preprocess.evidence`).

        ``clock(name)``, if given, is entered around each piece of work (benchmarks time them): ``lift``,
        ``patch_extract``, ``patch``, ``skeleton_io``, ``skeleton``, ``point_sample``, ``pointcloud`` (each
        possibly more than once per call) inside one ``end_to_end``.
        """
        step = clock or _untimed
        with step("end_to_end"):
            depth_m = np.asarray(depth_m, dtype=np.float32)
            uv_px = np.asarray(uv_px, dtype=np.float64)
            if depth_m.ndim != 3 or uv_px.ndim != 3 or uv_px.shape[0] != depth_m.shape[0] or uv_px.shape[-1] != 2:
                raise RefinetError(f"pipeline expects depth (B, H, W) and uv_px (B, J, 2); got {depth_m.shape} "
                                   f"and {uv_px.shape}")
            steps, uvs, has_depth, aux = self._one_pass(depth_m, uv_px, camera, until, step)
            valid = np.all(np.isfinite(uv_px), axis=-1) & camera.in_image(uv_px) & has_depth
            restart = np.zeros(valid.shape, dtype=bool)
            gate = self.config.skeleton.second_pass_m
            if gate > 0 and until is None and "skeleton" in self.runners:
                restart = self._second_pass(depth_m, uv_px, camera, steps, uvs, aux, gate, step)
            hidden = hidden_joints(steps[list(steps)[-1]], depth_m, camera) if len(steps) > 1 else None
        return PipelineResult(steps, uvs, valid, restart, aux.get("patch_evidence"), hidden)

    def _one_pass(self, depth_m: np.ndarray, uv_px: np.ndarray, camera: Camera, until: str | None,
                  step: StepClock) -> tuple[dict, dict, np.ndarray, dict]:
        """Lift ``uv_px`` and run the loaded stages (up to ``until``): steps, 2D joints, has-depth mask and what
        a stage left for a later one (``patch_evidence``)."""
        cfg = self.config
        prep = self.resolve_steps()
        with step("lift"):
            joints, has_depth = prep.lift(uv_px, depth_m, camera, cfg.lift_window)
        steps = {"input": joints}
        uvs = {"input": uv_px}
        aux: dict[str, np.ndarray] = {}
        for stage in STAGES:
            if until is not None and list(steps)[-1] == until:
                break
            if stage not in self.runners:
                continue
            joints = self._run_stage(stage, prep, depth_m, uvs, joints, camera, step, aux)
            steps[stage] = joints
        return steps, uvs, has_depth, aux

    def _second_pass(self, depth_m: np.ndarray, uv_px: np.ndarray, camera: Camera, steps: dict, uvs: dict,
                     aux: dict, gate: float, step: StepClock) -> np.ndarray:
        """Restart the joints whose answer is more than ``gate`` m from their detection, and the left-out ones
        (module docstring); updates ``steps``, ``uvs`` and ``aux`` in place for the people run again; returns the
        restarted joints."""
        answer = steps[list(steps)[-1]]  # (B, J, 3) m
        with step("skeleton_io"):
            with np.errstate(invalid="ignore", divide="ignore"):
                uv_answer = camera.project(answer)  # (B, J, 2) px; NaN where there is no answer
                z_detected = steps["input"][..., 2]  # the detection's lifted depth; the answer's where it has none
                z = np.where(np.isfinite(z_detected), z_detected, answer[..., 2])
                off_m = np.hypot((uv_answer[..., 0] - uv_px[..., 0]) / camera.fx,
                                 (uv_answer[..., 1] - uv_px[..., 1]) / camera.fy) * z
            left_out = ~np.all(np.isfinite(uv_px), axis=-1)  # no detection: restart from where the chain put it
            restart = ((np.isfinite(off_m) & (off_m > gate)) | left_out) & camera.in_image(uv_answer)  # NaN: False
            people = np.flatnonzero(restart.any(axis=1))
        if people.size == 0:
            return restart
        uv_again = np.where(restart[people, :, None], uv_answer[people], uv_px[people])
        again, uvs_again, _, aux_again = self._one_pass(depth_m[people], uv_again, camera, None, step)
        for name in list(steps)[1:]:  # new arrays: a step may share its array with another
            merged = steps[name].copy()
            merged[people] = again[name]
            steps[name] = merged
        for merged_in, again_in, key in ((uvs, uvs_again, "patch"), (aux, aux_again, "patch_evidence")):
            if key in merged_in:
                merged = merged_in[key].copy()
                merged[people] = again_in[key]
                merged_in[key] = merged
        return restart

    def _run_stage(self, stage: str, prep: Steps, depth_m: np.ndarray, uvs: dict, joints: np.ndarray,
                   camera: Camera, step: StepClock, aux: dict) -> np.ndarray:
        """Run ``stage`` on the previous step's ``joints``; ``aux`` carries what one stage leaves for a later one
        (the patch net's ``patch_evidence``)."""
        cfg, runner = self.config, self.runners[stage]
        if stage == "patch":
            uv_in = uvs["input"]
            with step("patch_extract"):
                patches, cell_px = prep.patches(depth_m, uv_in, joints[..., 2], camera, cfg.patch)
            with step("patch"):
                offsets = runner(patches)
            with step("skeleton_io"):
                if offsets.shape[-1] == NUM_PATCH_EVIDENCE:  # a patch net with moments: offsets, then the spread
                    aux["patch_evidence"] = patch_evidence(offsets, cell_px, cfg.patch)
                    offsets = offsets[..., :2]
                uv_out = prep.patch_decode(uv_in, offsets, cell_px)
            uvs["patch"] = uv_out
            with step("lift"):
                return prep.lift(uv_out, depth_m, camera, cfg.lift_window)[0]
        if stage == "skeleton":
            with step("skeleton_io"):
                x, centre = prep.skeleton_encode(joints, cfg.skeleton)
                if cfg.skeleton.evidence:
                    uv_step = uvs["patch"] if "patch" in uvs else uvs["input"]
                    # scores None: 1 for every present joint, as in training (run's docstring)
                    evidence = prep.evidence(uv_step, depth_m, joints, None, camera, cfg.lift_window)
                    if cfg.skeleton.patch_evidence:
                        if "patch_evidence" not in aux:
                            raise RefinetError("the skeleton stage reads patch evidence (preprocess.skeleton."
                                               "patch_evidence) but no patch net with moments ran before it")
                        evidence = np.concatenate([evidence, aux["patch_evidence"]], axis=-1)
                    x = with_evidence(x, evidence, cfg.skeleton)
            with step("skeleton"):
                out = runner(x)
            with step("skeleton_io"):
                return prep.skeleton_decode(x, out, centre, cfg.skeleton)
        for _ in range(cfg.points.passes):  # each pass refines the previous pass's joints
            with step("point_sample"):
                points, counts, side_m = prep.points(depth_m, joints, camera, cfg.points)
            with step("pointcloud"):
                joints = prep.point_decode(joints, runner(points, counts), side_m, counts, cfg.points.mode)
        return joints

    @classmethod
    def from_dir(cls, directory: str | Path = WEIGHTS_DIR, stages: tuple[str, ...] = STAGES,
                 device: str = "cpu") -> RefinementPipeline:
        """Load ``{stage}.safetensors`` for each of ``stages`` found in ``directory``."""
        from .checkpoint import load_stage

        directory = Path(directory)
        if not directory.is_dir():
            raise RefinetError(f"checkpoint directory {directory} not found")
        runners: dict[str, Runner] = {}
        pre: dict[str, dict] = {}
        provenance: dict[str, dict] = {}
        moments = False  # whether the patch net returns its heatmap's spread
        for stage in stages:
            path = directory / f"{stage}.safetensors"
            if path.exists():
                model, meta = load_stage(path, expect_stage=stage)
                if stage == "skeleton":  # what the stored pre-processing gives must fit the network
                    check_skeleton_features(meta.model_config.input_features,  # type: ignore[union-attr]
                                            skeleton_config_from_dict(meta.preprocess, str(path)), str(path))
                runners[stage] = TorchRunner(model.to(device))
                pre[stage] = meta.preprocess
                provenance[stage] = dict(meta.extra)
                moments = moments or (stage == "patch" and getattr(meta.model_config, "moments", False))
        config = config_from_preprocess(pre)
        if "skeleton" in runners and config.skeleton.patch_evidence and not moments:
            why = "gives no heatmap moments (model config moments)" if "patch" in runners else "is not loaded"
            raise RefinetError(f"{directory / 'skeleton.safetensors'} reads the patch net's evidence (pre-processing "
                               f"patch_evidence) but {directory / 'patch.safetensors'} {why}")
        pipeline = cls(runners, config)
        pipeline.provenance = provenance
        return pipeline

    def trained_views(self) -> dict[str, str]:
        """The camera view (side/top) each loaded stage was trained on, where its checkpoint says."""
        views = {}
        for stage, extra in self.provenance.items():
            view = extra.get("hypes", {}).get("hypes", {}).get("side")
            if isinstance(view, str):
                views[stage] = view
        return views


def config_from_preprocess(pre: Mapping[str, dict]) -> PipelineConfig:
    """Rebuild the pipeline config from the ``preprocess`` metadata stored with each stage."""
    base = PipelineConfig()
    return PipelineConfig(
        patch=PatchConfig(**pre["patch"]) if "patch" in pre else base.patch,
        points=PointConfig(**pre["pointcloud"]) if "pointcloud" in pre else base.points,
        skeleton=skeleton_config_from_dict(pre["skeleton"], "skeleton checkpoint") if "skeleton" in pre
        else base.skeleton,
    )
