"""Probe (round 27 report): in which direction does v20's patch net leave its 2D error, along the limb or across it?

For each joint the labels call seen, the 2D error before the patch net (the ground truth plus the Gaussian 5 px of
the default noise, no gross errors: the part that costs most) and after it, split into the component along the
joint's limb in the image (the direction from its parent joint in the kinematic tree; the torso: from the neck)
and the component across it; root mean square in pixels. Runs the shipped patch net alone. From the repository root:

    OMP_NUM_THREADS=2 python \\
        benchmarks/reports/2026-12-07-cpu-2core-xeon-round27-training/patch_direction_probe.py data/val_uniform
"""

import sys

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline
from refinet_edge.skeleton import JOINT_NAMES, PARENTS


def rms(a: np.ndarray) -> float:
    return float(np.sqrt((a**2).mean()))


def main() -> None:
    pipeline = RefinementPipeline.from_dir(WEIGHTS_DIR, stages=("patch",))
    noise = DetectorNoise(sigma_px=5.0)  # no swaps, no outliers
    parent = np.array([p if p >= 0 else 1 for p in PARENTS])  # the torso's "limb": from the neck
    for root in sys.argv[1:]:
        split = open_split(root, "side", "test")
        rng = np.random.default_rng(0)
        before, after, limb = [], [], []
        for start in range(0, len(split), 64):
            stop = min(start + 64, len(split))
            truth = split.uv_px[start:stop]
            uv = noise.apply_2d(truth, rng)
            result = pipeline.run(split.depth_batch(start, stop), uv, split.camera)
            before.append(uv - truth)
            after.append(result.uv_px["patch"] - truth)
            d = truth - truth[:, parent]
            limb.append(d / (np.linalg.norm(d, axis=-1, keepdims=True) + 1e-9))
        before, after, limb = (np.concatenate(a) for a in (before, after, limb))
        seen = split.visible.astype(bool)
        print(f"{root} ({len(split)} frames), seen joints, 2D error rms px: along / across the limb")
        for j, name in enumerate(JOINT_NAMES):
            d = limb[seen[:, j], j]
            cols = []
            for e in (before[seen[:, j], j], after[seen[:, j], j]):
                along = (e * d).sum(-1)
                across = e[:, 1] * d[:, 0] - e[:, 0] * d[:, 1]
                cols.append(f"{rms(along):4.2f} / {rms(across):4.2f}")
            print(f"  {name:10s} before {cols[0]}  after the patch net {cols[1]}")


if __name__ == "__main__":
    main()
