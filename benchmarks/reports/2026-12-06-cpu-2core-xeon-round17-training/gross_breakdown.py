"""Round 17's "Why" table: with gross 2D errors only (sigma 0, 5 % swaps, 5 % outliers), where the joints with a
gross error end after v17's second pass. Validation sets only.

    python benchmarks/reports/2026-12-06-cpu-2core-xeon-round17-training/gross_breakdown.py val_uniform val_wide
"""

import sys

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline
from refinet_edge.skeleton import FLIP_INDEX


def pct(mask: np.ndarray) -> str:
    return f"{mask.mean() * 100:.1f}"


def main(sets: list[str]) -> None:
    pipe = RefinementPipeline.from_dir(WEIGHTS_DIR)
    noise = DetectorNoise(sigma_px=0.0, swap_prob=0.05, outlier_prob=0.05)
    for name in sets:
        rng = np.random.default_rng(0)  # the seed and batch of `evaluate`
        err, gross, swapped, restarted, other = [], [], [], [], []
        with open_split(f"data/{name}", view="side", split="test") as ds:
            for a in range(0, len(ds), 64):
                b = min(a + 64, len(ds))
                uv = noise.apply_2d(ds.uv_px[a:b], rng)
                r = pipe.run(ds.depth_batch(a, b), uv, ds.camera)
                gt = ds.joints_m[a:b]
                err.append(np.linalg.norm(r.steps["pointcloud"] - gt, axis=-1))
                gross.append(np.linalg.norm(uv - ds.uv_px[a:b], axis=-1) > 1e-6)
                swapped.append(gross[-1] & (np.linalg.norm(uv - ds.uv_px[a:b][:, list(FLIP_INDEX)], axis=-1) < 1e-6))
                restarted.append(r.second_pass)
                other.append(np.linalg.norm(r.steps["pointcloud"] - gt[:, list(FLIP_INDEX)], axis=-1))
        err, g, sw, rs, other = map(np.concatenate, (err, gross, swapped, restarted, other))
        ok = err <= 0.10
        print(f"{name}: joints {err.size}; gross {pct(g)}% (swapped {pct(sw)}%, jumped {pct(g & ~sw)}%)")
        print(f"  acc clean {pct(ok[~g])}, gross {pct(ok[g])}; swapped {pct(ok[sw])}, jumped {pct(ok[g & ~sw])}")
        print(f"  gross restarted {pct(rs[g])}%: acc if restarted {pct(ok[g & rs])}, not restarted {pct(ok[g & ~rs])}")
        print(f"  swapped joints ending within 10 cm of the other side's truth: {pct(other[sw] <= 0.10)}%")
        print(f"  misses: {(~ok).sum()} of which gross {(~ok & g).sum()}")


if __name__ == "__main__":
    main(sys.argv[1:])
