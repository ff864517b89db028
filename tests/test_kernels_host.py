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
from fixtures.kernel_scenes import RAY_REACHES, check_lifting, check_patches, check_points, scenes
from hypothesis import given, settings
from hypothesis import strategies as st

from refinet_edge.camera import Camera
from refinet_edge.errors import RefinetError
from refinet_edge.kernels.ops import GpuPreprocessor, depth_from_raw
from refinet_edge.preprocess.patches import PatchConfig
from refinet_edge.preprocess.points import PointConfig, sample_points


@pytest.fixture(scope="module")
def gpu(tmp_path_factory: pytest.TempPathFactory) -> GpuPreprocessor:
    library = build_host_kernels(tmp_path_factory.mktemp("cuda_host"))
    if library is None:
        pytest.skip("g++ is not on PATH: cannot build the kernels for the host")
    return GpuPreprocessor(HostLayer(library))


@settings(max_examples=40, deadline=None)
@given(scenes(), st.sampled_from([(1, 0), (3, 2), (9, 1)]))
def test_lifting_kernel_equals_reference(gpu: GpuPreprocessor, scene: tuple, window: tuple[int, int]) -> None:
    check_lifting(gpu, scene, window)


@settings(max_examples=40, deadline=None)
@given(scenes(), st.sampled_from(["metric", "itop_authors"]), st.sampled_from([1, 4, 5, 17]))
def test_patch_kernels_equal_reference(gpu: GpuPreprocessor, scene: tuple, mode: str, size: int) -> None:
    check_patches(gpu, scene, mode, size)


@settings(max_examples=30, deadline=None)
@given(scenes(), st.sampled_from(["metric", "authors"]), st.sampled_from(["stride", "first"]),
       st.integers(1, 40), st.integers(0, 60), st.sampled_from(RAY_REACHES))
def test_point_kernel_equals_reference(gpu: GpuPreprocessor, scene: tuple, mode: str, selection: str,
                                       num_points: int, min_points: int, ray_reach: float) -> None:
    check_points(gpu, scene, mode, selection, num_points, min_points, ray_reach)


def test_point_kernel_ray_region_reaches_a_joint_20cm_too_far(gpu: GpuPreprocessor) -> None:
    """Rule 4b on the kernel: a hand (10 cm square at 2.0 m) in front of a wall at 3.5 m; its joint put 20 cm too
    far along its camera ray gets the hand's points with R = 2 and none with the cube (R = 1)."""
    camera = Camera("ray", 160, 120, 120.0, 120.0, 80.0, 60.0, depth_scale=0.001)
    raw = np.full((1, *camera.shape), 3500, np.uint16)
    u, v = camera.project(np.array([0.45, -0.25, 2.0]))
    half_px = 0.05 * camera.fx / 2.0
    raw[0, int(v - half_px):int(v + half_px) + 1, int(u - half_px):int(u + half_px) + 1] = 2000
    true_joint = np.array([0.45, -0.25, 2.04])
    joints = np.stack([true_joint, true_joint * (2.04 + 0.20) / 2.04])[None]  # the same ray, 20 cm deeper
    metres = depth_from_raw(raw, camera.depth_scale)
    assert np.count_nonzero(raw == 2000) == 49
    for reach, misplaced_count in ((1.0, 0), (2.0, 49)):  # R = 2: every pixel of the hand, none of the wall
        cfg = PointConfig(ray_reach=reach)
        points, counts, side_m = gpu.sample_points(raw, joints, camera, cfg)
        assert counts[0, 0] > 0 and counts[0, 1] == misplaced_count
        for got, want in zip((points, counts, side_m), sample_points(metres, joints, camera, cfg), strict=True):
            np.testing.assert_array_equal(got, want)
    hand = points[0, 1, :49] * (side_m[0, 1] / 2)  # metres from the misplaced joint (R = 2)
    assert np.all((hand[:, 2] > -0.26) & (hand[:, 2] < -0.22))  # the hand, 24 cm in front along z


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


def test_pipeline_on_the_kernels_gives_the_cpu_numbers(gpu: GpuPreprocessor) -> None:
    from refinet_edge.pipeline import PipelineConfig, RefinementPipeline
    from refinet_edge.preprocess.steps import CudaSteps

    camera = Camera("p", 64, 48, 50.0, 50.0, 31.5, 23.5)
    rng = np.random.default_rng(4)
    depth = (rng.uniform(1.9, 2.1, (2, 48, 64)) * (rng.random((2, 48, 64)) > 0.2)).astype(np.float32)
    uv = rng.uniform(-2, 66, (2, 15, 2))
    uv[1, 4] = np.nan
    runners = {"patch": lambda p: np.stack([p.mean(axis=(2, 3)), p[..., 0, 0]], axis=-1) * 0.1,
               "pointcloud": lambda pts, counts: pts.mean(axis=2) * 0.1}
    # Stage C as the shipped weights sample it (pointcloud.safetensors: two passes, ray_reach 2), on the kernel.
    cfg = PipelineConfig(points=PointConfig(num_points=32, passes=2, ray_reach=2.0), patch=PatchConfig(size=8))
    steps = CudaSteps(gpu)
    steps._cpu.points = lambda *args: pytest.fail("the ray region fell back to the CPU path")
    on_gpu = RefinementPipeline(runners, cfg, preprocess=steps)
    on_cpu = RefinementPipeline(runners, cfg, preprocess="cpu")
    launched = len(gpu.layer.launches)
    got, want = on_gpu.run(depth, uv, camera), on_cpu.run(depth, uv, camera)
    assert [name for name, _, _ in gpu.layer.launches[launched:]].count("sample_points_f32") == 2  # one per pass
    assert on_gpu.preprocess == "cuda" and on_cpu.preprocess == "cpu"
    assert list(got.steps) == ["input", "patch", "pointcloud"]
    for step in got.steps:
        np.testing.assert_array_equal(got.steps[step], want.steps[step])
    np.testing.assert_array_equal(got.valid, want.valid)
