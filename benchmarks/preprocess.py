"""Time the pre-processing steps (lifting, stage A patches, stage C points) on every available implementation.

    refinet-edge bench-kernels                     # 320x240, 640x480, 848x480; 1, 2, 4, 8 people
    refinet-edge bench-kernels --cameras d435_640x480 --people 1,8 --repeats 200

Implementations: ``reference`` (the per-frame NumPy references: loops for
lifting and patches, per-side window rescans for points), ``naive`` (points
only: the reference scanning the whole frame for every joint and side),
``fast`` (the batched NumPy path), ``numba`` (the same contracts compiled with
Numba, :mod:`refinet_edge.preprocess._jit`: the CPU path the pipeline uses
when numba is installed) and ``cuda`` (the kernels through the default CUDA
layer, when a GPU is present).

With torch CUDA: ``cuda-dev`` (the kernels on CUDA tensors already on the
GPU: launches and synchronisation only) and ``torch-cuda`` (stage A patches
written with torch CUDA ops, :func:`extract_patches_torch`, the comparison
the issue asks for; lifting and points have no torch version).

Scenes: synthetic side-view frames (one person each, 1-4 m away, sensor noise
and holes) from :func:`refinet_edge.synth.generate_frame`, 15 joints with
5 px Gaussian detector noise; B people = B frames. Inside the timer: the step
on ``depth_m (B, H, W)`` float32 already in host memory; for ``cuda`` also
the host->device copies of depth and joints, the device allocations, the
launches, the device->host copies and the final synchronisation (NumPy in,
NumPy out). ``total`` = lift + patches + points, run back to back. Warm-up
runs (and kernel compilation) come first, outside the timer.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import refinet_edge
from refinet_edge.camera import camera_preset
from refinet_edge.errors import RefinetError
from refinet_edge.lifting import lift_joints_detailed, lift_joints_reference
from refinet_edge.preprocess.patches import PatchConfig, extract_patches, extract_patches_reference
from refinet_edge.preprocess.points import PointConfig, sample_points, sample_points_reference
from refinet_edge.synth import generate_frame

from .options import KERNEL_CAMERAS as CAMERAS
from .options import KERNEL_IMPLS as IMPLS
from .options import parse_list
from .synth_rate import cpu_model


def scene(camera: str, people: int, seed: int = 0) -> tuple:
    """``depth_m (B, H, W)`` float32, noisy ``uv_px (B, 15, 2)`` and the camera."""
    frames = [generate_frame(i, seed=seed, camera=camera, view="side") for i in range(people)]
    rng = np.random.default_rng(seed)
    uv = np.stack([f.uv_px for f in frames]) + rng.normal(0.0, 5.0, (people, 15, 2))
    return np.stack([f.depth_m for f in frames]).astype(np.float32), uv, frames[0].camera


def implementations(cam, patch_cfg: PatchConfig, point_cfg: PointConfig, gpu) -> dict[str, dict[str, Callable]]:
    """Per implementation, per step, a function of ``(depth, uv, joints)``."""

    def per_frame(fn: Callable) -> Callable:
        return lambda depth, *rest: [fn(depth[b], *(r[b] for r in rest)) for b in range(len(depth))]

    ref = {
        "lift": lambda d, uv, j: lift_joints_reference(uv, d, cam),
        "patches": lambda d, uv, j: per_frame(lambda db, ub, jb: extract_patches_reference(
            db, ub, jb[:, 2], cam, patch_cfg))(d, uv, j),
        "points": lambda d, uv, j: per_frame(lambda db, jb: sample_points_reference(db, jb, cam, point_cfg))(d, j),
    }
    naive = {"points": lambda d, uv, j: per_frame(lambda db, jb: sample_points_reference(
        db, jb, cam, point_cfg, bounded=False))(d, j)}
    fast = {
        "lift": lambda d, uv, j: lift_joints_detailed(uv, d, cam),
        "patches": lambda d, uv, j: extract_patches(d, uv, j[..., 2], cam, patch_cfg),
        "points": lambda d, uv, j: sample_points(d, j, cam, point_cfg),
    }
    impls = {"reference": ref, "naive": naive, "fast": fast}
    impls.update(_numba(cam, patch_cfg, point_cfg))
    if gpu is not None:
        impls["cuda"] = {
            "lift": lambda d, uv, j: gpu.lift_joints(uv, d, cam),
            "patches": lambda d, uv, j: gpu.extract_patches(d, uv, j[..., 2], cam, patch_cfg),
            "points": lambda d, uv, j: gpu.sample_points(d, j, cam, point_cfg),
        }
    impls.update(_torch_cuda(cam, patch_cfg, point_cfg, gpu))
    for steps in impls.values():
        if len(steps) == 3:
            parts = dict(steps)
            steps["total"] = _chain(parts)
    return impls


def _chain(parts: dict) -> Callable:
    """The three steps one after the other, timed as one."""

    def total(d, uv, j):
        return [parts[s](d, uv, j) for s in ("lift", "patches", "points")]

    return total


def _numba(cam, patch_cfg: PatchConfig, point_cfg: PointConfig) -> dict[str, dict[str, Callable]]:
    """``numba``: the compiled CPU path (nothing when numba is not installed)."""
    try:
        from refinet_edge.preprocess import _jit
    except ImportError:
        return {}
    return {"numba": {
        "lift": lambda d, uv, j: _jit.lift_joints_detailed(uv, d, cam),
        "patches": lambda d, uv, j: _jit.extract_patches(d, uv, j[..., 2], cam, patch_cfg),
        "points": lambda d, uv, j: _jit.sample_points(d, j, cam, point_cfg),
    }}


def _torch_cuda(cam, patch_cfg: PatchConfig, point_cfg: PointConfig, gpu) -> dict[str, dict[str, Callable]]:
    """``torch-cuda``: stage A patches written with torch CUDA ops; ``cuda-dev``: the kernels on CUDA tensors.

    Inputs already on the GPU; each call ends with ``torch.cuda.synchronize()``.
    """
    try:
        import torch
    except ImportError:
        return {}
    if not torch.cuda.is_available():
        return {}
    from refinet_edge.preprocess.patches import extract_patches_torch

    def on_gpu(fn: Callable) -> Callable:
        cache: dict[int, tuple] = {}

        def call(d, uv, j):
            key = id(d)
            if key not in cache:
                cache.clear()
                cache[key] = tuple(torch.from_numpy(np.ascontiguousarray(a)).cuda() for a in (d, uv, j))
            out = fn(*cache[key])
            torch.cuda.synchronize()
            return out
        return call

    impls = {"torch-cuda": {"patches": on_gpu(lambda d, uv, j: extract_patches_torch(
        d, uv, j[..., 2].float(), cam.fx, cam.fy, patch_cfg))}}
    if gpu is not None:
        impls["cuda-dev"] = {
            "lift": on_gpu(lambda d, uv, j: gpu.lift_joints(uv, d, cam)),
            "patches": on_gpu(lambda d, uv, j: gpu.extract_patches(d, uv, j[..., 2], cam, patch_cfg)),
            "points": on_gpu(lambda d, uv, j: gpu.sample_points(d, j, cam, point_cfg)),
        }
    return impls


def percentiles(fn: Callable[[], object], repeats: int, warmup: int) -> dict[str, float]:
    """p50/p90/p99 in ms of ``repeats`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return {"min_ms": float(np.min(times)), "p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99),
            "repeats": repeats}


def run(cameras: tuple[str, ...], people: tuple[int, ...], repeats: int, ref_repeats: int, warmup: int,
        point_cfg: PointConfig, layer: str, impl_names: tuple[str, ...]) -> list[dict]:
    gpu = None
    if {"cuda", "cuda-dev"} & set(impl_names):
        from refinet_edge.kernels import open_preprocessor

        gpu = open_preprocessor(layer)
        print(f"# cuda: {gpu.describe() if gpu else 'not available (no GPU or CUDA layer)'}")
    rows = []
    for name in cameras:
        for count in people:
            depth, uv, cam = scene(name, count)
            joints = lift_joints_detailed(uv, depth, cam).joints_m
            for impl, steps in implementations(cam, PatchConfig(), point_cfg, gpu).items():
                if impl not in impl_names:
                    continue
                slow = impl in ("reference", "naive")
                for step, fn in steps.items():
                    call = lambda f=fn, d=depth, u=uv, j=joints: f(d, u, j)  # noqa: E731
                    warm = 1 if slow else max(warmup, 1) if impl == "numba" else warmup  # numba: compile untimed
                    stats = percentiles(call, ref_repeats if slow else repeats, warm)
                    rows.append({"camera": name, "resolution": f"{cam.width}x{cam.height}", "people": count,
                                 "step": step, "impl": impl, **stats})
                    print(_line(rows[-1], rows), flush=True)
    return rows


def _line(row: dict, rows: list[dict]) -> str:
    ref = [r for r in rows if r["impl"] == "reference" and all(r[k] == row[k] for k in ("camera", "people", "step"))]
    speed = f"{ref[0]['p50_ms'] / row['p50_ms']:7.1f}x" if ref and row["impl"] != "reference" else "        "
    return (f"{row['resolution']:>8} {row['people']:>3} {row['step']:>8} {row['impl']:>9} {row['min_ms']:9.3f} "
            f"{row['p50_ms']:9.3f} "
            f"{row['p90_ms']:9.3f} {row['p99_ms']:9.3f} {speed}")


def environment() -> dict:
    """Hardware and versions for the report header."""
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "refinet_edge": refinet_edge.__version__, "machine": platform.machine()}
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        pass
    try:
        from cuda.bindings import __version__ as cuda_bindings

        info["cuda_bindings"] = cuda_bindings
    except ImportError:
        pass
    return info


def bench_kernels(cameras: tuple[str, ...] = CAMERAS, people: tuple[int, ...] = (1, 2, 4, 8), repeats: int = 100,
                  ref_repeats: int = 5, warmup: int = 5, num_points: int = 128, impls: tuple[str, ...] = IMPLS,
                  layer: str = "auto", json_path: Path | None = None) -> list[dict]:
    """``refinet-edge bench-kernels``: print the environment, the settings and a row per camera x people x
    implementation x step (``reference`` and ``naive`` timed ``ref_repeats`` times, the others ``repeats`` times);
    with ``json_path``, also write the rows and the environment there. Returns the rows."""
    for name in cameras:
        camera_preset(name)  # an unknown preset fails here, before any output
    for impl in impls:
        parse_list(impl, IMPLS, "--impl")  # an unknown implementation fails here, with a did-you-mean hint
    if not people or min(people) < 1 or min(repeats, ref_repeats) < 1 or warmup < 0:
        raise RefinetError("--people and the repeats must be >= 1, --warmup >= 0")
    point_cfg = PointConfig(num_points=num_points)
    env = environment()
    print("# " + ", ".join(f"{k}={v}" for k, v in env.items()))
    print(f"# patches {PatchConfig()}; points {point_cfg}; lifting window 9 (grow 2); repeats {repeats} "
          f"(reference/naive {ref_repeats}), warm-up {warmup}; times in ms")
    print(f"{'res':>8} {'B':>3} {'step':>8} {'impl':>9} {'min':>9} {'p50':>9} {'p90':>9} {'p99':>9} {'p50 vs ref':>8}")
    rows = run(tuple(cameras), tuple(people), repeats, ref_repeats, warmup, point_cfg, layer, tuple(impls))
    if json_path is not None:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump({"environment": env, "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":  # python -m refinet_edge.benchmarks.preprocess [OPTIONS]: the bench-kernels verb
    import sys

    from refinet_edge.cli import main

    sys.argv[1:1] = ["bench-kernels"]
    main()
