"""Probe (round 27 report): v17's MLP and round 27's 8-layer transformer averaged with weight w on the transformer.

v14's patch net and v20's stage C (the shipped ones) around the pair; the four validation sets, the last step's
acc@10cm with the default 2D noise (sigma 5 px, 5 % swaps, 5 % outliers; seed 0, batches of 64 as `evaluate`) and
with exact 2D, through `refinet_edge.evaluate.predict_steps` as `evaluate` scores. w = 0.5 is candidate B8
(`scripts/merge_skeletons.py`) and reproduces its `evaluate` figures. Needs `checkpoints/v17/skeleton.safetensors`
and round 27's `checkpoints/synthetic_mix35/skeleton.safetensors`. Run from the repository root:

    OMP_NUM_THREADS=2 python \
        benchmarks/reports/2026-12-07-cpu-2core-xeon-round27-training/ensemble_weight_probe.py 0.5 0.65
"""

import sys

import numpy as np

from refinet_edge.checkpoint import load_stage
from refinet_edge.data.itop import open_split
from refinet_edge.evaluate import EvalSettings, predict_steps
from refinet_edge.metrics import compute_metrics
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline, TorchRunner

SETS = ("data/val_own_families", "data/val_anny_d435_640", "data/val_uniform", "data/val_wide")
NOISES = (DetectorNoise(swap_prob=0.05, outlier_prob=0.05), DetectorNoise(sigma_px=0.0))  # default, exact 2D


def main() -> None:
    pipeline = RefinementPipeline.from_dir(WEIGHTS_DIR)
    mlp = TorchRunner(load_stage("checkpoints/v17/skeleton.safetensors")[0])
    transformer = TorchRunner(load_stage("checkpoints/synthetic_mix35/skeleton.safetensors")[0])
    for w in map(float, sys.argv[1:]):
        pipeline.runners["skeleton"] = lambda x, w=w: (1 - w) * mlp(x) + w * transformer(x)
        scores = []
        for root in SETS:
            with open_split(root, view="side", split="test") as split:
                row = [compute_metrics(predict_steps(split, pipeline, EvalSettings(noise=noise))["pointcloud"],
                                       split.joints_m).acc_10cm for noise in NOISES]
            scores.append(row)
            print(f"w {w:.2f} {root}: default {row[0]:.2f}, exact {row[1]:.2f}", flush=True)
        mean = np.mean(scores, axis=0)
        print(f"w {w:.2f} mean: default {mean[0]:.3f}, exact {mean[1]:.3f}", flush=True)


if __name__ == "__main__":
    main()
