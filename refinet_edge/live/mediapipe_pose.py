"""MediaPipe Pose on the colour image, mapped to the ITOP skeleton (``--detector mediapipe[:MODEL.task]``).

* ``mediapipe`` alone uses the pose model inside the mediapipe 0.10.21 wheel
  (the ``refinet-edge[mediapipe]`` extra; runs offline) through the
  ``mp.solutions.pose`` API, ``model_complexity=1``, one person, tracking
  between frames;
* ``mediapipe:MODEL.task`` runs a downloaded Pose Landmarker model through the
  Tasks API (newer mediapipe releases ship no model), up to ``num_poses`` people.

Landmarks (33, normalised to the image) become pixels; their visibility is the
score, and landmarks below ``min_visibility`` are missing. MediaPipe 33 ->
ITOP follows :func:`refinet_edge.skeleton.to_itop` (hands: mean of wrist,
index and pinky knuckles).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import RefinetError
from ..skeleton import NUM_JOINTS, to_itop
from .detectors import Detections
from .frames import RGBDFrame

INSTALL = ("--detector mediapipe needs mediapipe: pip install 'refinet-edge[mediapipe]' (0.10.21, which ships "
           "its pose model and pins numpy<2)")


class MediaPipeDetector:
    """MediaPipe Pose (built-in model) or a Pose Landmarker ``.task`` model."""

    def __init__(self, model: Path | None = None, min_visibility: float = 0.5, num_poses: int = 4) -> None:
        try:
            import mediapipe as mp
        except ImportError:
            raise RefinetError(INSTALL) from None
        self.mp, self.min_visibility = mp, min_visibility
        if model is None:
            if not hasattr(mp, "solutions"):
                raise RefinetError(f"mediapipe {mp.__version__} ships no pose model: pass a Pose Landmarker model, "
                                   f"--detector mediapipe:pose_landmarker_full.task, or install mediapipe==0.10.21")
            self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1,
                                                min_detection_confidence=0.5, min_tracking_confidence=0.5)
            self._landmarker = None
            self.name = f"MediaPipe Pose {mp.__version__} (built-in model, complexity 1)"
            return
        if not Path(model).is_file():
            raise RefinetError(f"{model}: MediaPipe .task model not found")
        vision = mp.tasks.vision
        options = vision.PoseLandmarkerOptions(base_options=mp.tasks.BaseOptions(model_asset_path=str(model)),
                                               running_mode=vision.RunningMode.IMAGE, num_poses=num_poses)
        try:
            self._landmarker = vision.PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise RefinetError(f"{model}: not a MediaPipe Pose Landmarker model ({exc})") from None
        self._pose = None
        self.name = f"MediaPipe Pose Landmarker {Path(model).name}"

    def __call__(self, frame: RGBDFrame) -> Detections:
        rgb = np.ascontiguousarray(frame.image_bgr[:, :, ::-1])
        if self._pose is not None:
            result = self._pose.process(rgb)
            people = [result.pose_landmarks.landmark] if result.pose_landmarks else []
        else:
            assert self._landmarker is not None
            image = self.mp.Image(image_format=self.mp.ImageFormat.SRGB, data=rgb)
            people = self._landmarker.detect(image).pose_landmarks
        if not people:
            return Detections.none()
        h, w = frame.image_bgr.shape[:2]
        uv = np.array([[[lm.x * w, lm.y * h] for lm in person] for person in people], dtype=np.float64)
        vis = np.array([[lm.visibility for lm in person] for person in people], dtype=np.float64)
        scores = np.where(vis >= self.min_visibility, np.clip(vis, 0.0, 1.0), 0.0)
        joints, joint_scores = to_itop(uv, scores, "mediapipe33")
        return Detections(joints.reshape(-1, NUM_JOINTS, 2), joint_scores.reshape(-1, NUM_JOINTS))
