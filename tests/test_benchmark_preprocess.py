"""The pre-processing benchmark runs end to end on a tiny setting and reports what it promises."""

from __future__ import annotations

import importlib.util
import json

from refinet_edge.benchmarks import preprocess


def test_benchmark_reports_every_step_and_implementation(tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    preprocess.bench_kernels(cameras=("itop_side",), people=(1,), repeats=2, ref_repeats=1, warmup=0,
                             impls=("reference", "naive", "fast", "numba", "cuda"), json_path=out)
    report = json.loads(out.read_text())
    got = {(r["impl"], r["step"]) for r in report["rows"]}
    for impl in ("reference", "fast", *(["numba"] if importlib.util.find_spec("numba") else [])):
        assert {(impl, s) for s in ("lift", "patches", "points", "total")} <= got
    assert ("naive", "points") in got
    assert all(0 < r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] for r in report["rows"])
    assert report["environment"]["cores"] and report["environment"]["numpy"]
    printed = capsys.readouterr().out
    assert "320x240" in printed and "p99" in printed and "# cuda:" in printed


def test_cli_verb_runs_the_benchmark_and_rejects_bad_input() -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "refinet_edge.cli", "bench-kernels", "--people", "1", "--repeats", "1",
               "--ref-repeats", "1", "--warmup", "0", "--impl", "fast"]
    done = subprocess.run(command + ["--cameras", "itop_side"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "320x240" in done.stdout and "fast" in done.stdout
    bad = subprocess.run(command + ["--cameras", "itop_sid"], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "did you mean 'itop_side'" in bad.stderr and bad.stdout == ""
