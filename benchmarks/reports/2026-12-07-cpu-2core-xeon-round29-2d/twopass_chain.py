"""Probe (round 29 report): the shipped chain with the patch net run N times (each pass from the previous answer).

The four validation sets, the last step's acc@10cm with the default noise (sigma 5 px, 5 % swaps, 5 % outliers)
and with exact 2D, seed 0, batches of 64 as `evaluate`; the patch evidence the skeleton reads is the last pass's.
From the repository root:

    OMP_NUM_THREADS=2 python benchmarks/reports/2026-12-07-cpu-2core-xeon-round29-2d/twopass_chain.py 1 2
"""
import sys

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.metrics import compute_metrics
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import NUM_PATCH_EVIDENCE, WEIGHTS_DIR, RefinementPipeline, patch_evidence

SETS = ("data/val_own_families", "data/val_anny_d435_640", "data/val_uniform", "data/val_wide")


class TwoPass(RefinementPipeline):
    passes = 1

    def _run_stage(self, stage, prep, depth_m, uvs, joints, camera, step, aux):
        if stage != "patch" or self.passes == 1:
            return super()._run_stage(stage, prep, depth_m, uvs, joints, camera, step, aux)
        cfg, runner = self.config, self.runners[stage]
        uv = uvs["input"]
        for _ in range(self.passes):
            patches, cell_px = prep.patches(depth_m, uv, joints[..., 2], camera, cfg.patch)
            offsets = runner(patches)
            if offsets.shape[-1] == NUM_PATCH_EVIDENCE:
                aux["patch_evidence"] = patch_evidence(offsets, cell_px, cfg.patch)
                offsets = offsets[..., :2]
            uv = prep.patch_decode(uv, offsets, cell_px)
            joints = prep.lift(uv, depth_m, camera, cfg.lift_window)[0]
        uvs["patch"] = uv
        return joints


NOISES = (("default", DetectorNoise(swap_prob=0.05, outlier_prob=0.05)), ("exact", DetectorNoise(sigma_px=0.0)))


def main():
    pipe = TwoPass.from_dir(WEIGHTS_DIR)
    for noise_name, noise in NOISES:
        for passes in map(int, sys.argv[1:]):
            pipe.passes = passes
            accs = []
            for root in SETS:
                with open_split(root, view="side", split="test") as split:
                    rng = np.random.default_rng(0)
                    out = np.empty((len(split), 15, 3))
                    for start in range(0, len(split), 64):
                        stop = min(start + 64, len(split))
                        uv = noise.apply_2d(split.uv_px[start:stop], rng)
                        out[start:stop] = pipe.run(split.depth_batch(start, stop), uv, split.camera).steps["pointcloud"]
                    accs.append(compute_metrics(out, split.joints_m).acc_10cm)
            print(noise_name, "passes", passes, [round(a, 2) for a in accs], round(float(np.mean(accs)), 2), flush=True)


if __name__ == "__main__":
    main()
