"""CLI verbs ``export``, ``build`` and ``compare`` (and ``calibrate`` from :mod:`refinet_edge.calibration`).

Options are mapped onto the API, nothing more.

Registered on the main app by :func:`register` (see :mod:`refinet_edge.cli`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from refinet_edge.console import View, check_view
from refinet_edge.errors import RefinetError

console = Console(stderr=True)
out = Console(highlight=False)

Data = Annotated[Path | None, typer.Option(
    help="ITOP-layout directory (e.g. `synth` output); default: synthetic frames generated in memory.")]
OnnxDir = Annotated[Path, typer.Option("--onnx-dir", help="Directory written by `refinet-edge export`.")]


def say(line: str) -> None:
    out.print(line, soft_wrap=True)


def progress_bar(description: str) -> Progress:
    return Progress(TextColumn(f"[bold]{description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, disable=not console.is_terminal)


def export(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the ONNX files and manifest.json.")],
    checkpoints: Annotated[Path | None, typer.Option(
        help="Directory with {patch,skeleton,pointcloud}.safetensors (default: the shipped weights of --view).")]
    = None,
    view: View = "side",
    opset: Annotated[int, typer.Option(help="ONNX opset (13..20; TensorRT 10 and 11 parse 17).")] = 17,
    data: Data = None,
    frames: Annotated[int, typer.Option(help="Frames for the parity gate (test split of --data).")] = 32,
    triton_repo: Annotated[Path | None, typer.Option(
        help="Also write a Triton model repository here (stages as onnxruntime_onnx models, pre-processing as "
             "a Python-backend model chaining them; README inside).")] = None,
) -> None:
    """Export each stage to ONNX (dynamic batch, simplified, checked) and gate on ORT-vs-PyTorch parity.

    Writes {stage}.onnx with provenance in metadata_props and manifest.json; the
    parity gate compares ONNX Runtime (CPU) with PyTorch on real stage inputs and
    fails the export beyond 1e-4 max abs error. --view top exports the top-view weight
    set (on top-view frames); the manifest records the view for calibrate and compare.
    """
    from refinet_edge.pipeline import weights_dir

    from .inputs import frames_from
    from .run_export import export_all

    check_view(view)
    if checkpoints is None:
        checkpoints = weights_dir(view)
    store = frames_from(data, "test", frames, seed=1, view=view)
    if triton_repo is not None and triton_repo.exists() and any(triton_repo.iterdir()):
        raise RefinetError(f"--triton-repo {triton_repo}: exists and is not empty; choose a new folder")
    export_all(checkpoints, out_dir, store, opset, log=say, view=view)
    say(f"export: wrote {out_dir / 'manifest.json'}")
    if triton_repo is not None:
        from refinet_edge.serve.repository import write_triton_repo

        files = write_triton_repo(out_dir, triton_repo)
        say(f"export: wrote a Triton model repository ({len(files)} files) to {triton_repo}; see its README.md")


def build(
    onnx_dir: OnnxDir,
    precision: Annotated[str, typer.Option(help="fp32, fp16 or int8: which ONNX set to build.")] = "fp16",
    max_batch: Annotated[int, typer.Option(help="Largest batch (people x frames) the engines accept.")] = 16,
    opt_batch: Annotated[int, typer.Option(help="Batch the kernels are tuned for.")] = 1,
    workspace: Annotated[int, typer.Option(help="TensorRT workspace memory pool limit, MB.")] = 1024,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where to write engines (default: --onnx-dir).")]
    = None,
    runtime: Annotated[str, typer.Option(help="auto (TensorRT if installed, else TensorRT-RTX), tensorrt or "
                                              "tensorrt-rtx.")] = "auto",
    target: Annotated[str | None, typer.Option(help="TensorRT-RTX only: compute capabilities to build for, e.g. "
                                                    "8.9 or 8.6,12.0 (default: its portable set, no GPU needed).")]
    = None,
) -> None:
    """Build TensorRT engines (strongly typed; TensorRT 10/11 or TensorRT-RTX) with a provenance sidecar each."""
    from .build import build_all
    from .engine_info import BuildSettings
    from .trt_api import parse_runtime, parse_targets

    chosen = parse_runtime(runtime)
    targets = parse_targets(target, chosen)
    settings = BuildSettings(max_batch=max_batch, opt_batch=opt_batch, workspace_mb=workspace, targets=targets)
    build_all(onnx_dir, precision, settings, out_dir, log=say, runtime=chosen)


def inspect(
    file: Annotated[Path, typer.Argument(help="An ONNX file or a `build` engine (.engine).")],
    runtime: Annotated[str, typer.Option(help="ONNX: which TensorRT parses it (auto, tensorrt, tensorrt-rtx).")]
    = "auto",
) -> None:
    """Show what TensorRT makes of a file: an ONNX's parsed network (no GPU), or an engine's sidecar and layers."""
    from .trt_api import parse_runtime
    from .trt_inspect import engine_table, inspect_engine, inspect_onnx, onnx_table

    if file.suffix == ".engine":
        for line in engine_table(*inspect_engine(file)):
            say(line)
        return
    result = inspect_onnx(file, parse_runtime(runtime))
    for line in onnx_table(result):
        say(line)
    if result.errors or result.unsupported:
        first = result.unsupported[0] if result.unsupported else result.errors[0]
        raise RefinetError(f"{file}: {result.runtime} cannot take it: {first}")


def compare(
    onnx_dir: OnnxDir,
    backends: Annotated[str, typer.Option(help="Comma list; the first is the reference.")] = "torch,onnxruntime",
    precision: Annotated[str, typer.Option(help="Precision of the non-torch backends.")] = "fp32",
    checkpoints: Annotated[Path | None, typer.Option(help="Checkpoints for the torch backend "
                                                           "(default: those the export recorded).")] = None,
    data: Data = None,
    frames: Annotated[int, typer.Option(help="Frames whose stage inputs are compared (test split).")] = 32,
    plan: Annotated[bool, typer.Option(help="Follow calibrate's precision plan (a stage that failed the accuracy "
                                            "gate is compared at the precision it runs at); --no-plan compares "
                                            "every stage's --precision file.")] = True,
) -> None:
    """Run every stage on each backend with the same real inputs; max/mean abs error and pass/fail per output."""
    from .backends import parse_backend
    from .compare import compare_backends, compare_plan
    from .inputs import frames_from
    from .manifest import manifest_view, read_manifest
    from .precision import Precision

    names = [parse_backend(b.strip()) for b in backends.split(",") if b.strip()]
    chosen = Precision.parse(precision)
    manifest = read_manifest(onnx_dir)
    notes = compare_plan(manifest, chosen, plan)[1]
    for note in notes:
        say(f"note: {note} (--no-plan compares the {chosen.value} file)")
    what = f"the {chosen.value} plan's tolerances" if notes else f"the {chosen.value} tolerance"
    store = frames_from(data, "test", frames, seed=1, view=manifest_view(manifest))
    results = compare_backends(onnx_dir, names, chosen, store, checkpoints,
                               follow_plan=plan)
    for result in results:
        say(result.line())
    failed = [r for r in results if not r.passed]
    if failed:
        raise RefinetError(f"compare: {len(failed)} of {len(results)} outputs beyond {what}")
    say(f"compare: all {len(results)} outputs within {what}")


def register(app: typer.Typer) -> None:
    """Add the export/engine verbs to the main CLI."""
    from refinet_edge.calibration.commands import calibrate

    for command in (export, calibrate, build, compare, inspect):
        app.command()(command)
