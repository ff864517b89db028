"""Numba twin of :func:`refinet_edge.synth.raster._kernel_numpy` (imported only when numba is installed).

One pass over the triangles, in order; per triangle its pixel box, the same
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
