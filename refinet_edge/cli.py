"""The ``refinet-edge`` command line: one sub-command per verb.

This module only maps options onto the library's API; the work happens in
importable modules. User errors (:class:`RefinetError`) print one line and
exit with code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import TaskID

from . import __version__
from .console import console, out, progress
from .errors import RefinetError
from .main_job import _load_pipeline, demo, evaluate, print_report, synth

__all__ = ["_load_pipeline", "app", "main"]  # _load_pipeline: scripts/ood_anny_split.py imports it from here


app = typer.Typer(
    name="refinet-edge",
    help="RefiNet 3D human-pose refinement from RGB-D: data, training, export, edge deployment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# The verbs, in --help order: the main job (main_job.py), training, info, then each group's register().
app.command()(synth)
app.command()(evaluate)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    hypes: Annotated[Path, typer.Option(help="Training config (hypes JSON), e.g. hypes/synthetic/patch/train.json.")],
    phase: Annotated[str | None, typer.Option(help="train, or test (score the trained chain on the test split).")]
    = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last epoch's saved state.")] = False,
) -> None:
    """Train one RefiNet stage (patch, skeleton or pointcloud) from a hypes file.

    Extra options override hypes keys of the same name, as in the authors'
    main.py: --epochs 5, --batch_size 32, --data.from_gt false, --noise.sigma_px=8.
    Writes {stage}.safetensors (best by validation accuracy at 10 cm),
    {stage}.state.pt (for --resume) and {stage}.log.jsonl into checkpoints.save_dir.
    """
    from .hypes import load_hypes

    overrides = list(ctx.args) + ([f"--phase={phase}"] if phase else [])
    h = load_hypes(hypes, overrides)
    if h.phase == "test":
        _test_chain(h)
        return
    from .training.run import run_training

    with progress(f"train {h.stage}") as bar:
        tasks: dict[str, TaskID] = {}
        tenths: dict[str, int] = {}

        def on_progress(what: str, done: int, total: int) -> None:
            if not console.is_terminal:  # logging to a file: a plain line at every tenth, not a bar
                tenth = done * 10 // max(total, 1)
                if tenth > tenths.get(what, -1):
                    tenths[what] = tenth
                    console.print(f"{what}: {done}/{total}")
                return
            task = tasks.setdefault(what, bar.add_task(what, total=total))
            bar.update(task, completed=done)

        def on_event(kind: str, payload: dict) -> None:
            if kind == "batch" and not console.is_terminal:
                if payload["step"] % h.train.log_every == 0:  # a plain line when logging to a file
                    console.print(f"epoch {payload['epoch']} step {payload['step']}/{payload['steps']} "
                                  f"loss {payload['loss']:.4f}")
            elif kind == "batch":
                name = f"epoch {payload['epoch']}"
                task = tasks.setdefault(name, bar.add_task(name, total=payload["steps"]))
                bar.update(task, completed=payload["step"], description=f"epoch {payload['epoch']} "
                           f"loss {payload['loss']:.4f}")
            elif kind == "epoch":
                steps = {k[4:-9]: v for k, v in payload.items() if k.startswith("val_") and k.endswith("_acc_10cm")}
                console.print(f"epoch {payload['epoch']}/{h.epochs}: loss {payload['loss']:.4f}, val acc@10cm "
                              + ", ".join(f"{k} {v:.2f}" for k, v in steps.items())
                              + f", MPJPE {payload['val_mpjpe_mm']:.1f} mm ({payload['seconds']:.0f} s)")
            else:
                console.print(payload["message"])

        best = run_training(h, resume=resume, on_event=on_event, on_progress=on_progress)
    out.print(f"train: {h.stage} best val acc@10cm {best['acc_10cm']:.2f} at epoch {best.get('epoch')}")


def _test_chain(h) -> None:
    from .data.itop import open_split
    from .evaluate import EvalSettings, evaluate_split
    from .pipeline import STAGES, RefinementPipeline
    from .training.run import resolve

    save_dir = resolve(h, "checkpoints.save_dir")
    stages = STAGES[: STAGES.index(h.stage) + 1]
    pipeline = RefinementPipeline.from_dir(save_dir, stages=stages)
    with open_split(resolve(h, "train_dir"), view=h.side, split="test") as ds:
        report = evaluate_split(ds, pipeline, EvalSettings())
    print_report(report)


app.command()(demo)


@app.command()
def info() -> None:
    """Print the version, camera presets, and which optional backends are installed."""
    import importlib.util

    from .camera import CAMERA_PRESETS

    out.print(f"refinet-edge {__version__} (Python {sys.version.split()[0]})")
    out.print("camera presets:")
    for cam in CAMERA_PRESETS.values():
        out.print(f"  {cam.name:14s} {cam.width}x{cam.height}  fx {cam.fx:.2f} fy {cam.fy:.2f} "
                  f"cx {cam.cx:.2f} cy {cam.cy:.2f}  depth_scale {cam.depth_scale:g} m")
    out.print("optional packages:")
    for module, extra in [("torch", "(bring your own)"), ("onnxruntime", "[onnx]"), ("tensorrt", "[tensorrt]"),
                          ("tensorrt_rtx", "[tensorrt-rtx]"),
                          ("cuda.bindings", "[kernels]"), ("pycuda", "[pycuda]"), ("pyrealsense2", "[camera]"),
                          ("mediapipe", "[mediapipe]"), ("numba", "[jit]")]:
        spec = importlib.util.find_spec(module)
        found = spec is not None and spec.origin is not None  # a bare namespace (e.g. tensorrt-stubs alone) is not it
        out.print(f"  {module:13s} {'installed' if found else 'not installed':14s} {extra}", markup=False)


from .export.commands import register as _register_export  # noqa: E402 - export, calibrate, build, compare

_register_export(app)

from .live.cli import register as _register_live  # noqa: E402 - after the built-in verbs, for --help order

_register_live(app)

from .kernels.cli import register as _register_kernels  # noqa: E402 - bench-kernels

_register_kernels(app)

from .benchmarks.cli import register as _register_bench  # noqa: E402 - bench, report compare

_register_bench(app)

from .serve.cli import register as _register_serve  # noqa: E402 - serve, serve-load

_register_serve(app)


def main() -> None:
    """Console entry point: usage errors exit 2 (click), user errors print one line and exit 1."""
    try:
        app()
    except RefinetError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except OSError as exc:
        if exc.filename is None:
            raise
        console.print(f"[red]error:[/red] {exc.filename}: {exc.strerror}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
