"""``refinet-edge bench`` and ``refinet-edge report compare``: options onto :mod:`.run` and :mod:`.compare`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from refinet_edge.errors import RefinetError

console = Console(stderr=True)
out = Console()
report_app = typer.Typer(help="Bench reports: compare several side by side, re-render one.", no_args_is_help=True)


def bench(
    backend: Annotated[str, typer.Option(help="Backends, comma-separated: torch, torch-cuda, onnxruntime, "
                                              "tensorrt.")] = "torch,onnxruntime",
    precision: Annotated[str, typer.Option(help="Precisions, comma-separated: fp32, fp16, int8.")] = "fp32",
    batch: Annotated[str, typer.Option(help="Batch sizes (people per call), comma-separated.")] = "1",
    points: Annotated[str, typer.Option(help="Points per joint of stage C, comma-separated (default: the "
                                             "shipped N; other N run untrained weights, latency only).")] = "",
    iterations: Annotated[int, typer.Option(help="Timed calls per configuration.")] = 100,
    warmup: Annotated[int, typer.Option(help="Untimed calls before timing.")] = 10,
    accuracy_frames: Annotated[int, typer.Option(help="Frames scored for acc@10cm and MPJPE.")] = 100,
    data: Annotated[Path | None, typer.Option(help="ITOP-layout directory (its test split) instead of "
                                                   "synthetic frames made in memory.")] = None,
    onnx: Annotated[Path | None, typer.Option(help="Export directory (`refinet-edge export`, engines from "
                                                   "`build`); default: made under --work/onnx.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Report directory.")] = Path("runs/bench"),
    work: Annotated[Path, typer.Option(help="Scratch directory: the export made without --onnx, untrained "
                                            "checkpoints of other points per joint.")] = Path("runs/bench-work"),
    power: Annotated[bool, typer.Option(help="Sample power (jtop, tegrastats or NVML) when available.")] = True,
    power_interval_ms: Annotated[int, typer.Option(help="Power sampling interval.")] = 100,
    rounds: Annotated[int, typer.Option(help="Rounds the iterations are spread over, all configurations "
                                             "interleaved (load drift hits them alike).")] = 5,
    threads: Annotated[int, typer.Option(help="Intra-op threads for PyTorch and ONNX Runtime (0: each "
                                              "library's default).")] = 0,
    live: Annotated[int, typer.Option(help="Also run the live loop this many frames per trained variant "
                                           "(0: no live run).")] = 0,
    live_source: Annotated[str, typer.Option(help="Live source: synthetic or a recording (.db3/.bag).")]
    = "synthetic",
    preprocess: Annotated[str, typer.Option(help="Pre-processing path of every pipeline: auto (the compiled CPU "
                                                 "path when numba is installed, else the CUDA kernels when usable, "
                                                 "else NumPy), cpu, numpy or cuda.")] = "auto",
    swap_prob: Annotated[float, typer.Option(help="Left/right swaps per joint pair in the 2D input (with Gaussian "
                                                  "sigma 5 px; what a second pass restarts from).")] = 0.0,
    outlier_prob: Annotated[float, typer.Option(help="Gross 2D errors per joint in the input (snaps and "
                                                     "jumps).")] = 0.0,
) -> None:
    """Time, score and report every backend x precision x points x batch on this machine.

    Per configuration: per-step and end-to-end latency (min, mean, p50, p90,
    p95, p99, max, std), people per second, speed-up over torch fp32,
    acc@10cm and MPJPE, and power and energy per person where measurable.
    Writes report.json, report.md and report.html into --out.
    """
    from refinet_edge.preprocess.steps import PREPROCESS_CHOICES

    from .options import parse_ints, parse_list
    from .run import BenchSettings, run_bench
    from .variants import BACKENDS, PRECISIONS, Context

    if min(iterations, accuracy_frames, power_interval_ms, rounds) <= 0 or min(warmup, threads, live) < 0:
        raise RefinetError("--iterations, --accuracy-frames, --power-interval-ms and --rounds must be positive, "
                           f"--warmup, --threads and --live non-negative; got {iterations}, {accuracy_frames}, "
                           f"{power_interval_ms}, {rounds}, {warmup}, {threads}")
    if onnx is not None and not (onnx / "manifest.json").is_file():
        raise RefinetError(f"--onnx {onnx}: no manifest.json; make the directory with `refinet-edge export`")
    if onnx is not None:
        from refinet_edge.export.manifest import verify_files

        verify_files(onnx)  # a truncated or replaced file fails here, not as an "unavailable" row
    if live and live_source != "synthetic" and not Path(live_source).exists():
        raise RefinetError(f"--live-source {live_source}: no such recording (or use 'synthetic')")
    if preprocess not in PREPROCESS_CHOICES:
        raise RefinetError(f"--preprocess must be one of {', '.join(PREPROCESS_CHOICES)}; got {preprocess!r}")
    for name, value in (("--swap-prob", swap_prob), ("--outlier-prob", outlier_prob)):
        if not 0.0 <= value <= 1.0:
            raise RefinetError(f"{name} must be a probability in [0, 1], got {value}")
    if data is not None and not data.is_dir():
        raise RefinetError(f"--data {data}: not a directory (expected the ITOP layout)")
    from refinet_edge.atomic import check_output_dir

    check_output_dir(out_dir, "--out")  # before the work, not after it
    settings = BenchSettings(parse_list(backend, BACKENDS, "--backend"), parse_list(precision, PRECISIONS,
                             "--precision"), parse_ints(batch, "--batch"),
                             parse_ints(points, "--points") if points else (),
                             iterations, warmup, accuracy_frames, str(data) if data else None, power,
                             power_interval_ms, rounds, threads, live, live_source, preprocess, swap_prob,
                             outlier_prob)
    ctx = Context(onnx_dir=onnx, work=work, log=lambda line: console.print(line, highlight=False))
    command = shlex.join(["refinet-edge", *sys.argv[1:]])
    report = run_bench(settings, ctx, command, on_row=_print_row)
    from .report import write_reports

    for path in write_reports(report, out_dir):
        out.print(f"bench: wrote {path}")


def _print_row(row: dict) -> None:
    name = f"{row['backend']} {row['precision']} N={row['points']}"
    if row["status"] != "ok":
        console.print(f"{name}: not run: {row['reason']}", highlight=False)
        return
    e2e = row["latency_ms"]["end_to_end"]
    acc = f", acc@10cm {row['accuracy']['acc_10cm']:.2f} %" if row.get("accuracy") else ""
    console.print(f"{name} batch {row['batch']}: p50 {e2e['p50']:.2f} ms, p99 {e2e['p99']:.2f} ms, "
                  f"{row['throughput_people_per_s']:.1f} people/s{acc}", highlight=False)


@report_app.command("compare")
def compare_cmd(
    reports: Annotated[list[Path], typer.Argument(help="report.json files written by `refinet-edge bench`.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Also write compare.md and compare.html here.")]
    = None,
) -> None:
    """Put bench reports side by side (machines, power modes, precisions): a table, and plots with --out."""
    from .compare import compare

    if len(reports) < 2:
        raise RefinetError(f"report compare needs at least two report.json files, got {len(reports)}")
    if out_dir is not None:
        from refinet_edge.atomic import check_output_dir

        check_output_dir(out_dir, "--out")
    text, written = compare(reports, out_dir)
    out.print(text, markup=False, highlight=False, soft_wrap=True)
    for path in written:
        out.print(f"report: wrote {path}")


@report_app.command("render")
def render_cmd(
    report: Annotated[Path, typer.Argument(help="A report.json written by `refinet-edge bench`.")],
) -> None:
    """Rewrite report.md and report.html beside a report.json (no measuring)."""
    from .report import render

    for path in render(report):
        out.print(f"report: wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``bench`` and ``report`` to the main command line."""
    app.command()(bench)
    app.add_typer(report_app, name="report")
