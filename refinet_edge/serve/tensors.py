"""The served model's tensors: names, dtypes, per-person shapes, and their checks.

One request is one frame's people; Triton's batch axis is people (``P``). Per person:

====================  =======  ============  =====================================================
input                 dtype    shape         meaning
====================  =======  ============  =====================================================
``depth_z16``         UINT16   (H, W)        raw depth in sensor units (with ``depth_scale_m``), or
``depth_m``           FP32     (H, W)        depth in metres along z; 0 = no measurement (one of the two)
``depth_scale_m``     FP32     (1,)          metres per ``depth_z16`` unit (with ``depth_z16`` only)
``intrinsics_px``     FP64     (4,)          fx, fy, cx, cy of the depth map, pixels
``joints_2d_px``      FP64     (15, 2)       u, v per ITOP joint; NaN = missing (then its score must be 0)
``scores_2d``         FP32     (15,)         detector confidence 0..1
====================  =======  ============  =====================================================

====================  =======  ============  =====================================================
output                dtype    shape         meaning
====================  =======  ============  =====================================================
``joints_3d_m``       FP64     (15, 3)       final step's joints, camera frame (x right, y down, z fwd), m
``valid``             BOOL     (15,)         joint had a usable 2D input and depth
``step_joints_3d_m``  FP64     (4, 15, 3)    every step (:data:`STEPS` order); sent only when requested
``second_pass``       BOOL     (15,)         joint the second pass restarted from the chain's own answer
``hidden``            BOOL     (15,)         answer placed behind the measured surface (:mod:`~refinet_edge.occlusion`)
====================  =======  ============  =====================================================

The depth maps of one request share their shape; the server checks that each
is at most ``max_depth_px`` pixels. :func:`decode_request` checks what Triton
itself cannot (values, agreement between inputs) and names the input at fault.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import Camera
from ..errors import RefinetError
from ..live.frames import depth_from_raw
from ..pipeline import STEPS
from ..skeleton import NUM_JOINTS

MODEL_NAME = "refinet"
REQUEST_TAG = "refinet_request"  # request parameter: the client's tag, quoted in error messages
MAX_DEPTH_PX = 1280 * 720  # default largest depth map a server accepts (a D435's biggest z16 profile)
TRITON_DTYPES = {np.dtype(np.uint16): "UINT16", np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64",
                 np.dtype(np.bool_): "BOOL"}  # Triton's names (a model config's data_type adds "TYPE_")

# name -> (numpy dtype, per-person shape, optional)
INPUTS: dict[str, tuple[type, tuple[int, ...], bool]] = {
    "depth_z16": (np.uint16, (-1, -1), True),
    "depth_m": (np.float32, (-1, -1), True),
    "depth_scale_m": (np.float32, (1,), True),
    "intrinsics_px": (np.float64, (4,), False),
    "joints_2d_px": (np.float64, (NUM_JOINTS, 2), False),
    "scores_2d": (np.float32, (NUM_JOINTS,), False),
}
OUTPUTS: dict[str, tuple[type, tuple[int, ...]]] = {
    "joints_3d_m": (np.float64, (NUM_JOINTS, 3)),
    "valid": (np.bool_, (NUM_JOINTS,)),
    "step_joints_3d_m": (np.float64, (len(STEPS), NUM_JOINTS, 3)),
    "second_pass": (np.bool_, (NUM_JOINTS,)),
    "hidden": (np.bool_, (NUM_JOINTS,)),
}


@dataclass(frozen=True)
class PersonBatch:
    """One request, decoded: ``depth_m (P, H, W)`` float32 m, its camera, ``uv_px (P, 15, 2)`` float64."""

    depth_m: np.ndarray
    camera: Camera
    uv_px: np.ndarray

    @property
    def key(self) -> tuple:
        """Requests with equal keys run through the pipeline together (same camera and depth shape)."""
        c = self.camera
        return (c.width, c.height, c.fx, c.fy, c.cx, c.cy)


def encode_request(depth_m: np.ndarray, camera: Camera, uv_px: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """A frame's people -> the model's inputs (client side).

    Depth travels as z16 when ``camera.depth_scale`` reproduces ``depth_m`` exactly (half the bytes), else as
    float32 metres. Missing joints (NaN) get score 0, as the server requires.
    """
    people = uv_px.shape[0]
    assert uv_px.shape == (people, NUM_JOINTS, 2) and scores.shape == (people, NUM_JOINTS), (uv_px.shape, scores.shape)
    depth_m = np.asarray(depth_m, dtype=np.float32)
    scale = np.float32(camera.depth_scale)
    raw = np.clip(np.rint(depth_m.astype(np.float64) / scale), 0, 65535).astype(np.uint16)
    feed: dict[str, np.ndarray] = {}
    if np.array_equal(depth_from_raw(raw, float(scale)), depth_m):
        feed["depth_z16"] = np.broadcast_to(raw, (people, *raw.shape))
        feed["depth_scale_m"] = np.full((people, 1), scale, np.float32)
    else:
        feed["depth_m"] = np.broadcast_to(depth_m, (people, *depth_m.shape))
    intrinsics = np.array([camera.fx, camera.fy, camera.cx, camera.cy], np.float64)
    feed["intrinsics_px"] = np.broadcast_to(intrinsics, (people, 4))
    feed["joints_2d_px"] = np.asarray(uv_px, np.float64)
    missing = ~np.all(np.isfinite(uv_px), axis=-1)
    feed["scores_2d"] = np.where(missing, 0.0, np.nan_to_num(scores, nan=0.0)).astype(np.float32)
    return {k: np.ascontiguousarray(v) for k, v in feed.items()}


def decode_request(feed: dict[str, np.ndarray], max_depth_px: int = MAX_DEPTH_PX) -> PersonBatch:
    """The model's inputs -> a :class:`PersonBatch`; :class:`RefinetError` naming the input at fault."""
    depth_m = _depth_m(feed, max_depth_px)
    people, height, width = depth_m.shape
    intrinsics = _input(feed, "intrinsics_px", people)
    if not np.all(np.isfinite(intrinsics)) or np.any(intrinsics[:, :2] <= 0):
        raise RefinetError("input intrinsics_px: fx, fy must be finite and > 0, cx, cy finite")
    if np.any(intrinsics != intrinsics[:1]):
        raise RefinetError("input intrinsics_px: the people of one request must share one camera")
    fx, fy, cx, cy = (float(v) for v in intrinsics[0])
    camera = Camera("remote", width, height, fx, fy, cx, cy)
    uv_px = _input(feed, "joints_2d_px", people)
    scores = _input(feed, "scores_2d", people)
    if not np.all(np.isfinite(scores)) or np.any((scores < 0) | (scores > 1)):
        raise RefinetError("input scores_2d: scores must be finite and in 0..1")
    if np.any(np.isinf(uv_px)):
        raise RefinetError("input joints_2d_px: infinite coordinates (send a missing joint as NaN with score 0)")
    nan = np.isnan(uv_px).any(axis=-1)
    if np.any(nan & (scores > 0)):
        p, j = (int(i[0]) for i in np.nonzero(nan & (scores > 0)))
        raise RefinetError(f"input joints_2d_px: person {p} joint {j} is NaN but scores_2d gives it "
                           f"{float(scores[p, j]):g}; a missing joint has score 0")
    return PersonBatch(depth_m, camera, uv_px)


def _input(feed: dict[str, np.ndarray], name: str, people: int) -> np.ndarray:
    if name not in feed:
        raise RefinetError(f"input {name}: missing")
    dtype, shape, _ = INPUTS[name]
    value = feed[name]
    if value.dtype != dtype or (value.ndim != len(shape) + 1) or value.shape[0] != people:
        raise RefinetError(f"input {name}: expected {np.dtype(dtype).name} (P, {', '.join(map(str, shape))}) with "
                           f"P = {people}, got {value.dtype} {value.shape}")
    if any(s != -1 and s != v for s, v in zip(shape, value.shape[1:], strict=True)):
        raise RefinetError(f"input {name}: expected (P, {', '.join(map(str, shape))}), got {value.shape}")
    return value


def _depth_m(feed: dict[str, np.ndarray], max_depth_px: int) -> np.ndarray:
    given = [n for n in ("depth_z16", "depth_m") if n in feed]
    if len(given) != 1:
        raise RefinetError("input depth_z16 / depth_m: send exactly one of them "
                           f"(got {', '.join(given) if given else 'neither'})")
    name = given[0]
    value = feed[name]
    if value.ndim != 3:
        raise RefinetError(f"input {name}: expected (P, H, W), got {value.shape}")
    people, height, width = value.shape
    if height * width > max_depth_px:
        raise RefinetError(f"input {name}: depth map {width}x{height} is larger than this server's maximum "
                           f"{max_depth_px} pixels (serve --max-depth-px)")
    if name == "depth_m":
        depth = _input(feed, name, people)
        if not np.all(np.isfinite(depth)) or np.any(depth < 0):
            raise RefinetError("input depth_m: metres must be finite and >= 0 (0 = no measurement)")
        return depth
    if "depth_scale_m" not in feed:
        raise RefinetError("input depth_scale_m: missing (needed with depth_z16)")
    scale = _input(feed, "depth_scale_m", people)
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0) or np.any(scale != scale[:1]):
        raise RefinetError("input depth_scale_m: one finite scale > 0 for every person of the request")
    raw = _input(feed, name, people)
    return depth_from_raw(raw, float(scale[0, 0]))


def encode_response(joints_by_step: dict[str, np.ndarray], final: str, valid: np.ndarray,
                    second_pass: np.ndarray, hidden: np.ndarray) -> dict[str, np.ndarray]:
    """Pipeline result for one request -> the model's outputs (server side)."""
    missing = [s for s in STEPS if s not in joints_by_step]
    if missing:
        raise RefinetError(f"the served pipeline lacks step(s) {missing}; serve needs all three stages")
    steps = np.stack([joints_by_step[s] for s in STEPS], axis=1).astype(np.float64)  # (P, 4, 15, 3) m
    return {"joints_3d_m": joints_by_step[final].astype(np.float64), "valid": valid.astype(bool),
            "step_joints_3d_m": steps, "second_pass": second_pass.astype(bool), "hidden": hidden.astype(bool)}
