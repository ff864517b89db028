"""``refinet-edge live`` and ``refinet-edge record``: options onto :mod:`refinet_edge.live` calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..console import console, out  # the CLI's stderr and stdout consoles (lines not cut at 80 columns)
from ..errors import RefinetError

CameraOpt = Annotated[str, typer.Option(help="realsense, synthetic, or a recording PATH.db3 / PATH.bag.")]
Preset = Annotated[str, typer.Option(help="Synthetic source: camera preset (see `refinet-edge info`).")]
View = Annotated[str, typer.Option(help="Synthetic source: side or top.")]
LiveView = Annotated[str, typer.Option(
    "--view", help="Camera placement, side or top: picks the shipped weight set (weights/ or weights/top/; "
                   "--checkpoints and --onnx-dir replace it) and places the synthetic source's camera.")]
Seed = Annotated[int, typer.Option(help="Synthetic source: scene seed (room, camera, walker).")]
Sensor = Annotated[str, typer.Option(help="Synthetic source: depth-sensor model (default, ideal, d435, d415, d455, "
                                          "tof, random).")]
Width = Annotated[int, typer.Option(help="RealSense: stream width in px.")]
Height = Annotated[int, typer.Option(help="RealSense: stream height in px.")]
Fps = Annotated[int, typer.Option(help="RealSense / synthetic: frames per second.")]
Serial = Annotated[str | None, typer.Option(help="RealSense: serial number of the camera to use.")]
Image = Annotated[str, typer.Option(help="RealSense / recording: image stream, color, infrared or auto.")]


def live(
    camera: CameraOpt = "realsense",
    backend: Annotated[str | None, typer.Option(help="torch, onnxruntime or tensorrt (default: fastest available).")]
    = None,
    precision: Annotated[str, typer.Option(help="fp32, fp16 or int8.")] = "fp32",
    detector: Annotated[str | None, typer.Option(
        help="2D front end: gt[:sigma=5,...], keypoints:FILE.jsonl, onnx:MODEL.onnx, mediapipe[:MODEL.task].")]
    = None,
    headless: Annotated[bool, typer.Option(help="Never open a window; print a status line.")] = False,
    smooth: Annotated[bool, typer.Option(help="One Euro filter on the 3D joints over time (one person; live use, "
                                               "not evaluation).")] = False,
    frames: Annotated[int | None, typer.Option(help="Stop after this many processed frames.")] = None,
    output: Annotated[Path | None, typer.Option(help="Write one JSON line per frame here.")] = None,
    video: Annotated[Path | None, typer.Option(help="Write the annotated frames here (.mp4).")] = None,
    summary_json: Annotated[Path | None, typer.Option("--summary", help="Write the closing summary as JSON.")]
    = None,
    checkpoints: Annotated[Path | None, typer.Option(help="Stage checkpoints (default: the shipped weights).")]
    = None,
    threads: Annotated[int | None, typer.Option(
        help="CPU threads for the stages (default: all cores but two, at least 1).")] = None,
    onnx_dir: Annotated[Path | None, typer.Option(help="Exported stages (`refinet-edge export` / `build` output) "
                                                       "for --backend onnxruntime or tensorrt.")] = None,
    realtime: Annotated[bool | None, typer.Option(
        help="Drop frames the pipeline cannot keep up with (camera: always; recordings, synthetic: off).")] = None,
    preset: Preset = "itop_side", view: LiveView = "side", seed: Seed = 0,
    width: Width = 640, height: Height = 480, fps: Fps = 30, serial: Serial = None, image: Image = "auto",
    align: Annotated[str, typer.Option(help="RealSense: align depth to color, or color to depth.")] = "color",
    filters: Annotated[bool, typer.Option(help="RealSense, synthetic: spatial, temporal and hole-filling depth "
                                               "filters.")]
    = False,
    sensor: Sensor = "default",
    server: Annotated[str | None, typer.Option(
        help="Refine on a Triton server (`refinet-edge serve`): HOST:PORT or http://HOST:PORT (HTTP), "
             "grpc://HOST:PORT (gRPC). Capture and 2D detection stay here.")] = None,
    second_pass: Annotated[float | None, typer.Option(
        help="Run the stages again for a person with a joint whose answer is more than this many metres from its "
             "2D detection, from the answer (0: one pass, faster; default: the skeleton checkpoint's).")] = None,
) -> None:
    """Refine 3D poses live from a RealSense camera, a recording or a synthetic scene.

    Each frame: 2D joints from --detector, then the refinement stages, giving 3D
    joints (metres, camera frame, ITOP order) with per-joint validity and a hidden
    flag (placed behind the surface the camera saw: guessed, less often right). Prints a
    status line (or shows a window), and a summary at the end or on Ctrl-C.
    """
    from ..pipeline import weights_dir
    from .backends import choose_backend, cpu_threads
    from .detectors import make_detector
    from .draw import can_show_window
    from .refiner import Refiner
    from .session import LiveOptions, run_live
    from .sources import CameraSettings, open_source
    from .synthetic import SyntheticSettings

    if frames is not None and frames < 1:
        raise RefinetError(f"--frames must be >= 1, got {frames}")
    if second_pass is not None:
        from ..stage_io import check_second_pass

        check_second_pass(second_pass, "--second-pass")  # before the camera opens
    shipped = weights_dir(view)  # before the camera opens: an unknown view is a one-line error
    if server is not None:
        local = [o for o, v in (("--backend", backend), ("--onnx-dir", onnx_dir), ("--checkpoints", checkpoints),
                                ("--threads", threads), ("--precision", None if precision == "fp32" else precision),
                                ("--second-pass", second_pass))
                 if v is not None]
        if local:
            raise RefinetError(f"--server refines on the server, which chose its stages; drop {', '.join(local)} "
                               f"(they are `refinet-edge serve` options there)")
    from ..atomic import check_output_file

    for option, path in (("--output", output), ("--video", video), ("--summary", summary_json)):
        if path is not None:
            check_output_file(path, option)  # before the camera opens, not after the run
    settings = CameraSettings(width, height, fps, serial, image, align, filters)
    source = open_source(camera, realtime=realtime, settings=settings,
                         synthetic=SyntheticSettings(camera=preset, view=view, fps=fps, seed=seed, sensor=sensor))
    with source:
        spec = detector or _default_detector(camera, source)
        det = make_detector(spec)
        if server is not None:
            summary = _live_remote(server, source, det, LiveOptions(frames, output, video, not headless and
                                                                    can_show_window()[0], smooth=smooth))
            _finish(summary, output, summary_json)
            return
        chosen = choose_backend(backend, precision, onnx_dir)
        directory = (onnx_dir if chosen.exported else checkpoints) or shipped
        pipeline, notes = chosen.load(directory, precision, cpu_threads(threads))
        if not pipeline.runners:
            raise RefinetError(f"{directory}: no stage checkpoints ({{patch,skeleton,pointcloud}}.safetensors)")
        for note in notes:
            console.print(f"note: {note}", highlight=False)
        if second_pass is not None:
            pipeline.set_second_pass(second_pass, "--second-pass")
        window, why = (False, "--headless") if headless else can_show_window()
        n = cpu_threads(threads)
        cpu_note = f" ({n} thread{'s' if n > 1 else ''})" if chosen.device() == "cpu" else ""
        gate = pipeline.config.skeleton.second_pass_m if "skeleton" in pipeline.runners else 0.0
        console.print(f"live: backend {chosen.name} {precision} on {chosen.device()}{cpu_note}, stages "
                      f"{'+'.join(pipeline.runners)} from {directory}"
                      f"{f', second pass at {gate:g} m' if gate else ''}", highlight=False)
        console.print(f"live: source {source.description}; detector {det.name}; "
                      f"{'window' if window else 'headless (' + why + ')'}", highlight=False)
        summary = run_live(source, det, Refiner(pipeline), LiveOptions(frames, output, video, window, smooth=smooth),
                           status=lambda line: console.print(line, highlight=False))
    summary.update(backend=chosen.name, precision=precision, device=chosen.device(), source=source.description,
                   detector=det.name)
    _finish(summary, output, summary_json)


def _live_remote(server: str, source, det, options) -> dict:
    """``live --server``: the refinement runs on a Triton server; the rest as without it."""
    from ..serve.client import RemoteRefiner, parse_server
    from .session import run_live

    def status(line: str) -> None:
        console.print(line, highlight=False)

    refiner = RemoteRefiner(parse_server(server), status=status)
    console.print(f"live: refinement on Triton server {refiner.address} (model refinet)", highlight=False)
    console.print(f"live: source {source.description}; detector {det.name}", highlight=False)
    summary = run_live(source, det, refiner, options, status=status)
    summary.update(backend=f"triton {refiner.address}", source=source.description, detector=det.name,
                   server_lost_frames=refiner.dropped, server_reconnects=refiner.reconnects)
    return summary


def _finish(summary: dict, output: Path | None, summary_json: Path | None) -> None:
    _print_summary(summary)
    if output:
        out.print(f"live: wrote {summary['frames']} lines to {output}")
    if summary_json:
        from ..atomic import write_json

        write_json(summary_json, summary)


def _default_detector(camera: str, source) -> str:
    """Ground truth where the source has it, else MediaPipe when installed; otherwise the user must choose."""
    import importlib.util

    if camera == "synthetic" or getattr(source, "has_truth", False):
        return "gt"
    if importlib.util.find_spec("mediapipe") is not None:
        return "mediapipe"
    raise RefinetError("choose a 2D detector for this source: --detector onnx:MODEL.onnx (YOLO pose), "
                       "--detector keypoints:FILE.jsonl, or install the mediapipe extra for --detector mediapipe")


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    out.print(f"live: {summary['frames']} frames in {summary['seconds']:.1f} s ({summary['fps']:.2f} fps), "
              f"{summary['dropped']} dropped{', stopped by Ctrl-C' if summary['interrupted'] else ''}")
    if summary.get("second_pass_people") is not None and summary.get("people"):
        share = summary["second_pass_people"] / summary["people"]
        out.print(f"live: the second pass ran again for {summary['second_pass_people']} of {summary['people']} "
                  f"people ({100 * share:.0f} %)")
    if summary.get("hidden_joints") is not None and summary.get("people"):
        from ..skeleton import NUM_JOINTS

        joints = NUM_JOINTS * summary["people"]
        hidden = summary["hidden_joints"]
        out.print(f"live: {hidden} of {joints} joints ({100 * hidden / joints:.0f} %) "
                  f"were placed behind the surface the camera saw (hidden: guessed from the body, right less often)")
    table = Table(title="latency per frame (ms)")
    for col in ("step", "p50", "p90", "p99"):
        table.add_column(col, justify="right")
    for key, p in summary["latency_ms"].items():
        table.add_row(key, f"{p['p50']:.1f}", f"{p['p90']:.1f}", f"{p['p99']:.1f}")
    out.print(table)
    if summary["accuracy"]:
        acc = Table(title="accuracy against the synthetic ground truth")
        for col in ("step", "acc@10cm %", "acc@5cm %", "MPJPE mm", "missing"):
            acc.add_column(col, justify="right")
        for step, m in summary["accuracy"].items():
            acc.add_row(step, f"{m['acc_10cm']:.2f}", f"{m['acc_5cm']:.2f}", f"{m['mpjpe_mm']:.1f}",
                        str(m["missing_joints"]))
        out.print(acc)


def register(app: typer.Typer) -> None:
    """Add ``live`` and ``record`` to the main command line."""
    app.command()(live)
    app.command()(record)


def record(
    out_path: Annotated[Path, typer.Option("--out", help="Recording to write (.db3, RealSense ROS2 format).")],
    camera: Annotated[str, typer.Option(help="realsense or synthetic.")] = "synthetic",
    frames: Annotated[int, typer.Option(help="Number of frames to record.")] = 300,
    preset: Preset = "itop_side", view: View = "side", seed: Seed = 0,
    width: Width = 640, height: Height = 480, fps: Fps = 30, serial: Serial = None, image: Image = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing recording.")] = False,
    sensor: Sensor = "default",
) -> None:
    """Record a RealSense camera or a synthetic scene to a RealSense recording (.db3).

    Synthetic scenes go through librealsense's software device and recorder, so
    the file plays back in realsense-viewer and through `live --camera FILE.db3`;
    their ground truth goes beside it as FILE.truth.jsonl (keypoints format plus
    3D joints).
    """
    from .record import record_realsense, record_synthetic
    from .sources import CameraSettings
    from .synthetic import SyntheticSettings

    if frames < 1:
        raise RefinetError(f"--frames must be >= 1, got {frames}")
    if camera == "synthetic":
        result = record_synthetic(out_path, SyntheticSettings(camera=preset, view=view, fps=fps, seed=seed,
                                                              sensor=sensor), frames, overwrite=overwrite)
    elif camera == "realsense":
        result = record_realsense(out_path, CameraSettings(width, height, fps, serial, image), frames,
                                  overwrite=overwrite)
    else:
        raise RefinetError(f"--camera {camera!r}: record takes realsense or synthetic")
    out.print(f"record: {json.dumps(result)}")
