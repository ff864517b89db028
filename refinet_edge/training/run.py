"""From a hypes file to a training run (``refinet-edge train``) or a test of its checkpoint.

The stages of one chain share ``checkpoints.save_dir``: training a stage
loads the stages before it from there, to validate the chain as deployed and,
with ``data.from_gt: false``, to make its inputs from their outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..errors import RefinetError
from ..hypes import Hypes, dump_hypes
from ..models.config import check_flip_test
from ..noise import DetectorNoise
from ..pipeline import STAGES, PipelineConfig, RefinementPipeline
from ..preprocess.patches import PatchConfig
from ..preprocess.points import PointConfig
from ..stage_io import SkeletonConfig
from .frames import FrameStore, load_frames, load_mixture
from .loop import EventFn, TrainSettings, train_stage, uses_chain_cache

ProgressFn = Callable[[str, int, int], None]
VAL_FRAMES = 1000  # validation subset: enough for a stable acc_10cm, fast enough for every epoch


def resolve(hypes: Hypes, key: str) -> Path:
    """``train_dir`` (the first, if a list) or ``checkpoints.save_dir`` relative to ``project_dir``."""
    return resolve_all(hypes, key)[0]


def resolve_all(hypes: Hypes, key: str) -> list[Path]:
    """Every directory of ``key`` (``train_dir`` may list several; ``train.extra_val_dirs`` does), relative to
    ``project_dir``."""
    value = hypes.get(key)
    values = [value] if isinstance(value, str) else list(value)
    return [p if p.is_absolute() else Path(hypes.project_dir) / p for p in map(Path, values)]


def previous_stages(hypes: Hypes) -> RefinementPipeline | None:
    """The trained stages before this one, from the shared save_dir (None if there are none)."""
    save_dir = resolve(hypes, "checkpoints.save_dir")
    earlier = STAGES[: STAGES.index(hypes.stage)]
    found = tuple(s for s in earlier if (save_dir / f"{s}.safetensors").exists())
    if not found:
        return None
    return RefinementPipeline.from_dir(save_dir, stages=found)


def settings_from_hypes(hypes: Hypes, previous: RefinementPipeline | None) -> TrainSettings:
    """Translate the resolved hypes into the loop's settings."""
    if hypes.dataset == "Baracca":
        raise RefinetError(f"{hypes.source}: Baracca has no 3D labels in our reader, so it cannot be trained on; "
                           f"use ITOP or synthetic data")
    base = previous.config if previous is not None else PipelineConfig()
    pipeline = {
        "patch": replace(base, patch=PatchConfig(**hypes.preprocess_settings("patch"))),
        "skeleton": replace(base, skeleton=SkeletonConfig(**hypes.preprocess_settings("skeleton"))),
        "pointcloud": replace(base, points=PointConfig(**hypes.preprocess_settings("points"))),
    }[hypes.stage]
    check_flip_test(hypes.model_config, pipeline.skeleton.mode, str(hypes.source))
    noise = hypes.noise
    two_d = DetectorNoise(sigma_px=noise.sigma_px, mu_px=noise.mu_px, swap_prob=noise.swap_prob,
                          outlier_prob=noise.outlier_prob, oks_profile=noise.oks_profile,
                          clean_prob=noise.clean_prob)
    return TrainSettings(
        stage=hypes.stage, out_dir=resolve(hypes, "checkpoints.save_dir"), epochs=hypes.epochs,
        batch_size=hypes.data.batch_size, base_lr=hypes.solver.base_lr, weight_decay=hypes.solver.weight_decay,
        decay_steps=tuple(hypes.solver.decay_steps), gamma=hypes.solver.gamma,
        noise=two_d,
        sigma_mm=noise.sigma_mm, from_gt=hypes.data.from_gt, seed=hypes.train.seed,
        val_noise=DetectorNoise(sigma_px=5.0, swap_prob=0.05, outlier_prob=0.05),
        pipeline=pipeline, hypes=dump_hypes(hypes),
        loss_weights=((float(hypes.network.alpha), float(hypes.network.beta), float(hypes.network.gamma))
                      if hypes.stage == "skeleton" else (1.0, 0.0, 0.0)),
        chain_cache=hypes.train.chain_cache,
        flip_prob=float(hypes.train.flip_prob) if hypes.stage == "skeleton" else 0.0,
        limb_scale=float(hypes.train.limb_scale) if hypes.stage == "skeleton" else 0.0,
        joint_dropout=float(hypes.train.joint_dropout) if hypes.stage == "skeleton" else 0.0,
        hidden_weight=float(hypes.train.hidden_weight) if hypes.stage == "skeleton" else 1.0,
        loss=hypes.train.loss, extra_val_every=hypes.train.extra_val_every,
    )


def load_train_val(hypes: Hypes, on_progress: ProgressFn | None = None,
                   stream: bool = False) -> tuple[FrameStore, FrameStore]:
    """The train and validation splits (authors' subjects 04 and 05); with several ``train_dir`` directories
    (one camera), their concatenation, ``train.train_frames`` applying to each. The training depth maps are
    read into memory, or with ``stream`` left on disk (:func:`streams_frames`); the validation subset is read
    into memory either way."""
    roots = resolve_all(hypes, "train_dir")
    train = load_mixture(roots, hypes.side, "train", limit=hypes.train.train_frames, stream=stream,
                         on_progress=(lambda d, t: on_progress("load train", d, t)) if on_progress else None)
    return train, load_mixture(roots, hypes.side, "val", stream=True).subset(VAL_FRAMES)


def streams_frames(settings: TrainSettings, previous: RefinementPipeline | None) -> bool:
    """Whether the training depth maps can stay on disk: a skeleton stage behind earlier stages with a chain
    cache reads them only in the cache's one sequential pass (its evidence features are made there too)."""
    return settings.stage == "skeleton" and uses_chain_cache(settings, previous is not None)


def load_extra_val(hypes: Hypes) -> dict[str, FrameStore]:
    """``train.extra_val_dirs``: their test splits (at most VAL_FRAMES frames each), keyed by directory name."""
    return {root.name: load_frames(root, hypes.side, "test").subset(VAL_FRAMES)
            for root in resolve_all(hypes, "train.extra_val_dirs")}


def run_training(hypes: Hypes, resume: bool = False, on_event: EventFn | None = None,
                 on_progress: ProgressFn | None = None, stream: bool | None = None) -> dict:
    """Train the stage the hypes describe; returns the best validation summary. ``stream``: keep the training
    depth maps on disk (None: whenever :func:`streams_frames` allows it; the result is the same either way)."""
    from ..models import build_model

    previous = previous_stages(hypes)
    settings = settings_from_hypes(hypes, previous)
    if stream is None:
        stream = streams_frames(settings, previous)
    train, val = load_train_val(hypes, on_progress, stream=stream)
    extra_val = load_extra_val(hypes)
    import torch

    torch.manual_seed(settings.seed)  # the initial weights too are the seed's, whatever ran before in this process
    model = build_model(hypes.stage, hypes.model_config)
    if hypes.train.init_from and not resume:  # a resumed run's state already holds the fine-tuned weights
        from .init import init_from_checkpoint

        message = init_from_checkpoint(model, resolve(hypes, "train.init_from"), hypes.stage, settings.seed)
        if on_event:
            on_event("info", {"message": message})
    return train_stage(settings, model, train, val, previous=previous, resume=resume, on_event=on_event,
                       on_progress=on_progress, extra_val=extra_val)
