"""The CUDA kernels on a real GPU against the CPU path, through each installed CUDA layer (marker ``gpu``).

Skipped cleanly without a GPU; on a machine with one, a layer that cannot start fails (:mod:`fixtures.gpu`).
Run with ``python -m pytest -m gpu tests/test_kernels_gpu.py`` or ``scripts/gpu_check.sh``. Tiny shapes,
except one realistic 640x480 frame.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures.gpu import no_gpu
from fixtures.kernel_scenes import RAY_REACHES, check_lifting, check_patches, check_points, scenes
from hypothesis import given, settings
from hypothesis import strategies as st

from refinet_edge.errors import RefinetError
from refinet_edge.kernels import LAYERS, installed_layers
from refinet_edge.kernels.ops import GpuPreprocessor, depth_from_raw
from refinet_edge.lifting import lift_joints_detailed
from refinet_edge.preprocess.patches import extract_patches
from refinet_edge.preprocess.points import PointConfig, sample_points

pytestmark = pytest.mark.gpu
SANITIZE = Path(__file__).parent / "fixtures" / "sanitize_kernels.py"


@pytest.fixture(scope="module", params=LAYERS)
def gpu(request: pytest.FixtureRequest):
    if request.param not in installed_layers():
        pytest.skip(f"{request.param} is not installed")
    try:
        preprocessor = GpuPreprocessor(request.param)
    except RefinetError as err:
        no_gpu(f"{request.param} cannot start: {err}")
    yield preprocessor
    preprocessor.close()


@settings(max_examples=25, deadline=None)
@given(scenes(), st.sampled_from([(1, 0), (3, 2), (9, 2)]))
def test_lifting_on_gpu(gpu: GpuPreprocessor, scene: tuple, window: tuple[int, int]) -> None:
    check_lifting(gpu, scene, window)


@settings(max_examples=25, deadline=None)
@given(scenes(), st.sampled_from(["metric", "itop_authors"]), st.sampled_from([1, 5, 17, 40]))
def test_patches_on_gpu(gpu: GpuPreprocessor, scene: tuple, mode: str, size: int) -> None:
    check_patches(gpu, scene, mode, size)


@settings(max_examples=25, deadline=None)
@given(scenes(), st.sampled_from(["metric", "authors"]), st.sampled_from(["stride", "first"]), st.integers(1, 40),
       st.integers(0, 60), st.sampled_from(RAY_REACHES))
def test_points_on_gpu(gpu: GpuPreprocessor, scene: tuple, mode: str, selection: str, num_points: int,
                       min_points: int, ray_reach: float) -> None:
    check_points(gpu, scene, mode, selection, num_points, min_points, ray_reach)


def _frame(people: int = 3) -> tuple:
    from refinet_edge.synth import generate_frame

    frames = [generate_frame(i, seed=5, camera="d435_640x480", view="side") for i in range(people)]
    camera = frames[0].camera
    raw = np.stack([np.round(f.depth_m / camera.depth_scale) for f in frames]).astype(np.uint16)
    uv = np.stack([f.uv_px for f in frames]) + np.random.default_rng(0).normal(0, 5, (people, 15, 2))
    return camera, raw, uv


def test_realistic_640x480_chain_is_bit_exact(gpu: GpuPreprocessor) -> None:
    camera, raw, uv = _frame()
    metres = depth_from_raw(raw, camera.depth_scale)
    joints, source = gpu.lift_joints(uv, raw, camera)
    ref = lift_joints_detailed(uv, metres, camera)
    np.testing.assert_array_equal(joints, ref.joints_m)
    np.testing.assert_array_equal(source, ref.depth_source)
    for got, want in zip(gpu.extract_patches(raw, uv, joints[..., 2], camera),
                         extract_patches(metres, uv, joints[..., 2], camera), strict=True):
        np.testing.assert_array_equal(got, want)
    for cfg in (PointConfig(num_points=128), PointConfig(num_points=128, ray_reach=2.0)):  # cube, shipped ray
        for got, want in zip(gpu.sample_points(raw, joints, camera, cfg), sample_points(metres, joints, camera, cfg),
                             strict=True):
            np.testing.assert_array_equal(got, want)


def test_torch_cuda_tensors_on_a_side_stream(gpu: GpuPreprocessor) -> None:
    torch = pytest.importorskip("torch")
    if torch.version.cuda is None:
        pytest.skip("torch is a CPU build")
    if not torch.cuda.is_available():
        no_gpu("torch.cuda.is_available() is False")
    camera, raw, uv = _frame(2)
    joints, source = gpu.lift_joints(uv, raw, camera)  # NumPy in and out: the reference for the tensors
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        depth_t = torch.from_numpy(raw).cuda()  # uint16 raw, as the camera delivers it
        joints_t, source_t = gpu.lift_joints(torch.from_numpy(uv).cuda(), depth_t, camera)
        patches_t, _ = gpu.extract_patches(depth_t, torch.from_numpy(uv).cuda(), joints_t[..., 2], camera)
        points_t, counts_t, _ = gpu.sample_points(depth_t, joints_t, camera)
    stream.synchronize()
    assert joints_t.is_cuda and patches_t.is_cuda and points_t.is_cuda
    np.testing.assert_array_equal(joints_t.cpu().numpy(), joints)
    np.testing.assert_array_equal(source_t.cpu().numpy(), source)
    np.testing.assert_array_equal(patches_t.cpu().numpy(), gpu.extract_patches(raw, uv, joints[..., 2], camera)[0])
    np.testing.assert_array_equal(counts_t.cpu().numpy(), gpu.sample_points(raw, joints, camera)[1])


def test_cuda_errors_become_refinet_errors(gpu: GpuPreprocessor) -> None:
    with pytest.raises(RefinetError, match="cuMemAlloc.*(CUDA_ERROR_OUT_OF_MEMORY|out of memory)"):
        gpu.layer.alloc(1 << 50)
    with pytest.raises(RefinetError, match="cuModuleLoadData"):
        gpu.layer.load_module(b"not a cubin")


@pytest.mark.parametrize("tool", ["memcheck", "racecheck", "synccheck", "initcheck"])
def test_compute_sanitizer(tool: str) -> None:
    sanitizer = shutil.which("compute-sanitizer")
    if sanitizer is None:
        pytest.skip("compute-sanitizer is not on PATH")
    if "cuda-python" not in installed_layers():
        pytest.skip("cuda-python is not installed")
    done = subprocess.run([sanitizer, "--tool", tool, "--error-exitcode", "99", sys.executable, str(SANITIZE)],
                          capture_output=True, text=True, timeout=900, check=False)
    if "no CUDA-capable device" in done.stdout + done.stderr or "CUDA_ERROR_NO_DEVICE" in done.stdout + done.stderr:
        no_gpu("compute-sanitizer found no CUDA device")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "all kernels ran and matched" in done.stdout
