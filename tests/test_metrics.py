"""Pose metrics on tiny hand-made cases whose answers are known exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.metrics import (
    TORSO,
    accuracy_by_distance,
    accuracy_by_hidden_flag,
    accuracy_by_visibility,
    accuracy_percent,
    compute_metrics,
    joint_errors_mm,
    metrics_from_errors,
)


def _case() -> tuple[np.ndarray, np.ndarray]:
    """Two frames; the error of every joint is set along one axis, in metres."""
    gt = np.random.default_rng(0).uniform(-1, 3, (2, 15, 3))
    offsets_mm = np.full((2, 15), 20.0)
    offsets_mm[0, [0, 1, 8]] = [150.0, 99.0, 101.0]  # 99 hits, 101 misses
    offsets_mm[1, [3, 12, 14]] = [60.0, 250.0, 55.0]  # 55 misses at 5 cm, hits at 10 cm
    pred = gt.copy()
    pred[..., 1] += offsets_mm / 1000.0  # along y
    return pred, gt


def test_joint_errors_mm() -> None:
    gt = np.zeros((1, 15, 3))
    pred = gt.copy()
    pred[0, 0] = [0.03, 0.04, 0.0]  # 5 cm
    pred[0, 1] = [np.nan, 0.0, 0.0]
    errors = joint_errors_mm(pred, gt)
    assert errors.shape == (1, 15)
    assert errors[0, 0] == pytest.approx(50.0) and errors[0, 1] == np.inf and errors[0, 2] == 0.0
    with pytest.raises(RefinetError, match=r"\(\.\.\., J, 3\)"):
        joint_errors_mm(np.zeros((15, 3)), np.zeros((14, 3)))


def test_hand_made_metrics() -> None:
    pred, gt = _case()
    m = compute_metrics(pred, gt)
    assert m.num_frames == 2 and m.missing_joints == 0
    # 30 joints; misses at 10 cm: (0, 0) 150, (0, 8) 101, (1, 12) 250 -> 27 hits.
    assert m.acc_10cm == pytest.approx(27 / 30 * 100)
    # at 5 cm additionally (0, 1) 99, (1, 3) 60, (1, 14) 55 -> 24 hits.
    assert m.acc_5cm == pytest.approx(24 / 30 * 100)
    # upper = joints 0-7 (16 joints): one miss (0, 0); lower = 8-14 (14 joints): (0, 8), (1, 12).
    assert m.acc_10cm_upper == pytest.approx(15 / 16 * 100)
    assert m.acc_10cm_lower == pytest.approx(12 / 14 * 100)
    expected = [100.0] * 15
    expected[0] = expected[8] = expected[12] = 50.0
    np.testing.assert_allclose(m.per_joint_acc_10cm, expected)
    total = 24 * 20 + 150 + 99 + 101 + 60 + 250 + 55
    assert m.mpjpe_mm == pytest.approx(total / 30)
    assert m.per_joint_mpjpe_mm[0] == pytest.approx((150 + 20) / 2)
    assert m.per_joint_mpjpe_mm[5] == pytest.approx(20.0)
    assert (m.thresh_mm, m.fine_thresh_mm) == (100.0, 50.0)


def test_custom_thresholds() -> None:
    pred, gt = _case()
    m = compute_metrics(pred, gt, thresh_mm=200.0, fine_thresh_mm=100.0)
    assert m.acc_10cm == pytest.approx(29 / 30 * 100)  # only the 250 mm error misses
    assert m.acc_5cm == pytest.approx(27 / 30 * 100)
    assert m.to_dict()["thresh_mm"] == 200.0
    with pytest.raises(RefinetError, match="> 0 mm"):
        compute_metrics(pred, gt, thresh_mm=0.0)


def test_nan_prediction_is_a_miss_and_left_out_of_mpjpe() -> None:
    pred, gt = _case()
    pred[1, 5] = np.nan  # was 20 mm
    pred[0, 6, 2] = np.inf  # was 20 mm
    m = compute_metrics(pred, gt)
    assert m.missing_joints == 2
    assert m.acc_10cm == pytest.approx(25 / 30 * 100)
    assert m.acc_10cm_upper == pytest.approx(13 / 16 * 100)
    assert m.per_joint_acc_10cm[5] == pytest.approx(50.0)
    total = 22 * 20 + 150 + 99 + 101 + 60 + 250 + 55
    assert m.mpjpe_mm == pytest.approx(total / 28)
    assert m.per_joint_mpjpe_mm[5] == pytest.approx(20.0)  # the finite one only


def test_joint_never_predicted_and_json() -> None:
    pred, gt = _case()
    pred[:, 7] = np.nan
    m = compute_metrics(pred, gt)
    assert np.isnan(m.per_joint_mpjpe_mm[7]) and m.per_joint_acc_10cm[7] == 0.0
    d = m.to_dict()
    assert d["per_joint_mpjpe_mm"][7] is None
    text = json.dumps(d, allow_nan=False)  # JSON-ready: no NaN, no numpy types
    assert json.loads(text) == d
    assert len(d["per_joint_acc_10cm"]) == 15 and isinstance(d["num_frames"], int)
    assert m.summary().startswith("acc@10cm 83.33%")  # 25 / 30 and m.summary().endswith("2 missing joints")


def test_metrics_from_errors_treats_nan_as_miss() -> None:
    errors = np.zeros((1, 15))
    errors[0, 0] = np.nan
    m = metrics_from_errors(errors)
    assert m.acc_10cm == pytest.approx(14 / 15 * 100) and m.missing_joints == 1 and m.mpjpe_mm == 0.0
    # Strictly below the threshold: exactly 100 mm is a miss.
    assert accuracy_percent(np.array([10.0, 100.0, np.inf]), 100.0) == pytest.approx(100 / 3)


def test_input_errors() -> None:
    pred, gt = _case()
    with pytest.raises(RefinetError, match=r"\(N, 15, 3\)"):
        compute_metrics(pred[:, :14], gt[:, :14])
    with pytest.raises(RefinetError, match=r"\(N, 15, 3\)"):
        compute_metrics(pred, gt[:1])
    with pytest.raises(RefinetError, match="N >= 1"):
        compute_metrics(pred[:0], gt[:0])
    gt[1, 3, 0] = np.nan
    with pytest.raises(RefinetError, match="ground truth.*1 frame.*first: 1"):
        compute_metrics(pred, gt)


def test_accuracy_by_distance_bins_frames_by_torso_depth() -> None:
    """Four frames with their torsos at 0.5, 2.2, 2.9 and 6 m; each frame's joints miss by a set amount."""
    gt = np.zeros((4, 15, 3))
    gt[..., 2] = np.array([0.5, 2.2, 2.9, 6.0])[:, None]
    gt[:, :, 0] = np.linspace(-0.5, 0.5, 15)  # other joints off the torso: only the torso's depth bins a frame
    gt[1, :, 2] += np.linspace(-0.9, 0.9, 15)  # limbs far from the torso's depth do not move the frame's bin
    gt[1, TORSO, 2] = 2.2
    pred = gt.copy()
    pred[0, :, 1] += 0.2  # every joint misses
    pred[1, :5, 1] += 0.15  # 10 of 15 hit
    pred[2, :, 1] += 0.05  # all hit
    pred[3, 0] = np.nan  # one joint missing, the rest exact
    rows = accuracy_by_distance(pred, gt)
    assert [(r["from_m"], r["to_m"], r["frames"]) for r in rows] == [(0.0, 1.0, 1), (2.0, 3.0, 2), (5.0, None, 1)]
    assert rows[0]["acc_10cm"] == 0.0 and rows[0]["mpjpe_mm"] == pytest.approx(200.0)
    assert rows[1]["acc_10cm"] == pytest.approx(100.0 * 25 / 30)
    assert rows[1]["mpjpe_mm"] == pytest.approx((5 * 150.0 + 10 * 0.0 + 15 * 50.0) / 30)
    assert rows[2]["acc_10cm"] == pytest.approx(100.0 * 14 / 15) and rows[2]["mpjpe_mm"] == pytest.approx(0.0)
    json.dumps(rows)  # JSON-ready as it is


def test_accuracy_by_distance_rejects_bad_input() -> None:
    gt = np.zeros((2, 15, 3))
    with pytest.raises(RefinetError, match="accuracy_by_distance expects"):
        accuracy_by_distance(np.zeros((2, 14, 3)), gt)
    with pytest.raises(RefinetError, match="must rise"):
        accuracy_by_distance(gt, gt, edges_m=(0.0, 2.0, 1.0))


def test_accuracy_by_visibility_by_hand() -> None:
    gt = np.zeros((2, 15, 3))
    gt[..., 2] = 3.0
    pred = gt.copy()
    pred[0, 6, 0] = 0.2  # a hidden right hand 20 cm off
    pred[1, 0] = np.nan  # a missing visible head: a miss
    visible = np.ones((2, 15), bool)
    visible[0, 6] = visible[1, 7] = False
    got = accuracy_by_visibility(pred, gt, visible)
    assert got["visible_share"] == pytest.approx(28 / 30 * 100)
    assert got["acc_10cm_visible"] == pytest.approx(27 / 28 * 100) and got["acc_10cm_hidden"] == pytest.approx(50.0)
    assert got["groups"]["hands"] == {"visible_share": 50.0, "acc_10cm_visible": 100.0, "acc_10cm_hidden": 50.0}
    assert got["groups"]["feet"]["acc_10cm_hidden"] is None  # no hidden foot: nothing to score
    json.dumps(got)  # JSON-ready


def test_accuracy_by_visibility_rejects_bad_input() -> None:
    gt = np.zeros((2, 15, 3))
    with pytest.raises(RefinetError, match=r"expects visible of shape \(2, 15\)"):
        accuracy_by_visibility(gt, gt, np.ones((2, 14), bool))


def test_accuracy_by_hidden_flag_by_hand() -> None:
    gt = np.zeros((2, 15, 3))
    gt[..., 2] = 3.0
    pred = gt.copy()
    pred[0, 6, 2] = 3.3  # a flagged hand 30 cm too far: a miss
    pred[1, 0] = np.nan  # a missing unflagged head: a miss
    flagged = np.zeros((2, 15), bool)
    flagged[0, 6] = flagged[0, 7] = True
    visible = np.ones((2, 15), bool)
    visible[0, 6] = visible[1, 13] = False
    got = accuracy_by_hidden_flag(pred, gt, flagged, visible)
    assert got["flagged_share"] == pytest.approx(2 / 30 * 100)
    assert got["acc_10cm_flagged"] == pytest.approx(50.0) and got["acc_10cm_unflagged"] == pytest.approx(27 / 28 * 100)
    assert got["labels_hidden_among_flagged"] == pytest.approx(50.0)  # joint (0, 6) of the two flagged
    assert got["flagged_among_labels_hidden"] == pytest.approx(50.0)  # (0, 6) flagged, (1, 13) not
    assert "labels_hidden_among_flagged" not in accuracy_by_hidden_flag(pred, gt, flagged)  # no labels: no precision
    none = accuracy_by_hidden_flag(pred, gt, np.zeros((2, 15), bool), visible)
    assert none["acc_10cm_flagged"] is None and none["labels_hidden_among_flagged"] is None
    json.dumps(got)
    with pytest.raises(RefinetError, match=r"expects flagged of shape \(2, 15\)"):
        accuracy_by_hidden_flag(gt, gt, np.ones((2, 14), bool))
