"""Noise models for 2D detections and 3D joints.

RefiNet's ``from_gt`` training draws its inputs from the ground truth plus
Gaussian noise N(mu, sigma) per coordinate (stage A: sigma 5 px on 2D; stage C:
sigma 42 mm in 3D). Real 2D detectors also make *gross* errors that Gaussian
noise never produces; :class:`DetectorNoise` adds two of them, both off by
default so that the defaults reproduce the authors' model exactly:

* **left/right swaps**: for each person-frame and each of the 6 left/right
  pairs (:data:`~refinet_edge.skeleton.LEFT_RIGHT_PAIRS`) independently, with
  probability ``swap_prob``, the two joints exchange their 2D positions.
* **outliers**: each joint independently, with probability ``outlier_prob``,
  is replaced by a gross error, one of two kinds (``snap_fraction`` of them
  snap, the rest jump):

  - *snap*: the joint lands on one of its skeleton neighbours (a joint it
    shares a limb with, :data:`~refinet_edge.skeleton.LIMBS`, chosen uniformly)
    plus N(0, ``snap_sigma_px``) per coordinate. If that neighbour is missing
    (NaN) the joint jumps instead.
  - *jump* (onto the background): the joint moves by an offset of uniformly
    random direction and length uniform in [``jump_min_px``, ``jump_max_px``].

* **per-joint sigma profile** (``oks_profile``, off by default): real detectors are sharper on some joints than
  on others. With weight ``w`` in [0, 1], joint j's Gaussian sigma is
  ``sigma_px * ((1 - w) + w * OKS[j] / mean(OKS))`` with OKS the COCO keypoint
  OKS sigmas mapped to the ITOP joints (:data:`OKS_SIGMAS`): ``w = 1`` gives the
  COCO profile scaled to a mean of ``sigma_px`` (head 0.39x, hips 1.40x), ``w = 0``
  the authors' one sigma for all.
* **clean frames** (``clean_prob``, off by default): a good detector is often exactly right. Each person-frame
  independently, with probability ``clean_prob``, keeps its ground-truth 2D (no swap, noise or outlier), so a
  stage trained with it sees exact input and learns to keep it (issue 18: a good 2D detector must never be made
  worse). Its uniform draw comes last and only when ``clean_prob > 0``, so it leaves the other draws unchanged.

Order: swaps, then Gaussian noise on every joint, then outliers. Outliers are
placed relative to the *clean* (swapped, noise-free) positions and replace the
Gaussian-noised value, so a jump moves a joint by exactly its drawn length.
Missing joints (NaN) stay NaN and are never outliers.

Every call draws the same random numbers in the same order whatever the
settings (``clean_prob > 0`` adds one draw per person-frame, after all the others),
so the result is a deterministic function of the generator's state, and changing
``swap_prob`` does not change the Gaussian draws.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from .errors import RefinetError, did_you_mean
from .skeleton import LEFT_RIGHT_PAIRS, LIMBS, NUM_JOINTS


def _neighbour_table() -> tuple[np.ndarray, np.ndarray]:
    """Limb neighbours of each joint: ``(table (15, M) int, count (15,) int)``.

    Row j lists j's neighbours in its first ``count[j]`` slots (M = the largest
    count, 4 for the neck); the remaining slots are padding.
    """
    neighbours: list[list[int]] = [[] for _ in range(NUM_JOINTS)]
    for parent, child in LIMBS:
        neighbours[parent].append(child)
        neighbours[child].append(parent)
    width = max(len(n) for n in neighbours)
    table = np.array([n + [n[0]] * (width - len(n)) for n in neighbours], dtype=np.int64)
    return table, np.array([len(n) for n in neighbours], dtype=np.int64)


NEIGHBOURS, NEIGHBOUR_COUNT = _neighbour_table()

# COCO keypoint OKS sigmas (cocodataset.org, keypoint evaluation: nose .026, eyes .025, ears .035, shoulders .079,
# elbows .072, wrists .062, hips .107, knees .087, ankles .089) on the ITOP joints: head = ears, neck = shoulders,
# hands = wrists, feet = ankles, torso = the mean of shoulders and hips (as the COCO mapping derives it).
OKS_SIGMAS = np.array([0.035, 0.079, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.093, 0.107, 0.107, 0.087, 0.087,
                       0.089, 0.089])


_OPTIONAL = ("oks_profile", "clean_prob", "missing_prob")  # left out of to_dict() at their default 0


@dataclass(frozen=True)
class DetectorNoise:
    """Noise a 2D detector adds to ``uv_px`` joints (see the module docstring).

    Attributes:
        sigma_px: std of the Gaussian noise per coordinate, px (authors: 5).
        mu_px: mean of the Gaussian noise per coordinate, px (authors: 0).
        swap_prob: probability, per person-frame and per left/right pair, that
            the pair's two joints are exchanged.
        outlier_prob: probability, per joint, of a gross error (snap or jump).
        snap_fraction: fraction of the gross errors that snap to a neighbour.
        snap_sigma_px: std of the noise around the neighbour a joint snaps to, px.
        jump_min_px, jump_max_px: range of a jump's length, px (uniform).
        missing_prob: probability, per joint, that the detector leaves it out (NaN), as detectors drop
            keypoints under their confidence threshold (``live``'s YOLO pose and MediaPipe: 0.5). Drawn after
            every other draw, so the rest of the noise is the same with or without it.
    """

    sigma_px: float = 5.0
    mu_px: float = 0.0
    swap_prob: float = 0.0
    outlier_prob: float = 0.0
    snap_fraction: float = 0.5
    snap_sigma_px: float = 2.0
    jump_min_px: float = 20.0
    jump_max_px: float = 60.0
    oks_profile: float = 0.0  # weight of the COCO per-joint sigma profile (0: one sigma for every joint)
    clean_prob: float = 0.0  # probability per person-frame of exact 2D (no swap, noise or outlier)
    missing_prob: float = 0.0  # probability per joint of being left out (NaN), drawn last

    def __post_init__(self) -> None:
        for name in ("swap_prob", "outlier_prob", "snap_fraction", "oks_profile", "clean_prob", "missing_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise RefinetError(f"DetectorNoise.{name} must be a probability in [0, 1], got {value}")
        for name in ("sigma_px", "snap_sigma_px", "jump_min_px", "jump_max_px"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise RefinetError(f"DetectorNoise.{name} must be finite and >= 0 px, got {value}")
        if not math.isfinite(self.mu_px):
            raise RefinetError(f"DetectorNoise.mu_px must be finite, got {self.mu_px}")
        if self.jump_min_px > self.jump_max_px:
            raise RefinetError(
                f"DetectorNoise.jump_min_px ({self.jump_min_px}) must be <= jump_max_px ({self.jump_max_px})"
            )

    def to_dict(self) -> dict:
        """All settings as plain floats, for reports and configs (``oks_profile``, ``clean_prob`` and
        ``missing_prob`` only when set, so reports written before the options existed read the same)."""
        return {k: float(v) for k, v in asdict(self).items() if k not in _OPTIONAL or v != 0.0}

    def sigma_per_joint_px(self) -> np.ndarray:
        """``(15,)`` the Gaussian sigma of each joint, px (see ``oks_profile`` in the module docstring)."""
        w = self.oks_profile
        return self.sigma_px * ((1.0 - w) + w * OKS_SIGMAS / OKS_SIGMAS.mean())

    @classmethod
    def from_dict(cls, data: dict, source: str = "noise") -> DetectorNoise:
        """Inverse of :meth:`to_dict`; unknown keys are an error with a hint."""
        names = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in names]
        if unknown:
            key = unknown[0]
            raise RefinetError(
                f"{source}: unknown noise setting {key!r}{did_you_mean(key, names)}; "
                f"valid: {', '.join(names)}"
            )
        try:
            return cls(**{k: float(v) for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise RefinetError(f"{source}: noise settings must be numbers ({exc})") from None

    def apply_2d(self, uv_px: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy copy of ``uv_px (..., 15, 2)`` -> ``(..., 15, 2)`` float64 px."""
        uv_px = np.asarray(uv_px, dtype=np.float64)
        if uv_px.ndim < 2 or uv_px.shape[-2:] != (NUM_JOINTS, 2):
            raise RefinetError(f"apply_2d expects uv_px of shape (..., {NUM_JOINTS}, 2), got {uv_px.shape}")
        lead = uv_px.shape[:-2]
        gauss = rng.standard_normal(uv_px.shape)
        swap_u = rng.random(lead + (len(LEFT_RIGHT_PAIRS),))
        outlier_u = rng.random(lead + (NUM_JOINTS,))
        kind_u = rng.random(lead + (NUM_JOINTS,))
        slot_u = rng.random(lead + (NUM_JOINTS,))
        snap_noise = rng.standard_normal(uv_px.shape)
        angle = rng.uniform(0.0, 2.0 * np.pi, size=lead + (NUM_JOINTS,))
        length_u = rng.random(lead + (NUM_JOINTS,))

        clean = swap_pairs(uv_px, swap_u < self.swap_prob)  # (..., 15, 2)
        sigma = self.sigma_px if self.oks_profile == 0.0 else self.sigma_per_joint_px()[:, None]  # (15, 1)
        noisy = clean + gauss * sigma + self.mu_px

        slot = np.minimum((slot_u * NEIGHBOUR_COUNT).astype(np.int64), NEIGHBOUR_COUNT - 1)
        neighbour = NEIGHBOURS[np.arange(NUM_JOINTS), slot]  # (..., 15), uniform over neighbours
        target = np.take_along_axis(clean, neighbour[..., None], axis=-2)  # (..., 15, 2)
        snapped = target + snap_noise * self.snap_sigma_px
        length = self.jump_min_px + length_u * (self.jump_max_px - self.jump_min_px)
        jumped = clean + length[..., None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)

        is_outlier = (outlier_u < self.outlier_prob) & np.all(np.isfinite(clean), axis=-1)
        snap = (kind_u < self.snap_fraction) & np.all(np.isfinite(target), axis=-1)
        out = np.where((is_outlier & snap)[..., None], snapped, noisy)
        out = np.where((is_outlier & ~snap)[..., None], jumped, out)
        if self.clean_prob > 0.0:  # drawn last: the draws above do not depend on it
            clean = rng.random(lead) < self.clean_prob
            out = np.where(clean[..., None, None], uv_px, out)
        if self.missing_prob > 0.0:  # drawn after everything else, as clean_prob
            missing = rng.random(lead + (NUM_JOINTS,)) < self.missing_prob
            out = np.where(missing[..., None], np.nan, out)
        return out


def swap_pairs(joints: np.ndarray, swap: np.ndarray) -> np.ndarray:
    """Exchange left/right pairs where ``swap`` is true.

    Args:
        joints: ``(..., 15, D)``.
        swap: ``(..., 6)`` bool, one flag per :data:`LEFT_RIGHT_PAIRS` entry.

    Returns:
        ``(..., 15, D)`` copy with the flagged pairs exchanged.
    """
    out = np.array(joints, dtype=np.float64, copy=True)
    for k, (right, left) in enumerate(LEFT_RIGHT_PAIRS):
        flag = swap[..., k, None]
        out[..., right, :] = np.where(flag, joints[..., left, :], joints[..., right, :])
        out[..., left, :] = np.where(flag, joints[..., right, :], joints[..., left, :])
    return out


def gaussian_3d(joints: np.ndarray, rng: np.random.Generator, sigma: float, mu: float = 0.0) -> np.ndarray:
    """``joints (..., 3)`` plus N(mu, sigma) per coordinate -> ``(..., 3)`` float64.

    Units are the caller's: ``joints``, ``sigma`` and ``mu`` share them (mm for
    the authors' stage C, sigma 42 mm). NaN joints stay NaN.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim < 1 or joints.shape[-1] != 3:
        raise RefinetError(f"gaussian_3d expects joints of shape (..., 3), got {joints.shape}")
    if not (math.isfinite(sigma) and sigma >= 0.0):
        raise RefinetError(f"gaussian_3d: sigma must be finite and >= 0, got {sigma}")
    if not math.isfinite(mu):
        raise RefinetError(f"gaussian_3d: mu must be finite, got {mu}")
    return joints + rng.standard_normal(joints.shape) * sigma + mu
