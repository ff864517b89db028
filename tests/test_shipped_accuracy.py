"""The shipped weights' headline accuracy: a regression of the stages fails CI.

The committed report (``REPORT``, made by ``scripts/measure_shipped_accuracy.py``) scores every step on the
2000-frame synthetic test split (seed 1). This test scores the first ``FRAMES`` frames of that same split (the
same frames and, with a multiple of the batch of 64, the same noise draws) and asserts each step's acc@10cm
within ``Z`` standard errors of the report's: the subset is a sample of the split, so the tolerance is the
binomial standard error of a mean over ``FRAMES`` frames (frames, not joints: the joints of one frame succeed or
fail together), with the finite-population correction for drawing ``FRAMES`` of the report's frames.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("torch")

from refinet_edge.evaluate import EvalSettings, score_steps  # noqa: E402
from refinet_edge.export.inputs import frames_from  # noqa: E402
from refinet_edge.noise import DetectorNoise  # noqa: E402
from refinet_edge.pipeline import RefinementPipeline  # noqa: E402

REPORT = Path(__file__).resolve().parents[1] / "benchmarks/reports/2026-12-06-cpu-2core-xeon-v20-accuracy/accuracy.json"
FRAMES = 192  # 3 batches of 64
Z = 3.0


def tolerance_points(acc_percent: float, frames: int, population: int) -> float:
    """Z standard errors, in points, of a success rate ``acc_percent`` measured on ``frames`` of ``population``."""
    p = min(max(acc_percent / 100.0, 0.01), 0.99)
    fpc = math.sqrt((population - frames) / (population - 1)) if population > frames else 0.0
    return 100.0 * Z * math.sqrt(p * (1.0 - p) / frames) * fpc


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads(REPORT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def measured(report: dict) -> dict[str, dict[str, float]]:
    store = frames_from(None, "test", FRAMES, seed=1)
    pipeline = RefinementPipeline.from_dir()
    out = {}
    for name, noise in report["noise"].items():
        settings = EvalSettings(noise=DetectorNoise(**noise), seed=report["noise_seed"], batch=report["batch"])
        out[name] = {step: m.to_dict()["acc_10cm"] for step, m in score_steps(store, pipeline, settings).items()}
    return out


def test_tolerance_shrinks_with_the_split_size() -> None:
    assert tolerance_points(90.0, 192, 2000) == pytest.approx(300 * math.sqrt(0.09 / 192) * math.sqrt(1808 / 1999))
    assert tolerance_points(90.0, 768, 2000) < tolerance_points(90.0, 192, 2000) / 1.9
    assert tolerance_points(90.0, 2000, 2000) == 0.0


@pytest.mark.parametrize("noise", ["sigma5", "default"])
def test_every_step_matches_the_shipped_report(report: dict, measured: dict, noise: str) -> None:
    expected = report["steps"][noise]
    assert list(measured[noise]) == list(expected) == ["input", "patch", "skeleton", "pointcloud"]
    for step, acc in measured[noise].items():
        want = expected[step]["acc_10cm"]
        tol = tolerance_points(want, FRAMES, report["frames"])
        assert abs(acc - want) <= tol, f"{noise} {step}: acc@10cm {acc:.2f} % on {FRAMES} frames, report " \
                                       f"{want:.2f} % on {report['frames']} (tolerance {tol:.2f} points)"


@pytest.mark.parametrize("noise", ["sigma5", "default"])
def test_every_step_improves_on_the_one_before(measured: dict, noise: str) -> None:
    accs = list(measured[noise].values())
    assert all(later > earlier for earlier, later in zip(accs, accs[1:], strict=False)), measured[noise]
