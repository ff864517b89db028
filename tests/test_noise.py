"""Detector noise: Gaussian statistics, swaps, outliers, validation, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from refinet_edge.errors import RefinetError
from refinet_edge.noise import NEIGHBOUR_COUNT, NEIGHBOURS, DetectorNoise, gaussian_3d, swap_pairs
from refinet_edge.skeleton import FLIP_INDEX, LEFT_RIGHT_PAIRS, LIMBS


def _pose(batch: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 300, (batch, 15, 2))


def test_defaults_are_the_authors_model() -> None:
    noise = DetectorNoise()
    assert (noise.sigma_px, noise.mu_px, noise.swap_prob, noise.outlier_prob) == (5.0, 0.0, 0.0, 0.0)
    assert DetectorNoise.from_dict(noise.to_dict()) == noise
    assert all(type(v) is float for v in noise.to_dict().values())


def test_zero_noise_is_identity() -> None:
    uv = _pose()
    out = DetectorNoise(sigma_px=0.0).apply_2d(uv, np.random.default_rng(0))
    np.testing.assert_array_equal(out, uv)
    assert out is not uv


def test_gaussian_statistics() -> None:
    uv = np.zeros((4000, 15, 2))
    out = DetectorNoise(sigma_px=5.0, mu_px=1.5).apply_2d(uv, np.random.default_rng(1))
    assert out.mean() == pytest.approx(1.5, abs=0.05)  # 120k samples: s.e. 0.015
    assert out.std() == pytest.approx(5.0, rel=0.02)
    assert np.corrcoef(out[..., 0].ravel(), out[..., 1].ravel())[0, 1] == pytest.approx(0.0, abs=0.02)


def test_deterministic_given_rng_and_nan_kept() -> None:
    uv = _pose()
    uv[1, 4] = np.nan
    noise = DetectorNoise(swap_prob=0.3, outlier_prob=0.3)
    a = noise.apply_2d(uv, np.random.default_rng(7))
    b = noise.apply_2d(uv, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    missing = np.argwhere(np.any(np.isnan(a), axis=-1))  # the NaN joint stays NaN (maybe swapped)
    assert missing.tolist() in ([[1, 4]], [[1, 5]]) and np.all(np.isnan(a[tuple(missing[0])]))
    # Swaps do not change the Gaussian draws (same random stream whatever the settings).
    uv = _pose()
    plain = DetectorNoise().apply_2d(uv, np.random.default_rng(7))
    swapped = DetectorNoise(swap_prob=1.0).apply_2d(uv, np.random.default_rng(7))
    np.testing.assert_allclose(swapped - swap_pairs(uv, np.ones((4, 6), bool)), plain - uv)


def test_swap_prob_one_swaps_every_pair() -> None:
    uv = _pose()
    out = DetectorNoise(sigma_px=0.0, swap_prob=1.0).apply_2d(uv, np.random.default_rng(0))
    np.testing.assert_array_equal(out, uv[:, list(FLIP_INDEX)])


def test_swap_rate() -> None:
    uv = _pose(batch=2000)
    out = DetectorNoise(sigma_px=0.0, swap_prob=0.25).apply_2d(uv, np.random.default_rng(3))
    for right, left in LEFT_RIGHT_PAIRS:
        swapped = np.all(out[:, right] == uv[:, left], axis=-1)
        kept = np.all(out[:, right] == uv[:, right], axis=-1)
        assert np.all(swapped ^ kept)
        assert np.all(np.all(out[:, left] == uv[:, right], axis=-1) == swapped)
        assert swapped.mean() == pytest.approx(0.25, abs=0.04)


def test_neighbour_table_matches_limbs() -> None:
    for j in range(15):
        expected = {c for p, c in LIMBS if p == j} | {p for p, c in LIMBS if c == j}
        assert set(NEIGHBOURS[j, : NEIGHBOUR_COUNT[j]]) == expected
    assert NEIGHBOUR_COUNT[1] == 4 and NEIGHBOUR_COUNT[8] == 3 and NEIGHBOUR_COUNT[0] == 1


def test_jumps_move_by_documented_lengths() -> None:
    uv = _pose(batch=500)
    noise = DetectorNoise(sigma_px=3.0, outlier_prob=1.0, snap_fraction=0.0, jump_min_px=20, jump_max_px=60)
    out = noise.apply_2d(uv, np.random.default_rng(4))
    length = np.linalg.norm(out - uv, axis=-1)
    assert length.min() >= 20 - 1e-9 and length.max() <= 60 + 1e-9
    assert length.mean() == pytest.approx(40, abs=1.0)  # uniform in [20, 60]
    angle = np.arctan2(*(out - uv).reshape(-1, 2).T[::-1])
    assert np.abs(np.mean(np.exp(1j * angle))) < 0.03  # uniform direction


def test_snaps_land_on_a_limb_neighbour() -> None:
    uv = _pose(batch=300)
    noise = DetectorNoise(sigma_px=3.0, outlier_prob=1.0, snap_fraction=1.0, snap_sigma_px=0.0)
    out = noise.apply_2d(uv, np.random.default_rng(5))
    chosen = np.zeros((15, 15), int)
    for j in range(15):
        hits = np.all(out[:, j, None, :] == uv, axis=-1)  # (B, 15): which joint it landed on
        assert np.all(hits.sum(axis=-1) >= 1)
        chosen[j] = hits.sum(axis=0)
        allowed = set(NEIGHBOURS[j, : NEIGHBOUR_COUNT[j]])
        assert set(np.nonzero(chosen[j])[0]) == allowed  # all neighbours used, nothing else
    np.testing.assert_allclose(chosen[1, [0, 2, 3, 8]] / 300, 0.25, atol=0.08)  # neck: uniform over 4


def test_snap_noise_and_missing_neighbour_jumps() -> None:
    uv = _pose(batch=2000)
    noise = DetectorNoise(sigma_px=0.0, outlier_prob=1.0, snap_fraction=1.0, snap_sigma_px=2.0)
    out = noise.apply_2d(uv, np.random.default_rng(6))
    offset = out[:, 0] - uv[:, 1]  # the head's only neighbour is the neck
    assert offset.std() == pytest.approx(2.0, rel=0.05)
    uv[:, 1] = np.nan  # neck missing: the head cannot snap to it, so it jumps
    out = noise.apply_2d(uv, np.random.default_rng(6))
    length = np.linalg.norm(out[:, 0] - uv[:, 0], axis=-1)
    assert np.all((length >= 20) & (length <= 60))
    assert np.all(np.isnan(out[:, 1]))


def test_outlier_rate_and_mix() -> None:
    uv = _pose(batch=2000)
    noise = DetectorNoise(sigma_px=0.0, outlier_prob=0.2, snap_sigma_px=0.0)
    out = noise.apply_2d(uv, np.random.default_rng(8))
    moved = np.any(out != uv, axis=-1)
    assert moved.mean() == pytest.approx(0.2, abs=0.01)
    jumped = moved & (np.linalg.norm(out - uv, axis=-1) >= 20) & ~np.any(
        np.all(out[:, :, None] == uv[:, None], axis=-1), axis=-1
    )
    assert jumped.sum() / moved.sum() == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sigma_px": -1.0}, "sigma_px"),
        ({"sigma_px": float("nan")}, "sigma_px"),
        ({"mu_px": float("inf")}, "mu_px"),
        ({"swap_prob": 1.5}, "swap_prob"),
        ({"outlier_prob": -0.1}, "outlier_prob"),
        ({"snap_fraction": 2.0}, "snap_fraction"),
        ({"snap_sigma_px": -2.0}, "snap_sigma_px"),
        ({"jump_min_px": 70.0}, "jump_min_px"),
    ],
)
def test_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(RefinetError, match=field):
        DetectorNoise(**kwargs)


def test_from_dict_errors_and_shape_errors() -> None:
    with pytest.raises(RefinetError, match="did you mean 'sigma_px'"):
        DetectorNoise.from_dict({"sigma": 5})
    with pytest.raises(RefinetError, match="must be numbers"):
        DetectorNoise.from_dict({"sigma_px": "five"})
    with pytest.raises(RefinetError, match=r"\(\.\.\., 15, 2\)"):
        DetectorNoise().apply_2d(np.zeros((14, 2)), np.random.default_rng(0))


def test_gaussian_3d() -> None:
    joints = np.zeros((3000, 15, 3))
    joints[0, 0] = np.nan
    out = gaussian_3d(joints, np.random.default_rng(9), sigma=42.0, mu=1.0)
    assert out.shape == joints.shape and np.all(np.isnan(out[0, 0]))
    finite = out[np.isfinite(out)]
    assert finite.mean() == pytest.approx(1.0, abs=0.5)
    assert finite.std() == pytest.approx(42.0, rel=0.02)
    same = gaussian_3d(np.ones((2, 3)), np.random.default_rng(0), 0.0)
    np.testing.assert_array_equal(same, np.ones((2, 3)))
    with pytest.raises(RefinetError, match="sigma"):
        gaussian_3d(joints, np.random.default_rng(0), sigma=-1.0)
    with pytest.raises(RefinetError, match=r"\(\.\.\., 3\)"):
        gaussian_3d(np.zeros((15, 2)), np.random.default_rng(0), sigma=1.0)
