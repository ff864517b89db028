"""YOLO-pose decoding on ONNX Runtime, through a real ONNX graph whose output is a known YOLO-pose tensor.

No pose network ships with the tests; the graph returns fixed candidates in the
Ultralytics layout, so letterboxing, thresholds, NMS, the mapping back to image
pixels and COCO-17 -> ITOP are checked exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.live.detectors import make_detector
from refinet_edge.live.onnx_pose import letterbox
from refinet_edge.live.synthetic import SyntheticSource
from refinet_edge.skeleton import to_itop

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SIZE = 64


def constant_pose_model(path, output: np.ndarray) -> None:
    """Input (1, 3, SIZE, SIZE) -> ``output`` (+ 0 x the input's mean, so the input is used)."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["fixed", "z"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "const_pose",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        [numpy_helper.from_array(output.astype(np.float32), "fixed"),
         numpy_helper.from_array(np.zeros(1, np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_yolo_pose_decoding_maps_keypoints_back_to_the_image(tmp_path):
    frame = SyntheticSource().frame(0)  # 320x240: scale 0.2, padding 8 px top and bottom
    _, scale, (pad_x, pad_y) = letterbox(frame.image_bgr, SIZE)
    assert (scale, pad_x, pad_y) == (0.2, 0.0, 8.0)
    rng = np.random.default_rng(0)
    coco_uv = rng.uniform([40, 30], [280, 210], size=(17, 2))
    vis = np.full(17, 0.9)
    vis[3] = 0.1  # left ear below the keypoint threshold: head falls back to the eyes
    def candidate(score, shift):
        kin = np.concatenate([coco_uv * scale + [pad_x, pad_y] + shift, vis[:, None]], axis=1)
        return np.concatenate([[32 + shift, 32, 20, 40, score], kin.ravel()])
    cands = np.stack([candidate(0.9, 0.0), candidate(0.8, 0.5), candidate(0.3, 0.0)], axis=1)[None]  # (1, 56, 3)
    path = tmp_path / "pose.onnx"
    constant_pose_model(path, cands)
    detector = make_detector(f"onnx:{path}")
    got = detector(frame)
    assert got.count == 1  # the overlapping weaker box is suppressed, the low score dropped
    scores = np.where(vis >= 0.5, vis, 0.0)
    expected, expected_scores = to_itop(coco_uv, scores, "coco17")
    np.testing.assert_allclose(got.uv_px[0], expected, atol=1e-3)
    np.testing.assert_allclose(got.scores[0], expected_scores, atol=1e-6)


def test_a_model_of_another_family_is_refused(tmp_path):
    path = tmp_path / "cls.onnx"
    constant_pose_model(path, np.zeros((1, 1000)))
    with pytest.raises(RefinetError, match="expected a YOLO pose model"):
        make_detector(f"onnx:{path}")
    with pytest.raises(RefinetError, match="ONNX model not found"):
        make_detector(f"onnx:{tmp_path / 'none.onnx'}")
