"""Bad input a new user can give: each case ends in one `error:` line naming what is wrong, exit 1, no traceback,
and nothing written (issue 16's list: corrupt ONNX, incomplete reports, empty checkpoint directories, output paths
that cannot be written, bad values, a batch the data cannot fill)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refinet_edge.cli", *args], capture_output=True, text=True,
                          timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error:"), result.stderr
    message = " ".join(result.stderr.split())
    for needle in needles:
        assert needle in message, message


@pytest.fixture(scope="module")
def corrupt_onnx_dir(onnx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the export whose patch.onnx is cut to half its bytes (the manifest still lists the original)."""
    out = tmp_path_factory.mktemp("corrupt") / "onnx"
    shutil.copytree(onnx_dir, out)
    path = out / "patch.onnx"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return out


def test_truncated_onnx_is_named_by_evaluate(corrupt_onnx_dir: Path, itop_dir: Path) -> None:
    pytest.importorskip("onnxruntime")
    assert_one_line_error(run_cli("evaluate", "--data", str(itop_dir), "--backend", "onnxruntime", "--onnx-dir",
                                  str(corrupt_onnx_dir)), "patch.onnx", "sha256 differs")


def test_truncated_onnx_is_named_by_compare(corrupt_onnx_dir: Path) -> None:
    pytest.importorskip("onnxruntime")
    assert_one_line_error(run_cli("compare", "--onnx-dir", str(corrupt_onnx_dir), "--frames", "2"),
                          "patch.onnx", "sha256 differs")


def test_truncated_onnx_is_named_by_live(corrupt_onnx_dir: Path) -> None:
    pytest.importorskip("onnxruntime")
    assert_one_line_error(run_cli("live", "--camera", "synthetic", "--backend", "onnxruntime", "--onnx-dir",
                                  str(corrupt_onnx_dir), "--frames", "2", "--headless"),
                          "patch.onnx", "sha256 differs")


def test_truncated_onnx_is_named_by_bench(corrupt_onnx_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    assert_one_line_error(run_cli("bench", "--backend", "onnxruntime", "--onnx", str(corrupt_onnx_dir),
                                  "--out", str(tmp_path / "b")), "patch.onnx", "sha256 differs")
    assert not (tmp_path / "b").exists()


def test_onnx_runtime_load_error_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """A file outside any manifest (no hash to check) that ONNX Runtime cannot parse."""
    pytest.importorskip("onnxruntime")
    from refinet_edge.checkpoint import read_stage_info
    from refinet_edge.errors import RefinetError
    from refinet_edge.export.runners import OnnxrtRunner
    from refinet_edge.export.specs import stage_spec
    from refinet_edge.pipeline import WEIGHTS_DIR

    bad = tmp_path / "patch.onnx"
    bad.write_bytes(b"\x08\x07not a protobuf")
    spec = stage_spec("patch", read_stage_info(WEIGHTS_DIR / "patch.safetensors").model_config)
    with pytest.raises(RefinetError, match="patch.onnx: ONNX Runtime cannot load it"):
        OnnxrtRunner(bad, spec).activate()


@pytest.mark.parametrize("verb", ["render", "compare"])
def test_report_missing_fields_names_the_field(tmp_path: Path, verb: str) -> None:
    source = Path(__file__).parents[1] / "benchmarks/reports/2026-11-26-cpu-2core-epyc-quiet-v7weights/report.json"
    report = json.loads(source.read_text())
    first_ok = next(i for i, r in enumerate(report["results"]) if r["status"] == "ok")
    del report["results"][first_ok]["latency_ms"]
    broken = tmp_path / "report.json"
    broken.write_text(json.dumps(report))
    args = ("report", "render", str(broken)) if verb == "render" else ("report", "compare", str(broken), str(source))
    assert_one_line_error(run_cli(*args), "report.json", f"results[{first_ok}].latency_ms missing")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_report_render_accepts_every_committed_report() -> None:
    from refinet_edge.benchmarks.report import read_report

    reports = sorted((Path(__file__).parents[1] / "benchmarks/reports").glob("*/report.json"))
    assert reports
    for path in reports:
        read_report(path)


def test_evaluate_empty_checkpoint_dir_fails(itop_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("evaluate", "--data", str(itop_dir), "--checkpoints", str(empty)),
                          str(empty), "no stage checkpoints")


def test_evaluate_json_directory_fails_before_the_work(itop_dir: Path, tmp_path: Path) -> None:
    result = run_cli("evaluate", "--data", str(itop_dir), "--json", str(tmp_path))
    assert_one_line_error(result, "--json", "is a directory")
    assert "acc@10cm" not in result.stdout  # refused before evaluating, not after
    assert list(tmp_path.iterdir()) == []


def test_evaluate_json_under_a_file_fails_before_the_work(itop_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = run_cli("evaluate", "--data", str(itop_dir), "--json", str(tmp_path / "file" / "r.json"))
    assert_one_line_error(result, "--json", "is a file, not a directory")
    assert "acc@10cm" not in result.stdout


def test_live_summary_directory_fails_before_the_run(tmp_path: Path) -> None:
    result = run_cli("live", "--camera", "synthetic", "--frames", "2", "--headless", "--summary", str(tmp_path))
    assert_one_line_error(result, "--summary", "is a directory")
    assert "live:" not in result.stdout


def test_bench_out_file_fails_before_the_work(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    result = run_cli("bench", "--backend", "torch", "--out", str(tmp_path / "out"), "--iterations", "1")
    assert_one_line_error(result, "--out", "is a file")
    assert "round" not in result.stderr


def test_evaluate_bad_precision_names_the_value(itop_dir: Path) -> None:
    result = run_cli("evaluate", "--data", str(itop_dir), "--precision", "fp61")
    assert_one_line_error(result, "--precision must be one of fp32, fp16, int8", "'fp61'", "did you mean 'fp16'")
    assert "--onnx-dir" not in result.stderr


def test_calibrate_bad_gate_frames_names_the_option(onnx_dir: Path) -> None:
    result = run_cli("calibrate", "--precision", "fp16", "--onnx-dir", str(onnx_dir), "--gate-frames", "-1")
    assert_one_line_error(result, "--gate-frames must be a positive number", "-1")
    assert_one_line_error(run_cli("calibrate", "--precision", "fp16", "--onnx-dir", str(onnx_dir), "--frames", "0"),
                          "--frames must be a positive number")


def test_bench_refuses_a_batch_the_data_cannot_fill(itop_dir: Path, tmp_path: Path) -> None:
    """The fixture's test split has 2 valid frames: a batch of 4 would silently run 2 people per call."""
    result = run_cli("bench", "--backend", "torch", "--data", str(itop_dir), "--batch", "2,4", "--iterations", "1",
                     "--warmup", "0", "--accuracy-frames", "2", "--rounds", "1", "--no-power", "--threads", "1",
                     "--out", str(tmp_path / "b"))
    assert_one_line_error(result, "--batch 4", "only 2 frames")
    assert not (tmp_path / "b").exists()


def test_report_compare_out_file_fails_before_the_work(tmp_path: Path) -> None:
    reports = sorted((Path(__file__).parents[1] / "benchmarks/reports").glob("2026-11-26-*/report.json"))[:2]
    (tmp_path / "out").write_text("x")
    result = run_cli("report", "compare", *map(str, reports), "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "--out", "is a file")
    assert "| backend |" not in result.stdout
