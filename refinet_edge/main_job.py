"""``synth``, ``evaluate`` and ``demo``: the main job on the command line (make a labelled set, score every
pipeline step on it, or both on an embedded default). Registered by :mod:`refinet_edge.cli`; the work happens in
:mod:`refinet_edge.synth.write`, :mod:`refinet_edge.evaluate` and :mod:`refinet_edge.ood_suite`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import View, check_view, console, out, progress
from .errors import RefinetError


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
    sensor: Annotated[str, typer.Option(help="Depth-sensor model: default, ideal, d435, d415, d455, tof or random "
                                             "(README: Depth-sensor presets).")] = "default",
    filters: Annotated[bool, typer.Option(help="Run the depth through librealsense's filters as `live --filters` "
                                               "does (needs the camera extra).")] = False,
    poses: Annotated[str, typer.Option(
        help="Pose source: families (today's five), uniform (within joint limits) or mixed.")] = "families",
    scene: Annotated[str, typer.Option(
        help="default, or wide (side view: camera 0.5-2.5 m high, pitch +-30 deg, occluders, a bystander).")]
    = "default",
    body: Annotated[str, typer.Option(
        help="Body model: own (capsule bodies), anny (Anny meshes, needs the synth extra) or mixed.")] = "own",
) -> None:
    """Generate synthetic RGB-D humans in the ITOP file layout.

    Writes ITOP_{view}_{split}_depth_map.h5 and _labels.h5 (and _point_cloud.h5
    with --point-cloud) plus camera.json into --out: 3D joints, 2D joints and
    per-joint visibility for each rendered depth frame. Files appear only when
    complete. The ITOP reader (`evaluate --data`) reads them like real ITOP.
    """
    from .camera import camera_preset
    from .synth.generator import SynthConfig
    from .synth.generator import check_view as check_scene_view
    from .synth.write import write_synthetic_split

    cam = camera_preset(camera)
    check_view(view)
    config = SynthConfig(sensor_preset=sensor, poses=poses, scene=scene, body=body)
    check_scene_view(view, config)
    with progress(f"synth {split}") as bar:
        task = bar.add_task("synth", total=frames)
        summary = write_synthetic_split(
            out_dir, split=split, frames=frames, seed=seed, camera=cam, view=view,
            workers=workers, with_point_cloud=point_cloud, overwrite=overwrite,
            on_progress=lambda done, total: bar.update(task, completed=done),
            config=config, filters=filters,
        )
    size_mb = sum(p.stat().st_size for p in summary.files) / 1e6
    out.print(
        f"synth: wrote {summary.frames} frames ({cam.name}, {view} view, seed {seed}) to {summary.out_dir} "
        f"- {size_mb:.1f} MB in {summary.seconds:.1f} s ({summary.frames_per_second:.0f} frames/s, "
        f"{workers} workers)"
    )


def evaluate(
    data: Annotated[Path | None, typer.Option(
        help="Directory in the ITOP layout (real ITOP or `synth` output); not needed with --suite.")] = None,
    split: Annotated[str, typer.Option(help="train, val (subjects 04 and 05 of train) or test.")] = "test",
    view: View = "side",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
    noise_sigma: Annotated[float, typer.Option(help="2D detector noise: Gaussian sigma in px.")] = 5.0,
    noise_mu: Annotated[float, typer.Option(help="2D detector noise: Gaussian mean in px.")] = 0.0,
    swap_prob: Annotated[float, typer.Option(help="Probability of a left/right swap per joint pair.")] = 0.05,
    outlier_prob: Annotated[float, typer.Option(
        help="Probability per joint of a gross error (snap to a neighbour or to background).")] = 0.05,
    missing_prob: Annotated[float, typer.Option(
        help="Probability per joint that the detector leaves it out (as real ones drop low-confidence keypoints); "
             "it is still scored.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated detector noise.")] = 0,
    window: Annotated[int, typer.Option(help="Lifting window side in px (median of valid depth).")] = 9,
    checkpoints: Annotated[Path | None, typer.Option(
        help="Directory with {patch,skeleton,pointcloud}.safetensors (default: the shipped weights).")] = None,
    stages: Annotated[str, typer.Option(
        help="Stages to run: 'all' (those found), 'none' (lifted input only) or a list like patch,skeleton.")] = "all",
    backend: Annotated[str, typer.Option(help="Where the stages run: torch, onnxruntime or tensorrt.")] = "torch",
    onnx_dir: Annotated[Path | None, typer.Option(help="`refinet-edge export` output (onnxruntime, tensorrt).")]
    = None,
    precision: Annotated[str, typer.Option(help="fp32, fp16 or int8 (onnxruntime, tensorrt).")] = "fp32",
    passes: Annotated[int | None, typer.Option(
        help="Stage C passes, each on the previous pass's joints (default: the pointcloud checkpoint's).")] = None,
    second_pass: Annotated[float | None, typer.Option(
        help="Run the chain again for people with a joint whose answer is more than this many metres from its "
             "2D detection, from the answer (0: one pass; default: the skeleton checkpoint's).")] = None,
    suite: Annotated[str | None, typer.Option(
        help="Score a fixed set of synthetic test splits instead of --data: ood (see README).")] = None,
    suite_frames: Annotated[int, typer.Option(help="Frames per split of --suite.")] = 150,
    cache: Annotated[Path, typer.Option(help="Where --suite keeps the splits it builds.")] = Path("runs/ood"),
) -> None:
    """Score every step of the refinement pipeline on a labelled split and print a table.

    The input 2D pose is the ground truth plus simulated detector noise; step
    `input` lifts it to 3D with the depth map (the baseline), then each stage
    (patch, skeleton, pointcloud) refines it. Reports accuracy at 10 cm and
    5 cm (percent of joints), upper/lower body, per joint, and MPJPE (mm).
    With --json, also writes the report (one entry per step). With --suite ood,
    scores a fixed set of out-of-distribution synthetic splits instead (README).
    """

    from .atomic import check_output_file, write_json
    from .data.itop import open_split
    from .evaluate import EvalSettings, evaluate_split
    from .export.precision import Precision
    from .noise import DetectorNoise

    if data is None and suite is None:  # a usage error (exit 2), as when --data was required
        raise typer.BadParameter("missing: give --data DIR (an ITOP-layout directory) or --suite ood",
                                 param_hint="'--data'")
    Precision.parse(precision)  # a bad value is named before any other hint
    if json_path is not None:
        check_output_file(json_path, "--json")  # before the work, not after it
    noise = DetectorNoise(sigma_px=noise_sigma, mu_px=noise_mu, swap_prob=swap_prob, outlier_prob=outlier_prob,
                          missing_prob=missing_prob)
    settings = EvalSettings(noise=noise, seed=seed, window=window)
    torch_fp32 = backend == "torch" and onnx_dir is None and precision == "fp32"
    if torch_fp32:
        pipeline, info = _load_pipeline(checkpoints, stages, view if suite is None else "side")  # suite: shipped set
    else:
        from .export.backends import evaluate_pipeline

        pipeline, info, notes = evaluate_pipeline(backend, onnx_dir, precision, stages, checkpoints)
        for note in notes:
            console.print(f"note: {note}")
    if passes is not None and passes < 1:
        raise RefinetError(f"--passes must be >= 1, got {passes}")
    _apply_options(pipeline, window, passes, second_pass)
    if suite is not None:
        views = _suite_view_pipelines(checkpoints, stages, window, passes, second_pass) \
            if checkpoints is None and torch_fp32 else {}
        _evaluate_suite(suite, pipeline, suite_frames, cache, info, json_path, views)
        return
    assert data is not None  # checked above
    other = sorted(s for s, v in pipeline.trained_views().items() if v != view)
    if other:
        console.print(f"note: stage(s) {', '.join(other)} were trained on another view than --view {view}; "
                      f"expect poor accuracy (train weights for this view)")
    with open_split(data, view=view, split=split) as ds, progress(f"evaluate {split}") as bar:
        task = bar.add_task("evaluate", total=len(ds))
        report = evaluate_split(ds, pipeline, settings, on_progress=lambda d, t: bar.update(task, completed=d),
                                stages_info=info)
    print_report(report)
    if json_path is not None:
        write_json(json_path, report)
        out.print(f"evaluate: wrote {json_path}")


def _apply_options(pipeline, window: int, passes: int | None, second_pass: float | None = None) -> None:
    """``--window``, ``--passes`` and ``--second-pass`` on a loaded pipeline's configuration."""
    from dataclasses import replace

    pipeline.config = replace(pipeline.config, lift_window=window)
    if passes is not None:
        pipeline.config = replace(pipeline.config, points=replace(pipeline.config.points, passes=passes))
    if second_pass is not None:
        pipeline.set_second_pass(second_pass, "--second-pass")


def _suite_view_pipelines(checkpoints: Path | None, stages: str, window: int, passes: int | None,
                          second_pass: float | None = None) -> dict:
    """The shipped weight sets of the other views (top), each scoring its view's splits of the suite."""
    from .pipeline import VIEWS, weights_dir

    views = {}
    for view in VIEWS[1:]:
        try:
            weights_dir(view)
        except RefinetError:  # not shipped: the side-view weights score that view, as the report says
            continue
        chain, info = _load_pipeline(checkpoints, stages, view)
        _apply_options(chain, window, passes, second_pass)
        views[view] = (chain, info)
    return views


def _evaluate_suite(suite: str, pipeline, frames: int, cache: Path, info: dict, json_path: Path | None,
                    views: dict | None = None) -> None:
    from .atomic import write_json
    from .ood_suite import format_suite, run_suite

    report = run_suite(suite, pipeline, frames=frames, cache_dir=cache, stages_info=info,
                       on_progress=lambda name: console.print(f"suite {suite}: {name}"), view_pipelines=views)
    out.print(format_suite(report), markup=False, highlight=False, soft_wrap=True)
    if json_path is not None:
        write_json(json_path, report)
        out.print(f"evaluate: wrote {json_path}")


def _load_pipeline(checkpoints: Path | None, stages: str, view: str = "side"):
    """The pipeline to evaluate and a description of its checkpoints for the report (default: the shipped weight
    set of ``view``)."""
    from .pipeline import STAGES, WEIGHTS_DIR, RefinementPipeline, weights_dir

    if stages == "none":
        return RefinementPipeline({}), {}
    wanted = STAGES if stages == "all" else tuple(s.strip() for s in stages.split(","))
    for stage in wanted:
        if stage not in STAGES:
            raise RefinetError(f"--stages: unknown stage {stage!r}; valid: all, none, or some of {', '.join(STAGES)}")
    if checkpoints is None and view != "side":
        checkpoints = weights_dir(view)  # that view's shipped set; a one-line error while none is shipped
    directory = checkpoints or WEIGHTS_DIR
    if checkpoints is None and not any((WEIGHTS_DIR / f"{s}.safetensors").exists() for s in wanted):
        return RefinementPipeline({}), {}
    missing = [s for s in wanted if not (directory / f"{s}.safetensors").exists()]
    if stages != "all" and missing:
        raise RefinetError(f"{directory}: no {', '.join(s + '.safetensors' for s in missing)}")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise RefinetError("the stages need PyTorch: pip install torch==2.13.0 (CPU build) or your own build; "
                           "--stages none evaluates the lifted input only") from None
    if checkpoints is not None and len(missing) == len(wanted):
        names = ", ".join(s + ".safetensors" for s in wanted)
        raise RefinetError(f"--checkpoints {directory}: no stage checkpoints ({names}); give the directory `train` "
                           f"wrote, or --stages none for the lifted input only")
    pipeline = RefinementPipeline.from_dir(directory, stages=wanted)
    return pipeline, {s: stage_record(directory / f"{s}.safetensors") for s in pipeline.runners}


def stage_record(path: Path) -> dict[str, str]:
    """A report's record of one stage checkpoint: a path that means the same on another machine, and its sha256.

    Shipped weights are named from the package (``refinet_edge/weights/skeleton.safetensors``), a checkpoint under
    the working directory relative to it, anything else absolute; the hash says which weights they were either way.
    """
    from .atomic import sha256_file
    from .pipeline import WEIGHTS_DIR

    resolved = path.resolve()
    package = WEIGHTS_DIR.resolve().parent
    if resolved.is_relative_to(package):
        shown = (Path(package.name) / resolved.relative_to(package)).as_posix()
    elif resolved.is_relative_to(Path.cwd().resolve()):
        shown = resolved.relative_to(Path.cwd().resolve()).as_posix()
    else:
        shown = str(resolved)
    return {"checkpoint": shown, "sha256": sha256_file(resolved)}


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
             noise_mu=0.0, swap_prob=0.05, outlier_prob=0.05, seed=0, window=9)


def print_report(report: dict) -> None:
    from rich.table import Table

    from .skeleton import JOINT_NAMES

    noise = report["noise"]
    title = (f"{report['data']} · {report['view']} {report['split']} · {report['frames']} frames · "
             f"noise sigma {noise['sigma_px']} px mu {noise['mu_px']} swap {noise['swap_prob']} "
             f"outlier {noise['outlier_prob']}" + (f" missing {noise['missing_prob']}" if noise.get("missing_prob")
                                                   else ""))
    if report.get("second_pass_m"):
        title += f" · second pass {report['second_pass_m']:g} m"
    table = Table(title=title)
    for col in ("step", "acc@10cm %", "acc@5cm %", "upper %", "lower %", "MPJPE mm"):
        table.add_column(col, justify="right")
    passes = report.get("pointcloud_passes", 1)
    for step, m in report["steps"].items():
        label = f"{step} (x{passes})" if step == "pointcloud" and passes > 1 else step
        table.add_row(label, f"{m['acc_10cm']:.2f}", f"{m['acc_5cm']:.2f}", f"{m['acc_10cm_upper']:.2f}",
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
    by_distance = report.get("by_distance")
    if by_distance:
        out.print(distance_table(by_distance))
    by_visibility = report.get("by_visibility")
    if by_visibility:
        out.print(visibility_table(by_visibility))
    flag = report.get("by_hidden_flag")
    if flag:
        out.print(hidden_flag_line(flag))


def hidden_flag_line(flag: dict) -> str:
    """The report's ``by_hidden_flag`` in one sentence: how the answer's own ``hidden`` flag splits accuracy."""
    from .metrics import percent_cell as cell

    line = (f"answer's hidden flag ({flag['step']}): {flag['flagged_share']:.1f} % of joints placed behind the "
            f"measured surface, {cell(flag['acc_10cm_flagged'])} % of them within 10 cm, "
            f"{cell(flag['acc_10cm_unflagged'])} % of the others")
    if "labels_hidden_among_flagged" in flag:
        line += (f"; the labels call {cell(flag['labels_hidden_among_flagged'])} % of the flagged joints hidden, and "
                 f"{cell(flag['flagged_among_labels_hidden'])} % of their hidden joints are flagged")
    return line


def visibility_table(by_visibility: dict[str, dict]):
    """The report's ``by_visibility`` as a table: acc@10cm per step of the joints the sensor sees and of the hidden
    ones (all joints, hands, feet)."""
    from rich.table import Table

    from .metrics import percent_cell as cell

    steps = list(by_visibility)
    table = Table(title="accuracy at 10 cm (%) of the joints the sensor sees and of the hidden ones")
    table.add_column("joints")
    table.add_column("share %", justify="right")
    for step in steps:
        table.add_column(step, justify="right")
    first = by_visibility[steps[0]]
    rows = [("all", first, None), *((g, first["groups"][g], g) for g in first["groups"])]
    for label, head, group in rows:
        for kind, share in (("visible", head["visible_share"]), ("hidden", 100.0 - head["visible_share"])):
            values = [(by_visibility[s] if group is None else by_visibility[s]["groups"][group])[f"acc_10cm_{kind}"]
                      for s in steps]
            table.add_row(f"{label}, {kind}", f"{share:.1f}", *(cell(v) for v in values))
    return table


def distance_table(by_distance: dict[str, list[dict]]):
    """The report's ``by_distance`` as a table: one row per 1 m bin of the subject's distance, acc@10cm per step."""
    from rich.table import Table

    table = Table(title="accuracy at 10 cm (%) by subject distance (torso depth)")
    table.add_column("distance")
    table.add_column("frames", justify="right")
    steps = list(by_distance)
    for step in steps:
        table.add_column(step, justify="right")
    table.add_column(f"{steps[-1]} MPJPE mm", justify="right")
    for i, row in enumerate(by_distance[steps[0]]):
        span = f"{row['from_m']:g}-{row['to_m']:g} m" if row["to_m"] is not None else f">= {row['from_m']:g} m"
        last = by_distance[steps[-1]][i]
        mpjpe = "-" if last["mpjpe_mm"] is None else f"{last['mpjpe_mm']:.0f}"
        table.add_row(span, str(row["frames"]), *(f"{by_distance[s][i]['acc_10cm']:.1f}" for s in steps), mpjpe)
    return table
