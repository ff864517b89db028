"""Named depth-sensor presets: ``refinet-edge synth --sensor NAME``, ``SynthConfig(sensor_preset=NAME)``.

=========  ==================================================================
``default``  :class:`~.sensor.SensorModel`, the generic D435-like model the
             shipped weights were trained on (noise ``1 mm + 1.5 mm/m^2 z^2``);
             the default, so existing data sets reproduce bit for bit.
``ideal``    the clean render, unchanged (no noise, no holes, no rounding).
``d435``     RealSense D435, B = 50 mm  (:mod:`.sensor_stereo`: disparity noise
``d415``     RealSense D415, B = 55 mm   s = 0.08 px, left-edge band, occlusion
``d455``     RealSense D455, B = 95 mm   shadows, min-Z = f B / 126, 1 mm steps)
``tof``      Kinect-v2-class time of flight (:mod:`.sensor_tof`: Fankhauser noise
             with distance and incidence, mixed pixels, multipath in concave
             corners, dark-material dropouts)
``random``   per frame, one of d435/d415/d455/tof with its settings drawn from
             :data:`RANDOM_RANGES` (domain randomisation), from the frame's rng
=========  ==================================================================

Stereo presets take ``f_px`` from the camera the frame is rendered with, so
``--camera d435_848x480`` and ``--camera d435_640x480`` give the D435's two
noise levels; on the 320x240 ITOP camera (f = 285.7 px) they are noisier still.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..camera import Camera
from ..errors import RefinetError, did_you_mean
from .sensor import SensorModel, apply_sensor
from .sensor_stereo import StereoSensor
from .sensor_tof import TofSensor


@dataclass(frozen=True)
class IdealSensor:
    """A perfect depth camera: the clean render as ``float32``."""

    name: str = "ideal"

    def apply(self, depth_clean_m: np.ndarray, camera: Camera, rng: np.random.Generator,
              cos_incidence: np.ndarray, albedo: np.ndarray | None = None) -> np.ndarray:
        clean = np.asarray(depth_clean_m, dtype=np.float32)
        assert clean.shape == camera.shape, (clean.shape, camera.shape)
        return clean.copy()


Sensor = SensorModel | IdealSensor | StereoSensor | TofSensor

SENSOR_PRESETS: dict[str, Sensor] = {
    "default": SensorModel(),
    "ideal": IdealSensor(),
    "d435": StereoSensor("d435", baseline_m=0.050),   # datasheet baseline 50 mm
    "d415": StereoSensor("d415", baseline_m=0.055),   # 54.8 mm in librealsense doc/depth-from-stereo.md
    "d455": StereoSensor("d455", baseline_m=0.095),   # 95 mm (third-party spec summaries)
    "tof": TofSensor(),
}
RANDOM = "random"
SENSOR_NAMES: tuple[str, ...] = (*SENSOR_PRESETS, RANDOM)

# Domain randomisation: the preset a `random` frame starts from, then each setting uniform in its range.
RANDOM_BASES: tuple[str, ...] = ("d435", "d415", "d455", "tof")
RANDOM_RANGES: dict[type, dict[str, tuple[float, float]]] = {
    StereoSensor: {
        "subpixel_px": (0.03, 0.15),     # 0.03 best, 0.08 typical, worse on poor texture (#3904)
        "flying_prob": (0.2, 0.8),
        "hole_fraction": (0.0, 0.01),
        "dropout_prob": (0.0, 0.01),
        "grazing_cos": (0.05, 0.3),
    },
    TofSensor: {
        "noise_scale": (0.7, 2.0),       # unit-to-unit and temperature spread around Fankhauser's fit
        "flying_prob": (0.3, 0.9),
        "dark_signal": (0.006, 0.024),
        "multipath_gain": (0.5, 2.0),
        "grazing_cos": (0.1, 0.3),
    },
}


def check_sensor_name(name: str) -> str:
    """``name`` if it is a preset or ``random``; otherwise a :class:`RefinetError` listing the choices."""
    if name not in SENSOR_NAMES:
        raise RefinetError(f"unknown sensor {name!r}{did_you_mean(name, SENSOR_NAMES)}; "
                           f"valid sensors: {', '.join(SENSOR_NAMES)}")
    return name


def random_sensor(rng: np.random.Generator) -> StereoSensor | TofSensor:
    """One draw of the ``random`` preset: a base from :data:`RANDOM_BASES`, settings from :data:`RANDOM_RANGES`."""
    base = SENSOR_PRESETS[RANDOM_BASES[int(rng.integers(len(RANDOM_BASES)))]]
    assert isinstance(base, StereoSensor | TofSensor)
    ranges = RANDOM_RANGES[type(base)]
    drawn: dict[str, Any] = {key: float(rng.uniform(low, high)) for key, (low, high) in ranges.items()}
    return type(base)(**{**asdict(base), **drawn, "name": f"random:{base.name}"})


def sensor_for_frame(name: str, rng: np.random.Generator) -> Sensor:
    """The sensor a frame uses: the preset ``name``, or a fresh :func:`random_sensor` draw from ``rng``."""
    return random_sensor(rng) if check_sensor_name(name) == RANDOM else SENSOR_PRESETS[name]


def apply_sensor_model(sensor: Sensor, depth_clean_m: np.ndarray, camera: Camera, rng: np.random.Generator,
                       cos_incidence: np.ndarray, albedo: np.ndarray | None = None) -> np.ndarray:
    """Clean ``depth_m (H, W)`` through any preset -> ``depth_m (H, W) float32`` (0 = missing)."""
    if isinstance(sensor, SensorModel):
        return apply_sensor(depth_clean_m, camera, sensor, rng, cos_incidence)
    return sensor.apply(depth_clean_m, camera, rng, cos_incidence, albedo)
