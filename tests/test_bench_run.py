"""The bench harness end to end on this CPU: timed pipeline, variants, reports, compare, CLI errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from refinet_edge.benchmarks.compare import compare  # noqa: E402
from refinet_edge.benchmarks.report import read_report, system_lines, write_reports  # noqa: E402
from refinet_edge.benchmarks.run import BenchSettings, run_bench  # noqa: E402
from refinet_edge.benchmarks.staged import STEPS, run_timed  # noqa: E402
from refinet_edge.benchmarks.stats import StepTimer, latency_stats  # noqa: E402
from refinet_edge.benchmarks.variants import Context  # noqa: E402
from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.pipeline import RefinementPipeline  # noqa: E402


def test_latency_stats() -> None:
    s = latency_stats([4.0, 1.0, 3.0, 2.0])
    assert (s["n"], s["min"], s["max"], s["mean"], s["p50"]) == (4, 1.0, 4.0, 2.5, 2.5)
    assert s["std"] == pytest.approx(np.std([1, 2, 3, 4])) and s["p99"] == pytest.approx(3.97)
    with pytest.raises(ValueError):
        latency_stats([])


def test_chunks_spread_iterations_over_rounds() -> None:
    from refinet_edge.benchmarks.timing import chunks

    assert chunks(10, 3) == [4, 3, 3] and chunks(2, 5) == [1, 1] and chunks(7, 1) == [7]


def test_timed_run_matches_the_pipeline() -> None:
    from refinet_edge.export.inputs import synthetic_frames

    store = synthetic_frames(2, seed=3)
    pipeline = RefinementPipeline.from_dir()
    depth, uv = store.depth_batch(0, 2), store.uv_px + 2.0
    timer = StepTimer()
    result = run_timed(pipeline, depth, uv, store.camera, timer)
    steps, expected = result.steps, pipeline.run(depth, uv, store.camera).steps
    np.testing.assert_array_equal(result.second_pass, pipeline.run(depth, uv, store.camera).second_pass)
    assert list(steps) == list(expected)
    for name in expected:
        np.testing.assert_array_equal(steps[name], expected[name])
    assert set(timer.ms) == {*STEPS, "end_to_end"}
    assert timer.ms["end_to_end"] >= sum(timer.ms[s] for s in STEPS) * 0.99


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    settings = BenchSettings(backends=("torch", "tensorrt"), batches=(1, 2), points=(16, 128), iterations=3,
                             warmup=1, accuracy_frames=4, power=False, rounds=2)
    return run_bench(settings, Context(work=tmp_path_factory.mktemp("bench")), "refinet-edge bench --test")


def test_report_rows(report: dict) -> None:
    rows = {(r["backend"], r["points"], r["batch"]): r for r in report["results"]}
    assert report["schema_version"] == 1 and report["shipped_points"] == 128
    trained = rows[("torch", 128, 2)]
    e2e = trained["latency_ms"]["end_to_end"]
    assert e2e["n"] == 3 and e2e["min"] <= e2e["p50"] <= e2e["p99"] <= e2e["max"]
    assert trained["throughput_people_per_s"] == pytest.approx(2 * 3 / (sum(trained["samples_ms"]["end_to_end"]) / 1e3),
                                                               rel=1e-3)
    assert trained["accuracy"]["frames"] == 4 and 0 <= trained["accuracy"]["acc_10cm"] <= 100
    assert trained["speedup_vs_torch_fp32"] == pytest.approx(1.0)
    assert 0.0 <= trained["second_pass_share"] <= 1.0
    assert len(trained["load_average"]["before"]) == 3 and len(trained["load_average"]["after"]) == 3
    untrained = rows[("torch", 16, 1)]
    assert untrained["trained"] is False and untrained["accuracy"] is None and untrained["status"] == "ok"
    assert untrained["latency_ms"]["pointcloud"]["n"] == 3
    trt = {r["points"]: r for r in report["results"] if r["backend"] == "tensorrt"}
    assert all(r["status"] == "unavailable" for r in trt.values())
    if not _tensorrt_installed():
        assert "tensorrt not installed" in trt[128]["reason"]


def _tensorrt_installed() -> bool:
    from refinet_edge.export.trt_build import is_available  # TensorRT 10/11 or TensorRT-RTX

    return is_available()


def test_reports_written_and_self_contained(report: dict, tmp_path: Path) -> None:
    paths = write_reports(report, tmp_path)
    assert [p.name for p in paths] == ["report.json", "report.md", "report.html"]
    assert read_report(paths[0])["results"] == json.loads(json.dumps(report["results"]))
    md = paths[1].read_text()
    assert "refinet-edge bench --test" in md and "Timer scope" in md and "| torch | fp32 | 128 | 2 |" in md
    assert "second pass %" in md
    html = paths[2].read_text()
    assert html.count("<svg") >= 3 and "<script" not in html and not re.search(r"(src|href)=", html)
    assert "Not run here" in html and "tensorrt" in html


def test_render_rewrites_md_and_html_from_json(report: dict, tmp_path: Path) -> None:
    from refinet_edge.benchmarks.report import render

    json_path = write_reports(report, tmp_path)[0]
    (tmp_path / "report.html").unlink()
    assert [p.name for p in render(json_path)] == ["report.md", "report.html"]
    assert "<svg" in (tmp_path / "report.html").read_text()


def test_compare_two_reports(report: dict, tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_reports(report, tmp_path / name)
    text, written = compare([tmp_path / "a" / "report.json", tmp_path / "b" / "report.json"], tmp_path / "cmp")
    assert "B p50 / A" in text and "**B** = b" in text and "| torch | fp32 | 128 | 1 |" in text
    assert text.count("| 1.00 |") >= 2
    assert [p.name for p in written] == ["compare.md", "compare.html"]
    with pytest.raises(RefinetError, match="not a bench report"):
        (tmp_path / "x.json").write_text('{"a": 1}')
        read_report(tmp_path / "x.json")


def test_onnxruntime_variant_reuses_the_export(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import torch

    settings = BenchSettings(backends=("onnxruntime",), iterations=2, warmup=1, accuracy_frames=4, power=False,
                             points=(128, 32), threads=1)
    before = torch.get_num_threads()
    try:
        report = run_bench(settings, Context(work=tmp_path, log=lambda line: None), "x")
    finally:
        torch.set_num_threads(before)
    assert report["threads"] == {"onnxruntime": "intra_op_num_threads=1", "torch": "1 intra-op"}
    rows = {r["points"]: r for r in report["results"]}
    assert rows[128]["status"] == "ok" and rows[128]["accuracy"] is not None
    assert rows[32]["status"] == "ok" and rows[32]["trained"] is False
    assert (tmp_path / "onnx" / "manifest.json").is_file()
    assert (tmp_path / "untrained_points_32" / "pointcloud.onnx").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--batch", "0"], "--batch must be comma-separated positive integers"),
    (["--backend", "onnxruntme"], "did you mean 'onnxruntime'"),
    (["--precision", "fp8"], "--precision: unknown 'fp8'"),
    (["--onnx", "/nonexistent"], "no manifest.json"),
    (["--rounds", "0"], "--rounds must be positive"),
    (["--live", "5", "--live-source", "/nonexistent.db3"], "no such recording"),
    (["--preprocess", "gpu"], "--preprocess must be one of auto, cpu, cuda, numpy; got 'gpu'"),
    (["--outlier-prob", "1.5"], "--outlier-prob must be a probability in [0, 1], got 1.5"),
])
def test_cli_rejects_bad_options(args: list[str], message: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "from refinet_edge.cli import main; main()", "bench",
                           "--out", str(tmp_path), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_live_loop_per_trained_variant(tmp_path: Path) -> None:
    settings = BenchSettings(backends=("torch",), points=(128, 16), iterations=1, warmup=0, accuracy_frames=2,
                             power=False, rounds=1, live_frames=3)
    report = run_bench(settings, Context(work=tmp_path, log=lambda line: None), "x")
    (run,) = report["live"]  # the untrained N=16 variant has no live run
    assert (run["backend"], run["points"]) == ("torch", 128)
    summary = run["summary"]
    assert summary["frames"] == 3 and summary["fps"] > 0 and "end_to_end" in summary["latency_ms"]
    assert summary["source"].startswith("synthetic walker") and summary["source"].endswith("real time")
    md = (write_reports(report, tmp_path / "r")[1]).read_text()
    assert "## Live loop" in md and "| torch fp32 | 3 |" in md


def test_cached_export_of_other_weights_is_redone(tmp_path: Path) -> None:
    """A work-dir export made from other checkpoints must not be benchmarked as the current weights."""
    pytest.importorskip("onnxruntime")
    import json
    import shutil

    from refinet_edge.benchmarks.variants import ensure_export
    from refinet_edge.pipeline import WEIGHTS_DIR

    weights = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, weights)
    lines: list[str] = []
    ctx = Context(weights=weights, work=tmp_path / "work", log=lines.append)
    onnx_dir = ensure_export(ctx, "fp32")
    manifest = json.loads((onnx_dir / "manifest.json").read_text())
    ensure_export(ctx, "fp32")  # same weights: reused
    assert not any("exporting again" in line for line in lines)
    manifest["stages"]["skeleton"]["checkpoint_sha256"] = "0" * 64  # as if exported from older weights
    (onnx_dir / "manifest.json").write_text(json.dumps(manifest))
    ensure_export(ctx, "fp32")
    assert any("exporting again" in line for line in lines)
    redone = json.loads((onnx_dir / "manifest.json").read_text())
    assert redone["stages"]["skeleton"]["checkpoint_sha256"] != "0" * 64


def test_cached_export_is_redone_when_the_model_code_is_newer(tmp_path: Path) -> None:
    """Same weights, but a stage module or the exporter changed after the export (a new graph): the cache is stale."""
    import os

    from refinet_edge.benchmarks.variants import _stale, graph_sources
    from refinet_edge.export.manifest import sha256_file
    from refinet_edge.pipeline import WEIGHTS_DIR

    onnx_dir = tmp_path / "onnx"
    onnx_dir.mkdir()
    manifest = {"stages": {s: {"checkpoint_sha256": sha256_file(WEIGHTS_DIR / f"{s}.safetensors")}
                           for s in ("patch", "skeleton", "pointcloud")}}
    (onnx_dir / "manifest.json").write_text("{}")
    assert {"onnx_export.py", "fold.py", "pointcloud.py", "skeleton.py", "deploy.py", "convert.py"} <= {
        p.name for p in graph_sources()}
    newest = max(p.stat().st_mtime for p in graph_sources())
    os.utime(onnx_dir / "manifest.json", (newest + 10, newest + 10))
    assert not _stale(manifest, WEIGHTS_DIR, onnx_dir)
    os.utime(onnx_dir / "manifest.json", (newest - 10, newest - 10))
    assert _stale(manifest, WEIGHTS_DIR, onnx_dir)


def test_preprocess_setting_reaches_every_pipeline(tmp_path: Path) -> None:
    settings = BenchSettings(backends=("torch",), iterations=1, warmup=0, accuracy_frames=2, power=False, rounds=1,
                             preprocess="numpy")
    report = run_bench(settings, Context(work=tmp_path, log=lambda line: None), "x")
    assert report["preprocess"] == 'CPU path (NumPy; preprocess "numpy")'
    assert report["settings"]["preprocess"] == "numpy"
    assert report["refinement"] == ("stage C passes 2; skeleton test-time flip on; second pass 0.15 m (from the "
                                    "shipped weights)")
    assert f"refinement: {report['refinement']}" in system_lines(report)


def test_gross_2d_errors_reach_the_timed_and_scored_input(tmp_path: Path) -> None:
    settings = BenchSettings(backends=("torch",), iterations=1, warmup=0, accuracy_frames=2, power=False, rounds=1,
                             swap_prob=0.05, outlier_prob=0.1)
    report = run_bench(settings, Context(work=tmp_path, log=lambda line: None), "x")
    assert (report["settings"]["swap_prob"], report["settings"]["outlier_prob"]) == (0.05, 0.1)
    assert "left/right swaps 0.05, outliers 0.1 (seed 0)" in report["accuracy_note"]


def _row(backend: str, batch: int, mean_ms: float, p50_ms: float | None = None) -> dict:
    e2e = {"n": 3, "min": mean_ms, "mean": mean_ms, "p50": p50_ms or mean_ms, "p90": mean_ms, "p95": mean_ms,
           "p99": mean_ms, "max": mean_ms, "std": 0.0}
    return {"backend": backend, "precision": "fp32", "points": 128, "trained": True, "status": "ok", "batch": batch,
            "latency_ms": {"end_to_end": e2e}, "throughput_people_per_s": 1e3 * batch / mean_ms}


def test_speedups_divide_torch_fp32_by_each_row_at_the_same_batch() -> None:
    from refinet_edge.benchmarks.run import speedups

    rows = [_row("torch", 1, 10.0), _row("onnxruntime", 1, 4.0), _row("onnxruntime", 8, 5.0), _row("torch", 8, 20.0),
            _row("onnxruntime", 2, 1.0)]
    speedups(rows)
    assert [r.get("speedup_vs_torch_fp32") for r in rows] == [1.0, 2.5, 4.0, 1.0, None]


def test_second_pass_share_counts_the_timed_people_run_again() -> None:
    from types import SimpleNamespace

    from refinet_edge.benchmarks.timing import Job
    from refinet_edge.export.inputs import synthetic_frames

    store = synthetic_frames(4, seed=3)
    pipeline = RefinementPipeline.from_dir()
    uv = store.uv_px.copy()
    uv[:2, 3] += 60.0  # frames 0 and 1: an elbow 60 px off, a gross error the second pass restarts
    restarted = pipeline.run(store.depth_batch(0, 4), uv, store.camera).second_pass.any(axis=1)
    assert restarted[:2].all()
    built = SimpleNamespace(pipeline=pipeline, sync=None)
    job = Job(built, store, uv, batch=4, power=False, power_interval_ms=100)
    job.run(2)
    assert job.result()["second_pass_share"] == pytest.approx(restarted.mean())
    pipeline.set_second_pass(0.0)  # one pass: nobody runs again
    job = Job(built, store, uv, batch=2, power=False, power_interval_ms=100)
    job.run(2)
    assert job.result()["second_pass_share"] == 0.0


def test_throughput_is_people_over_timed_seconds() -> None:
    from refinet_edge.benchmarks.timing import Job

    job = Job(None, None, np.zeros((0, 15, 2)), batch=4, power=False, power_interval_ms=100)
    job.samples["end_to_end"] = [10.0, 30.0]  # ms
    assert job.result()["throughput_people_per_s"] == pytest.approx(8 / 0.040)


def test_compare_ratio_uses_each_reports_own_latency(report: dict) -> None:
    from refinet_edge.benchmarks.compare import compare_table

    a = {**report, "results": [_row("torch", 1, 10.0, p50_ms=10.0), _row("torch", 8, 40.0, p50_ms=40.0)]}
    b = {**report, "results": [_row("torch", 1, 25.0, p50_ms=25.0)]}
    head, *rows = compare_table(["A", "B"], [a, b])
    by_batch = {row[3]: dict(zip(head, row, strict=True)) for row in rows}
    assert by_batch["1"]["B p50 / A"] == "2.50" and by_batch["1"]["B people/s"] == "40.0"
    assert by_batch["8"]["B p50 ms"] == "-" and by_batch["8"]["A p50 ms"] == "40.00"


def test_rows_say_what_ran(report: dict) -> None:
    for row in report["results"]:
        if row["status"] == "ok":
            assert row["stage_precision"] == {"patch": "fp32", "skeleton": "fp32", "pointcloud": "fp32"}
            assert row["preprocess"] and row["preprocess"] in report["preprocess"]
