"""Real engines from a real TensorRT: TensorRT-RTX builds every stage at every precision on a CPU-only machine.

The nine ONNX files are the session's export + calibrate output (conftest's
``calibrated_onnx_dir``); the engines are built once per session into their own
folder. What is checked is what a user would check: the parser takes every
file, fp16 networks compute in half, int8 Q/DQ layers sit where calibrate put
them, engines shrink fp32 > fp16 > int8, sidecars say what built them, and bad
input gives one ``error:`` line, exit 1 and no engine. Running an engine needs a
GPU (``gpu`` marker at the end).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

trt = pytest.importorskip("tensorrt_rtx")
onnx = pytest.importorskip("onnx")

from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.export.build import build_all  # noqa: E402
from refinet_edge.export.engine_info import BuildSettings, read_sidecar  # noqa: E402
from refinet_edge.export.manifest import read_manifest, sha256_file, stage_file, stage_specs  # noqa: E402
from refinet_edge.export.precision import Precision  # noqa: E402
from refinet_edge.export.trt_api import load, parse_targets, resolve  # noqa: E402
from refinet_edge.export.trt_build import build_engine  # noqa: E402
from refinet_edge.export.trt_inspect import inspect_onnx  # noqa: E402
from refinet_edge.export.trt_runner import check_rtx_validity  # noqa: E402

STAGES = ("patch", "skeleton", "pointcloud")
PRECISIONS = ("fp32", "fp16", "int8")
COMPUTE = ("CONVOLUTION", "MATRIX_MULTIPLY")


@pytest.fixture(scope="session")
def rtx_engines(calibrated_onnx_dir, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """All nine engines built with TensorRT-RTX (default targets, max batch 4), one per ONNX file whatever the
    gate's plan on the fixture's few frames: (onnx dir, engine dir, log)."""
    onnx_dir = calibrated_onnx_dir[0]
    out = tmp_path_factory.mktemp("rtx") / "engines"
    manifest = read_manifest(onnx_dir)
    specs = stage_specs(manifest)
    api = load("tensorrt-rtx")
    lines: list[str] = []
    for stage in STAGES:
        for precision in map(Precision.parse, PRECISIONS):
            build_engine(stage_file(onnx_dir, manifest, stage, precision), out / precision.engine_name(stage),
                         specs[stage], precision.value, BuildSettings(max_batch=4), lines.append, api)
    return onnx_dir, out, lines


def test_every_stage_builds_at_every_precision_with_a_sidecar(rtx_engines) -> None:
    onnx_dir, out, _ = rtx_engines
    for stage in STAGES:
        for precision in map(Precision.parse, PRECISIONS):
            engine = out / precision.engine_name(stage)
            assert engine.stat().st_size > 10_000, engine
            sidecar = read_sidecar(engine)
            assert sidecar["onnx"] == precision.onnx_name(stage)
            assert (sidecar["flavour"], sidecar["tensorrt"]) == ("tensorrt-rtx", trt.__version__)
            assert sidecar["targets"] == [] and sidecar["gpu"] is None  # portable build, no GPU touched
            assert sidecar["stage"] == stage and sidecar["precision"] == precision.value
            assert sidecar["onnx_sha256"] == sha256_file(onnx_dir / sidecar["onnx"])
            assert sidecar["profile"][next(iter(sidecar["profile"]))]["max"][0] == 4
    assert not (out / "timing.cache").exists()  # TensorRT-RTX has no timing cache


def test_build_follows_the_gate_plan(calibrated_onnx_dir, tmp_path: Path) -> None:
    onnx_dir = calibrated_onnx_dir[0]
    lines: list[str] = []
    sidecars = build_all(onnx_dir, "int8", BuildSettings(max_batch=2), tmp_path, log=lines.append,
                         runtime="tensorrt-rtx")
    plan = read_manifest(onnx_dir)["precision_plan"]["int8"]
    assert {s["stage"]: s["precision"] for s in sidecars} == plan
    assert lines[sum(p != "int8" for p in plan.values())].startswith("TensorRT-RTX 1.")  # after the gate notes


def test_skeleton_engine_shrinks_fp32_fp16_int8(rtx_engines) -> None:
    _, out, _ = rtx_engines
    sizes = [(out / f"skeleton.{p}.engine").stat().st_size for p in PRECISIONS]
    assert sizes[0] > sizes[1] > sizes[2], sizes
    # half the weights, then int8 weights for the Gemms and MatMuls. Since v18 the skeleton is an ensemble whose
    # transformer half keeps many small float layers (LayerNorm, Softmax, Erf, attention MatMuls on activations); the
    # int8 plan, strongly typed from the fp32 graph, runs them in fp32, so the int8 engine holds fp32 kernels the fp16
    # one does not (v18's shipped skeleton: 24.6, 13.7, 11.5 MB; v20's, with 6 transformer layers instead of 4: 26.9,
    # 14.8, 13.7 MB; the MLP alone, v17: int8 under 0.7 x fp16)
    assert sizes[1] < 0.6 * sizes[0] and sizes[2] < 0.95 * sizes[1], sizes


@pytest.mark.parametrize("stage", STAGES)
def test_fp16_networks_compute_in_half_and_fp32_in_float(calibrated_onnx_dir, stage: str) -> None:
    onnx_dir = calibrated_onnx_dir[0]
    for precision, dtype in (("fp16", "HALF"), ("fp32", "FLOAT")):
        result = inspect_onnx(onnx_dir / Precision.parse(precision).onnx_name(stage), "tensorrt-rtx")
        assert not result.errors and not result.unsupported
        compute = [row for row in result.layers if row.type in COMPUTE]
        assert compute, f"no convolution or matrix multiply in {stage} {precision}"
        assert {row.output_types[0] for row in compute} == {dtype}, [(r.name, r.output_types) for r in compute]


def _tensor_name(described: str) -> str:
    return described.rsplit(":", 1)[0]  # "name:TYPE[shape]"; names may hold "::"


@pytest.mark.parametrize("stage", STAGES)
def test_int8_qdq_layers_sit_where_calibrate_put_them(calibrated_onnx_dir, stage: str) -> None:
    path = calibrated_onnx_dir[0] / f"{stage}.int8.onnx"
    graph = onnx.load(str(path)).graph
    quantize = {(n.name, n.input[0]) for n in graph.node if n.op_type == "QuantizeLinear"}
    dequantize = {n.name for n in graph.node if n.op_type == "DequantizeLinear"}
    assert quantize and dequantize
    layers = inspect_onnx(path, "tensorrt-rtx").layers
    q_layers = [row for row in layers if row.type == "QUANTIZE"]
    assert {(row.name, _tensor_name(row.inputs[0])) for row in q_layers} == quantize  # same tensors quantised
    assert all(row.output_types == ("INT8",) for row in q_layers)
    assert {row.name for row in layers if row.type == "DEQUANTIZE"} == dequantize


def test_build_targets_are_recorded_and_checked(calibrated_onnx_dir, tmp_path: Path) -> None:
    sidecars = build_all(calibrated_onnx_dir[0], "fp16", BuildSettings(max_batch=2, targets=("8.9",)), tmp_path,
                         log=lambda line: None, runtime="tensorrt-rtx")
    assert [s["targets"] for s in sidecars] == [["8.9"]] * 3
    assert parse_targets("sm_86,12.0", "tensorrt-rtx") == ("8.6", "12.0")
    with pytest.raises(RefinetError, match="Hopper 9.0 need TensorRT"):
        parse_targets("9.0", "tensorrt-rtx")
    with pytest.raises(RefinetError, match="did you mean --runtime tensorrt-rtx"):
        parse_targets("8.9", "tensorrt")


def test_runtime_choice() -> None:
    assert load("tensorrt-rtx").rtx and load("rtx").version == trt.__version__
    with pytest.raises(RefinetError, match="expected one of auto, tensorrt, tensorrt-rtx"):
        resolve("tensorrtx")
    assert resolve("auto") in ("tensorrt", "tensorrt-rtx")


def test_engine_validity_without_a_gpu_is_a_clear_error(rtx_engines) -> None:
    from refinet_edge.kernels.layer import is_available as gpu_available

    if gpu_available():
        pytest.skip("a GPU is here: the engine is valid")
    _, out, _ = rtx_engines
    api = load("tensorrt-rtx")
    runtime = trt.Runtime(trt.Logger(trt.Logger.INTERNAL_ERROR))
    with pytest.raises(RefinetError, match="cannot run here.*no usable GPU"):
        check_rtx_validity(api, runtime, (out / "patch.fp32.engine").read_bytes(), out / "patch.fp32.engine")


# --- bad input: one error line, exit 1, no engine ---------------------------------------------------------------

def run_build(onnx_dir: Path, out: Path, precision: str = "fp32") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refinet_edge.cli", "build", "--runtime", "tensorrt-rtx",
                           "--onnx-dir", str(onnx_dir), "--out", str(out), "--precision", precision],
                          capture_output=True, text=True, timeout=300)


def assert_failed_cleanly(result: subprocess.CompletedProcess, out: Path, *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not list(out.glob("*.engine*")), sorted(p.name for p in out.iterdir())


def _broken_copy(src: Path, dest: Path, stage: str, write, rehash: bool = True) -> Path:
    """A copy of the export with ``stage``'s fp32 ONNX rewritten by ``write``; with ``rehash`` the manifest records
    the new file's sha256 (so the file reaches the parser/builder instead of failing the manifest's hash check)."""
    shutil.copytree(src, dest)
    write(dest / f"{stage}.onnx")
    if rehash:
        from refinet_edge.export.manifest import read_manifest, record_file, write_manifest
        from refinet_edge.export.precision import Precision

        manifest = read_manifest(dest)
        record_file(manifest, stage, Precision.FP32, dest / f"{stage}.onnx")
        write_manifest(dest, manifest)
    return dest


def test_truncated_and_corrupt_onnx_fail_cleanly(onnx_dir: Path, tmp_path: Path) -> None:
    data = (onnx_dir / "skeleton.onnx").read_bytes()
    work = _broken_copy(onnx_dir, tmp_path / "cut", "skeleton", lambda p: p.write_bytes(data[: len(data) // 3]))
    assert_failed_cleanly(run_build(work, tmp_path / "out1"), tmp_path / "out1", "skeleton.onnx",
                          "ONNX parser failed")
    work = _broken_copy(onnx_dir, tmp_path / "junk", "pointcloud", lambda p: p.write_bytes(b"not an onnx file"))
    assert_failed_cleanly(run_build(work, tmp_path / "out2"), tmp_path / "out2", "pointcloud.onnx",
                          "ONNX parser failed")
    work = _broken_copy(onnx_dir, tmp_path / "stale", "skeleton", lambda p: p.write_bytes(data[: len(data) // 3]),
                        rehash=False)  # the manifest still lists the original: its hash check names the file
    assert_failed_cleanly(run_build(work, tmp_path / "out3"), tmp_path / "out3", "skeleton.onnx", "sha256 differs")


def test_an_operator_tensorrt_lacks_fails_naming_the_node(onnx_dir: Path, tmp_path: Path) -> None:
    def swap_first_relu(path: Path) -> None:
        model = onnx.load(str(path))
        node = next(n for n in model.graph.node if n.op_type == "Relu")
        node.op_type = "DeformConv"
        onnx.save(model, str(path))

    work = _broken_copy(onnx_dir, tmp_path / "op", "pointcloud", swap_first_relu)
    assert_failed_cleanly(run_build(work, tmp_path / "out"), tmp_path / "out", "pointcloud.onnx", "node /Relu",
                          "operator DeformConv is not supported")
    result = subprocess.run([sys.executable, "-m", "refinet_edge.cli", "inspect", str(work / "pointcloud.onnx")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "unsupported nodes: /Relu (DeformConv)" in result.stdout, result.stdout


def test_wrong_precision_fails_cleanly(onnx_dir: Path, tmp_path: Path) -> None:
    assert_failed_cleanly(run_build(onnx_dir, tmp_path / "a", "fp61"), tmp_path, "did you mean 'fp16'")
    assert_failed_cleanly(run_build(onnx_dir, tmp_path / "b", "int8"), tmp_path, "no int8 ONNX for stage patch",
                          "calibrate")


def test_inspect_an_engine_shows_its_sidecar(rtx_engines) -> None:
    _, out, _ = rtx_engines
    result = subprocess.run([sys.executable, "-m", "refinet_edge.cli", "inspect", str(out / "patch.int8.engine")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "flavour              tensorrt-rtx" in result.stdout and "precision            int8" in result.stdout


@pytest.mark.gpu
@pytest.mark.parametrize("precision", PRECISIONS)
def test_rtx_engines_run_and_match_onnxruntime(calibrated_onnx_dir, tmp_path: Path, precision: str) -> None:
    """On an RTX GPU: run every stage's engine (JIT at first run, runtime cache beside it) against ONNX Runtime."""
    from refinet_edge.export.compare import compare_backends
    from refinet_edge.export.inputs import synthetic_frames

    work = shutil.copytree(calibrated_onnx_dir[0], tmp_path / "onnx")
    manifest, chosen = read_manifest(work), Precision.parse(precision)
    for stage, spec in stage_specs(manifest).items():
        build_engine(stage_file(work, manifest, stage, chosen), work / chosen.engine_name(stage), spec, precision,
                     BuildSettings(max_batch=4), lambda line: None, load("tensorrt-rtx"))
    results = compare_backends(work, ["onnxruntime", "tensorrt"], chosen, synthetic_frames(4, seed=1),
                               follow_plan=False)
    assert all(r.passed for r in results), [r.line() for r in results]
    assert len(list(work.glob("*.engine.runtime.cache"))) == 3, "no runtime cache written beside the engines"
