"""What goes into each stage's network and what comes out: encode, decode, target.

The networks see camera- and distance-independent numbers; these functions
convert between them and the package's units (px, metres, camera frame). They
are shared by training (targets) and inference (decode), so both always agree.

Conventions follow the authors: a network predicts the *error* of its input,
``target = encode(input) - encode(ground truth)`` in its own units, and the
refined value is ``input - output`` converted back.

========== ===================================== =========================================
stage      network input                         output -> refined
========== ===================================== =========================================
patch      patches (B, J, S, S), see             cells (B, J, 2);
           :mod:`refinet_edge.preprocess.patches` uv_px - out * cell_px
skeleton   metric: (joints_m - centre_m) / 1 m,   metric: joints_m - out * 1 m (missing
           (+ 2 ray features with ``rays``),     joints start at the centre);
           missing joints 0; authors: ITOP        authors: out * std + mean (absolute, mm)
           mean/std in mm, missing 0
pointcloud points (B, J, N, 3), counts (B, J)     metric: joints_m - out * side_m / 2;
                                                  authors: joints_m - out / 1000 (mm)
========== ===================================== =========================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import RefinetError
from .lifting import median_of_finite
from .skeleton import FLIP_INDEX

NUM_EVIDENCE = 4  # per-joint evidence features (refinet_edge.preprocess.evidence, which checks it)
NUM_PATCH_EVIDENCE = 5  # per-joint patch-net features (refinet_edge.preprocess.evidence.patch_evidence)
PATCH_EVIDENCE_MIRROR = (-1.0, 1.0, 1.0, 1.0, -1.0)  # their signs in the mirror image (x -> -x)

SKELETON_SCALE_M = 1.0
# Authors' ITOP normalisation of stage B inputs (mm), REFINET.md.
ITOP_MEAN_MM = np.array([-69.996, -267.574, 2941.162])
ITOP_STD_MM = np.array([181.096, 501.316, 175.272])


@dataclass(frozen=True)
class SkeletonConfig:
    """Stage B normalisation: ``metric`` (root-relative, default) or ``authors`` (ITOP mean/std).

    ``rays`` (metric only) adds two depth-free features per joint: where the
    joint's camera ray passes at the person's depth, relative to the centre,
    ``(x/z - x_c/z_c) * z_c`` and the same for y (metres). A wrong lifted depth
    moves x, y and z together along the ray; these two numbers do not move, so
    the network can trust the 2D evidence and fix the depth. Input becomes
    ``(B, J, 5)``: the three coordinates first, then the two ray features.

    ``evidence`` (metric only) appends the four per-joint evidence features of
    :mod:`refinet_edge.preprocess.evidence` (depth z-score against the person,
    valid and agreeing fractions of the lifting window, detector score) after
    the coordinates and ray features: ``(B, J, 3 + 2 * rays + 4)``.

    ``patch_evidence`` (needs ``rays`` and ``evidence``, and a patch net with
    ``moments``) appends five more numbers per joint after those, what the patch
    net itself says (:func:`refinet_edge.preprocess.evidence.patch_evidence`):
    the shift it made (u, v, metres at the joint's depth) and the spread of its
    heatmap (standard deviation along u and v in metres, their correlation), so
    the skeleton stage knows which 2D joints the patch net was sure of and along
    which direction it was not: ``(B, J, 14)``.

    ``ray_output`` (needs ``rays``) changes what the network's ``(B, J, 3)``
    output means: a correction *along* each joint's camera ray, separate from
    the correction *across* it. With ``r_in = x[..., 3:5]`` the input's ray
    features (m) and ``z_in = centre_z + x[..., 2]`` its depth (m)::

        r     = r_in - out[..., 0:2] * 1 m       # where the ray meets the person's depth plane, in-image fix
        z     = z_in - out[..., 2] * 1 m         # depth along the (new) ray
        x, y  = (r / centre_z + centre_xy / centre_z) * z

    So an output of ``(0, 0, dz)`` slides the joint along its own camera ray
    (its pixel does not move) and ``(du, dv, 0)`` moves it across rays at its
    depth; a zero output returns the input joint (missing joints start at the
    centre). Targets: ``r_in - r_gt`` and ``z_in - z_gt`` in metres.

    ``second_pass_m`` (0 = off) is how the chain uses this stage at run time, not its input: after the last
    step, a joint whose answer lies more than ``second_pass_m`` metres from its 2D detection (measured across
    the camera ray, at the detection's lifted depth) is taken for a gross detector error (a jump, a snap onto another
    joint, a left/right swap), and the whole chain runs once more on that person with that joint's 2D
    replaced by the answer projected into the image (:meth:`RefinementPipeline.run`). It is stored with the
    skeleton because the skeleton's answer is what it trusts.
    """

    mode: str = "metric"
    rays: bool = False
    evidence: bool = False
    ray_output: bool = False
    second_pass_m: float = 0.0
    patch_evidence: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("metric", "authors"):
            raise RefinetError(f"skeleton mode must be 'metric' or 'authors', got {self.mode!r}")
        for name in ("rays", "evidence", "ray_output", "patch_evidence"):
            if not isinstance(getattr(self, name), bool):
                raise RefinetError(f"skeleton {name} must be true or false, got {getattr(self, name)!r}")
        if self.rays and self.mode != "metric":
            raise RefinetError("skeleton rays need mode 'metric' (the authors' mode has no per-person centre)")
        if self.evidence and self.mode != "metric":
            raise RefinetError("skeleton evidence needs mode 'metric' (its depth z-score is person-relative)")
        check_second_pass(self.second_pass_m, "skeleton second_pass_m")
        if self.patch_evidence and not (self.rays and self.evidence):
            raise RefinetError("skeleton patch_evidence needs rays: true and evidence: true (its features follow "
                               "theirs)")
        if self.ray_output and not self.rays:
            raise RefinetError("skeleton ray_output needs rays: true (the output is relative to the input's ray "
                               "features)")

    @property
    def coordinate_features(self) -> int:
        """Numbers per joint from the joints alone: 3, or 5 with rays."""
        return 5 if self.rays else 3

    @property
    def evidence_features(self) -> int:
        """Numbers per joint after the coordinates: 4 with evidence, plus 5 with patch evidence."""
        return (NUM_EVIDENCE if self.evidence else 0) + (NUM_PATCH_EVIDENCE if self.patch_evidence else 0)

    @property
    def input_features(self) -> int:
        """Numbers per joint in the network input: 3, 5 with rays, plus 4 with evidence, plus 5 with patch
        evidence."""
        return self.coordinate_features + self.evidence_features


def check_second_pass(gate_m: object, where: str) -> float:
    """A second-pass gate (:class:`SkeletonConfig`): a finite distance >= 0 in metres, else a one-line error
    naming ``where`` (a checkpoint field or a command-line option)."""
    if isinstance(gate_m, bool) or not isinstance(gate_m, (int, float)) or not (math.isfinite(gate_m)
                                                                                and gate_m >= 0):
        raise RefinetError(f"{where} must be a distance >= 0 in metres (0: one pass), got {gate_m!r}")
    return float(gate_m)


def skeleton_config_from_dict(data: dict, source: str) -> SkeletonConfig:
    """A checkpoint's stored skeleton pre-processing; a field this version does not know is a one-line error."""
    known = tuple(SkeletonConfig.__dataclass_fields__)
    unknown = [k for k in data if k not in known]
    if unknown:
        raise RefinetError(f"{source}: skeleton pre-processing field {unknown[0]!r} is not known to this version "
                           f"(known: {', '.join(known)}); the checkpoint needs a newer refinet-edge")
    return SkeletonConfig(**data)


def check_skeleton_features(model_features: int, cfg: SkeletonConfig, source: str) -> None:
    """The network's ``input_features`` must be what the pre-processing produces (one-line error naming both)."""
    if model_features != cfg.input_features:
        raise RefinetError(f"{source}: the skeleton network takes {model_features} features per joint but its "
                           f"pre-processing (rays={cfg.rays}, evidence={cfg.evidence}, "
                           f"patch_evidence={cfg.patch_evidence}) gives {cfg.input_features}")


# ---- patch (stage A) -----------------------------------------------------------------------

def patch_target(uv_in_px: np.ndarray, uv_gt_px: np.ndarray, cell_px: np.ndarray) -> np.ndarray:
    """Target cells (B, J, 2): how far the input 2D joint is from the truth, in patch cells."""
    return (uv_in_px - uv_gt_px) / cell_px


def patch_decode(uv_in_px: np.ndarray, out_cells: np.ndarray, cell_px: np.ndarray) -> np.ndarray:
    """Refined 2D joints (B, J, 2) px; joints without a valid patch (NaN cell size) stay as they were."""
    refined = uv_in_px - out_cells * cell_px
    return np.where(np.isfinite(cell_px), refined, uv_in_px)


# ---- skeleton (stage B) --------------------------------------------------------------------

def skeleton_centre(joints_m: np.ndarray) -> np.ndarray:
    """Per-person centre (B, 3) m: the median of the joints that have a 3D position.

    Equal to ``np.nanmedian`` over the joint axis of the joints with all three
    coordinates finite (the mean of the two middle values for an even count;
    NaN, without a warning, for a person with none), computed with one sort
    (:func:`~refinet_edge.lifting.median_of_finite`): ``nanmedian``'s
    masked-array path costs ~0.1 ms per call at batch 1.
    """
    joints_m = np.asarray(joints_m)
    valid = np.isfinite(joints_m).all(axis=-1, keepdims=True)  # (..., J, 1)
    masked = np.where(valid, joints_m, np.nan)
    lead, (num_joints, dims) = masked.shape[:-2], masked.shape[-2:]
    if num_joints == 0:
        return np.full(lead + (dims,), np.nan, dtype=masked.dtype)
    per_axis = np.moveaxis(masked, -1, -2).reshape(-1, num_joints)  # (persons * dims, J)
    return median_of_finite(per_axis).reshape(lead + (dims,))


def skeleton_encode(joints_m: np.ndarray, cfg: SkeletonConfig) -> tuple[np.ndarray, np.ndarray]:
    """Network input (B, J, F) float32 (F = ``cfg.coordinate_features``) and the centre (B, 3) m to decode it.

    With ``cfg.evidence`` the caller appends the evidence features (:func:`with_evidence`).

    Joints with no 3D position (NaN) become 0, as the authors zeroed invisible ones.
    """
    valid = np.all(np.isfinite(joints_m), axis=-1, keepdims=True)
    if cfg.mode == "metric":
        centre = skeleton_centre(joints_m)
        x = (joints_m - centre[:, None, :]) / SKELETON_SCALE_M
        if cfg.rays:
            with np.errstate(divide="ignore", invalid="ignore"):
                ray = joints_m[..., :2] / joints_m[..., 2:3] - (centre[:, :2] / centre[:, 2:3])[:, None, :]
            x = np.concatenate([x, ray * centre[:, None, 2:3] / SKELETON_SCALE_M], axis=-1)  # (B, J, 5)
    else:
        centre = np.zeros(joints_m.shape[:-2] + (3,))
        x = (joints_m * 1000.0 - ITOP_MEAN_MM) / ITOP_STD_MM
    x = np.where(valid & np.isfinite(x), x, 0.0)
    return x.astype(np.float32), centre


def with_evidence(x: np.ndarray, evidence: np.ndarray | None, cfg: SkeletonConfig) -> np.ndarray:
    """The network input: ``x`` (B, J, coordinate features) and, with ``cfg.evidence``, ``evidence (B, J, E)``
    (``E = cfg.evidence_features``: the four evidence features, then the patch evidence where configured)."""
    if not cfg.evidence_features:
        return x
    width = cfg.evidence_features
    if evidence is None or evidence.shape != x.shape[:2] + (width,):
        got = None if evidence is None else evidence.shape
        raise RefinetError(f"skeleton evidence: expected (B, J, {width}) features for {x.shape[:2]}, got {got}")
    return np.concatenate([x, evidence.astype(np.float32)], axis=-1)


def mirror_evidence(evidence: np.ndarray, cfg: SkeletonConfig) -> np.ndarray:
    """The evidence features ``(..., J, E)`` of the mirror image (x -> -x): left and right joints swapped, and the
    patch evidence's u shift and correlation negated (the other features are per-joint scalars)."""
    mirrored = np.asarray(evidence)[..., list(FLIP_INDEX), :]
    if cfg.patch_evidence:
        sign = np.ones(mirrored.shape[-1], dtype=mirrored.dtype)
        sign[NUM_EVIDENCE:] = PATCH_EVIDENCE_MIRROR
        mirrored = mirrored * sign
    return mirrored


def skeleton_decode(x: np.ndarray, out: np.ndarray, centre: np.ndarray, cfg: SkeletonConfig) -> np.ndarray:
    """Refined joints (B, J, 3) m from the encoded input, the network output and the centre."""
    if cfg.ray_output:
        return _ray_decode(x, out, centre)
    if cfg.mode == "metric":
        return centre[:, None, :] + (x[..., :3] - out) * SKELETON_SCALE_M
    return (out * ITOP_STD_MM + ITOP_MEAN_MM) / 1000.0


def _ray_decode(x: np.ndarray, out: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``ray_output`` decoding (see :class:`SkeletonConfig`): (B, J, 3) m."""
    c = centre[:, None, :].astype(np.float64)  # (B, 1, 3)
    z = c[..., 2] + (x[..., 2].astype(np.float64) - out[..., 2]) * SKELETON_SCALE_M  # (B, J)
    r = (x[..., 3:5].astype(np.float64) - out[..., :2]) * SKELETON_SCALE_M  # (B, J, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        tangent = r / c[..., 2:3] + c[..., :2] / c[..., 2:3]
    return np.concatenate([tangent * z[..., None], z[..., None]], axis=-1)


def ray_features_m(joints_m: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The ray features (B, J, 2) m of ``joints_m`` for a person centred at ``centre`` (B, 3), as encoded."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ray = joints_m[..., :2] / joints_m[..., 2:3] - (centre[:, :2] / centre[:, 2:3])[:, None, :]
    return ray * centre[:, None, 2:3]


def skeleton_target(x: np.ndarray, gt_m: np.ndarray, centre: np.ndarray, cfg: SkeletonConfig) -> np.ndarray:
    """The output that would decode exactly to ``gt_m``."""
    if cfg.ray_output:
        z_in = centre[:, None, 2] + x[..., 2].astype(np.float64) * SKELETON_SCALE_M
        depth = (z_in - gt_m[..., 2]) / SKELETON_SCALE_M
        across = x[..., 3:5] - ray_features_m(gt_m, centre) / SKELETON_SCALE_M
        return np.concatenate([across, depth[..., None]], axis=-1)
    if cfg.mode == "metric":
        return x[..., :3] - (gt_m - centre[:, None, :]) / SKELETON_SCALE_M
    return (gt_m * 1000.0 - ITOP_MEAN_MM) / ITOP_STD_MM


# ---- pointcloud (stage C) ------------------------------------------------------------------

def point_target(joints_in_m: np.ndarray, gt_m: np.ndarray, side_m: np.ndarray, mode: str) -> np.ndarray:
    """Target (B, J, 3): the input joint's error, in half-cube units (metric) or mm (authors)."""
    if mode == "metric":
        return (joints_in_m - gt_m) / (side_m[..., None] / 2.0)
    return (joints_in_m - gt_m) * 1000.0


def point_decode(joints_in_m: np.ndarray, out: np.ndarray, side_m: np.ndarray, counts: np.ndarray,
                 mode: str) -> np.ndarray:
    """Refined joints (B, J, 3) m; joints whose cube held no point keep their input."""
    if mode == "metric":
        refined = joints_in_m - out * (side_m[..., None] / 2.0)
    else:
        refined = joints_in_m - out / 1000.0
    return np.where((counts > 0)[..., None] & np.isfinite(refined), refined, joints_in_m)
