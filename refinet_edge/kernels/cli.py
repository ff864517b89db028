"""``refinet-edge bench-kernels``: the pre-processing benchmark (:mod:`refinet_edge.benchmarks.preprocess`)."""

from __future__ import annotations

import typer

_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def bench_kernels(ctx: typer.Context) -> None:
    """Time lifting, patches and points: reference, fast CPU and CUDA kernels; p50/p90/p99.

    Every option goes to the benchmark; `refinet-edge bench-kernels --help` lists them.
    """
    from ..benchmarks.preprocess import main

    main(list(ctx.args), prog="refinet-edge bench-kernels")


def register(app: typer.Typer) -> None:
    """Add ``bench-kernels`` to the command line."""
    app.command("bench-kernels", context_settings=_PASS_THROUGH)(bench_kernels)
