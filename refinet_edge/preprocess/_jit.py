"""The CPU pre-processing contracts compiled with Numba: lifting, stage A patches, stage C points, stage B input,
and the decoding of each stage's output; one module per step, beside the NumPy contract it must equal:

=========================  ==========================================  ================================
module                     compiled twins of                           NumPy contract
=========================  ==========================================  ================================
:mod:`._jit_lifting`       ``lift_joints_detailed``, ``lift_joints``   :mod:`refinet_edge.lifting`
:mod:`._jit_patches`       ``extract_patches``                         :mod:`.patches`
:mod:`._jit_points`        ``sample_points``                           :mod:`.points`
:mod:`._jit_codec`         ``skeleton_encode`` and the three decodes   :mod:`refinet_edge.stage_io`
:mod:`._jit_evidence`      ``joint_evidence``                          :mod:`.evidence`
=========================  ==========================================  ================================

This module gathers the first four under one name (what :mod:`.steps` loads) and logs their first compilation.

Drop-in twins of :func:`refinet_edge.lifting.lift_joints_detailed`,
:func:`~refinet_edge.lifting.lift_joints`,
:func:`refinet_edge.preprocess.patches.extract_patches`,
:func:`refinet_edge.preprocess.points.sample_points`, (metric mode)
:func:`refinet_edge.stage_io.skeleton_encode` and
:func:`~refinet_edge.stage_io.skeleton_decode`, and
:func:`~refinet_edge.stage_io.patch_decode` and
:func:`~refinet_edge.stage_io.point_decode`: the same arguments, the
same checks and error messages, and **bit-identical** results (the module
docstrings of those files are the contract; the tests compare them with
``assert_array_equal``). At batch 1 the NumPy versions spend their time in
per-call overhead on tiny arrays; these are plain single-threaded loops over
the joints and their windows, structured like the CUDA kernels in
:mod:`refinet_edge.kernels`, that visit only the pixels the contract reads.

How bit-exactness is kept:

* the arithmetic is the contract's, one IEEE operation at a time in the
  written order, in float32 where the contract says float32 (every scalar the
  loops see is a ``np.float32``) and float64 where NumPy computes in float64
  (lifting's medians and deprojection, the authors' point statistics); Numba
  compiles without fast-math, so LLVM never contracts a multiply and an add
  into a fused multiply-add;
* invalid depth (not finite or <= 0) reads as 0 pixel by pixel instead of on a
  cleaned copy of the map (the same values, without the copy);
* the authors' per-axis point statistics are summed in row order, as NumPy's
  ``mean(axis=0)``/``std(axis=0)`` of a C-ordered ``(M, 3)`` array do; the
  ``itop_authors`` map mean (a pairwise sum in NumPy) is taken with NumPy
  itself;
* the skeleton encoding's per-person centre is the same sort-based median of
  the finite joints, and its float64 differences and ray features are cast to
  float32 one value at a time, as NumPy's ``astype`` does; division by zero
  gives inf/NaN (Numba's NumPy error model) and such values become 0 as in
  NumPy;
* patch mode ``baracca_authors`` (no compiled version), skeleton mode
  ``authors``, and lifting on a depth map whose dtype is not a real number,
  run the NumPy functions.

Compilation is lazy (the first call of each kernel with new argument types)
and cached on disk (``cache=True``: next to each module's file, or Numba's per-user
cache directory when the package is read-only); the first real compilation in
a process logs one INFO line on the ``refinet_edge`` logger.
"""

from __future__ import annotations

import logging

import numba
from numba.core import event

from ._jit_codec import patch_decode, point_decode, skeleton_decode, skeleton_encode
from ._jit_lifting import lift_joints, lift_joints_detailed
from ._jit_patches import JIT_PATCH_MODES, extract_patches
from ._jit_points import sample_points

__all__ = ["COMPILE_MESSAGE", "JIT_PATCH_MODES", "NUMBA_VERSION", "extract_patches", "lift_joints",
           "lift_joints_detailed", "patch_decode", "point_decode", "sample_points", "skeleton_decode",
           "skeleton_encode"]

NUMBA_VERSION: str = numba.__version__
COMPILE_MESSAGE = "compiling the CPU pre-processing kernels (first run only, cached)"

# The modules whose kernels the notice is about (this one too: a test compiles a kernel under its name).
_KERNEL_MODULES = frozenset({__name__, *(f"{__package__}._jit_{step}" for step in ("lifting", "patches", "points",
                                                                                     "codec"))})

_log = logging.getLogger("refinet_edge")
_announced: list[bool] = []  # the compile notice went out (once per process)


# ---------------------------------------------------------------- compilation notice


class _CompileNotice(event.Listener):
    """Logs :data:`COMPILE_MESSAGE` when a kernel of :data:`_KERNEL_MODULES` really compiles (not a cache load)."""

    def on_start(self, ev) -> None:
        dispatcher = (ev.data or {}).get("dispatcher")
        if not _announced and getattr(getattr(dispatcher, "py_func", None), "__module__", None) in _KERNEL_MODULES:
            _announced.append(True)
            _log.info(COMPILE_MESSAGE)

    def on_end(self, ev) -> None:
        pass


# Registered once for the process (a compilation is rare, a call is not): the notice costs nothing per call.
event.register("numba:compile", _CompileNotice())
