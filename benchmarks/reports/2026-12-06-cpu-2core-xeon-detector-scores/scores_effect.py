"""What a 2D detector's confidences did to the v17 skeleton, which learned its score feature as 1: last step acc@10cm
on a validation set (default noise, `evaluate`'s seed and batch) with the given scores passed to
``RefinementPipeline.run(..., scores=)`` as `live` passed a detector's. That argument is gone since the fix
(2026-12-06), so run this on the code before it:

    git worktree add /tmp/before 609af3c
    PYTHONPATH=/tmp/before python benchmarks/reports/2026-12-06-cpu-2core-xeon-detector-scores/scores_effect.py \\
        val_own_families
"""

import sys

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline

CASES = ("1", "0.9", "0.6", "0.3", "U(0.3, 1)", "0.9 visible, 0.3 hidden")


def main(name: str) -> None:
    pipe = RefinementPipeline.from_dir(WEIGHTS_DIR)
    noise = DetectorNoise(swap_prob=0.05, outlier_prob=0.05)
    for case in CASES:
        rng, score_rng, hits = np.random.default_rng(0), np.random.default_rng(7), []
        with open_split(f"data/{name}", view="side", split="test") as ds:
            for a in range(0, len(ds), 64):
                b = min(a + 64, len(ds))
                uv = noise.apply_2d(ds.uv_px[a:b], rng)
                shape = uv.shape[:2]
                scores = {"1": np.ones(shape), "0.9": np.full(shape, 0.9), "0.6": np.full(shape, 0.6),
                          "0.3": np.full(shape, 0.3), "U(0.3, 1)": score_rng.uniform(0.3, 1.0, shape),
                          "0.9 visible, 0.3 hidden": np.where(ds.visible[a:b], 0.9, 0.3)}[case]
                r = pipe.run(ds.depth_batch(a, b), uv, ds.camera, scores=scores)
                hits.append(np.linalg.norm(r.steps["pointcloud"] - ds.joints_m[a:b], axis=-1) <= 0.10)
        print(f"{name} scores {case}: {np.concatenate(hits).mean() * 100:.2f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
