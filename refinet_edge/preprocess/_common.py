"""Helpers shared by the pre-processing contracts: config checks, input shapes, float32 depth."""

from __future__ import annotations

import math

import numpy as np

from ..camera import Camera
from ..errors import RefinetError, did_you_mean

F32 = np.float32


def check_choice(owner: str, field: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise unless ``value`` is one of ``choices`` (with a "did you mean" hint)."""
    if value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise RefinetError(f"{owner}.{field} must be one of {', '.join(choices)}; got {value!r}{hint}")


def check_int(owner: str, field: str, value: object, minimum: int) -> None:
    """Raise unless ``value`` is an integer >= ``minimum`` (bool is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise RefinetError(f"{owner}.{field} must be an integer >= {minimum}, got {value!r}")


def check_real(owner: str, field: str, value: object, positive: bool = True) -> None:
    """Raise unless ``value`` is a finite real number (and > 0 when ``positive``)."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or (positive and float(value) <= 0):  # type: ignore[arg-type]
        raise RefinetError(f"{owner}.{field} must be a finite number{' > 0' if positive else ''}, got {value!r}")


def clean_depth(depth_m: np.ndarray) -> np.ndarray:
    """Depth as float32 with every invalid value (not finite, or <= 0 after the cast) set to 0."""
    depth = np.asarray(depth_m).astype(np.float32)  # always a copy
    with np.errstate(invalid="ignore"):
        depth[~(np.isfinite(depth) & (depth > 0))] = 0.0
    return depth


def depth32(depth: np.ndarray) -> np.ndarray:
    """Depth as C-ordered float32, the contract's first cast (no copy when it already is)."""
    return np.ascontiguousarray(depth, dtype=np.float32)


def check_frame(what: str, depth_m: np.ndarray, per_joint: np.ndarray, last: int | None,
                camera: Camera, batched: bool) -> tuple[np.ndarray, np.ndarray]:
    """Check one frame ``depth (H, W)`` with ``per_joint (J, last)`` (or ``(J,)`` when ``last`` is None).

    With ``batched`` the shapes carry a leading ``B``. Returns float32 copies
    ``(clean_depth, per_joint)``.
    """
    depth, values = check_frame_shapes(what, depth_m, per_joint, last, camera, batched)
    return clean_depth(depth), values.astype(np.float32)


def check_frame_shapes(what: str, depth_m: np.ndarray, per_joint: np.ndarray, last: int | None,
                       camera: Camera, batched: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`check_frame`'s checks (same errors) without its copies: ``(depth, per_joint)`` as given, as arrays.

    For the compiled CPU path, which reads invalid depth as 0 pixel by pixel
    instead of cleaning a copy of the map.
    """
    depth = np.asarray(depth_m)
    values = np.asarray(per_joint)
    lead = 1 if batched else 0
    want_ndim = lead + (1 if last is None else 2)
    shape_ok = depth.ndim == 2 + lead and values.ndim == want_ndim and (last is None or values.shape[-1] == last)
    if not shape_ok or (batched and depth.shape[0] != values.shape[0]):
        b = "B, " if batched else ""
        tail = "" if last is None else f", {last}"
        raise RefinetError(
            f"{what} expects depth_m ({b}H, W) with ({b}J{tail}) joint values; got {depth.shape} and {values.shape}"
        )
    if depth.shape[-2:] != camera.shape:
        raise RefinetError(f"{what}: depth map shape {depth.shape[-2:]} does not match camera "
                           f"{camera.name!r} {camera.shape}")
    return depth, values
