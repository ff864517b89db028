"""Depth-sensor realism and an infrared-like image for clean synthetic renders.

The model (in the order applied, see :class:`SensorModel` for the numbers):

1. **Flying pixels**: at depth discontinuities (3x3 depth range above
   ``flying_jump_m``) a fraction of pixels take a random mixture of the nearest
   and farthest depth around them, as time-of-flight and stereo sensors do.
2. **Noise**: Gaussian along z with ``sigma = noise_floor_m + noise_quad_per_m * z^2``
   (the quadratic growth of stereo / structured-light depth error).
3. **Missing pixels (0)**: stereo shadows (the band left of a foreground edge
   whose width is the disparity step ``f * baseline * (1/z_near - 1/z_far)`` px),
   grazing surfaces (drop probability rising as the surface turns edge-on),
   random blob-shaped holes, and isolated random dropouts.
4. **Quantisation**: to multiples of ``depth_unit_m`` (1 mm: a z16 stream).
5. **Range**: depths outside ``[min_range_m, max_range_m]`` become 0.

The infrared image is Lambertian shading under a light at the camera (an IR
projector): ``albedo * cos(incidence) / z^2``, auto-exposed so the person's
median is ``ir_level``, plus Gaussian read noise, as ``uint8``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..camera import Camera
from .render import ray_grid


@dataclass(frozen=True)
class SensorModel:
    """Depth-sensor parameters (defaults: a RealSense-D435-like stereo camera).

    This is the ``default`` preset of :mod:`.sensor_presets` (the model the shipped
    weights were trained on); the presets named after real sensors live in
    :mod:`.sensor_stereo` and :mod:`.sensor_tof`.
    """

    min_range_m: float = 0.3         # closer returns are 0
    max_range_m: float = 6.0         # farther returns are 0
    noise_floor_m: float = 0.001     # sigma at z -> 0
    noise_quad_per_m: float = 0.0015  # sigma grows by this * z^2 (6 mm at 2 m, 24 mm at 4 m)
    depth_unit_m: float = 0.001      # quantisation step (z16 millimetres); 0 = none
    flying_jump_m: float = 0.08      # depth range in 3x3 that counts as an edge
    flying_prob: float = 0.5         # fraction of edge pixels that become flying pixels
    baseline_m: float = 0.05         # stereo baseline for the shadow band; 0 = no shadows
    grazing_cos: float = 0.25        # below this cos(incidence) pixels start to drop
    hole_fraction: float = 0.004     # area covered by blob-shaped holes
    dropout_prob: float = 0.005      # isolated missing pixels
    ir_level: float = 110.0          # target median IR value on the person
    ir_noise: float = 3.0            # IR read noise, grey levels


def surface_cosine(depth_m: np.ndarray, camera: Camera, edge_m: float = 0.05) -> np.ndarray:
    """``|cos|`` between each pixel's surface normal and its ray, from depth gradients ``(H, W)``.

    For ``P = z (dx, dy, 1)`` the normal ``dP/du x dP/dv`` is parallel to
    ``n = (-fx z_u, -fy z_v, fx z_u dx + fy z_v dy + z)`` with ``n . ray = z``,
    so ``cos = z / (|n| |ray|)``. Pixels next to a depth jump above ``edge_m``
    (or without depth) get 1.
    """
    dx, dy, dd = ray_grid(camera)
    z = np.asarray(depth_m, dtype=np.float32)
    z_u = cv2.Sobel(z, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=cv2.BORDER_REPLICATE)
    z_v = cv2.Sobel(z, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=cv2.BORDER_REPLICATE)
    n_u, n_v = camera.fx * z_u, camera.fy * z_v
    n_z = n_u * dx.astype(np.float32) + n_v * dy.astype(np.float32) + z
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = z / np.sqrt((n_u * n_u + n_v * n_v + n_z * n_z) * dd.astype(np.float32))
    flat = (np.abs(z_u) <= edge_m) & (np.abs(z_v) <= edge_m) & (z > 0)
    return np.where(flat, cos, np.float32(1.0))


def flying_pixels(depth: np.ndarray, jump_m: float, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Depth discontinuities (3x3 depth range above ``jump_m``): a fraction ``prob`` of their pixels
    take a random mix of the nearest and farthest depth around them. Elsewhere ``depth`` is unchanged."""
    valid = depth > 0
    kernel = np.ones((3, 3), np.uint8)
    z_far = cv2.dilate(depth, kernel)
    z_near = cv2.erode(np.where(valid, depth, np.float32(1e4)), kernel)
    edge = valid & (z_near < 1e3) & (z_far - z_near > jump_m)
    idx = np.flatnonzero(edge)
    idx = idx[rng.random(idx.size) < prob]
    out = depth.copy()
    mix = rng.random(idx.size).astype(np.float32)
    out.flat[idx] = z_near.flat[idx] + mix * (z_far.flat[idx] - z_near.flat[idx])
    return out


def _stereo_shadow(depth: np.ndarray, camera: Camera, baseline_m: float) -> np.ndarray:
    """Pixels hidden from the second view: left of nearer surfaces by their disparity step."""
    with np.errstate(divide="ignore"):
        disparity = np.where(depth > 0, camera.fx * baseline_m / depth, 0.0).astype(np.float32)
    shadow = np.zeros(depth.shape, bool)
    if not np.any(depth > 0):
        return shadow
    max_shift = int(min(24, np.ceil(disparity.max() - disparity[depth > 0].min())))
    for shift in range(1, max_shift + 1):
        shadow[:, :-shift] |= disparity[:, shift:] - disparity[:, :-shift] > shift
    return shadow


def blob_holes(shape: tuple[int, int], fraction: float, rng: np.random.Generator) -> np.ndarray:
    if fraction <= 0:
        return np.zeros(shape, bool)
    coarse = rng.random((max(2, shape[0] // 12), max(2, shape[1] // 12))).astype(np.float32)
    field = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return field > np.quantile(coarse, 1.0 - fraction)


def grazing_dropouts(cos_incidence: np.ndarray, grazing_cos: float, rng: np.random.Generator) -> np.ndarray:
    """Flat indices of pixels lost to grazing incidence: probability ``1 - cos / grazing_cos`` below it."""
    slanted = np.flatnonzero(cos_incidence < grazing_cos)
    return slanted[cos_incidence.flat[slanted] < grazing_cos * rng.random(slanted.size)]


def apply_sensor(depth_clean_m: np.ndarray, camera: Camera, model: SensorModel,
                 rng: np.random.Generator, cos_incidence: np.ndarray | None = None) -> np.ndarray:
    """Clean ``depth_m (H, W)`` -> sensor-like ``depth_m (H, W) float32`` (0 = missing)."""
    clean = np.asarray(depth_clean_m, dtype=np.float32)
    assert clean.shape == camera.shape, (clean.shape, camera.shape)
    valid = clean > 0
    depth = flying_pixels(clean, model.flying_jump_m, model.flying_prob, rng) if model.flying_prob > 0 else clean.copy()
    sigma = model.noise_floor_m + model.noise_quad_per_m * depth * depth
    depth += sigma * rng.standard_normal(depth.shape, dtype=np.float32)
    missing = ~valid | blob_holes(depth.shape, model.hole_fraction, rng)
    dropouts = rng.binomial(depth.size, model.dropout_prob)
    missing.flat[rng.integers(0, depth.size, dropouts)] = True
    if model.baseline_m > 0:
        missing |= _stereo_shadow(clean, camera, model.baseline_m)
    if model.grazing_cos > 0:
        cos = surface_cosine(clean, camera) if cos_incidence is None else cos_incidence
        missing.flat[grazing_dropouts(cos, model.grazing_cos, rng)] = True
    if model.depth_unit_m > 0:
        depth = np.round(depth / model.depth_unit_m) * np.float32(model.depth_unit_m)
    missing |= (depth < model.min_range_m) | (depth > model.max_range_m)
    depth[missing] = 0.0
    return depth.astype(np.float32)


def infrared_image(depth_clean_m: np.ndarray, albedo: np.ndarray, person: np.ndarray,
                   cos_incidence: np.ndarray, model: SensorModel, rng: np.random.Generator) -> np.ndarray:
    """IR-like ``uint8 (H, W)`` image: ``albedo (H, W)`` shaded by ``cos / z^2``.

    Args:
        person: ``(H, W)`` bool, the pixels used for auto-exposure.
    """
    z = np.asarray(depth_clean_m, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        radiance = np.where(z > 0, albedo * cos_incidence / (z * z), 0.0).astype(np.float32)
    reference = radiance[person] if np.any(person) else radiance[z > 0]
    gain = model.ir_level / max(float(np.median(reference)) if reference.size else 1.0, 1e-6)
    ir = radiance * gain + model.ir_noise * rng.standard_normal(z.shape, dtype=np.float32)
    return np.clip(ir, 0, 255).astype(np.uint8)
