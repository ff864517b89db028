"""Probe (round 29 report): what would a better 2D refinement be worth to v20's chain (skeleton, stage C unchanged)?

After the shipped patch net, the 2D error of each joint the labels call seen (and off by less than 15 px, i.e. not
a gross error) is cut with the ground truth before the joints are lifted: mode ``along0`` removes its component
along the limb (direction from the parent joint, true 2D) for elbows, hands, knees and feet; ``along_half`` halves
that component; ``all_half`` halves the whole error of every seen joint; ``seen_zero`` removes it; ``none`` is v20.
The four validation sets, the default noise (sigma 5 px, 5 % swaps, 5 % outliers, seed 0, batches of 64 as
``evaluate``), the last step's acc@10cm and the groups' (elbows, hands, knees, feet). From the repository root:

    OMP_NUM_THREADS=2 python benchmarks/reports/2026-12-07-cpu-2core-xeon-round29-2d/oracle_patch_probe.py \
        none along0 all_half along_half seen_zero
"""
import sys

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.metrics import compute_metrics
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import NUM_PATCH_EVIDENCE, WEIGHTS_DIR, RefinementPipeline, patch_evidence
from refinet_edge.skeleton import PARENTS

SETS = ("data/val_own_families", "data/val_anny_d435_640", "data/val_uniform", "data/val_wide")
LIMB = np.zeros(15, bool)
LIMB[[4, 5, 6, 7, 11, 12, 13, 14]] = True
PARENT = np.array([p if p >= 0 else 1 for p in PARENTS])


class Oracle(RefinementPipeline):
    mode = "none"

    def _run_stage(self, stage, prep, depth_m, uvs, joints, camera, step, aux):
        if stage != "patch":
            return super()._run_stage(stage, prep, depth_m, uvs, joints, camera, step, aux)
        cfg, runner = self.config, self.runners[stage]
        uv_in = uvs["input"]
        patches, cell_px = prep.patches(depth_m, uv_in, joints[..., 2], camera, cfg.patch)
        offsets = runner(patches)
        if offsets.shape[-1] == NUM_PATCH_EVIDENCE:
            aux["patch_evidence"] = patch_evidence(offsets, cell_px, cfg.patch)
            offsets = offsets[..., :2]
        uv_out = prep.patch_decode(uv_in, offsets, cell_px)
        fp = depth_m.reshape(len(depth_m), -1)[:, ::97].sum(1)
        rows = np.array([int(np.flatnonzero(np.isclose(self.fp, f))[0]) for f in fp])
        truth, seen = self.truth[rows], self.seen[rows]
        err = uv_out - truth
        ok = seen & (np.linalg.norm(err, axis=-1) < 15) & np.all(np.isfinite(uv_out), axis=-1)
        d = truth - truth[:, PARENT]
        d = d / (np.linalg.norm(d, axis=-1, keepdims=True) + 1e-9)
        along = (err * d).sum(-1, keepdims=True) * d
        if self.mode == "along0":
            new = err - along * LIMB[None, :, None]
        elif self.mode == "along_half":
            new = err - 0.5 * along * LIMB[None, :, None]
        elif self.mode == "all_half":
            new = 0.5 * err
        elif self.mode == "seen_zero":
            new = 0.0 * err
        else:
            new = err
        uv_out = np.where(ok[..., None], truth + new, uv_out)
        uvs["patch"] = uv_out
        return prep.lift(uv_out, depth_m, camera, cfg.lift_window)[0]


def main():
    pipe = Oracle.from_dir(WEIGHTS_DIR)
    noise = DetectorNoise(swap_prob=0.05, outlier_prob=0.05)
    for mode in sys.argv[1:]:
        pipe.mode = mode
        accs = []
        groups = {"hands": [6, 7], "feet": [13, 14], "elbows": [4, 5], "knees": [11, 12]}
        gacc = {g: [] for g in groups}
        for root in SETS:
            with open_split(root, view="side", split="test") as split:
                rng = np.random.default_rng(0)
                n = len(split)
                out = np.empty((n, 15, 3))
                for start in range(0, n, 64):
                    stop = min(start + 64, n)
                    uv = noise.apply_2d(split.uv_px[start:stop], rng)
                    depth = split.depth_batch(start, stop)
                    pipe.truth = split.uv_px[start:stop]
                    pipe.seen = split.visible[start:stop].astype(bool)
                    pipe.fp = depth.reshape(len(depth), -1)[:, ::97].sum(1)
                    out[start:stop] = pipe.run(depth, uv, split.camera).steps["pointcloud"]
                m = compute_metrics(out, split.joints_m)
                accs.append(m.acc_10cm)
                ok = np.linalg.norm(out - split.joints_m, axis=-1) < 0.1
                for g, js in groups.items():
                    gacc[g].append(100 * ok[:, js].mean())
                parts = " ".join(f"{g} {v[-1]:.1f}" for g, v in gacc.items())
                print(f"{mode} {root}: {m.acc_10cm:.2f}  {parts}", flush=True)
        parts = " ".join(f"{g} {np.mean(v):.1f}" for g, v in gacc.items())
        print(f"{mode} mean {np.mean(accs):.2f}  {parts}", flush=True)


if __name__ == "__main__":
    main()
