"""COCO-17 pose models on ONNX Runtime: the YOLOv8 / YOLO11 pose family (Ultralytics ONNX export).

Model contract (what ``yolo export model=yolo11n-pose.pt format=onnx`` writes):

* input ``(1, 3, S, S)`` float32 RGB in 0..1 (S usually 640), letterboxed: the
  image scaled to fit, centred, padded with grey 114;
* output ``(1, 56, N)`` (or ``(1, N, 56)``): per candidate, box centre x, y,
  width, height (input pixels), person score, then 17 x (x, y, visibility)
  keypoints in COCO order, visibility already in 0..1.

Decoding: candidates above ``score_threshold``, non-maximum suppression of
their boxes at ``iou_threshold``, keypoints mapped back through the letterbox,
keypoints with visibility below ``keypoint_threshold`` missing, then COCO-17 ->
ITOP with :func:`refinet_edge.skeleton.to_itop`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import RefinetError
from ..skeleton import to_itop
from .detectors import Detections
from .frames import RGBDFrame

COCO17_CHANNELS = 5 + 17 * 3


def letterbox(image_bgr: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """``(H, W, 3)`` BGR -> model input ``(1, 3, size, size)`` RGB 0..1, the scale and the (x, y) padding."""
    h, w = image_bgr.shape[:2]
    scale = min(size / h, size / w)
    nh, nw = int(round(h * scale)), int(round(w * scale))
    pad_x, pad_y = (size - nw) / 2, (size - nh) / 2
    canvas = np.full((size, size, 3), 114, np.uint8)
    top, left = int(round(pad_y - 0.1)), int(round(pad_x - 0.1))
    canvas[top:top + nh, left:left + nw] = cv2.resize(image_bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    blob = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(blob), scale, (float(left), float(top))


def decode_yolo_pose(output: np.ndarray, scale: float, pad: tuple[float, float], score_threshold: float = 0.5,
                     iou_threshold: float = 0.45, keypoint_threshold: float = 0.5,
                     max_people: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Raw output ``(1, 56, N)`` -> COCO keypoints ``(P, 17, 2)`` image px and scores ``(P, 17)``."""
    out = np.asarray(output, dtype=np.float32)[0]
    if out.shape[0] != COCO17_CHANNELS:
        out = out.T
    keep = out[4] > score_threshold
    cand = out[:, keep].T  # (M, 56)
    if len(cand) == 0:
        return np.zeros((0, 17, 2)), np.zeros((0, 17))
    boxes = np.stack([cand[:, 0] - cand[:, 2] / 2, cand[:, 1] - cand[:, 3] / 2, cand[:, 2], cand[:, 3]], axis=1)
    kept = cv2.dnn.NMSBoxes(boxes.tolist(), cand[:, 4].tolist(), score_threshold, iou_threshold)
    chosen = np.array(kept, dtype=int).reshape(-1)[:max_people]
    kpts = cand[chosen, 5:].reshape(-1, 17, 3).astype(np.float64)
    uv = (kpts[..., :2] - np.array(pad)) / scale
    scores = np.where(kpts[..., 2] >= keypoint_threshold, kpts[..., 2], 0.0)
    return uv, scores


class OnnxPoseDetector:
    """A YOLO-pose ONNX model on ONNX Runtime (CPU, or CUDA when its provider is installed)."""

    def __init__(self, path: Path, score_threshold: float = 0.5, keypoint_threshold: float = 0.5) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise RefinetError("--detector onnx: needs onnxruntime: pip install 'refinet-edge[onnx]'") from None
        if not Path(path).is_file():
            raise RefinetError(f"{path}: ONNX model not found")
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise RefinetError(f"{path}: ONNX Runtime cannot load it ({str(exc).splitlines()[0]})") from None
        inp = self.session.get_inputs()[0]
        out = self.session.get_outputs()[0]
        size = inp.shape[2] if len(inp.shape) == 4 and isinstance(inp.shape[2], int) else 640
        dims = [d for d in out.shape[1:] if isinstance(d, int)]
        if len(inp.shape) != 4 or COCO17_CHANNELS not in dims:
            raise RefinetError(f"{path}: expected a YOLO pose model, input (1, 3, S, S) and output (1, 56, N) "
                               f"(box, score, 17 x (x, y, visibility)); got {inp.shape} -> {out.shape}")
        self.input_name, self.size = inp.name, int(size)
        self.score_threshold, self.keypoint_threshold = score_threshold, keypoint_threshold
        self.name = f"ONNX pose {Path(path).name} ({self.size}x{self.size}, {self.session.get_providers()[0]})"

    def __call__(self, frame: RGBDFrame) -> Detections:
        blob, scale, pad = letterbox(frame.image_bgr, self.size)
        output = self.session.run(None, {self.input_name: blob})[0]
        uv, scores = decode_yolo_pose(output, scale, pad, self.score_threshold,
                                      keypoint_threshold=self.keypoint_threshold)
        joints, joint_scores = to_itop(uv, scores, "coco17")
        return Detections(joints.reshape(-1, 15, 2), joint_scores.reshape(-1, 15))
