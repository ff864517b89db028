"""Where the shipped chain's noisy-2D accuracy goes, on validation sets (side view, the shipped weights).

    python benchmarks/reports/2026-12-06-cpu-2core-xeon-noise-decomposition/decompose.py data/val_uniform ...

Per set, the last step's acc@10cm over all joints and over the labels' seen and hidden joints, and the median 2D
error of the patch step on seen joints, for: the default noise (sigma 5 px, 5 % swaps, 5 % outliers); the same
draws with the labels' hidden joints given exact 2D; with the seen joints given exact 2D; exact 2D; and each part
of the default noise alone (sigma 5 px; the gross errors; sigma 2.5 px with the gross errors).
"""

from __future__ import annotations

import sys

import numpy as np

from refinet_edge.data.itop import open_split
from refinet_edge.noise import DetectorNoise
from refinet_edge.pipeline import WEIGHTS_DIR, RefinementPipeline

DEFAULT = DetectorNoise(swap_prob=0.05, outlier_prob=0.05)
PARTS = {"sigma 5 px only": DetectorNoise(), "gross errors only": DetectorNoise(sigma_px=0.0, swap_prob=0.05,
                                                                                  outlier_prob=0.05),
         "sigma 2.5 px + gross": DetectorNoise(sigma_px=2.5, swap_prob=0.05, outlier_prob=0.05)}


def score(ds, runs: dict[str, list]) -> list[str]:
    visible = ds.visible
    out = []
    for name, (joints, uv_patch) in runs.items():
        hit = np.linalg.norm(np.concatenate(joints) - ds.joints_m, axis=-1) < 0.1
        err_2d = np.linalg.norm(np.concatenate(uv_patch) - ds.uv_px, axis=-1)
        out.append(f"  {name:28s} all {100 * hit.mean():5.1f}  seen {100 * hit[visible].mean():5.1f}  hidden "
                   f"{100 * hit[~visible].mean():5.1f}  seen patch 2D median {np.nanmedian(err_2d[visible]):.1f} px")
    return out


def add(runs: dict[str, list], name: str, result) -> None:
    """Keep one batch's last step and patch-step 2D under ``name``."""
    runs.setdefault(name, [[], []])
    runs[name][0].append(result.steps["pointcloud"])
    runs[name][1].append(result.uv_px["patch"])


def main(roots: list[str]) -> None:
    pipe = RefinementPipeline.from_dir(WEIGHTS_DIR)
    for root in roots:
        with open_split(root, view="side", split="test") as ds:
            runs: dict[str, list] = {}
            rng = np.random.default_rng(0)
            for start in range(0, len(ds), 64):
                stop = min(start + 64, len(ds))
                truth, depth = ds.uv_px[start:stop], ds.depth_batch(start, stop)
                noisy = DEFAULT.apply_2d(truth, rng)
                seen = ds.visible[start:stop, :, None]
                for name, uv in (("default", noisy), ("default, hidden 2D exact", np.where(seen, noisy, truth)),
                                 ("default, seen 2D exact", np.where(seen, truth, noisy)), ("exact", truth)):
                    result = pipe.run(depth, uv, ds.camera)
                    add(runs, name, result)
            for name, noise in PARTS.items():
                rng = np.random.default_rng(0)
                for start in range(0, len(ds), 64):
                    stop = min(start + 64, len(ds))
                    result = pipe.run(ds.depth_batch(start, stop), noise.apply_2d(ds.uv_px[start:stop], rng),
                                      ds.camera)
                    add(runs, name, result)
            print("\n".join([root, *score(ds, runs)]), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
