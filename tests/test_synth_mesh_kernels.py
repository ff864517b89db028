"""One cached look-up of the compiled mesh kernels, and the NumPy fallback when numba cannot be used."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from refinet_edge.camera import camera_preset
from refinet_edge.synth import mesh_kernels as mk
from refinet_edge.synth.clothing import vertex_normals
from refinet_edge.synth.raster import rasterise

CAM = camera_preset("itop_side")
VERTS = np.array([[-0.3, -0.3, 2.0], [0.3, -0.3, 2.0], [0.0, 0.3, 2.2]])
FACES = np.array([[0, 1, 2]])


@pytest.fixture
def no_mesh_jit(monkeypatch):
    """Make ``import ._mesh_jit`` fail, as it does without numba; the cache is cleared before and after."""
    mk.mesh_kernels.cache_clear()
    monkeypatch.setitem(sys.modules, "refinet_edge.synth._mesh_jit", None)
    yield
    mk.mesh_kernels.cache_clear()


def test_the_kernels_are_looked_up_once_per_process():
    pytest.importorskip("numba")
    mk.mesh_kernels.cache_clear()
    first = mk.mesh_kernels()
    assert first is not None and mk.mesh_kernels() is first
    assert mk.mesh_kernels.cache_info().misses == 1


def test_without_numba_the_mesh_steps_fall_back_to_numpy_and_use_numba_true_says_why(no_mesh_jit):
    assert mk.mesh_kernels() is None
    depth, index = rasterise(VERTS, FACES, CAM)
    ref_depth, ref_index = rasterise(VERTS, FACES, CAM, use_numba=False)
    np.testing.assert_array_equal(depth, ref_depth)
    np.testing.assert_array_equal(index, ref_index)
    assert (index == 0).any()
    np.testing.assert_array_equal(vertex_normals(VERTS, FACES), vertex_normals(VERTS, FACES, use_numba=False))
    with pytest.raises(ImportError, match="needs numba"):
        rasterise(VERTS, FACES, CAM, use_numba=True)
    with pytest.raises(ImportError, match="needs numba"):
        vertex_normals(VERTS, FACES, use_numba=True)


def test_a_kernel_build_that_fails_at_run_time_falls_back_to_numpy(monkeypatch):
    mk.mesh_kernels.cache_clear()
    monkeypatch.delitem(sys.modules, "refinet_edge.synth._mesh_jit", raising=False)
    import builtins

    real_import = builtins.__import__

    def failing_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 1 and name == "_mesh_jit":
            raise RuntimeError("cannot cache function: no locator available")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    try:
        assert mk.mesh_kernels() is None
    finally:
        monkeypatch.undo()
        mk.mesh_kernels.cache_clear()
