"""Stage A input: one depth patch per 2D joint. The reference contract for the CUDA kernel.

Shapes and units
----------------
=============  ===================  ==============================================
name           shape                meaning
=============  ===================  ==============================================
``depth_m``    (H, W) / (B, H, W)   metres along z; 0 = missing
``uv_px``      (J, 2) / (B, J, 2)   (u = column, v = row); integers = pixel centres
``z_ref_m``    (J,) / (B, J)        the joint's lifted depth, e.g.
                                    ``lift_joints(uv_px, depth_m, camera)[0][..., 2]``
``patches``    (J, S, S) / (B, ..)  float32; row = v, column = u
``cell_px``    (J, 2) / (B, J, 2)   float32 image pixels per patch cell (u, v)
=============  ===================  ==============================================

S = ``PatchConfig.size``. Stage A predicts 2D offsets in patch cells; times
``cell_px`` they are pixels.

Common rules (every mode, every implementation)
-----------------------------------------------
1. **float32 first.** ``depth_m``, ``uv_px``, ``z_ref_m`` and the camera's
   ``fx``, ``fy`` are converted to float32 before anything else, and every step
   below is one IEEE float32 operation, correctly rounded, in the order written
   (no fused multiply-add: CUDA code uses ``__fmul_rn``/``__fadd_rn`` or
   ``-fmad=false``). A depth value that is not finite or is <= 0 after the cast
   is *missing* and reads as 0.
2. **Missing joint.** A joint whose u or v is not finite (metric mode also:
   ``z_ref`` not finite or <= 0) gets ``cell_px = (NaN, NaN)`` and the mode's
   missing-joint patch (below); the pipeline marks it invalid.
3. Pixel indices are compared as floats *before* they are converted to
   integers, so huge coordinates never overflow; NaN compares false (outside).

Mode ``"metric"`` (default; independent of camera resolution and distance)
---------------------------------------------------------------------------
The patch covers ``metric_side_m`` (0.45 m) at the joint's depth::

    cell_u = (side * fx) / (z_ref * S)         # float32: mul, mul, div
    cell_v = (side * fy) / (z_ref * S)
    off_k  = (2k + 1 - S) / 2                  # k = 0..S-1, exact half-integers
    u_k    = u + off_k * cell_u                # mul, then add
    col_k  = rint(u_k)                         # nearest pixel, ties to even
    row_k  = rint(v + off_k * cell_v)

``rint`` rounds half to even (NumPy ``rint``, torch ``round``, CUDA
``rintf``). Sampling is nearest-neighbour, never bilinear, so a depth edge
never blends into a "flying pixel". Cell (r, c) reads ``d = depth[row_r, col_c]``
and holds ``clip((d - z_ref) / depth_range_m, -1, 1)`` (sub, div, clip); a cell whose pixel is
outside the image (``col < 0 or col > W - 1``, same for rows) or missing holds
+1 (like far background). ``cell_px = (cell_u, cell_v)``, i.e.
``metric_side_m * f / (z_ref * S)``. Missing joint: every cell +1.

Mode ``"itop_authors"`` (reproduces the paper on ITOP, 320x240)
---------------------------------------------------------------
Window rows ``trunc(v) - S//2 .. trunc(v) - S//2 + S - 1`` and columns likewise
with u (``trunc`` = the authors' ``int()``, towards zero, so -0.5 -> 0; S = 40
gives int(v)-20 .. int(v)+19). Before the integer conversion ``trunc`` is
clamped to ``[-S, max(H, W) + S]``, which changes nothing (such a window is
entirely outside) but avoids overflow. Cells outside the image read 0 (the
authors sliced NumPy arrays, where a negative start wraps around and a window
at the right or bottom border came out short and shifted: bugs we do not
copy). Every 0 is then replaced by the mean of the whole (cleaned) depth map,
zeros included: accumulated in float64 in any order (a CUDA kernel: one
double-precision reduction per frame), rounded once to float32 (the authors'
float16 maps gave a float16 mean: up to 1 mm different). Then
``(x - itop_mean) / itop_std``. ``cell_px = (1, 1)``. Missing joint: every
cell is the map mean, normalised. ``z_ref_m`` is unused (may be None).

Mode ``"baracca_authors"``
--------------------------
Same window and out-of-image zeros. Per patch: mean and population std of its
non-zero cells (float64, two-pass, rounded to float32; std 0 -> 1; no non-zero
cell -> mean 0, std 1), every 0 replaced by the mean, then
``(x - mean) / std``. ``cell_px = (1, 1)``; missing joint: all cells 0.
No torch version.

Implementations: :func:`extract_patches_reference` (one frame, plain loops),
:func:`extract_patches` (batched NumPy) and :func:`extract_patches_torch`
(batched torch gather, CPU or CUDA; modes ``metric`` and ``itop_authors``).
They agree exactly, except that the float64 means may differ in the last
float32 bit where summation order decides a tie (tolerance 1e-6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..camera import Camera
from ..errors import RefinetError
from ._common import F32, check_choice, check_frame, check_int, check_real

if TYPE_CHECKING:
    import torch

PATCH_MODES = ("metric", "itop_authors", "baracca_authors")
TORCH_PATCH_MODES = ("metric", "itop_authors")


@dataclass(frozen=True)
class PatchConfig:
    """How stage A patches are cut (see the module docstring for the exact rule)."""

    mode: str = "metric"  # "metric" | "itop_authors" | "baracca_authors"
    size: int = 40  # S: patch side in cells (the authors' patch_dim)
    metric_side_m: float = 0.45  # metric: window side in metres at the joint's depth
    depth_range_m: float = 0.5  # metric: depth difference that maps to +-1
    itop_mean: float = 3.5930  # itop_authors: normalisation mean (m)
    itop_std: float = 0.4917  # itop_authors: normalisation std (m)

    def __post_init__(self) -> None:
        check_choice("PatchConfig", "mode", self.mode, PATCH_MODES)
        check_int("PatchConfig", "size", self.size, 1)
        for field in ("metric_side_m", "depth_range_m", "itop_std"):
            check_real("PatchConfig", field, getattr(self, field))
        check_real("PatchConfig", "itop_mean", self.itop_mean, positive=False)


def cell_offsets(size: int) -> np.ndarray:
    """``off_k = (2k + 1 - S) / 2`` for k = 0..S-1, float32 ``(S,)`` (exact)."""
    return ((2 * np.arange(size) + 1 - size) / 2).astype(np.float32)


# ---------------------------------------------------------------- reference


def extract_patches_reference(depth_m: np.ndarray, uv_px: np.ndarray, z_ref_m: np.ndarray | None,
                              camera: Camera, cfg: PatchConfig = PatchConfig()) -> tuple[np.ndarray, np.ndarray]:
    """One frame, plain loops: ``depth_m (H, W)``, ``uv_px (J, 2)``, ``z_ref_m (J,)`` -> patches, cell_px.

    Returns ``patches (J, S, S)`` and ``cell_px (J, 2)``, float32 (module rule).
    ``z_ref_m`` may be None in the authors' modes.
    """
    depth, uv = check_frame("extract_patches_reference", depth_m, uv_px, 2, camera, batched=False)
    z_ref = _check_z_ref(z_ref_m, uv.shape[:-1], cfg)
    num_joints, size = uv.shape[0], cfg.size
    patches = np.zeros((num_joints, size, size), dtype=np.float32)
    cell_px = np.full((num_joints, 2), np.nan, dtype=np.float32)
    map_mean = F32(np.mean(depth.astype(np.float64)))
    for j in range(num_joints):
        u, v = uv[j, 0], uv[j, 1]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            if cfg.mode == "metric":
                patches[j], cell = _metric_patch_reference(depth, u, v, z_ref[j], camera, cfg)
            else:
                patches[j], cell = _authors_patch_reference(depth, u, v, map_mean, cfg)
        cell_px[j] = cell
    return patches, cell_px


def _metric_patch_reference(depth: np.ndarray, u: np.float32, v: np.float32, z: np.float32,
                            camera: Camera, cfg: PatchConfig) -> tuple[np.ndarray, tuple[float, float]]:
    size = cfg.size
    patch = np.ones((size, size), dtype=np.float32)
    if not (np.isfinite(u) and np.isfinite(v) and np.isfinite(z) and z > 0):
        return patch, (np.nan, np.nan)
    side, rng, s = F32(cfg.metric_side_m), F32(cfg.depth_range_m), F32(size)
    cell_u = (side * F32(camera.fx)) / (z * s)
    cell_v = (side * F32(camera.fy)) / (z * s)
    height, width = depth.shape
    for r in range(size):
        off_r = F32((2 * r + 1 - size) / 2)
        row = np.rint(v + off_r * cell_v)
        for c in range(size):
            off_c = F32((2 * c + 1 - size) / 2)
            col = np.rint(u + off_c * cell_u)
            if not (0 <= row <= height - 1 and 0 <= col <= width - 1):
                continue
            d = depth[int(row), int(col)]
            if d > 0:
                patch[r, c] = min(max((d - z) / rng, F32(-1)), F32(1))
    return patch, (float(cell_u), float(cell_v))  # float32 values, exactly


def _authors_patch_reference(depth: np.ndarray, u: np.float32, v: np.float32, map_mean: np.float32,
                             cfg: PatchConfig) -> tuple[np.ndarray, tuple[float, float]]:
    size = cfg.size
    window = np.zeros((size, size), dtype=np.float32)  # out-of-image cells stay 0
    valid = bool(np.isfinite(u) and np.isfinite(v))
    if valid:
        height, width = depth.shape
        row0 = int(np.trunc(v)) - size // 2
        col0 = int(np.trunc(u)) - size // 2
        for r in range(size):
            for c in range(size):
                if 0 <= row0 + r < height and 0 <= col0 + c < width:
                    window[r, c] = depth[row0 + r, col0 + c]
    cell = (1.0, 1.0) if valid else (np.nan, np.nan)
    if cfg.mode == "itop_authors":
        mean, std = map_mean, F32(cfg.itop_std)
        window[window == 0] = mean
        return (window - F32(cfg.itop_mean)) / std, cell
    nonzero = window[window != 0].astype(np.float64)
    mean64 = float(np.mean(nonzero)) if nonzero.size else 0.0
    std64 = float(np.std(nonzero)) if nonzero.size else 1.0
    mean, std = F32(mean64), F32(std64 if std64 != 0 else 1.0)
    window[window == 0] = mean
    return (window - mean) / std, cell


def _check_z_ref(z_ref_m: np.ndarray | None, shape: tuple[int, ...], cfg: PatchConfig) -> np.ndarray:
    if z_ref_m is None:
        if cfg.mode == "metric":
            raise RefinetError("metric patches need z_ref_m (the joints' lifted depth); got None")
        return np.ones(shape, dtype=np.float32)
    z_ref = np.asarray(z_ref_m)
    if z_ref.shape != shape:
        raise RefinetError(f"z_ref_m must have shape {shape} (one depth per joint), got {z_ref.shape}")
    return z_ref.astype(np.float32)


# ---------------------------------------------------------------- batched NumPy


def extract_patches(depth_m: np.ndarray, uv_px: np.ndarray, z_ref_m: np.ndarray | None, camera: Camera,
                    cfg: PatchConfig = PatchConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Batched, vectorised: ``depth_m (B, H, W)``, ``uv_px (B, J, 2)``, ``z_ref_m (B, J)``.

    Returns ``patches (B, J, S, S)`` and ``cell_px (B, J, 2)``, float32, equal
    to :func:`extract_patches_reference` frame by frame.
    """
    depth, uv = check_frame("extract_patches", depth_m, uv_px, 2, camera, batched=True)
    z_ref = _check_z_ref(z_ref_m, uv.shape[:-1], cfg)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if cfg.mode == "metric":
            return _metric_batch(depth, uv, z_ref, camera, cfg)
        return _authors_batch(depth, uv, cfg)


def _metric_batch(depth: np.ndarray, uv: np.ndarray, z_ref: np.ndarray, camera: Camera,
                  cfg: PatchConfig) -> tuple[np.ndarray, np.ndarray]:
    height, width = depth.shape[1:]
    valid = np.isfinite(uv).all(axis=-1) & np.isfinite(z_ref) & (z_ref > 0)  # (B, J)
    z = np.where(valid, z_ref, F32(1))
    side, s = F32(cfg.metric_side_m), F32(cfg.size)
    cell = np.stack([(side * F32(camera.fx)) / (z * s), (side * F32(camera.fy)) / (z * s)], axis=-1)  # (B, J, 2)
    centre = np.where(valid[..., None], uv, F32(0))
    samples = np.rint(centre[..., None] + cell_offsets(cfg.size) * cell[..., None])  # (B, J, 2, S) u then v
    cols, col_ok = _index(samples[:, :, 0], width)
    rows, row_ok = _index(samples[:, :, 1], height)
    b = np.arange(depth.shape[0])[:, None, None, None]
    d = depth[b, rows[..., :, None], cols[..., None, :]]  # (B, J, S, S)
    ok = row_ok[..., :, None] & col_ok[..., None, :] & (d > 0) & valid[..., None, None]
    value = np.clip((d - z[..., None, None]) / F32(cfg.depth_range_m), F32(-1), F32(1))
    patches = np.where(ok, value, F32(1)).astype(np.float32)
    cell_px = np.where(valid[..., None], cell, F32(np.nan)).astype(np.float32)
    return patches, cell_px


def _index(pixels: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Float pixel indices -> (int indices clamped for gathering, inside-the-image mask)."""
    inside = (pixels >= 0) & (pixels <= limit - 1)  # NaN -> False
    return np.where(inside, pixels, 0).astype(np.intp), inside


def _authors_batch(depth: np.ndarray, uv: np.ndarray, cfg: PatchConfig) -> tuple[np.ndarray, np.ndarray]:
    batch, height, width = depth.shape
    size = cfg.size
    valid = np.isfinite(uv).all(axis=-1)  # (B, J)
    start = np.clip(np.trunc(np.where(valid[..., None], uv, F32(0))), -size, max(height, width) + size)
    start = start.astype(np.int64) - size // 2  # (B, J, 2): clamp only avoids overflow
    steps = np.arange(size)
    cols, rows = start[..., 0, None] + steps, start[..., 1, None] + steps  # (B, J, S)
    col_ok, row_ok = (cols >= 0) & (cols < width), (rows >= 0) & (rows < height)
    b = np.arange(batch)[:, None, None, None]
    window = depth[b, np.clip(rows, 0, height - 1)[..., :, None], np.clip(cols, 0, width - 1)[..., None, :]]
    inside = row_ok[..., :, None] & col_ok[..., None, :] & valid[..., None, None]
    window = np.where(inside, window, F32(0))  # (B, J, S, S)
    cell_px = np.where(valid[..., None], F32(1), F32(np.nan)) * np.ones(2, dtype=np.float32)
    if cfg.mode == "itop_authors":
        map_mean = depth.astype(np.float64).mean(axis=(1, 2)).astype(np.float32)
        filled = np.where(window == 0, map_mean[:, None, None, None], window)
        return ((filled - F32(cfg.itop_mean)) / F32(cfg.itop_std)).astype(np.float32), cell_px
    nonzero = window != 0
    count = nonzero.sum(axis=(2, 3))
    values = window.astype(np.float64)
    mean64 = np.where(count > 0, values.sum(axis=(2, 3)) / np.maximum(count, 1), 0.0)
    var64 = np.sum(np.where(nonzero, values - mean64[..., None, None], 0.0) ** 2, axis=(2, 3)) / np.maximum(count, 1)
    std64 = np.where((count > 0) & (var64 > 0), np.sqrt(var64), 1.0)
    mean, std = mean64.astype(np.float32)[..., None, None], std64.astype(np.float32)[..., None, None]
    return ((np.where(nonzero, window, mean) - mean) / std).astype(np.float32), cell_px


# ---------------------------------------------------------------- batched torch


def extract_patches_torch(depth: torch.Tensor, uv: torch.Tensor, z_ref: torch.Tensor | None, fx: float | None,
                          fy: float | None, cfg: PatchConfig = PatchConfig()) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch twin of :func:`extract_patches`: tensors on any one device, no loop over the batch.

    Args:
        depth: ``(B, H, W)`` depth in metres (any float dtype; 0 = missing).
        uv: ``(B, J, 2)`` pixels; z_ref: ``(B, J)`` metres (None in ``itop_authors``).
        fx, fy: focal lengths in px (None in ``itop_authors``).
        cfg: ``mode`` must be ``metric`` or ``itop_authors``.

    Returns:
        ``(patches (B, J, S, S), cell_px (B, J, 2))`` float32 tensors on ``depth``'s device.
    """
    from ._patches_torch import extract_patches_torch as impl

    return impl(depth, uv, z_ref, fx, fy, cfg)
