"""fp16 / int8 calibration on a copy of the exported set: files, Q/DQ rules, manifest, summary and the gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from fixtures.export import CALIB_FRAMES  # noqa: E402
from onnx import numpy_helper  # noqa: E402

from refinet_edge.calibration import gate  # noqa: E402
from refinet_edge.calibration.convert import check_method, float_side_inputs  # noqa: E402
from refinet_edge.calibration.run import calibrate  # noqa: E402
from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.export.backends import pipeline_from_onnx_dir  # noqa: E402
from refinet_edge.export.inputs import synthetic_frames  # noqa: E402
from refinet_edge.export.manifest import read_manifest  # noqa: E402
from refinet_edge.export.precision import Precision  # noqa: E402
from refinet_edge.export.trt_check import check_trt_compat  # noqa: E402
from refinet_edge.pipeline import STAGES  # noqa: E402


@pytest.fixture(scope="module")
def calibrated(calibrated_onnx_dir: tuple[Path, dict, list[str]]) -> tuple[Path, dict, list[str]]:
    return calibrated_onnx_dir  # the session's calibrated copy (shared with the TensorRT-RTX build tests)


def test_int8_makes_fp16_first_then_int8(calibrated) -> None:
    work, summary, lines = calibrated
    manifest = read_manifest(work)
    for stage in STAGES:
        assert set(manifest["stages"][stage]["files"]) == {"fp32", "fp16", "int8"}
        assert (work / f"{stage}.int8.onnx.ranges.json").is_file()
    assert set(manifest["precision_plan"]) == {"fp16", "int8"}
    assert any("making and gating the fp16 set first" in line for line in lines)
    assert sum(line.startswith("calibrate ") and "->" in line for line in lines) == 6  # one line per file
    saved = json.loads((work / "calibration.int8.json").read_text())
    assert saved["method"] == "minmax" and saved["calibration_frames"] == CALIB_FRAMES
    assert set(saved["gate"]["plan"]) == set(STAGES) and saved == json.loads(json.dumps(summary))
    assert (work / "calibration.fp16.json").is_file()


def test_int8_graphs_follow_tensorrt_qdq_rules(calibrated) -> None:
    work, summary, _ = calibrated
    for stage in STAGES:
        model = onnx.load(str(work / f"{stage}.int8.onnx"))
        assert check_trt_compat(model).ok
        inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        quants = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
        assert quants and summary["stages"][stage]["qdq_pairs"] == len(quants)
        for node in quants:
            zero = inits[node.input[2]]
            assert zero.dtype == np.int8 and not zero.any()
        per_channel = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and inits[n.input[1]].size > 1]
        assert per_channel, f"{stage}: no per-channel weights"


def test_int8_soft_argmax_stays_float(calibrated) -> None:
    """Stage A's expected position (Softmax probabilities @ cell grid) is not rounded to int8."""
    work, _, _ = calibrated
    model = onnx.load(str(work / "patch.int8.onnx"))
    producer = {out: node for node in model.graph.node for out in node.output}
    softmax_matmuls = [n for n in model.graph.node if n.op_type == "MatMul"
                       and any(producer.get(i) is not None and producer[i].op_type == "Softmax" for i in n.input)]
    assert len(softmax_matmuls) == 1
    assert all(producer.get(i) is None or producer[i].op_type != "DequantizeLinear" for i in softmax_matmuls[0].input)


def test_int8_activation_dq_has_one_reader(calibrated) -> None:
    """A residual Add reads the float tensor, not the Gemm's DQ (ONNX Runtime could not fuse that Gemm): no reader
    of a DQ that also feeds a quantized op is left on it (``float_side_inputs`` finds nothing more to move)."""
    work, _, _ = calibrated
    for stage in STAGES:
        model = onnx.load(str(work / f"{stage}.int8.onnx"))
        producer = {out: node for node in model.graph.node for out in node.output}
        readers: dict[str, list[str]] = {}
        for node in model.graph.node:
            for name in node.input:
                readers.setdefault(name, []).append(node.op_type)
        for dq in model.graph.node:
            if dq.op_type == "DequantizeLinear" and dq.input[0] in producer:
                assert len(readers[dq.output[0]]) == 1, (stage, dq.name, readers[dq.output[0]])
    skeleton = onnx.load(str(work / "skeleton.int8.onnx"))
    adds = [n for n in skeleton.graph.node if n.op_type == "Add"]
    assert adds and float_side_inputs(skeleton) == 0


def test_int8_first_conv_on_the_depth_patch_stays_float(calibrated) -> None:
    """One input channel: QLinearConv is several times slower than the float kernel there; the rest is int8."""
    work, _, _ = calibrated
    model = onnx.load(str(work / "patch.int8.onnx"))
    producer = {out: node for node in model.graph.node for out in node.output}
    inits = {i.name: i for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    float_weight = [n for n in convs if n.input[1] in inits]  # a float initializer, no DequantizeLinear
    assert len(float_weight) == 1 and list(inits[float_weight[0].input[1]].dims)[1] == 1
    assert all(producer[n.input[1]].op_type == "DequantizeLinear" for n in convs if n not in float_weight)


def test_fp16_graphs_hold_half_weights_and_float_io(calibrated) -> None:
    work, _, _ = calibrated
    model = onnx.load(str(work / "patch.fp16.onnx"))
    assert check_trt_compat(model).ok
    assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in [*model.graph.input,
                                                                              *model.graph.output])
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)


def test_every_precision_runs_the_pipeline(calibrated) -> None:
    """Every file, whatever the gate's plan: all stages at fp32, at fp16, at int8."""
    from refinet_edge.export.backends import make_runner
    from refinet_edge.pipeline import RefinementPipeline, config_from_preprocess

    work, _, _ = calibrated
    manifest = read_manifest(work)
    config = config_from_preprocess({s: manifest["stages"][s]["preprocess"] for s in STAGES})
    store = synthetic_frames(3, seed=5)
    finals = {}
    for precision in Precision:
        pipeline = RefinementPipeline({s: make_runner("onnxruntime", work, manifest, s, precision) for s in STAGES},
                                      config)
        result = pipeline.run(store.depth_batch(0, 3), store.uv_px, store.camera)
        finals[precision] = result.steps["pointcloud"]
        assert np.isfinite(finals[precision]).all()
    # fp16 moves most joints by far less than a millimetre (a joint whose refined 2D position crosses a depth
    # edge can move more: lifting takes a median of depth pixels)
    assert np.median(np.abs(finals[Precision.FP16] - finals[Precision.FP32])) < 0.001  # metres
    assert np.abs(finals[Precision.INT8] - finals[Precision.FP32]).max() > 0  # really a different graph


def test_a_gate_on_a_few_frames_decides_nothing(calibrated) -> None:
    """8 frames are 120 joints: every interval is wider than the limits, so each stage keeps its fallback."""
    work, summary, lines = calibrated
    saved = json.loads((work / "calibration.fp16.json").read_text())["gate"]
    for report, fallback in ((saved, "fp32"), (summary["gate"], "fp32")):
        assert report["paired"] and report["joints"] == 8 * 15
        assert {e["verdict"] for e in report["per_stage"].values()} == {"undecided"}
        assert all(e["interval95_points"][1] - e["interval95_points"][0] > 2 for e in report["per_stage"].values())
        assert set(report["plan"].values()) == {fallback}
    assert sum("UNDECIDED" in line and "more --gate-frames" in line for line in lines) == 2 * len(STAGES)


def test_a_stage_failing_the_gate_keeps_its_fallback(calibrated, monkeypatch: pytest.MonkeyPatch) -> None:
    work, _, _ = calibrated
    monkeypatch.setitem(gate.MAX_DROP_POINTS, Precision.INT8, -100.0)  # nothing can pass
    lines: list[str] = []
    report = gate.run_gate(work, read_manifest(work), Precision.INT8, synthetic_frames(4, seed=1), lines.append)
    fp16_plan = read_manifest(work)["precision_plan"]["fp16"]
    assert report["plan"] == fp16_plan
    assert all(not entry["passed"] for entry in report["per_stage"].values())
    assert sum("FAILED" in line and "stays" in line for line in lines) == len(STAGES)


def test_bad_requests(onnx_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RefinetError, match="did you mean 'entropy'"):
        check_method("entropi")
    with pytest.raises(RefinetError, match="fp32 is what `refinet-edge export` writes"):
        calibrate(onnx_dir, "fp32")
    with pytest.raises(RefinetError, match="no manifest.json"):
        calibrate(tmp_path, "fp16")
    with pytest.raises(RefinetError, match="no int8 ONNX for stage patch"):
        pipeline_from_onnx_dir(onnx_dir, "onnxruntime", "int8")


def _flip(hits: np.ndarray, frames: range, to: bool) -> np.ndarray:
    """A copy of ``hits`` with, in each of ``frames``, the first joint that is ``not to`` set to ``to``."""
    out = hits.copy()
    for f in frames:
        out[f, np.argmax(out[f] != to)] = to
    return out


def test_paired_drop_counts_flips_and_its_interval() -> None:
    base = np.random.default_rng(0).random((400, 15)) < 0.9  # fp32 hits
    cand = _flip(_flip(base, range(0, 12), False), range(100, 102), True)  # 12 lost, 2 gained, spread out
    drop = gate.paired_drop(base, cand)
    assert (drop.lost, drop.gained, drop.joints) == (12, 2, 6000)
    assert drop.drop_points == pytest.approx(100 * 10 / 6000)
    half = drop.high_points - drop.drop_points
    assert half == pytest.approx(drop.drop_points - drop.low_points)
    assert half >= 1.959964 * 100 * np.sqrt(12 + 2 + 1) / 6000 - 1e-12  # at least the unclustered width
    assert (drop.verdict(0.5), drop.verdict(0.2), drop.verdict(0.01)) == ("pass", "undecided", "fail")
    same = gate.paired_drop(base, base)  # nothing flips: still an interval the sample size allows
    assert same.drop_points == 0 and same.high_points == pytest.approx(1.959964 * 100 / 6000)


def test_flips_in_few_frames_widen_the_interval() -> None:
    """Frames are the independent unit: 12 flips in one frame say less than 12 flips in 12 frames."""
    base = np.ones((400, 15), bool)
    spread = gate.paired_drop(base, _flip(base, range(12), False))
    bunched = base.copy()
    bunched[0, :12] = False
    together = gate.paired_drop(base, bunched)
    assert spread.drop_points == together.drop_points
    assert together.high_points - together.drop_points > 2 * (spread.high_points - spread.drop_points)


def test_t95_matches_students_table() -> None:
    # Student's t, two-sided 95 %: the published table values.
    for df, exact in ((1, 12.706), (2, 4.303), (3, 3.182), (5, 2.571), (7, 2.365), (10, 2.228), (30, 2.042),
                      (599, 1.964)):
        assert gate.t95(df) == pytest.approx(exact, abs=2e-3), df
    assert gate.t95(0) == float("inf") and gate.t95(10**9) == pytest.approx(gate.Z95)


def test_a_lucky_few_frames_do_not_pass_the_gate() -> None:
    """5 joints gained and none lost in 8 frames (3 frames with flips): with the normal quantile the interval's
    top end fell under the int8 limit (a pass on 120 joints); with Student's t for 8 frames it stays undecided."""
    base = np.zeros((8, 15), bool)
    base[:, :13] = True
    cand = base.copy()
    cand[0, 13:15] = cand[1, 13:15] = cand[2, 13] = True
    drop = gate.paired_drop(base, cand)
    assert (drop.lost, drop.gained) == (0, 5)
    sd = np.array([-2, -2, -1, 0, 0, 0, 0, 0]).std(ddof=1)
    assert drop.high_points == pytest.approx(drop.drop_points + 100 * gate.t95(7) * sd * np.sqrt(8) / 120)
    assert drop.drop_points + 100 * gate.Z95 * sd * np.sqrt(8) / 120 <= 0.5  # what the normal quantile gave
    assert drop.verdict(0.5) == "undecided"


def test_paired_drop_sees_what_unpaired_accuracy_hides() -> None:
    """Equal accuracies, every joint flips: the drop is 0 but the interval is wide, so the gate stays undecided."""
    base = np.zeros((100, 15), bool)
    base[:50] = True
    drop = gate.paired_drop(base, ~base)
    assert drop.drop_points == 0 and drop.lost == drop.gained == 750
    assert drop.verdict(0.5) == "undecided" and drop.high_points > 10
