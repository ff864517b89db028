"""``refinet-edge bench-kernels``: the pre-processing benchmark (:mod:`refinet_edge.benchmarks.preprocess`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..benchmarks.options import KERNEL_CAMERAS, KERNEL_IMPLS


def bench_kernels(
    cameras: Annotated[str, typer.Option(help="Camera presets (resolutions), comma-separated, or all: "
                                              f"{', '.join(KERNEL_CAMERAS)}.")] = "all",
    people: Annotated[str, typer.Option(help="People per call (B frames of one person), comma-separated.")]
    = "1,2,4,8",
    repeats: Annotated[int, typer.Option(help="Timed runs of fast/numba/cuda.")] = 100,
    ref_repeats: Annotated[int, typer.Option(help="Timed runs of reference/naive (slow).")] = 5,
    warmup: Annotated[int, typer.Option(help="Untimed runs before timing.")] = 5,
    num_points: Annotated[int, typer.Option(help="Stage C N (the shipped edge preset: 128).")] = 128,
    impl: Annotated[str, typer.Option(help="Implementations, comma-separated, or all: "
                                           f"{', '.join(KERNEL_IMPLS)}.")] = "all",
    layer: Annotated[str, typer.Option(help="CUDA layer: auto, cuda-python or pycuda.")] = "auto",
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the rows and the environment to this JSON file.")] = None,
) -> None:
    """Time lifting, patches and points: reference, fast CPU and CUDA kernels; p50/p90/p99.

    One row per camera x people x implementation x step (lift, patches, points
    and their total), in ms, with the speed-up of p50 over the reference.
    """
    from ..benchmarks.options import parse_ints, parse_list
    from ..benchmarks.preprocess import bench_kernels as run

    chosen_cameras = KERNEL_CAMERAS if cameras == "all" else tuple(c.strip() for c in cameras.split(",") if c.strip())
    run(chosen_cameras, parse_ints(people, "--people"), repeats, ref_repeats, warmup, num_points,
        KERNEL_IMPLS if impl == "all" else parse_list(impl, KERNEL_IMPLS, "--impl"), layer, json_path)


def register(app: typer.Typer) -> None:
    """Add ``bench-kernels`` to the command line."""
    app.command("bench-kernels")(bench_kernels)
