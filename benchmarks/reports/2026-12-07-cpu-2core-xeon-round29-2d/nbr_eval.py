"""Score the neighbour-aware patch net against v14's: 2D error of seen joints (sigma 5 px alone), and the v20 chain
with it in place of v14's (default noise, last step acc@10cm).

From the repository root:

    OMP_NUM_THREADS=2 python benchmarks/reports/2026-12-07-cpu-2core-xeon-round29-2d/nbr_eval.py \
        checkpoints/r29_nbr/nbr.pt chain
"""
import sys

import nbr_patch as m
import numpy as np
import torch

from refinet_edge.data.itop import open_split
from refinet_edge.metrics import compute_metrics
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import NUM_PATCH_EVIDENCE, WEIGHTS_DIR, RefinementPipeline, patch_evidence
from refinet_edge.skeleton import PARENTS

SETS = ("data/val_own_families", "data/val_anny_d435_640", "data/val_uniform", "data/val_wide")
PARENT = np.array([p if p >= 0 else 1 for p in PARENTS])


class WithNbr(RefinementPipeline):
    net = None

    def _run_stage(self, stage, prep, depth_m, uvs, joints, camera, step, aux):
        if stage != "patch" or self.net is None:
            return super()._run_stage(stage, prep, depth_m, uvs, joints, camera, step, aux)
        cfg = self.config
        uv_in = uvs["input"]
        patches, cell_px = prep.patches(depth_m, uv_in, joints[..., 2], camera, cfg.patch)
        with torch.inference_mode():
            out = self.net(torch.from_numpy(patches), torch.from_numpy(m.limb_channel(uv_in, cell_px))).numpy()
        if self.runners["patch"](patches[:1]).shape[-1] == NUM_PATCH_EVIDENCE:
            aux["patch_evidence"] = patch_evidence(out, cell_px, cfg.patch)
        uv_out = prep.patch_decode(uv_in, out[..., :2], cell_px)
        uvs["patch"] = uv_out
        return prep.lift(uv_out, depth_m, camera, cfg.lift_window)[0]


def main():
    net = m.NbrNet()
    net.load_state_dict(torch.load(sys.argv[1]))
    net.eval()
    pipe = WithNbr.from_dir(WEIGHTS_DIR)
    gauss = DetectorNoise(sigma_px=5.0)
    default = DetectorNoise(swap_prob=0.05, outlier_prob=0.05)
    chain = "chain" in sys.argv[2:]
    for name, model in (("v14", None), ("nbr", net)):
        pipe.net = model
        accs = []
        for root in SETS:
            with open_split(root, view="side", split="test") as split:
                rng = np.random.default_rng(0)
                errs, limb = [], []
                for start in range(0, len(split), 64):
                    stop = min(start + 64, len(split))
                    truth = split.uv_px[start:stop]
                    res = pipe.run(split.depth_batch(start, stop), gauss.apply_2d(truth, rng), split.camera,
                                   until="patch")
                    errs.append(res.uv_px["patch"] - truth)
                    d = truth - truth[:, PARENT]
                    limb.append(d / (np.linalg.norm(d, axis=-1, keepdims=True) + 1e-9))
                e, d = np.concatenate(errs), np.concatenate(limb)
                seen = split.visible.astype(bool)
                n = np.linalg.norm(e, axis=-1)[seen]
                along = (e * d).sum(-1)
                across = e[..., 1] * d[..., 0] - e[..., 0] * d[..., 1]
                lj = [4, 5, 6, 7, 11, 12, 13, 14]
                la = np.sqrt((along[:, lj][seen[:, lj]] ** 2).mean())
                lc = np.sqrt((across[:, lj][seen[:, lj]] ** 2).mean())
                line = (f"{name} {root}: seen 2D median {np.median(n):.2f} px, p90 {np.percentile(n, 90):.2f}, "
                        f"<3 px {100 * (n < 3).mean():.1f} %, limb joints along/across rms {la:.2f}/{lc:.2f}")
                if chain:
                    rng = np.random.default_rng(0)
                    out = np.empty((len(split), 15, 3))
                    for start in range(0, len(split), 64):
                        stop = min(start + 64, len(split))
                        uv = default.apply_2d(split.uv_px[start:stop], rng)
                        out[start:stop] = pipe.run(split.depth_batch(start, stop), uv, split.camera).steps["pointcloud"]
                    acc = compute_metrics(out, split.joints_m).acc_10cm
                    accs.append(acc)
                    line += f"; chain default {acc:.2f}"
                print(line, flush=True)
        if chain:
            print(f"{name} chain mean {np.mean(accs):.2f}", flush=True)


main()
