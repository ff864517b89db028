"""Procedural synthetic RGB-D humans with exact ground truth.

Everything trains, tests and demos with no download::

    from refinet_edge.synth import generate_frames
    for frame in generate_frames(1000, seed=0, camera="itop_side", view="side", workers=2):
        frame.depth_m, frame.joints_m, frame.uv_px, frame.visible

Modules, in pipeline order: :mod:`.body` (proportions and surface),
:mod:`.poses` (pose families, forward kinematics), :mod:`.scene` (room and
camera placement), :mod:`.geometry` and :mod:`.render` (ray casting),
:mod:`.sensor` (depth-sensor realism, infrared image), :mod:`.generator`
(frames) and :mod:`.walking` (animated sequences). Anny bodies (``SynthConfig(body="anny")``,
the ``synth`` extra): :mod:`.anny_body` (shape, pose mapping, ITOP joints),
:mod:`.clothing` (garment proxies), :mod:`.raster` (triangle z-buffer) and
:mod:`.anny_frame` (frames).
"""

from .body import BodyShape, body_shape
from .generator import DEFAULT_CONFIG, SynthConfig, SynthFrame, generate_frame, generate_frames
from .poses import POSE_FAMILIES
from .scene import VIEWS
from .sensor import SensorModel
from .walking import walking_sequence

__all__ = [
    "DEFAULT_CONFIG", "POSE_FAMILIES", "VIEWS", "BodyShape", "SensorModel", "SynthConfig", "SynthFrame",
    "body_shape", "generate_frame", "generate_frames", "walking_sequence",
]
