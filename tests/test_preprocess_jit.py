"""The Numba-compiled CPU path (:mod:`refinet_edge.preprocess._jit`) equals the NumPy contracts bit for bit."""

from __future__ import annotations

import logging
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

from fixtures.kernel_scenes import per_person, scenes  # noqa: E402

from refinet_edge.camera import Camera, camera_preset  # noqa: E402
from refinet_edge.errors import RefinetError  # noqa: E402
from refinet_edge.lifting import lift_joints_detailed  # noqa: E402
from refinet_edge.pipeline import RefinementPipeline  # noqa: E402
from refinet_edge.preprocess import _jit, _jit_codec, _jit_patches, steps  # noqa: E402
from refinet_edge.preprocess.patches import PatchConfig, extract_patches  # noqa: E402
from refinet_edge.preprocess.points import PointConfig, sample_points  # noqa: E402
from refinet_edge.synth import generate_frame  # noqa: E402

TINY = Camera("tiny", 11, 9, 10.0, 10.0, 5.0, 4.0)
POINT_CONFIGS = [PointConfig(mode=m, selection=s, num_points=n, min_points=mp, cube_side_m=c, max_side_m=0.45)
                 for m in ("metric", "authors") for s in ("stride", "first")
                 for n, mp, c in ((7, 3, 0.1), (64, 40, 0.3), (1, 0, 0.45))]
PATCH_CONFIGS = [PatchConfig(mode="metric", size=s, metric_side_m=side) for s, side in ((40, 0.45), (7, 0.3))] + \
                [PatchConfig(mode="itop_authors", size=s) for s in (40, 5)]


@pytest.fixture(scope="module", autouse=True)
def compiled() -> None:
    """Compile (or load from Numba's cache) every kernel once for the module, on float32 inputs."""
    depth = np.full((1, *TINY.shape), 1.0, np.float32)
    uv = np.full((1, 2, 2), 4.0)
    joints = _jit.lift_joints(uv, depth, TINY)[0]
    _jit.extract_patches(depth, uv, joints[..., 2], TINY)
    _jit.extract_patches(depth, uv, None, TINY, PatchConfig(mode="itop_authors"))
    _jit.sample_points(depth, joints, TINY)


def assert_same(got, expected) -> None:
    got, expected = tuple(got), tuple(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_array_equal(g, e)  # NaN in the same places


def check_lift(uv, depth, camera, window: int = 9, grow_steps: int = 2) -> None:
    got = _jit.lift_joints_detailed(uv, depth, camera, window, grow_steps)
    ref = lift_joints_detailed(uv, depth, camera, window, grow_steps)
    assert_same((got.joints_m, got.depth_source), (ref.joints_m, ref.depth_source))


def check_patches(depth, uv, z_ref, camera, cfg: PatchConfig) -> None:
    assert_same(_jit.extract_patches(depth, uv, z_ref, camera, cfg), extract_patches(depth, uv, z_ref, camera, cfg))


def check_points(depth, joints, camera, cfg: PointConfig) -> None:
    assert_same(_jit.sample_points(depth, joints, camera, cfg), sample_points(depth, joints, camera, cfg))


# ---------------------------------------------------------------- randomised scenes


@settings(max_examples=60, deadline=None)
@given(scenes(), st.sampled_from([(9, 2), (3, 1), (1, 0), (5, 3)]))
def test_lifting_on_random_scenes(scene: tuple, window: tuple[int, int]) -> None:
    camera, depth, frame_of, uv = scene
    check_lift(uv, per_person(depth, frame_of, camera), camera, *window)
    check_lift(uv, depth[frame_of], camera, *window)  # raw uint16 or float32 with NaN/inf/negative values
    check_lift(uv[0], per_person(depth, frame_of, camera)[0].astype(np.float64), camera, *window)  # unbatched


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # z_ref 1e39 -> inf in float32, as intended
@settings(max_examples=60, deadline=None)
@given(scenes(), st.sampled_from(PATCH_CONFIGS), st.integers(0, 2**32 - 1))
def test_patches_on_random_scenes(scene: tuple, cfg: PatchConfig, seed: int) -> None:
    camera, depth, frame_of, uv = scene
    rng = np.random.default_rng(seed)
    z_ref = rng.uniform(0.2, 4.0, uv.shape[:2])
    z_ref[rng.random(z_ref.shape) < 0.2] = rng.choice([0.0, -1.0, np.nan, np.inf, 1e-40, 1e39])
    check_patches(per_person(depth, frame_of, camera), uv, z_ref, camera, cfg)
    check_patches(depth[frame_of], uv, z_ref, camera, cfg)  # raw values: cast to float32 first, as NumPy


@settings(max_examples=60, deadline=None)
@given(scenes(), st.sampled_from(POINT_CONFIGS))
def test_points_on_random_scenes(scene: tuple, cfg: PointConfig) -> None:
    camera, depth, frame_of, uv = scene
    metres = per_person(depth, frame_of, camera)
    joints = lift_joints_detailed(uv, metres, camera).joints_m
    joints[:, ::3, 2] -= 0.05  # off the surface, some behind the camera when near
    check_points(metres, joints, camera, cfg)
    check_points(depth[frame_of].astype(np.float64), joints, camera, cfg)


@pytest.mark.parametrize("preset", ["itop_side", "d435_640x480", "baracca"])
def test_synthetic_frames_every_mode(preset: str) -> None:
    """Realistic people (1-4 m, sensor noise and holes), batch 1 and batch 3, noisy 2D joints."""
    frames = [generate_frame(i, seed=7, camera=preset, view="side") for i in range(3)]
    camera = frames[0].camera
    rng = np.random.default_rng(1)
    depth = np.stack([f.depth_m for f in frames]).astype(np.float32)
    uv = np.stack([f.uv_px for f in frames]) + rng.normal(0.0, 5.0, (3, 15, 2))
    uv[1, 4] = np.nan
    uv[2, 0] = (-30.0, camera.height + 12.0)  # outside the image
    for batch in (slice(0, 1), slice(0, 3)):
        d, u = depth[batch], uv[batch]
        check_lift(u, d, camera)
        joints = lift_joints_detailed(u, d, camera).joints_m
        for cfg in (PatchConfig(), PatchConfig(mode="itop_authors")):
            check_patches(d, u, joints[..., 2], camera, cfg)
        for mode in ("metric", "authors"):
            for selection in ("stride", "first"):
                for n in (128, 2000):  # most cubes hold more than 128 points, few more than 2000
                    check_points(d, joints, camera, PointConfig(mode=mode, selection=selection, num_points=n))


# ---------------------------------------------------------------- hand-made corner cases


def test_lifting_growth_person_median_and_no_depth() -> None:
    depth = np.zeros((3, *TINY.shape), np.float32)
    depth[0, 0, 0] = 2.0  # one far-away pixel: the first window misses it, a grown one finds it
    depth[1, 4, 5] = 1.5  # one joint lifts from its window, the others take the person median
    uv = np.array([[[10.0, 8.0], [0.0, 0.0]], [[5.0, 4.0], [-1e9, 1e9]], [[5.0, 4.0], [np.nan, 1.0]]])
    check_lift(uv, depth, TINY, window=3, grow_steps=1)
    check_lift(uv, depth, TINY, window=3, grow_steps=3)
    got = _jit.lift_joints_detailed(uv, depth, TINY, window=3, grow_steps=1)
    assert got.depth_source.tolist() == [[3, 1], [1, 3], [0, 0]]  # grown 3 -> 5 misses (0, 0) from (10, 8)


def test_lifting_even_counts_and_ties() -> None:
    depth = np.array([[[1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 0.0, 4.0], [np.inf, -2.0, np.nan, 2.5]]])
    camera = Camera("4x3", 4, 3, 5.0, 5.0, 1.5, 1.0)
    uv = np.array([[[0.5, 0.5], [1.5, 1.5], [2.5, 0.5], [3.0, 2.0], [-0.5, -0.5]]])  # rint ties to even
    for window, grow in ((1, 0), (3, 0), (5, 1)):
        check_lift(uv, depth, camera, window, grow)
        check_lift(uv, depth.astype(np.float32), camera, window, grow)


def test_all_zero_depth_maps() -> None:
    depth = np.zeros((2, *TINY.shape), np.float32)
    uv = np.array([[[5.0, 4.0], [1.0, 1.0]], [[np.nan, 0.0], [3.0, 3.0]]])
    check_lift(uv, depth, TINY)
    assert np.isnan(_jit.lift_joints(uv, depth, TINY)[0]).all()
    z = np.array([[1.0, 2.0], [1.0, np.nan]])
    for cfg in (PatchConfig(size=6), PatchConfig(mode="itop_authors", size=6)):
        check_patches(depth, uv, z, TINY, cfg)
    joints = np.array([[[0.0, 0.0, 1.0], [0.1, 0.1, 2.0]], [[np.nan, 0.0, 1.0], [0.0, 0.0, -1.0]]])
    for cfg in POINT_CONFIGS:
        check_points(depth, joints, TINY, cfg)
    counts, side = _jit.sample_points(depth, joints, TINY)[1:]
    assert (counts == 0).all() and side[0].tolist() == [np.float32(0.45)] * 2 and np.isnan(side[1]).all()


def test_points_fewer_than_n_empty_cubes_and_growth() -> None:
    depth = np.zeros((1, *TINY.shape), np.float32)
    depth[0, 3:6, 4:7] = 1.0  # nine points around (0, 0, 1) m
    depth[0, 0, :] = 1.2  # a row at the top: only the grown cubes reach it
    joints = np.array([[[0.0, 0.0, 1.0], [5.0, 5.0, 1.0], [0.0, 0.0, 1.0]]])
    joints[0, 2, 2] = 1.19
    for n, min_points in ((4, 3), (20, 3), (20, 9), (20, 12), (5, 100)):
        for mode in ("metric", "authors"):
            for selection in ("stride", "first"):
                check_points(depth, joints, TINY, PointConfig(mode=mode, selection=selection, num_points=n,
                                                              min_points=min_points, cube_side_m=0.05))
    _, counts, side = _jit.sample_points(depth, joints, TINY, PointConfig(num_points=20, min_points=9,
                                                                           cube_side_m=0.05))
    assert counts[0, 1] == 0 and side[0, 1] == np.float32(0.45)  # empty cube: the largest side, count 0
    assert side[0, 0] > np.float32(0.05)  # nine points are not more than min_points: it grew


def test_inputs_of_any_layout_and_dtype() -> None:
    frame = generate_frame(0, seed=3, camera="itop_side", view="side")
    camera, depth64 = frame.camera, np.asarray(frame.depth_m, np.float64)[None]
    uv = frame.uv_px[None] + 0.4
    joints = lift_joints_detailed(uv, depth64, camera).joints_m
    fortran = np.asfortranarray(depth64.astype(np.float32))
    readonly = depth64.astype(np.float32)
    readonly.flags.writeable = False
    for depth in (depth64, fortran, readonly, depth64.astype(np.float16), (depth64 * 1000).astype(np.uint16)):
        check_lift(uv, depth, camera)
        check_patches(depth, uv, joints[..., 2], camera, PatchConfig())
        check_points(depth, joints.astype(np.float32), camera, PointConfig(num_points=32))
    check_lift(uv.tolist(), depth64.tolist(), camera)  # lists work as in NumPy


def _spy(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str) -> list[int]:
    """Count the calls a compiled step ``module`` makes to its NumPy fallback ``name`` (the real function runs)."""
    calls: list[int] = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_baracca_authors_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled path has no baracca_authors kernel: it must hand the call to NumPy, whose result matches the
    plain-loop reference (not the same code path compared with itself)."""
    from refinet_edge.preprocess.patches import extract_patches_reference

    depth = np.random.default_rng(0).uniform(1.0, 2.0, (1, *TINY.shape)).astype(np.float32)
    depth[0, 2:5, 3:6] = 0.0  # holes: replaced by the patch mean in this mode
    uv = np.array([[[5.0, 4.0], [np.nan, 1.0], [1.0, 1.0]]])
    cfg = PatchConfig(mode="baracca_authors", size=5)
    calls = _spy(monkeypatch, _jit_patches, "_patches_numpy")
    patches, cell_px = _jit.extract_patches(depth, uv, None, TINY, cfg)
    assert calls == [1]
    ref_patches, ref_cell = extract_patches_reference(depth[0], uv[0], None, TINY, cfg)
    np.testing.assert_allclose(patches[0], ref_patches, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(cell_px[0], ref_cell)
    assert np.all(patches[0, 1] == 0)  # the missing joint


def test_same_errors_as_numpy() -> None:
    depth = np.ones((1, *TINY.shape), np.float32)
    calls = [
        (lambda m: m.lift_joints_detailed(np.zeros((1, 3, 2)), np.ones((2, *TINY.shape)), TINY), "lift"),
        (lambda m: m.lift_joints_detailed(np.zeros((3, 2)), depth[0], TINY, window=4), "lift"),
        (lambda m: m.lift_joints_detailed(np.zeros((3, 2)), depth[0], TINY, window=True), "lift"),
        (lambda m: m.extract_patches(depth, np.zeros((1, 3, 3)), np.ones((1, 3)), TINY), "patch"),
        (lambda m: m.extract_patches(depth, np.zeros((1, 3, 2)), None, TINY), "patch"),
        (lambda m: m.extract_patches(depth, np.zeros((1, 3, 2)), np.ones(3), TINY), "patch"),
        (lambda m: m.extract_patches(np.ones((1, 4, 4)), np.zeros((1, 3, 2)), np.ones((1, 3)), TINY), "patch"),
        (lambda m: m.sample_points(depth, np.zeros((2, 3, 3)), TINY), "points"),
        (lambda m: m.sample_points(depth[0], np.zeros((3, 3)), TINY), "points"),
    ]
    import refinet_edge.lifting as numpy_lift
    import refinet_edge.preprocess.patches as numpy_patches
    import refinet_edge.preprocess.points as numpy_points

    for call, kind in calls:
        reference = {"lift": numpy_lift, "patch": numpy_patches, "points": numpy_points}[kind]
        with pytest.raises(RefinetError) as expected:
            call(reference)
        with pytest.raises(RefinetError) as got:
            call(_jit)
        assert str(got.value) == str(expected.value)


# ---------------------------------------------------------------- steps, logging


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.booleans())
def test_skeleton_encode_on_random_skeletons(seed: int, batch: int, rays: bool) -> None:
    """Missing joints, zero and infinite depth, people with no joint at all, even and odd counts."""
    from refinet_edge.stage_io import SkeletonConfig, skeleton_encode

    rng = np.random.default_rng(seed)
    joints = rng.normal(scale=0.4, size=(batch, 15, 3)) + np.array([0.0, 0.0, 3.0])
    joints[rng.random((batch, 15, 3)) < rng.choice([0.0, 0.1, 0.5])] = np.nan
    joints[..., 2][rng.random((batch, 15)) < rng.choice([0.0, 0.2])] = rng.choice([0.0, np.inf, -np.inf])
    if rng.random() < 0.2:
        joints[0] = np.nan
    cfg = SkeletonConfig(mode="metric", rays=rays)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = skeleton_encode(joints, cfg)
    assert_same(_jit.skeleton_encode(joints, cfg), expected)


def test_skeleton_encode_authors_mode_and_other_dtypes_run_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Authors mode and float32 joints go to NumPy (counted), and the values are the documented formulas."""
    from refinet_edge.stage_io import ITOP_MEAN_MM, ITOP_STD_MM, SKELETON_SCALE_M, SkeletonConfig, skeleton_centre

    joints = np.random.default_rng(0).normal(size=(2, 15, 3)) + np.array([0.0, 0.0, 3.0])
    joints[1, 4] = np.nan
    calls = _spy(monkeypatch, _jit_codec, "_skeleton_numpy")
    x, centre = _jit.skeleton_encode(joints, SkeletonConfig(mode="authors"))
    assert calls == [1]
    expected = np.nan_to_num((joints * 1000.0 - ITOP_MEAN_MM) / ITOP_STD_MM, nan=0.0)
    np.testing.assert_allclose(x, expected.astype(np.float32), rtol=1e-6)
    assert np.all(centre == 0) and np.all(x[1, 4] == 0)
    x, centre = _jit.skeleton_encode(joints.astype(np.float32), SkeletonConfig(rays=True))
    assert calls == [1, 1]
    np.testing.assert_allclose(centre, skeleton_centre(joints.astype(np.float32)), rtol=1e-6)
    offsets = (joints.astype(np.float32) - centre[:, None, :]) / SKELETON_SCALE_M
    np.testing.assert_allclose(x[0, :, :3], offsets[0], rtol=1e-5, atol=1e-6)
    assert x.shape == (2, 15, 5)


def _sprinkle(rng: np.random.Generator, a: np.ndarray, values: tuple[float, ...]) -> np.ndarray:
    """``a`` with a random share of its entries replaced by the given special values."""
    a = a.copy()
    where = rng.random(a.shape) < rng.choice([0.0, 0.1, 0.4])
    a[where] = rng.choice(values, size=int(where.sum()))
    return a


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_decoders_on_random_outputs(seed: int, batch: int) -> None:
    """Each stage's output decoding: NaN/inf outputs, cells and sides, empty cubes, both point modes."""
    from refinet_edge import stage_io
    from refinet_edge.stage_io import SkeletonConfig

    rng = np.random.default_rng(seed)
    special = (np.nan, np.inf, -np.inf)
    uv = _sprinkle(rng, rng.uniform(-50, 400, (batch, 15, 2)), special)
    out2 = _sprinkle(rng, rng.normal(size=(batch, 15, 2)).astype(np.float32), special)
    cell = _sprinkle(rng, rng.uniform(0.5, 9, (batch, 15, 2)).astype(np.float32), special)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, as the compiled path gives silently
        expected = stage_io.patch_decode(uv, out2, cell)
    assert_same((_jit.patch_decode(uv, out2, cell),), (expected,))

    cfg = SkeletonConfig(mode="metric", rays=bool(rng.integers(2)))
    x = _sprinkle(rng, rng.normal(size=(batch, 15, cfg.input_features)).astype(np.float32), special)
    out3 = _sprinkle(rng, rng.normal(size=(batch, 15, 3)).astype(np.float32), special)
    centre = _sprinkle(rng, rng.normal(size=(batch, 3)) + 3.0, special)
    with np.errstate(invalid="ignore"):
        expected = stage_io.skeleton_decode(x, out3, centre, cfg)
    assert_same((_jit.skeleton_decode(x, out3, centre, cfg),), (expected,))

    joints = _sprinkle(rng, rng.normal(size=(batch, 15, 3)) + 3.0, special)
    side = _sprinkle(rng, rng.choice([0.3, 0.35, 0.45], (batch, 15)).astype(np.float32), (np.nan,))
    counts = rng.choice([0.0, 1.0, 64.0, 128.0], (batch, 15)).astype(np.float32)
    for mode in ("metric", "authors"):
        with np.errstate(invalid="ignore"):
            expected = stage_io.point_decode(joints, out3, side, counts, mode)
        assert_same((_jit.point_decode(joints, out3, side, counts, mode),), (expected,))


def test_decoders_other_dtypes_and_modes_run_numpy() -> None:
    from refinet_edge import stage_io
    from refinet_edge.stage_io import SkeletonConfig

    rng = np.random.default_rng(0)
    uv, out2, cell = rng.normal(size=(2, 15, 2)), rng.normal(size=(2, 15, 2)), rng.uniform(1, 2, (2, 15, 2))
    assert_same((_jit.patch_decode(uv, out2, cell),), (stage_io.patch_decode(uv, out2, cell),))  # float64 out
    x, out3 = rng.normal(size=(2, 15, 3)).astype(np.float32), rng.normal(size=(2, 15, 3)).astype(np.float32)
    centre = rng.normal(size=(2, 3))
    cfg = SkeletonConfig(mode="authors")
    assert_same((_jit.skeleton_decode(x, out3, centre, cfg),), (stage_io.skeleton_decode(x, out3, centre, cfg),))
    joints32, side, counts = out3 + 3, np.full((2, 15), 0.3, np.float32), np.ones((2, 15), np.float32)
    assert_same((_jit.point_decode(joints32, out3, side, counts, "metric"),),
                (stage_io.point_decode(joints32, out3, side, counts, "metric"),))
    assert _jit.point_decode(joints32, out3, side, counts, "metric").dtype == np.float32  # NumPy's promotion


def test_cpu_steps_use_numba_and_numpy_on_request() -> None:
    fast, plain = steps.select_steps("cpu"), steps.select_steps("numpy")
    assert fast.describe() == f"fast CPU path (Numba {_jit.NUMBA_VERSION})" and fast.name == "cpu"
    assert "NumPy" in plain.describe() and plain.name == "numpy"
    frame = generate_frame(1, seed=0, camera="itop_side", view="side")
    depth, uv = frame.depth_m[None].astype(np.float32), frame.uv_px[None] + 1.3
    pytest.importorskip("torch")
    shipped = RefinementPipeline.from_dir()
    pipe = RefinementPipeline(shipped.runners, shipped.config, preprocess="cpu")
    ref = RefinementPipeline(shipped.runners, shipped.config, preprocess="numpy")
    got, expected = pipe.run(depth, uv, frame.camera), ref.run(depth, uv, frame.camera)
    assert (pipe.preprocess, ref.preprocess) == ("cpu", "numpy")
    assert list(got.steps) == list(expected.steps)
    for name in expected.steps:
        np.testing.assert_array_equal(got.steps[name], expected.steps[name])
    np.testing.assert_array_equal(got.valid, expected.valid)


def test_cpu_steps_fall_back_to_numpy_without_numba(monkeypatch) -> None:
    import sys

    import refinet_edge.preprocess

    monkeypatch.setitem(sys.modules, "refinet_edge.preprocess._jit", None)  # the import fails, as without numba
    monkeypatch.delattr(refinet_edge.preprocess, "_jit")
    cpu = steps.CpuSteps()
    assert cpu.describe() == "CPU path (NumPy; pip install numba for the compiled path)"
    assert cpu.numba_version is None and cpu.name == "cpu"


def test_first_compilation_is_logged_once(monkeypatch, caplog: pytest.LogCaptureFixture) -> None:
    from numba import njit

    def fill(out):
        out[0] = 1.0

    fill.__module__ = _jit.__name__  # one of "our" kernels, compiled fresh (no disk cache)
    kernel = njit(fill)
    monkeypatch.setattr(_jit, "_announced", [])
    with caplog.at_level(logging.INFO, logger="refinet_edge"):
        kernel(np.zeros(1))
        kernel(np.zeros(1, np.float32))  # another compilation: no second line
        kernel(np.zeros(1))
    assert caplog.text.count(_jit.COMPILE_MESSAGE) == 1


def test_cached_kernels_log_nothing(monkeypatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(_jit, "_announced", [])
    depth = np.full((1, *TINY.shape), 1.0, np.float32)
    with caplog.at_level(logging.INFO, logger="refinet_edge"):
        _jit.lift_joints(np.full((1, 2, 2), 4.0), depth, TINY)  # compiled by the module fixture
    assert _jit.COMPILE_MESSAGE not in caplog.text


def test_camera_presets_320_and_640() -> None:
    for preset in ("itop_side", "d435_640x480"):
        camera = camera_preset(preset)
        rng = np.random.default_rng(len(preset))
        depth = rng.uniform(0.5, 5.0, (2, *camera.shape)).astype(np.float32)
        depth[rng.random(depth.shape) < 0.5] = 0.0
        uv = rng.uniform(-20, max(camera.shape) + 20, (2, 15, 2))
        check_lift(uv, depth, camera)
        joints = lift_joints_detailed(uv, depth, camera).joints_m
        check_patches(depth, uv, joints[..., 2], camera, PatchConfig())
        check_points(depth, joints, camera, PointConfig(num_points=128))
