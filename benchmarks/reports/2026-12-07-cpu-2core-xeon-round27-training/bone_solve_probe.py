"""Probe (round 27 report): would a bone-length solve along the camera ray fix the last step's far-off limb joints?

For the elbows, hands, knees and feet of a labelled split, seen and hidden (the labels' visibility), with exact 2D
and with the default noise: the last step's acc@10cm, the median along-ray and across-ray error of the joints more
than 10 cm off, the parent joint's acc@10cm, and an oracle: the joint moved onto the intersection of its own
answer's ray with the sphere of the *true* bone length around its parent's answer (the root nearer the answer; the
ray's closest point to the parent where there is none). If even the true length does not help, a length the
network guesses will not. Run from the repository root (shipped weights by default):

    OMP_NUM_THREADS=2 python \
        benchmarks/reports/2026-12-07-cpu-2core-xeon-round27-training/bone_solve_probe.py data/val_uniform
"""

import sys
from pathlib import Path

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.evaluate import EvalSettings, predict_steps
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline
from refinet_edge.skeleton import JOINT_NAMES, PARENTS

LIMB_JOINTS = (4, 5, 6, 7, 11, 12, 13, 14)  # elbows, hands, knees, feet


def med(a: np.ndarray) -> float:
    """The median, NaN for no values."""
    return float(np.median(a)) if a.size else float("nan")


def bone_solve(pred: np.ndarray, gt: np.ndarray, j: int) -> np.ndarray:
    """Joint ``j`` of ``pred (N, 15, 3)`` moved along its own ray to the true bone length from its parent."""
    p = PARENTS[j]
    parent = pred[:, p]
    ray = pred[:, j] / np.linalg.norm(pred[:, j], axis=-1, keepdims=True)
    length = np.linalg.norm(gt[:, j] - gt[:, p], axis=-1)
    b = (ray * parent).sum(-1)
    disc = b**2 - (parent**2).sum(-1) + length**2
    root = np.sqrt(np.maximum(disc, 0.0))
    t_now = np.linalg.norm(pred[:, j], axis=-1)
    t = np.where(np.abs(b + root - t_now) < np.abs(b - root - t_now), b + root, b - root)
    t = np.where(disc > 0, t, b)
    return ray * t[:, None]


def main() -> None:
    data = Path(sys.argv[1])
    weights = Path(sys.argv[2]) if len(sys.argv) > 2 else WEIGHTS_DIR
    split = open_split(data, "side", "test")
    pipeline = RefinementPipeline.from_dir(weights)
    for name, noise in (("exact 2D", DetectorNoise(sigma_px=0, swap_prob=0, outlier_prob=0)),
                        ("default noise", DetectorNoise(swap_prob=0.05, outlier_prob=0.05))):
        outputs = predict_steps(split, pipeline, EvalSettings(noise=noise))
        pred, gt, visible = outputs[list(outputs)[-1]], split.joints_m, split.visible.astype(bool)
        err = np.linalg.norm(pred - gt, axis=-1)
        ray = gt / np.linalg.norm(gt, axis=-1, keepdims=True)
        along = np.abs(((pred - gt) * ray).sum(-1))
        across = np.sqrt(np.maximum(err**2 - along**2, 0.0))
        print(f"== {data} ({len(split)} frames), {name}: last step acc@10cm {100 * (err < 0.1).mean():.2f}")
        print("joint      seen    n    acc  off>10cm: along across (m)  parent acc  true-length solve acc")
        for j in LIMB_JOINTS:
            for label, mask in (("hidden", ~visible[:, j]), ("seen", visible[:, j])):
                bad = mask & (err[:, j] >= 0.1)
                solved = np.linalg.norm(bone_solve(pred[mask], gt[mask], j) - gt[mask, j], axis=-1)
                parent_ok = np.linalg.norm(pred[mask, PARENTS[j]] - gt[mask, PARENTS[j]], axis=-1) < 0.1
                print(f"{JOINT_NAMES[j]:10s} {label:6s} {mask.sum():4d} {100 * (err[mask, j] < 0.1).mean():6.1f}"
                      f"  {med(along[bad, j]):17.3f} {med(across[bad, j]):6.3f}  {100 * parent_ok.mean():10.1f}"
                      f"  {100 * (solved < 0.1).mean():21.1f}")


if __name__ == "__main__":
    main()
