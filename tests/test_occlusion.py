"""The answer's ``hidden`` flag (refinet_edge.occlusion) on hand-built depth maps, in the pipeline, and the
margins' script on generated frames."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refinet_edge.camera import Camera
from refinet_edge.errors import RefinetError
from refinet_edge.occlusion import HIDDEN_MARGIN_M, behind_surface_m, hidden_joints

CAM = Camera(name="test", width=40, height=30, fx=50.0, fy=50.0, cx=20.0, cy=15.0)
ROOT = Path(__file__).resolve().parents[1]


def _on_pixels(u: np.ndarray, v: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Camera-frame points at depth ``z`` that project onto pixels ``(u, v)``."""
    return CAM.deproject(np.stack(np.broadcast_arrays(u, v), axis=-1), z)


def _wall(depth_m: float = 2.0) -> np.ndarray:
    return np.full((1, CAM.height, CAM.width), depth_m, np.float32)


def _body(z: np.ndarray) -> np.ndarray:
    """15 joints on pixels (2 + 2j, 10) at depths ``z (15,)`` -> (1, 15, 3)."""
    j = np.arange(15, dtype=float)
    return _on_pixels(2.0 + 2.0 * j, np.full(15, 10.0), np.asarray(z, float))[None]


def test_behind_surface_reads_the_depth_at_each_joints_own_pixel():
    depth = _wall(2.0)
    depth[0, 10, 6] = 1.5  # something nearer in front of joint 2 only
    depth[0, 10, 8] = 0.0  # a hole under joint 3
    z = np.full(15, 2.1)
    joints = _body(z)
    joints[0, 4] = np.nan  # no answer
    joints[0, 5] = _on_pixels(np.array(60.0), np.array(10.0), np.array(2.1))  # projects outside the image
    joints[0, 6, 2] = -1.0  # behind the camera
    behind = behind_surface_m(joints, depth, CAM)
    assert behind.shape == (1, 15)
    assert behind[0, 0] == pytest.approx(0.1, abs=1e-6) and behind[0, 2] == pytest.approx(0.6, abs=1e-6)
    assert np.isnan(behind[0, [3, 4, 5, 6]]).all()
    assert np.isfinite(np.delete(behind[0], [3, 4, 5, 6])).all()


def test_hidden_is_beyond_each_joints_own_margin_and_never_over_a_hole():
    margins = np.asarray(HIDDEN_MARGIN_M)
    depth = _wall(2.0)
    inside = hidden_joints(_body(2.0 + margins - 0.01), depth, CAM)
    beyond = hidden_joints(_body(2.0 + margins + 0.01), depth, CAM)
    assert not inside.any() and beyond.all()
    in_front = hidden_joints(_body(np.full(15, 1.0)), depth, CAM)  # nearer than the measured surface: not hidden
    assert not in_front.any()
    holes = np.zeros_like(depth)  # no depth anywhere: nothing says a joint is hidden
    assert not hidden_joints(_body(np.full(15, 3.0)), holes, CAM).any()
    custom = hidden_joints(_body(np.full(15, 2.05)), depth, CAM, margins_m=np.full(15, 0.04))
    assert custom.all()


def test_bad_shapes_are_one_line_errors():
    with pytest.raises(RefinetError, match=r"expects joints \(B, J, 3\) and depth \(B, H, W\)"):
        behind_surface_m(np.zeros((1, 15, 2)), _wall(), CAM)
    with pytest.raises(RefinetError, match="one margin per joint"):
        hidden_joints(_body(np.full(15, 2.0)), _wall(), CAM, margins_m=np.full(14, 0.1))


def test_the_margins_measure_seen_joints_and_flag_hidden_ones_in_generated_frames(tmp_path):
    """The script that measured HIDDEN_MARGIN_M, on frames generated here (the default generator, an ideal sensor:
    tighter than the training mixture's noisy ones), and the shipped margins on the labels' true positions: few
    seen joints lie beyond them, most hidden ones do."""
    out = tmp_path / "synth"
    done = subprocess.run([sys.executable, "-m", "refinet_edge.cli", "synth", "--out", str(out), "--split", "train",
                           "--frames", "60", "--seed", "11", "--workers", "1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = tmp_path / "margins.json"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "hidden_margins.py"), "--frames", "60",
                           "--json", str(report), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = json.loads(report.read_text())
    assert 40 <= got["frames"] <= 60  # the train split holds the frames not kept for validation
    margins = np.asarray(got["margins_m"])
    assert np.all(margins > 0.03) and np.all(margins <= np.asarray(HIDDEN_MARGIN_M) + 0.03)
    assert got["hidden_beyond_margin_pct"] >= 50.0

    from refinet_edge.data.itop import open_split

    with open_split(out, view="side", split="train") as ds:
        flagged = hidden_joints(ds.joints_m, ds.depth_batch(0, len(ds)), ds.camera)
        visible = ds.visible
    assert flagged[visible].mean() < 0.02 and flagged[~visible].mean() > 0.4
