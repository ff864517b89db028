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
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import __version__
from .errors import RefinetError

app = typer.Typer(
    name="refinet-edge",
    help="RefiNet 3D human-pose refinement from RGB-D: data, training, export, edge deployment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

View = Annotated[str, typer.Option(help="Camera placement: side or top (as ITOP's two views).")]


def _progress(description: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=False, disable=not console.is_terminal,
    )


@app.command()
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the set into (created).")],
    split: Annotated[str, typer.Option(help="File split to write: train or test.")] = "train",
    frames: Annotated[int, typer.Option(help="Number of frames.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same frames.")] = 0,
    camera: Annotated[str, typer.Option(help="Camera preset (see `refinet-edge info`).")] = "itop_side",
    view: View = "side",
    workers: Annotated[int, typer.Option(help="Worker processes for rendering.")] = 2,
    point_cloud: Annotated[bool, typer.Option(help="Also write ITOP_*_point_cloud.h5 (large).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace this view and split's files if they exist.")] = False,
) -> None:
    """Generate synthetic RGB-D humans in the ITOP file layout.

    Writes ITOP_{view}_{split}_depth_map.h5 and _labels.h5 (and _point_cloud.h5
    with --point-cloud) plus camera.json into --out: 3D joints, 2D joints and
    per-joint visibility for each rendered depth frame. Files appear only when
    complete. The ITOP reader (`evaluate --data`) reads them like real ITOP.
    """
    from .camera import camera_preset
    from .synth.write import write_synthetic_split

    cam = camera_preset(camera)
    _check_view(view)
    with _progress(f"synth {split}") as bar:
        task = bar.add_task("synth", total=frames)
        summary = write_synthetic_split(
            out_dir, split=split, frames=frames, seed=seed, camera=cam, view=view,
            workers=workers, with_point_cloud=point_cloud, overwrite=overwrite,
            on_progress=lambda done, total: bar.update(task, completed=done),
        )
    size_mb = sum(p.stat().st_size for p in summary.files) / 1e6
    out.print(
        f"synth: wrote {summary.frames} frames ({cam.name}, {view} view, seed {seed}) to {summary.out_dir} "
        f"- {size_mb:.1f} MB in {summary.seconds:.1f} s ({summary.frames_per_second:.0f} frames/s, "
        f"{workers} workers)"
    )


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="Directory in the ITOP layout (real ITOP or `synth` output).")],
    split: Annotated[str, typer.Option(help="train, val (subjects 04 and 05 of train) or test.")] = "test",
    view: View = "side",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
    noise_sigma: Annotated[float, typer.Option(help="2D detector noise: Gaussian sigma in px.")] = 5.0,
    noise_mu: Annotated[float, typer.Option(help="2D detector noise: Gaussian mean in px.")] = 0.0,
    swap_prob: Annotated[float, typer.Option(help="Probability of a left/right swap per joint pair.")] = 0.0,
    outlier_prob: Annotated[float, typer.Option(
        help="Probability per joint of a gross error (snap to a neighbour or to background).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated detector noise.")] = 0,
    window: Annotated[int, typer.Option(help="Lifting window side in px (median of valid depth).")] = 9,
) -> None:
    """Score the pipeline's steps on a labelled split and print a table.

    The input 2D pose is the ground truth plus simulated detector noise; step
    `input` lifts it to 3D with the depth map (the baseline). Reports accuracy
    at 10 cm and 5 cm (percent of joints), upper/lower body, per joint, and
    MPJPE (mm). With --json, also writes the report (one entry per step).
    """
    from .atomic import write_json
    from .data.itop import open_split
    from .evaluate import EvalSettings, evaluate_lifted
    from .noise import DetectorNoise

    noise = DetectorNoise(sigma_px=noise_sigma, mu_px=noise_mu, swap_prob=swap_prob, outlier_prob=outlier_prob)
    settings = EvalSettings(noise=noise, seed=seed, window=window)
    with open_split(data, view=view, split=split) as ds, _progress(f"evaluate {split}") as bar:
        task = bar.add_task("evaluate", total=len(ds))
        report = evaluate_lifted(ds, settings, on_progress=lambda d, t: bar.update(task, completed=d))
    _print_report(report)
    if json_path is not None:
        write_json(json_path, report)
        out.print(f"evaluate: wrote {json_path}")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to keep the demo set.")] = Path("runs/demo"),
    frames: Annotated[int, typer.Option(help="Frames in the synthetic test split.")] = 300,
) -> None:
    """Run the main job on an embedded default: no camera, GPU or download needed.

    Generates a small synthetic test split (reused if already there) and
    evaluates every pipeline step available on it, writing report.json.
    """
    from .data.itop import itop_path

    if not itop_path(out_dir, "side", "test", "labels").exists():
        synth(out_dir=out_dir, split="test", frames=frames, seed=1, camera="itop_side", view="side",
              workers=2, point_cloud=False, overwrite=False)
    evaluate(data=out_dir, split="test", view="side", json_path=out_dir / "report.json", noise_sigma=5.0,
             noise_mu=0.0, swap_prob=0.0, outlier_prob=0.0, seed=0, window=9)


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
                          ("cuda", "[tensorrt]"), ("pycuda", "[pycuda]"), ("pyrealsense2", "[camera]"),
                          ("mediapipe", "[mediapipe]")]:
        found = importlib.util.find_spec(module) is not None
        out.print(f"  {module:13s} {'installed' if found else 'not installed':14s} {extra}")


def _check_view(view: str) -> None:
    if view not in ("side", "top"):
        raise RefinetError(f"--view must be 'side' or 'top', got {view!r}")


def _print_report(report: dict) -> None:
    from rich.table import Table

    from .skeleton import JOINT_NAMES

    noise = report["noise"]
    title = (f"{report['data']} · {report['view']} {report['split']} · {report['frames']} frames · "
             f"noise sigma {noise['sigma_px']} px mu {noise['mu_px']} swap {noise['swap_prob']} "
             f"outlier {noise['outlier_prob']}")
    table = Table(title=title)
    for col in ("step", "acc@10cm %", "acc@5cm %", "upper %", "lower %", "MPJPE mm"):
        table.add_column(col, justify="right")
    for step, m in report["steps"].items():
        table.add_row(step, f"{m['acc_10cm']:.2f}", f"{m['acc_5cm']:.2f}", f"{m['acc_10cm_upper']:.2f}",
                      f"{m['acc_10cm_lower']:.2f}", f"{m['mpjpe_mm']:.1f}")
    out.print(table)
    joints = Table(title="per-joint accuracy at 10 cm (%)")
    joints.add_column("joint")
    steps = list(report["steps"])
    for step in steps:
        joints.add_column(step, justify="right")
    for j, name in enumerate(JOINT_NAMES):
        joints.add_row(name, *(f"{report['steps'][s]['per_joint_acc_10cm'][j]:.1f}" for s in steps))
    out.print(joints)


def main() -> None:
    """Console entry point: usage errors exit 2 (click), user errors print one line and exit 1."""
    try:
        app()
    except RefinetError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except OSError as exc:
        if exc.filename is None:
            raise
        console.print(f"[red]error:[/red] {exc.filename}: {exc.strerror}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
