"""Time-of-flight depth, Kinect-v2 class (preset ``tof``; for ITOP-like data at 320x240).

Facts used (sources as collected in the project's DEPTH_SENSORS.md notes):

* **Axial noise** (Fankhauser et al., "Kinect v2 for mobile robot navigation:
  evaluation and modeling", ICAR 2015): ``sigma_z [mm] = 1.5 - 0.5 z + 0.3 z^2
  + 0.1 z^1.5 theta^2 / (pi/2 - theta)^2`` with ``z`` in metres and ``theta`` the
  angle between the surface normal and the ray: growing with distance and
  incidence angle. (Lateral noise, ~1.6 px in that paper, is not modelled.)
* **Flying (mixed) pixels** straddle depth edges (Azure Kinect depth-camera docs).
* **Multipath** invalidates or lengthens returns, "typically in concave corners"
  (Azure Kinect depth-camera docs). Modelled from the concavity of inverse depth
  (affine in pixels on any plane, so it is zero on planes, positive in concave
  corners, negative on convex ones): the return is pushed farther by
  ``multipath_gain * concavity * z`` and dropped where that exceeds
  ``multipath_invalid_m``. The magnitude is a chosen setting, not a published figure.
* **Dark materials vanish** (low IR signal; Azure Kinect SDK issue 897, "low
  signal" invalidation in the docs): a pixel is lost when its active-IR return
  ``albedo * cos(incidence) / z^2`` (the same Lambertian model as the synthetic
  IR image) falls below ``dark_signal`` (jittered per pixel by ``dark_jitter``).
  The threshold is a chosen setting: albedo 0.15 cloth facing the camera drops beyond ~3.5 m.
* Range 0.5-4.5 m is Kinect v2's specified range; returns up to 8 m are kept, as the SDK reports them.
* Depth is Z in 1 mm units, as the Kinect SDKs report it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..camera import Camera
from .sensor import flying_pixels, grazing_dropouts


@dataclass(frozen=True)
class TofSensor:
    """A Kinect-v2-class continuous-wave time-of-flight camera; lengths in metres."""

    name: str = "tof"
    min_range_m: float = 0.5          # Kinect v2 specified near limit
    max_range_m: float = 8.0          # farthest depth the SDK reports
    noise_scale: float = 1.0          # times Fankhauser et al.'s axial sigma
    depth_unit_m: float = 0.001       # 1 mm (0 = no rounding)
    flying_jump_m: float = 0.05       # 3x3 depth range that counts as a discontinuity
    flying_prob: float = 0.6          # fraction of discontinuity pixels that become mixed pixels
    grazing_cos: float = 0.17         # below ~80 deg incidence pixels start to drop
    multipath_window_px: int = 9      # box window for the concavity of inverse depth
    multipath_gain: float = 1.0       # bias = gain * concavity * z
    multipath_edge_rel: float = 0.03  # relative inverse-depth jump in 3x3 that counts as an edge, not a corner
    multipath_invalid_m: float = 0.03  # larger biases are invalidated (as the Azure Kinect does)
    dark_signal: float = 0.012        # albedo * cos / z^2 below this: no return
    dark_jitter: float = 0.25         # log-normal spread of that threshold per pixel

    def sigma_m(self, z_m: np.ndarray | float, cos_incidence: np.ndarray | float) -> np.ndarray:
        """Fankhauser et al.'s axial sigma (times ``noise_scale``) in metres."""
        z = np.asarray(z_m, dtype=np.float32)
        theta = np.arccos(np.clip(np.asarray(cos_incidence, dtype=np.float32), 0.0, 1.0))
        theta = np.minimum(theta, np.float32(np.radians(85.0)))  # bounded before pi/2
        angular = theta * theta / (np.float32(np.pi / 2) - theta) ** 2
        sigma_mm = 1.5 - 0.5 * z + 0.3 * z * z + 0.1 * z ** 1.5 * angular
        return np.float32(self.noise_scale * 1e-3) * sigma_mm.astype(np.float32)

    def multipath_bias_m(self, depth_clean_m: np.ndarray) -> np.ndarray:
        """``(H, W)`` extra path in metres at concave corners (0 on planes, convex shapes and edges)."""
        z = np.asarray(depth_clean_m, dtype=np.float32)
        valid = z > 0
        inv = np.where(valid, 1.0 / np.where(valid, z, 1.0), 0.0).astype(np.float32)
        k = (self.multipath_window_px, self.multipath_window_px)
        weight = cv2.blur(valid.astype(np.float32), k, borderType=cv2.BORDER_CONSTANT)  # < 1 near borders
        mean_inv = cv2.blur(inv, k, borderType=cv2.BORDER_CONSTANT)
        # only where the whole window is one continuous surface: no hole, no image border, and no
        # discontinuity (inverse depth jumping by more than `multipath_edge_rel` of itself within 3x3)
        three = np.ones((3, 3), np.uint8)
        jump = cv2.dilate(inv, three) - cv2.erode(np.where(valid, inv, np.float32(1e4)), three)
        edge = cv2.dilate((jump > self.multipath_edge_rel * inv).astype(np.uint8), np.ones(k, np.uint8)) > 0
        smooth = valid & (weight > 0.999) & ~edge
        concavity = np.where(smooth, mean_inv * z - 1.0, 0.0)  # mean(1/z) * z - 1, dimensionless
        return np.maximum(concavity, 0.0).astype(np.float32) * np.float32(self.multipath_gain) * z

    def apply(self, depth_clean_m: np.ndarray, camera: Camera, rng: np.random.Generator,
              cos_incidence: np.ndarray, albedo: np.ndarray | None = None) -> np.ndarray:
        """Clean ``depth_m (H, W)`` -> ToF-like ``depth_m (H, W) float32`` (0 = missing).

        ``albedo (H, W)`` in 0..1 drives the dark-material dropouts (none when omitted).
        """
        clean = np.asarray(depth_clean_m, dtype=np.float32)
        assert clean.shape == camera.shape == cos_incidence.shape, (clean.shape, camera.shape)
        bias = self.multipath_bias_m(clean)
        depth = flying_pixels(clean, self.flying_jump_m, self.flying_prob, rng) if self.flying_prob > 0 \
            else clean.copy()
        depth += bias + self.sigma_m(depth, cos_incidence) * rng.standard_normal(clean.shape, dtype=np.float32)
        missing = (clean <= 0) | (bias > self.multipath_invalid_m)
        if albedo is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                signal = np.where(clean > 0, albedo * cos_incidence / (clean * clean), 0.0)
            # log-normal threshold per pixel; only pixels within 5 sigma of it draw (most are far above)
            near = np.flatnonzero(signal < self.dark_signal * np.exp(5 * self.dark_jitter))
            jitter = np.exp(self.dark_jitter * rng.standard_normal(near.size))
            missing.flat[near[signal.flat[near] < self.dark_signal * jitter]] = True
        if self.grazing_cos > 0:
            missing.flat[grazing_dropouts(cos_incidence, self.grazing_cos, rng)] = True
        if self.depth_unit_m > 0:
            depth = np.round(depth / np.float32(self.depth_unit_m)) * np.float32(self.depth_unit_m)
        missing |= (depth < self.min_range_m) | (depth > self.max_range_m)
        depth[missing] = 0.0
        return depth.astype(np.float32)
