"""3D pose metrics as RefiNet reports them: accuracy at 10 cm and friends.

* Errors are Euclidean distances per joint, in **millimetres**; inputs to
  :func:`joint_errors_mm` and :func:`compute_metrics` are in **metres** (the
  package's camera frame). Code that already has millimetres calls
  :func:`metrics_from_errors` with its own errors.
* Accuracy at a threshold = percent of joints with error **strictly below** the
  threshold, pooled over all frames and joints (every joint scored, as in the
  paper). Upper body is joints 0-7, lower body 8-14.
* **Missing predictions** (any NaN or infinite coordinate) get error = inf:
  they count as misses in every accuracy. MPJPE is the mean over the finite
  errors only, and ``missing_joints`` says how many were left out, so a
  method cannot look better by dropping joints without it showing.
* Ground truth must be finite: drop invalid frames (ITOP ``is_valid == 0``)
  before scoring.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .errors import RefinetError
from .skeleton import JOINT_INDEX, LOWER_BODY, NUM_JOINTS, UPPER_BODY

TORSO = JOINT_INDEX["torso"]


def joint_errors_mm(pred_m: np.ndarray, gt_m: np.ndarray) -> np.ndarray:
    """Per-joint 3D errors: ``pred_m, gt_m (..., J, 3)`` metres -> ``errors_mm (..., J)``.

    A joint with any non-finite predicted coordinate gets ``inf``; non-finite
    ground truth also gives ``inf`` here (:func:`compute_metrics` rejects it).
    """
    pred_m = np.asarray(pred_m, dtype=np.float64)
    gt_m = np.asarray(gt_m, dtype=np.float64)
    if pred_m.shape != gt_m.shape or pred_m.ndim < 2 or pred_m.shape[-1] != 3:
        raise RefinetError(
            f"predictions and ground truth must both be (..., J, 3) metres, "
            f"got {pred_m.shape} and {gt_m.shape}"
        )
    with np.errstate(invalid="ignore"):
        errors_mm = np.linalg.norm(pred_m - gt_m, axis=-1) * 1000.0
    finite = np.all(np.isfinite(pred_m), axis=-1) & np.all(np.isfinite(gt_m), axis=-1)
    return np.where(finite, errors_mm, np.inf)


def accuracy_percent(errors_mm: np.ndarray, thresh_mm: float) -> float:
    """Percent of the entries of ``errors_mm`` strictly below ``thresh_mm`` (NaN if empty)."""
    errors_mm = np.asarray(errors_mm)
    return float(np.mean(errors_mm < thresh_mm) * 100.0) if errors_mm.size else float("nan")


def _finite_mean(errors_mm: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Mean of the finite entries (along ``axis``); NaN where there are none."""
    finite = np.isfinite(errors_mm)
    total = np.sum(np.where(finite, errors_mm, 0.0), axis=axis)
    count = np.sum(finite, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


@dataclass(frozen=True)
class PoseMetrics:
    """Scores of ``num_frames`` predicted poses (percentages and millimetres).

    The ``*_10cm`` fields are at ``thresh_mm`` and ``acc_5cm`` at
    ``fine_thresh_mm``: 100 and 50 mm unless the caller chose otherwise (the
    names follow the paper; the thresholds used are recorded here).

    Attributes:
        num_frames: N, the number of poses scored.
        acc_10cm: percent of all N x 15 joints with error < thresh_mm.
        acc_5cm: the same at fine_thresh_mm.
        acc_10cm_upper, acc_10cm_lower: acc_10cm over joints 0-7 / 8-14.
        per_joint_acc_10cm: 15 percentages, one per ITOP joint.
        mpjpe_mm: mean error over the finite errors (see module doc).
        per_joint_mpjpe_mm: 15 means (NaN for a joint never predicted).
        missing_joints: number of non-finite predictions (scored as misses).
        thresh_mm, fine_thresh_mm: the thresholds used.
    """

    num_frames: int
    acc_10cm: float
    acc_5cm: float
    acc_10cm_upper: float
    acc_10cm_lower: float
    per_joint_acc_10cm: tuple[float, ...]
    mpjpe_mm: float
    per_joint_mpjpe_mm: tuple[float, ...]
    missing_joints: int
    thresh_mm: float = 100.0
    fine_thresh_mm: float = 50.0

    def to_dict(self) -> dict:
        """JSON-ready dict: Python ints/floats/lists, NaN written as ``None``."""
        def clean(value: float) -> float | None:
            return float(value) if np.isfinite(value) else None

        return {
            "num_frames": int(self.num_frames),
            "acc_10cm": clean(self.acc_10cm),
            "acc_5cm": clean(self.acc_5cm),
            "acc_10cm_upper": clean(self.acc_10cm_upper),
            "acc_10cm_lower": clean(self.acc_10cm_lower),
            "per_joint_acc_10cm": [clean(v) for v in self.per_joint_acc_10cm],
            "mpjpe_mm": clean(self.mpjpe_mm),
            "per_joint_mpjpe_mm": [clean(v) for v in self.per_joint_mpjpe_mm],
            "missing_joints": int(self.missing_joints),
            "thresh_mm": float(self.thresh_mm),
            "fine_thresh_mm": float(self.fine_thresh_mm),
        }

    def summary(self) -> str:
        """One line for logs, e.g. ``acc@10cm 85.20% (upper 80.1%, lower 90.3%) ...``."""
        return (
            f"acc@{self.thresh_mm / 10:g}cm {self.acc_10cm:.2f}% (upper {self.acc_10cm_upper:.1f}%, "
            f"lower {self.acc_10cm_lower:.1f}%), acc@{self.fine_thresh_mm / 10:g}cm {self.acc_5cm:.2f}%, "
            f"MPJPE {self.mpjpe_mm:.1f} mm, {self.num_frames} frames, {self.missing_joints} missing joints"
        )


def metrics_from_errors(errors_mm: np.ndarray, thresh_mm: float = 100.0,
                        fine_thresh_mm: float = 50.0) -> PoseMetrics:
    """Score per-joint errors ``errors_mm (N, 15)`` (inf or NaN = missing prediction)."""
    errors_mm = np.asarray(errors_mm, dtype=np.float64)
    if errors_mm.ndim != 2 or errors_mm.shape[1] != NUM_JOINTS or errors_mm.shape[0] == 0:
        raise RefinetError(
            f"expected errors_mm of shape (N, {NUM_JOINTS}) with N >= 1, got {errors_mm.shape}"
        )
    if not (0 < fine_thresh_mm and 0 < thresh_mm):
        raise RefinetError(f"thresholds must be > 0 mm, got {thresh_mm} and {fine_thresh_mm}")
    errors_mm = np.where(np.isnan(errors_mm), np.inf, errors_mm)  # NaN compares False: make it a miss
    hits = errors_mm < thresh_mm  # (N, 15)
    return PoseMetrics(
        num_frames=int(errors_mm.shape[0]),
        acc_10cm=accuracy_percent(errors_mm, thresh_mm),
        acc_5cm=accuracy_percent(errors_mm, fine_thresh_mm),
        acc_10cm_upper=accuracy_percent(errors_mm[:, list(UPPER_BODY)], thresh_mm),
        acc_10cm_lower=accuracy_percent(errors_mm[:, list(LOWER_BODY)], thresh_mm),
        per_joint_acc_10cm=tuple(float(v) for v in hits.mean(axis=0) * 100.0),
        mpjpe_mm=float(_finite_mean(errors_mm)),
        per_joint_mpjpe_mm=tuple(float(v) for v in _finite_mean(errors_mm, axis=0)),
        missing_joints=int(np.sum(~np.isfinite(errors_mm))),
        thresh_mm=float(thresh_mm),
        fine_thresh_mm=float(fine_thresh_mm),
    )


def _checked_poses(pred_m: np.ndarray, gt_m: np.ndarray, who: str) -> tuple[np.ndarray, np.ndarray]:
    """``pred_m, gt_m`` as float64 ``(N, 15, 3)`` metres, or a RefinetError naming ``who`` and what is wrong."""
    pred_m = np.asarray(pred_m, dtype=np.float64)
    gt_m = np.asarray(gt_m, dtype=np.float64)
    if pred_m.shape != gt_m.shape or pred_m.shape[1:] != (NUM_JOINTS, 3) or pred_m.ndim != 3:
        raise RefinetError(
            f"{who} expects pred_m and gt_m of shape (N, {NUM_JOINTS}, 3) metres, "
            f"got {pred_m.shape} and {gt_m.shape}"
        )
    bad = ~np.all(np.isfinite(gt_m), axis=(1, 2))
    if np.any(bad):
        raise RefinetError(
            f"ground truth has non-finite joints in {int(bad.sum())} frame(s) "
            f"(first: {int(np.argmax(bad))}); "
            f"drop invalid frames before scoring"
        )
    return pred_m, gt_m


def compute_metrics(pred_m: np.ndarray, gt_m: np.ndarray, thresh_mm: float = 100.0,
                    fine_thresh_mm: float = 50.0) -> PoseMetrics:
    """Score predictions ``pred_m (N, 15, 3)`` against ``gt_m (N, 15, 3)``, both metres.

    Predictions may contain NaN (missing joints, counted as misses); the
    ground truth must be finite.
    """
    pred_m, gt_m = _checked_poses(pred_m, gt_m, "compute_metrics")
    return metrics_from_errors(joint_errors_mm(pred_m, gt_m), thresh_mm, fine_thresh_mm)


def _percent_true(values: np.ndarray, mask: np.ndarray) -> float | None:
    """Percent of ``values`` true where ``mask`` is; None where ``mask`` is empty (nothing to score)."""
    return float(values[mask].mean() * 100.0) if mask.any() else None


def accuracy_by_visibility(pred_m: np.ndarray, gt_m: np.ndarray, visible: np.ndarray,
                           thresh_mm: float = 100.0) -> dict:
    """Accuracy split by the labels' visibility ``visible (N, 15)`` bool (ITOP's ``visible_joints``; synthetic
    data: :mod:`refinet_edge.synth.visibility`, a joint hidden by another body part or an object more than ~3 cm in
    front of it): ``visible_share`` (percent of joints labelled visible) and ``acc_10cm_visible`` /
    ``acc_10cm_hidden`` (percent of those joints within ``thresh_mm``; None where there are none), and the same
    per joint group of :data:`JOINT_GROUPS_VISIBILITY` (``groups``). Same shapes and rules as
    :func:`compute_metrics`. A joint the sensor cannot see has no depth of its own: only the body around it places
    it, so this says how much of what is missed is what no single depth view shows."""
    pred_m, gt_m = _checked_poses(pred_m, gt_m, "accuracy_by_visibility")
    visible = np.asarray(visible)
    if visible.shape != gt_m.shape[:2]:
        raise RefinetError(f"accuracy_by_visibility expects visible of shape {gt_m.shape[:2]}, got {visible.shape}")
    visible = visible.astype(bool)
    hits = joint_errors_mm(pred_m, gt_m) < thresh_mm  # NaN (a missing prediction) is a miss

    def share(mask: np.ndarray) -> float | None:
        return _percent_true(hits, mask)

    groups = {}
    for name, idx in JOINT_GROUPS_VISIBILITY.items():
        vis = np.zeros_like(visible)
        vis[:, list(idx)] = True
        groups[name] = {"visible_share": float(visible[:, list(idx)].mean() * 100.0),
                        "acc_10cm_visible": share(vis & visible), "acc_10cm_hidden": share(vis & ~visible)}
    return {"visible_share": float(visible.mean() * 100.0), "acc_10cm_visible": share(visible),
            "acc_10cm_hidden": share(~visible), "groups": groups}


def accuracy_by_hidden_flag(pred_m: np.ndarray, gt_m: np.ndarray, flagged: np.ndarray,
                            visible: np.ndarray | None = None, thresh_mm: float = 100.0) -> dict:
    """How the answer's own flag ``flagged (N, 15)`` bool (:func:`refinet_edge.occlusion.hidden_joints`: placed
    behind the measured surface) splits accuracy: ``flagged_share`` (percent of joints), ``acc_10cm_flagged`` /
    ``acc_10cm_unflagged`` (percent within ``thresh_mm``; None where there are none); with the labels'
    ``visible`` also ``labels_hidden_among_flagged`` (precision) and ``flagged_among_labels_hidden`` (recall),
    percent, None where undefined. Same shapes and rules as :func:`compute_metrics`."""
    pred_m, gt_m = _checked_poses(pred_m, gt_m, "accuracy_by_hidden_flag")
    flagged = np.asarray(flagged)
    if flagged.shape != gt_m.shape[:2]:
        raise RefinetError(f"accuracy_by_hidden_flag expects flagged of shape {gt_m.shape[:2]}, got {flagged.shape}")
    flagged = flagged.astype(bool)
    hits = joint_errors_mm(pred_m, gt_m) < thresh_mm
    share = _percent_true
    out = {"flagged_share": float(flagged.mean() * 100.0), "acc_10cm_flagged": share(hits, flagged),
           "acc_10cm_unflagged": share(hits, ~flagged)}
    if visible is not None:
        visible = np.asarray(visible)
        if visible.shape != gt_m.shape[:2]:
            raise RefinetError(f"accuracy_by_hidden_flag expects visible of shape {gt_m.shape[:2]}, got "
                               f"{visible.shape}")
        hidden = ~visible.astype(bool)
        out.update(labels_hidden_among_flagged=share(hidden, flagged),
                   flagged_among_labels_hidden=share(flagged, hidden))
    return out


# Joint groups (indices into JOINT_NAMES) the OOD suite scores, and those :func:`accuracy_by_visibility` splits:
# the extremities issue 18 counts.
JOINT_GROUPS: dict[str, tuple[int, ...]] = {
    "head/torso": (0, 1, 8), "arms": (2, 3, 4, 5), "hands": (6, 7), "legs": (9, 10, 11, 12), "feet": (13, 14)}
JOINT_GROUPS_VISIBILITY: dict[str, tuple[int, ...]] = {g: JOINT_GROUPS[g] for g in ("hands", "feet")}


def percent_cell(value: float | None) -> str:
    """A percentage for a table: one decimal, ``-`` where there is nothing to score (None)."""
    return "-" if value is None else f"{value:.1f}"


# Bin edges (m) of the subject's distance for :func:`accuracy_by_distance`: 1 m bins, the last one open.
DISTANCE_EDGES_M: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, float("inf"))


def accuracy_by_distance(pred_m: np.ndarray, gt_m: np.ndarray, edges_m: tuple[float, ...] = DISTANCE_EDGES_M,
                         thresh_mm: float = 100.0) -> list[dict]:
    """Accuracy and MPJPE per bin of the subject's distance: the ground-truth torso's depth (camera z, m), the
    value a depth sensor's noise grows with. One row per non-empty bin ``[from_m, to_m)``: ``frames``,
    ``acc_10cm`` (percent of its frames' joints within ``thresh_mm``) and ``mpjpe_mm``; ``to_m`` is None for
    the open last bin. Same shapes and rules as :func:`compute_metrics`."""
    pred_m, gt_m = _checked_poses(pred_m, gt_m, "accuracy_by_distance")
    if len(edges_m) < 2 or any(b <= a for a, b in itertools.pairwise(edges_m)):
        raise RefinetError(f"distance bin edges must rise, got {edges_m}")
    depth = gt_m[:, TORSO, 2]
    errors = joint_errors_mm(pred_m, gt_m)
    rows = []
    for lo, hi in itertools.pairwise(edges_m):
        inside = (depth >= lo) & (depth < hi)
        if not inside.any():
            continue
        m = metrics_from_errors(errors[inside], thresh_mm)
        rows.append({"from_m": float(lo), "to_m": float(hi) if np.isfinite(hi) else None,
                     "frames": int(inside.sum()), "acc_10cm": m.acc_10cm,
                     "mpjpe_mm": float(m.mpjpe_mm) if np.isfinite(m.mpjpe_mm) else None})
    return rows
