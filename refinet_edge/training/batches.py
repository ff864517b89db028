"""Training batches for each stage: network inputs, targets and per-joint weights.

Inputs are made the way the stage meets them when deployed: detector-like 2D
noise (:class:`~refinet_edge.noise.DetectorNoise`) on the ground-truth 2D
joints, then either

* ``from_gt``: the authors' recipe, each stage on ground truth plus noise
  (stage C: 3D Gaussian noise of ``sigma_mm`` on the 3D joints), or
* chained: the previous stages' actual outputs (a :class:`RefinementPipeline`
  holding the already-trained stages), so a stage learns to fix what the stage
  before it really leaves behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import RefinetError
from ..noise import DetectorNoise, gaussian_3d
from ..pipeline import PipelineConfig, RefinementPipeline
from ..preprocess.steps import CpuSteps
from ..skeleton import flip_left_right, mirror_joints
from ..stage_io import mirror_evidence, patch_target, point_target, skeleton_encode, skeleton_target, with_evidence
from .augment import limb_scale_batch
from .frames import FrameStore

# Targets beyond these are clipped: a joint the input missed by more than the
# patch or cube can show is pushed towards the border, in the right direction.
MAX_PATCH_TARGET_CELLS = 20.0
MAX_POINT_TARGET = 2.0
# Pre-processing of the batches: the compiled CPU path when Numba is installed (bit-identical to NumPy).
_CPU = CpuSteps()


@dataclass(frozen=True)
class Batch:
    """Network inputs, the target ``(B, J, D)`` and weights ``(B, J)`` (0 = joint not trained)."""

    inputs: tuple[np.ndarray, ...]
    target: np.ndarray
    weight: np.ndarray


@dataclass(frozen=True)
class BatchRecipe:
    stage: str
    noise: DetectorNoise
    sigma_mm: float
    from_gt: bool
    config: PipelineConfig
    flip_prob: float = 0.0  # skeleton: share of samples mirrored (x -> -x, left <-> right), input and target alike
    limb_scale: float = 0.0  # skeleton: bones scaled by U(1 - a, 1 + a) per sample (training/augment.py); 0 = off
    joint_dropout: float = 0.0  # skeleton: share of joints whose input is removed (missing: zeros), target kept
    hidden_weight: float = 1.0  # skeleton: loss weight of the joints the labels call hidden (visible ones: 1)


def make_batch(recipe: BatchRecipe, store: FrameStore, idx: np.ndarray, rng: np.random.Generator,
               previous: RefinementPipeline | None = None, chained: np.ndarray | None = None,
               chained_evidence: np.ndarray | None = None) -> Batch:
    """One batch of frames ``idx`` for ``recipe.stage``; ``chained`` (B, J, 3) m: the earlier stages' outputs
    for these frames, precomputed (:func:`chain_draws`), instead of running ``previous`` now, and
    ``chained_evidence`` (B, J, E): the skeleton stage's evidence features of those outputs, precomputed with
    them. With both (or ``chained`` and no evidence in the config) the depth maps are not read."""
    depth = None if recipe.stage == "skeleton" and chained is not None and (
        chained_evidence is not None or not recipe.config.skeleton.evidence) else store.depth(idx)
    uv_gt, gt_m = store.uv_px[idx], store.joints_m[idx]
    uv_in = recipe.noise.apply_2d(uv_gt, rng)
    cam, cfg = store.camera, recipe.config
    if recipe.stage == "patch":
        z_ref = _CPU.lift(uv_in, depth, cam, cfg.lift_window)[0][..., 2]
        patches, cell_px = _CPU.patches(depth, uv_in, z_ref, cam, cfg.patch)
        target = np.clip(patch_target(uv_in, uv_gt, cell_px), -MAX_PATCH_TARGET_CELLS, MAX_PATCH_TARGET_CELLS)
        return _finish((patches,), target)
    if recipe.stage == "skeleton":
        if chained is not None:
            joints_in = chained
        elif recipe.from_gt or previous is None:
            joints_in = _CPU.lift(uv_in, depth, cam, cfg.lift_window)[0]
        else:
            joints_in = _last_step(previous.run(depth, uv_in, cam))
        evidence = None
        if cfg.skeleton.evidence and chained_evidence is not None:
            evidence = chained_evidence
        elif cfg.skeleton.patch_evidence:
            raise RefinetError("a skeleton stage that reads patch evidence trains behind a chain cache only (the "
                               "patch net's moments are computed there): set train.chain_cache and from_gt false")
        elif cfg.skeleton.evidence:  # from the depth map and the joints as lifted (chained: their projection)
            uv_ev = uv_in if chained is None and (recipe.from_gt or previous is None) else cam.project(joints_in)
            evidence = _CPU.evidence(uv_ev, depth, joints_in, None, cam, cfg.lift_window)
        if recipe.limb_scale > 0:
            joints_in, gt_m = limb_scale_batch(joints_in, gt_m, recipe.limb_scale, rng)
        visible = store.visible[idx]
        if recipe.flip_prob > 0:
            flip = rng.random(len(idx)) < recipe.flip_prob
            joints_in = np.where(flip[:, None, None], mirror_joints(joints_in), joints_in)
            gt_m = np.where(flip[:, None, None], mirror_joints(gt_m), gt_m)
            visible = np.where(flip[:, None], flip_left_right(visible[..., None])[..., 0], visible)
            if evidence is not None:  # left and right swapped; the patch evidence's u shift and correlation negated
                evidence = np.where(flip[:, None, None], mirror_evidence(evidence, cfg.skeleton), evidence)
        if recipe.joint_dropout > 0:  # as the pipeline meets a joint with no 2D: NaN joint, zero evidence
            drop = rng.random(joints_in.shape[:2]) < recipe.joint_dropout
            joints_in = np.where(drop[..., None], np.nan, joints_in)
            if evidence is not None:
                evidence = np.where(drop[..., None], 0.0, evidence).astype(np.float32)
        x, centre = skeleton_encode(joints_in, cfg.skeleton)
        target = skeleton_target(x, gt_m, centre, cfg.skeleton)
        batch = _finish((with_evidence(x, evidence, cfg.skeleton),), target)
        if recipe.hidden_weight == 1.0:
            return batch
        scale = np.where(visible, 1.0, recipe.hidden_weight).astype(np.float32)
        return Batch(batch.inputs, batch.target, batch.weight * scale)
    if chained is not None:
        joints_in = chained
    elif recipe.from_gt or previous is None:
        joints_in = gaussian_3d(gt_m * 1000.0, rng, recipe.sigma_mm) / 1000.0
    else:
        joints_in = _last_step(previous.run(depth, uv_in, cam))
    points, counts, side_m = _CPU.points(depth, joints_in, cam, cfg.points)
    target = point_target(joints_in, gt_m, side_m, cfg.points.mode)
    if cfg.points.mode == "metric":  # half-cube units; authors' mode is in mm and stays unclipped
        target = np.clip(target, -MAX_POINT_TARGET, MAX_POINT_TARGET)
    batch = _finish((points, counts.astype(np.float32)), target)
    return Batch(batch.inputs, batch.target, batch.weight * (counts > 0))


@dataclass(frozen=True)
class ChainDraws:
    """The earlier stages' outputs for every training frame, ``joints`` (K, N, J, 3) float32 m (one 2D noise
    draw per slot), and for a skeleton stage that reads evidence, its features of those outputs, ``evidence``
    (K, N, J, E) float32 (else None): epoch ``e`` reads slot ``e % K``."""

    joints: np.ndarray
    evidence: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.joints)

    def slot(self, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        return self.joints[k], None if self.evidence is None else self.evidence[k]


def chain_draws(recipe: BatchRecipe, store: FrameStore, previous: RefinementPipeline, draws: int, seed: int,
                on_progress=None, batch: int = 256) -> ChainDraws:
    """The earlier stages' outputs for every frame of ``store``, one 2D noise draw of ``recipe.noise`` per slot
    (seeded by ``seed`` and the slot), and the skeleton stage's evidence features of them when its config reads
    evidence (the same values :func:`make_batch` computes from the depth map; then the patch net's evidence,
    :attr:`PipelineResult.patch_evidence`, where the config reads that too). Training epoch ``e`` reads slot
    ``e % draws``: the chained inputs cost ``draws`` passes of ``previous`` instead of one per epoch, over one
    sequential read of the depth maps (so a streamed store is read once)."""
    n = len(store)
    cam = store.camera
    out = np.empty((draws, n, *store.joints_m.shape[1:]), dtype=np.float32)
    with_evidence = recipe.stage == "skeleton" and recipe.config.skeleton.evidence
    with_patch = with_evidence and recipe.config.skeleton.patch_evidence
    evidence = None
    rngs = [np.random.default_rng([seed, 104729, k]) for k in range(draws)]
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        depth = store.depth_batch(start, stop)
        for k, rng in enumerate(rngs):
            uv_in = recipe.noise.apply_2d(store.uv_px[start:stop], rng)
            result = previous.run(depth, uv_in, cam)
            out[k, start:stop] = _last_step(result)
            if with_evidence:
                joints = out[k, start:stop]  # the float32 values make_batch would read back
                feats = _CPU.evidence(cam.project(joints), depth, joints, None, cam, recipe.config.lift_window)
                if with_patch:
                    if result.patch_evidence is None:
                        raise RefinetError("the skeleton stage reads patch evidence but the patch net before it "
                                           "gives no moments (its model config: moments true)")
                    feats = np.concatenate([feats, result.patch_evidence], axis=-1)
                if evidence is None:
                    evidence = np.empty((draws, n, *feats.shape[1:]), dtype=np.float32)
                evidence[k, start:stop] = feats
        if on_progress:
            on_progress(draws * stop, draws * n)
    return ChainDraws(out, evidence)


def _last_step(result) -> np.ndarray:
    return list(result.steps.values())[-1]


def _finish(inputs: tuple[np.ndarray, ...], target: np.ndarray) -> Batch:
    weight = np.all(np.isfinite(target), axis=-1).astype(np.float32)
    target = np.where(np.isfinite(target), target, 0.0).astype(np.float32)
    return Batch(tuple(np.ascontiguousarray(x, dtype=np.float32) for x in inputs), target, weight)
