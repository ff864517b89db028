"""Where the pipeline's pre-processing runs: the fast CPU path or the CUDA kernels, one interface.

:func:`select_steps` turns the pipeline's ``preprocess`` setting into a steps
object: ``"cpu"`` (the CPU path: compiled with Numba when ``numba`` imports,
:mod:`._jit`, else batched NumPy), ``"numpy"`` (the NumPy path even where Numba
is installed), ``"cuda"`` (the kernels; an error when no GPU or CUDA layer is
usable) or ``"auto"`` (the compiled CPU path when Numba imports, else the
kernels when usable, else NumPy: with host arrays in and out, the compiled
path beat the kernels' round trip at every size measured on a GPU machine). All give
the same numbers (the compiled path and the kernels match the NumPy contract
bit for bit), and the choice is logged once per process on the
``refinet_edge`` logger. No CUDA call happens until a pipeline first runs, and
Numba is imported (and its kernels compiled, or loaded from its cache) only
when the CPU path first runs or describes itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np

from ..camera import Camera
from ..errors import RefinetError, did_you_mean
from ..lifting import lift_joints
from ..stage_io import SkeletonConfig, patch_decode, point_decode, skeleton_decode, skeleton_encode
from .evidence import joint_evidence
from .patches import PatchConfig, extract_patches
from .points import PointConfig, sample_points

PREPROCESS_CHOICES = ("auto", "cpu", "cuda", "numpy")
_log = logging.getLogger("refinet_edge")
_auto: list[Steps] = []  # the process-wide result of "auto" (probing CUDA once)


class Steps(Protocol):
    """Lifting, patches and points on ``depth_m (B, H, W)`` float32 with one person per depth map; stage B's input
    encoding and every stage's output decoding (:mod:`refinet_edge.stage_io`)."""

    name: str

    def lift(self, uv_px: np.ndarray, depth_m: np.ndarray, camera: Camera,
             window: int) -> tuple[np.ndarray, np.ndarray]: ...

    def patches(self, depth_m: np.ndarray, uv_px: np.ndarray, z_ref_m: np.ndarray, camera: Camera,
                cfg: PatchConfig) -> tuple[np.ndarray, np.ndarray]: ...

    def points(self, depth_m: np.ndarray, joints_m: np.ndarray, camera: Camera,
               cfg: PointConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def skeleton_encode(self, joints_m: np.ndarray, cfg: SkeletonConfig) -> tuple[np.ndarray, np.ndarray]: ...

    def evidence(self, uv_px: np.ndarray, depth_m: np.ndarray, joints_m: np.ndarray, scores: np.ndarray | None,
                 camera: Camera, window: int) -> np.ndarray: ...

    def patch_decode(self, uv_in_px: np.ndarray, out_cells: np.ndarray, cell_px: np.ndarray) -> np.ndarray: ...

    def skeleton_decode(self, x: np.ndarray, out: np.ndarray, centre: np.ndarray,
                        cfg: SkeletonConfig) -> np.ndarray: ...

    def point_decode(self, joints_in_m: np.ndarray, out: np.ndarray, side_m: np.ndarray, counts: np.ndarray,
                     mode: str) -> np.ndarray: ...


class _CpuImpl(NamedTuple):
    """The functions behind :class:`CpuSteps`: NumPy's, or the compiled twins (:mod:`._jit`)."""

    lift: Callable
    patches: Callable
    points: Callable
    skeleton_encode: Callable
    patch_decode: Callable
    skeleton_decode: Callable
    point_decode: Callable
    evidence: Callable
    numba_version: str | None


_NUMPY_IMPL = _CpuImpl(lift_joints, extract_patches, sample_points, skeleton_encode, patch_decode, skeleton_decode,
                       point_decode, joint_evidence, None)


class CpuSteps:
    """The CPU path: the Numba-compiled contracts (:mod:`._jit`) when ``numba`` imports, else batched NumPy.

    ``compiled=False`` (preprocess ``"numpy"``) always runs NumPy. Which one
    is decided on first use, so building a pipeline never imports Numba.
    """

    def __init__(self, compiled: bool = True) -> None:
        self.compiled = compiled
        self.name = "cpu" if compiled else "numpy"
        self._impl: _CpuImpl | None = None

    def _resolve(self) -> _CpuImpl:
        if self._impl is None:
            self._impl = _NUMPY_IMPL
            if self.compiled:
                try:
                    from . import _jit, _jit_evidence
                except ImportError as exc:  # no numba, or one that refuses this NumPy
                    _log.debug("pre-processing: numba unavailable (%s); NumPy CPU path", exc)
                except RuntimeError as exc:  # e.g. no writable cache directory for the kernels
                    _log.warning("pre-processing: compiled CPU path unavailable (%s); using NumPy", exc)
                else:
                    self._impl = _CpuImpl(_jit.lift_joints, _jit.extract_patches, _jit.sample_points,
                                          _jit.skeleton_encode, _jit.patch_decode, _jit.skeleton_decode,
                                          _jit.point_decode, _jit_evidence.joint_evidence, _jit.NUMBA_VERSION)
        return self._impl

    @property
    def numba_version(self) -> str | None:
        """The Numba version of the compiled path, None when this runs NumPy."""
        return self._resolve().numba_version

    def describe(self) -> str:
        version = self.numba_version
        if version is not None:
            return f"fast CPU path (Numba {version})"
        if not self.compiled:
            return "CPU path (NumPy; preprocess \"numpy\")"
        return "CPU path (NumPy; pip install numba for the compiled path)"

    def lift(self, uv_px, depth_m, camera, window):
        return self._resolve().lift(uv_px, depth_m, camera, window=window)

    def patches(self, depth_m, uv_px, z_ref_m, camera, cfg):
        return self._resolve().patches(depth_m, uv_px, z_ref_m, camera, cfg)

    def points(self, depth_m, joints_m, camera, cfg):
        return self._resolve().points(depth_m, joints_m, camera, cfg)

    def skeleton_encode(self, joints_m, cfg):
        return self._resolve().skeleton_encode(joints_m, cfg)

    def evidence(self, uv_px, depth_m, joints_m, scores, camera, window):
        """Stage B evidence features (:mod:`.evidence`): compiled (:mod:`._jit_evidence`) when this path is."""
        return self._resolve().evidence(uv_px, depth_m, joints_m, scores, camera, window)

    def patch_decode(self, uv_in_px, out_cells, cell_px):
        return self._resolve().patch_decode(uv_in_px, out_cells, cell_px)

    def skeleton_decode(self, x, out, centre, cfg):
        return self._resolve().skeleton_decode(x, out, centre, cfg)

    def point_decode(self, joints_in_m, out, side_m, counts, mode):
        return self._resolve().point_decode(joints_in_m, out, side_m, counts, mode)


class CudaSteps:
    """The CUDA kernels (:class:`refinet_edge.kernels.ops.GpuPreprocessor`); CPU for what they lack."""

    name = "cuda"

    def __init__(self, gpu) -> None:
        self.gpu = gpu
        self._cpu = CpuSteps()

    def describe(self) -> str:
        return self.gpu.describe()

    def lift(self, uv_px, depth_m, camera, window):
        joints, source = self.gpu.lift_joints(uv_px, depth_m, camera, window=window)
        return joints, source != 0

    def patches(self, depth_m, uv_px, z_ref_m, camera, cfg):
        if cfg.mode == "baracca_authors":  # no kernel for the Baracca normalisation
            return self._cpu.patches(depth_m, uv_px, z_ref_m, camera, cfg)
        return self.gpu.extract_patches(depth_m, uv_px, z_ref_m, camera, cfg)

    def points(self, depth_m, joints_m, camera, cfg):  # the cube and the ray region (rule 4b) alike
        return self.gpu.sample_points(depth_m, joints_m, camera, cfg)

    def skeleton_encode(self, joints_m, cfg):  # 15 joints: no kernel, the compiled CPU path
        return self._cpu.skeleton_encode(joints_m, cfg)

    def evidence(self, uv_px, depth_m, joints_m, scores, camera, window):  # no kernel: the compiled CPU path
        return self._cpu.evidence(uv_px, depth_m, joints_m, scores, camera, window)

    def patch_decode(self, uv_in_px, out_cells, cell_px):  # host arrays: the compiled CPU path
        return self._cpu.patch_decode(uv_in_px, out_cells, cell_px)

    def skeleton_decode(self, x, out, centre, cfg):
        return self._cpu.skeleton_decode(x, out, centre, cfg)

    def point_decode(self, joints_in_m, out, side_m, counts, mode):
        return self._cpu.point_decode(joints_in_m, out, side_m, counts, mode)


def select_steps(preprocess: str | Steps = "auto") -> Steps:
    """The steps for a pipeline's ``preprocess`` setting (see the module docstring); a Steps object passes."""
    if not isinstance(preprocess, str):
        return preprocess
    if preprocess not in PREPROCESS_CHOICES:
        raise RefinetError(f"preprocess must be one of {', '.join(PREPROCESS_CHOICES)}; got {preprocess!r}"
                           f"{did_you_mean(preprocess, PREPROCESS_CHOICES)}")
    if preprocess in ("cpu", "numpy"):
        return CpuSteps(compiled=preprocess == "cpu")
    from ..kernels import open_preprocessor

    if preprocess == "cuda":
        steps: Steps = CudaSteps(open_preprocessor(required=True))
        _log.info("pre-processing: %s", steps.describe())  # type: ignore[attr-defined]
        return steps
    if not _auto:
        # The compiled CPU path first: with host arrays in and out (what the pipeline passes) it beat the
        # kernels' copy-launch-sync round trip at every size measured on an H200 machine (README, kernels).
        cpu = CpuSteps()
        if cpu.numba_version is not None:
            _auto.append(cpu)
        else:
            gpu = open_preprocessor()
            _auto.append(CudaSteps(gpu) if gpu is not None else cpu)
        _log.info("pre-processing: %s", _auto[0].describe())  # type: ignore[attr-defined]
    return _auto[0]
