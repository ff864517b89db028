"""``refinet-edge serve`` and ``refinet-edge serve-load``: options onto :mod:`refinet_edge.serve` calls."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import RefinetError

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def parse_sizes(text: str, option: str) -> tuple[int, ...]:
    """``"4,8"`` -> ``(4, 8)``; every size >= 1."""
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise RefinetError(f"{option} {text!r}: expected a comma list of integers, e.g. 4,8") from None
    if any(s < 1 for s in sizes):
        raise RefinetError(f"{option} {text!r}: sizes must be >= 1")
    return sizes


def serve(
    backend: Annotated[str, typer.Option(help="onnxruntime, tensorrt or torch: where the stages run.")]
    = "onnxruntime",
    onnx_dir: Annotated[Path | None, typer.Option(help="`refinet-edge export` / `build` output (onnxruntime, "
                                                       "tensorrt).")] = None,
    checkpoints: Annotated[Path | None, typer.Option(help="torch: stage checkpoints (default: shipped weights).")]
    = None,
    precision: Annotated[str, typer.Option(help="fp32, fp16 or int8.")] = "fp32",
    threads: Annotated[int | None, typer.Option(help="CPU threads for the stages (default: all cores but two).")]
    = None,
    http_port: Annotated[int, typer.Option(help="Triton HTTP port.")] = 8000,
    grpc_port: Annotated[int, typer.Option(help="Triton gRPC port.")] = 8001,
    metrics_port: Annotated[int, typer.Option(help="Triton metrics port.")] = 8002,
    address: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")]
    = "0.0.0.0",
    max_batch: Annotated[int, typer.Option(help="Most people Triton batches into one pipeline call.")] = 64,
    queue_delay_us: Annotated[int, typer.Option(help="Dynamic batcher: longest wait for more requests, us.")]
    = 2000,
    preferred_batch: Annotated[str, typer.Option(help="Dynamic batcher: preferred batch sizes, e.g. 4,8 "
                                                      "(default: none).")] = "",
    max_depth_px: Annotated[int, typer.Option(help="Largest depth map accepted, H x W pixels.")] = 1280 * 720,
) -> None:
    """Serve the refinement as Triton model `refinet` (PyTriton), batched across cameras.

    Per person: depth (z16 + scale or float32 m), intrinsics, 2D joints + scores
    in; 3D joints (m, camera frame), validity and per-step joints out. Clients:
    `refinet-edge live --server HOST:PORT`.
    """
    from ..live.backends import choose_backend, cpu_threads
    from ..pipeline import WEIGHTS_DIR
    from .server import ServeOptions
    from .server import serve as run_server

    if max_batch < 1 or queue_delay_us < 0 or max_depth_px < 1:
        raise RefinetError("--max-batch and --max-depth-px must be >= 1, --queue-delay-us >= 0")
    chosen = choose_backend(backend, precision, onnx_dir)
    directory = (onnx_dir if chosen.exported else checkpoints) or WEIGHTS_DIR
    pipeline, notes = chosen.load(directory, precision, cpu_threads(threads))
    for note in notes:
        console.print(f"note: {note}")
    options = ServeOptions(http_port, grpc_port, metrics_port, address, max_batch, queue_delay_us,
                           parse_sizes(preferred_batch, "--preferred-batch"), max_depth_px)
    console.print(f"serve: backend {chosen.name} {precision} on {chosen.device()}, stages "
                  f"{'+'.join(pipeline.runners)} from {directory}")
    signal.signal(signal.SIGTERM, _raise_interrupt)  # stop tritonserver with us on SIGTERM too
    try:
        run_server(pipeline, options, ready=lambda line: console.print(line))
    except KeyboardInterrupt:
        console.print("serve: stopped")


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    """Add ``serve`` (and ``serve-load``) to the main command line."""
    app.command()(serve)
