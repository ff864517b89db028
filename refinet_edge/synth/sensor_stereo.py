"""Intel RealSense D4xx active-stereo depth, simulated in disparity (presets ``d435``, ``d415``, ``d455``).

Facts used (sources as collected in the project's DEPTH_SENSORS.md notes):

* Depth is Z (not ray length) in the left imager's frame; the left image is the
  matching reference; invalid pixels are 0; the z16 unit is 1 mm
  (librealsense ``src/ds5/ds5-device.cpp``; librealsense issues #9202, #12712, #7608).
* **Noise** is about constant in disparity: ``d = f_px * B / z``, ``d' = d + N(0, s^2)``,
  ``z' = f_px * B / d'``, so ``RMS_z = z^2 * s / (f_px * B)`` (Intel, "Tuning depth
  cameras for best performance", flat-wall RMS test). ``s`` = subpixel accuracy,
  about 0.08 px typical (librealsense #3904). ``f_px`` is the *render camera's*
  ``fx``, so the same sensor at 848x480 (f ~ 424 px) and 640x480 (f ~ 384 px)
  differs as the real camera does.
* **Left-edge invalid band**: the right imager does not see the image's left
  ``B * f_px / Z`` columns (datasheet sec. 4.5/4.6, quoted in librealsense #3684, #12072).
* **Occlusion shadows**: background seen by the left imager but hidden from the
  right one, i.e. on the *left* side of foreground silhouettes, about
  ``f * B * (1/z_fg - 1/z_bg)`` px wide, value 0 (stereo geometry; #6336, #11426).
  Computed exactly: left pixel ``u`` lands at ``x_r = u - d(u)`` in the right
  image; it is hidden when any pixel to its right lands left of it.
* **Min-Z**: the disparity search range is 126 px (librealsense #3039, #2885), so
  nearer than ``f_px * B / 126`` there is no match: 0.
* **Flying pixels** at depth edges only (#4346: "bridge foreground and background").
* Baselines: D435 50 mm, D415 55 mm (librealsense doc/depth-from-stereo.md: 54.8 mm),
  D455 95 mm (third-party spec summaries). D415's ~2x lower noise than the D435
  (#13794) comes from its 1280x720, 65 deg optics (f ~ 1005 px vs 447 px): render
  it with such a camera to see it.

Not modelled: subpixel step nonlinearity, projector-shadow texture holes, the
laser speckle pattern, firmware presets (High Accuracy / Default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import Camera
from .sensor import blob_holes, flying_pixels, grazing_dropouts

DISPARITY_SEARCH_PX = 126  # D4xx fixed disparity search range (librealsense #3039, #2885)


@dataclass(frozen=True)
class StereoSensor:
    """A D4xx-class active-stereo camera; all lengths in metres, disparities in pixels."""

    name: str
    baseline_m: float                 # imager baseline B
    subpixel_px: float = 0.08         # disparity RMS s (#3904: 0.08 typical, 0.03 best)
    max_range_m: float = 10.0         # farther returns are 0 (D4xx ideal range up to ~10 m)
    depth_unit_m: float = 0.001       # z16 unit, 1 mm (0 = no rounding)
    flying_jump_m: float = 0.08       # 3x3 depth range that counts as a discontinuity
    flying_prob: float = 0.5          # fraction of discontinuity pixels that fly
    grazing_cos: float = 0.15         # below this cos(incidence) pixels start to drop
    hole_fraction: float = 0.002      # blob-shaped holes (poorly textured spots)
    dropout_prob: float = 0.002       # isolated missing pixels

    def min_z_m(self, camera: Camera) -> float:
        """Nearest measurable depth: the disparity search range, ``f_px * B / 126``."""
        return camera.fx * self.baseline_m / DISPARITY_SEARCH_PX

    def rms_m(self, z_m: float | np.ndarray, camera: Camera) -> float | np.ndarray:
        """Expected depth RMS at ``z_m`` (before 1 mm rounding): ``z^2 * s / (f_px * B)``."""
        return np.asarray(z_m) ** 2 * self.subpixel_px / (camera.fx * self.baseline_m)

    def apply(self, depth_clean_m: np.ndarray, camera: Camera, rng: np.random.Generator,
              cos_incidence: np.ndarray, albedo: np.ndarray | None = None) -> np.ndarray:
        """Clean ``depth_m (H, W)`` -> D4xx-like ``depth_m (H, W) float32`` (0 = missing).

        ``albedo`` is accepted for a common signature and unused (the projector
        gives texture regardless of the material's brightness).
        """
        clean = np.asarray(depth_clean_m, dtype=np.float32)
        assert clean.shape == camera.shape == cos_incidence.shape, (clean.shape, camera.shape)
        focal_baseline = np.float32(camera.fx * self.baseline_m)  # px * m
        depth = flying_pixels(clean, self.flying_jump_m, self.flying_prob, rng) if self.flying_prob > 0 \
            else clean.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            disparity = np.where(depth > 0, focal_baseline / depth, np.float32(0.0))
            disparity += np.float32(self.subpixel_px) * rng.standard_normal(depth.shape, dtype=np.float32)
            noisy = np.where(disparity > 0, focal_baseline / disparity, np.float32(0.0))
        missing = (clean <= 0) | (disparity <= 0) | stereo_hidden(clean, camera, self.baseline_m)
        missing |= blob_holes(clean.shape, self.hole_fraction, rng)
        missing.flat[rng.integers(0, clean.size, rng.binomial(clean.size, self.dropout_prob))] = True
        if self.grazing_cos > 0:
            missing.flat[grazing_dropouts(cos_incidence, self.grazing_cos, rng)] = True
        if self.depth_unit_m > 0:
            noisy = np.round(noisy / np.float32(self.depth_unit_m)) * np.float32(self.depth_unit_m)
        missing |= (clean < self.min_z_m(camera)) | (noisy > self.max_range_m)
        noisy[missing] = 0.0
        return noisy.astype(np.float32)


def stereo_hidden(depth_m: np.ndarray, camera: Camera, baseline_m: float) -> np.ndarray:
    """``(H, W)`` bool: pixels of the left (reference) image the right imager cannot see.

    The right imager sees left pixel ``u`` at ``x_r = u - f B / z``. It is hidden
    when ``x_r < 0`` (the left-edge invalid band, ``B f / Z`` px wide) or when a
    pixel further right lands left of it (``min over u' > u of x_r(u') < x_r(u)``):
    the occlusion shadow on the left side of a nearer surface. Pixels without
    depth count as infinitely far (``x_r = u``), so they hide nothing.
    """
    z = np.asarray(depth_m, dtype=np.float32)
    cols = np.arange(z.shape[1], dtype=np.float32)[None, :]
    with np.errstate(divide="ignore"):
        x_right = cols - np.where(z > 0, np.float32(camera.fx * baseline_m) / z, np.float32(0.0))
    # suffix minimum over the pixels strictly to the right of each pixel
    right_min = np.full(z.shape, np.inf, np.float32)
    right_min[:, :-1] = np.minimum.accumulate(x_right[:, :0:-1], axis=1)[:, ::-1]
    return (z > 0) & ((x_right < 0) | (right_min < x_right))
