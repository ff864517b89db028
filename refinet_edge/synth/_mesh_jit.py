"""Numba twins of the mesh loops (imported only when numba is installed): skinning, vertex normals and
the rasteriser, whose NumPy reference is :func:`refinet_edge.synth.raster._kernel_numpy`.

The rasteriser makes one pass over the triangles, in order; per triangle its pixel box, the same
edge functions, barycentrics and perspective-correct depth as the NumPy
reference, and a strict ``<`` depth test (ties keep the earlier triangle).
Compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def raster_kernel(uv: np.ndarray, z: np.ndarray, faces: np.ndarray, width: int, height: int, near_m: float,
                  depth: np.ndarray, index: np.ndarray) -> None:  # pragma: no cover - compiled
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        za, zb, zc = z[a], z[b], z[c]
        if not (za > near_m and zb > near_m and zc > near_m):
            continue
        ua, va, ub, vb, uc, vc = uv[a, 0], uv[a, 1], uv[b, 0], uv[b, 1], uv[c, 0], uv[c, 1]
        area = (ub - ua) * (vc - va) - (vb - va) * (uc - ua)
        if not abs(area) > 1e-12:
            continue
        u0 = max(math.ceil(min(ua, ub, uc)), 0)
        u1 = min(math.floor(max(ua, ub, uc)), width - 1)
        v0 = max(math.ceil(min(va, vb, vc)), 0)
        v1 = min(math.floor(max(va, vb, vc)), height - 1)
        for pv in range(v0, v1 + 1):
            for pu in range(u0, u1 + 1):
                w0 = ((uc - ub) * (pv - vb) - (vc - vb) * (pu - ub)) / area
                w1 = ((ua - uc) * (pv - vc) - (va - vc) * (pu - uc)) / area
                w2 = ((ub - ua) * (pv - va) - (vb - va) * (pu - ua)) / area
                if w0 >= 0 and w1 >= 0 and w2 >= 0:
                    zz = 1.0 / (w0 / za + w1 / zb + w2 / zc)
                    k = pv * width + pu
                    if zz < depth[k]:
                        depth[k] = zz
                        index[k] = f


@njit(cache=True)
def skin_kernel(rest: np.ndarray, weights: np.ndarray, bones: np.ndarray, transforms: np.ndarray,
                out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Linear blend skinning: ``out[v] = sum_k w[v,k] T[bone[v,k]]`` applied to ``rest[v]``; T rows: R (9), t (3)."""
    blend = np.empty(12)
    for v in range(rest.shape[0]):
        blend[:] = 0.0
        for k in range(weights.shape[1]):
            w = weights[v, k]
            if w > 0:
                b = bones[v, k]
                for i in range(12):
                    blend[i] += w * transforms[b, i]
        x, y, z = rest[v, 0], rest[v, 1], rest[v, 2]
        for i in range(3):
            out[v, i] = blend[3 * i] * x + blend[3 * i + 1] * y + blend[3 * i + 2] * z + blend[9 + i]


@njit(cache=True)
def face_normal_sum_kernel(vertices: np.ndarray, faces: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out[v]`` = the sum of the (area-weighted) normals of the faces around vertex ``v``."""
    out[:] = 0.0
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        x1, y1, z1 = vertices[b, 0] - vertices[a, 0], vertices[b, 1] - vertices[a, 1], vertices[b, 2] - vertices[a, 2]
        x2, y2, z2 = vertices[c, 0] - vertices[a, 0], vertices[c, 1] - vertices[a, 1], vertices[c, 2] - vertices[a, 2]
        n0 = y1 * z2 - z1 * y2
        n1 = z1 * x2 - x1 * z2
        n2 = x1 * y2 - y1 * x2
        for k in range(3):
            v = faces[f, k]
            out[v, 0] += n0
            out[v, 1] += n1
            out[v, 2] += n2
