"""Throwaway: with gross 2D errors only (sigma 0), where do the gross joints end after v17's second pass?"""
import sys, numpy as np
from refinet_edge.pipeline import RefinementPipeline, WEIGHTS_DIR
from refinet_edge.data.itop import open_split
from refinet_edge.noise import DetectorNoise
from refinet_edge.skeleton import FLIP_INDEX
pipe = RefinementPipeline.from_dir(WEIGHTS_DIR)
noise = DetectorNoise(sigma_px=0.0, swap_prob=0.05, outlier_prob=0.05)
for s in sys.argv[1:]:
    rng = np.random.default_rng(0)
    with open_split(f"data/{s}", view="side", split="test") as ds:
        E, G, R, SW, EA, UVE, UVT = [], [], [], [], [], [], []
        for a in range(0, len(ds), 64):
            b = min(a + 64, len(ds)); uv = noise.apply_2d(ds.uv_px[a:b], rng)
            r = pipe.run(ds.depth_batch(a, b), uv, ds.camera)
            gt = ds.joints_m[a:b]
            E.append(np.linalg.norm(r.steps["pointcloud"] - gt, axis=-1))
            G.append(np.linalg.norm(uv - ds.uv_px[a:b], axis=-1) > 1e-6)
            sw = np.linalg.norm(uv - ds.uv_px[a:b][:, list(FLIP_INDEX)], axis=-1) < 1e-6
            SW.append(sw & G[-1])
            R.append(r.second_pass)
            ans_uv = ds.camera.project(r.steps["pointcloud"])
            UVE.append(np.linalg.norm(ans_uv - ds.uv_px[a:b], axis=-1))
            # the answer of the other side's true joint: did the answer follow a swap?
            UVT.append(np.linalg.norm(r.steps["pointcloud"] - gt[:, list(FLIP_INDEX)], axis=-1))
    err, g, rs, sw, uve, other = map(np.concatenate, (E, G, R, SW, UVE, UVT))
    ok = err <= 0.10
    print(f"{s}: joints {err.size}; gross {g.mean()*100:.1f}% (swapped {sw.mean()*100:.1f}%, other {(g&~sw).mean()*100:.1f}%)")
    print(f"  acc clean {ok[~g].mean()*100:.1f}, gross {ok[g].mean()*100:.1f}; swapped {ok[sw].mean()*100:.1f}, jumped {ok[g&~sw].mean()*100:.1f}")
    print(f"  gross restarted {rs[g].mean()*100:.1f}%: acc if restarted {ok[g&rs].mean()*100:.1f}, not restarted {ok[g&~rs].mean()*100:.1f}")
    print(f"  swapped joints ending near the other side's truth (<10 cm): {(other[sw] <= 0.10).mean()*100:.1f}%")
    print(f"  clean joints restarted {rs[~g].mean()*100:.1f}%; clean joints of persons with a gross joint acc {ok[~g & np.repeat(g.any(1, keepdims=True), 15, 1)].mean()*100:.1f}, others {ok[~g & ~np.repeat(g.any(1, keepdims=True), 15, 1)].mean()*100:.1f}")
    miss = ~ok
    print(f"  misses: {miss.sum()} of which gross {(miss&g).sum()} (swapped {(miss&sw).sum()}, jumped {(miss&g&~sw).sum()})")
