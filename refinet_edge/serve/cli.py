"""``refinet-edge serve`` and ``refinet-edge serve-load``: options onto :mod:`refinet_edge.serve` calls."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import RefinetError

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)  # piped output: lines are not cut at 80 columns


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


def serve_load(
    out_path: Annotated[Path, typer.Option("--out", help="Report to write (JSON), e.g. "
                                                         "benchmarks/reports/serve_load_DATE_MACHINE.json.")],
    backend: Annotated[str, typer.Option(help="Server and in-process backend: onnxruntime, tensorrt, torch.")]
    = "onnxruntime",
    onnx_dir: Annotated[Path | None, typer.Option(help="Exported stages (onnxruntime, tensorrt).")] = None,
    precision: Annotated[str, typer.Option(help="fp32, fp16 or int8.")] = "fp32",
    threads: Annotated[int | None, typer.Option(help="CPU threads for the stages, server and in-process.")] = None,
    cameras: Annotated[str, typer.Option(help="Levels: simulated cameras at once, e.g. 1,2,4,8.")] = "1,2,4,8",
    fps: Annotated[float, typer.Option(help="Frames per second per camera.")] = 30.0,
    seconds: Annotated[float, typer.Option(help="Duration per level, s (at most 60).")] = 5.0,
    max_requests: Annotated[int, typer.Option(help="Requests per camera and level (at most 2000).")] = 300,
    max_batch: Annotated[int, typer.Option(help="Server: most people per batch.")] = 64,
    queue_delay_us: Annotated[int, typer.Option(help="Server: dynamic batcher queue delay, us.")] = 2000,
    preferred_batch: Annotated[str, typer.Option(help="Server: preferred batch sizes, e.g. 4,8.")] = "",
) -> None:
    """Bounded loopback load test: N simulated cameras (own processes, 30 fps) against one server on 127.0.0.1.

    Starts `refinet-edge serve` on free loopback ports, runs each level for
    --seconds (or --max-requests per camera), stops the server, and writes
    people/s, p50/p99 round trip per camera and the batch sizes Triton formed,
    next to the same frames run in this process.
    """
    from ..atomic import write_json
    from ..live.backends import choose_backend, cpu_threads
    from ..pipeline import WEIGHTS_DIR
    from .load import LoadSettings, load_report, markdown_table
    from .process import ServerProcess

    settings = LoadSettings(parse_sizes(cameras, "--cameras"), fps, seconds, max_requests)
    chosen = choose_backend(backend, precision, onnx_dir)
    directory = onnx_dir or WEIGHTS_DIR
    n_threads = cpu_threads(threads)
    pipeline, _ = chosen.load(directory, precision, n_threads)
    args = ["--backend", chosen.name, "--precision", precision, "--threads", str(n_threads),
            "--max-batch", str(max_batch), "--queue-delay-us", str(queue_delay_us)]
    args += (["--onnx-dir", str(onnx_dir)] if onnx_dir else []) + \
        (["--preferred-batch", preferred_batch] if preferred_batch else [])
    server_info = {"backend": chosen.name, "precision": precision, "device": chosen.device(), "threads": n_threads,
                   "max_batch_people": max_batch, "queue_delay_us": queue_delay_us,
                   "preferred_batch_sizes": list(parse_sizes(preferred_batch, "--preferred-batch")),
                   "protocol": "http", "address": "127.0.0.1", "stages_from": str(directory)}
    log = Path(tempfile.gettempdir()) / f"refinet-serve-load-{os.getpid()}.log"
    with ServerProcess(args, log) as server:
        console.print(f"serve-load: server ready on {server.http}")
        report = load_report(server.http, settings, pipeline, server_info, log=lambda line: console.print(line))
    write_json(out_path, report)
    out.print(markdown_table(report), soft_wrap=True, markup=False)
    out.print(f"serve-load: wrote {out_path}")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``serve-load`` to the main command line."""
    app.command()(serve)
    app.command(name="serve-load")(serve_load)
