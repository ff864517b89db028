"""Round 18's "Why" table: the chain with joints left out by the detector, accuracy of the joints given and of those
left out, separately (`evaluate --missing-prob` pools them). Default noise; each joint left out with probability P.

    [CK=DIR] python benchmarks/reports/2026-12-06-cpu-2core-xeon-round18-training/missing_joints.py val_own_families
"""

import os
import sys

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline


def main(sets: list[str]) -> None:
    pipe = RefinementPipeline.from_dir(os.environ.get("CK", WEIGHTS_DIR))
    noise = DetectorNoise(swap_prob=0.05, outlier_prob=0.05)
    for name in sets:
        for p in (0.0, 0.05, 0.15):
            rng, drop_rng, hits, dropped = np.random.default_rng(0), np.random.default_rng(5), [], []
            with open_split(f"data/{name}", view="side", split="test") as ds:
                for a in range(0, len(ds), 64):
                    b = min(a + 64, len(ds))
                    uv = noise.apply_2d(ds.uv_px[a:b], rng)
                    drop = drop_rng.random(uv.shape[:2]) < p
                    r = pipe.run(ds.depth_batch(a, b), np.where(drop[..., None], np.nan, uv), ds.camera)
                    hits.append(np.linalg.norm(r.steps["pointcloud"] - ds.joints_m[a:b], axis=-1) <= 0.10)
                    dropped.append(drop)
            ok, gone = np.concatenate(hits), np.concatenate(dropped)
            left_out = f"{ok[gone].mean() * 100:.2f}" if gone.any() else "-"
            print(f"{name} left out {p}: joints given {ok[~gone].mean() * 100:.2f}, left out {left_out}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
