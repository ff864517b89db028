"""The real ``.cu`` kernels, built for the host (tests/fixtures/cuda_host.cpp), against the NumPy references.

Runs on any machine with g++: the same kernel bodies and the same
:class:`GpuPreprocessor` argument packing as on a GPU, one CUDA block at a time
as 256 threads. Exact equality except the authors-mode float64 means
(summation order, tolerance 1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.cuda_host import HostLayer, build_host_kernels
from hypothesis import given, settings
from hypothesis import strategies as st

from refinet_edge.camera import Camera
from refinet_edge.errors import RefinetError
from refinet_edge.kernels.ops import GpuPreprocessor, depth_from_raw
from refinet_edge.lifting import lift_joints_detailed
from refinet_edge.preprocess.patches import PatchConfig, extract_patches
from refinet_edge.preprocess.points import PointConfig, sample_points


@pytest.fixture(scope="module")
def gpu(tmp_path_factory: pytest.TempPathFactory) -> GpuPreprocessor:
    library = build_host_kernels(tmp_path_factory.mktemp("cuda_host"))
    if library is None:
        pytest.skip("g++ is not on PATH: cannot build the kernels for the host")
    return GpuPreprocessor(HostLayer(library))


@st.composite
def _scenes(draw: st.DrawFn) -> tuple:
    """Frames (raw uint16 or float32 with NaN/inf/negative values), people on them, and the camera."""
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 20))
    f = draw(st.floats(5.0, 40.0))
    camera = Camera("h", width, height, f, f * draw(st.floats(0.8, 1.25)), draw(st.floats(-3, width + 3)),
                    draw(st.floats(-3, height + 3)), depth_scale=draw(st.sampled_from([0.001, 0.00025, 1.0])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    frames, people = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    frame_of = rng.integers(0, frames, people)
    base = draw(st.sampled_from([0.3, 1.0, 3.0]))
    metres = base + rng.uniform(-0.25, 0.25, (frames, height, width))
    metres[rng.random(metres.shape) < draw(st.sampled_from([0.0, 0.3, 1.0]))] = 0  # holes; all-zero maps
    if draw(st.booleans()):
        depth = np.round(metres / camera.depth_scale).clip(0, 65535).astype(np.uint16)
    else:
        depth = metres.astype(np.float32)
        depth[rng.random(depth.shape) < 0.05] = rng.choice([np.nan, np.inf, -1.0, 0.049, 0.05, 0.051])
    uv = rng.uniform(-0.3, 1.3, (people, draw(st.integers(1, 6)), 2)) * [width, height]  # in, at and off the border
    uv[rng.random(uv.shape[:2]) < 0.15] = np.nan
    uv[rng.random(uv.shape[:2]) < 0.1] = rng.choice([0.5, 1.5, -0.5, 1e9, -1e9])  # ties and huge values
    return camera, depth, frame_of, uv


def _per_person(depth: np.ndarray, frame_of: np.ndarray, camera: Camera) -> np.ndarray:
    return depth_from_raw(depth, camera.depth_scale)[frame_of]  # (B, H, W) float32 metres, as the CPU path wants


@settings(max_examples=40, deadline=None)
@given(_scenes(), st.sampled_from([(1, 0), (3, 2), (9, 1)]))
def test_lifting_kernel_equals_reference(gpu: GpuPreprocessor, scene: tuple, window: tuple[int, int]) -> None:
    camera, depth, frame_of, uv = scene
    joints, source = gpu.lift_joints(uv, depth, camera, frame_of=frame_of, window=window[0], grow_steps=window[1])
    ref = lift_joints_detailed(uv, _per_person(depth, frame_of, camera), camera, *window)
    np.testing.assert_array_equal(source, ref.depth_source)
    np.testing.assert_array_equal(joints, ref.joints_m)  # float64, bit for bit (NaN where no depth)


@settings(max_examples=40, deadline=None)
@given(_scenes(), st.sampled_from(["metric", "itop_authors"]), st.sampled_from([1, 4, 5, 17]))
def test_patch_kernels_equal_reference(gpu: GpuPreprocessor, scene: tuple, mode: str, size: int) -> None:
    camera, depth, frame_of, uv = scene
    rng = np.random.default_rng(size)
    z_ref = rng.uniform(0.2, 4.0, uv.shape[:2]).astype(np.float32)
    z_ref[rng.random(z_ref.shape) < 0.2] = rng.choice([0.0, -1.0, np.nan, np.inf, 1e-40])
    cfg = PatchConfig(mode=mode, size=size, metric_side_m=0.3)
    patches, cell_px = gpu.extract_patches(depth, uv, z_ref, camera, cfg, frame_of=frame_of)
    ref_p, ref_c = extract_patches(_per_person(depth, frame_of, camera), uv, z_ref, camera, cfg)
    np.testing.assert_array_equal(cell_px, ref_c)
    if mode == "metric":
        np.testing.assert_array_equal(patches, ref_p)
    else:  # the map mean is a float64 sum in another order
        np.testing.assert_allclose(patches, ref_p, rtol=1e-6, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(_scenes(), st.sampled_from(["metric", "authors"]), st.sampled_from(["stride", "first"]),
       st.integers(1, 40), st.integers(0, 60))
def test_point_kernel_equals_reference(gpu: GpuPreprocessor, scene: tuple, mode: str, selection: str,
                                       num_points: int, min_points: int) -> None:
    camera, depth, frame_of, uv = scene
    metres = _per_person(depth, frame_of, camera)
    joints = lift_joints_detailed(uv, metres, camera).joints_m  # NaN for missing joints
    joints[:, ::3, 2] -= 0.05  # off the surface, some behind the camera when near
    cfg = PointConfig(mode=mode, selection=selection, num_points=num_points, min_points=min_points,
                      cube_side_m=0.1, max_side_m=0.45)
    points, counts, side_m = gpu.sample_points(depth, joints, camera, cfg, frame_of=frame_of)
    ref = sample_points(metres, joints, camera, cfg)
    np.testing.assert_array_equal(counts, ref[1])
    np.testing.assert_array_equal(side_m, ref[2])
    if mode == "metric":
        np.testing.assert_array_equal(points, ref[0])
    else:  # float64 means and stds in another summation order
        np.testing.assert_allclose(points, ref[0], rtol=1e-6, atol=1e-6)


def test_realistic_frame_selects_by_stride_from_thousands(gpu: GpuPreprocessor) -> None:
    camera = Camera("vga", 160, 120, 150.0, 150.0, 79.5, 59.5, depth_scale=0.001)
    rng = np.random.default_rng(3)
    raw = rng.integers(1400, 1700, (1, 120, 160)).astype(np.uint16)
    raw[:, :, :30] = 0
    uv = np.array([[[80.0, 60.0], [20.0, 50.0], [159.6, 119.4], [np.nan, 3.0]]])
    joints, _ = gpu.lift_joints(uv, raw, camera)
    cfg = PointConfig(num_points=64)
    points, counts, side_m = gpu.sample_points(raw, joints, camera, cfg)
    ref = sample_points(depth_from_raw(raw, 0.001), joints, camera, cfg)
    assert counts[0, 0] == 64 and np.isnan(side_m[0, 3])
    for got, want in zip((points, counts, side_m), ref, strict=True):
        np.testing.assert_array_equal(got, want)


def test_people_share_a_frame_without_copies(gpu: GpuPreprocessor) -> None:
    camera = Camera("s", 12, 10, 10.0, 10.0, 5.5, 4.5, depth_scale=0.001)
    raw = np.random.default_rng(1).integers(900, 1100, (2, 10, 12)).astype(np.uint16)
    uv = np.random.default_rng(2).uniform(0, 10, (3, 4, 2))
    shared, _ = gpu.lift_joints(uv, raw, camera, frame_of=[1, 1, 0])
    copied, _ = gpu.lift_joints(uv, raw[[1, 1, 0]], camera)
    np.testing.assert_array_equal(shared, copied)


def test_kernel_input_errors_name_the_problem(gpu: GpuPreprocessor) -> None:
    camera = Camera("s", 12, 10, 10.0, 10.0, 5.5, 4.5)
    depth = np.ones((1, 10, 12), np.float32)
    uv = np.zeros((1, 2, 2))
    with pytest.raises(RefinetError, match="baracca_authors.*CPU path"):
        gpu.extract_patches(depth, uv, np.ones((1, 2)), camera, PatchConfig(mode="baracca_authors"))
    with pytest.raises(RefinetError, match="uint16 raw depth only"):
        gpu.lift_joints(uv, depth, camera, depth_scale=0.001)
    with pytest.raises(RefinetError, match="uint16 raw units or float"):
        gpu.lift_joints(uv, depth.astype(np.int32), camera)
    with pytest.raises(RefinetError, match=r"frame_of must be \(1,\)"):
        gpu.lift_joints(uv, depth, camera, frame_of=[1])
    with pytest.raises(RefinetError, match=r"\(F, H, W\)"):
        gpu.sample_points(depth[0], np.ones((1, 2, 3)), camera)
    with pytest.raises(RefinetError, match="z_ref_m"):
        gpu.extract_patches(depth, uv, None, camera)
    with pytest.raises(RefinetError, match="<= 64 joints"):
        gpu.lift_joints(np.zeros((1, 65, 2)), depth, camera)
