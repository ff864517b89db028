"""Stage A patches compiled with Numba: the twin of :func:`refinet_edge.preprocess.patches.extract_patches`
(the contract, and its per-joint loop ``extract_patches_reference``; :mod:`._patches_torch` is the torch twin).

Modes ``metric`` and ``itop_authors`` are compiled (same checks and messages, bit-identical result, float32 one
operation at a time; the ``itop_authors`` map mean is NumPy's own pairwise sum); ``baracca_authors`` runs the NumPy
function. See :mod:`._jit` for how bit-exactness and compilation work.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from ..camera import Camera
from ._common import F32, check_frame_shapes, clean_depth, depth32
from .patches import PatchConfig, _check_z_ref, cell_offsets
from .patches import extract_patches as _patches_numpy

JIT_PATCH_MODES = ("metric", "itop_authors")

_PATCH_DEFAULTS = PatchConfig()


@njit(cache=True)
def _patch_axis(centre, cell, offsets, limit, index, inside):  # pragma: no cover - compiled
    """``rint(centre + off_k * cell)`` per k (float32): int index (0 when outside) and the inside flag."""
    for k in range(offsets.shape[0]):
        p = np.rint(centre + offsets[k] * cell)
        ok = p >= 0 and p <= limit - 1  # compared as floats: NaN and huge values are outside
        inside[k] = ok
        index[k] = np.uint64(p) if ok else 0


@njit(cache=True)
def _metric_core(depth, uv, z_ref, offsets, side, fx, fy, size_f, depth_range, patches,
                 cell_px):  # pragma: no cover - compiled
    batch, num_joints = uv.shape[0], uv.shape[1]
    height, width = depth.shape[1], depth.shape[2]
    size = offsets.shape[0]
    one, minus_one, nan = np.float32(1.0), np.float32(-1.0), np.float32(np.nan)
    rows = np.empty(size, np.uint64)  # unsigned: indexing with them needs no wraparound check
    cols = np.empty(size, np.uint64)
    row_ok = np.empty(size, np.bool_)
    col_ok = np.empty(size, np.bool_)
    for b in range(batch):
        for j in range(num_joints):
            u, v, z = uv[b, j, 0], uv[b, j, 1], z_ref[b, j]
            if not (np.isfinite(u) and np.isfinite(v) and np.isfinite(z) and z > 0):
                patches[b, j] = one
                cell_px[b, j, 0] = nan
                cell_px[b, j, 1] = nan
                continue
            cell_u = (side * fx) / (z * size_f)
            cell_v = (side * fy) / (z * size_f)
            _patch_axis(u, cell_u, offsets, width, cols, col_ok)
            _patch_axis(v, cell_v, offsets, height, rows, row_ok)
            for r in range(size):
                out = patches[b, j, r]
                if not row_ok[r]:
                    out[:] = one
                    continue
                line = depth[b, rows[r]]
                for c in range(size):
                    value = one
                    if col_ok[c]:
                        d = line[cols[c]]
                        if d > 0 and np.isfinite(d):
                            value = min(max((d - z) / depth_range, minus_one), one)
                    out[c] = value
            cell_px[b, j, 0] = cell_u
            cell_px[b, j, 1] = cell_v


@njit(cache=True)
def _itop_core(depth, uv, map_mean, itop_mean, itop_std, patches, cell_px):  # pragma: no cover - compiled
    batch, num_joints = uv.shape[0], uv.shape[1]
    height, width = depth.shape[1], depth.shape[2]
    size = patches.shape[2]
    lo, hi = np.float32(-size), np.float32(max(height, width) + size)
    one, nan = np.float32(1.0), np.float32(np.nan)
    for b in range(batch):
        mean = map_mean[b]
        for j in range(num_joints):
            u, v = uv[b, j, 0], uv[b, j, 1]
            valid = np.isfinite(u) and np.isfinite(v)
            row0 = col0 = 0
            if valid:  # trunc, clamped before the int conversion (no overflow)
                row0 = np.int64(min(max(np.trunc(v), lo), hi)) - size // 2
                col0 = np.int64(min(max(np.trunc(u), lo), hi)) - size // 2
            for r in range(size):
                row = row0 + r
                for c in range(size):
                    col = col0 + c
                    x = np.float32(0.0)
                    if valid and 0 <= row < height and 0 <= col < width:
                        d = depth[b, row, col]
                        if d > 0 and np.isfinite(d):
                            x = d
                    if x == 0:
                        x = mean
                    patches[b, j, r, c] = (x - itop_mean) / itop_std
            cell_px[b, j, 0] = one if valid else nan
            cell_px[b, j, 1] = one if valid else nan


def extract_patches(depth_m: np.ndarray, uv_px: np.ndarray, z_ref_m: np.ndarray | None, camera: Camera,
                    cfg: PatchConfig = _PATCH_DEFAULTS) -> tuple[np.ndarray, np.ndarray]:
    """:func:`refinet_edge.preprocess.patches.extract_patches`, compiled (``baracca_authors`` runs NumPy)."""
    if cfg.mode not in JIT_PATCH_MODES:
        return _patches_numpy(depth_m, uv_px, z_ref_m, camera, cfg)
    depth, uv = check_frame_shapes("extract_patches", depth_m, uv_px, 2, camera, batched=True)
    z_ref = _check_z_ref(z_ref_m, uv.shape[:-1], cfg)
    uv = np.ascontiguousarray(uv, dtype=np.float32)
    size = cfg.size
    patches = np.empty(uv.shape[:2] + (size, size), dtype=np.float32)
    cell_px = np.empty(uv.shape[:2] + (2,), dtype=np.float32)
    if cfg.mode == "metric":
        _metric_core(depth32(depth), uv, np.ascontiguousarray(z_ref), _offsets(size), F32(cfg.metric_side_m),
                     F32(camera.fx), F32(camera.fy), F32(size), F32(cfg.depth_range_m), patches, cell_px)
    else:
        clean = clean_depth(depth)
        map_mean = clean.astype(np.float64).mean(axis=(1, 2)).astype(np.float32)  # NumPy's own pairwise sum
        _itop_core(clean, uv, map_mean, F32(cfg.itop_mean), F32(cfg.itop_std), patches, cell_px)
    return patches, cell_px


@functools.lru_cache(maxsize=16)
def _offsets(size: int) -> np.ndarray:
    out = cell_offsets(size)
    out.flags.writeable = False
    return out
