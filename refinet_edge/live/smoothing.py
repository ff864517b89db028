"""Temporal smoothing for live use: a One Euro filter (Casiez et al., CHI 2012) on the 3D joints.

Per coordinate, an exponential low-pass whose cut-off rises with speed: still
joints are steadied (``min_cutoff_hz``), fast ones follow with little lag
(``beta``, per m/s). Off by default and never used by ``evaluate``. One track:
it smooths the single person of a frame; frames with no person or several
reset it (there is no identity tracking across people).
"""

from __future__ import annotations

import math

import numpy as np


class OneEuro:
    """One Euro filter over arrays of a fixed shape (e.g. ``(15, 3)`` metres); NaN entries pass through."""

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 0.5, d_cutoff_hz: float = 1.0) -> None:
        self.min_cutoff_hz, self.beta, self.d_cutoff_hz = min_cutoff_hz, beta, d_cutoff_hz
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @staticmethod
    def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff_hz)
        return 1.0 / (1.0 + tau / dt_s)

    def __call__(self, x: np.ndarray, t_s: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or t_s <= self._t or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t_s
            return x
        dt = t_s - self._t
        assert self._dx is not None
        dx = np.where(np.isfinite(x) & np.isfinite(self._x), (x - self._x) / dt, 0.0)
        a_d = self._alpha(self.d_cutoff_hz, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        cutoff = self.min_cutoff_hz + self.beta * np.abs(self._dx)
        a = self._alpha(cutoff, dt)
        smooth = np.where(np.isfinite(self._x), a * x + (1 - a) * self._x, x)
        self._x = np.where(np.isfinite(x), smooth, self._x)
        self._t = t_s
        return np.where(np.isfinite(x), smooth, x)
