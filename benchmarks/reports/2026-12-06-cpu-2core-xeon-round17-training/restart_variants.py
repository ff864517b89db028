"""Throwaway: second pass starting restarted joints from where the chain puts them with their detection removed
(the skeleton infers a missing joint from the others), instead of from the first answer's projection."""
import sys, numpy as np
from refinet_edge.pipeline import RefinementPipeline, WEIGHTS_DIR
from refinet_edge.data.itop import open_split
from refinet_edge.noise import DetectorNoise

mode = sys.argv[1]  # answer | masked | masked_all
noise_kind = sys.argv[2]
sets = sys.argv[3:]
import os
pipe = RefinementPipeline.from_dir(os.environ.get("CK", WEIGHTS_DIR))
gate = pipe.config.skeleton.second_pass_m
noise = {"default": DetectorNoise(swap_prob=0.05, outlier_prob=0.05), "exact": DetectorNoise(sigma_px=0.0),
         "gross": DetectorNoise(sigma_px=0.0, swap_prob=0.05, outlier_prob=0.05)}[noise_kind]
noop = lambda name: __import__("contextlib").nullcontext()
res = []
for s in sets:
    rng = np.random.default_rng(0)
    with open_split(f"data/{s}", view="side", split="test") as ds:
        ok = []
        for a in range(0, len(ds), 64):
            b = min(a + 64, len(ds)); uv = noise.apply_2d(ds.uv_px[a:b], rng); depth = ds.depth_batch(a, b); cam = ds.camera
            steps, uvs, has, aux = pipe._one_pass(depth, uv, cam, None, noop, None)
            ans = steps["pointcloud"]
            uv_ans = cam.project(ans)
            z = np.where(np.isfinite(steps["input"][..., 2]), steps["input"][..., 2], ans[..., 2])
            off = np.hypot((uv_ans[..., 0] - uv[..., 0]) / cam.fx, (uv_ans[..., 1] - uv[..., 1]) / cam.fy) * z
            restart = np.isfinite(off) & (off > gate) & cam.in_image(uv_ans)
            people = np.flatnonzero(restart.any(1))
            final = ans.copy()
            if people.size:
                start = uv_ans
                if mode.startswith("masked"):
                    uv_m = np.where(restart[..., None], np.nan, uv)[people]
                    until = "skeleton" if mode == "masked_skel" else None
                    st_m, *_ = pipe._one_pass(depth[people], uv_m, cam, until, noop, None)
                    masked_uv = cam.project(st_m[list(st_m)[-1]])
                    start = uv_ans.copy()
                    start[people] = np.where(np.isfinite(masked_uv), masked_uv, uv_ans[people])
                uv2 = np.where(restart[people, :, None], start[people], uv[people])
                st2, *_ = pipe._one_pass(depth[people], uv2, cam, None, noop, None)
                final[people] = st2["pointcloud"]
            ok.append(np.linalg.norm(final - ds.joints_m[a:b], axis=-1) <= 0.10)
    acc = np.concatenate(ok).mean() * 100
    res.append(acc)
    print(mode, noise_kind, s, round(acc, 2), flush=True)
print(mode, noise_kind, "mean", round(float(np.mean(res)), 3))
