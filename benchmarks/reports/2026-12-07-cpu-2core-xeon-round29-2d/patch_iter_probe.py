"""Probe (round 29 report): does running the patch net again from its own answer shrink the 2D error further?

The shipped patch net applied 1-4 times, each pass cutting its patches around the previous pass's answer (lifted
again for the metric patch size); the 2D error of the joints the labels call seen, along / across the limb (rms px)
per joint, then over all seen joints (rms px and the share under 3 px). Gaussian noise of sigma S px alone, seed 0.
From the repository root:

    OMP_NUM_THREADS=2 python \\
        benchmarks/reports/2026-12-07-cpu-2core-xeon-round29-2d/patch_iter_probe.py 5 data/val_uniform
"""
import sys

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline
from refinet_edge.skeleton import JOINT_NAMES, PARENTS


def rms(a):
    return float(np.sqrt((a**2).mean()))

def main():
    pipeline = RefinementPipeline.from_dir(WEIGHTS_DIR, stages=("patch",))
    prep = pipeline.resolve_steps()
    cfg = pipeline.config
    runner = pipeline.runners["patch"]
    sigma = float(sys.argv[1])
    iters = 4
    noise = DetectorNoise(sigma_px=sigma)
    parent = np.array([p if p >= 0 else 1 for p in PARENTS])
    for root in sys.argv[2:]:
        split = open_split(root, "side", "test")
        rng = np.random.default_rng(0)
        errs = [[] for _ in range(iters + 1)]
        limb = []
        for start in range(0, len(split), 64):
            stop = min(start + 64, len(split))
            truth = split.uv_px[start:stop]
            depth = split.depth_batch(start, stop)
            uv = noise.apply_2d(truth, rng)
            errs[0].append(uv - truth)
            for k in range(iters):
                joints = prep.lift(uv, depth, split.camera, cfg.lift_window)[0]
                patches, cell_px = prep.patches(depth, uv, joints[..., 2], split.camera, cfg.patch)
                off = runner(patches)[..., :2]
                uv = prep.patch_decode(uv, off, cell_px)
                errs[k + 1].append(uv - truth)
            d = truth - truth[:, parent]
            limb.append(d / (np.linalg.norm(d, axis=-1, keepdims=True) + 1e-9))
        errs = [np.concatenate(e) for e in errs]
        limb = np.concatenate(limb)
        seen = split.visible.astype(bool)
        print(f"{root} sigma {sigma}: seen joints rms along/across px after 0..{iters} patch passes")
        for j, name in enumerate(JOINT_NAMES):
            d = limb[seen[:, j], j]
            cols = []
            for e in errs:
                e = e[seen[:, j], j]
                cols.append(f"{rms((e*d).sum(-1)):4.2f}/{rms(e[:,1]*d[:,0]-e[:,0]*d[:,1]):4.2f}")
            print(f"  {name:10s} " + "  ".join(cols))
        allseen = np.concatenate([np.linalg.norm(e[seen], axis=-1)[None] for e in errs])
        print("  all seen: rms px", [round(rms(a), 2) for a in allseen],
              " under 3 px %", [round(float(100 * (a < 3).mean()), 1) for a in allseen])


if __name__ == "__main__":
    main()
