"""Z-buffer rasterisation of camera-frame triangle meshes into a depth map and a label map.

Conventions match :mod:`.render` (the analytic ray caster), so the two combine
pixel by pixel: pixel ``(u, v)`` samples its centre at integer ``(u, v)``;
a camera-frame point ``(x, y, z)`` projects to ``u = fx x / z + cx``,
``v = fy y / z + cy``; depth is z in metres (inf where nothing is hit).

A pixel is covered by a triangle when its centre lies inside or on the
triangle's screen-space edges (either winding: both sides are drawn). Depth
inside a triangle is interpolated perspective-correctly (1/z is linear in
screen space). Triangles with a vertex closer than :data:`.geometry.NEAR_M`
are skipped (people stand metres from the camera). Ties keep the earlier
triangle.

:func:`rasterise` uses the Numba kernel (the ``jit`` extra) when ``numba``
imports, else :func:`rasterise_numpy`, the reference: the same arithmetic,
vectorised over triangles binned by their pixel-box size.
"""

from __future__ import annotations

import numpy as np

from ..camera import Camera
from .geometry import NEAR_M
from .mesh_kernels import kernels_for

_BIN_SIZES_PX = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def _project(vertices_m: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    z = vertices_m[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = camera.fx * vertices_m[:, 0] / z + camera.cx
        v = camera.fy * vertices_m[:, 1] / z + camera.cy
    return np.stack([u, v], axis=1), z


def _kernel_numpy(uv: np.ndarray, z: np.ndarray, faces: np.ndarray, width: int, height: int,
                  depth: np.ndarray, index: np.ndarray) -> None:
    """Write the nearest triangle per pixel into ``depth (H*W,)`` and ``index (H*W,)`` (NumPy)."""
    zf = z[faces]  # (F, 3)
    ok = np.all(zf > NEAR_M, axis=1)
    p = uv[faces]  # (F, 3, 2)
    area = ((p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1])
            - (p[:, 1, 1] - p[:, 0, 1]) * (p[:, 2, 0] - p[:, 0, 0]))
    ok &= np.abs(area) > 1e-12
    u0 = np.maximum(np.ceil(p[..., 0].min(axis=1)), 0)
    u1 = np.minimum(np.floor(p[..., 0].max(axis=1)), width - 1)
    v0 = np.maximum(np.ceil(p[..., 1].min(axis=1)), 0)
    v1 = np.minimum(np.floor(p[..., 1].max(axis=1)), height - 1)
    ok &= (u0 <= u1) & (v0 <= v1)
    size = np.maximum(u1 - u0, v1 - v0) + 1
    all_pix, all_z, all_tri = [], [], []
    lower = 0
    for s in _BIN_SIZES_PX:
        sel = np.flatnonzero(ok & (size > lower) & (size <= s))
        lower = s
        if sel.size == 0:
            continue
        du, dv = np.meshgrid(np.arange(s), np.arange(s))
        pu = u0[sel, None] + du.ravel()[None, :]  # (n, s*s)
        pv = v0[sel, None] + dv.ravel()[None, :]
        inside = (pu <= u1[sel, None]) & (pv <= v1[sel, None])
        q = p[sel]
        e0 = ((q[:, 2, 0] - q[:, 1, 0])[:, None] * (pv - q[:, 1, 1][:, None])
              - (q[:, 2, 1] - q[:, 1, 1])[:, None] * (pu - q[:, 1, 0][:, None]))
        e1 = ((q[:, 0, 0] - q[:, 2, 0])[:, None] * (pv - q[:, 2, 1][:, None])
              - (q[:, 0, 1] - q[:, 2, 1])[:, None] * (pu - q[:, 2, 0][:, None]))
        e2 = ((q[:, 1, 0] - q[:, 0, 0])[:, None] * (pv - q[:, 0, 1][:, None])
              - (q[:, 1, 1] - q[:, 0, 1])[:, None] * (pu - q[:, 0, 0][:, None]))
        a = area[sel, None]
        w0, w1, w2 = e0 / a, e1 / a, e2 / a
        inside &= (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        zq = zf[sel]
        inv_z = w0 / zq[:, 0, None] + w1 / zq[:, 1, None] + w2 / zq[:, 2, None]
        rows, cols = np.nonzero(inside)
        all_pix.append((pv[rows, cols] * width + pu[rows, cols]).astype(np.int64))
        all_z.append(1.0 / inv_z[rows, cols])
        all_tri.append(sel[rows])
    if not all_pix:
        return
    pix, zs, tri = np.concatenate(all_pix), np.concatenate(all_z), np.concatenate(all_tri)
    order = np.lexsort((tri, zs, pix))  # per pixel: nearest, then earliest triangle
    pix, zs, tri = pix[order], zs[order], tri[order]
    first = np.ones(pix.size, bool)
    first[1:] = pix[1:] != pix[:-1]
    closer = zs[first] < depth[pix[first]]
    depth[pix[first][closer]] = zs[first][closer]
    index[pix[first][closer]] = tri[first][closer]


def rasterise(vertices_m: np.ndarray, faces: np.ndarray, camera: Camera,
              use_numba: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffer the camera-frame mesh.

    Args:
        vertices_m: ``(V, 3)`` camera frame, metres.
        faces: ``(F, 3)`` vertex indices.
        use_numba: None = when numba imports; False = the NumPy reference.

    Returns:
        ``depth_m (H, W) float64`` (inf where no triangle) and ``triangle (H, W) int64``
        (index of the visible triangle, -1 where none).
    """
    assert vertices_m.ndim == 2 and vertices_m.shape[1] == 3, vertices_m.shape
    assert faces.ndim == 2 and faces.shape[1] == 3, faces.shape
    uv, z = _project(np.asarray(vertices_m, np.float64), camera)
    depth = np.full(camera.height * camera.width, np.inf)
    index = np.full(camera.height * camera.width, -1, dtype=np.int64)
    kernels = kernels_for(use_numba, "rasterise")
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if kernels is not None:
        kernels.raster(uv, z, faces, camera.width, camera.height, NEAR_M, depth, index)
    else:
        _kernel_numpy(uv, z, faces, camera.width, camera.height, depth, index)
    return depth.reshape(camera.shape), index.reshape(camera.shape)


def rasterise_labels(vertices_m: np.ndarray, faces: np.ndarray, face_labels: np.ndarray, camera: Camera,
                     use_numba: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rasterise`, with each pixel's triangle replaced by ``face_labels (F,)`` -> ``labels int16``
    (-1 where no triangle)."""
    depth, index = rasterise(vertices_m, faces, camera, use_numba)
    labels = np.where(index >= 0, np.asarray(face_labels, np.int16)[np.maximum(index, 0)], -1)
    return depth, labels.astype(np.int16)
