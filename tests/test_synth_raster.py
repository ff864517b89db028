"""The triangle rasteriser: against hand-built triangles, analytic planes and its NumPy reference."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from refinet_edge.camera import camera_preset
from refinet_edge.synth.geometry import Plane
from refinet_edge.synth.raster import rasterise, rasterise_labels
from refinet_edge.synth.render import ray_grid

CAM = camera_preset("itop_side")
BACKENDS = [False] + ([True] if importlib.util.find_spec("numba") else [])


def _deproject(uv: np.ndarray, z_m: float) -> np.ndarray:
    return np.stack([(uv[:, 0] - CAM.cx) * z_m / CAM.fx, (uv[:, 1] - CAM.cy) * z_m / CAM.fy,
                     np.full(len(uv), z_m)], axis=1)


def _inside(uv: np.ndarray) -> np.ndarray:
    """Pixel centres inside the 2D triangle ``uv (3, 2)``, by a half-plane test written out by hand."""
    v, u = np.mgrid[0:CAM.height, 0:CAM.width].astype(float)
    signs = []
    for a, b in ((0, 1), (1, 2), (2, 0)):
        signs.append((uv[b, 0] - uv[a, 0]) * (v - uv[a, 1]) - (uv[b, 1] - uv[a, 1]) * (u - uv[a, 0]))
    s = np.stack(signs)
    return np.all(s >= 0, axis=0) | np.all(s <= 0, axis=0)


@pytest.mark.parametrize("use_numba", BACKENDS)
def test_a_fronto_parallel_triangle_covers_its_pixels_at_its_depth(use_numba):
    uv = np.array([[40.3, 30.7], [210.2, 60.1], [90.6, 200.4]])
    depth, index = rasterise(_deproject(uv, 2.5), np.array([[0, 1, 2]]), CAM, use_numba=use_numba)
    expected = _inside(uv)
    assert expected.sum() > 1000
    np.testing.assert_array_equal(index >= 0, expected)
    np.testing.assert_allclose(depth[expected], 2.5, rtol=1e-12)
    assert np.all(np.isinf(depth[~expected]))


@pytest.mark.parametrize("use_numba", BACKENDS)
def test_a_tilted_triangle_has_the_depth_of_its_plane(use_numba):
    verts = np.array([[-0.6, -0.5, 2.0], [0.7, -0.3, 3.5], [0.1, 0.6, 2.6]])
    depth, index = rasterise(verts, np.array([[0, 2, 1]]), CAM, use_numba=use_numba)  # either winding
    normal = np.cross(verts[1] - verts[0], verts[2] - verts[0])
    normal /= np.linalg.norm(normal)
    dx, dy, dd = ray_grid(CAM)
    plane_depth = Plane(normal, float(normal @ verts[0]), 0).ray_depth(dx, dy, dd)
    hit = index >= 0
    assert hit.sum() > 1000
    np.testing.assert_allclose(depth[hit], plane_depth[hit], rtol=1e-9)


@pytest.mark.parametrize("use_numba", BACKENDS)
def test_the_nearer_triangle_wins_whatever_the_order(use_numba):
    uv = np.array([[50.0, 50.0], [250.0, 60.0], [120.0, 220.0]])
    verts = np.concatenate([_deproject(uv, 3.0), _deproject(uv + 5.0, 2.0)])
    for faces, near_face in (([[0, 1, 2], [3, 4, 5]], 1), ([[3, 4, 5], [0, 1, 2]], 0)):
        depth, labels = rasterise_labels(verts, np.array(faces), np.array([7, 9]) if near_face else
                                         np.array([9, 7]), CAM, use_numba=use_numba)
        both = _inside(uv) & _inside(uv + 5.0)
        assert np.all(depth[both] == pytest.approx(2.0)) and np.all(labels[both] == 9)


@pytest.mark.skipif(len(BACKENDS) < 2, reason="numba not installed (the jit extra)")
def test_numba_kernel_matches_the_numpy_reference_on_a_random_mesh():
    rng = np.random.default_rng(0)
    centres = rng.uniform([-1.0, -0.8, 1.5], [1.0, 0.8, 4.0], (400, 3))
    verts = (centres[:, None, :] + rng.normal(0, 0.15, (400, 3, 3))).reshape(-1, 3)
    faces = np.arange(1200).reshape(400, 3)
    d_ref, i_ref = rasterise(verts, faces, CAM, use_numba=False)
    d_jit, i_jit = rasterise(verts, faces, CAM, use_numba=True)
    assert (i_ref >= 0).mean() > 0.3
    np.testing.assert_array_equal(i_jit, i_ref)
    np.testing.assert_array_equal(d_jit, d_ref)
