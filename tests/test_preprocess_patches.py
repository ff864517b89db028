"""Stage A patches: hand-made depth maps, the authors' recipe, and reference == batch == torch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refinet_edge.camera import Camera, camera_preset
from refinet_edge.errors import RefinetError
from refinet_edge.preprocess.patches import (
    PatchConfig,
    extract_patches,
    extract_patches_reference,
    extract_patches_torch,
)

try:
    import torch
except ImportError:  # torch is optional: the NumPy contract is tested without it
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

ITOP = camera_preset("itop_side")
METRIC = PatchConfig()
ITOP_AUTHORS = PatchConfig(mode="itop_authors")


def _one(depth: np.ndarray, uv: np.ndarray, z: np.ndarray | None, camera: Camera = ITOP,
         cfg: PatchConfig = METRIC) -> tuple[np.ndarray, np.ndarray]:
    """Reference and batch must agree; return the reference's result."""
    patches, cell_px = extract_patches_reference(depth, uv, z, camera, cfg)
    batch_p, batch_c = extract_patches(depth[None], uv[None], None if z is None else z[None], camera, cfg)
    np.testing.assert_array_equal(batch_p[0], patches)
    np.testing.assert_array_equal(batch_c[0], cell_px)
    assert patches.dtype == cell_px.dtype == np.float32
    return patches, cell_px


def test_plane_at_joint_depth_is_zero_and_cell_px_is_metric() -> None:
    uv = np.array([[160.0, 120.0], [40.3, 200.8], [280.0, 100.0]])  # patches +-33 px: inside
    z = np.array([2.0, 2.0, 2.0])
    patches, cell_px = _one(np.full((240, 320), 2.0), uv, z)
    assert patches.shape == (3, 40, 40)
    assert np.all(patches == 0)
    np.testing.assert_allclose(cell_px, np.full((3, 2), 0.45 * ITOP.fx / (2.0 * 40)), rtol=1e-6)


def test_step_edge_lands_in_known_cells() -> None:
    depth = np.full((240, 320), 2.0)
    depth[:, 160:] = 2.25  # columns >= 160 are 25 cm behind
    patches, cell_px = _one(depth, np.array([[160.0, 120.0]]), np.array([2.0]))
    # cell k samples u = 160 + (k - 19.5) * 1.607: k <= 19 -> column <= 159, k >= 20 -> column >= 161
    assert cell_px[0, 0] == pytest.approx(1.607, abs=1e-3)
    assert np.all(patches[0, :, :20] == 0)
    assert np.all(patches[0, :, 20:] == np.float32(0.25) / np.float32(0.5))


def test_cells_outside_the_image_and_holes_are_plus_one() -> None:
    depth = np.full((240, 320), 2.0)
    depth[130:, :] = 0.0  # a hole: rows >= 130 are missing
    uv, z = np.array([[5.0, 120.0]]), np.array([2.0])
    patches, cell_px = _one(depth, uv, z)
    offsets = (np.arange(40) + 0.5 - 20) * cell_px[0, 0]
    cols, rows = np.rint(5.0 + offsets), np.rint(120.0 + offsets)
    assert np.min(np.abs(5.0 + offsets + 0.5)) > 0.1  # no sample near a rounding boundary,
    assert np.min(np.abs(120.0 + offsets - 129.5)) > 0.1  # so float64 gives the same pixels
    expected = np.where((cols[None, :] < 0) | (rows[:, None] >= 130), 1.0, 0.0)
    assert 0 < np.sum(cols < 0) < 40
    np.testing.assert_array_equal(patches[0], expected)


def test_far_and_near_depths_clip_to_plus_minus_one() -> None:
    depth = np.full((240, 320), 9.0)
    depth[:120] = 0.5
    patches, _ = _one(depth, np.array([[160.0, 120.0]]), np.array([2.0]))
    assert set(np.unique(patches)) == {-1.0, 1.0}


@needs_torch
def test_rint_rounds_half_to_even_everywhere() -> None:
    cam = Camera("tiny", 8, 3, 4.0, 4.0, 3.0, 1.0)
    cfg = PatchConfig(size=2, metric_side_m=0.5, depth_range_m=100.0)  # cell = 0.5 * 4 / (1 * 2) = 1 px
    depth = np.tile(1.0 + np.arange(8.0), (3, 1))  # column c holds 1 + c
    uv, z = np.array([[3.0, 1.0]]), np.array([1.0])
    patches, cell_px = _one(depth, uv, z, cam, cfg)
    assert np.all(cell_px == 1.0)
    # samples at u = 2.5 and 3.5 -> columns 2 and 4 (half to even), not 3 and 4
    np.testing.assert_array_equal(patches[0, 0], (np.float32([3.0, 5.0]) - 1) / np.float32(100))
    torch_p, _ = extract_patches_torch(torch.tensor(depth[None]), torch.tensor(uv[None]), torch.tensor(z[None]),
                                       cam.fx, cam.fy, cfg)
    np.testing.assert_array_equal(torch_p[0].numpy(), patches)


def _scene(camera: Camera, joint_tan: tuple[float, float], z_ref: float, cell_m: float) -> np.ndarray:
    """Depth around a joint at ``z_ref``: steps that fall midway between patch cells (metric, per pixel centre)."""
    v, u = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
    lat_u = ((u - camera.cx) / camera.fx - joint_tan[0]) * z_ref  # metres from the joint, at its depth
    lat_v = ((v - camera.cy) / camera.fy - joint_tan[1]) * z_ref
    depth = np.full(camera.shape, z_ref)
    depth += np.where(lat_u > 2 * cell_m, 0.2, 0.0) + np.where(lat_v < -3 * cell_m, -0.1, 0.0)
    depth[(lat_u < -3 * cell_m) & (lat_v > 2 * cell_m)] = 0.0  # a hole
    return depth


def test_same_metric_patch_at_double_resolution() -> None:
    big = ITOP.resized(640, 480)
    z, cell_m = 2.0, 0.45 / 40
    uv_small = np.array([[160.0, 120.0]])
    uv_big = (uv_small + 0.5) * 2 - 0.5  # the same ray
    small_p, small_c = _one(_scene(ITOP, (0.0, 0.0), z, cell_m), uv_small, np.array([z]))
    big_p, big_c = _one(_scene(big, (0.0, 0.0), z, cell_m), uv_big, np.array([z]), big)
    assert len(np.unique(small_p)) == 5  # the steps and the hole are in the patch
    np.testing.assert_array_equal(big_p, small_p)
    np.testing.assert_allclose(big_c, 2 * small_c, rtol=1e-6)


def test_same_metric_patch_at_twice_the_distance() -> None:
    cfg = PatchConfig(size=10)
    cell_m, joint_tan = 0.45 / 10, (0.05, -0.02)
    results = []
    for z in (2.0, 4.0):
        uv = np.array([[ITOP.cx + ITOP.fx * joint_tan[0], ITOP.cy + ITOP.fy * joint_tan[1]]])
        results.append(_one(_scene(ITOP, joint_tan, z, cell_m), uv, np.array([z]), cfg=cfg))
    (near_p, near_c), (far_p, far_c) = results
    assert len(np.unique(near_p)) == 5
    np.testing.assert_allclose(far_p, near_p, rtol=0, atol=1e-5)  # float32(4.2) - 4 vs float32(2.2) - 2
    np.testing.assert_allclose(far_c, near_c / 2, rtol=1e-6)


def _authors_recipe(depth: np.ndarray, u: float, v: float) -> np.ndarray:
    """The RefiNet authors' ITOP patch, transcribed (valid for joints 20 px inside the image)."""
    x, y = int(u), int(v)
    patch = depth[y - 20 : y + 20, x - 20 : x + 20].astype(np.float64)
    patch[patch == 0] = np.mean(depth)
    return (patch - 3.5930) / 0.4917


def test_itop_authors_matches_the_authors_recipe() -> None:
    rng = np.random.default_rng(3)
    depth = rng.uniform(2.0, 5.0, (240, 320)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.3] = 0
    uv = np.array([[150.7, 100.2], [60.0, 200.9], [279.99, 21.5]])
    patches, cell_px = _one(depth, uv, None, cfg=ITOP_AUTHORS)
    for j, (u, v) in enumerate(uv):
        np.testing.assert_allclose(patches[j], _authors_recipe(depth, u, v), rtol=0, atol=1e-5)
    assert np.all(cell_px == 1.0)


def test_itop_authors_border_reads_zero_then_map_mean() -> None:
    depth = np.full((240, 320), 3.0, dtype=np.float32)
    depth[:, :100] = 4.0
    uv = np.array([[5.9, -0.5]])  # trunc -> column 5, row 0 (towards zero)
    patches, _ = _one(depth, uv, None, cfg=ITOP_AUTHORS)
    mean = np.float32(np.mean(depth.astype(np.float64)))
    norm = [(np.float32(x) - np.float32(3.5930)) / np.float32(0.4917) for x in (4.0, mean)]
    expected = np.full((40, 40), norm[1], dtype=np.float32)  # cols -15..-1 and rows -20..-1 are outside
    expected[20:, 15:] = norm[0]
    np.testing.assert_array_equal(patches[0], expected)


def test_baracca_authors_standardises_each_patch() -> None:
    cam = Camera("tiny", 6, 6, 5.0, 5.0, 2.5, 2.5)
    cfg = PatchConfig(mode="baracca_authors", size=4)
    depth = np.zeros((6, 6))
    depth[1:3, 1:3] = [[1.0, 2.0], [3.0, 0.0]]
    uv = np.array([[2.0, 2.0], [1.0, 1.0], [5.0, 5.0], [np.nan, 1.0]])  # window rows/cols 0..3, -1..2, 3..6
    patches, cell_px = _one(depth, uv, None, cam, cfg)
    values = np.array([1.0, 2.0, 3.0])
    mean, std = np.float32(values.mean()), np.float32(values.std())
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[1:3, 1:3] = (np.float32([[1, 2], [3, mean]]) - mean) / std
    np.testing.assert_array_equal(patches[0], expected)
    np.testing.assert_array_equal(patches[1][2:, 2:], expected[1:3, 1:3])
    np.testing.assert_array_equal(patches[2], 0)  # no non-zero pixel: mean 0, std 1
    np.testing.assert_array_equal(patches[3], 0)  # missing joint
    assert np.isnan(cell_px[3]).all() and np.all(cell_px[:3] == 1)


def test_baracca_constant_patch_has_std_one() -> None:
    cam = Camera("tiny", 6, 6, 5.0, 5.0, 2.5, 2.5)
    patches, _ = _one(np.full((6, 6), 2.0), np.array([[2.0, 2.0]]), None, cam, PatchConfig("baracca_authors", 4))
    np.testing.assert_array_equal(patches, 0)


@pytest.mark.parametrize("uv, z", [((np.nan, 3.0), 2.0), ((10.0, np.inf), 2.0), ((10.0, 10.0), 0.0),
                                   ((10.0, 10.0), -1.0), ((10.0, 10.0), np.nan)])
def test_missing_joints(uv: tuple[float, float], z: float) -> None:
    depth = np.full((240, 320), 2.0)
    uv_arr, z_arr = np.array([uv, (50.0, 50.0)]), np.array([z, 2.0])
    patches, cell_px = _one(depth, uv_arr, z_arr)
    assert np.all(patches[0] == 1) and np.isnan(cell_px[0]).all()
    assert np.all(patches[1] == 0) and np.isfinite(cell_px[1]).all()
    authors, authors_cell = _one(depth, uv_arr, z_arr, cfg=ITOP_AUTHORS)
    if np.isfinite(uv).all():
        assert np.isfinite(authors_cell[0]).all()  # the authors' modes ignore z_ref
    else:
        np.testing.assert_array_equal(authors[0], (np.float32(2.0) - np.float32(3.593)) / np.float32(0.4917))
        assert np.isnan(authors_cell[0]).all()


def test_config_and_input_errors_name_the_problem() -> None:
    with pytest.raises(RefinetError, match=r"PatchConfig.mode .*did you mean 'metric'"):
        PatchConfig(mode="metrc")
    for field, value in [("size", 0), ("size", 4.0), ("metric_side_m", -0.1), ("depth_range_m", float("nan")),
                         ("itop_std", 0.0), ("itop_mean", float("inf"))]:
        with pytest.raises(RefinetError, match=f"PatchConfig.{field}"):
            PatchConfig(**{field: value})
    depth = np.zeros((240, 320))
    with pytest.raises(RefinetError, match="does not match camera"):
        extract_patches_reference(np.zeros((10, 10)), np.zeros((15, 2)), np.ones(15), ITOP)
    with pytest.raises(RefinetError, match="expects depth_m"):
        extract_patches(depth, np.zeros((15, 2)), np.ones(15), ITOP)
    with pytest.raises(RefinetError, match="z_ref_m must have shape"):
        extract_patches_reference(depth, np.zeros((15, 2)), np.ones(14), ITOP)
    with pytest.raises(RefinetError, match="need z_ref_m"):
        extract_patches_reference(depth, np.zeros((15, 2)), None, ITOP)
    if torch is not None:
        with pytest.raises(RefinetError, match="supports modes metric, itop_authors"):
                extract_patches_torch(torch.zeros(1, 4, 4), torch.zeros(1, 2, 2), None, None, None,
                                  PatchConfig(mode="baracca_authors"))


def test_synthetic_frames_with_lifted_depth() -> None:
    from refinet_edge.lifting import lift_joints
    from refinet_edge.synth.generator import generate_frame

    frames = [generate_frame(i, seed=5) for i in range(2)]
    depth, uv = np.stack([f.depth_m for f in frames]), np.stack([f.uv_px for f in frames])
    z_ref = lift_joints(uv, depth, ITOP)[0][..., 2]
    patches, cell_px = extract_patches(depth, uv, z_ref, ITOP)
    centre = patches[..., 19:21, 19:21]  # the 2x2 cells around the joint: mostly on the lifted surface
    assert np.mean(np.abs(centre) < 0.2) > 0.5
    for b in range(2):
        ref_p, ref_c = extract_patches_reference(depth[b], uv[b], z_ref[b], ITOP)
        np.testing.assert_array_equal(patches[b], ref_p)
        np.testing.assert_array_equal(cell_px[b], ref_c)
    if torch is not None:
        torch_p, _ = extract_patches_torch(torch.from_numpy(depth), torch.from_numpy(uv), torch.from_numpy(z_ref),
                                           ITOP.fx, ITOP.fy)
        np.testing.assert_array_equal(torch_p.numpy(), patches)


# ---------------------------------------------------------------- reference == batch == torch


@st.composite
def _frames(draw: st.DrawFn) -> tuple[Camera, np.ndarray, np.ndarray, np.ndarray, PatchConfig]:
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    f = draw(st.floats(2.0, 60.0))
    camera = Camera("h", width, height, f, f * draw(st.floats(0.8, 1.25)), draw(st.floats(-2, width + 2)),
                    draw(st.floats(-2, height + 2)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch, joints = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    depth = rng.uniform(0.2, 6.0, (batch, height, width))
    depth[rng.random(depth.shape) < draw(st.sampled_from([0.0, 0.3, 1.0]))] = 0  # holes; all-zero maps
    depth[rng.random(depth.shape) < 0.05] = draw(st.sampled_from([np.nan, np.inf, -1.0]))
    kind = rng.integers(0, 5, (batch, joints, 2))
    uv = np.select([kind == 0, kind == 1, kind == 2, kind == 3],
                   [rng.uniform(-30, 60, kind.shape), rng.integers(-3, 30, kind.shape),
                    rng.integers(-3, 30, kind.shape) + 0.5, np.full(kind.shape, np.nan)],
                   rng.uniform(-1e7, 1e7, kind.shape))
    z = np.where(rng.random((batch, joints)) < 0.8, rng.uniform(0.3, 6.0, (batch, joints)),
                 rng.choice([0.0, -1.0, np.nan, np.inf, 1e-30, 1e-40], (batch, joints)))
    cfg = PatchConfig(mode=draw(st.sampled_from(["metric", "itop_authors", "baracca_authors"])),
                      size=draw(st.sampled_from([1, 2, 3, 5, 8])), metric_side_m=draw(st.floats(0.05, 1.0)),
                      depth_range_m=draw(st.floats(0.1, 1.0)))
    return camera, depth, uv, z, cfg


@settings(max_examples=150, deadline=None)
@given(_frames())
def test_reference_batch_and_torch_agree(frame: tuple) -> None:
    camera, depth, uv, z, cfg = frame
    patches, cell_px = extract_patches(depth, uv, z, camera, cfg)
    assert patches.shape == uv.shape[:2] + (cfg.size, cfg.size) and cell_px.shape == uv.shape
    exact = cfg.mode == "metric"  # the authors' float64 means may differ in summation order
    for b in range(len(depth)):
        ref_p, ref_c = extract_patches_reference(depth[b], uv[b], z[b], camera, cfg)
        if exact:
            np.testing.assert_array_equal(patches[b], ref_p)
        else:
            np.testing.assert_allclose(patches[b], ref_p, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(cell_px[b], ref_c)
    if cfg.mode == "baracca_authors" or torch is None:
        return
    torch_p, torch_c = extract_patches_torch(torch.from_numpy(depth), torch.from_numpy(uv), torch.from_numpy(z),
                                             camera.fx, camera.fy, cfg)
    assert torch_p.dtype == torch_c.dtype == torch.float32
    np.testing.assert_allclose(torch_p.numpy(), patches, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(torch_c.numpy(), cell_px)


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["metric", "itop_authors"])
def test_torch_on_cuda_matches_numpy(mode: str) -> None:
    if torch is None or torch.version.cuda is None:
        pytest.skip("torch is not installed or a CPU build")
    if not torch.cuda.is_available():
        from fixtures.gpu import no_gpu

        no_gpu("torch.cuda.is_available() is False")
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 5.0, (4, 240, 320)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = 0
    uv = rng.uniform(-40, 360, (4, 15, 2))
    uv[0, 3] = np.nan
    z = rng.uniform(0.5, 5.0, (4, 15))
    cfg = PatchConfig(mode=mode)
    patches, cell_px = extract_patches(depth, uv, z, ITOP, cfg)
    dev = torch.device("cuda")
    torch_p, torch_c = extract_patches_torch(torch.from_numpy(depth).to(dev), torch.from_numpy(uv).to(dev),
                                             torch.from_numpy(z).to(dev), ITOP.fx, ITOP.fy, cfg)
    np.testing.assert_allclose(torch_p.cpu().numpy(), patches, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(torch_c.cpu().numpy(), cell_px)
