"""Probe (round 27 report): does the rest of the chain remove the 2D error the patch net leaves along the limb?

As `patch_direction_probe.py`, on the uniform-poses validation set with the Gaussian 5 px alone, but through the
whole shipped chain: the 2D error of the input, of the patch net's output (after the second pass, where it restarted a
person) and of the skeleton and stage C answers projected into the image, along / across the limb (rms px), for the
seen elbows, hands, knees and feet, with their last-step acc@10cm. From the repository root:

    OMP_NUM_THREADS=2 python benchmarks/reports/2026-12-07-cpu-2core-xeon-round27-training/chain_direction_probe.py
"""

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline
from refinet_edge.skeleton import JOINT_NAMES, PARENTS

LIMB_JOINTS = (4, 5, 6, 7, 11, 12, 13, 14)  # elbows, hands, knees, feet


def rms(a: np.ndarray) -> float:
    return float(np.sqrt((a**2).mean()))


def main() -> None:
    pipeline = RefinementPipeline.from_dir(WEIGHTS_DIR)
    noise = DetectorNoise(sigma_px=5.0)  # no swaps, no outliers
    parent = np.array([p if p >= 0 else 1 for p in PARENTS])
    split = open_split("data/val_uniform", "side", "test")
    rng = np.random.default_rng(0)
    errors: dict[str, list[np.ndarray]] = {"input": [], "patch": [], "skeleton": [], "pointcloud": []}
    limb, last = [], []
    for start in range(0, len(split), 64):
        stop = min(start + 64, len(split))
        truth = split.uv_px[start:stop]
        uv = noise.apply_2d(truth, rng)
        result = pipeline.run(split.depth_batch(start, stop), uv, split.camera)
        errors["input"].append(uv - truth)
        errors["patch"].append(result.uv_px["patch"] - truth)
        for step in ("skeleton", "pointcloud"):
            errors[step].append(split.camera.project(result.steps[step]) - truth)
        d = truth - truth[:, parent]
        limb.append(d / (np.linalg.norm(d, axis=-1, keepdims=True) + 1e-9))
        last.append(np.linalg.norm(result.steps["pointcloud"] - split.joints_m[start:stop], axis=-1))
    stacked = {k: np.concatenate(v) for k, v in errors.items()}
    limb_d, off_m = np.concatenate(limb), np.concatenate(last)
    seen = split.visible.astype(bool)
    print("data/val_uniform, seen joints, Gaussian 5 px alone: 2D error rms px along / across the limb, per step")
    for j in LIMB_JOINTS:
        m = seen[:, j]
        d = limb_d[m, j]
        cells = []
        for step, e in stacked.items():
            e = e[m, j]
            along = (e * d).sum(-1)
            across = e[:, 1] * d[:, 0] - e[:, 0] * d[:, 1]
            cells.append(f"{step} {rms(along):4.2f} / {rms(across):4.2f}")
        print(f"  {JOINT_NAMES[j]:8s} acc@10cm {100 * (off_m[m, j] < 0.1).mean():5.1f}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
