"""The training loop shared by the three stages.

Adam with MultiStepLR (the published settings by default), gradient-norm
clipping at 1, the authors' loss (mean over batch x joint of
``weight * sum((pred - target)^2)``; for the skeleton stage weighted by alpha,
plus beta * symmetry and gamma * forcing, :mod:`.losses`), validation accuracy at 10 cm after every
epoch on a fixed noisy validation set, the best checkpoint by that accuracy, a
full training state after every epoch for ``--resume``, and a JSON-lines run log.

Run directory layout (``checkpoints.save_dir`` of the hypes; the stages of one
chain share it, so a later stage finds the earlier ones)::

    OUT/{stage}.safetensors best weights so far (fp32), with their pre-processing
    OUT/{stage}.state.pt    model + optimiser + scheduler + epoch (for --resume)
    OUT/{stage}.log.jsonl   one line per epoch: loss, accuracies, seconds
    OUT/{stage}.chain-cache.npz  the chained inputs' noise draws (``chain_cache`` > 0), reused when still valid
                                (the skeleton stage's evidence features of them too, when it reads evidence)

Chained stages (not ``from_gt``) run the earlier stages on every batch. With
``chain_cache`` = K > 0 they run them K times over the training frames before
the first epoch instead (K noise draws, :func:`.batches.chain_draws`), and
epoch ``e`` reads draw ``e % K``: the same inputs as deployed, at a fraction of
the time per epoch, with K distinct noise draws instead of one per epoch. A
skeleton stage behind a chain cache then never reads a depth map during its
epochs, so its training frames may be streamed from disk (``training.run``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path, sha256_file
from ..errors import RefinetError
from ..evaluate import EvalSettings, score_steps
from ..noise import DetectorNoise
from ..pipeline import PipelineConfig, RefinementPipeline, TorchRunner
from .batches import BatchRecipe, ChainDraws, chain_draws, make_batch
from .frames import FrameStore
from .losses import forcing_loss, refined_joints_m, symmetry_loss

EventFn = Callable[[str, dict], None]  # ("batch" | "epoch" | "info", payload)
ProgressFn = Callable[[str, int, int], None]  # (what, done, total)


@dataclass(frozen=True)
class TrainSettings:
    """Everything one stage's training run needs (built from a hypes file)."""

    stage: str
    out_dir: Path
    epochs: int = 30
    batch_size: int = 64
    base_lr: float = 1e-3
    weight_decay: float = 1e-4
    decay_steps: tuple[int, ...] = (10, 20)
    gamma: float = 0.1
    grad_clip: float = 1.0
    noise: DetectorNoise = field(default_factory=DetectorNoise)
    sigma_mm: float = 42.0
    from_gt: bool = True
    seed: int = 0
    val_noise: DetectorNoise = field(default_factory=DetectorNoise)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    hypes: dict = field(default_factory=dict)  # the resolved hypes, for the log and checkpoint
    loss_weights: tuple[float, float, float] = (1.0, 0.0, 0.0)  # skeleton: alpha MSE, beta symmetry, gamma forcing
    chain_cache: int = 0  # chained stages: noise draws of the earlier stages' outputs made once (0: every batch)
    flip_prob: float = 0.0  # skeleton stage: share of samples trained as their mirror image
    limb_scale: float = 0.0  # skeleton stage: bone-length augmentation, U(1 - a, 1 + a) per bone (0 = off)
    joint_dropout: float = 0.0  # skeleton stage: share of input joints removed (missing), their targets kept
    hidden_weight: float = 1.0  # skeleton stage: loss weight of the joints the labels call hidden
    extra_val_every: int = 5  # extra validation sets (logged only) every this many epochs and at the last
    loss: str = "mse"  # per joint: "mse" squared error (authors), "distance" its Euclidean norm (MPJPE-like)


def train_stage(settings: TrainSettings, model, train: FrameStore, val: FrameStore,
                previous: RefinementPipeline | None = None, resume: bool = False,
                on_event: EventFn | None = None, on_progress: ProgressFn | None = None,
                extra_val: dict[str, FrameStore] | None = None) -> dict:
    """Train ``model`` for ``settings.stage``; return the best validation summary. ``extra_val`` splits are
    scored every ``settings.extra_val_every`` epochs and logged as ``extra_{name}_{step}_acc_10cm``; they never
    choose the best checkpoint."""
    import torch

    from ..checkpoint import load_training_state, save_stage, save_training_state

    emit = on_event or (lambda kind, payload: None)
    out = Path(settings.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    opt = torch.optim.Adam(model.parameters(), lr=settings.base_lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(settings.decay_steps), gamma=settings.gamma)
    start_epoch, best = 0, {"acc_10cm": -1.0}
    state_path = out / f"{settings.stage}.state.pt"
    if resume:
        if not state_path.exists():
            raise RefinetError(f"--resume: no training state at {state_path}; start without --resume")
        state = load_training_state(state_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch, best = state["epoch"], state["best"]
        emit("info", {"message": f"resumed at epoch {start_epoch} (best acc_10cm {best['acc_10cm']:.2f})"})
    recipe = BatchRecipe(settings.stage, settings.noise, settings.sigma_mm, settings.from_gt, settings.pipeline,
                         flip_prob=settings.flip_prob, limb_scale=settings.limb_scale,
                         joint_dropout=settings.joint_dropout, hidden_weight=settings.hidden_weight)
    draws = None
    if uses_chain_cache(settings, previous is not None):
        draws = _chain_cache(settings, recipe, train, previous, emit, on_progress)
    if train.streamed and (draws is None or settings.stage != "skeleton"):
        raise RefinetError(f"{settings.stage}: training frames streamed from disk need the skeleton stage behind a "
                           "chain cache (other stages read depth maps in every batch); load them into memory")
    for epoch in range(start_epoch, settings.epochs):
        rng = np.random.default_rng([settings.seed, epoch])
        t0 = time.perf_counter()
        chained = draws.slot(epoch % len(draws)) if draws is not None else None
        loss = _train_epoch(model, opt, recipe, train, rng, settings, previous, epoch, emit, chained)
        sched.step()
        val_metrics = validate(settings.stage, model, val, previous, settings)
        record = {"epoch": epoch + 1, "loss": loss, "lr": opt.param_groups[0]["lr"],
                  "seconds": round(time.perf_counter() - t0, 1),
                  **{f"val_{step}_acc_10cm": m.acc_10cm for step, m in val_metrics.items()},
                  "val_mpjpe_mm": val_metrics[settings.stage].mpjpe_mm}
        if extra_val and ((epoch + 1) % settings.extra_val_every == 0 or epoch + 1 == settings.epochs):
            for name, split in extra_val.items():
                for step, m in validate(settings.stage, model, split, previous, settings).items():
                    record[f"extra_{name}_{step}_acc_10cm"] = m.acc_10cm
        current = val_metrics[settings.stage].acc_10cm
        if current > best["acc_10cm"]:
            best = {"acc_10cm": current, "epoch": epoch + 1, "mpjpe_mm": val_metrics[settings.stage].mpjpe_mm}
            save_stage(out / f"{settings.stage}.safetensors", settings.stage, model, model.config,
                       preprocess=stage_preprocess(settings.stage, settings.pipeline),
                       extra={"best": best, "hypes": settings.hypes}, dtype="fp32")
        record["best_acc_10cm"] = best["acc_10cm"]
        save_training_state(state_path, model=model.state_dict(), optimizer=opt.state_dict(),
                            scheduler=sched.state_dict(), epoch=epoch + 1, best=best)
        with open(out / f"{settings.stage}.log.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        emit("epoch", record)
    return best


def _chain_cache(settings: TrainSettings, recipe: BatchRecipe, train: FrameStore, previous: RefinementPipeline,
                 emit: EventFn, on_progress: ProgressFn | None) -> ChainDraws:
    """The chained inputs' noise draws: read from ``OUT/{stage}.chain-cache.npz`` when it was made from the same
    earlier checkpoints, frames, noise and seed (``--resume``, a rerun with other epochs or solver settings),
    else made now (progress on ``on_progress``) and written there atomically."""
    out = Path(settings.out_dir)
    key = chain_cache_key(settings, train, previous)
    path = out / f"{settings.stage}.chain-cache.npz"
    if path.exists():
        try:
            with np.load(path) as cached:
                if str(cached["key"]) == key:
                    found = ChainDraws(cached["draws"], cached["evidence"] if "evidence" in cached else None)
                    width = settings.pipeline.skeleton.evidence_features
                    if not _needs_evidence(settings) or (found.evidence is not None
                                                         and found.evidence.shape[-1] == width):
                        emit("info", {"message": f"chain cache: {settings.chain_cache} noise draws read from {path}"})
                        return found
                    emit("info", {"message": f"chain cache: {path} lacks this stage's {width} evidence features; "
                                             f"making it again"})
        except (OSError, ValueError, KeyError) as exc:
            emit("info", {"message": f"chain cache: {path} unreadable ({exc}); making it again"})
    t0 = time.perf_counter()
    progress = (lambda d, t: on_progress("earlier stages' outputs", d, t)) if on_progress else None
    draws = chain_draws(recipe, train, previous, settings.chain_cache, settings.seed, on_progress=progress)
    arrays = {"draws": draws.joints} if draws.evidence is None else {"draws": draws.joints, "evidence": draws.evidence}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, key=np.array(key), **arrays)
    emit("info", {"message": f"chain cache: {settings.chain_cache} noise draws of the earlier stages' outputs "
                             f"for {len(train)} frames in {time.perf_counter() - t0:.0f} s, saved to {path}"})
    return draws


def uses_chain_cache(settings: TrainSettings, chained: bool) -> bool:
    """Whether this stage's inputs come from a chain cache: a chained stage (earlier stages trained, not
    ``from_gt``, not the patch stage) with ``chain_cache`` > 0."""
    return bool(settings.chain_cache) and chained and not settings.from_gt and settings.stage != "patch"


def _needs_evidence(settings: TrainSettings) -> bool:
    return settings.stage == "skeleton" and settings.pipeline.skeleton.evidence


def chain_cache_key(settings: TrainSettings, train: FrameStore, previous: RefinementPipeline) -> str:
    """What the cached draws depend on: the earlier stages' checkpoints and pre-processing (not this stage's),
    the lifting window, the training frames, the 2D noise, the seed and the number of draws."""
    out = Path(settings.out_dir)
    pre = settings.pipeline
    parts = {"draws": settings.chain_cache, "seed": settings.seed, "noise": settings.noise.to_dict(),
             "frames": [train.name, len(train)], "lift_window": pre.lift_window,
             "preprocess": {s: stage_preprocess(s, pre) for s in previous.runners},
             "stages": {s: sha256_file(out / f"{s}.safetensors") if (out / f"{s}.safetensors").is_file() else None
                        for s in previous.runners}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _train_epoch(model, opt, recipe, train: FrameStore, rng, settings: TrainSettings, previous, epoch: int,
                 emit: EventFn, chained: tuple[np.ndarray, np.ndarray | None] | None = None) -> float:
    import torch

    model.train()
    order = rng.permutation(len(train))
    steps = len(order) // settings.batch_size
    total = 0.0
    for step in range(steps):
        idx = np.sort(order[step * settings.batch_size:(step + 1) * settings.batch_size])
        joints, evidence = (None, None) if chained is None else chained
        batch = make_batch(recipe, train, idx, rng, previous, None if joints is None else joints[idx],
                           None if evidence is None else evidence[idx])
        inputs = [torch.from_numpy(x) for x in batch.inputs]
        target, weight = torch.from_numpy(batch.target), torch.from_numpy(batch.weight)
        pred = model(*inputs)
        loss = _loss(pred, target, weight, inputs, settings)
        reg = getattr(model, "regularizer", None)
        if callable(reg):
            loss = loss + reg()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        opt.step()
        value = loss.item()
        total += value
        emit("batch", {"epoch": epoch + 1, "step": step + 1, "steps": steps, "loss": value})
    return total / max(steps, 1)


def _loss(pred, target, weight, inputs, settings: TrainSettings):
    """The authors' masked MSE (or, with ``loss="distance"``, the mean per-joint distance, which lets joints the
    input missed by far weigh less); for the skeleton, ``alpha * that + beta * symmetry + gamma * forcing``."""
    sq = ((pred - target) ** 2).sum(-1)  # (B, J) squared error per joint
    per_joint = sq if settings.loss == "mse" else (sq + 1e-12).sqrt()  # "distance": the joint's error itself
    fit = (weight * per_joint).sum() / weight.sum().clamp(min=1.0)
    alpha, beta, gamma = settings.loss_weights
    if settings.stage != "skeleton" or (alpha, beta, gamma) == (1.0, 0.0, 0.0):
        return fit
    joints = refined_joints_m(inputs[0], pred, settings.pipeline.skeleton)  # (B, J, 3) m
    loss = alpha * fit
    if beta:
        loss = loss + beta * symmetry_loss(joints)
    if gamma:
        loss = loss + gamma * forcing_loss(joints)
    return loss


def validate(stage: str, model, val: FrameStore, previous: RefinementPipeline | None,
             settings: TrainSettings) -> dict:
    """Accuracy of every step up to ``stage`` on the validation frames (fixed noise seed)."""
    runners = dict(previous.runners) if previous is not None else {}
    runners[stage] = TorchRunner(model)
    pipeline = RefinementPipeline(runners, settings.pipeline)
    model.eval()
    try:
        return score_steps(val, pipeline, EvalSettings(noise=settings.val_noise, seed=12345))
    finally:
        model.train()


def stage_preprocess(stage: str, config: PipelineConfig) -> dict:
    """The pre-processing settings a stage's checkpoint carries."""
    parts: dict[str, Any] = {"patch": config.patch, "skeleton": config.skeleton, "pointcloud": config.points}
    # options added later are stored only when set, so a checkpoint trained with the defaults reads as before
    return {k: v for k, v in asdict(parts[stage]).items() if OMIT_WHEN_DEFAULT.get(k, object()) != v}


OMIT_WHEN_DEFAULT: dict[str, object] = {"evidence": False, "ray_output": False, "ray_reach": 1.0, "second_pass_m": 0.0,
                                        "patch_evidence": False}
