"""Probe (round 29 report): does pushing back the joints the answer puts in front of the measured surface help?

A depth sensor sees nothing in front of the surface it measures, so a joint placed more than m in front of the depth
at its own pixel (:func:`refinet_edge.occlusion.behind_surface_m`) is moved along its camera ray to m in front of it
(m = 0, 5, 10, 20 cm), after the shipped chain's last step. The four validation sets, default noise and exact 2D,
seed 0, batches of 64; the share of joints more than 10 cm in front, and the last step's acc@10cm. From the
repository root:

    OMP_NUM_THREADS=2 python benchmarks/reports/2026-12-07-cpu-2core-xeon-round29-2d/freespace_probe.py
"""
import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.noise import DetectorNoise
from refinet_edge.occlusion import behind_surface_m
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline

SETS = ("data/val_own_families", "data/val_anny_d435_640", "data/val_uniform", "data/val_wide")
NOISES = (("default", DetectorNoise(swap_prob=0.05, outlier_prob=0.05)), ("exact", DetectorNoise(sigma_px=0.0)))


def main():
    pipe = RefinementPipeline.from_dir(WEIGHTS_DIR)
    for nname, noise in NOISES:
        res = {m: [] for m in ("base", "m0.00", "m0.05", "m0.10", "m0.20")}
        for root in SETS:
            with open_split(root, view="side", split="test") as split:
                rng = np.random.default_rng(0)
                n = len(split)
                outs = {k: np.empty((n, 15, 3)) for k in res}
                viol = []
                for start in range(0, n, 64):
                    stop = min(start + 64, n)
                    depth = split.depth_batch(start, stop)
                    uv = noise.apply_2d(split.uv_px[start:stop], rng)
                    last = pipe.run(depth, uv, split.camera).steps["pointcloud"]
                    b = behind_surface_m(last, depth, split.camera)
                    outs["base"][start:stop] = last
                    surface = last[..., 2] - b
                    for k in res:
                        if k == "base":
                            continue
                        m = float(k[1:])
                        bad = np.isfinite(b) & (b < -m)
                        scale = np.where(bad, (surface - m) / last[..., 2], 1.0)
                        outs[k][start:stop] = last * scale[..., None]
                    viol.append(np.isfinite(b) & (b < -0.1))
                viol = np.concatenate(viol)
                gt = split.joints_m
                line = f"{nname} {root}: joints >10 cm in front of the surface {100 * viol.mean():.2f} %"
                for k in res:
                    ok = np.linalg.norm(outs[k] - gt, axis=-1) < 0.1
                    res[k].append(100 * ok.mean())
                    line += f"  {k} {res[k][-1]:.2f}"
                print(line, flush=True)
        print(nname, "mean", {k: round(float(np.mean(v)), 2) for k, v in res.items()}, flush=True)


if __name__ == "__main__":
    main()
