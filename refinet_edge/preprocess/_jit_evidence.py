"""Stage B evidence features compiled with Numba: the twin of :func:`refinet_edge.preprocess.evidence.joint_evidence`.

Same arguments, checks and messages, bit-identical result (float64 arithmetic in the contract's order, one
float32 cast at the end; the medians are the same sort-based middle means). One loop over the joints and the
pixels of their windows, like the compiled lifting in :mod:`._jit`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..camera import Camera
from .evidence import AGREE_M, MAX_DEPTH_Z, NUM_EVIDENCE, SPREAD_FLOOR_M, check_evidence_inputs
from .evidence import joint_evidence as _evidence_numpy


@njit(cache=True)
def _median(values, n):  # pragma: no cover - compiled
    ordered = values[:n].copy()
    ordered.sort()
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2.0


@njit(cache=True)
def _evidence_core(uv, depth, z, score, half, agree_m, floor_m, max_z, out):  # pragma: no cover - compiled
    batch, num_joints = uv.shape[0], uv.shape[1]
    height, width = depth.shape[1], depth.shape[2]
    values = np.empty(num_joints, np.float64)
    for b in range(batch):
        n = 0
        for j in range(num_joints):
            if np.isfinite(z[b, j]):
                values[n] = z[b, j]
                n += 1
        m, spread = np.nan, np.nan
        if n > 0:
            m = _median(values, n)
            k = 0
            for j in range(num_joints):
                if np.isfinite(z[b, j]):
                    values[k] = abs(z[b, j] - m)
                    k += 1
            spread = max(1.4826 * _median(values, n), floor_m)
        for j in range(num_joints):
            u, v = uv[b, j, 0], uv[b, j, 1]
            if not (np.isfinite(u) and np.isfinite(v)):
                for a in range(4):
                    out[b, j, a] = np.float32(0.0)
                continue
            col = np.int64(min(max(np.rint(u), 0.0), width - 1.0))
            row = np.int64(min(max(np.rint(v), 0.0), height - 1.0))
            zj = z[b, j]
            total, valid, agree = 0, 0, 0
            for r in range(max(row - half, 0), min(row + half, height - 1) + 1):
                for c in range(max(col - half, 0), min(col + half, width - 1) + 1):
                    total += 1
                    d = np.float64(depth[b, r, c])
                    if np.isfinite(d) and d > 0.0:
                        valid += 1
                        if abs(d - zj) <= agree_m:
                            agree += 1
            dz = 0.0
            if np.isfinite(zj) and n > 0:
                dz = min(max((zj - m) / spread, -max_z), max_z)
            s = score[b, j]
            s = min(max(s, 0.0), 1.0) if np.isfinite(s) else 0.0
            out[b, j, 0] = np.float32(dz)
            out[b, j, 1] = np.float32(valid / total)
            out[b, j, 2] = np.float32(agree / total)
            out[b, j, 3] = np.float32(s)


def joint_evidence(uv_px: np.ndarray, depth_m: np.ndarray, joints_m: np.ndarray, scores: np.ndarray | None,
                   camera: Camera, window: int = 9) -> np.ndarray:
    """:func:`refinet_edge.preprocess.evidence.joint_evidence`, compiled (same result)."""
    uv, depth, z, score = check_evidence_inputs(uv_px, depth_m, joints_m, scores, camera, window)
    if depth.dtype.kind not in "biuf":
        return _evidence_numpy(uv_px, depth_m, joints_m, scores, camera, window)
    if depth.dtype != np.float32 and depth.dtype != np.float64:
        depth = depth.astype(np.float64)  # exact for these kinds, as NumPy's reads
    out = np.empty(uv.shape[:2] + (NUM_EVIDENCE,), dtype=np.float32)
    _evidence_core(np.ascontiguousarray(uv), np.ascontiguousarray(depth), np.ascontiguousarray(z),
                   np.ascontiguousarray(score), int(window) // 2, AGREE_M, SPREAD_FLOOR_M, MAX_DEPTH_Z, out)
    return out
