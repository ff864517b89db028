"""Round 17's three ways to start the second pass, scored on validation sets (last step acc@10cm).

    CK=checkpoints/synthetic_mix25 python .../restart_variants.py MODE NOISE SET...

MODE: ``answer`` (as shipped: a restarted joint starts from the first answer's projection), ``masked`` (from the
chain's answer with the restarted joints' detections removed), ``masked_skel`` (the same, the skeleton step's
answer). NOISE: ``default``, ``exact`` or ``gross``. ``CK``: the checkpoint directory (default: the shipped side
set). ``answer`` reproduces ``refinet-edge evaluate`` (same noise seed and batch).
"""

import contextlib
import os
import sys

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline

NOISE = {"default": DetectorNoise(swap_prob=0.05, outlier_prob=0.05), "exact": DetectorNoise(sigma_px=0.0),
         "gross": DetectorNoise(sigma_px=0.0, swap_prob=0.05, outlier_prob=0.05)}


def untimed(name: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def score(pipe: RefinementPipeline, mode: str, noise: DetectorNoise, name: str) -> float:
    gate = pipe.config.skeleton.second_pass_m
    rng = np.random.default_rng(0)
    hits = []
    with open_split(f"data/{name}", view="side", split="test") as ds:
        cam = ds.camera
        for a in range(0, len(ds), 64):
            b = min(a + 64, len(ds))
            uv = noise.apply_2d(ds.uv_px[a:b], rng)
            depth = ds.depth_batch(a, b)
            steps, *_ = pipe._one_pass(depth, uv, cam, None, untimed, None)
            answer = steps["pointcloud"]
            uv_answer = cam.project(answer)
            z = np.where(np.isfinite(steps["input"][..., 2]), steps["input"][..., 2], answer[..., 2])
            off = np.hypot((uv_answer[..., 0] - uv[..., 0]) / cam.fx, (uv_answer[..., 1] - uv[..., 1]) / cam.fy) * z
            restart = np.isfinite(off) & (off > gate) & cam.in_image(uv_answer)
            people = np.flatnonzero(restart.any(1))
            final = answer.copy()
            if people.size:
                start = uv_answer.copy()
                if mode in ("masked", "masked_skel"):
                    uv_masked = np.where(restart[..., None], np.nan, uv)[people]
                    until = "skeleton" if mode == "masked_skel" else None
                    masked, *_ = pipe._one_pass(depth[people], uv_masked, cam, until, untimed, None)
                    placed = cam.project(masked[list(masked)[-1]])
                    start[people] = np.where(np.isfinite(placed), placed, uv_answer[people])
                uv_again = np.where(restart[people, :, None], start[people], uv[people])
                again, *_ = pipe._one_pass(depth[people], uv_again, cam, None, untimed, None)
                final[people] = again["pointcloud"]
            hits.append(np.linalg.norm(final - ds.joints_m[a:b], axis=-1) <= 0.10)
    return float(np.concatenate(hits).mean() * 100)


def main(mode: str, noise_kind: str, sets: list[str]) -> None:
    pipe = RefinementPipeline.from_dir(os.environ.get("CK", WEIGHTS_DIR))
    scores = []
    for name in sets:
        scores.append(score(pipe, mode, NOISE[noise_kind], name))
        print(mode, noise_kind, name, round(scores[-1], 2), flush=True)
    print(mode, noise_kind, "mean", round(float(np.mean(scores)), 3))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
